//! The projection service: consumes every context's events and keeps the
//! read models of the county dashboard, with an exactly-once effect: each
//! read-model change commits in one transaction with the checkpoint of the
//! event behind it, so a redelivered event changes nothing.
//!
//! Architecture Invariant: figures on the dashboard come only from these
//! read models, which come only from events.

pub mod grpc;
mod readmodel;
mod rebuild;
mod tables;
mod web;
mod writer;
mod writes;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use hongxin_bus::{Delivery, EventFeed};
use hongxin_runtime::Shutdown;
use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor as _};
use tracing::Instrument as _;

pub use readmodel::Applied;
pub use rebuild::{RebuildReport, RebuildSource, rebuild_into};

/// Applies one envelope to the read models (what the feed runner does for
/// each delivery), for tests and rebuild tools.
pub async fn apply(
    projection: &Projection,
    envelope: &hongxin_bus::EventEnvelope,
) -> Result<Applied, sqlx::Error> {
    let _applying = projection.applying.lock().await;
    readmodel::apply(&projection.writer(), envelope).await
}
pub use web::routes;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Where the read models live.
#[derive(Clone, Debug)]
pub enum ProjectionDb {
    Sqlite { path: std::path::PathBuf },
    Postgres { url: String, schema: String },
}

/// Freshness of one context's read models.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Freshness {
    /// Last applied position in the context's store.
    pub position: u64,
    /// Events still waiting.
    pub pending: u64,
    /// Seconds between the last applied event's commit and now, while
    /// events are pending; 0 when caught up.
    pub lag_seconds: f64,
    /// A gap in positions was seen and is being waited out.
    pub gap: bool,
}

/// The read models and their freshness.
#[derive(Clone, Debug)]
pub struct Projection {
    /// Where the serving read models are (a rebuild swaps it).
    db: Arc<RwLock<ProjectionDb>>,
    pools: Arc<RwLock<Pools>>,
    freshness: Arc<RwLock<BTreeMap<String, Freshness>>>,
    /// Bumped after every applied delivery, so live pages know to refresh.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// Held while a delivery is applied, and by a rebuild while it catches
    /// up for the last time and swaps, so no delivery lands in between.
    applying: Arc<tokio::sync::Mutex<()>>,
    /// Held while the read models a rebuild replaced are let go.
    retiring: Arc<tokio::sync::Mutex<()>>,
}

/// Deliveries applied in one transaction at most, and how long after the
/// first the runner goes on taking deliveries: what arrives meanwhile (or
/// waited while the last transaction ran) goes in the same transaction, so
/// a steady flow costs one commit per few milliseconds rather than one per
/// event (measured: at 800 events/s one transaction each kept the runner
/// busy and events queued for 40 ms), and no event waits longer than this
/// for others.
const LIVE_BATCH: usize = 500;
const GATHER: Duration = Duration::from_millis(5);

/// The least time between two live updates of one watcher (the page's
/// server-sent events, `WatchFreshness`).
pub(crate) const LIVE_COALESCE: Duration = Duration::from_millis(50);

/// How long the replaced read models stay open for readers that took them
/// just before a swap.
const RETIRE_GRACE: Duration = Duration::from_secs(5);

/// The SQLite file that says which of the two read-model files serves
/// (`<path>` or `<path>.rebuild`), so a swap survives a restart.
fn pointer_of(path: &std::path::Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.current", path.display()))
}

/// The other place of a read-model database: where a rebuild is built.
fn beside(db: &ProjectionDb, base: &ProjectionDb) -> ProjectionDb {
    match (db, base) {
        (ProjectionDb::Sqlite { path }, ProjectionDb::Sqlite { path: base }) => {
            let rebuild = std::path::PathBuf::from(format!("{}.rebuild", base.display()));
            ProjectionDb::Sqlite {
                path: if *path == rebuild {
                    base.clone()
                } else {
                    rebuild
                },
            }
        }
        (ProjectionDb::Postgres { url, schema }, _) => ProjectionDb::Postgres {
            url: url.clone(),
            schema: format!("{schema}_rebuild"),
        },
        (db, _) => db.clone(),
    }
}

/// The pools of one read-model database.
#[derive(Clone, Debug)]
pub(crate) struct Pools {
    /// Reads, migrations and maintenance.
    pub(crate) read: AnyPool,
    /// The read-model writes (on SQLite, the same pool).
    pub(crate) write: writer::Writer,
}

impl Pools {
    pub(crate) async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// Connects to and migrates a read-model database that serves.
pub(crate) async fn connect(db: &ProjectionDb) -> anyhow::Result<Pools> {
    connect_as(db, Durability::EachCommit).await
}

/// When a read-model database's commits are on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// At each commit: what serves, whose checkpoints say which events
    /// need not come again.
    EachCommit,
    /// When `settle`d: a rebuild's, which a crash throws away (the next
    /// rebuild starts afresh), so its commits do not each wait for the
    /// disk.
    WhenSettled,
}

/// Connects to and migrates a read-model database.
pub(crate) async fn connect_as(db: &ProjectionDb, durability: Durability) -> anyhow::Result<Pools> {
    sqlx::any::install_default_drivers();
    let url = match db {
        ProjectionDb::Sqlite { path } => format!("sqlite://{}?mode=rwc", path.display()),
        ProjectionDb::Postgres { url, schema } => {
            let admin = sqlx::PgPool::connect(url)
                .await
                .context("failed to reach PostgreSQL")?;
            admin
                .execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str())
                .await
                .context("failed to create the projection schema")?;
            admin.close().await;
            let sep = if url.contains('?') { '&' } else { '?' };
            // Reads are planned for the tables as they are, not by a plan
            // cached while they were small; the writes choose their own
            // plans (`writes::PLANS`).
            let commits = match durability {
                Durability::EachCommit => "",
                Durability::WhenSettled => "%20-c%20synchronous_commit%3Doff",
            };
            format!(
                "{url}{sep}options=-c%20search_path%3D{schema}%20-c%20plan_cache_mode%3Dforce_custom_plan{commits}"
            )
        }
    };
    let options = AnyConnectOptions::from_str(&url).context("bad read-model database URL")?;
    let pool = AnyPoolOptions::new()
        .max_connections(if matches!(db, ProjectionDb::Sqlite { .. }) {
            1
        } else {
            8
        })
        .connect_with(options)
        .await
        .context("failed to open the read-model database")?;
    MIGRATIONS
        .run(&pool)
        .await
        .context("failed to migrate the read models")?;
    let write = match db {
        ProjectionDb::Sqlite { .. } => {
            if durability == Durability::WhenSettled {
                // The pool's one connection keeps the setting.
                pool.execute("PRAGMA synchronous = OFF")
                    .await
                    .context("failed to set the rebuild's durability")?;
            }
            writer::Writer::Sqlite(pool.clone())
        }
        ProjectionDb::Postgres { .. } => {
            // At most two write transactions at a time: live deliveries
            // are applied in turn; a rebuild reads the histories for its
            // next batch beside the current batch's commit.
            let options = sqlx::postgres::PgConnectOptions::from_str(&url)
                .context("bad read-model database URL")?;
            let write = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .context("failed to open the read-model database")?;
            writer::Writer::Postgres(write)
        }
    };
    Ok(Pools { read: pool, write })
}

/// Puts on disk everything a `Durability::WhenSettled` pool committed,
/// and makes its later commits durable each (a rebuilt SQLite pool goes on
/// to serve).
pub(crate) async fn settle(pool: &AnyPool, db: &ProjectionDb) -> anyhow::Result<()> {
    let settled = async {
        match db {
            ProjectionDb::Sqlite { .. } => {
                pool.execute("PRAGMA synchronous = FULL").await?;
                pool.execute("PRAGMA wal_checkpoint(FULL)").await?;
            }
            ProjectionDb::Postgres { .. } => {
                // A durable commit waits for the log up to it, which holds
                // every commit before it.
                let mut tx = pool.begin().await?;
                tx.execute("SET LOCAL synchronous_commit = on").await?;
                tx.execute("UPDATE projection_checkpoints SET position = position")
                    .await?;
                tx.commit().await?;
            }
        }
        Ok::<_, sqlx::Error>(())
    };
    settled
        .await
        .context("failed to put the rebuilt read models on disk")
}

impl Projection {
    /// Connects and migrates the read-model database (for SQLite, the file
    /// the last rebuild swapped in).
    pub async fn open(db: &ProjectionDb) -> anyhow::Result<Self> {
        let db = match db {
            ProjectionDb::Sqlite { path } => {
                match tokio::fs::read_to_string(pointer_of(path)).await {
                    Ok(current) if current.trim() == "rebuild" => ProjectionDb::Sqlite {
                        path: std::path::PathBuf::from(format!("{}.rebuild", path.display())),
                    },
                    _ => db.clone(),
                }
            }
            ProjectionDb::Postgres { .. } => db.clone(),
        };
        let pools = connect(&db).await?;
        let saved: Vec<(String, i64)> =
            sqlx::query_as("SELECT context, position FROM projection_checkpoints")
                .fetch_all(&pools.read)
                .await
                .context("failed to read the projection checkpoints")?;
        let freshness = saved
            .into_iter()
            .map(|(context, position)| {
                let f = Freshness {
                    position: position as u64,
                    ..Freshness::default()
                };
                (context, f)
            })
            .collect();
        Ok(Self {
            db: Arc::new(RwLock::new(db)),
            pools: Arc::new(RwLock::new(pools)),
            freshness: Arc::new(RwLock::new(freshness)),
            changes: Arc::new(tokio::sync::watch::channel(0).0),
            applying: Arc::new(tokio::sync::Mutex::new(())),
            retiring: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The serving read models.
    pub fn pool(&self) -> AnyPool {
        self.pools().read
    }

    /// What the serving read models are written through.
    pub(crate) fn writer(&self) -> writer::Writer {
        self.pools().write
    }

    fn pools(&self) -> Pools {
        self.pools.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Rebuilds every read model from `sources` beside the serving ones,
    /// which keep answering meanwhile; then, with deliveries held for a
    /// moment, catches up with what arrived since and swaps the rebuilt
    /// ones in. Fails, changing nothing that serves, if a source cannot
    /// give everything the serving read models have seen.
    pub async fn rebuild(&self, sources: Vec<RebuildSource>) -> anyhow::Result<RebuildReport> {
        let started = std::time::Instant::now();
        let retiring = self.retiring.clone().lock_owned().await;
        let serving = self.db.read().unwrap_or_else(|p| p.into_inner()).clone();
        let base = match &serving {
            ProjectionDb::Sqlite { path } => ProjectionDb::Sqlite {
                path: std::path::PathBuf::from(
                    path.display()
                        .to_string()
                        .trim_end_matches(".rebuild")
                        .to_owned(),
                ),
            },
            db => db.clone(),
        };
        let side = beside(&serving, &base);
        rebuild::reset(&side).await?;
        let pools = connect_as(&side, Durability::WhenSettled).await?;
        let deferred = rebuild::Deferred::drop_from(&pools.read, &side).await?;
        let mut cursors: Vec<rebuild::Cursor> =
            sources.into_iter().map(rebuild::Cursor::new).collect();
        let mut report = RebuildReport::default();
        for cursor in &mut cursors {
            report.events += cursor.catch_up(&pools).await?;
        }
        // Before live deliveries are held: what comes since goes into the
        // indexes as it is applied.
        deferred.restore(&pools.read).await?;
        let guard = self.applying.lock().await;
        for cursor in &mut cursors {
            report.events += cursor.catch_up(&pools).await?;
        }
        settle(&pools.read, &side).await?;
        let old = self.pools();
        let seen: Vec<(String, i64)> =
            sqlx::query_as("SELECT context, position FROM projection_checkpoints")
                .fetch_all(&old.read)
                .await?;
        let rebuilt: BTreeMap<String, i64> =
            sqlx::query_as("SELECT context, position FROM projection_checkpoints")
                .fetch_all(&pools.read)
                .await?
                .into_iter()
                .collect();
        for (context, position) in &seen {
            let have = rebuilt.get(context).copied().unwrap_or(0);
            if have < *position {
                pools.close().await;
                anyhow::bail!(
                    "the rebuild reached {context} position {have}, short of the {position} served; \
                     nothing was swapped"
                );
            }
        }
        let swapped_db = match (&serving, &side, &base) {
            (
                ProjectionDb::Sqlite { .. },
                ProjectionDb::Sqlite { path },
                ProjectionDb::Sqlite { path: base },
            ) => {
                let pointer = pointer_of(base);
                let tmp = std::path::PathBuf::from(format!("{}.tmp", pointer.display()));
                let which = if path == base { "base" } else { "rebuild" };
                tokio::fs::write(&tmp, which).await?;
                tokio::fs::rename(&tmp, &pointer).await?;
                side.clone()
            }
            (
                ProjectionDb::Postgres { url, schema },
                ProjectionDb::Postgres { schema: new, .. },
                _,
            ) => {
                // Schemas are renamed in one transaction; connections name
                // the schema in their search path, so fresh pools read and write
                // the new tables.
                pools.close().await;
                let admin = sqlx::PgPool::connect(url).await?;
                let mut tx = admin.begin().await?;
                // What a swap before left if its process stopped before the
                // replaced schema was dropped (the grace below), or if it
                // could not reconnect after renaming: else this rename
                // would fail, and every rebuild after it.
                tx.execute(format!("DROP SCHEMA IF EXISTS {schema}_old CASCADE").as_str())
                    .await?;
                tx.execute(format!("ALTER SCHEMA {schema} RENAME TO {schema}_old").as_str())
                    .await?;
                tx.execute(format!("ALTER SCHEMA {new} RENAME TO {schema}").as_str())
                    .await?;
                tx.commit().await?;
                admin.close().await;
                serving.clone()
            }
            _ => anyhow::bail!("a rebuild stays on the same kind of database"),
        };
        let pools = match &swapped_db {
            ProjectionDb::Sqlite { .. } => pools,
            db => connect(db).await?,
        };
        *self.pools.write().unwrap_or_else(|p| p.into_inner()) = pools;
        *self.db.write().unwrap_or_else(|p| p.into_inner()) = swapped_db;
        for (context, position) in rebuilt {
            report.positions.insert(context, position as u64);
        }
        drop(guard);
        // What served before goes once the readers that took it before the
        // swap are done; the next rebuild waits for that.
        let retired = match &serving {
            ProjectionDb::Sqlite { .. } => serving.clone(),
            ProjectionDb::Postgres { url, schema } => ProjectionDb::Postgres {
                url: url.clone(),
                schema: format!("{schema}_old"),
            },
        };
        tokio::spawn(async move {
            let _retiring = retiring;
            tokio::time::sleep(RETIRE_GRACE).await;
            old.close().await;
            if let Err(e) = rebuild::reset(&retired).await {
                tracing::warn!(error = %e, "the replaced read models could not be removed");
            }
        });
        self.changes.send_modify(|n| *n += 1);
        report.seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            events = report.events,
            seconds = report.seconds,
            "read models rebuilt and swapped in"
        );
        Ok(report)
    }

    /// Freshness per context.
    pub fn freshness(&self) -> BTreeMap<String, Freshness> {
        self.freshness
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every context's freshness now, then again after each change of the
    /// read models: a change after a quiet spell at once, changes within
    /// [`LIVE_COALESCE`] of the last one sent together at its end.
    pub(crate) fn freshness_updates(
        &self,
    ) -> impl futures::Stream<Item = BTreeMap<String, Freshness>> + Send + 'static + use<> {
        let sent: Option<tokio::time::Instant> = None;
        futures::stream::unfold(
            (self.clone(), self.changes(), sent),
            |(projection, mut changes, sent)| async move {
                if let Some(sent) = sent {
                    changes.changed().await.ok()?;
                    tokio::time::sleep_until(sent + LIVE_COALESCE).await;
                    changes.borrow_and_update();
                }
                let now = projection.freshness();
                Some((
                    now,
                    (projection, changes, Some(tokio::time::Instant::now())),
                ))
            },
        )
    }

    /// Changes whenever a delivery was applied (or held back); the value
    /// counts deliveries.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Applies one context's feed until shutdown.
    pub async fn run(&self, context: &str, mut feed: EventFeed, shutdown: Shutdown) {
        let stop = shutdown.wait();
        tokio::pin!(stop);
        let mut backoff = Duration::from_millis(100);
        loop {
            let next = tokio::select! {
                _ = &mut stop => return,
                n = feed.next() => n,
            };
            match next {
                Ok(delivery) => {
                    backoff = Duration::from_millis(100);
                    // What is already waiting goes into the same
                    // transaction: a burst of commands costs one commit.
                    let mut batch = vec![delivery];
                    let until = tokio::time::Instant::now() + GATHER;
                    while batch.len() < LIVE_BATCH {
                        match tokio::time::timeout_at(until, feed.next()).await {
                            Ok(Ok(more)) => batch.push(more),
                            Ok(Err(_)) | Err(_) => break,
                        }
                    }
                    self.handle_batch(context, batch).await;
                }
                Err(hongxin_bus::BusError::Closed) => return,
                Err(e) => {
                    tracing::warn!(context, error = %e, "projection feed failed; retrying");
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Applies one delivery, or consecutive ones, in one transaction, in a
    /// span continuing the first event's trace; those after a gap come
    /// again.
    async fn handle_batch(&self, context: &str, batch: Vec<Delivery>) {
        let span = tracing::info_span!(
            "project",
            context,
            position = batch[0].envelope.global_position,
            event_type = %batch[0].envelope.event_type,
            events = batch.len(),
        );
        hongxin_runtime::context::continue_trace(
            &span,
            &batch[0].envelope.traceparent,
            &batch[0].envelope.tracestate,
        );
        async {
            let envelopes: Vec<hongxin_bus::EventEnvelope> =
                batch.iter().map(|d| d.envelope.clone()).collect();
            let applied = {
                let _applying = self.applying.lock().await;
                readmodel::apply_batch(&self.writer(), &envelopes).await
            };
            let done = match applied {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(context, error = %e, "read-model update failed; will retry");
                    for d in batch {
                        let _ = d.nak(Duration::from_millis(500)).await;
                    }
                    return;
                }
            };
            let (last, pending, recorded_at) = match batch.get(done.saturating_sub(1)) {
                Some(d) if done > 0 => (
                    d.envelope.global_position,
                    batch.last().map_or(0, |l| l.pending) + (batch.len() - done) as u64,
                    d.envelope.recorded_at.as_ref().map_or(0, |t| t.seconds),
                ),
                _ => (
                    0,
                    batch.last().map_or(0, |l| l.pending) + batch.len() as u64,
                    0,
                ),
            };
            // How long after its commit each applied event became visible.
            let now = chrono::Utc::now();
            for d in &batch[..done.min(batch.len())] {
                if let Some(t) = d.envelope.recorded_at.as_ref() {
                    let recorded = t.seconds as f64 + f64::from(t.nanos) / 1e9;
                    let delay = (now.timestamp_micros() as f64 / 1e6 - recorded).max(0.0);
                    metrics::histogram!("hongxin_projection_delay_seconds", "context" => context.to_owned())
                        .record(delay);
                }
            }
            let mut batch = batch;
            let later = batch.split_off(done.min(batch.len()));
            if let Err(e) = hongxin_bus::ack_all(batch).await {
                // The effect is committed; a redelivery will be a no-op.
                tracing::warn!(context, error = %e, "ack failed");
            }
            let gap = !later.is_empty();
            if gap {
                tracing::warn!(
                    context,
                    "events arrived before an earlier one; waiting for it"
                );
                metrics::counter!("hongxin_projection_gaps_total", "context" => context.to_owned())
                    .increment(1);
                for d in later {
                    let _ = d.nak(Duration::from_millis(200)).await;
                }
            }
            let lag = if pending == 0 || recorded_at == 0 {
                0.0
            } else {
                (chrono::Utc::now().timestamp() - recorded_at).max(0) as f64
            };
            {
                let mut map = self.freshness.write().unwrap_or_else(|p| p.into_inner());
                let f = map.entry(context.to_owned()).or_default();
                f.position = f.position.max(last);
                f.pending = pending;
                f.lag_seconds = lag;
                f.gap = gap;
            }
            metrics::gauge!("hongxin_projection_lag_events", "context" => context.to_owned())
                .set(pending as f64);
            metrics::gauge!("hongxin_projection_lag_seconds", "context" => context.to_owned())
                .set(lag);
            self.changes.send_modify(|n| *n += 1);
        }
        .instrument(span)
        .await;
    }
}
