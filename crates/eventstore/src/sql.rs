//! Every SQL statement of the event store, written once for both databases.
//!
//! The statements are the same text for PostgreSQL and SQLite (both accept
//! `$n` placeholders); the `on_pool!` and `on_tx!` macros expand one body
//! for each backend so the types are checked per database.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{DataKey, EventMetadata, RecordedEvent, StreamId};

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Rows per multi-row statement: far below both databases' bind limits.
const CHUNK: usize = 1_000;
/// Event ids looked up within the batch's one lookup statement.
const INLINE_IDS: usize = 8_000;

/// Saves a reader's position; it never moves back.
const SAVE_CHECKPOINT: &str = "INSERT INTO checkpoints (name, position, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
     updated_at = excluded.updated_at WHERE checkpoints.position < excluded.position";

const EVENT_COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
     schema_version, payload, occurred_at, recorded_at, actor, correlation_id, causation_id, \
     traceparent, tracestate";

/// Runs `$body` with `$p` bound to the concrete pool of either backend.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            Pool::Postgres($p) => $body,
            Pool::Sqlite($p) => $body,
        }
    };
}

/// Runs `$body` with `$t` bound to the concrete transaction of either backend.
macro_rules! on_tx {
    ($tx:expr, $t:ident => $body:expr) => {
        match $tx {
            WriteTx::Postgres($t) => $body,
            WriteTx::Sqlite($t) => $body,
        }
    };
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Pool {
    /// Connects to a PostgreSQL schema of its own (created if missing) and
    /// migrates it.
    pub(crate) async fn postgres(
        url: &str,
        schema: &str,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        if schema.is_empty()
            || !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StoreError::InvalidInput(vec![crate::FieldViolation::new(
                "schema",
                "must be lower-case letters, digits or _",
            )]));
        }
        let base = PgConnectOptions::from_str(url)?;
        {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(base.clone())
                .await?;
            admin
                .execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str())
                .await
                .or_else(ignore_concurrent_create)?;
            admin.close().await;
        }
        // Custom plans always: the store's statements are index lookups,
        // but a generic plan cached while the table was new and empty stays
        // a sequential scan as the table grows (measured: each batch got
        // slower with every thousand events).
        let options = base.options([
            ("search_path", schema),
            ("plan_cache_mode", "force_custom_plan"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        PG_MIGRATIONS.run(&pool).await?;
        Ok(Self::Postgres(pool))
    }

    /// Opens (creating if missing) a SQLite file in WAL mode with full
    /// syncs: the event store is what must survive a power cut.
    pub(crate) async fn sqlite(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        // Opening takes no lock of its own in SQLite: handles opened at once
        // in one process must not race to switch the file to WAL (which
        // fails at once with "database is locked") or to create the tables.
        static OPENING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one_at_a_time = OPENING.lock().await;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(Self::Sqlite(pool))
    }

    pub(crate) async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// Starts the writer's transaction and takes the store's write lock, so
    /// positions are assigned and committed in one order across processes.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        match self {
            // One round trip: the lock is taken in the same simple query
            // that begins the transaction, and held until it ends.
            Pool::Postgres(p) => Ok(WriteTx::Postgres(
                p.begin_with(
                    "BEGIN; SELECT pg_advisory_xact_lock(hashtext('hongxin.events.' || current_schema()))",
                )
                .await?,
            )),
            Pool::Sqlite(p) => Ok(WriteTx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?)),
        }
    }

    pub(crate) async fn head(&self) -> Result<u64, sqlx::Error> {
        let head: i64 = on_pool!(self, p => {
            sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
                .fetch_one(p)
                .await?
        });
        Ok(head as u64)
    }

    pub(crate) async fn stream_version(&self, stream: &StreamId) -> Result<u64, sqlx::Error> {
        let v: i64 = on_pool!(self, p => {
            sqlx::query_scalar(
                "SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = $1",
            )
            .bind(stream.as_str())
            .fetch_one(p)
            .await?
        });
        Ok(v as u64)
    }

    pub(crate) async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version >= $2 \
             ORDER BY stream_version LIMIT $3"
        );
        let rows: Vec<EventRow> = on_pool!(self, p => {
            sqlx::query_as(&sql)
                .bind(stream.as_str())
                .bind(to_i64(from_version))
                .bind(to_i64(limit as u64))
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(EventRow::into_recorded).collect()
    }

    pub(crate) async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE global_position > $1 \
             ORDER BY global_position LIMIT $2"
        );
        let rows: Vec<EventRow> = on_pool!(self, p => {
            sqlx::query_as(&sql)
                .bind(to_i64(after_position))
                .bind(to_i64(limit as u64))
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(EventRow::into_recorded).collect()
    }

    pub(crate) async fn event_at(
        &self,
        position: u64,
    ) -> Result<Option<RecordedEvent>, StoreError> {
        Ok(self
            .read_all(position.saturating_sub(1), 1)
            .await?
            .into_iter()
            .find(|e| e.global_position == position))
    }

    pub(crate) async fn key(&self, key: &str) -> Result<Option<KeyRow>, sqlx::Error> {
        on_pool!(self, p => {
            sqlx::query_as(
                "SELECT key, stream_id, first_version, last_version, first_position, \
                 last_position FROM idempotency_keys WHERE key = $1",
            )
            .bind(key)
            .fetch_optional(p)
            .await
        })
    }

    pub(crate) async fn checkpoint(&self, name: &str) -> Result<u64, sqlx::Error> {
        let pos: Option<i64> = on_pool!(self, p => {
            sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?
        });
        Ok(pos.unwrap_or(0) as u64)
    }

    /// Saves a reader's position beside the writer (PostgreSQL: the
    /// statement waits for no lock but the row's).
    pub(crate) async fn save_checkpoint(
        &self,
        name: &str,
        position: u64,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, p => {
            sqlx::query(SAVE_CHECKPOINT)
                .bind(name)
                .bind(to_i64(position))
                .bind(Utc::now())
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Inserts a data key unless its subject or lookup already has one;
    /// true when this call inserted it.
    pub(crate) async fn insert_data_key(&self, key: &DataKey) -> Result<bool, sqlx::Error> {
        let done = on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO data_keys (subject, wrapped_key, kek_id, lookup, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(key.subject.to_string())
            .bind(&key.wrapped_key)
            .bind(&key.kek_id)
            .bind(&key.lookup)
            .bind(Utc::now())
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// The data key of a subject, or of whoever holds a lookup.
    pub(crate) async fn data_key(
        &self,
        subject: Option<Uuid>,
        lookup: Option<&str>,
    ) -> Result<Option<DataKey>, sqlx::Error> {
        let row: Option<(String, Vec<u8>, String, Option<String>)> = on_pool!(self, p => {
            sqlx::query_as(
                "SELECT subject, wrapped_key, kek_id, lookup FROM data_keys \
                 WHERE subject = $1 OR lookup = $2",
            )
            .bind(subject.map(|s| s.to_string()))
            .bind(lookup)
            .fetch_optional(p)
            .await?
        });
        Ok(row.and_then(|(subject, wrapped_key, kek_id, lookup)| {
            Some(DataKey {
                subject: Uuid::parse_str(&subject).ok()?,
                wrapped_key,
                kek_id,
                lookup,
            })
        }))
    }

    pub(crate) async fn delete_data_key(&self, subject: Uuid) -> Result<bool, sqlx::Error> {
        let done = on_pool!(self, p => {
            sqlx::query("DELETE FROM data_keys WHERE subject = $1")
                .bind(subject.to_string())
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}

fn ignore_concurrent_create(e: sqlx::Error) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    // Two processes creating the same schema at once: the loser sees a
    // unique violation on the catalogue, and the schema exists either way.
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Ok(Default::default()),
        _ => Err(e),
    }
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The writer's open transaction, holding the store's write lock.
#[derive(Debug)]
pub(crate) enum WriteTx {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// What an earlier append with an idempotency key did.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub(crate) key: String,
    pub(crate) stream_id: String,
    pub(crate) first_version: i64,
    pub(crate) last_version: i64,
    pub(crate) first_position: i64,
    pub(crate) last_position: i64,
}

/// One row of the batch lookup: kind 0 is the head (`a`), kind 1 a stream's
/// version (`a`), kind 2 a stored event id (version `a`, position `b`).
#[derive(Debug, sqlx::FromRow)]
struct LookupRow {
    kind: i32,
    stream_id: Option<String>,
    event_id: Option<Uuid>,
    a: i64,
    b: i64,
}

/// What the rules of a batch need to know, read under the write lock.
#[derive(Debug, Default)]
pub(crate) struct Lookup {
    pub(crate) head: u64,
    /// Current version of each stream the batch touches (absent = 0).
    pub(crate) versions: std::collections::HashMap<String, u64>,
    /// Stored event ids: stream, version, position.
    pub(crate) ids: std::collections::HashMap<Uuid, (String, u64, u64)>,
}

/// Where an already stored event id lives.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IdRow {
    pub(crate) event_id: Uuid,
    pub(crate) stream_id: String,
    pub(crate) stream_version: i64,
    pub(crate) global_position: i64,
}

/// One event ready to insert, with its position and version assigned.
#[derive(Debug)]
pub(crate) struct PendingRow<'a> {
    pub(crate) global_position: i64,
    pub(crate) stream_id: &'a str,
    pub(crate) stream_version: i64,
    pub(crate) event: &'a crate::model::NewEvent,
}

impl WriteTx {
    /// Everything the batch's rules need, read after the lock in one
    /// statement: the head, the current version of each stream, and where
    /// any of the event ids is already stored.
    pub(crate) async fn lookup(
        &mut self,
        streams: &[&str],
        ids: &[Uuid],
    ) -> Result<Lookup, sqlx::Error> {
        // Ids beyond what one statement should bind are looked up apart.
        let (inline_ids, apart) = if ids.len() <= INLINE_IDS {
            (ids, &[][..])
        } else {
            (&[][..], ids)
        };
        let rows: Vec<LookupRow> = on_tx!(self, t => {
            let mut qb = QueryBuilder::new(
                "SELECT 0 AS kind, CAST(NULL AS TEXT) AS stream_id, CAST(NULL AS UUID) AS event_id, \
                 COALESCE(MAX(global_position), 0) AS a, CAST(0 AS BIGINT) AS b FROM events",
            );
            if !streams.is_empty() {
                qb.push(
                    " UNION ALL SELECT 1, stream_id, CAST(NULL AS UUID), MAX(stream_version), \
                     CAST(0 AS BIGINT) FROM events WHERE stream_id IN (",
                );
                let mut sep = qb.separated(", ");
                for s in streams {
                    sep.push_bind(*s);
                }
                qb.push(") GROUP BY stream_id");
            }
            if !inline_ids.is_empty() {
                qb.push(
                    " UNION ALL SELECT 2, stream_id, event_id, stream_version, global_position \
                     FROM events WHERE event_id IN (",
                );
                let mut sep = qb.separated(", ");
                for id in inline_ids {
                    sep.push_bind(*id);
                }
                qb.push(")");
            }
            qb.build_query_as().fetch_all(&mut **t).await?
        });
        let mut out = Lookup::default();
        for LookupRow {
            kind,
            stream_id,
            event_id,
            a,
            b,
        } in rows
        {
            match (kind, stream_id, event_id) {
                (0, _, _) => out.head = a as u64,
                (1, Some(s), _) => {
                    out.versions.insert(s, a as u64);
                }
                (2, Some(s), Some(id)) => {
                    out.ids.insert(id, (s, a as u64, b as u64));
                }
                _ => {}
            }
        }
        for r in self.existing_ids(apart).await? {
            out.ids.insert(
                r.event_id,
                (
                    r.stream_id,
                    r.stream_version as u64,
                    r.global_position as u64,
                ),
            );
        }
        Ok(out)
    }

    pub(crate) async fn keys(&mut self, keys: &[&str]) -> Result<Vec<KeyRow>, sqlx::Error> {
        let mut out = Vec::new();
        for chunk in keys.chunks(CHUNK) {
            let mut rows: Vec<KeyRow> = on_tx!(self, t => {
                let mut qb = QueryBuilder::new(
                    "SELECT key, stream_id, first_version, last_version, first_position, \
                     last_position FROM idempotency_keys WHERE key IN (",
                );
                let mut sep = qb.separated(", ");
                for k in chunk {
                    sep.push_bind(*k);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(&mut **t).await?
            });
            out.append(&mut rows);
        }
        Ok(out)
    }

    pub(crate) async fn existing_ids(&mut self, ids: &[Uuid]) -> Result<Vec<IdRow>, sqlx::Error> {
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut rows: Vec<IdRow> = on_tx!(self, t => {
                let mut qb = QueryBuilder::new(
                    "SELECT event_id, stream_id, stream_version, global_position FROM events \
                     WHERE event_id IN (",
                );
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(&mut **t).await?
            });
            out.append(&mut rows);
        }
        Ok(out)
    }

    pub(crate) async fn insert_events(
        &mut self,
        rows: &[PendingRow<'_>],
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        for chunk in rows.chunks(CHUNK) {
            on_tx!(self, t => {
                let mut qb = QueryBuilder::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
                qb.push_values(chunk, |mut b, r| {
                    let m = &r.event.metadata;
                    b.push_bind(r.global_position)
                        .push_bind(r.event.event_id)
                        .push_bind(r.stream_id)
                        .push_bind(r.stream_version)
                        .push_bind(r.event.event_type.as_str())
                        .push_bind(r.event.schema_version as i32)
                        .push_bind(r.event.payload.as_slice())
                        .push_bind(m.occurred_at)
                        .push_bind(recorded_at)
                        .push_bind(m.actor.as_str())
                        .push_bind(m.correlation_id)
                        .push_bind(m.causation_id)
                        .push_bind(m.traceparent.as_deref())
                        .push_bind(m.tracestate.as_deref());
                });
                qb.build().execute(&mut **t).await?;
            });
        }
        Ok(())
    }

    pub(crate) async fn insert_keys(
        &mut self,
        rows: &[KeyRow],
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        for chunk in rows.chunks(CHUNK) {
            on_tx!(self, t => {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO idempotency_keys (key, stream_id, first_version, last_version, \
                     first_position, last_position, recorded_at) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.key.as_str())
                        .push_bind(r.stream_id.as_str())
                        .push_bind(r.first_version)
                        .push_bind(r.last_version)
                        .push_bind(r.first_position)
                        .push_bind(r.last_position)
                        .push_bind(recorded_at);
                });
                qb.build().execute(&mut **t).await?;
            });
        }
        Ok(())
    }

    /// Saves readers' positions; a position never moves back.
    pub(crate) async fn save_checkpoints(
        &mut self,
        checkpoints: &[(&str, u64)],
    ) -> Result<(), sqlx::Error> {
        let now = Utc::now();
        for (name, position) in checkpoints {
            on_tx!(self, t => {
                sqlx::query(SAVE_CHECKPOINT)
                .bind(*name)
                .bind(to_i64(*position))
                .bind(now)
                .execute(&mut **t)
                .await?;
            });
        }
        Ok(())
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        on_tx!(self, t => t.commit().await)
    }
}

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    global_position: i64,
    event_id: Uuid,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    schema_version: i32,
    payload: Vec<u8>,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    actor: String,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl EventRow {
    fn into_recorded(self) -> Result<RecordedEvent, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!("{what} at position {}", self.global_position))
        };
        let stream_id = StreamId::parse(&self.stream_id).map_err(|_| corrupt("stream id"))?;
        Ok(RecordedEvent {
            global_position: u64::try_from(self.global_position)
                .map_err(|_| corrupt("position"))?,
            stream_version: u64::try_from(self.stream_version).map_err(|_| corrupt("version"))?,
            schema_version: u32::try_from(self.schema_version)
                .map_err(|_| corrupt("schema version"))?,
            stream_id,
            event_id: self.event_id,
            event_type: self.event_type,
            payload: self.payload,
            metadata: EventMetadata {
                occurred_at: self.occurred_at,
                actor: self.actor,
                correlation_id: self.correlation_id,
                causation_id: self.causation_id,
                traceparent: self.traceparent,
                tracestate: self.tracestate,
            },
            recorded_at: self.recorded_at,
        })
    }
}
