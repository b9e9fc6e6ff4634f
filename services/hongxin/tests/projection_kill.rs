//! The distributed projection process SIGKILLed again and again while
//! commands flow: once it runs again and catches up, its figures are those
//! of a clean rebuild from JetStream — nothing lost, nothing doubled.

mod common;

use common::{admin_token, hongxin};

use std::time::Duration;

use axum::body::Body;
use hongxin_projection::{Projection, ProjectionDb, RebuildSource};
use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_testkit::{free_port, nats::wait_for_port};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// The overview's JSON from a running process, if it answers.
async fn overview(port: u16) -> Option<serde_json::Value> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(b"GET /api/v1/overview HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    let (_, body) = out.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

fn without_freshness(mut o: serde_json::Value) -> serde_json::Value {
    if let Some(o) = o.as_object_mut() {
        o.remove("contexts");
    }
    o
}

fn committee(i: usize) -> pb::RegisterIndustryCommitteeRequest {
    let industries = [
        pb::Industry::Express,
        pb::Industry::FoodDelivery,
        pb::Industry::LiveCommerce,
        pb::Industry::Transport,
    ];
    pb::RegisterIndustryCommitteeRequest {
        committee_id: Uuid::now_v7().to_string(),
        name: format!("行业党委{i}"),
        industry: industries[i % 4] as i32,
        lead_department: "县委组织部".to_owned(),
    }
}

#[tokio::test]
async fn a_killed_projection_process_ends_with_the_figures_of_a_clean_rebuild() {
    let nats = hongxin_testkit::nats::PrivateNats::start()
        .await
        .expect("private nats-server");
    let database = hongxin_testkit::pg::fresh_database()
        .await
        .expect("database");
    let dir = tempfile::tempdir().expect("dir");
    let (grpc, http) = (free_port(), free_port());
    let envs = [
        ("HONGXIN_DATABASE_URL", database.clone()),
        ("HONGXIN_NATS_URL", nats.url()),
        ("HONGXIN_PORTS__ORGANIZATION", grpc.to_string()),
        ("HONGXIN_PORTS__PROJECTION", free_port().to_string()),
        ("HONGXIN_PORTS__HTTP", http.to_string()),
        ("HONGXIN_PORTS__METRICS", free_port().to_string()),
    ];
    let _organization = hongxin(dir.path(), &envs, &["serve", "organization"]);
    wait_for_port(grpc).await.expect("organization");
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let client =
        OrganizationServiceClient::new(hongxin_runtime::auth::authed(channel, &admin_token()));

    // 240 commands from 8 callers while the projection is killed three times.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let mut c = client.clone();
        writers.spawn(async move {
            for i in 0..30 {
                c.register_industry_committee(committee(w * 100 + i))
                    .await
                    .expect("committee");
            }
        });
    }
    for round in 0..3u64 {
        let mut projection = hongxin(dir.path(), &envs, &["serve", "projection"]);
        wait_for_port(http).await.expect("dashboard");
        tokio::time::sleep(Duration::from_millis(60 + 40 * round)).await;
        projection.kill().await.expect("SIGKILL");
    }
    while let Some(done) = writers.join_next().await {
        done.expect("writer");
    }
    let mut projection = hongxin(dir.path(), &envs, &["serve", "projection"]);
    let live = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(o) = overview(http).await
                && o["events"][0]["events"] == 240
                && o["contexts"]
                    .as_array()
                    .is_some_and(|c| c.iter().all(|c| c["pending"] == 0))
            {
                return o;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the restarted projection did not catch up");
    projection.kill().await.expect("stop");

    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("nats"));
    let clean = ProjectionDb::Postgres {
        url: database.clone(),
        schema: "projection_clean".to_owned(),
    };
    let report = hongxin_projection::rebuild_into(
        &clean,
        vec![RebuildSource::JetStream {
            context: "organization".into(),
            jetstream: js,
        }],
    )
    .await
    .expect("clean rebuild");
    assert_eq!(report.events, 240);
    let clean = Projection::open(&clean).await.expect("clean read models");
    let response = hongxin_projection::routes(clean, hongxin_runtime::Shutdown::new())
        .oneshot(
            axum::http::Request::get("/api/v1/overview")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let rebuilt: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(without_freshness(live), without_freshness(rebuilt));
}
