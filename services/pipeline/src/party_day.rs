//! Open organisational life 火炬接力: each month's theme Party day 主题党日,
//! hosted in turn by an enterprise Party organisation and open to
//! non-members. One stream per month.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent};
use hongxin_proto::pipeline::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

/// A calendar month, the party day's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// "YYYY-MM".
    pub fn parse(raw: &str) -> Option<Self> {
        let (y, m) = raw.split_once('-')?;
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        (y.len() == 4 && m.len() == 2 && (1..=12).contains(&month) && (2000..=2100).contains(&year))
            .then_some(Self { year, month })
    }

    pub fn contains(self, day: NaiveDate) -> bool {
        day.year() == self.year && day.month() == self.month
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn label(self) -> String {
        format!("{}-{:02}", self.year, self.month)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub month: Month,
    pub theme: String,
    pub host: Uuid,
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `previous_host` is the host of the month before, looked up by the
    /// service: hosting goes in turn.
    Schedule {
        schedule: Schedule,
        previous_host: Option<Uuid>,
    },
    Hold {
        on: NaiveDate,
        attendees: Vec<Uuid>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Scheduled(Schedule),
    Held {
        month: Month,
        on: NaiveDate,
        attendees: Vec<Uuid>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartyDay {
    pub schedule: Schedule,
    pub held_on: Option<NaiveDate>,
    pub attendees: Vec<Uuid>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<PartyDay>);

#[derive(Clone, Copy, Debug, Default)]
pub struct PartyDayDecider;

impl Decider for PartyDayDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "party_day";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        match command {
            Command::Schedule {
                schedule,
                previous_host,
            } => {
                let mut v = text_violations("theme", &schedule.theme, 100);
                if !schedule.month.contains(schedule.on) {
                    v.push(hongxin_domain::FieldViolation::new(
                        "scheduled_on",
                        "must fall in the month",
                    ));
                }
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if *previous_host == Some(schedule.host) {
                    return Err(CommandError::rejected(
                        "the theme Party day is hosted in turn: this organisation hosted last month",
                    ));
                }
                let clean = Schedule {
                    theme: schedule.theme.trim().to_owned(),
                    ..schedule.clone()
                };
                match &state.0 {
                    Some(d) if d.held_on.is_some() => Err(CommandError::rejected(
                        "this month's theme Party day has been held",
                    )),
                    Some(d) if d.schedule == clean => Ok(vec![]),
                    // Scheduled anew: a change of date, host or theme.
                    _ => Ok(vec![Event::Scheduled(clean)]),
                }
            }
            Command::Hold { on, attendees } => {
                let d = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no theme Party day is scheduled"))?;
                if !d.schedule.month.contains(*on) || *on > beijing_today(now) {
                    return Err(CommandError::invalid(
                        "held_on",
                        "must fall in the month, and not in the future",
                    ));
                }
                if attendees.len() > 5000 {
                    return Err(CommandError::invalid("attendee_person_ids", "at most 5000"));
                }
                if d.held_on.is_some() {
                    return Ok(vec![]);
                }
                let unique: BTreeSet<Uuid> = attendees.iter().copied().collect();
                Ok(vec![Event::Held {
                    month: d.schedule.month,
                    on: *on,
                    attendees: unique.into_iter().collect(),
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Scheduled(s) => State(Some(PartyDay {
                schedule: s.clone(),
                held_on: None,
                attendees: Vec::new(),
            })),
            Event::Held { on, attendees, .. } => State(state.0.map(|mut d| {
                d.held_on = Some(*on);
                d.attendees = attendees.clone();
                d
            })),
        }
    }
}

impl PartyDay {
    pub fn to_wire(&self, version: u64) -> pb::PartyDay {
        pb::PartyDay {
            month: self.schedule.month.label(),
            theme: self.schedule.theme.clone(),
            host_organization_id: self.schedule.host.to_string(),
            scheduled_on: format_day(self.schedule.on),
            held_on: self.held_on.map(format_day).unwrap_or_default(),
            attendee_person_ids: self.attendees.iter().map(Uuid::to_string).collect(),
            version,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Scheduled(_) => "PartyDayScheduled",
            Self::Held { .. } => "PartyDayHeld",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Scheduled(s) => pb::PartyDayScheduled {
                month: s.month.label(),
                theme: s.theme.clone(),
                host_organization_id: s.host.to_string(),
                scheduled_on: format_day(s.on),
            }
            .encode_to_vec(),
            Self::Held {
                month,
                on,
                attendees,
            } => pb::PartyDayHeld {
                month: month.label(),
                held_on: format_day(*on),
                attendee_person_ids: attendees.iter().map(Uuid::to_string).collect(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if schema_version != 1 {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let bad = |e: prost::DecodeError| DecodeError::malformed(event_type, e);
        let month = |raw: &str| {
            Month::parse(raw).ok_or_else(|| DecodeError::malformed(event_type, "not a month"))
        };
        let day = |raw: &str| {
            parse_day(raw).ok_or_else(|| DecodeError::malformed(event_type, "not a day"))
        };
        let id = |raw: &str| {
            Uuid::parse_str(raw).map_err(|_| DecodeError::malformed(event_type, "not a UUID"))
        };
        match event_type {
            "PartyDayScheduled" => {
                let e = pb::PartyDayScheduled::decode(payload).map_err(bad)?;
                Ok(Self::Scheduled(Schedule {
                    month: month(&e.month)?,
                    theme: e.theme,
                    host: id(&e.host_organization_id)?,
                    on: day(&e.scheduled_on)?,
                }))
            }
            "PartyDayHeld" => {
                let e = pb::PartyDayHeld::decode(payload).map_err(bad)?;
                Ok(Self::Held {
                    month: month(&e.month)?,
                    on: day(&e.held_on)?,
                    attendees: e
                        .attendee_person_ids
                        .iter()
                        .map(|p| id(p))
                        .collect::<Result<_, _>>()?,
                })
            }
            other => Err(DecodeError::unknown(other, schema_version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn may() -> Schedule {
        Schedule {
            month: Month {
                year: 2022,
                month: 5,
            },
            theme: "学党史、办实事".into(),
            host: Uuid::from_u128(1),
            on: NaiveDate::from_ymd_opt(2022, 5, 20).unwrap_or_default(),
        }
    }

    #[test]
    fn hosting_goes_in_turn_and_a_day_is_held_once() {
        given(PartyDayDecider, [])
            .when(Command::Schedule {
                schedule: may(),
                previous_host: Some(Uuid::from_u128(1)),
            })
            .then_rejected("hosted in turn");
        given(PartyDayDecider, [])
            .when(Command::Schedule {
                schedule: may(),
                previous_host: Some(Uuid::from_u128(2)),
            })
            .then([Event::Scheduled(may())]);
        let held = Event::Held {
            month: may().month,
            on: may().on,
            attendees: vec![Uuid::from_u128(7), Uuid::from_u128(8)],
        };
        given(PartyDayDecider, [Event::Scheduled(may())])
            .when(Command::Hold {
                on: may().on,
                attendees: vec![Uuid::from_u128(8), Uuid::from_u128(7), Uuid::from_u128(8)],
            })
            .then([held.clone()]);
        given(PartyDayDecider, [Event::Scheduled(may()), held])
            .when(Command::Schedule {
                schedule: may(),
                previous_host: None,
            })
            .then_rejected("has been held");
    }

    #[test]
    fn months_are_checked() {
        assert_eq!(
            Month::parse("2026-11").map(Month::label).as_deref(),
            Some("2026-11")
        );
        assert!(Month::parse("2026-13").is_none() && Month::parse("26-1").is_none());
        assert_eq!(
            Month::parse("2026-01")
                .map(|m| m.previous().label())
                .as_deref(),
            Some("2025-12")
        );
        given(PartyDayDecider, [])
            .when(Command::Schedule {
                schedule: Schedule {
                    on: NaiveDate::from_ymd_opt(2022, 6, 1).unwrap_or_default(),
                    ..may()
                },
                previous_host: None,
            })
            .then_invalid("scheduled_on");
    }
}
