//! The command handler against real stores: load, decide, append, retry.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hongxin_domain::{
    CommandContext, CommandError, CommandHandler, Decider, DecodeError, DomainEvent, ManualClock,
    RetryPolicy,
};
use hongxin_eventstore::{EventStore, StoreConfig};
use uuid::Uuid;

/// A tally that refuses to pass a limit, and stamps each increment with the
/// decision time.
#[derive(Clone, Copy, Debug, Default)]
struct Tally;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Counted(DateTime<Utc>);

impl DomainEvent for Counted {
    fn event_type(&self) -> &'static str {
        "Counted"
    }
    fn encode(&self) -> Vec<u8> {
        self.0.timestamp_micros().to_be_bytes().to_vec()
    }
    fn decode(event_type: &str, _: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        let bytes: [u8; 8] = payload
            .try_into()
            .map_err(|_| DecodeError::malformed(event_type, "8 bytes"))?;
        Ok(Self(
            Utc.timestamp_micros(i64::from_be_bytes(bytes))
                .single()
                .unwrap_or_default(),
        ))
    }
}

impl Decider for Tally {
    type State = (u64, Option<DateTime<Utc>>);
    type Command = u64; // the limit
    type Event = Counted;
    const CATEGORY: &'static str = "tally";

    fn decide(
        &self,
        state: &Self::State,
        limit: &u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<Counted>, CommandError> {
        if state.0 >= *limit {
            return Err(CommandError::rejected("the tally is full"));
        }
        Ok(vec![Counted(now)])
    }
    fn evolve(&self, state: Self::State, e: &Counted) -> Self::State {
        (state.0 + 1, Some(e.0))
    }
}

async fn stores() -> Vec<(EventStore, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("t.db"),
    })
    .await
    .expect("sqlite");
    let pg = EventStore::open(&StoreConfig::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: hongxin_testkit::pg::fresh_schema(),
        max_connections: 8,
    })
    .await
    .expect("postgres");
    vec![(sqlite, Some(dir)), (pg, None)]
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 3, 1, 0, 0, 0)
        .single()
        .expect("date")
}

#[tokio::test]
async fn conflicts_are_decided_again_when_the_command_allows() {
    for (store, _dir) in stores().await {
        let handler = Arc::new(CommandHandler::new(store.clone(), Tally));
        let stream = CommandHandler::<Tally>::stream_id(Uuid::now_v7());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let h = handler.clone();
                let s = stream.clone();
                tokio::spawn(async move {
                    h.handle(&s, &100, &CommandContext::new("t"), RetryPolicy::Reload(20))
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await
                .expect("join")
                .expect("every increment lands after retries");
        }
        assert_eq!(handler.load(&stream).await.expect("load").version, 8);
    }
}

#[tokio::test]
async fn without_retries_a_concurrent_writer_gets_a_conflict() {
    for (store, _dir) in stores().await {
        let handler = Arc::new(CommandHandler::new(store, Tally));
        let stream = CommandHandler::<Tally>::stream_id(Uuid::now_v7());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let h = handler.clone();
                let s = stream.clone();
                tokio::spawn(async move {
                    h.handle(&s, &100, &CommandContext::new("t"), RetryPolicy::Never)
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(_) => ok += 1,
                Err(CommandError::Conflict(_)) => conflicts += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok + conflicts, 8);
        assert!(ok >= 1);
        assert_eq!(handler.load(&stream).await.expect("load").version, ok);
    }
}

#[tokio::test]
async fn a_stale_expected_version_and_a_broken_rule_write_nothing() {
    for (store, _dir) in stores().await {
        let handler = CommandHandler::new(store.clone(), Tally);
        let stream = CommandHandler::<Tally>::stream_id(Uuid::now_v7());
        handler
            .handle(&stream, &1, &CommandContext::new("t"), RetryPolicy::Never)
            .await
            .expect("first");
        let stale = CommandContext::new("t").with_expected_version(0);
        assert!(matches!(
            handler
                .handle(&stream, &5, &stale, RetryPolicy::Reload(3))
                .await,
            Err(CommandError::Conflict(_))
        ));
        assert!(matches!(
            handler
                .handle(&stream, &1, &CommandContext::new("t"), RetryPolicy::Never)
                .await,
            Err(CommandError::Rejected(_))
        ));
        assert_eq!(store.head_position().await.expect("head"), 1);
    }
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_outcome() {
    for (store, _dir) in stores().await {
        let handler = CommandHandler::new(store.clone(), Tally);
        let stream = CommandHandler::<Tally>::stream_id(Uuid::now_v7());
        let ctx =
            CommandContext::new("rider").with_idempotency_key(format!("k-{}", Uuid::now_v7()));
        let first = handler
            .handle(&stream, &10, &ctx, RetryPolicy::Never)
            .await
            .expect("first");
        assert_eq!(first.events.len(), 1);
        let again = handler
            .handle(&stream, &10, &ctx, RetryPolicy::Never)
            .await
            .expect("retry");
        assert!(again.events.is_empty(), "a retry decides nothing new");
        assert_eq!(
            again.append.map(|a| a.last_position),
            first.append.map(|a| a.last_position)
        );
        assert_eq!(again.version, 1);
        // The same key for another aggregate is a conflict, not a silent replay.
        let other = CommandHandler::<Tally>::stream_id(Uuid::now_v7());
        assert!(matches!(
            handler.handle(&other, &10, &ctx, RetryPolicy::Never).await,
            Err(CommandError::Conflict(_))
        ));
        assert_eq!(store.head_position().await.expect("head"), 1);
    }
}

#[tokio::test]
async fn time_comes_from_the_injected_clock() {
    for (store, _dir) in stores().await {
        let clock = Arc::new(ManualClock::new(start()));
        let handler = CommandHandler::with_clock(store, Tally, clock.clone());
        let stream = CommandHandler::<Tally>::stream_id(Uuid::now_v7());
        handler
            .handle(&stream, &10, &CommandContext::new("t"), RetryPolicy::Never)
            .await
            .expect("first");
        clock.advance(Duration::days(365));
        let outcome = handler
            .handle(&stream, &10, &CommandContext::new("t"), RetryPolicy::Never)
            .await
            .expect("second");
        assert_eq!(outcome.state, (2, Some(start() + Duration::days(365))));
        let recorded = handler.store().load_stream(&stream).await.expect("read");
        assert_eq!(
            recorded[1].metadata.occurred_at,
            start() + Duration::days(365),
            "occurred-at is the clock's time"
        );
    }
}
