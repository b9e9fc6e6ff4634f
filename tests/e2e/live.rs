//! The dashboard's live updates and downloads: a page following
//! `/api/v1/live` hears of a change within a second of the command, and the
//! tables download as CSV and Excel with the figures the page shows.

use std::time::Duration;

use axum::body::Body;
use hongxin_domain::CommandHandler;
use hongxin_organization::committee::{CommitteeDecider, Industry};
use hongxin_runtime::Shutdown;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::dashboard::{Embedded, register, wait_applied};

async fn get(router: &axum::Router, uri: &str) -> axum::response::Response {
    router
        .clone()
        .oneshot(
            axum::http::Request::get(uri)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response")
}

/// The next server-sent event's data, within `within`.
async fn next_event(body: &mut Body, buffer: &mut String, within: Duration) -> serde_json::Value {
    tokio::time::timeout(within, async {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                    assert!(event.contains("event: changed"), "{event}");
                    return serde_json::from_str(data).expect("json data");
                }
                continue; // a keep-alive comment
            }
            let frame = body.frame().await.expect("stream open").expect("frame");
            if let Ok(bytes) = frame.into_data() {
                buffer.push_str(std::str::from_utf8(&bytes).expect("utf-8"));
            }
        }
    })
    .await
    .expect("no event in time")
}

#[tokio::test]
async fn a_live_page_hears_of_a_change_within_a_second_and_the_stream_ends_on_shutdown() {
    let system = Embedded::start().await;
    let shutdown = Shutdown::new();
    let router = hongxin_projection::routes(system.projection.clone(), shutdown.clone());
    let response = get(&router, "/api/v1/live").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "server-sent events"
    );
    let mut body = response.into_body();
    let mut buffer = String::new();
    let first = next_event(&mut body, &mut buffer, Duration::from_secs(5)).await;
    assert!(first["contexts"].is_object(), "{first}");

    let handler = CommandHandler::new(system.store.clone(), CommitteeDecider);
    register(&handler, Industry::Express, 1).await;
    let started = std::time::Instant::now();
    // Events may come one per delivery; within a second one shows the change.
    loop {
        let e = next_event(&mut body, &mut buffer, Duration::from_secs(1)).await;
        if e["contexts"]["organization"]["position"] == 1 {
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(1));

    shutdown.trigger();
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(frame) = body.frame().await {
            frame.expect("frame");
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ends when the server shuts down");
}

#[tokio::test]
async fn tables_download_as_csv_and_excel_with_the_page_figures() {
    let system = Embedded::start().await;
    let handler = CommandHandler::new(system.store.clone(), CommitteeDecider);
    register(&handler, Industry::Express, 2).await;
    wait_applied(&system.projection, 2).await;
    let router = hongxin_projection::routes(system.projection.clone(), Shutdown::new());

    let list: serde_json::Value = {
        let r = get(&router, "/api/v1/tables").await;
        assert_eq!(r.status(), 200);
        let bytes = r.into_body().collect().await.expect("body").to_bytes();
        serde_json::from_slice(&bytes).expect("json")
    };
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"headline") && names.contains(&"freshness"),
        "{names:?}"
    );

    let r = get(&router, "/api/v1/tables/freshness.csv").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains("hongxin-freshness.csv")
    );
    let bytes = r.into_body().collect().await.expect("body").to_bytes();
    let text =
        std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").expect("BOM")).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("业务域,已处理位置,待处理事件,延迟(秒)"));
    assert!(
        lines.any(|l| l.starts_with("组织引领,2,")),
        "the organization context at position 2: {text}"
    );

    let r = get(&router, "/api/v1/tables/freshness.csv?lang=en").await;
    let bytes = r.into_body().collect().await.expect("body").to_bytes();
    assert!(String::from_utf8_lossy(&bytes).contains("context,position,pending events"));

    for name in &names {
        let r = get(&router, &format!("/api/v1/tables/{name}.xlsx")).await;
        assert_eq!(r.status(), 200, "{name}");
        let bytes = r.into_body().collect().await.expect("body").to_bytes();
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("xlsx");
        let sheet = calamine::Reader::worksheet_range_at(&mut book, 0)
            .expect("a sheet")
            .expect("readable");
        assert!(sheet.height() >= 1, "{name} has its header row");
    }

    assert_eq!(
        get(&router, "/api/v1/tables/nothing.csv").await.status(),
        404
    );
    assert_eq!(
        get(&router, "/api/v1/tables/headline.pdf").await.status(),
        404
    );
    assert_eq!(
        get(&router, "/api/v1/tables/headline.csv?lang=fr")
            .await
            .status(),
        400
    );
}
