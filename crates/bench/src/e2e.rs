//! End to end through gRPC: the real `hongxin` binary under load from
//! concurrent gRPC clients, each command timed until the dashboard's live
//! stream shows it.
//!
//! The command is the organization service's `RegisterIndustryCommittee`
//! with a fresh id: one aggregate load (of a new stream) and one appended
//! event, projected into the dashboard's committees by industry.
//!
//! Commit-to-visible: the bench records when each call returns (the event
//! is committed by then) and, from `GET /api/v1/live`, when each `changed`
//! event arrived and the organization position it carried. After the run,
//! with the processes stopped, it reads the organization store to learn
//! the position of each committee's event (by its stream id, which holds
//! the committee id the client chose). A command is visible at the first
//! `changed` event whose position is at or beyond its event's position;
//! its commit-to-visible time is that arrival minus the call's return
//! (zero if the dashboard showed it before the answer arrived).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_testkit::free_port;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use uuid::Uuid;

use crate::procs::{FreshDatabase, Hongxin, PrivateNats, RssSampler, memory_mib};

/// A call that takes longer than this counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The stream category of industry committees in the organization store.
const COMMITTEE_CATEGORY: &str = "industry_committee";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// `hongxin up`: one process, SQLite, in-process events.
    Embedded,
    /// `hongxin serve organization` and `serve projection`: PostgreSQL and
    /// JetStream.
    Distributed,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Embedded => "embedded (SQLite)",
            Self::Distributed => "distributed (PostgreSQL + NATS)",
        })
    }
}

/// How a row runs.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) binary: PathBuf,
    pub(crate) seconds: u64,
    /// Commands a row sends at most, whatever the time.
    pub(crate) max_commands: u64,
    /// How long the read models may take to catch up after the load.
    pub(crate) drain_seconds: u64,
}

/// How hard the clients push.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Load {
    /// Each client calls again as soon as its call returns.
    Flat,
    /// The clients together call at this many commands per second.
    Paced(f64),
}

/// One process's memory.
#[derive(Debug)]
pub(crate) struct Memory {
    pub(crate) process: &'static str,
    /// Largest VmRSS sampled during the load, MiB.
    pub(crate) rss_peak: f64,
    /// VmHWM at the end of the load (peak since start), MiB.
    pub(crate) hwm: f64,
}

/// The figures of one row.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) mode: Mode,
    pub(crate) clients: usize,
    pub(crate) load: Load,
    pub(crate) commands: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latency: Histogram<u64>,
    pub(crate) visible: Histogram<u64>,
    /// Commands whose event the live stream had not shown when the drain
    /// ended; they are in `visible` with the time until then, a lower
    /// bound.
    pub(crate) not_visible: u64,
    /// Committees the overview shows after the drain.
    pub(crate) overview_committees: i64,
    /// Events the live stream showed applied during the load, per second.
    pub(crate) projected_rate: f64,
    /// From the end of the load until the live stream showed the last
    /// acknowledged command.
    pub(crate) catch_up: Duration,
    pub(crate) memory: Vec<Memory>,
    /// The projection's own commit-to-applied delay, mean in ms (before
    /// the live stream's coalescing and the trip to the client).
    pub(crate) applied: Option<f64>,
    /// The relay's commit-to-published delay (distributed), mean in ms.
    pub(crate) published: Option<f64>,
}

impl Row {
    pub(crate) fn rate(&self) -> f64 {
        self.commands as f64 / self.elapsed.as_secs_f64()
    }

    /// Commit-to-visible at quantile `q`, in ms; "≥" when commands not
    /// yet visible (counted with their time so far) reach that quantile.
    pub(crate) fn visible_ms(&self, q: f64) -> String {
        let censored = self.not_visible as f64 / self.commands.max(1) as f64;
        let bound = if censored > 1.0 - q { "≥ " } else { "" };
        format!("{bound}{:.0}", ms(&self.visible, q))
    }
}

/// Milliseconds at a quantile of a histogram of microseconds.
pub(crate) fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// What the system under test is: its processes and where it listens.
struct System {
    processes: Vec<(&'static str, Hongxin)>,
    grpc: u16,
    /// The organization process's metrics port (distributed).
    organization_metrics: Option<u16>,
    http: u16,
    /// `Bearer <token>` of a county administrator, when the binary checks
    /// tokens.
    authorization: Option<String>,
    store: StoreConfig,
    // Held for their cleanup when the row ends.
    _dir: tempfile::TempDir,
    nats: Option<PrivateNats>,
    database: Option<FreshDatabase>,
}

impl System {
    async fn embedded(settings: &Settings) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("failed to make a data directory")?;
        let data = dir.path().join("data");
        let (grpc, http) = (free_port(), free_port());
        let envs = [
            ("HONGXIN_AUTH__LOCAL_KEY", local_key()),
            ("HONGXIN_DATA_DIR", data.display().to_string()),
            ("HONGXIN_HOST", "127.0.0.1".to_owned()),
            ("HONGXIN_PORTS__ORGANIZATION", grpc.to_string()),
            ("HONGXIN_PORTS__HTTP", http.to_string()),
            ("HONGXIN_PORTS__PIPELINE", free_port().to_string()),
            ("HONGXIN_PORTS__GRID", free_port().to_string()),
            ("HONGXIN_PORTS__CARE", free_port().to_string()),
            ("HONGXIN_PORTS__PROJECTION", free_port().to_string()),
            ("HONGXIN_PORTS__METRICS", free_port().to_string()),
        ];
        let authorization = token(&settings.binary, dir.path(), &envs).await?;
        let mut up = Hongxin::spawn(&settings.binary, "up", dir.path(), &envs, &["up"])?;
        up.wait_for_port(grpc).await?;
        up.wait_for_port(http).await?;
        Ok(Self {
            processes: vec![("hongxin up", up)],
            grpc,
            organization_metrics: None,
            http,
            authorization,
            store: StoreConfig::Sqlite {
                path: data.join("organization.db"),
            },
            _dir: dir,
            nats: None,
            database: None,
        })
    }

    async fn distributed(settings: &Settings) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("failed to make a data directory")?;
        let nats = PrivateNats::start().await?;
        let database = FreshDatabase::create().await?;
        let (grpc, http) = (free_port(), free_port());
        let common = [
            ("HONGXIN_AUTH__LOCAL_KEY", local_key()),
            ("HONGXIN_DATABASE_URL", database.url().to_owned()),
            ("HONGXIN_NATS_URL", nats.url()),
            (
                "HONGXIN_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
            ("HONGXIN_HOST", "127.0.0.1".to_owned()),
            ("HONGXIN_PORTS__ORGANIZATION", grpc.to_string()),
            ("HONGXIN_PORTS__HTTP", http.to_string()),
            ("HONGXIN_PORTS__PROJECTION", free_port().to_string()),
        ];
        let with_metrics = |port: u16| {
            let mut envs = common.to_vec();
            envs.push(("HONGXIN_PORTS__METRICS", port.to_string()));
            envs
        };
        let authorization = token(&settings.binary, dir.path(), &common).await?;
        let organization_metrics = free_port();
        let mut organization = Hongxin::spawn(
            &settings.binary,
            "organization",
            dir.path(),
            &with_metrics(organization_metrics),
            &["serve", "organization"],
        )?;
        let mut projection = Hongxin::spawn(
            &settings.binary,
            "projection",
            dir.path(),
            &with_metrics(free_port()),
            &["serve", "projection"],
        )?;
        organization.wait_for_port(grpc).await?;
        projection.wait_for_port(http).await?;
        Ok(Self {
            processes: vec![("organization", organization), ("projection", projection)],
            grpc,
            organization_metrics: Some(organization_metrics),
            http,
            authorization,
            store: StoreConfig::Postgres {
                url: database.url().to_owned(),
                schema: "organization".to_owned(),
                max_connections: 2,
            },
            _dir: dir,
            nats: Some(nats),
            database: Some(database),
        })
    }

    /// Stops every process, then reads the position of each committee's
    /// event from the organization store, then removes the scratch
    /// resources.
    async fn stop_and_read_positions(mut self) -> anyhow::Result<HashMap<Uuid, u64>> {
        for (_, p) in self.processes.drain(..) {
            p.stop().await?;
        }
        let positions = positions(&self.store).await;
        drop(self.nats.take());
        if let Some(db) = self.database.take() {
            db.remove().await?;
        }
        positions
    }
}

/// A fresh local signing key (32 random bytes, base64) shared by the
/// processes of a row and the token the bench mints with it.
fn local_key() -> String {
    use base64::Engine as _;
    let mut key = Vec::with_capacity(32);
    key.extend_from_slice(Uuid::new_v4().as_bytes());
    key.extend_from_slice(Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// `Bearer <token>` of a county administrator, minted by `hongxin token`
/// with the row's configuration; `None` from a binary without the command
/// (one that checks no tokens).
async fn token(
    binary: &std::path::Path,
    dir: &std::path::Path,
    envs: &[(&str, String)],
) -> anyhow::Result<Option<String>> {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.args([
        "token",
        "--role",
        "county_admin",
        "--subject",
        "service:bench",
        "--hours",
        "2",
    ])
    .current_dir(dir)
    .env("HONGXIN_TELEMETRY__LOG_FILTER", "error")
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .context("hongxin token did not finish")?
        .context("failed to run hongxin token")?;
    if !out.status.success() {
        eprintln!("hongxin token is not available; calling without a token");
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let token = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("hongxin token printed nothing")?
        .trim()
        .to_owned();
    Ok(Some(format!("Bearer {token}")))
}

/// The position of every committee's registration in the store.
async fn positions(config: &StoreConfig) -> anyhow::Result<HashMap<Uuid, u64>> {
    let store = EventStore::open(config)
        .await
        .context("failed to open the organization store after the run")?;
    let mut map = HashMap::new();
    let mut after = 0;
    loop {
        let events = store.read_all(after, 10_000).await?;
        let Some(last) = events.last() else { break };
        after = last.global_position;
        for e in &events {
            if e.stream_id.category() == COMMITTEE_CATEGORY
                && let Some(id) = e
                    .stream_id
                    .as_str()
                    .strip_prefix(COMMITTEE_CATEGORY)
                    .and_then(|s| s.strip_prefix('-'))
                    .and_then(|s| Uuid::parse_str(s).ok())
            {
                map.entry(id).or_insert(e.global_position);
            }
        }
    }
    store.close().await;
    Ok(map)
}

/// The live stream as seen by the bench: when each `changed` event
/// arrived (since `t0`) and the organization position it carried; only
/// advances are kept, so the list is sorted both ways.
type Timeline = Arc<std::sync::Mutex<Vec<(Duration, u64)>>>;

/// Follows `GET /api/v1/live` until aborted.
fn follow_live(
    http: u16,
    authorization: Option<String>,
    t0: Instant,
    timeline: Timeline,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = read_live(http, authorization.as_deref(), t0, &timeline).await {
            eprintln!("the live stream ended: {e:#}");
        }
    })
}

/// An HTTP/1.0 GET, so the body is the raw bytes until the server closes.
fn request(path: &str, authorization: Option<&str>) -> String {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n")
}

async fn read_live(
    http: u16,
    authorization: Option<&str>,
    t0: Instant,
    timeline: &Timeline,
) -> anyhow::Result<()> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", http)).await?;
    s.write_all(request("/api/v1/live", authorization).as_bytes())
        .await?;
    let mut lines = tokio::io::BufReader::new(s).lines();
    while let Some(line) = lines.next_line().await? {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let now = t0.elapsed();
        let value: serde_json::Value = match serde_json::from_str(data.trim()) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let position = value["contexts"]["organization"]["position"]
            .as_u64()
            .unwrap_or(0);
        let mut t = timeline.lock().unwrap_or_else(|p| p.into_inner());
        if t.last().is_none_or(|&(_, p)| position > p) {
            t.push((now, position));
        }
    }
    Ok(())
}

/// A plain HTTP/1.0 GET of a JSON document.
async fn get_json(
    http: u16,
    path: &str,
    authorization: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(
        &get_text(http, path, authorization).await?,
    )?)
}

async fn get_text(http: u16, path: &str, authorization: Option<&str>) -> anyhow::Result<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", http)).await?;
    s.write_all(request(path, authorization).as_bytes()).await?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut out))
        .await
        .context("the dashboard did not answer")??;
    let (_, body) = out
        .split_once("\r\n\r\n")
        .context("a malformed HTTP answer")?;
    Ok(body.to_owned())
}

/// The mean delay of the organization's events over the row, in ms: the
/// projection's commit-to-applied (`hongxin_projection_delay_seconds`) or
/// the relay's commit-to-published (`hongxin_relay_delay_seconds`), from
/// the summary's sum and count (its quantiles cover a short rolling window
/// only, not the row); `None` when the metrics do not have it.
fn mean_delay_ms(metrics: &str, name: &str) -> Option<f64> {
    let value = |suffix: &str| {
        let key = format!("{name}_{suffix}{{context=\"organization\"}}");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let (sum, count) = (value("sum")?, value("count")?);
    (count > 0.0).then(|| sum / count * 1000.0)
}

fn committee() -> (Uuid, pb::RegisterIndustryCommitteeRequest) {
    const INDUSTRIES: [pb::Industry; 4] = [
        pb::Industry::Express,
        pb::Industry::FoodDelivery,
        pb::Industry::LiveCommerce,
        pb::Industry::Transport,
    ];
    let id = Uuid::now_v7();
    let industry = INDUSTRIES[(id.as_u128() % 4) as usize];
    let request = pb::RegisterIndustryCommitteeRequest {
        committee_id: id.to_string(),
        name: format!("行业党委 {}", &id.simple().to_string()[24..]),
        industry: industry as i32,
        lead_department: "县委社会工作部".to_owned(),
    };
    (id, request)
}

/// What one client did: each successful command's committee and when its
/// call returned (since `t0`), its latencies, and how many calls failed.
struct ClientRun {
    returned: Vec<(Uuid, Duration)>,
    latency: Histogram<u64>,
    errors: u64,
}

async fn client(
    grpc: u16,
    t0: Instant,
    deadline: Instant,
    issued: Arc<AtomicU64>,
    max: u64,
    pace: Option<(Duration, Duration)>,
    authorization: Option<String>,
) -> anyhow::Result<ClientRun> {
    let authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> =
        authorization
            .map(|a| a.parse())
            .transpose()
            .context("a token that is not a header value")?;
    // Each client has a connection of its own, as separate callers would.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc}"))?
        .connect()
        .await
        .context("failed to connect to the organization service")?;
    let mut c = OrganizationServiceClient::new(channel);
    let mut run = ClientRun {
        returned: Vec::new(),
        latency: Histogram::new(3)?,
        errors: 0,
    };
    // A paced client calls at its offset, then once per interval.
    let first = Instant::now() + pace.map_or(Duration::ZERO, |(_, offset)| offset);
    let mut calls = 0u32;
    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
        if let Some((interval, _)) = pace {
            tokio::time::sleep_until((first + interval * calls).into()).await;
            calls += 1;
        }
        let (id, body) = committee();
        let mut request = tonic::Request::new(body);
        if let Some(a) = &authorization {
            request.metadata_mut().insert("authorization", a.clone());
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(CALL_TIMEOUT, c.register_industry_committee(request))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r.map_err(anyhow::Error::from));
        match outcome {
            Ok(_) => {
                run.latency.record(started.elapsed().as_micros() as u64)?;
                run.returned.push((id, t0.elapsed()));
            }
            Err(e) => {
                if run.errors == 0 {
                    eprintln!("a command failed: {e:#}");
                }
                run.errors += 1;
                // A failing server is not hammered in a tight loop.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    Ok(run)
}

/// Runs one row: a fresh system, `clients` callers for the configured
/// time, then the drain, then the figures.
pub(crate) async fn run(
    mode: Mode,
    clients: usize,
    load: Load,
    settings: &Settings,
) -> anyhow::Result<Row> {
    let system = match mode {
        Mode::Embedded => System::embedded(settings).await?,
        Mode::Distributed => System::distributed(settings).await?,
    };
    let t0 = Instant::now();
    let timeline: Timeline = Arc::default();
    let live = follow_live(
        system.http,
        system.authorization.clone(),
        t0,
        timeline.clone(),
    );
    // The first `changed` event (the state on connecting, recorded even at
    // position 0) says the stream is up before the load starts.
    let connected = Instant::now() + Duration::from_secs(30);
    while timeline
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty()
        && !live.is_finished()
        && Instant::now() < connected
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::ensure!(!live.is_finished(), "the dashboard's live stream closed");

    let pids: Vec<u32> = system
        .processes
        .iter()
        .map(|(_, p)| p.pid())
        .collect::<anyhow::Result<_>>()?;
    let sampler = RssSampler::start(pids.clone());
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(settings.seconds);
    let interval = match load {
        Load::Flat => None,
        Load::Paced(rate) => Some(Duration::from_secs_f64(clients as f64 / rate)),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        // Paced clients start spread over one interval, so the calls are
        // spread evenly rather than in bursts of all clients at once.
        let pace = interval.map(|d| (d, d * i as u32 / clients as u32));
        tasks.spawn(client(
            system.grpc,
            t0,
            deadline,
            issued.clone(),
            settings.max_commands,
            pace,
            system.authorization.clone(),
        ));
    }
    let mut returned = Vec::new();
    let mut latency = Histogram::<u64>::new(3)?;
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r??;
        returned.extend(r.returned);
        latency.add(r.latency)?;
        errors += r.errors;
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(
        !returned.is_empty(),
        "no command succeeded ({errors} failed)"
    );
    let window = (started - t0, started - t0 + elapsed);
    let peaks = sampler.peaks_mib();
    drop(sampler);
    let memory = system
        .processes
        .iter()
        .zip(pids.iter().zip(peaks))
        .map(|((name, _), (pid, rss_peak))| Memory {
            process: name,
            rss_peak,
            hwm: memory_mib(*pid).map(|(_, hwm)| hwm).unwrap_or(0.0),
        })
        .collect();

    // The drain. With one event per command and nothing else writing, the
    // store's head is the number of commands committed: those acknowledged,
    // plus failed calls that committed before failing. So it ends when the
    // live stream reaches acknowledged + failed, or reaches the number
    // acknowledged and then stops advancing for a second, or at the
    // deadline.
    let acknowledged = returned.len() as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(settings.drain_seconds);
    loop {
        let (at, shown) = timeline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .copied()
            .unwrap_or_default();
        let quiet = t0.elapsed().saturating_sub(at) > Duration::from_secs(1);
        if shown >= acknowledged + errors
            || (shown >= acknowledged && quiet)
            || Instant::now() >= drain_deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    live.abort();
    let drained = t0.elapsed();
    let overview = get_json(
        system.http,
        "/api/v1/overview",
        system.authorization.as_deref(),
    )
    .await?;
    let overview_committees = overview["committees_by_industry"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["committees"].as_i64()).sum())
        .unwrap_or(0);

    let metrics = get_text(system.http, "/metrics", system.authorization.as_deref())
        .await
        .unwrap_or_default();
    let relay_metrics = match system.organization_metrics {
        Some(port) => get_text(port, "/metrics", None).await.unwrap_or_default(),
        None => metrics.clone(),
    };
    let applied = mean_delay_ms(&metrics, "hongxin_projection_delay_seconds");
    let published = mean_delay_ms(&relay_metrics, "hongxin_relay_delay_seconds");
    let positions = system.stop_and_read_positions().await?;
    let timeline = std::mem::take(&mut *timeline.lock().unwrap_or_else(|p| p.into_inner()));
    let shown_at = |t: Duration| {
        let i = timeline.partition_point(|&(at, _)| at <= t);
        if i == 0 { 0 } else { timeline[i - 1].1 }
    };
    let projected_rate =
        shown_at(window.1).saturating_sub(shown_at(window.0)) as f64 / elapsed.as_secs_f64();
    let mut visible = Histogram::<u64>::new(3)?;
    let mut not_visible = 0;
    let mut last_visible = Duration::ZERO;
    for (id, at) in &returned {
        let Some(&position) = positions.get(id) else {
            anyhow::bail!("committee {id} was acknowledged but is not in the store");
        };
        let i = timeline.partition_point(|&(_, p)| p < position);
        match timeline.get(i) {
            Some(&(shown, _)) => {
                visible.record(shown.saturating_sub(*at).as_micros() as u64)?;
                last_visible = last_visible.max(shown);
            }
            None => {
                not_visible += 1;
                visible.record(drained.saturating_sub(*at).as_micros() as u64)?;
            }
        }
    }
    Ok(Row {
        mode,
        clients,
        load,
        commands: acknowledged,
        errors,
        elapsed,
        latency,
        visible,
        not_visible,
        overview_committees,
        projected_rate,
        // Not caught up by the end of the drain: the time until then, a
        // lower bound.
        catch_up: if not_visible > 0 {
            drained
        } else {
            last_visible
        }
        .saturating_sub(window.1),
        memory,
        applied,
        published,
    })
}

fn mean(ms: Option<f64>) -> String {
    ms.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.0}"))
}

/// A Markdown table of the rows.
pub(crate) fn print(rows: &[Row], settings: &Settings) {
    println!(
        "## End to end through gRPC (RegisterIndustryCommittee, {} s per row, release binary)",
        settings.seconds
    );
    println!();
    println!(
        "| mode | clients | commands/s | command p50 ms | command p99 ms | commit→visible p50 ms | commit→visible p99 ms | commit→published mean ms | commit→applied mean ms | projected/s under load | caught up after load, s | not visible | errors | on dashboard | RSS peak MiB | VmHWM MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    for r in rows {
        let rss: Vec<String> = r
            .memory
            .iter()
            .map(|m| format!("{} {:.0}", m.process, m.rss_peak))
            .collect();
        let hwm: Vec<String> = r
            .memory
            .iter()
            .map(|m| format!("{} {:.0}", m.process, m.hwm))
            .collect();
        let catch_up = format!(
            "{}{:.1}",
            if r.not_visible > 0 { "≥ " } else { "" },
            r.catch_up.as_secs_f64()
        );
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {}/{} | {} | {} |",
            r.mode,
            match r.load {
                Load::Flat => r.clients.to_string(),
                Load::Paced(rate) => format!("{} paced at {rate:.0}/s", r.clients),
            },
            r.rate(),
            ms(&r.latency, 0.5),
            ms(&r.latency, 0.99),
            r.visible_ms(0.5),
            r.visible_ms(0.99),
            mean(r.published),
            mean(r.applied),
            r.projected_rate,
            catch_up,
            r.not_visible,
            r.errors,
            r.overview_committees,
            r.commands,
            rss.join(", "),
            hwm.join(", "),
        );
    }
    println!();
}
