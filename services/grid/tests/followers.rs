//! The case follower: a verification or a merge whose reaction was lost
//! (the process died after the case's commit) is reacted to when the
//! follower comes back, and reacting twice changes nothing.

use std::sync::Arc;
use std::time::Duration;

use hongxin_bus::EventFeed;
use hongxin_domain::{CommandContext, CommandHandler, ManualClock, RetryPolicy};
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_grid::case::{Action, CaseDecider, Command, Report};
use hongxin_grid::followers::{FEED_NAME, follow_cases};
use hongxin_grid::geo::Point;
use hongxin_grid::grid::Category;
use hongxin_grid::recognition::PointsDecider;
use hongxin_runtime::Shutdown;
use uuid::Uuid;

struct Fixture {
    store: EventStore,
    cases: Arc<CommandHandler<CaseDecider>>,
    points: Arc<CommandHandler<PointsDecider>>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("dir");
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("grid.db"),
    })
    .await
    .expect("store");
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-20T07:00:00Z")
            .expect("time")
            .to_utc(),
    ));
    Fixture {
        cases: Arc::new(CommandHandler::with_clock(
            store.clone(),
            CaseDecider::default(),
            clock.clone(),
        )),
        points: Arc::new(CommandHandler::with_clock(
            store.clone(),
            PointsDecider::default(),
            clock,
        )),
        store,
        _dir: dir,
    }
}

async fn run(f: &Fixture, case_id: Uuid, command: Command) {
    f.cases
        .handle(
            &CommandHandler::<CaseDecider>::stream_id(case_id),
            &command,
            &CommandContext::new("test"),
            RetryPolicy::Never,
        )
        .await
        .expect("step");
}

fn act(action: Action) -> Command {
    Command::Act {
        action,
        note: "处理".into(),
        photos: Vec::new(),
    }
}

async fn report(f: &Fixture, reporter: Uuid) -> Uuid {
    let case_id = Uuid::now_v7();
    run(
        f,
        case_id,
        Command::Report(Report {
            case_id,
            category: Category {
                code: "garbage_pile".into(),
                name: "垃圾堆放".into(),
                sla_hours: 4,
                default_department: "县城市管理局".into(),
            },
            point: Point::new(116.76, 36.79).expect("point"),
            grid: None,
            description: "路边垃圾堆放".into(),
            reporter,
            by_grid_worker: true,
            at: f.cases.clock().now(),
            photos: Vec::new(),
        }),
    )
    .await;
    case_id
}

async fn points_of(f: &Fixture, person: Uuid) -> i64 {
    f.points
        .load(&CommandHandler::<PointsDecider>::stream_id(person))
        .await
        .expect("ledger")
        .state
        .total()
}

/// Runs the follower under `name` until it has seen the store's head.
async fn follow_until_caught_up(f: &Fixture, name: &str) {
    let feed = EventFeed::in_process(f.store.clone(), "grid", name)
        .await
        .expect("feed");
    let shutdown = Shutdown::new();
    let task = tokio::spawn(follow_cases(
        f.cases.clone(),
        f.points.clone(),
        feed,
        shutdown.wait(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let head = f.store.head_position().await.expect("head");
        let done = f
            .store
            .checkpoint(&format!("consumer.{name}"))
            .await
            .expect("checkpoint");
        if done >= head {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.trigger();
    task.await.expect("follower");
}

#[tokio::test]
async fn lost_reactions_are_made_when_the_follower_comes_back_and_only_once() {
    let f = fixture().await;
    let (rider, citizen) = (Uuid::now_v7(), Uuid::now_v7());
    let first = report(&f, rider).await;
    let duplicate = report(&f, citizen).await;
    run(&f, duplicate, act(Action::Merge { original: first })).await;
    for action in [
        Action::Accept,
        Action::Dispatch { department: None },
        Action::Acknowledge,
        Action::Resolve,
        Action::Verify,
    ] {
        run(&f, first, act(action)).await;
    }
    // The process "died" before reacting: nothing yet.
    assert_eq!(points_of(&f, rider).await, 0);

    follow_until_caught_up(&f, FEED_NAME).await;
    assert_eq!(
        points_of(&f, rider).await,
        10,
        "a grid worker's verified report"
    );
    assert_eq!(
        points_of(&f, citizen).await,
        0,
        "a merged report earns nothing"
    );
    let original = f
        .cases
        .load(&CommandHandler::<CaseDecider>::stream_id(first))
        .await
        .expect("case")
        .state
        .0
        .expect("case");
    assert!(original.followers.contains(&citizen));

    // Every event delivered again (a follower with no checkpoint yet, as
    // after a lost one): the same points, the same followers.
    let events = f.store.head_position().await.expect("head");
    follow_until_caught_up(&f, "grid-cases-again").await;
    assert_eq!(points_of(&f, rider).await, 10);
    assert_eq!(
        f.store.head_position().await.expect("head"),
        events,
        "nothing new was written"
    );
}
