//! The case workflow and its SLA clock, given/when/then with an injected
//! time.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use hongxin_domain::Decider as _;
use hongxin_domain::calendar::{Calendar, WorkingHours};
use hongxin_grid::case::{
    Action, CaseDecider, CaseState, Command, Event, Rejection, Report, State,
};
use hongxin_grid::geo::Point;
use hongxin_grid::grid::Category;
use hongxin_testkit::given::given;
use uuid::Uuid;

/// Beijing time.
fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .single()
        .expect("time")
        - TimeDelta::hours(8)
}

fn decider() -> CaseDecider {
    CaseDecider {
        calendar: Arc::new(Calendar::default()),
        hours: WorkingHours::default(),
    }
}

fn report() -> Report {
    Report {
        case_id: Uuid::from_u128(1),
        category: Category {
            code: "garbage_pile".into(),
            name: "垃圾堆放".into(),
            sla_hours: 4,
            default_department: "县城市管理局".into(),
        },
        point: Point::new(116.76, 36.79).expect("point"),
        grid: Some(Uuid::from_u128(9)),
        description: "路边垃圾堆放".into(),
        reporter: Uuid::from_u128(2),
        by_grid_worker: true,
        at: at(20, 15, 0),
        photos: Vec::new(),
    }
}

fn act(action: Action, note: &str) -> Command {
    Command::Act {
        action,
        note: note.into(),
        photos: Vec::new(),
    }
}

/// Runs commands at the given moments, returning the events.
fn history(steps: &[(Command, DateTime<Utc>)]) -> Vec<Event> {
    let d = decider();
    let mut state = State::default();
    let mut events = Vec::new();
    for (command, now) in steps {
        let new = d.decide(&state, command, *now).expect("step");
        for e in &new {
            state = d.evolve(state, e);
        }
        events.extend(new);
    }
    events
}

fn dispatched() -> Vec<Event> {
    history(&[
        (Command::Report(report()), at(20, 15, 0)),
        (act(Action::Accept, ""), at(20, 15, 10)),
        // Friday 16:00: 1 working hour today, 3 on Monday → due 12:00.
        (
            act(Action::Dispatch { department: None }, ""),
            at(20, 16, 0),
        ),
    ])
}

#[test]
fn dispatch_sets_the_due_moment_in_working_hours_and_the_default_department() {
    let d = decider();
    let state = dispatched()
        .iter()
        .fold(State::default(), |s, e| d.evolve(s, e));
    let c = state.0.expect("case");
    assert_eq!(c.state, CaseState::Dispatched);
    assert_eq!(c.department.as_deref(), Some("县城市管理局"));
    assert_eq!(c.due_at, Some(at(23, 12, 0)));
    assert!(!c.overdue(at(23, 12, 0)), "due at noon is still in time");
    assert!(c.overdue(at(23, 12, 1)));
}

#[test]
fn an_overdue_case_escalates_once() {
    given(decider(), dispatched())
        .at(at(23, 11, 0))
        .when(Command::Escalate)
        .then([]);
    let escalated = Event::Escalated {
        case_id: Uuid::from_u128(1),
        at: at(23, 13, 0),
    };
    given(decider(), dispatched())
        .at(at(23, 13, 0))
        .when(Command::Escalate)
        .then([escalated.clone()]);
    let mut past = dispatched();
    past.push(escalated);
    given(decider(), past)
        .at(at(23, 14, 0))
        .when(Command::Escalate)
        .then([]);
}

#[test]
fn the_whole_way_with_a_reopening() {
    let events = history(&[
        (Command::Report(report()), at(20, 15, 0)),
        (act(Action::Accept, ""), at(20, 15, 10)),
        (
            act(Action::Dispatch { department: None }, ""),
            at(20, 16, 0),
        ),
        (
            act(
                Action::Transfer {
                    department: "县住建局".into(),
                },
                "属住建局职责",
            ),
            at(20, 16, 30),
        ),
        (act(Action::Acknowledge, ""), at(23, 9, 0)),
        (act(Action::Resolve, "已清运"), at(23, 10, 0)),
        (act(Action::Reopen, "仍有残留"), at(23, 11, 0)),
        (act(Action::Acknowledge, ""), at(23, 11, 30)),
        (act(Action::Resolve, "已彻底清理"), at(23, 14, 0)),
        (act(Action::Verify, "确认"), at(23, 15, 0)),
        (Command::Rate { rating: 5 }, at(23, 16, 0)),
    ]);
    let d = decider();
    let c = events
        .iter()
        .fold(State::default(), |s, e| d.evolve(s, e))
        .0
        .expect("case");
    assert_eq!(c.state, CaseState::Closed);
    assert_eq!(c.department.as_deref(), Some("县住建局"));
    assert_eq!((c.reopened, c.rating), (1, 5));
    // Reopened at 11:00 Monday: a fresh 4 working hours → 15:00.
    assert_eq!(c.due_at, Some(at(23, 15, 0)));
}

#[test]
fn steps_out_of_order_and_incomplete_actions_are_refused() {
    let reported = history(&[(Command::Report(report()), at(20, 15, 0))]);
    given(decider(), reported.clone())
        .at(at(20, 16, 0))
        .when(act(Action::Resolve, "x"))
        .then_rejected("cannot go to Resolved");
    given(decider(), reported.clone())
        .at(at(20, 16, 0))
        .when(act(Action::Reject(Rejection::Invalid), " "))
        .then_invalid("note");
    given(decider(), reported.clone())
        .at(at(20, 16, 0))
        .when(act(
            Action::Merge {
                original: Uuid::from_u128(1),
            },
            "",
        ))
        .then_invalid("duplicate_of_case_id");
    given(decider(), reported.clone())
        .at(at(20, 16, 0))
        .when(Command::Rate { rating: 4 })
        .then_rejected("once closed");
    given(decider(), dispatched())
        .at(at(20, 16, 30))
        .when(act(
            Action::Transfer {
                department: "县城市管理局".into(),
            },
            "",
        ))
        .then_rejected("with that department already");
    // A merged duplicate is closed for good.
    let merged = history(&[
        (Command::Report(report()), at(20, 15, 0)),
        (
            act(
                Action::Merge {
                    original: Uuid::from_u128(7),
                },
                "同一垃圾点",
            ),
            at(20, 15, 5),
        ),
    ]);
    given(decider(), merged)
        .at(at(20, 16, 0))
        .when(act(Action::Accept, ""))
        .then_rejected("cannot go to Accepted");
}

#[test]
fn followers_are_added_once() {
    let reported = history(&[(Command::Report(report()), at(20, 15, 0))]);
    given(decider(), reported)
        .at(at(20, 16, 0))
        .when(Command::Follow {
            people: vec![Uuid::from_u128(2), Uuid::from_u128(3), Uuid::from_u128(3)],
        })
        .then([Event::Followed {
            case_id: Uuid::from_u128(1),
            people: vec![Uuid::from_u128(3)],
        }]);
}
