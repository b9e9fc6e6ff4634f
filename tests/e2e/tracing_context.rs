//! One trace from command to event to bus: the caller's W3C trace context
//! reaches the event's metadata, the NATS headers and the envelope.

use std::sync::Arc;
use std::time::Duration;

use hongxin_bus::OutboxRelay;
use hongxin_domain::SystemClock;
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_runtime::Shutdown;
use uuid::Uuid;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or_default()
}

#[tokio::test]
async fn the_callers_trace_reaches_the_event_and_the_nats_headers() {
    let config = hongxin_runtime::config::Telemetry {
        log_filter: "warn".to_owned(),
        log_format: "pretty".to_owned(),
        otlp_endpoint: None,
    };
    let _telemetry = hongxin_runtime::telemetry::init(&config, "e2e").expect("telemetry");
    let nats = hongxin_testkit::nats::PrivateNats::start()
        .await
        .expect("private nats-server");
    let store = EventStore::open(&StoreConfig::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: hongxin_testkit::pg::fresh_schema(),
        max_connections: 4,
    })
    .await
    .expect("store");
    let shutdown = Shutdown::new();
    let app = hongxin_organization::build(
        "127.0.0.1:0".parse().expect("addr"),
        store.clone(),
        hongxin_vault::Vault::new(
            store.clone(),
            Arc::new(hongxin_vault::MasterKey::generate().0),
        ),
        Arc::new(SystemClock),
        Duration::from_secs(1),
    )
    .await
    .expect("bind");
    let port = app.port();
    tokio::spawn(
        app.with_auth(hongxin_runtime::auth::testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("nats"));
    let relay = OutboxRelay::new(store.clone(), js.clone(), "organization");
    let mut status = relay.status();
    tokio::spawn(relay.run(shutdown.wait()));

    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = OrganizationServiceClient::new(hongxin_runtime::auth::testing::admin(channel));
    let mut request = tonic::Request::new(pb::RegisterIndustryCommitteeRequest {
        committee_id: Uuid::now_v7().to_string(),
        name: "直播电商行业党委".to_owned(),
        industry: pb::Industry::LiveCommerce as i32,
        lead_department: "县商务局".to_owned(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-00f067aa0ba902b7-01")
            .parse()
            .expect("ascii"),
    );
    client
        .register_industry_committee(request)
        .await
        .expect("register");

    let events = store.read_all(0, 10).await.expect("read");
    let stored = events[0]
        .metadata
        .traceparent
        .clone()
        .expect("the event carries a traceparent");
    assert_eq!(
        trace_id(&stored),
        TRACE_ID,
        "the event belongs to the caller's trace"
    );

    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.published >= 1),
    )
    .await
    .expect("published in time")
    .expect("status");
    let stream = js
        .get_stream(hongxin_bus::stream_name("organization"))
        .await
        .expect("stream");
    let message = stream.get_raw_message(1).await.expect("message");
    let header = message
        .headers
        .get("traceparent")
        .expect("a traceparent header")
        .as_str()
        .to_owned();
    assert_eq!(
        header, stored,
        "the NATS header carries the event's trace context"
    );
    let envelope = <hongxin_bus::EventEnvelope as prost::Message>::decode(message.payload.as_ref())
        .expect("envelope");
    assert_eq!(envelope.traceparent, stored);
    shutdown.trigger();
}
