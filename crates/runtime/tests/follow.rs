//! A follower over an in-process feed: every event handled in order, a
//! nak'd one again, and the checkpoint where the follower is once it has
//! caught up, so a restart resumes after it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use hongxin_bus::EventFeed;
use hongxin_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId,
};
use hongxin_runtime::follow::consume;
use hongxin_runtime::shutdown::Shutdown;
use uuid::Uuid;

async fn sqlite_store(dir: &tempfile::TempDir) -> EventStore {
    EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("grid.db"),
    })
    .await
    .expect("open")
}

/// Waits up to `within` for the checkpoint `name` to reach `position`; the
/// checkpoint then (the store tells no one when it moves, so it is read
/// every 20 ms).
async fn checkpoint_reaching(
    store: &EventStore,
    name: &str,
    position: u64,
    within: Duration,
) -> u64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let at = store.checkpoint(name).await.expect("checkpoint");
        if at >= position || tokio::time::Instant::now() >= deadline {
            return at;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn append(store: &EventStore, n: usize) {
    for _ in 0..n {
        let event = NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "Other".to_owned(),
            schema_version: 1,
            payload: Vec::new(),
            metadata: EventMetadata::new("test", Utc::now()),
        };
        store
            .append(AppendRequest::new(
                StreamId::new("case", Uuid::now_v7()),
                ExpectedVersion::NoStream,
                vec![event],
            ))
            .await
            .expect("append");
    }
}

/// Follows `store` as "f" until its checkpoint reaches the head; the
/// positions handled, in order. `nak_once` is handed back once.
async fn follow_to_head(store: &EventStore, nak_once: Option<u64>) -> Vec<u64> {
    let feed = EventFeed::in_process(store.clone(), "grid", "f")
        .await
        .expect("feed");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let naked = Arc::new(Mutex::new(false));
    let shutdown = Shutdown::new();
    let task = {
        let (seen, naked, stop) = (seen.clone(), naked.clone(), shutdown.wait());
        tokio::spawn(consume("test", feed, stop, move |delivery| {
            let (seen, naked) = (seen.clone(), naked.clone());
            async move {
                let position = delivery.envelope.global_position;
                seen.lock().expect("seen").push(position);
                if Some(position) == nak_once
                    && !std::mem::replace(&mut *naked.lock().expect("naked"), true)
                {
                    delivery.nak(Duration::from_millis(1)).await.expect("nak");
                    return None;
                }
                Some(delivery)
            }
        }))
    };
    let head = store.head_position().await.expect("head");
    let at = checkpoint_reaching(store, "consumer.f", head, Duration::from_secs(10)).await;
    assert_eq!(at, head, "the follower's checkpoint did not reach the head");
    shutdown.trigger();
    task.await.expect("follower");
    Arc::try_unwrap(seen)
        .expect("one owner")
        .into_inner()
        .expect("seen")
}

#[tokio::test]
async fn a_follower_handles_each_event_in_order_and_resumes_after_its_checkpoint() {
    let dir = tempfile::tempdir().expect("dir");
    let store = sqlite_store(&dir).await;
    append(&store, 600).await;

    let seen = follow_to_head(&store, Some(300)).await;
    let mut expected: Vec<u64> = (1..=600).collect();
    expected.insert(300, 300);
    assert_eq!(seen, expected, "in order, and the nak'd event once more");

    append(&store, 3).await;
    let seen = follow_to_head(&store, None).await;
    assert_eq!(
        seen,
        [601, 602, 603],
        "a restart resumes after the checkpoint"
    );
}

/// While one event's handling lasts (a retry in place), the acks of the
/// events before it are confirmed within the bound, not held until it ends.
#[tokio::test]
async fn the_acks_before_a_long_handling_are_confirmed_while_it_lasts() {
    let dir = tempfile::tempdir().expect("dir");
    let store = sqlite_store(&dir).await;
    append(&store, 10).await;
    let feed = EventFeed::in_process(store.clone(), "grid", "slow")
        .await
        .expect("feed");
    let shutdown = Shutdown::new();
    let saw = Arc::new(Mutex::new(None));
    let task = {
        let (store, saw, stop) = (store.clone(), saw.clone(), shutdown.wait());
        tokio::spawn(consume("test", feed, stop, move |delivery| {
            let (store, saw) = (store.clone(), saw.clone());
            async move {
                if delivery.envelope.global_position == 5 {
                    let at =
                        checkpoint_reaching(&store, "consumer.slow", 4, Duration::from_secs(5))
                            .await;
                    *saw.lock().expect("saw") = Some(at);
                }
                Some(delivery)
            }
        }))
    };
    let at = checkpoint_reaching(&store, "consumer.slow", 10, Duration::from_secs(10)).await;
    assert_eq!(at, 10, "the follower did not catch up");
    shutdown.trigger();
    task.await.expect("follower");
    assert_eq!(
        *saw.lock().expect("saw"),
        Some(4),
        "events 1–4 were confirmed while event 5 was handled"
    );
}
