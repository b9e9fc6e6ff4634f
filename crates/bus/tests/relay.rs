//! The outbox relay and the feeds against real NATS JetStream servers.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use hongxin_bus::{EventFeed, JetStreamSettings, OutboxRelay, RelayStatus, stream_name};
use hongxin_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId,
};
use hongxin_testkit::nats::PrivateNats;
use tokio::sync::watch;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// A context name of its own, so tests on the shared server never meet.
fn context() -> String {
    format!("t{}", &Uuid::new_v4().simple().to_string()[..12])
}

async fn pg_store() -> EventStore {
    EventStore::open(&StoreConfig::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: hongxin_testkit::pg::fresh_schema(),
        max_connections: 4,
    })
    .await
    .expect("open store")
}

async fn js(url: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url)
        .await
        .expect("connect to NATS");
    jetstream::new(client)
}

async fn append(store: &EventStore, n: usize) {
    for _ in 0..n {
        let e = NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "CaseReported".to_owned(),
            schema_version: 1,
            payload: "垃圾堆放".as_bytes().to_vec(),
            metadata: EventMetadata::new("test", Utc::now()),
        };
        store
            .append(AppendRequest::new(
                StreamId::new("case", Uuid::now_v7()),
                ExpectedVersion::NoStream,
                vec![e],
            ))
            .await
            .expect("append");
    }
}

fn spawn_relay(
    store: &EventStore,
    js: &jetstream::Context,
    ctx: &str,
) -> (watch::Receiver<RelayStatus>, tokio::task::JoinHandle<()>) {
    let relay = OutboxRelay::new(store.clone(), js.clone(), ctx);
    let status = relay.status();
    (status, tokio::spawn(relay.run(std::future::pending())))
}

async fn wait_published(status: &mut watch::Receiver<RelayStatus>, n: u64) {
    tokio::time::timeout(WAIT, status.wait_for(|s| s.published >= n))
        .await
        .expect("the relay did not catch up in time")
        .expect("relay status");
}

/// Every message in the context's stream, as (message id, global position).
async fn stream_contents(js: &jetstream::Context, ctx: &str) -> Vec<(String, u64)> {
    let mut stream = js.get_stream(stream_name(ctx)).await.expect("stream");
    let last = stream.info().await.expect("info").state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.expect("message");
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .expect("msg id")
            .as_str()
            .to_owned();
        let pos = m
            .headers
            .get(hongxin_bus::HEADER_GLOBAL_POSITION)
            .expect("position")
            .as_str()
            .parse()
            .expect("number");
        out.push((id, pos));
    }
    out
}

fn assert_exactly_once(contents: &[(String, u64)], n: u64) {
    let ids: HashSet<&str> = contents.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), contents.len(), "an event was published twice");
    let positions: Vec<u64> = contents.iter().map(|(_, p)| *p).collect();
    assert_eq!(
        positions,
        (1..=n).collect::<Vec<_>>(),
        "events missing or out of order"
    );
}

#[tokio::test]
async fn publishes_every_committed_event_once_and_in_order() {
    let ctx = context();
    let store = pg_store().await;
    let js = js(&hongxin_testkit::nats::url()).await;
    append(&store, 120).await;
    let (mut status, relay) = spawn_relay(&store, &js, &ctx);
    wait_published(&mut status, 120).await;
    append(&store, 30).await;
    wait_published(&mut status, 150).await;
    relay.abort();
    let contents = stream_contents(&js, &ctx).await;
    assert_exactly_once(&contents, 150);

    // Headers and envelope carry what consumers need.
    let stream = js.get_stream(stream_name(&ctx)).await.expect("stream");
    let m = stream.get_raw_message(1).await.expect("first");
    assert_eq!(
        m.subject.as_str(),
        format!("hongxin.{ctx}.case.CaseReported")
    );
    assert_eq!(
        m.headers
            .get(hongxin_bus::HEADER_EVENT_TYPE)
            .map(|v| v.as_str()),
        Some("CaseReported")
    );
    assert!(
        m.headers
            .get(hongxin_bus::HEADER_STREAM)
            .is_some_and(|v| v.as_str().starts_with("case-"))
    );
    let env = <hongxin_bus::EventEnvelope as prost::Message>::decode(m.payload.as_ref())
        .expect("envelope");
    assert_eq!(env.global_position, 1);
    assert_eq!(env.payload, "垃圾堆放".as_bytes());
}

#[tokio::test]
async fn a_relay_killed_between_publish_and_checkpoint_publishes_nothing_twice() {
    let ctx = context();
    let store = pg_store().await;
    let js = js(&hongxin_testkit::nats::url()).await;
    append(&store, 200).await;

    // Killed mid-flight, several times, wherever it happens to be.
    for round in 0..5 {
        let (_status, relay) = spawn_relay(&store, &js, &ctx);
        tokio::time::sleep(Duration::from_millis(5 + round * 7)).await;
        relay.abort();
        let _ = relay.await;
    }
    // The worst case: everything acknowledged, the checkpoint lost. A
    // fresh store handle on the same schema stands for the restarted process.
    let (mut status, relay) = spawn_relay(&store, &js, &ctx);
    wait_published(&mut status, 200).await;
    relay.abort();
    let _ = relay.await;
    store
        .save_checkpoint("relay.jetstream", 0)
        .await
        .expect("checkpoint can only move forward");
    assert_eq!(
        store.checkpoint("relay.jetstream").await.expect("read"),
        200
    );

    append(&store, 50).await;
    let (mut status, relay) = spawn_relay(&store, &js, &ctx);
    wait_published(&mut status, 250).await;
    relay.abort();
    assert_exactly_once(&stream_contents(&js, &ctx).await, 250);
}

#[tokio::test]
async fn the_relay_reconciles_with_the_stream_when_its_checkpoint_is_behind() {
    // Another handle whose checkpoint row is behind what the stream holds
    // (as after a crash right after the PubAck): the relay moves it forward
    // from the stream instead of relying on the duplicate window alone.
    let ctx = context();
    let schema = hongxin_testkit::pg::fresh_schema();
    let config = StoreConfig::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: schema.clone(),
        max_connections: 4,
    };
    let store = EventStore::open(&config).await.expect("open");
    let js = js(&hongxin_testkit::nats::url()).await;
    // A duplicate window so short that the server's de-duplication cannot
    // be what saves us: only the relay's reconcile can.
    let settings = JetStreamSettings {
        duplicate_window: Duration::from_millis(100),
        replicas: 1,
    };
    let start = |store: &EventStore| {
        let relay =
            OutboxRelay::new(store.clone(), js.clone(), &ctx).with_settings(settings.clone());
        let status = relay.status();
        (status, tokio::spawn(relay.run(std::future::pending())))
    };
    append(&store, 40).await;
    let (mut status, relay) = start(&store);
    wait_published(&mut status, 40).await;
    relay.abort();
    // Wind the checkpoint back behind the relay's back.
    let admin = sqlx::PgPool::connect(&hongxin_testkit::pg::url())
        .await
        .expect("connect");
    sqlx::query(&format!(
        "UPDATE {schema}.checkpoints SET position = 10 WHERE name = 'relay.jetstream'"
    ))
    .execute(&admin)
    .await
    .expect("rewind");
    // Let the server forget the message ids (a real, server-side window).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut status, relay) = start(&store);
    wait_published(&mut status, 40).await;
    relay.abort();
    assert_exactly_once(&stream_contents(&js, &ctx).await, 40);
}

#[tokio::test]
async fn appends_go_on_while_nats_is_down_and_arrive_once_it_is_back() {
    let ctx = context();
    let mut nats = PrivateNats::start().await.expect("private nats-server");
    let store = pg_store().await;
    let js = js(&nats.url()).await;
    append(&store, 20).await;
    let (mut status, _relay) = spawn_relay(&store, &js, &ctx);
    wait_published(&mut status, 20).await;

    nats.kill().await.expect("stop NATS");
    append(&store, 60).await; // the store does not need NATS
    assert_eq!(store.head_position().await.expect("head"), 80);
    nats.resume().await.expect("start NATS again");

    wait_published(&mut status, 80).await;
    assert_exactly_once(&stream_contents(&js, &ctx).await, 80);
}

#[tokio::test]
async fn a_durable_jetstream_consumer_resumes_after_its_last_ack() {
    let ctx = context();
    let store = pg_store().await;
    let js = js(&hongxin_testkit::nats::url()).await;
    append(&store, 10).await;
    let (mut status, _relay) = spawn_relay(&store, &js, &ctx);
    wait_published(&mut status, 10).await;
    let settings = JetStreamSettings::default();

    let mut feed = EventFeed::jetstream(&js, &ctx, "dashboard", &settings)
        .await
        .expect("feed");
    for expected in 1..=6 {
        let d = tokio::time::timeout(WAIT, feed.next())
            .await
            .expect("delivery")
            .expect("ok");
        assert_eq!(d.envelope.global_position, expected);
        if expected <= 5 {
            d.ack().await.expect("ack");
        } else {
            d.nak(Duration::from_millis(10)).await.expect("nak");
        }
    }
    drop(feed);
    let mut feed = EventFeed::jetstream(&js, &ctx, "dashboard", &settings)
        .await
        .expect("feed");
    let d = tokio::time::timeout(WAIT, feed.next())
        .await
        .expect("delivery")
        .expect("ok");
    assert_eq!(
        d.envelope.global_position, 6,
        "the unacked event comes again first"
    );
    assert_eq!(d.envelope.context, ctx);
}

#[tokio::test]
async fn the_in_process_feed_keeps_the_same_contract() {
    let dir = tempfile::tempdir().expect("dir");
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("org.db"),
    })
    .await
    .expect("open");
    append(&store, 5).await;

    let mut feed = EventFeed::in_process(store.clone(), "organization", "dashboard")
        .await
        .expect("feed");
    for expected in 1..=3 {
        let d = tokio::time::timeout(WAIT, feed.next())
            .await
            .expect("delivery")
            .expect("ok");
        assert_eq!(d.envelope.global_position, expected);
        assert_eq!(d.envelope.context, "organization");
        d.ack().await.expect("ack");
    }
    let d = feed.next().await.expect("fourth");
    assert_eq!(d.envelope.global_position, 4);
    d.nak(Duration::from_millis(1)).await.expect("nak");
    let d = feed.next().await.expect("again");
    assert_eq!(
        d.envelope.global_position, 4,
        "a nak delivers the event again"
    );
    drop(d); // neither acked nor nakked: comes again after a restart

    // New events are delivered live, and a new feed resumes after the last ack.
    let mut feed = EventFeed::in_process(store.clone(), "organization", "dashboard")
        .await
        .expect("feed");
    let d = feed.next().await.expect("resumed");
    assert_eq!(d.envelope.global_position, 4);
    d.ack().await.expect("ack");
    let d = feed.next().await.expect("fifth");
    assert_eq!(d.envelope.global_position, 5);
    d.ack().await.expect("ack");
    let waiting =
        tokio::spawn(async move { feed.next().await.map(|d| d.envelope.global_position) });
    append(&store, 1).await;
    let got = tokio::time::timeout(WAIT, waiting)
        .await
        .expect("live")
        .expect("join")
        .expect("ok");
    assert_eq!(got, 6);
}
