//! Where the read-model writes go, in transactions: on SQLite through the
//! pool the reads use (its one connection), on PostgreSQL through a small
//! pool of its own on sqlx's PostgreSQL driver. That driver binds a
//! statement's arrays in the server's binary form and copies rows in
//! (`COPY … FROM STDIN`); the driver for any database (`sqlx::Any`), which
//! the reads use, can do neither, and the arrays it sends as text literals
//! cost the server about as much to take apart as the rows cost to write.

use sqlx::{Any, AnyPool, PgPool, Postgres, Transaction};

use crate::writes::{Arg, Dialect, Sql};

/// The pool the read models are written through.
#[derive(Clone, Debug)]
pub(crate) enum Writer {
    Sqlite(AnyPool),
    Postgres(PgPool),
}

/// A transaction of read-model writes.
pub(crate) enum WriteTx {
    Sqlite(Transaction<'static, Any>),
    Postgres(Transaction<'static, Postgres>),
}

/// A candidate's event as the read models keep it: candidate, position,
/// type, schema version, payload (base64).
pub(crate) type CandidateRow = (String, i64, String, i64, String);

/// The checkpoint of the context bound first.
pub(crate) const POSITION: &str = "SELECT position FROM projection_checkpoints WHERE context = $1";

/// `body` run with `tx` bound to the transaction of either database: the
/// same statements, through two drivers' types.
macro_rules! with_either {
    ($write_tx:expr, $tx:ident => $body:expr) => {
        match $write_tx {
            WriteTx::Sqlite($tx) => $body,
            WriteTx::Postgres($tx) => $body,
        }
    };
}

impl Writer {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    pub(crate) async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pool) => WriteTx::Sqlite(pool.begin().await?),
            Self::Postgres(pool) => WriteTx::Postgres(pool.begin().await?),
        })
    }

    pub(crate) async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

impl WriteTx {
    /// The checkpoint of `context`: the last position applied (0 if none).
    pub(crate) async fn position(&mut self, context: &str) -> Result<u64, sqlx::Error> {
        let last: Option<i64> = with_either!(self, tx => {
            sqlx::query_scalar(POSITION)
                .bind(context)
                .fetch_optional(&mut **tx)
                .await?
        });
        Ok(last.unwrap_or(0) as u64)
    }

    /// The rows of `sql`, a query of candidates' events with one text
    /// parameter per id.
    pub(crate) async fn candidate_events(
        &mut self,
        sql: &str,
        ids: &[String],
    ) -> Result<Vec<CandidateRow>, sqlx::Error> {
        with_either!(self, tx => {
            let mut query = sqlx::query_as(sql);
            for id in ids {
                query = query.bind(id.as_str());
            }
            query.fetch_all(&mut **tx).await
        })
    }

    /// Sends `statements` in order.
    pub(crate) async fn run(&mut self, statements: Vec<Sql>) -> Result<(), sqlx::Error> {
        for statement in statements {
            match (&mut *self, statement) {
                (Self::Sqlite(tx), Sql::Query { text, args }) => {
                    let mut query = sqlx::query(&text);
                    for arg in args {
                        query = match arg {
                            Arg::Text(s) => query.bind(s),
                            Arg::Int(i) => query.bind(i),
                            Arg::Texts(_) | Arg::Ints(_) => return Err(postgres_only()),
                        };
                    }
                    query.execute(&mut **tx).await?;
                }
                (Self::Sqlite(_), Sql::Copy { .. }) => return Err(postgres_only()),
                (Self::Postgres(tx), Sql::Query { text, args }) => {
                    let mut query = sqlx::query(&text);
                    for arg in args {
                        query = match arg {
                            Arg::Text(s) => query.bind(s),
                            Arg::Int(i) => query.bind(i),
                            Arg::Texts(v) => query.bind(v),
                            Arg::Ints(v) => query.bind(v),
                        };
                    }
                    query.execute(&mut **tx).await?;
                }
                (Self::Postgres(tx), Sql::Copy { text, rows }) => {
                    let mut copy = tx.copy_in_raw(&text).await?;
                    copy.send(rows).await?;
                    copy.finish().await?;
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        with_either!(self, tx => tx.commit().await)
    }
}

/// Statements made for PostgreSQL sent to SQLite: a mistake in this crate.
fn postgres_only() -> sqlx::Error {
    sqlx::Error::Protocol("a PostgreSQL statement was sent to SQLite".to_owned())
}
