//! PostgreSQL for tests: the shared server that `make test` makes sure is up,
//! with a schema of its own for each test.

/// The test database's URL: `HONGXIN_TEST_DATABASE_URL`, or the machine's
/// PostgreSQL on 127.0.0.1:5432, database `test`.
pub fn url() -> String {
    std::env::var("HONGXIN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema name no other test uses; the store creates it on open.
pub fn fresh_schema() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}
