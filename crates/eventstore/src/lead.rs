//! Leadership among the processes that share a store: of all processes
//! asking to lead the same name on one store, one at a time does; the rest
//! wait and one of them takes over when the leader stops or dies.
//!
//! On PostgreSQL a session advisory lock held on a connection of its own:
//! the server releases it when that connection ends, so a process killed
//! outright frees it as soon as its TCP session goes. The leader checks its
//! connection every few seconds and reports leadership lost when it breaks
//! (the lock may then be someone else's). On SQLite, where the processes
//! share a machine, an exclusive lock on a file beside the database, which
//! the operating system releases with the process.

use std::future::Future;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::sql::Pool;

/// How often a waiting process asks again, and how often a leader checks
/// that it still holds the lock.
const RETRY: Duration = Duration::from_secs(1);
const CHECK: Duration = Duration::from_secs(2);

/// This process leads while the value lives; dropping it gives up the lead.
pub struct Leader {
    lost: watch::Receiver<bool>,
    _held: Held,
}

enum Held {
    Postgres(tokio::task::JoinHandle<()>),
    /// The locked file, and the sender that never reports a loss.
    File {
        _file: std::fs::File,
        _never_lost: watch::Sender<bool>,
    },
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Self::Postgres(task) = self {
            // The task owns the connection: ending it closes the session,
            // which releases the lock.
            task.abort();
        }
    }
}

impl Leader {
    /// Resolves when leadership is lost (the lock's connection broke);
    /// never while it is held.
    pub async fn lost(&mut self) {
        while !*self.lost.borrow_and_update() {
            if self.lost.changed().await.is_err() {
                return;
            }
        }
    }
}

impl std::fmt::Debug for Leader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leader")
            .field("lost", &*self.lost.borrow())
            .finish()
    }
}

/// Waits to lead `name`; `None` when `stop` comes first.
pub(crate) async fn lead(
    pool: &Pool,
    name: &str,
    stop: impl Future<Output = ()>,
) -> Result<Option<Leader>, StoreError> {
    tokio::pin!(stop);
    match pool {
        Pool::Postgres(p) => {
            // One connection for the asking and, once granted, the holding.
            let mut conn = PgConnection::connect_with(&p.connect_options()).await?;
            loop {
                let held: bool = sqlx::query_scalar(
                    "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/' || $1, 0))",
                )
                .bind(name)
                .fetch_one(&mut conn)
                .await?;
                if held {
                    let (tx, lost) = watch::channel(false);
                    let task = tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(CHECK).await;
                            if conn.ping().await.is_err() {
                                let _ = tx.send(true);
                                return;
                            }
                        }
                    });
                    return Ok(Some(Leader {
                        lost,
                        _held: Held::Postgres(task),
                    }));
                }
                tokio::select! {
                    () = &mut stop => return Ok(None),
                    () = tokio::time::sleep(RETRY) => {}
                }
            }
        }
        Pool::Sqlite(p) => {
            let db = p.connect_options().get_filename().to_path_buf();
            let path = db.with_extension(format!("{name}.lead"));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
            loop {
                match file.try_lock() {
                    Ok(()) => {
                        let (tx, lost) = watch::channel(false);
                        return Ok(Some(Leader {
                            lost,
                            _held: Held::File {
                                _file: file,
                                _never_lost: tx,
                            },
                        }));
                    }
                    Err(std::fs::TryLockError::WouldBlock) => {}
                    Err(std::fs::TryLockError::Error(e)) => {
                        return Err(StoreError::Unavailable(sqlx::Error::Io(e)));
                    }
                }
                tokio::select! {
                    () = &mut stop => return Ok(None),
                    () = tokio::time::sleep(RETRY) => {}
                }
            }
        }
    }
}
