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

/// A new, empty database on the test server, for a test that runs a whole
/// process whose schema names are fixed; returns its URL.
pub async fn fresh_database() -> anyhow::Result<String> {
    use anyhow::Context as _;
    use sqlx::Executor as _;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&url())
        .await
        .context("failed to reach the test PostgreSQL")?;
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .context("failed to create a test database")?;
    admin.close().await;
    let base = url();
    let (server, _) = base
        .rsplit_once('/')
        .context("database URL without a database")?;
    Ok(format!("{server}/{name}"))
}
