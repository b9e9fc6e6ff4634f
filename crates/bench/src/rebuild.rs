//! The rebuild rate: the dashboard's read models rebuilt from a JetStream
//! stream of a million organization events (`hongxin_projection::
//! rebuild_into`), beside a raw consume of the same stream in the same run.
//!
//! The events are made the way production makes them: appended through
//! the event store (a SQLite store in a temporary directory, 64 writers)
//! while the outbox relay publishes them to the organization stream of a
//! private `nats-server`. They are a county's registrations: per ten
//! aggregates one community, one industry committee and eight enterprises,
//! each enterprise registered and then reporting its headcount (18 events
//! per ten aggregates, real protobuf payloads), with occurred-at dates
//! spread over a year so the monthly trends have work to do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use futures::StreamExt as _;
use hongxin_bus::OutboxRelay;
use hongxin_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId,
};
use hongxin_projection::{ProjectionDb, RebuildSource};
use hongxin_proto::organization::v1 as org;
use prost::Message as _;
use uuid::Uuid;

use crate::procs::{FreshDatabase, PrivateNats};

const CONTEXT: &str = "organization";
/// Concurrent writers while the events are made.
const WRITERS: usize = 64;
/// The longest a stream may go without delivering while it is consumed.
const IDLE: Duration = Duration::from_secs(30);

/// Where a measured rebuild reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Target {
    /// From the JetStream stream into PostgreSQL (the distributed mode).
    JetstreamPostgres,
    /// From the JetStream stream into SQLite.
    JetstreamSqlite,
    /// From the SQLite store into SQLite (the embedded default).
    StoreSqlite,
}

impl Target {
    fn reads_jetstream(self) -> bool {
        matches!(self, Self::JetstreamPostgres | Self::JetstreamSqlite)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::JetstreamPostgres => "JetStream → PostgreSQL",
            Self::JetstreamSqlite => "JetStream → SQLite",
            Self::StoreSqlite => "SQLite store → SQLite",
        })
    }
}

/// The figures of one rebuild.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) target: Target,
    /// Events applied (all of them unless the time limit stopped it).
    pub(crate) events: u64,
    pub(crate) seconds: f64,
    pub(crate) complete: bool,
    /// The raw consume measured just before, for a JetStream source.
    pub(crate) raw_rate: Option<f64>,
    /// The database's own copy of the rows the rebuild wrote into empty
    /// tables of the same shape (`INSERT … SELECT`, no client), as events
    /// per second: the most any rebuild into it could do.
    pub(crate) copy_rate: Option<f64>,
}

impl Row {
    pub(crate) fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }
}

/// The made events: where they are, and how long making them took.
pub(crate) struct Source {
    pub(crate) events: u64,
    pub(crate) append_seconds: f64,
    pub(crate) publish_seconds: f64,
    store: EventStore,
    js: async_nats::jetstream::Context,
    // Held for their cleanup when the run ends.
    _nats: PrivateNats,
    dir: tempfile::TempDir,
}

/// The events of the `i`-th aggregate, at most `room` of them.
fn aggregate(i: u64, community: Uuid, room: u64) -> (StreamId, Vec<NewEvent>) {
    let id = Uuid::now_v7();
    // Spread over the past year, so trends by month see twelve months.
    let occurred_at = Utc::now() - chrono::Duration::hours((i % 8760) as i64);
    let industry = [
        org::Industry::Express,
        org::Industry::FoodDelivery,
        org::Industry::LiveCommerce,
        org::Industry::Transport,
    ][(i % 4) as usize] as i32;
    let event = |event_type: &str, payload: Vec<u8>| NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload,
        metadata: EventMetadata::new("bench", occurred_at),
    };
    let (stream, mut events) = match i % 10 {
        0 => (
            StreamId::new("community", community),
            vec![event(
                "CommunityRegistered",
                org::CommunityRegistered {
                    community_id: community.to_string(),
                    name: format!("社区 {i}"),
                    subdistrict: "晏城街道".to_owned(),
                }
                .encode_to_vec(),
            )],
        ),
        1 => (
            StreamId::new("industry_committee", id),
            vec![event(
                "IndustryCommitteeRegistered",
                org::IndustryCommitteeRegistered {
                    committee_id: id.to_string(),
                    name: format!("行业党委 {i}"),
                    industry,
                    lead_department: "县委社会工作部".to_owned(),
                }
                .encode_to_vec(),
            )],
        ),
        _ => (
            StreamId::new("enterprise", id),
            vec![
                event(
                    "EnterpriseRegistered",
                    org::EnterpriseRegistered {
                        enterprise_id: id.to_string(),
                        name: format!("网点 {i}"),
                        industry,
                        kind: org::EnterpriseKind::Station as i32,
                        community_id: community.to_string(),
                        platform_brand: "顺丰".to_owned(),
                        parent_enterprise_id: String::new(),
                    }
                    .encode_to_vec(),
                ),
                event(
                    "EnterpriseHeadcountReported",
                    org::EnterpriseHeadcountReported {
                        enterprise_id: id.to_string(),
                        headcount: Some(org::Headcount {
                            workers: 5 + (i % 40) as u32,
                            full_members: (i % 4) as u32,
                            probationary_members: (i % 2) as u32,
                        }),
                    }
                    .encode_to_vec(),
                ),
            ],
        ),
    };
    events.truncate(room as usize);
    (stream, events)
}

/// Appends `n` events through the store while the relay publishes them to
/// a private JetStream; returns once JetStream holds every one, or fails
/// after `limit`.
pub(crate) async fn make_events(n: u64, limit: Duration) -> anyhow::Result<Source> {
    let dir = tempfile::tempdir().context("failed to make a store directory")?;
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("organization.db"),
    })
    .await?;
    let nats = PrivateNats::start().await?;
    let client = async_nats::connect(nats.url())
        .await
        .context("failed to reach the private nats-server")?;
    let js = async_nats::jetstream::new(client);
    let relay = OutboxRelay::new(store.clone(), js.clone(), CONTEXT);
    let mut status = relay.status();
    let (stop_relay, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay_task = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    let deadline = started + limit;
    let reserved = Arc::new(AtomicU64::new(0));
    let aggregates = Arc::new(AtomicU64::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..WRITERS {
        let (store, reserved, aggregates) = (store.clone(), reserved.clone(), aggregates.clone());
        writers.spawn(async move {
            // Each writer's enterprises are in the community it registered
            // last (or one not yet registered, which the read models take
            // as they come).
            let mut community = Uuid::now_v7();
            loop {
                anyhow::ensure!(Instant::now() < deadline, "making the events took too long");
                let i = aggregates.fetch_add(1, Ordering::Relaxed);
                if i % 10 == 0 {
                    community = Uuid::now_v7();
                }
                let size = if i % 10 < 2 { 1 } else { 2 };
                let start = reserved.fetch_add(size, Ordering::Relaxed);
                if start >= n {
                    return Ok(());
                }
                let (stream, events) = aggregate(i, community, n - start);
                store
                    .append(AppendRequest::new(
                        stream,
                        ExpectedVersion::NoStream,
                        events,
                    ))
                    .await?;
            }
        });
    }
    while let Some(w) = writers.join_next().await {
        w??;
    }
    let append_seconds = started.elapsed().as_secs_f64();
    let published = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        status.wait_for(|s| s.published >= n),
    )
    .await;
    let publish_seconds = started.elapsed().as_secs_f64();
    let _ = stop_relay.send(());
    if tokio::time::timeout(Duration::from_secs(30), relay_task)
        .await
        .is_err()
    {
        eprintln!("the relay did not stop in time; it is dropped");
    }
    eprintln!("rebuild: {n} events in JetStream");
    published
        .context("the relay did not publish every event in time")?
        .context("the relay stopped")?;
    Ok(Source {
        events: n,
        append_seconds,
        publish_seconds,
        store,
        js,
        _nats: nats,
        dir,
    })
}

/// Reads the whole stream with an ordered consumer, counting messages:
/// the ceiling of any consumer of it. Messages per second.
pub(crate) async fn raw_consume(source: &Source) -> anyhow::Result<f64> {
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    let stream = source
        .js
        .get_stream(hongxin_bus::stream_name(CONTEXT))
        .await
        .context("no organization stream")?;
    let started = Instant::now();
    let consumer = tokio::time::timeout(IDLE, stream.create_consumer(OrderedConfig::default()))
        .await
        .context("creating an ordered consumer took too long")?
        .context("failed to create an ordered consumer")?;
    let mut messages = tokio::time::timeout(IDLE, consumer.messages())
        .await
        .context("the ordered consumer did not start")??;
    let mut count = 0u64;
    let mut bytes = 0usize;
    while count < source.events {
        let m = tokio::time::timeout(IDLE, messages.next())
            .await
            .with_context(|| format!("the stream stopped delivering after {count} messages"))?
            .context("the stream ended early")??;
        bytes += m.payload.len();
        count += 1;
        if count.is_multiple_of(100_000) {
            eprintln!("raw consume: {count}");
        }
    }
    // Counted so the work is not optimised away; also a sanity check.
    anyhow::ensure!(bytes > 0, "empty messages");
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Rebuilds the read models into a fresh database from `target`'s source,
/// stopped at `limit`: then the figure is what it had applied by then.
pub(crate) async fn rebuild(
    source: &Source,
    target: Target,
    limit: Duration,
) -> anyhow::Result<Row> {
    // The better of two raw consumes: the first right after the events
    // are made ran up to a third slower than later ones (the server still
    // writing its store), which would flatter the rebuild.
    let raw_rate = if target.reads_jetstream() {
        Some(raw_consume(source).await?.max(raw_consume(source).await?))
    } else {
        None
    };
    let database = match target {
        Target::JetstreamPostgres => Some(FreshDatabase::create().await?),
        _ => None,
    };
    let db = match &database {
        Some(d) => ProjectionDb::Postgres {
            url: d.url().to_owned(),
            schema: "projection".to_owned(),
        },
        None => ProjectionDb::Sqlite {
            path: source
                .dir
                .path()
                .join(format!("projection-{}.db", Uuid::new_v4().simple())),
        },
    };
    let sources = vec![if target.reads_jetstream() {
        RebuildSource::JetStream {
            context: CONTEXT.to_owned(),
            jetstream: source.js.clone(),
        }
    } else {
        RebuildSource::Store {
            context: CONTEXT.to_owned(),
            store: source.store.clone(),
        }
    }];
    let started = Instant::now();
    let outcome = tokio::time::timeout(limit, hongxin_projection::rebuild_into(&db, sources)).await;
    let seconds = started.elapsed().as_secs_f64();
    let row = match outcome {
        Ok(report) => {
            let report = report.context("the rebuild failed")?;
            let reached = report.positions.get(CONTEXT).copied().unwrap_or(0);
            anyhow::ensure!(
                reached == source.events,
                "the rebuild reached position {reached} of {}",
                source.events
            );
            let copy_seconds = copy(&db, &source.dir).await?;
            Row {
                target,
                events: report.events,
                seconds,
                complete: true,
                raw_rate,
                copy_rate: Some(report.events as f64 / copy_seconds),
            }
        }
        Err(_) => Row {
            target,
            events: applied_so_far(&db).await?,
            seconds,
            complete: false,
            raw_rate,
            copy_rate: None,
        },
    };
    if let Some(d) = database {
        d.remove().await?;
    }
    Ok(row)
}

/// Seconds the database takes to copy every read-model row of `db` into
/// empty, migrated tables beside it (`INSERT INTO … SELECT * FROM …`, one
/// transaction): writing the same rows with the same indexes, with no
/// client, no statements to parse and no conflicts to check.
async fn copy(db: &ProjectionDb, dir: &tempfile::TempDir) -> anyhow::Result<f64> {
    use sqlx::Executor as _;
    sqlx::any::install_default_drivers();
    let (empty, url, other, tables_sql) = match db {
        ProjectionDb::Sqlite { path } => {
            let copy = dir
                .path()
                .join(format!("copy-{}.db", Uuid::new_v4().simple()));
            (
                ProjectionDb::Sqlite { path: copy.clone() },
                format!("sqlite://{}", path.display()),
                format!("ATTACH DATABASE '{}' AS other", copy.display()),
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'"
                    .to_owned(),
            )
        }
        ProjectionDb::Postgres { url, schema } => (
            ProjectionDb::Postgres {
                url: url.clone(),
                schema: "other".to_owned(),
            },
            format!("{url}?options=-c%20search_path%3D{schema}"),
            String::new(),
            format!(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = '{schema}' AND table_name NOT LIKE '_sqlx%'"
            ),
        ),
    };
    // Empty read models of the same shape: a rebuild from nothing.
    hongxin_projection::rebuild_into(&empty, Vec::new()).await?;
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    if !other.is_empty() {
        pool.execute(other.as_str()).await?;
    }
    let tables: Vec<String> = sqlx::query_scalar(&tables_sql).fetch_all(&pool).await?;
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    for table in &tables {
        tx.execute(format!("INSERT INTO other.{table} SELECT * FROM {table}").as_str())
            .await?;
    }
    tx.commit().await?;
    let seconds = started.elapsed().as_secs_f64();
    pool.close().await;
    Ok(seconds)
}

/// The projection's checkpoint of the organization context in `db`: the
/// events a stopped rebuild had committed (positions start at 1, no gaps).
async fn applied_so_far(db: &ProjectionDb) -> anyhow::Result<u64> {
    sqlx::any::install_default_drivers();
    let url = match db {
        ProjectionDb::Sqlite { path } => format!("sqlite://{}", path.display()),
        ProjectionDb::Postgres { url, schema } => {
            format!("{url}?options=-c%20search_path%3D{schema}")
        }
    };
    let pool = sqlx::AnyPool::connect(&url).await?;
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE context = $1")
            .bind(CONTEXT)
            .fetch_optional(&pool)
            .await?;
    pool.close().await;
    Ok(position.unwrap_or(0) as u64)
}

/// A Markdown table of the rows.
pub(crate) fn print(source: &Source, rows: &[Row]) {
    println!(
        "## Rebuild of the read models ({} organization events; made in {:.0} s, all in JetStream after {:.0} s)",
        source.events, source.append_seconds, source.publish_seconds
    );
    println!();
    println!(
        "| source → read models | events | seconds | events/s | raw JetStream consume/s (better of two) | rebuild / raw | database's own copy of the rows, events/s | rebuild / copy |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let against = |rate: f64, ceiling: Option<f64>| match ceiling {
        Some(c) => (format!("{c:.0}"), format!("{:.0}%", 100.0 * rate / c)),
        None => ("—".to_owned(), "—".to_owned()),
    };
    for r in rows {
        let (raw, ratio) = against(r.rate(), r.raw_rate);
        let (copy, copy_ratio) = against(r.rate(), r.copy_rate);
        println!(
            "| {} | {}{} | {:.1} | {:.0} | {raw} | {ratio} | {copy} | {copy_ratio} |",
            r.target,
            r.events,
            if r.complete { "" } else { " (time limit)" },
            r.seconds,
            r.rate(),
        );
    }
    println!();
}
