//! The `hongxin` binary as people and operators run it: real processes,
//! killed and restarted.

mod common;

use common::{LOCAL_KEY, admin_token, get, hongxin};

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_testkit::{free_port, nats::wait_for_port};
use tokio::process::{Child, Command};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

async fn client(port: u16) -> OrganizationServiceClient<hongxin_runtime::auth::Authed> {
    wait_for_port(port).await.expect("gRPC port");
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    OrganizationServiceClient::new(hongxin_runtime::auth::authed(channel, &admin_token()))
}

fn committee(i: usize) -> pb::RegisterIndustryCommitteeRequest {
    pb::RegisterIndustryCommitteeRequest {
        committee_id: Uuid::now_v7().to_string(),
        name: format!("快递行业党委{i}"),
        industry: pb::Industry::Express as i32,
        lead_department: "县邮政管理局".to_owned(),
    }
}

/// A plain HTTP/1.0 GET, enough for the dashboard's JSON.
fn sigterm(child: &Child) {
    let pid = nix::unistd::Pid::from_raw(child.id().expect("running") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
}

#[tokio::test]
async fn make_run_serves_commands_and_the_dashboard_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("dir");
    let (grpc, http, pipeline) = (free_port(), free_port(), free_port());
    let mut up = hongxin(
        dir.path(),
        &[
            ("HONGXIN_PORTS__ORGANIZATION", grpc.to_string()),
            ("HONGXIN_PORTS__HTTP", http.to_string()),
            ("HONGXIN_PORTS__PIPELINE", pipeline.to_string()),
            ("HONGXIN_PORTS__CARE", free_port().to_string()),
            ("HONGXIN_PORTS__GRID", free_port().to_string()),
            ("HONGXIN_PORTS__PROJECTION", free_port().to_string()),
            ("HONGXIN_PORTS__INTEGRATION", free_port().to_string()),
        ],
        &["up"],
    );
    let mut c = client(grpc).await;
    for i in 0..3 {
        c.register_industry_committee(committee(i))
            .await
            .expect("register");
    }
    wait_for_port(pipeline).await.expect("pipeline port");
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{pipeline}"))
        .expect("uri")
        .connect()
        .await
        .expect("pipeline");
    let mut p = hongxin_proto::pipeline::v1::pipeline_service_client::PipelineServiceClient::new(
        hongxin_runtime::auth::authed(channel, &admin_token()),
    );
    // Without a token the same call is refused.
    let bare = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{pipeline}"))
        .expect("uri")
        .connect()
        .await
        .expect("pipeline");
    let refused =
        hongxin_proto::pipeline::v1::pipeline_service_client::PipelineServiceClient::new(bare)
            .list_rule_sets(hongxin_proto::pipeline::v1::ListRuleSetsRequest {})
            .await
            .expect_err("no token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let rules = p
        .list_rule_sets(hongxin_proto::pipeline::v1::ListRuleSetsRequest {})
        .await
        .expect("rule sets")
        .into_inner();
    assert_eq!(rules.default_id, "cpc-2014");
    wait_for_port(http).await.expect("dashboard port");
    let body = tokio::time::timeout(WAIT, async {
        loop {
            let body = get(http, "/api/v1/overview").await;
            if body.contains("\"committees\":3") {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the dashboard did not show the committees");
    assert!(body.contains("\"industry\":\"express\""), "{body}");
    assert!(get(http, "/").await.contains("红新"));
    assert!(
        get(http, "/metrics")
            .await
            .contains("hongxin_eventstore_events_appended_total")
    );

    sigterm(&up);
    let status = tokio::time::timeout(WAIT, up.wait())
        .await
        .expect("stopped in time")
        .expect("exit status");
    assert!(status.success(), "graceful stop exits 0, got {status}");
    assert!(dir.path().join("data/organization.db").exists());
}

#[tokio::test]
async fn a_killed_service_publishes_every_committed_event_exactly_once_after_restart() {
    let nats = hongxin_testkit::nats::PrivateNats::start()
        .await
        .expect("private nats-server");
    let database = hongxin_testkit::pg::fresh_database()
        .await
        .expect("database");
    let dir = tempfile::tempdir().expect("dir");
    let grpc = free_port();
    let envs = [
        ("HONGXIN_DATABASE_URL", database.clone()),
        ("HONGXIN_NATS_URL", nats.url()),
        ("HONGXIN_PORTS__ORGANIZATION", grpc.to_string()),
        ("HONGXIN_PORTS__METRICS", free_port().to_string()),
    ];
    let mut acknowledged = 0usize;
    for round in 0..3 {
        let mut service = hongxin(dir.path(), &envs, &["serve", "organization"]);
        let c = client(grpc).await;
        // Commands in flight from 8 callers when the process is killed.
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..40 {
            let mut c = c.clone();
            calls.spawn(async move {
                c.register_industry_committee(committee(round * 100 + i))
                    .await
                    .is_ok()
            });
        }
        tokio::time::sleep(Duration::from_millis(40 * (round as u64 + 1))).await;
        service.kill().await.expect("SIGKILL");
        while let Some(ok) = calls.join_next().await {
            if ok.expect("join") {
                acknowledged += 1;
            }
        }
    }
    // Restart once more and let the relay finish.
    let mut service = hongxin(dir.path(), &envs, &["serve", "organization"]);
    wait_for_port(grpc).await.expect("port");

    let pool = sqlx::PgPool::connect(&database).await.expect("connect");
    let committed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organization.events")
        .fetch_one(&pool)
        .await
        .expect("count");
    eprintln!("acknowledged {acknowledged}, committed {committed}");
    assert!(
        committed as usize >= acknowledged,
        "every acknowledged command is committed"
    );

    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("nats"));
    let mut stream = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(mut s) = js.get_stream("HONGXIN_ORGANIZATION").await
                && s.info().await.map(|i| i.state.messages).unwrap_or(0) >= committed as u64
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("not every committed event reached JetStream");
    let info = stream.info().await.expect("info").clone();
    assert_eq!(
        info.state.messages, committed as u64,
        "an event was published twice"
    );
    let mut ids = HashSet::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let m = stream.get_raw_message(seq).await.expect("message");
        ids.insert(
            m.headers
                .get("Nats-Msg-Id")
                .expect("id")
                .as_str()
                .to_owned(),
        );
    }
    let stored: Vec<Uuid> = sqlx::query_scalar("SELECT event_id FROM organization.events")
        .fetch_all(&pool)
        .await
        .expect("ids");
    let stored: HashSet<String> = stored.into_iter().map(|u| u.to_string()).collect();
    assert_eq!(ids, stored, "JetStream holds exactly the committed events");
    service.kill().await.expect("stop");
}

/// Runs `hongxin up` with debug logs into files; people are registered,
/// read, exported, refused and erased; no ID number, phone or name appears
/// in any log line, while the log does record the work.
#[tokio::test]
async fn personal_data_never_reaches_the_logs() {
    let dir = tempfile::tempdir().expect("dir");
    let grpc = free_port();
    let out = std::fs::File::create(dir.path().join("out.log")).expect("out");
    let err = std::fs::File::create(dir.path().join("err.log")).expect("err");
    let mut up = Command::new(env!("CARGO_BIN_EXE_hongxin"))
        .arg("up")
        .current_dir(dir.path())
        .env("HONGXIN_TELEMETRY__LOG_FILTER", "debug")
        .env("HONGXIN_AUTH__LOCAL_KEY", LOCAL_KEY)
        .env("HONGXIN_PORTS__ORGANIZATION", grpc.to_string())
        .env("HONGXIN_PORTS__HTTP", free_port().to_string())
        .env("HONGXIN_PORTS__PIPELINE", free_port().to_string())
        .env("HONGXIN_PORTS__CARE", free_port().to_string())
        .env("HONGXIN_PORTS__GRID", free_port().to_string())
        .env("HONGXIN_PORTS__PROJECTION", free_port().to_string())
        .env("HONGXIN_PORTS__INTEGRATION", free_port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true)
        .spawn()
        .expect("start hongxin");
    let mut c = client(grpc).await;
    // GB 11643's own example number.
    let (id_number, phone, name) = ("11010519491231002X", "13800138000", "欧阳秘密");
    let person = Uuid::now_v7().to_string();
    let register = pb::RegisterPersonRequest {
        person_id: person.clone(),
        name: name.to_owned(),
        id_number: id_number.to_owned(),
        phone: phone.to_owned(),
        work: None,
        union_member: true,
        party_status: 0,
        affiliation_organization_id: String::new(),
        mobile_member: false,
        home_organisation: String::new(),
    };
    c.register_person(register.clone()).await.expect("register");
    c.get_person(pb::GetPersonRequest {
        person_id: person.clone(),
    })
    .await
    .expect("get");
    let export = c
        .export_personal_data(pb::ExportPersonalDataRequest {
            person_id: person.clone(),
        })
        .await
        .expect("export")
        .into_inner();
    assert_eq!(export.id_number, id_number);
    // Refused: the same ID number again, and a wrong check digit.
    let twin = pb::RegisterPersonRequest {
        person_id: Uuid::now_v7().to_string(),
        ..register.clone()
    };
    c.register_person(twin).await.expect_err("twin");
    let wrong = pb::RegisterPersonRequest {
        person_id: Uuid::now_v7().to_string(),
        id_number: "110105194912310021".to_owned(),
        ..register
    };
    c.register_person(wrong).await.expect_err("check digit");
    c.erase_person(pb::ErasePersonRequest {
        person_id: person.clone(),
        reason: "本人申请".to_owned(),
    })
    .await
    .expect("erase");

    sigterm(&up);
    tokio::time::timeout(WAIT, up.wait())
        .await
        .expect("stopped in time")
        .expect("exit status");
    let log = std::fs::read_to_string(dir.path().join("out.log")).expect("out")
        + &std::fs::read_to_string(dir.path().join("err.log")).expect("err");
    assert!(
        log.contains("personal data exported") && log.contains(&person),
        "the log records the work (by person id): {log}"
    );
    for secret in [id_number, "110105194912310021", phone, name, "1949-12-31"] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

/// `hongxin token` mints with the configured local key what the services
/// accept; a role that does not exist is refused.
#[tokio::test]
async fn hongxin_token_mints_what_the_local_key_verifies() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hongxin"))
            .args(args)
            .current_dir(dir.path())
            .env("HONGXIN_AUTH__LOCAL_KEY", LOCAL_KEY)
            .env("HONGXIN_TELEMETRY__LOG_FILTER", "warn")
            .output()
            .expect("hongxin token")
    };
    let out = run(&[
        "token",
        "--role",
        "worker",
        "--scope",
        "person=p-1",
        "--subject",
        "person:p-1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("utf-8");
    let key = base64::engine::general_purpose::STANDARD
        .decode(LOCAL_KEY)
        .expect("base64");
    let auth = hongxin_runtime::auth::Authenticator::with_secret("hongxin", "hongxin", &key)
        .expect("authenticator");
    let caller = auth.verify(token.trim()).await.expect("a valid token");
    assert_eq!(caller.subject, "person:p-1");
    assert_eq!(caller.roles, [hongxin_runtime::auth::Role::Worker]);
    assert_eq!(caller.scope.person.as_deref(), Some("p-1"));
    let bad = run(&["token", "--role", "emperor"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a role"));
}
