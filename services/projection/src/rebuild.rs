//! Rebuilding the read models from scratch, from the events: into a fresh
//! database or schema beside the serving one, then swapped in.
//!
//! The events come from each context's JetStream stream (the distributed
//! mode) or straight from its store (the embedded default, or an operator
//! with the stores at hand). A rebuild applies them in batches, one
//! transaction per batch with the checkpoint, through the same code as the
//! live projection, so the result is the one incremental application gives.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use hongxin_bus::EventEnvelope;
use hongxin_eventstore::EventStore;
use prost::Message as _;
use sqlx::AnyPool;

use crate::{Pools, ProjectionDb};

/// Events applied per transaction while rebuilding.
const BATCH: usize = 2_000;

/// Where a context's events are read from for a rebuild.
#[derive(Clone, Debug)]
pub enum RebuildSource {
    /// The context's store, in global order.
    Store { context: String, store: EventStore },
    /// The context's JetStream stream (`HONGXIN_<CONTEXT>`), from its start.
    JetStream {
        context: String,
        jetstream: async_nats::jetstream::Context,
    },
}

impl RebuildSource {
    pub fn context(&self) -> &str {
        match self {
            Self::Store { context, .. } | Self::JetStream { context, .. } => context,
        }
    }
}

/// What a rebuild did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RebuildReport {
    /// Events applied.
    pub events: u64,
    pub seconds: f64,
    /// The last position applied per context.
    pub positions: BTreeMap<String, u64>,
}

/// A source and how far it has been read, so a second pass (the catch-up
/// before the swap) reads only what came since.
#[derive(Debug)]
pub(crate) struct Cursor {
    source: RebuildSource,
    /// The next JetStream sequence to read.
    next_sequence: u64,
}

/// Batches read ahead of the one being applied: reading (and decoding)
/// runs beside the writing, on the runtime's other thread.
const READ_AHEAD: usize = 4;

impl Cursor {
    pub(crate) fn new(source: RebuildSource) -> Self {
        Self {
            source,
            next_sequence: 1,
        }
    }

    /// Applies what the source holds now beyond the pools' checkpoint; the
    /// number of events applied.
    pub(crate) async fn catch_up(&mut self, pools: &Pools) -> anyhow::Result<u64> {
        let context = self.source.context().to_owned();
        let mut after = checkpoint(&pools.read, &context).await?;
        let (batches, mut incoming) = tokio::sync::mpsc::channel(READ_AHEAD);
        let reader = match &self.source {
            RebuildSource::Store { store, .. } => {
                tokio::spawn(from_store(store.clone(), context.clone(), after, batches))
            }
            RebuildSource::JetStream { jetstream, .. } => tokio::spawn(from_jetstream(
                jetstream.clone(),
                context.clone(),
                self.next_sequence,
                batches,
            )),
        };
        let reader = AbortOnDrop(reader);
        let dialect = pools.write.dialect();
        // Every candidate of a batch being written is known here, so one
        // read for the first batch about a candidate sees all it needs.
        let mut histories = crate::readmodel::Histories::default();
        let mut writing: Option<AbortOnDrop<Result<(), sqlx::Error>>> = None;
        let mut applied = 0;
        while let Some(batch) = incoming.recv().await {
            let batch: Vec<EventEnvelope> = batch;
            if !histories.missing(&batch).is_empty() {
                let mut tx = pools.write.begin().await?;
                histories.load(&mut tx, &batch).await?;
                tx.commit().await?;
            }
            // Made while the batch before is written.
            let (prepared, done) =
                crate::readmodel::prepare(&batch, after, &mut histories, dialect)?;
            if done < batch.len() {
                let reached = batch[..done]
                    .last()
                    .map_or(after, |e| e.global_position.max(after));
                anyhow::bail!("the {context} events have a gap after position {reached}");
            }
            applied += done as u64;
            if let Some(prepared) = prepared {
                if let Some(previous) = writing.take() {
                    previous
                        .join()
                        .await
                        .context("a rebuild's write stopped")??;
                }
                after = prepared.last;
                let writer = pools.write.clone();
                writing = Some(AbortOnDrop(tokio::spawn(async move {
                    crate::readmodel::commit(&writer, prepared).await
                })));
            }
        }
        if let Some(last) = writing.take() {
            last.join().await.context("a rebuild's write stopped")??;
        }
        let next = reader
            .join()
            .await
            .with_context(|| format!("reading the {context} events stopped"))??;
        if let Some(next) = next {
            self.next_sequence = next;
        }
        Ok(applied)
    }
}

/// A task that stops when its handle is dropped (a failed apply ends the
/// rebuild, and with it the reading).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn checkpoint(pool: &AnyPool, context: &str) -> Result<u64, sqlx::Error> {
    let p: Option<i64> = sqlx::query_scalar(crate::writer::POSITION)
        .bind(context)
        .fetch_optional(pool)
        .await?;
    Ok(p.unwrap_or(0) as u64)
}

/// Reads the store after `after` to its end as it is now, in batches.
async fn from_store(
    store: EventStore,
    context: String,
    mut after: u64,
    batches: tokio::sync::mpsc::Sender<Vec<EventEnvelope>>,
) -> anyhow::Result<Option<u64>> {
    loop {
        let events = store
            .read_all(after, BATCH)
            .await
            .with_context(|| format!("failed to read the {context} store"))?;
        let Some(last) = events.last() else {
            return Ok(None);
        };
        after = last.global_position;
        let envelopes = events
            .iter()
            .map(|e| hongxin_bus::envelope_of(&context, e))
            .collect();
        if batches.send(envelopes).await.is_err() {
            return Ok(None);
        }
    }
}

/// Reads the stream from `start` up to its last message at the moment of
/// asking, in batches; the next sequence to read.
async fn from_jetstream(
    js: async_nats::jetstream::Context,
    context: String,
    start: u64,
    batches: tokio::sync::mpsc::Sender<Vec<EventEnvelope>>,
) -> anyhow::Result<Option<u64>> {
    use async_nats::jetstream::consumer::DeliverPolicy;
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    let name = hongxin_bus::stream_name(&context);
    let mut stream = js
        .get_stream(&name)
        .await
        .with_context(|| format!("no JetStream stream {name}"))?;
    let last = stream
        .info()
        .await
        .with_context(|| format!("failed to read the state of {name}"))?
        .state
        .last_sequence;
    if last < start {
        return Ok(Some(start));
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..OrderedConfig::default()
        })
        .await
        .with_context(|| format!("failed to read {name}"))?;
    let mut messages = consumer
        .messages()
        .await
        .with_context(|| format!("failed to read {name}"))?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut next = start;
    let deadline = Duration::from_secs(30);
    while next <= last {
        let message = tokio::time::timeout(deadline, messages.next())
            .await
            .with_context(|| format!("{name} stopped delivering before its last message"))?
            .with_context(|| format!("{name} ended before its last message"))?
            .with_context(|| format!("failed to read {name}"))?;
        let sequence = message
            .info()
            .map_err(|e| anyhow::anyhow!("a message of {name} without its info: {e}"))?
            .stream_sequence;
        next = sequence + 1;
        match EventEnvelope::decode(message.payload.as_ref()) {
            Ok(e) => batch.push(e),
            Err(e) => {
                tracing::error!(stream = %name, sequence, error = %e, "a malformed envelope; skipped by the rebuild");
                metrics::counter!("hongxin_feed_malformed_total").increment(1);
            }
        }
        if (batch.len() >= BATCH || next > last) && !batch.is_empty() {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if batches.send(full).await.is_err() {
                return Ok(None);
            }
        }
    }
    Ok(Some(next))
}

/// The secondary indexes of a rebuild's read models, dropped before it
/// loads and made again once the bulk of the events is in: one sorted build
/// of an index costs far less than an insert into it per event (the audit
/// trail's two indexes took about a third of PostgreSQL's work in a
/// rebuild). Keys and unique indexes stay: the writes find their rows by
/// them.
#[must_use = "the dropped indexes are made again by `restore`"]
pub(crate) struct Deferred(Vec<String>);

impl Deferred {
    /// Drops `db`'s secondary indexes; what makes them again.
    pub(crate) async fn drop_from(pool: &AnyPool, db: &ProjectionDb) -> anyhow::Result<Self> {
        let indexes: Vec<(String, String)> = match db {
            ProjectionDb::Sqlite { .. } => {
                sqlx::query_as(
                    "SELECT m.name, m.sql FROM sqlite_master m \
                     WHERE m.type = 'index' AND m.sql IS NOT NULL AND NOT EXISTS \
                     (SELECT 1 FROM pragma_index_list(m.tbl_name) l \
                      WHERE l.name = m.name AND l.\"unique\" = 1) \
                     ORDER BY m.name",
                )
                .fetch_all(pool)
                .await
            }
            ProjectionDb::Postgres { schema, .. } => {
                sqlx::query_as(
                    "SELECT i.relname::text, pg_get_indexdef(i.oid) FROM pg_index x \
                     JOIN pg_class i ON i.oid = x.indexrelid \
                     JOIN pg_namespace n ON n.oid = i.relnamespace \
                     WHERE n.nspname = $1 AND NOT x.indisunique ORDER BY i.relname",
                )
                .bind(schema.as_str())
                .fetch_all(pool)
                .await
            }
        }
        .context("failed to list the read models' indexes")?;
        let mut made = Vec::with_capacity(indexes.len());
        for (name, definition) in indexes {
            sqlx::query(&format!("DROP INDEX \"{name}\""))
                .execute(pool)
                .await
                .with_context(|| format!("failed to drop the index {name} for the rebuild"))?;
            made.push(definition);
        }
        Ok(Self(made))
    }

    /// Makes the dropped indexes again, in one transaction.
    pub(crate) async fn restore(self, pool: &AnyPool) -> anyhow::Result<()> {
        let mut tx = pool.begin().await?;
        if crate::writes::Dialect::of(&tx) == crate::writes::Dialect::Postgres {
            // Room to sort an index of millions of rows in memory.
            sqlx::query("SET LOCAL maintenance_work_mem = '256MB'")
                .execute(&mut *tx)
                .await?;
        }
        for definition in &self.0 {
            sqlx::query(definition)
                .execute(&mut *tx)
                .await
                .context("failed to make a rebuild's index again")?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Empties `db` (a SQLite file is removed; a PostgreSQL schema dropped).
pub(crate) async fn reset(db: &ProjectionDb) -> anyhow::Result<()> {
    match db {
        ProjectionDb::Sqlite { path } => {
            for suffix in ["", "-wal", "-shm"] {
                let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
                match tokio::fs::remove_file(&file).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("failed to remove {}", file.display()));
                    }
                }
            }
        }
        ProjectionDb::Postgres { url, schema } => {
            use sqlx::Executor as _;
            let admin = sqlx::PgPool::connect(url)
                .await
                .context("failed to reach PostgreSQL")?;
            admin
                .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
                .await
                .context("failed to drop the rebuild schema")?;
            admin.close().await;
        }
    }
    Ok(())
}

/// Builds the read models afresh into `db` (emptied first) from `sources`;
/// the serving read models are not touched.
pub async fn rebuild_into(
    db: &ProjectionDb,
    sources: Vec<RebuildSource>,
) -> anyhow::Result<RebuildReport> {
    let started = Instant::now();
    reset(db).await?;
    let pools = crate::connect_as(db, crate::Durability::WhenSettled).await?;
    let deferred = Deferred::drop_from(&pools.read, db).await?;
    let mut report = RebuildReport::default();
    for source in sources {
        let context = source.context().to_owned();
        let mut cursor = Cursor::new(source);
        report.events += cursor.catch_up(&pools).await?;
        report
            .positions
            .insert(context.clone(), checkpoint(&pools.read, &context).await?);
    }
    deferred.restore(&pools.read).await?;
    crate::settle(&pools.read, db).await?;
    pools.close().await;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
