//! The event-store suite, run against PostgreSQL and SQLite alike.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt as _;
use hongxin_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreConfig, StoreError,
    StreamId,
};
use uuid::Uuid;

/// A store on a fresh backend, plus what keeps it alive (a temp dir).
struct Fixture {
    config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    async fn postgres() -> Self {
        Self {
            config: StoreConfig::Postgres {
                url: hongxin_testkit::pg::url(),
                schema: hongxin_testkit::pg::fresh_schema(),
                max_connections: 8,
            },
            _dir: None,
        }
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            config: StoreConfig::Sqlite {
                path: dir.path().join("events.db"),
            },
            _dir: Some(dir),
        }
    }

    /// Another handle with its own writer, as a second process would have.
    async fn open(&self) -> EventStore {
        EventStore::open(&self.config)
            .await
            .expect("open the store")
    }
}

fn event(event_type: &str, payload: &[u8]) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.to_vec(),
        metadata: EventMetadata::new("test", Utc::now()),
    }
}

fn stream() -> StreamId {
    StreamId::new("case", Uuid::now_v7())
}

/// One event on a new stream.
fn stream_req() -> AppendRequest {
    AppendRequest::new(
        stream(),
        ExpectedVersion::NoStream,
        vec![event("Other", b"")],
    )
}

macro_rules! suite {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            async fn fixture() -> Fixture {
                Fixture::$backend().await
            }

            #[tokio::test]
            async fn appends_and_reads_back_with_metadata() {
                let f = fixture().await;
                let store = f.open().await;
                let s = stream();
                let mut first = event("CaseReported", "垃圾堆放，西关街".as_bytes());
                first.metadata.causation_id = Some(Uuid::now_v7());
                first.metadata.traceparent =
                    Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
                first.metadata.tracestate = Some("hx=1".to_owned());
                first.schema_version = 2;
                let second = event("CaseAccepted", b"");
                let r = store
                    .append(AppendRequest::new(
                        s.clone(),
                        ExpectedVersion::NoStream,
                        vec![first.clone(), second.clone()],
                    ))
                    .await
                    .expect("append");
                assert_eq!((r.first_version, r.last_version), (1, 2));
                assert_eq!((r.first_position, r.last_position), (1, 2));
                assert!(!r.deduplicated);

                let read = store.read_stream(&s, 1, 10).await.expect("read");
                assert_eq!(read.len(), 2);
                let e = &read[0];
                assert_eq!(e.event_id, first.event_id);
                assert_eq!(e.event_type, "CaseReported");
                assert_eq!(e.schema_version, 2);
                assert_eq!(e.payload, first.payload);
                assert_eq!(e.metadata.actor, "test");
                assert_eq!(e.metadata.correlation_id, first.metadata.correlation_id);
                assert_eq!(e.metadata.causation_id, first.metadata.causation_id);
                assert_eq!(e.metadata.traceparent, first.metadata.traceparent);
                assert_eq!(e.metadata.tracestate, first.metadata.tracestate);
                assert_eq!(
                    e.metadata.occurred_at.timestamp_micros(),
                    first.metadata.occurred_at.timestamp_micros()
                );
                assert!(e.recorded_at >= e.metadata.occurred_at - chrono::Duration::seconds(1));
                assert_eq!(read[1].stream_version, 2);
                assert_eq!(store.read_stream(&s, 2, 10).await.expect("read").len(), 1);
                assert_eq!(store.stream_version(&s).await.expect("version"), 2);
            }

            #[tokio::test]
            async fn large_and_chinese_payloads_round_trip() {
                let f = fixture().await;
                let store = f.open().await;
                let s = stream();
                let text = "齐河县新就业群体“红新向党”，快递小哥随手拍🚲".repeat(10_000);
                let big = event("NoteAdded", text.as_bytes());
                assert!(big.payload.len() > 500_000);
                store
                    .append(AppendRequest::new(
                        s.clone(),
                        ExpectedVersion::Any,
                        vec![big.clone()],
                    ))
                    .await
                    .expect("append");
                let read = store.load_stream(&s).await.expect("read");
                assert_eq!(
                    String::from_utf8(read[0].payload.clone()).expect("utf-8"),
                    text
                );
            }

            #[tokio::test]
            async fn expected_version_is_enforced_and_a_conflict_writes_nothing() {
                let f = fixture().await;
                let store = f.open().await;
                let s = stream();
                let append = |expected, n| {
                    let store = store.clone();
                    let s = s.clone();
                    async move {
                        store
                            .append(AppendRequest::new(
                                s,
                                expected,
                                (0..n).map(|_| event("Happened", b"x")).collect(),
                            ))
                            .await
                    }
                };
                append(ExpectedVersion::NoStream, 2)
                    .await
                    .expect("new stream");
                let err = append(ExpectedVersion::NoStream, 1)
                    .await
                    .expect_err("exists");
                assert!(
                    matches!(err, StoreError::Conflict { actual: 2, .. }),
                    "{err:?}"
                );
                let err = append(ExpectedVersion::Exact(1), 1)
                    .await
                    .expect_err("stale");
                assert!(
                    matches!(err, StoreError::Conflict { actual: 2, .. }),
                    "{err:?}"
                );
                append(ExpectedVersion::Exact(2), 1).await.expect("current");
                append(ExpectedVersion::Any, 1).await.expect("any");
                assert_eq!(store.stream_version(&s).await.expect("version"), 4);
                assert_eq!(store.head_position().await.expect("head"), 4);
            }

            #[tokio::test]
            async fn of_two_writers_with_the_same_expected_version_exactly_one_wins() {
                let f = fixture().await;
                let (a, b) = (f.open().await, f.open().await);
                for round in 0..20u64 {
                    let s = stream();
                    let req = |store: EventStore| {
                        let s = s.clone();
                        async move {
                            store
                                .append(AppendRequest::new(
                                    s,
                                    ExpectedVersion::NoStream,
                                    vec![event("Claimed", b"")],
                                ))
                                .await
                        }
                    };
                    let (ra, rb) = tokio::join!(req(a.clone()), req(b.clone()));
                    let wins = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
                    assert_eq!(wins, 1, "round {round}: {ra:?} {rb:?}");
                    let loser = if ra.is_ok() { rb } else { ra };
                    assert!(
                        matches!(loser, Err(StoreError::Conflict { .. })),
                        "{loser:?}"
                    );
                    assert_eq!(a.stream_version(&s).await.expect("version"), 1);
                }
            }

            #[tokio::test]
            async fn re_appending_the_same_events_is_idempotent() {
                let f = fixture().await;
                let store = f.open().await;
                let s = stream();
                let events = vec![event("A", b"1"), event("B", b"2")];
                let req = AppendRequest::new(s.clone(), ExpectedVersion::NoStream, events.clone());
                let first = store.append(req.clone()).await.expect("first");
                // The retry carries the same expected version, now stale:
                // it is recognised as a replay, not a conflict.
                let again = store.append(req).await.expect("replay");
                assert!(again.deduplicated);
                assert_eq!(
                    (
                        again.first_position,
                        again.last_position,
                        again.last_version
                    ),
                    (
                        first.first_position,
                        first.last_position,
                        first.last_version
                    )
                );
                assert_eq!(store.head_position().await.expect("head"), 2);

                // A different append that re-uses one of the ids is refused.
                let reuse =
                    AppendRequest::new(stream(), ExpectedVersion::Any, vec![events[0].clone()]);
                let err = store.append(reuse).await.expect_err("reused id");
                assert!(matches!(err, StoreError::EventIdReused { .. }), "{err:?}");
                assert_eq!(store.head_position().await.expect("head"), 2);
            }

            #[tokio::test]
            async fn an_idempotency_key_returns_the_first_result() {
                let f = fixture().await;
                let store = f.open().await;
                let s = stream();
                let key = format!("report-{}", Uuid::now_v7());
                let first = store
                    .append(
                        AppendRequest::new(
                            s.clone(),
                            ExpectedVersion::Any,
                            vec![event("Reported", b"")],
                        )
                        .with_idempotency_key(&key),
                    )
                    .await
                    .expect("first");
                // The retry decided again and made new event ids: still one case.
                let retry = store
                    .append(
                        AppendRequest::new(
                            s.clone(),
                            ExpectedVersion::Any,
                            vec![event("Reported", b"")],
                        )
                        .with_idempotency_key(&key),
                    )
                    .await
                    .expect("retry");
                assert!(retry.deduplicated);
                assert_eq!(retry.last_position, first.last_position);
                assert_eq!(store.stream_version(&s).await.expect("version"), 1);
                assert_eq!(
                    store
                        .find_idempotency_key(&key)
                        .await
                        .expect("lookup")
                        .map(|r| r.last_position),
                    Some(first.last_position)
                );
            }

            #[tokio::test]
            async fn concurrent_retries_in_one_batch_write_once() {
                let f = fixture().await;
                let store = f.open().await;
                let s = stream();
                let key = "same-key".to_owned();
                let tasks: Vec<_> = (0..16)
                    .map(|_| {
                        let store = store.clone();
                        let req = AppendRequest::new(
                            s.clone(),
                            ExpectedVersion::Any,
                            vec![event("Reported", b"")],
                        )
                        .with_idempotency_key(&key);
                        tokio::spawn(async move { store.append(req).await })
                    })
                    .collect();
                let mut written = 0;
                for t in tasks {
                    let r = t.await.expect("join").expect("append");
                    if !r.deduplicated {
                        written += 1;
                    }
                }
                assert_eq!(written, 1);
                assert_eq!(store.stream_version(&s).await.expect("version"), 1);
            }

            #[tokio::test]
            async fn bad_input_is_refused_with_field_errors_and_nothing_written() {
                let f = fixture().await;
                let store = f.open().await;
                assert!(StreamId::parse("").is_err());
                assert!(StreamId::parse("no_dash").is_err());
                assert!(StreamId::parse("Upper-1").is_err());
                assert!(StreamId::parse("case-有 空格").is_err());
                assert!(StreamId::parse("case-工单1").is_ok());
                let fields = |e: StoreError| match e {
                    StoreError::InvalidInput(v) => {
                        v.into_iter().map(|v| v.field).collect::<Vec<_>>()
                    }
                    other => panic!("expected invalid input, got {other:?}"),
                };

                let empty_stream = AppendRequest::new(
                    StreamId::new("", ""),
                    ExpectedVersion::Any,
                    vec![event("A", b"")],
                );
                assert_eq!(
                    fields(store.append(empty_stream).await.expect_err("empty")),
                    ["stream_id"]
                );

                let oversize = AppendRequest::new(
                    stream(),
                    ExpectedVersion::Any,
                    vec![event("A", &vec![0u8; 1024 * 1024 + 1])],
                );
                assert_eq!(
                    fields(store.append(oversize).await.expect_err("big")),
                    ["events[0].payload"]
                );

                let no_events = AppendRequest::new(stream(), ExpectedVersion::Any, vec![]);
                assert_eq!(
                    fields(store.append(no_events).await.expect_err("none")),
                    ["events"]
                );

                let mut bad = event("has space", b"");
                bad.metadata.actor.clear();
                bad.metadata.traceparent = Some("not-a-trace".to_owned());
                let twice = vec![bad.clone(), bad];
                let got = fields(
                    store
                        .append(AppendRequest::new(stream(), ExpectedVersion::Any, twice))
                        .await
                        .expect_err("bad"),
                );
                for f in [
                    "events[1].event_id",
                    "events[0].event_type",
                    "events[0].metadata.actor",
                    "events[0].metadata.traceparent",
                ] {
                    assert!(got.iter().any(|g| g == f), "{f} missing from {got:?}");
                }

                let key = AppendRequest::new(stream(), ExpectedVersion::Any, vec![event("A", b"")])
                    .with_idempotency_key("");
                assert_eq!(
                    fields(store.append(key).await.expect_err("key")),
                    ["idempotency_key"]
                );

                assert!(ExpectedVersion::from_wire(-7).is_err());
                assert_eq!(
                    ExpectedVersion::from_wire(-2),
                    Ok(ExpectedVersion::NoStream)
                );
                assert_eq!(ExpectedVersion::from_wire(3), Ok(ExpectedVersion::Exact(3)));

                assert_eq!(store.head_position().await.expect("head"), 0);
            }

            #[tokio::test]
            async fn read_all_follows_concurrent_writers_without_skipping() {
                let f = fixture().await;
                // Four handles with their own writers, as four processes
                // would be, each with eight concurrent callers.
                let writers: Vec<EventStore> =
                    futures::future::join_all((0..4).map(|_| f.open())).await;
                let reader = f.open().await;
                const PER_TASK: usize = 25;
                let total = 4 * 8 * PER_TASK;

                let follower = {
                    let reader = reader.clone();
                    tokio::spawn(async move {
                        let mut seen = Vec::with_capacity(total);
                        let mut stream = reader.follow(0);
                        while seen.len() < total {
                            let e = tokio::time::timeout(Duration::from_secs(30), stream.next())
                                .await
                                .expect("the follower stalled")
                                .expect("the stream ended")
                                .expect("read");
                            seen.push((e.global_position, e.event_id));
                        }
                        seen
                    })
                };
                let mut tasks = Vec::new();
                let mut written = HashSet::new();
                for w in &writers {
                    for _ in 0..8 {
                        let w = w.clone();
                        let events: Vec<NewEvent> =
                            (0..PER_TASK).map(|_| event("Tick", b"t")).collect();
                        written.extend(events.iter().map(|e| e.event_id));
                        tasks.push(tokio::spawn(async move {
                            for e in events {
                                w.append(AppendRequest::new(
                                    stream(),
                                    ExpectedVersion::NoStream,
                                    vec![e],
                                ))
                                .await
                                .expect("append");
                            }
                        }));
                    }
                }
                for t in tasks {
                    t.await.expect("writer");
                }
                let seen = follower.await.expect("follower");
                let positions: Vec<u64> = seen.iter().map(|(p, _)| *p).collect();
                let expected: Vec<u64> = (1..=total as u64).collect();
                assert_eq!(
                    positions, expected,
                    "the follower skipped or repeated a position"
                );
                let ids: HashSet<Uuid> = seen.iter().map(|(_, id)| *id).collect();
                assert_eq!(
                    ids, written,
                    "the follower saw other events than were written"
                );

                // Catch-up in small batches sees the same.
                let all: Vec<u64> = reader
                    .stream_all(0, 7)
                    .map(|e| e.expect("read").global_position)
                    .collect()
                    .await;
                assert_eq!(all, expected);
            }

            #[tokio::test]
            async fn a_writer_whose_picture_is_stale_still_appends_correctly() {
                // Each handle's writer remembers the head and stream versions
                // it wrote; another handle (process) writing meanwhile makes
                // that picture stale, and the constraints must catch it.
                let f = fixture().await;
                let (a, b) = (f.open().await, f.open().await);
                let s = stream();
                let one =
                    |expected| AppendRequest::new(s.clone(), expected, vec![event("Step", b"")]);
                a.append(one(ExpectedVersion::NoStream))
                    .await
                    .expect("a creates");
                b.append(one(ExpectedVersion::Exact(1)))
                    .await
                    .expect("b appends");
                b.append(stream_req()).await.expect("b moves the head");
                // a still believes the stream is at 1 and the head at 1.
                let r = a
                    .append(one(ExpectedVersion::Any))
                    .await
                    .expect("a appends again");
                assert_eq!((r.first_version, r.first_position), (3, 4));
                let err = a
                    .append(one(ExpectedVersion::Exact(2)))
                    .await
                    .expect_err("stale");
                assert!(
                    matches!(err, StoreError::Conflict { actual: 3, .. }),
                    "{err:?}"
                );
                // Replaying b's committed events through a is recognised.
                let replay = b.read_stream(&s, 2, 1).await.expect("read");
                let again = NewEvent {
                    event_id: replay[0].event_id,
                    event_type: replay[0].event_type.clone(),
                    schema_version: 1,
                    payload: replay[0].payload.clone(),
                    metadata: replay[0].metadata.clone(),
                };
                let r = a
                    .append(AppendRequest::new(
                        s.clone(),
                        ExpectedVersion::Exact(1),
                        vec![again],
                    ))
                    .await
                    .expect("replay");
                assert!(r.deduplicated);
                assert_eq!(a.head_position().await.expect("head"), 4);
                let positions: Vec<u64> = a
                    .read_all(0, 10)
                    .await
                    .expect("read")
                    .iter()
                    .map(|e| e.global_position)
                    .collect();
                assert_eq!(positions, [1, 2, 3, 4]);
            }

            #[tokio::test]
            async fn checkpoints_are_saved_by_name() {
                let f = fixture().await;
                let store = f.open().await;
                assert_eq!(store.checkpoint("relay").await.expect("read"), 0);
                store.save_checkpoint("relay", 42).await.expect("save");
                store.save_checkpoint("relay", 43).await.expect("save");
                store.save_checkpoint("other", 1).await.expect("save");
                assert_eq!(store.checkpoint("relay").await.expect("read"), 43);
                // Reopening keeps it, and migrations run again harmlessly.
                let again = f.open().await;
                assert_eq!(again.checkpoint("relay").await.expect("read"), 43);
            }

            #[tokio::test]
            async fn checkpoints_saved_among_appends_keep_the_furthest_position() {
                let f = fixture().await;
                let store = f.open().await;
                store.save_checkpoint("feed", 10).await.expect("save");
                store.save_checkpoint("feed", 7).await.expect("save back");
                assert_eq!(store.checkpoint("feed").await.expect("read"), 10);

                // Saves and appends from many tasks at once share the
                // writer's transactions; each is answered, none is lost.
                let mut tasks = tokio::task::JoinSet::new();
                for i in 0..200u64 {
                    let store = store.clone();
                    tasks.spawn(async move {
                        if i % 2 == 0 {
                            store.append(stream_req()).await.map(|_| ())
                        } else {
                            let name = if i % 3 == 0 { "feed" } else { "other" };
                            store.save_checkpoint(name, 1_000 - i).await
                        }
                    });
                }
                while let Some(done) = tasks.join_next().await {
                    done.expect("task").expect("append or save");
                }
                assert_eq!(store.checkpoint("feed").await.expect("read"), 1_000 - 3);
                assert_eq!(store.checkpoint("other").await.expect("read"), 1_000 - 1);
                assert_eq!(store.head_position().await.expect("head"), 100);

                store.close().await;
                assert!(matches!(
                    store.save_checkpoint("feed", 2_000).await,
                    Err(StoreError::Closed | StoreError::Unavailable(_))
                ));
                assert_eq!(
                    f.open().await.checkpoint("feed").await.expect("read"),
                    1_000 - 3
                );
            }
        }
    };
}

suite!(postgres);
suite!(sqlite);
