//! `make bench`: the event store and the outbox relay, each beside a raw
//! ceiling measured in the same run on the same machine.
//!
//! - append: one event (256-byte payload) per append to a new stream, at
//!   concurrency 1, 16 and 64, on PostgreSQL and SQLite; the ceiling is a
//!   plain single-row INSERT + COMMIT into a table of the same shape;
//! - relay: events already committed, published to JetStream by the relay;
//!   the ceiling is plain pipelined JetStream publishes of the same
//!   messages;
//! - e2e: the real `hongxin` binary, embedded and distributed, under 16 and
//!   64 gRPC clients: commands per second, command latency, commit to
//!   visible on the dashboard's live stream, resident memory (`e2e.rs`);
//! - rebuild: the read models rebuilt from a million events in JetStream
//!   beside a raw consume of the same stream (`rebuild.rs`).
//!
//! Figures are printed as Markdown tables for BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use hongxin_bus::OutboxRelay;
use hongxin_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId,
};
use uuid::Uuid;

mod e2e;
mod procs;
mod rebuild;

const PAYLOAD: usize = 256;

#[derive(Parser, Debug)]
#[command(about = "hongxin benchmarks")]
struct Args {
    #[arg(value_enum, default_value = "all")]
    what: What,
    /// Seconds each append measurement runs.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Concurrent callers of the append measurements.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    concurrency: Vec<usize>,
    /// Events the relay measurement publishes.
    #[arg(long, default_value_t = 20_000)]
    relay_events: usize,
    /// The hongxin binary the end-to-end rows run; by default the one
    /// beside this benchmark, built first.
    #[arg(long)]
    hongxin: Option<std::path::PathBuf>,
    /// Use the hongxin binary as it is, without `cargo build` first.
    #[arg(long)]
    no_build: bool,
    /// How the end-to-end rows run the system.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [e2e::Mode::Embedded, e2e::Mode::Distributed])]
    modes: Vec<e2e::Mode>,
    /// Concurrent gRPC clients of the end-to-end rows.
    #[arg(long, value_delimiter = ',', default_values_t = [16, 64])]
    clients: Vec<usize>,
    /// Seconds of load per end-to-end row.
    #[arg(long, default_value_t = 10)]
    e2e_seconds: u64,
    /// A further end-to-end row per mode with 4 clients calling at this
    /// many commands per second in all (0: none), for the latency of a
    /// load the read models keep up with.
    #[arg(long, default_value_t = 100.0)]
    paced_rate: f64,
    /// Commands per end-to-end row at most, whatever the time.
    #[arg(long, default_value_t = 1_000_000)]
    e2e_max_commands: u64,
    /// Seconds the read models may take to catch up after an end-to-end row.
    #[arg(long, default_value_t = 60)]
    drain_seconds: u64,
    /// Events in the stream the read models are rebuilt from.
    #[arg(long, default_value_t = 1_000_000)]
    rebuild_events: u64,
    /// The rebuilds measured (source → read models).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [rebuild::Target::JetstreamPostgres, rebuild::Target::JetstreamSqlite, rebuild::Target::StoreSqlite])]
    rebuild_targets: Vec<rebuild::Target>,
    /// Seconds a rebuild may run; a rebuild stopped there reports the rate
    /// of what it had applied.
    #[arg(long, default_value_t = 240)]
    rebuild_seconds: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum What {
    All,
    Append,
    Relay,
    E2e,
    Rebuild,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Postgres,
    Sqlite,
}

struct Run {
    ops: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
    fn p(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

fn event() -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "CaseReported".to_owned(),
        schema_version: 1,
        payload: vec![b'x'; PAYLOAD],
        metadata: EventMetadata::new("bench", Utc::now()),
    }
}

async fn open(backend: Backend, dir: &std::path::Path) -> anyhow::Result<EventStore> {
    let config = match backend {
        Backend::Postgres => StoreConfig::Postgres {
            url: hongxin_testkit::pg::url(),
            schema: format!("bench_{}", Uuid::new_v4().simple()),
            max_connections: 70,
        },
        Backend::Sqlite => StoreConfig::Sqlite {
            path: dir.join(format!("bench-{}.db", Uuid::new_v4().simple())),
        },
    };
    Ok(EventStore::open(&config).await?)
}

/// Runs `op` from `concurrency` tasks for `seconds`, timing each call.
async fn measure<F, Fut>(concurrency: usize, seconds: u64, op: F) -> anyhow::Result<Run>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3)?;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                op().await?;
                h.record(t.elapsed().as_micros() as u64)?;
                n += 1;
            }
            anyhow::Ok((n, h))
        }));
    }
    let mut latency = Histogram::<u64>::new(3)?;
    let mut ops = 0;
    for t in tasks {
        let (n, h) = t.await??;
        ops += n;
        latency.add(h)?;
    }
    Ok(Run {
        ops,
        elapsed: started.elapsed(),
        latency,
    })
}

async fn bench_append(
    backend: Backend,
    concurrency: usize,
    seconds: u64,
    dir: &std::path::Path,
) -> anyhow::Result<(Run, Run)> {
    let store = open(backend, dir).await?;
    let s = store.clone();
    let appends = measure(concurrency, seconds, move || {
        let s = s.clone();
        async move {
            s.append(AppendRequest::new(
                StreamId::new("bench", Uuid::now_v7()),
                ExpectedVersion::NoStream,
                vec![event()],
            ))
            .await?;
            Ok(())
        }
    })
    .await?;

    // The ceiling: plain INSERT + COMMIT into a fresh store's events table
    // (the same shape, indexes included), positions from a counter.
    let next = Arc::new(AtomicI64::new(1));
    let raw = match backend {
        Backend::Postgres => {
            let schema = format!("bench_{}", Uuid::new_v4().simple());
            let s = EventStore::open(&StoreConfig::Postgres {
                url: hongxin_testkit::pg::url(),
                schema: schema.clone(),
                max_connections: 1,
            })
            .await?;
            s.close().await;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(concurrency as u32)
                .connect(&format!(
                    "{}?options=-c%20search_path%3D{schema}",
                    hongxin_testkit::pg::url()
                ))
                .await?;
            measure(concurrency, seconds, move || {
                let pool = pool.clone();
                let pos = next.fetch_add(1, Ordering::Relaxed);
                async move {
                    let mut tx = pool.begin().await?;
                    raw_insert(pos).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }
            })
            .await?
        }
        Backend::Sqlite => {
            let path = dir.join(format!("raw-{}.db", Uuid::new_v4().simple()));
            let s = EventStore::open(&StoreConfig::Sqlite { path: path.clone() }).await?;
            s.close().await;
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(concurrency.min(8) as u32)
                .connect_with(options)
                .await?;
            measure(concurrency, seconds, move || {
                let pool = pool.clone();
                let pos = next.fetch_add(1, Ordering::Relaxed);
                async move {
                    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                    raw_insert(pos).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }
            })
            .await?
        }
    };
    Ok((appends, raw))
}

fn raw_insert<'q, DB>(pos: i64) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    chrono::DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let e = event();
    sqlx::query(
        "INSERT INTO events (global_position, event_id, stream_id, stream_version, event_type, \
         schema_version, payload, occurred_at, recorded_at, actor, correlation_id) \
         VALUES ($1, $2, $3, 1, $4, 1, $5, $6, $7, $8, $9)",
    )
    .bind(pos)
    .bind(e.event_id)
    .bind(format!("bench-{}", Uuid::now_v7()))
    .bind(e.event_type)
    .bind(e.payload)
    .bind(e.metadata.occurred_at)
    .bind(Utc::now())
    .bind(e.metadata.actor)
    .bind(e.metadata.correlation_id)
}

async fn bench_relay(n: usize, dir: &std::path::Path) -> anyhow::Result<(f64, f64)> {
    let store = open(Backend::Postgres, dir).await?;
    let batch: Vec<NewEvent> = (0..n).map(|_| event()).collect();
    for chunk in batch.chunks(1000) {
        store
            .append(AppendRequest::new(
                StreamId::new("bench", Uuid::now_v7()),
                ExpectedVersion::NoStream,
                chunk.to_vec(),
            ))
            .await?;
    }
    let client = async_nats::connect(hongxin_testkit::nats::url())
        .await
        .context("NATS")?;
    let js = async_nats::jetstream::new(client);
    let context = format!("bench{}", &Uuid::new_v4().simple().to_string()[..8]);
    let relay = OutboxRelay::new(store.clone(), js.clone(), &context);
    let mut status = relay.status();
    let started = Instant::now();
    let task = tokio::spawn(relay.run(std::future::pending()));
    status.wait_for(|s| s.published >= n as u64).await?;
    let relay_rate = n as f64 / started.elapsed().as_secs_f64();
    task.abort();
    let _ = js.delete_stream(hongxin_bus::stream_name(&context)).await;

    // The ceiling: the same number of messages of the same size, published
    // with message ids and pipelined acknowledgements, in batches of 1,000.
    let raw_context = format!("raw{}", &Uuid::new_v4().simple().to_string()[..8]);
    hongxin_bus::ensure_stream(
        &js,
        &raw_context,
        &hongxin_bus::JetStreamSettings::default(),
    )
    .await?;
    let sample = hongxin_bus::envelope_of(&raw_context, &store.read_all(0, 1).await?[0]);
    let bytes: bytes::Bytes = prost_encode(&sample).into();
    let subject = format!("hongxin.{raw_context}.bench.CaseReported");
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut acks = Vec::with_capacity(chunk.len());
        for _ in chunk {
            let m = async_nats::jetstream::message::PublishMessage::build()
                .message_id(Uuid::now_v7().to_string())
                .payload(bytes.clone());
            acks.push(js.send_publish(subject.clone(), m).await?);
        }
        for a in acks {
            a.await?;
        }
    }
    let raw_rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = js
        .delete_stream(hongxin_bus::stream_name(&raw_context))
        .await;
    store.close().await;
    Ok((relay_rate, raw_rate))
}

fn prost_encode(m: &hongxin_bus::EventEnvelope) -> Vec<u8> {
    use prost::Message as _;
    m.encode_to_vec()
}

/// See the workspace's `Cargo.toml` for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Ctrl-C drops the run, and with it every process and temporary
    // directory it made.
    tokio::select! {
        r = run(args) => r,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!("# hongxin benchmarks");
    println!();
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        machine()
    );
    println!();
    if matches!(args.what, What::All | What::Append) {
        println!(
            "## Event-store append (1 event of {PAYLOAD} B per append, {} s per row)",
            args.seconds
        );
        println!();
        println!(
            "| backend | concurrency | appends/s | p50 ms | p99 ms | raw INSERT+COMMIT/s | raw p50 ms | raw p99 ms | append / raw |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for backend in [Backend::Postgres, Backend::Sqlite] {
            for &concurrency in &args.concurrency {
                let (a, r) = bench_append(backend, concurrency, args.seconds, dir.path()).await?;
                println!(
                    "| {backend:?} | {concurrency} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.0}% |",
                    a.rate(),
                    a.p(0.5),
                    a.p(0.99),
                    r.rate(),
                    r.p(0.5),
                    r.p(0.99),
                    100.0 * a.rate() / r.rate()
                );
            }
        }
        println!();
    }
    if matches!(args.what, What::All | What::Relay) {
        let (relay, raw) = bench_relay(args.relay_events, dir.path()).await?;
        println!(
            "## Outbox relay ({} events, PostgreSQL store → JetStream)",
            args.relay_events
        );
        println!();
        println!("| relay events/s | raw JetStream publishes/s | relay / raw |");
        println!("|---:|---:|---:|");
        println!("| {relay:.0} | {raw:.0} | {:.0}% |", 100.0 * relay / raw);
        println!();
    }
    if matches!(args.what, What::All | What::E2e) {
        let settings = e2e::Settings {
            binary: procs::hongxin_binary(args.hongxin.clone(), !args.no_build)?,
            seconds: args.e2e_seconds,
            max_commands: args.e2e_max_commands,
            drain_seconds: args.drain_seconds,
        };
        let mut rows = Vec::new();
        for &mode in &args.modes {
            for &clients in &args.clients {
                eprintln!("e2e: {mode}, {clients} clients");
                rows.push(e2e::run(mode, clients, e2e::Load::Flat, &settings).await?);
            }
            if args.paced_rate > 0.0 {
                eprintln!("e2e: {mode}, 4 clients at {} commands/s", args.paced_rate);
                let load = e2e::Load::Paced(args.paced_rate);
                rows.push(e2e::run(mode, 4, load, &settings).await?);
            }
        }
        e2e::print(&rows, &settings);
    }
    if matches!(args.what, What::All | What::Rebuild) && !args.rebuild_targets.is_empty() {
        eprintln!("rebuild: making {} events", args.rebuild_events);
        let source = rebuild::make_events(args.rebuild_events, Duration::from_secs(300)).await?;
        let mut rows = Vec::new();
        for &target in &args.rebuild_targets {
            eprintln!("rebuild: {target}");
            rows.push(
                rebuild::rebuild(&source, target, Duration::from_secs(args.rebuild_seconds))
                    .await?,
            );
        }
        rebuild::print(&source, &rows);
    }
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cpu}, {mem}")
}
