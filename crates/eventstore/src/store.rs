//! The store handle and its single writer.
//!
//! Every append goes through one writer task per store. The writer gathers
//! the appends waiting at that moment into one transaction, which takes the
//! store's write lock, assigns gapless positions as `max + 1`, and commits:
//! positions commit in order, so readers never have to fear a gap, and one
//! flush pays for many commands. On SQLite readers' checkpoints are saved in
//! the same transactions, so nothing else waits for the file's write lock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{
    AppendRequest, AppendResult, DataKey, ExpectedVersion, KeyClaim, RecordedEvent, StreamId,
};
use crate::sql::{KeyRow, Lookup, PendingRow, Pool};

/// Most appends one writer transaction gathers.
const MAX_BATCH: usize = 512;
/// How often a follower re-reads the store when nothing in this process
/// signalled a new event (another process may have written).
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// Where a context's events live.
#[derive(Clone, Debug)]
pub enum StoreConfig {
    /// A schema of its own in a PostgreSQL database (distributed mode).
    Postgres {
        url: String,
        schema: String,
        max_connections: u32,
    },
    /// A SQLite file (embedded default).
    Sqlite { path: PathBuf },
}

/// Limits of the store.
#[derive(Clone, Debug)]
pub struct StoreLimits {
    /// Largest payload of one event, in bytes.
    pub max_payload_bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_payload_bytes: 1024 * 1024,
        }
    }
}

type Job = (
    AppendRequest,
    oneshot::Sender<Result<AppendResult, StoreError>>,
);

/// A named reader's position to save, and who waits for it.
type Save = (String, u64, oneshot::Sender<Result<(), StoreError>>);

/// What the writer is asked to do.
enum Work {
    Append(Job),
    Save(Save),
}

/// A cheap, cloneable handle on one context's event store.
#[derive(Clone, Debug)]
pub struct EventStore {
    pool: Pool,
    writer: mpsc::Sender<Work>,
    head: watch::Receiver<u64>,
    limits: StoreLimits,
}

impl EventStore {
    /// Connects, applies migrations and starts the writer.
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        Self::open_with(config, StoreLimits::default()).await
    }

    pub async fn open_with(config: &StoreConfig, limits: StoreLimits) -> Result<Self, StoreError> {
        let pool = match config {
            StoreConfig::Postgres {
                url,
                schema,
                max_connections,
            } => Pool::postgres(url, schema, *max_connections).await?,
            StoreConfig::Sqlite { path } => Pool::sqlite(path).await?,
        };
        let head = pool.head().await?;
        let (head_tx, head_rx) = watch::channel(head);
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run_writer(pool.clone(), rx, head_tx));
        Ok(Self {
            pool,
            writer: tx,
            head: head_rx,
            limits,
        })
    }

    /// Appends events to one stream atomically, checking the expected
    /// version. Re-appending the same event ids, or re-using an idempotency
    /// key, returns the first result and writes nothing.
    pub async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError> {
        request.validate(self.limits.max_payload_bytes)?;
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Work::Append((request, tx)))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Events of one stream from `from_version` (1-based, inclusive).
    pub async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.pool.read_stream(stream, from_version, limit).await
    }

    /// The whole stream of an aggregate, for rebuilding it.
    pub async fn load_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        loop {
            let batch = self
                .pool
                .read_stream(stream, out.len() as u64 + 1, 1_000)
                .await?;
            let done = batch.len() < 1_000;
            out.extend(batch);
            if done {
                return Ok(out);
            }
        }
    }

    /// The stream's current version (0 when it has no events).
    pub async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        Ok(self.pool.stream_version(stream).await?)
    }

    /// Up to `limit` events after `after_position`, in global order.
    pub async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.pool.read_all(after_position, limit).await
    }

    /// The event at `position`, if any.
    pub async fn event_at(&self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        self.pool.event_at(position).await
    }

    /// Every event after `after_position` up to the head at the time of the
    /// call, in batches of `batch`.
    pub fn stream_all(
        &self,
        after_position: u64,
        batch: usize,
    ) -> Pin<Box<dyn Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static>> {
        Box::pin(async_stream(self, after_position, batch, false))
    }

    /// Every event after `after_position`, then each new one as it commits;
    /// never ends while the store is open.
    pub fn follow(
        &self,
        after_position: u64,
    ) -> Pin<Box<dyn Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static>> {
        Box::pin(async_stream(self, after_position, 500, true))
    }

    /// Waits until this process leads `name` among the processes sharing
    /// this store (see [`crate::Leader`]); `None` when `stop` comes first.
    pub async fn lead(
        &self,
        name: &str,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Option<crate::Leader>, StoreError> {
        crate::lead::lead(&self.pool, name, stop).await
    }

    /// The position of the last committed event, read from the database.
    pub async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.pool.head().await?)
    }

    /// Changes to the head as this process's writer commits.
    pub fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    /// The result of the append made earlier with this idempotency key.
    pub async fn find_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Option<AppendResult>, StoreError> {
        Ok(self.pool.key(key).await?.as_ref().map(key_result))
    }

    /// A named reader's saved position (0 if none).
    pub async fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.pool.checkpoint(name).await?)
    }

    /// Saves a named reader's position, which only moves forward.
    ///
    /// On SQLite it is saved in the writer's next transaction, with the
    /// appends waiting then: a second writer on the file would wait for its
    /// write lock by sleeping and retrying (1, 2, 5, 10 … ms), and so would
    /// the writer behind it; every in-process feed acks into the store it
    /// reads. On PostgreSQL the statement waits for no lock but its row's,
    /// and goes at once (the relay's, not behind the next batch).
    pub async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        if matches!(self.pool, Pool::Postgres(_)) {
            return Ok(self.pool.save_checkpoint(name, position).await?);
        }
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Work::Save((name.to_owned(), position, tx)))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores a subject's data key unless the subject, or the lookup, has
    /// one already.
    pub async fn claim_data_key(&self, key: &DataKey) -> Result<KeyClaim, StoreError> {
        // A holder erased between the statements is retried; the third
        // round answers with what it finds.
        for _ in 0..3 {
            if self.pool.insert_data_key(key).await? {
                return Ok(KeyClaim::Created);
            }
            if let Some(existing) = self.pool.data_key(Some(key.subject), None).await? {
                return Ok(KeyClaim::Existing(existing));
            }
            if let Some(lookup) = key.lookup.as_deref()
                && let Some(holder) = self.pool.data_key(None, Some(lookup)).await?
            {
                return Ok(KeyClaim::LookupTaken { by: holder.subject });
            }
        }
        Err(StoreError::Unavailable(sqlx::Error::RowNotFound))
    }

    /// A subject's data key; `None` when it never had one or was erased.
    pub async fn data_key(&self, subject: Uuid) -> Result<Option<DataKey>, StoreError> {
        Ok(self.pool.data_key(Some(subject), None).await?)
    }

    /// The subject holding a blind-index lookup; `None` when nobody does
    /// (erasure frees it).
    pub async fn data_key_subject(&self, lookup: &str) -> Result<Option<Uuid>, StoreError> {
        Ok(self
            .pool
            .data_key(None, Some(lookup))
            .await?
            .map(|k| k.subject))
    }

    /// Destroys a subject's data key: what was sealed with it becomes
    /// unreadable everywhere. True when there was a key.
    pub async fn destroy_data_key(&self, subject: Uuid) -> Result<bool, StoreError> {
        Ok(self.pool.delete_data_key(subject).await?)
    }

    /// Closes the connections; appends after this fail with `Closed`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The state of a reader walking the store in global order.
struct Cursor {
    store: EventStore,
    position: u64,
    buffer: VecDeque<RecordedEvent>,
    batch: usize,
    follow: bool,
    failed: bool,
}

fn async_stream(
    store: &EventStore,
    after: u64,
    batch: usize,
    follow: bool,
) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static {
    let cursor = Cursor {
        store: store.clone(),
        position: after,
        buffer: VecDeque::new(),
        batch: batch.max(1),
        follow,
        failed: false,
    };
    futures::stream::unfold(cursor, |mut c| async move {
        if c.failed {
            return None;
        }
        let mut head = c.store.head.clone();
        loop {
            if let Some(event) = c.buffer.pop_front() {
                c.position = event.global_position;
                return Some((Ok(event), c));
            }
            match c.store.pool.read_all(c.position, c.batch).await {
                Err(e) => {
                    c.failed = true;
                    return Some((Err(e), c));
                }
                Ok(events) if !events.is_empty() => c.buffer.extend(events),
                Ok(_) if !c.follow => return None,
                Ok(_) => {
                    // Wake on this process's next commit, or poll for another
                    // process's.
                    if let Ok(Err(_)) = tokio::time::timeout(FOLLOW_POLL, head.changed()).await {
                        // The writer is gone; poll at the same pace.
                        tokio::time::sleep(FOLLOW_POLL).await;
                    }
                }
            }
        }
    })
}

/// What the writer believes about the store between batches: the head and
/// the versions of recently written streams. It is only a guess: a batch
/// written from it relies on the unique constraints (positions, stream
/// versions, event ids, keys) to fail if another process wrote meanwhile, and
/// is then written again the careful way, from a fresh lookup.
#[derive(Debug, Default)]
struct Cache {
    head: Option<u64>,
    versions: HashMap<String, u64>,
}

/// Streams remembered at most; beyond that the cache starts afresh.
const CACHED_STREAMS: usize = 100_000;

impl Cache {
    fn forget(&mut self) {
        self.head = None;
        self.versions.clear();
    }

    fn remember(&mut self, head: u64, versions: impl IntoIterator<Item = (String, u64)>) {
        if self.versions.len() > CACHED_STREAMS {
            self.versions.clear();
        }
        self.head = Some(head);
        self.versions.extend(versions);
    }
}

async fn run_writer(pool: Pool, mut rx: mpsc::Receiver<Work>, head: watch::Sender<u64>) {
    let mut work: Vec<Work> = Vec::with_capacity(MAX_BATCH);
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut saves: Vec<Save> = Vec::new();
    let mut cache = Cache::default();
    let mut last_batch = 1;
    while rx.recv_many(&mut work, MAX_BATCH).await > 0 {
        // Callers answered by the last batch are resubmitting right now; a
        // few yields let them join this batch instead of the next one.
        let mut yields = 0;
        while work.len() < last_batch && yields < 8 {
            tokio::task::yield_now().await;
            while work.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(w) => work.push(w),
                    Err(_) => break,
                }
            }
            yields += 1;
        }
        last_batch = work.len();
        for w in work.drain(..) {
            match w {
                Work::Append(job) => jobs.push(job),
                Work::Save(save) => saves.push(save),
            }
        }
        let started = Instant::now();
        let batch_len = jobs.len();
        let mut positions: HashMap<&str, u64> = HashMap::new();
        for (name, position, _) in &saves {
            let at = positions.entry(name.as_str()).or_default();
            *at = (*at).max(*position);
        }
        let positions: Vec<(&str, u64)> = positions.into_iter().collect();
        match write_batch(&pool, &jobs, &positions, &mut cache).await {
            Ok((outcomes, new_head)) => {
                if let Some(h) = new_head {
                    head.send_replace(h);
                }
                for ((_, reply), outcome) in jobs.drain(..).zip(outcomes) {
                    let _ = reply.send(outcome);
                }
                for (_, _, reply) in saves.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                cache.forget();
                tracing::warn!(error = %e, appends = batch_len, checkpoints = saves.len(), "event store write failed");
                metrics::counter!("hongxin_eventstore_write_failures_total").increment(1);
                for (_, reply) in jobs.drain(..) {
                    let _ = reply.send(Err(StoreError::Unavailable(clone_sqlx(&e))));
                }
                for (_, _, reply) in saves.drain(..) {
                    let _ = reply.send(Err(StoreError::Unavailable(clone_sqlx(&e))));
                }
            }
        }
        if batch_len > 0 {
            metrics::histogram!("hongxin_eventstore_batch_appends").record(batch_len as f64);
        }
        metrics::histogram!("hongxin_eventstore_batch_seconds")
            .record(started.elapsed().as_secs_f64());
    }
}

/// `sqlx::Error` is not `Clone`; every append in a failed batch gets an
/// error of the same kind.
fn clone_sqlx(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        other => sqlx::Error::Protocol(format!("batch write failed: {other}")),
    }
}

type Outcomes = Vec<Result<AppendResult, StoreError>>;

/// Writes one batch, and the readers' positions saved with it, in one
/// transaction. Appends that break a rule get their own error and are left
/// out; the rest commit together.
///
/// When the cache predicts every append (the usual case for a single
/// process), the batch is written without looking anything up: three round
/// trips, like a plain INSERT. Otherwise, or when a constraint says the
/// guess was wrong, it is written from a lookup made under the write lock.
async fn write_batch(
    pool: &Pool,
    jobs: &[Job],
    checkpoints: &[(&str, u64)],
    cache: &mut Cache,
) -> Result<(Outcomes, Option<u64>), sqlx::Error> {
    if jobs.is_empty() {
        let mut tx = pool.begin_write().await?;
        tx.save_checkpoints(checkpoints).await?;
        tx.commit().await?;
        return Ok((Vec::new(), None));
    }
    if let Some(plan) = predict(jobs, cache) {
        let mut tx = pool.begin_write().await?;
        match write_plan(&mut tx, &plan, checkpoints).await {
            Ok(()) => {
                tx.commit().await?;
                return Ok(finish(plan, cache));
            }
            Err(e) if is_unique_violation(&e) => {
                // Another process wrote meanwhile: look it up and decide again.
                drop(tx);
                cache.forget();
                metrics::counter!("hongxin_eventstore_optimistic_retries_total").increment(1);
            }
            Err(e) => return Err(e),
        }
    }

    let mut tx = pool.begin_write().await?;
    let keys: Vec<&str> = jobs
        .iter()
        .filter_map(|(r, _)| r.idempotency_key.as_deref())
        .collect();
    let ids: Vec<Uuid> = jobs
        .iter()
        .flat_map(|(r, _)| r.events.iter().map(|e| e.event_id))
        .collect();
    let streams: Vec<&str> = jobs
        .iter()
        .map(|(r, _)| r.stream_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut known_keys: HashMap<String, AppendResult> = HashMap::new();
    if !keys.is_empty() {
        for k in tx.keys(&keys).await? {
            known_keys.insert(k.key.clone(), key_result(&k));
        }
    }
    let lookup = tx.lookup(&streams, &ids).await?;
    let plan = plan(jobs, lookup, known_keys);
    if plan.rows.is_empty() {
        // No events to write: every append was a replay or broke a rule.
        if !checkpoints.is_empty() {
            tx.save_checkpoints(checkpoints).await?;
            tx.commit().await?;
        }
        cache.remember(plan.head, plan.versions.clone());
        return Ok((plan.outcomes, None));
    }
    write_plan(&mut tx, &plan, checkpoints).await?;
    tx.commit().await?;
    Ok(finish(plan, cache))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

async fn write_plan(
    tx: &mut crate::sql::WriteTx,
    plan: &Plan<'_>,
    checkpoints: &[(&str, u64)],
) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    tx.insert_events(&plan.rows, now).await?;
    tx.insert_keys(&plan.new_keys, now).await?;
    tx.save_checkpoints(checkpoints).await
}

fn finish(plan: Plan<'_>, cache: &mut Cache) -> (Outcomes, Option<u64>) {
    metrics::counter!("hongxin_eventstore_events_appended_total").increment(plan.rows.len() as u64);
    cache.remember(plan.head, plan.versions);
    (plan.outcomes, Some(plan.head))
}

/// What a batch will write and answer.
struct Plan<'a> {
    outcomes: Outcomes,
    rows: Vec<PendingRow<'a>>,
    new_keys: Vec<KeyRow>,
    /// The head after the batch.
    head: u64,
    /// Versions of the batch's streams after it.
    versions: HashMap<String, u64>,
}

/// A plan from the cache alone, when it predicts every append: the head is
/// known, and each stream's version is known or the append expects a new
/// stream. Appends with idempotency keys, and any refusal, need the lookup.
fn predict<'a>(jobs: &'a [Job], cache: &Cache) -> Option<Plan<'a>> {
    let head = cache.head?;
    let mut versions = HashMap::new();
    for (req, _) in jobs {
        if req.idempotency_key.is_some() {
            return None;
        }
        let stream = req.stream_id.as_str();
        let version = match (cache.versions.get(stream), req.expected) {
            (Some(v), _) => *v,
            (None, ExpectedVersion::NoStream) => 0,
            (None, _) => return None,
        };
        versions.entry(stream.to_owned()).or_insert(version);
    }
    let lookup = Lookup {
        head,
        versions,
        ids: HashMap::new(),
    };
    let plan = plan(jobs, lookup, HashMap::new());
    plan.outcomes.iter().all(Result::is_ok).then_some(plan)
}

/// Decides each append of the batch in order against what is known.
fn plan(jobs: &[Job], lookup: Lookup, mut known_keys: HashMap<String, AppendResult>) -> Plan<'_> {
    let Lookup {
        mut head,
        mut versions,
        ids: mut known_ids,
    } = lookup;
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut rows: Vec<PendingRow<'_>> = Vec::new();
    let mut new_keys: Vec<KeyRow> = Vec::new();
    for (req, _) in jobs {
        if let Some(done) = req.idempotency_key.as_ref().and_then(|k| known_keys.get(k)) {
            outcomes.push(Ok(AppendResult {
                deduplicated: true,
                ..done.clone()
            }));
            continue;
        }
        match replayed(req, &known_ids) {
            Replay::New => {}
            Replay::Same(result) => {
                outcomes.push(Ok(result));
                continue;
            }
            Replay::Reused(event_id) => {
                outcomes.push(Err(StoreError::EventIdReused { event_id }));
                continue;
            }
        }
        let stream = req.stream_id.as_str();
        let current = versions.get(stream).copied().unwrap_or(0);
        if !req.expected.admits(current) {
            outcomes.push(Err(StoreError::Conflict {
                stream_id: stream.to_owned(),
                expected: req.expected,
                actual: current,
            }));
            continue;
        }
        let first_position = head + 1;
        for (i, event) in req.events.iter().enumerate() {
            let version = current + 1 + i as u64;
            let position = head + 1 + i as u64;
            known_ids.insert(event.event_id, (stream.to_owned(), version, position));
            rows.push(PendingRow {
                global_position: position as i64,
                stream_id: stream,
                stream_version: version as i64,
                event,
            });
        }
        let n = req.events.len() as u64;
        head += n;
        versions.insert(stream.to_owned(), current + n);
        let result = AppendResult {
            stream_id: req.stream_id.clone(),
            first_version: current + 1,
            last_version: current + n,
            first_position,
            last_position: head,
            deduplicated: false,
        };
        if let Some(key) = &req.idempotency_key {
            new_keys.push(KeyRow {
                key: key.clone(),
                stream_id: stream.to_owned(),
                first_version: result.first_version as i64,
                last_version: result.last_version as i64,
                first_position: result.first_position as i64,
                last_position: result.last_position as i64,
            });
            known_keys.insert(key.clone(), result.clone());
        }
        outcomes.push(Ok(result));
    }
    Plan {
        outcomes,
        rows,
        new_keys,
        head,
        versions,
    }
}

fn key_result(k: &KeyRow) -> AppendResult {
    AppendResult {
        stream_id: StreamId::parse(&k.stream_id)
            .unwrap_or_else(|_| StreamId::new("unknown", "key")),
        first_version: k.first_version as u64,
        last_version: k.last_version as u64,
        first_position: k.first_position as u64,
        last_position: k.last_position as u64,
        deduplicated: true,
    }
}

enum Replay {
    /// None of the events is stored yet.
    New,
    /// Exactly these events were stored before, in this order and stream.
    Same(AppendResult),
    /// Some event id is stored, but not as part of this very append.
    Reused(Uuid),
}

fn replayed(req: &AppendRequest, known: &HashMap<Uuid, (String, u64, u64)>) -> Replay {
    let found: Vec<_> = req.events.iter().map(|e| known.get(&e.event_id)).collect();
    if found.iter().all(Option::is_none) {
        return Replay::New;
    }
    let stream = req.stream_id.as_str();
    let mut previous: Option<(u64, u64)> = None;
    for (event, hit) in req.events.iter().zip(&found) {
        let Some((s, version, position)) = hit else {
            return Replay::Reused(event.event_id);
        };
        let consecutive = previous.is_none_or(|(v, p)| *version == v + 1 && *position == p + 1);
        if s != stream || !consecutive {
            return Replay::Reused(event.event_id);
        }
        previous = Some((*version, *position));
    }
    // All found, consecutive, same stream: a retry of a committed append.
    let (first_version, first_position) = found[0].map(|(_, v, p)| (*v, *p)).unwrap_or((0, 0));
    let (last_version, last_position) = previous.unwrap_or((0, 0));
    Replay::Same(AppendResult {
        stream_id: req.stream_id.clone(),
        first_version,
        last_version,
        first_position,
        last_position,
        deduplicated: true,
    })
}
