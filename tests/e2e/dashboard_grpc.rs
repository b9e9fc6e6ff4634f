//! `DashboardService` over gRPC: the headline figures and tables that the
//! page shows, freshness as it changes, and a rebuild asked for by an
//! operator.

use std::sync::Arc;
use std::time::Duration;

use hongxin_domain::CommandHandler;
use hongxin_organization::committee::{CommitteeDecider, Industry};
use hongxin_projection::RebuildSource;
use hongxin_proto::dashboard::v1 as pb;
use hongxin_proto::dashboard::v1::dashboard_service_client::DashboardServiceClient;
use hongxin_runtime::Shutdown;
use tokio_stream::StreamExt as _;
use tonic::Code;

use crate::dashboard::{Embedded, register, wait_applied};

#[tokio::test]
async fn the_dashboard_over_grpc_answers_what_the_page_shows() {
    let system = Embedded::start().await;
    let handler = CommandHandler::new(system.store.clone(), CommitteeDecider);
    register(&handler, Industry::Express, 3).await;
    wait_applied(&system.projection, 3).await;

    let shutdown = Shutdown::new();
    let store = system.store.clone();
    let sources: hongxin_projection::grpc::Sources = Arc::new(move || {
        vec![RebuildSource::Store {
            context: "organization".into(),
            store: store.clone(),
        }]
    });
    let app = hongxin_runtime::grpc::GrpcApp::build(
        "127.0.0.1:0".parse().expect("addr"),
        hongxin_projection::grpc::routes(system.projection.clone(), sources, shutdown.clone()),
        hongxin_projection::grpc::SERVICE_NAMES,
        Duration::from_secs(1),
    )
    .await
    .expect("app");
    let port = app.port();
    tokio::spawn(
        app.with_auth(hongxin_runtime::auth::testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = DashboardServiceClient::new(hongxin_runtime::auth::testing::admin(channel));

    let overview = client
        .get_overview(pb::GetOverviewRequest {})
        .await
        .expect("overview")
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&overview.overview_json).expect("json");
    assert_eq!(json["committees_by_industry"][0]["committees"], 3);
    let headline = overview.headline.expect("headline");
    assert_eq!(headline.report_stations, 0, "none opened");
    assert_eq!(overview.contexts[0].context, "organization");
    assert_eq!(overview.contexts[0].position, 3);

    let tables = client
        .list_tables(pb::ListTablesRequest {})
        .await
        .expect("tables")
        .into_inner()
        .tables;
    assert!(
        tables
            .iter()
            .any(|t| t.name == "freshness" && t.title_zh == "数据时效")
    );
    let table = client
        .get_table(pb::GetTableRequest {
            name: "freshness".into(),
            lang: String::new(),
        })
        .await
        .expect("table")
        .into_inner();
    assert_eq!(table.headers[0], "业务域");
    assert_eq!(
        table.rows[0].cells[..2],
        ["组织引领".to_owned(), "3".to_owned()]
    );
    let unknown = client
        .get_table(pb::GetTableRequest {
            name: "nothing".into(),
            lang: String::new(),
        })
        .await
        .expect_err("no such table");
    assert_eq!(unknown.code(), Code::NotFound);
    let bad = client
        .get_table(pb::GetTableRequest {
            name: "freshness".into(),
            lang: "fr".into(),
        })
        .await
        .expect_err("bad language");
    assert_eq!(bad.code(), Code::InvalidArgument);

    // Watching: the freshness now, then again after a command.
    let mut watch = client
        .watch_freshness(pb::WatchFreshnessRequest {})
        .await
        .expect("watch")
        .into_inner();
    let first = watch.next().await.expect("first").expect("ok");
    assert_eq!(first.contexts[0].position, 3);
    register(&handler, Industry::Transport, 1).await;
    let changed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let update = watch.next().await.expect("update").expect("ok");
            if update.contexts[0].position == 4 {
                return update;
            }
        }
    })
    .await
    .expect("a change within seconds");
    assert_eq!(changed.contexts[0].pending, 0);

    // An operator's rebuild: the same figures afterwards.
    let before = client
        .get_table(pb::GetTableRequest {
            name: "enterprises_by_industry".into(),
            lang: "en".into(),
        })
        .await
        .expect("table")
        .into_inner();
    let rebuilt = client
        .rebuild_read_models(pb::RebuildReadModelsRequest {})
        .await
        .expect("rebuild")
        .into_inner();
    assert_eq!(rebuilt.events, 4);
    let after = client
        .get_overview(pb::GetOverviewRequest {})
        .await
        .expect("overview")
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&after.overview_json).expect("json");
    assert_eq!(json["events"][0]["events"], 4);
    let again = client
        .get_table(pb::GetTableRequest {
            name: "enterprises_by_industry".into(),
            lang: "en".into(),
        })
        .await
        .expect("table")
        .into_inner();
    assert_eq!(again, before);

    // The audit trail: who did what to which record, newest first.
    let audit = |actor: &str, stream_id: &str, from: &str| pb::QueryAuditRequest {
        actor: actor.to_owned(),
        stream_id: stream_id.to_owned(),
        from: from.to_owned(),
        to: String::new(),
        limit: 0,
    };
    let all = client
        .query_audit(audit("test", "", ""))
        .await
        .expect("audit")
        .into_inner()
        .entries;
    assert_eq!(
        all.len(),
        4,
        "four committees registered by the actor \"test\""
    );
    assert!(
        all.iter()
            .all(|e| e.event_type == "IndustryCommitteeRegistered")
    );
    assert!(all.windows(2).all(|w| w[0].recorded_at >= w[1].recorded_at));
    let one = client
        .query_audit(audit("", &all[0].stream_id, ""))
        .await
        .expect("audit")
        .into_inner()
        .entries;
    assert_eq!(one.len(), 1);
    let nobody = client
        .query_audit(audit("person:nobody", "", ""))
        .await
        .expect("audit")
        .into_inner()
        .entries;
    assert!(nobody.is_empty());
    let bad = client
        .query_audit(audit("", "", "yesterday"))
        .await
        .expect_err("not a time");
    assert_eq!(bad.code(), Code::InvalidArgument);
    shutdown.trigger();
}
