//! Given / when / then for deciders: past events, one command at a fixed
//! time, and the events or the refusal expected. No I/O.
//!
//! ```text
//! given(CommitteeDecider, [registered()])
//!     .when(SetResponsibilities { .. })
//!     .then([responsibilities_set()]);
//! ```

use std::fmt::Debug;

use chrono::{DateTime, TimeZone, Utc};
use hongxin_domain::{CommandError, Decider, DomainEvent};

/// Starts a scenario from the aggregate's past events.
pub fn given<D: Decider>(decider: D, events: impl IntoIterator<Item = D::Event>) -> Given<D> {
    Given {
        decider,
        events: events.into_iter().collect(),
        now: Utc
            .with_ymd_and_hms(2022, 6, 1, 2, 0, 0)
            .single()
            .unwrap_or_default(),
    }
}

#[derive(Debug)]
pub struct Given<D: Decider> {
    decider: D,
    events: Vec<D::Event>,
    now: DateTime<Utc>,
}

impl<D: Decider> Given<D> {
    /// The time the command is decided at (default 2022-06-01 10:00 Beijing).
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    pub fn when(self, command: D::Command) -> Then<D> {
        let state = hongxin_domain::fold(&self.decider, &self.events);
        let result = self.decider.decide(&state, &command, self.now);
        Then {
            decider: self.decider,
            state,
            result,
        }
    }
}

#[derive(Debug)]
pub struct Then<D: Decider> {
    decider: D,
    state: D::State,
    result: Result<Vec<D::Event>, CommandError>,
}

impl<D: Decider> Then<D>
where
    D::Event: PartialEq + Debug,
{
    /// Asserts the command yields exactly these events, and that each
    /// survives its wire encoding unchanged. Returns the state after them.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = D::Event>) -> D::State {
        let expected: Vec<_> = expected.into_iter().collect();
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "the command yielded other events");
                for e in &events {
                    let decoded = D::Event::decode(e.event_type(), e.schema_version(), &e.encode())
                        .unwrap_or_else(|err| panic!("{} does not decode: {err}", e.event_type()));
                    assert_eq!(
                        &decoded,
                        e,
                        "{} changes in its wire encoding",
                        e.event_type()
                    );
                }
                events
                    .iter()
                    .fold(self.state, |s, e| self.decider.evolve(s, e))
            }
            Err(e) => panic!("expected events {expected:?}, the command was refused: {e:?}"),
        }
    }

    /// Asserts the command is refused, and returns the error for closer
    /// checks.
    #[track_caller]
    pub fn then_error(self) -> CommandError {
        match self.result {
            Ok(events) => panic!("expected a refusal, the command yielded {events:?}"),
            Err(e) => e,
        }
    }

    /// Asserts the command is refused by a rule whose message contains
    /// `needle`.
    #[track_caller]
    pub fn then_rejected(self, needle: &str) {
        match self.then_error() {
            CommandError::Rejected(m) => {
                assert!(
                    m.contains(needle),
                    "rejected with {m:?}, expected it to mention {needle:?}"
                )
            }
            other => panic!("expected a rule refusal mentioning {needle:?}, got {other:?}"),
        }
    }

    /// Asserts the command is refused as invalid input naming `field`.
    #[track_caller]
    pub fn then_invalid(self, field: &str) {
        match self.then_error() {
            CommandError::Invalid(v) => assert!(
                v.iter().any(|f| f.field == field),
                "invalid fields {v:?} do not include {field:?}"
            ),
            other => panic!("expected invalid field {field:?}, got {other:?}"),
        }
    }
}
