//! `hongxin demo qihe-2022` against the real system, embedded and
//! distributed: the dashboard shows every figure of the article, and a
//! second run changes none.

mod common;

use common::{LOCAL_KEY, hongxin};

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hongxin_testkit::{free_port, nats::wait_for_port};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

/// How long the system may take to start, the demo to run, and the
/// dashboard to catch up.
const WAIT: Duration = Duration::from_secs(180);

/// A plain HTTP/1.0 GET, enough for the dashboard's JSON.
async fn get(port: u16, path: &str) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

async fn overview(http: u16) -> Option<Value> {
    serde_json::from_str(&get(http, "/api/v1/overview").await?).ok()
}

/// Where the services listen.
#[derive(Clone, Copy)]
struct Ports {
    organization: u16,
    pipeline: u16,
    grid: u16,
    care: u16,
    http: u16,
    /// The dashboard's gRPC service.
    projection: u16,
}

impl Ports {
    fn free() -> Self {
        Self {
            organization: free_port(),
            pipeline: free_port(),
            grid: free_port(),
            care: free_port(),
            http: free_port(),
            projection: free_port(),
        }
    }

    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HONGXIN_PORTS__ORGANIZATION", self.organization.to_string()),
            ("HONGXIN_PORTS__PIPELINE", self.pipeline.to_string()),
            ("HONGXIN_PORTS__GRID", self.grid.to_string()),
            ("HONGXIN_PORTS__CARE", self.care.to_string()),
            ("HONGXIN_PORTS__HTTP", self.http.to_string()),
            ("HONGXIN_PORTS__PROJECTION", self.projection.to_string()),
            ("HONGXIN_PORTS__INTEGRATION", free_port().to_string()),
        ]
    }

    async fn wait(&self) {
        for port in [
            self.organization,
            self.pipeline,
            self.grid,
            self.care,
            self.http,
        ] {
            wait_for_port(port).await.expect("a service's port");
        }
    }
}

/// Runs the demo against `ports` to its end; its output on failure.
async fn demo(dir: &std::path::Path, ports: Ports) {
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let run = Command::new(env!("CARGO_BIN_EXE_hongxin"))
        .args(["demo", "qihe-2022"])
        .args(["--organization-url", &url(ports.organization)])
        .args(["--pipeline-url", &url(ports.pipeline)])
        .args(["--grid-url", &url(ports.grid)])
        .args(["--care-url", &url(ports.care)])
        .args(["--dashboard-url", &url(ports.http)])
        .current_dir(dir)
        .env("HONGXIN_TELEMETRY__LOG_FILTER", "warn")
        .env("HONGXIN_AUTH__LOCAL_KEY", LOCAL_KEY)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let started = Instant::now();
    let out = tokio::time::timeout(WAIT, run)
        .await
        .expect("the demo finished in time")
        .expect("the demo ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "demo took {:.1} s:\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "the demo failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn count(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{pointer} missing from the overview"))
}

fn find(v: &Value, list: &str, pairs: &[(&str, &str)], field: &str) -> i64 {
    v[list]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| pairs.iter().all(|(k, want)| x[*k] == *want))
        .map_or(0, |x| x[field].as_i64().unwrap_or(0))
}

/// The article's figures, by the overview field that shows each.
fn figures(v: &Value) -> BTreeMap<&'static str, i64> {
    let kind = |k: &str| {
        find(
            v,
            "party_organizations_by_kind",
            &[("kind", k)],
            "organizations",
        )
    };
    let resolved = |c: &str| find(v, "cases_by_category", &[("category", c)], "resolved");
    BTreeMap::from([
        (
            "report_stations.stations",
            count(v, "/report_stations/stations"),
        ),
        (
            "party_organizations_by_kind[branch + joint_branch]",
            kind("branch") + kind("joint_branch"),
        ),
        (
            "coverage.member_units_rate (×10)",
            (v.pointer("/coverage/member_units_rate")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
                * 10.0)
                .round() as i64,
        ),
        (
            "development.probationary",
            count(v, "/development/probationary"),
        ),
        (
            "people.probationary_members",
            count(v, "/people/probationary_members"),
        ),
        ("development.activists", count(v, "/development/activists")),
        (
            "capability.training_sessions",
            count(v, "/capability/training_sessions"),
        ),
        (
            "capability.training_attendances",
            count(v, "/capability/training_attendances"),
        ),
        (
            "vanguard.demonstration_stations",
            count(v, "/vanguard/demonstration_stations"),
        ),
        (
            "vanguard.vanguard_posts",
            count(v, "/vanguard/vanguard_posts"),
        ),
        (
            "mechanism.grid_workers",
            count(v, "/mechanism/grid_workers"),
        ),
        (
            "cases_by_category[garbage_pile].resolved",
            resolved("garbage_pile"),
        ),
        (
            "cases_by_category[elevator_fault].resolved",
            resolved("elevator_fault"),
        ),
        ("service.posted_cadres", count(v, "/service/posted_cadres")),
        (
            "service.problems_solved",
            count(v, "/service/problems_solved"),
        ),
        (
            "service.activities_held",
            count(v, "/service/activities_held"),
        ),
        (
            "service.activity_participants",
            count(v, "/service/activity_participants"),
        ),
        (
            "service.hardship_cases_approved",
            count(v, "/service/hardship_cases_approved"),
        ),
        (
            "service.supplies_value_fen",
            count(v, "/service/supplies_value_fen"),
        ),
    ])
}

/// What the article reports, as the scenario makes it ("20余场次" is 22,
/// "600余人次" 620, "100余个" 102 and 106, "30余场次" 32, "1100余人次"
/// 1,120, "约70万元" ¥700,000).
fn article() -> BTreeMap<&'static str, i64> {
    BTreeMap::from([
        ("report_stations.stations", 20),
        ("party_organizations_by_kind[branch + joint_branch]", 8),
        ("coverage.member_units_rate (×10)", 1000),
        ("development.probationary", 2),
        ("people.probationary_members", 2),
        ("development.activists", 23),
        ("capability.training_sessions", 22),
        ("capability.training_attendances", 620),
        ("vanguard.demonstration_stations", 5),
        ("vanguard.vanguard_posts", 102),
        ("mechanism.grid_workers", 43),
        ("cases_by_category[garbage_pile].resolved", 86),
        ("cases_by_category[elevator_fault].resolved", 37),
        ("service.posted_cadres", 18),
        ("service.problems_solved", 106),
        ("service.activities_held", 32),
        ("service.activity_participants", 1120),
        ("service.hardship_cases_approved", 165),
        ("service.supplies_value_fen", 70_000_000),
    ])
}

fn pending(v: &Value) -> Option<u64> {
    let contexts = v["contexts"].as_array().filter(|c| c.len() >= 4)?;
    contexts
        .iter()
        .map(|c| c["pending"].as_u64())
        .sum::<Option<u64>>()
}

/// The overview once the projection has applied every context's events
/// and shows `want` (or, past the deadline, whatever it shows then, for
/// the assertions to report).
async fn caught_up(http: u16, want: &BTreeMap<&'static str, i64>) -> Value {
    let deadline = Instant::now() + WAIT;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Some(v) = overview(http).await {
            if pending(&v) == Some(0) && figures(&v) == *want {
                return v;
            }
            last = v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    last
}

fn assert_article(v: &Value) {
    let shown = figures(v);
    for (figure, want) in article() {
        assert_eq!(shown.get(figure), Some(&want), "{figure}");
    }
    // Every case reported was resolved: none is left open or rejected.
    for (category, n) in [("garbage_pile", 86), ("elevator_fault", 37)] {
        let reported = find(v, "cases_by_category", &[("category", category)], "cases");
        assert_eq!(reported, n, "{category} cases reported");
    }
    // Not an article figure: the scenario certifies each attendee of its
    // six skills sessions (30 + 28 + 25 + 31 + 30 + 26).
    assert_eq!(count(v, "/hr/training_certificates"), 170);
}

/// The events the projection counted, by context and type.
fn events(v: &Value) -> Vec<Value> {
    v["events"].as_array().cloned().unwrap_or_default()
}

/// The demo twice against the system on `ports`: the article's figures,
/// and the same figures and events after the second run.
async fn twice(dir: &std::path::Path, ports: Ports) {
    demo(dir, ports).await;
    let first = caught_up(ports.http, &article()).await;
    assert_article(&first);

    demo(dir, ports).await;
    let second = caught_up(ports.http, &article()).await;
    assert_article(&second);
    assert_eq!(
        figures(&second),
        figures(&first),
        "a second run moves no figure"
    );
    assert_eq!(
        events(&second),
        events(&first),
        "a second run records no new event"
    );
}

#[tokio::test]
async fn demo_qihe_2022_shows_the_article_on_the_embedded_default_and_again_after_a_rerun() {
    let dir = tempfile::tempdir().expect("dir");
    let ports = Ports::free();
    let _up = hongxin(dir.path(), &ports.envs(), &["up"]);
    ports.wait().await;
    twice(dir.path(), ports).await;

    // Rebuilt from the stores in large transactions, the read models are
    // row for row the ones built as the events came.
    let data = dir.path().join("data");
    let mut sources = Vec::new();
    for context in ["organization", "pipeline", "care", "grid"] {
        let store =
            hongxin_eventstore::EventStore::open(&hongxin_eventstore::StoreConfig::Sqlite {
                path: data.join(format!("{context}.db")),
            })
            .await
            .expect("store");
        sources.push(hongxin_projection::RebuildSource::Store {
            context: context.to_owned(),
            store,
        });
    }
    let rebuilt = dir.path().join("rebuilt.db");
    hongxin_projection::rebuild_into(
        &hongxin_projection::ProjectionDb::Sqlite {
            path: rebuilt.clone(),
        },
        sources,
    )
    .await
    .expect("rebuild");
    same_rows(
        sqlite_rows(&data.join("projection.db")).await,
        sqlite_rows(&rebuilt).await,
    );
}

#[tokio::test]
async fn demo_qihe_2022_shows_the_article_in_the_distributed_mode_and_again_after_a_rerun() {
    let nats = hongxin_testkit::nats::PrivateNats::start()
        .await
        .expect("private nats-server");
    let database = hongxin_testkit::pg::fresh_database()
        .await
        .expect("database");
    let dir = tempfile::tempdir().expect("dir");
    let ports = Ports::free();
    let mut envs = ports.envs();
    envs.extend([
        ("HONGXIN_DATABASE_URL", database.clone()),
        ("HONGXIN_NATS_URL", nats.url()),
        // The services seal personal data each in their own store, all
        // under one master key.
        (
            "HONGXIN_MASTER_KEY",
            "ZGVtby1xaWhlLTIwMjItbWFzdGVyLWtleS0zMmJ5dGU=".to_owned(),
        ),
        (
            "HONGXIN_ORGANIZATION_URL",
            format!("http://127.0.0.1:{}", ports.organization),
        ),
    ]);
    let mut services = Vec::new();
    for service in ["organization", "pipeline", "care", "grid", "projection"] {
        let mut mine = envs.clone();
        mine.push(("HONGXIN_PORTS__METRICS", free_port().to_string()));
        services.push(hongxin(dir.path(), &mine, &["serve", service]));
    }
    ports.wait().await;
    twice(dir.path(), ports).await;

    // Rebuilt from JetStream in large transactions, the read models are
    // row for row the ones built as the events came.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("nats"));
    let sources = ["organization", "pipeline", "care", "grid"]
        .map(|context| hongxin_projection::RebuildSource::JetStream {
            context: context.to_owned(),
            jetstream: js.clone(),
        })
        .to_vec();
    hongxin_projection::rebuild_into(
        &hongxin_projection::ProjectionDb::Postgres {
            url: database.clone(),
            schema: "rebuilt".to_owned(),
        },
        sources,
    )
    .await
    .expect("rebuild");
    same_rows(
        postgres_rows(&database, "projection").await,
        postgres_rows(&database, "rebuilt").await,
    );

    // Every event of the scenario crossed NATS: none carries an ID number
    // or a phone number in clear.
    let mut scanned = 0;
    for context in ["organization", "pipeline", "care", "grid"] {
        let name = format!("HONGXIN_{}", context.to_uppercase());
        let mut stream = js.get_stream(&name).await.expect("stream");
        let last = stream.info().await.expect("info").state.last_sequence;
        for seq in 1..=last {
            let m = stream.get_raw_message(seq).await.expect("message");
            let found = personal_numbers(&m.payload);
            assert!(
                found.is_empty(),
                "{name} #{seq} ({:?}) carries {found:?} in clear: {:?}",
                m.headers
                    .get("Hongxin-Event-Type")
                    .map(|v| v.as_str().to_owned()),
                String::from_utf8_lossy(&m.payload)
            );
            scanned += 1;
        }
    }
    assert!(
        scanned > 1000,
        "the scenario's events were scanned ({scanned})"
    );
}

/// Every row of every read-model table, as JSON text, sorted; the moment a
/// checkpoint was written is left out.
type Rows = BTreeMap<String, Vec<String>>;

async fn sqlite_rows(path: &std::path::Path) -> Rows {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .expect("read models");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut rows = Rows::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM pragma_table_info($1) WHERE name <> 'updated_at_us' ORDER BY cid",
        )
        .bind(&table)
        .fetch_all(&pool)
        .await
        .expect("columns");
        let mut these: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT json_array({}) FROM {table}",
            columns.join(", ")
        ))
        .fetch_all(&pool)
        .await
        .expect("rows");
        these.sort();
        rows.insert(table, these);
    }
    pool.close().await;
    rows
}

async fn postgres_rows(url: &str, schema: &str) -> Rows {
    let pool = sqlx::PgPool::connect(url).await.expect("read models");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = $1 AND table_name NOT LIKE '_sqlx%'",
    )
    .bind(schema)
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut rows = Rows::new();
    for table in tables {
        let mut these: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT (to_jsonb(t) - 'updated_at_us')::text FROM {schema}.{table} t"
        ))
        .fetch_all(&pool)
        .await
        .expect("rows");
        these.sort();
        rows.insert(table, these);
    }
    pool.close().await;
    rows
}

/// The two sets of read models hold the same rows, and the scenario's.
fn same_rows(served: Rows, rebuilt: Rows) {
    assert_eq!(
        served.keys().collect::<Vec<_>>(),
        rebuilt.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    for (table, rows) in &served {
        assert_eq!(rows, &rebuilt[table], "the rows of {table}");
    }
    for table in [
        "cases",
        "candidates",
        "candidate_due",
        "hr_records",
        "audit_trail",
    ] {
        assert!(!served[table].is_empty(), "the scenario wrote {table}");
    }
}

/// ID numbers (18 characters whose GB 11643 check character is right)
/// and mainland mobile numbers that stand as words of text in `bytes`
/// (digits inside a hex string, such as a trace id, are not words).
fn personal_numbers(bytes: &[u8]) -> Vec<String> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let id_number = |w: &[u8]| {
        w.len() == 18
            && w[..17].iter().all(u8::is_ascii_digit)
            && CHECK[(w[..17]
                .iter()
                .zip(WEIGHTS)
                .map(|(d, k)| u32::from(d - b'0') * k)
                .sum::<u32>()
                % 11) as usize]
                == w[17]
    };
    let phone = |w: &[u8]| {
        w.len() == 11
            && w[0] == b'1'
            && (b'3'..=b'9').contains(&w[1])
            && w.iter().all(u8::is_ascii_digit)
    };
    bytes
        .split(|b| !b.is_ascii_alphanumeric())
        .filter(|w| id_number(w) || phone(w))
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

#[test]
fn the_scan_finds_what_it_looks_for() {
    assert_eq!(
        personal_numbers(b"\x12\x12110101199003074514\x1a"),
        ["110101199003074514"]
    );
    assert_eq!(personal_numbers(b"tel 13800138000."), ["13800138000"]);
    assert!(personal_numbers(b"2022-05-20 110101199003074515 12345678901").is_empty());
    assert!(
        personal_numbers(b"00-3cb4ab8c595b14586688308ada05834b-01").is_empty(),
        "digits inside a trace id"
    );
}
