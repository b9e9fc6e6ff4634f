//! What hongxin files with a partner on a worker's behalf: with the union
//! 县总工会, an application to join 入会申请; with the HR bureau 人社局, an
//! application for flexible-employment registration 灵活就业登记 and the
//! report of an accident on the job for occupational-injury protection
//! 职业伤害报案. One stream per person (`filings-<person_id>`).
//!
//! The partners' answers come back as their own records: the union's
//! membership confirmation, the bureau's registration and claim status
//! (`crate::hr`). A filing's id follows from what it says (the person for
//! a union application; the occupation; the accident's day, platform and
//! kind), so filing the same again — a retry, a second tap on a phone —
//! changes nothing.
//!
//! Personal data: an accident report carries its day, the platform and the
//! kind of accident, and nothing of the injuries, the place or the account;
//! the bureau takes those up with the worker.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, malformed};

/// Namespace of filing ids.
const FILING_IDS: Uuid = Uuid::from_u128(0x2d6f_95a1_0c3b_4e7a_8f12_6b9e_d4a0_7c35);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccidentKind {
    Traffic,
    Fall,
    Other,
}

impl AccidentKind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::AccidentKind::try_from(raw).ok()? {
            pb::AccidentKind::Traffic => Some(Self::Traffic),
            pb::AccidentKind::Fall => Some(Self::Fall),
            pb::AccidentKind::Other => Some(Self::Other),
            pb::AccidentKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::AccidentKind {
        match self {
            Self::Traffic => pb::AccidentKind::Traffic,
            Self::Fall => pb::AccidentKind::Fall,
            Self::Other => pb::AccidentKind::Other,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    JoinUnion {
        person_id: Uuid,
    },
    FileEmployment {
        person_id: Uuid,
        occupation: String,
    },
    ReportAccident {
        person_id: Uuid,
        accident_on: NaiveDate,
        platform: String,
        kind: AccidentKind,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    UnionApplied {
        person_id: Uuid,
        application_id: Uuid,
        applied_on: NaiveDate,
    },
    EmploymentFiled {
        person_id: Uuid,
        filing_id: Uuid,
        occupation: String,
        filed_on: NaiveDate,
    },
    AccidentReported {
        person_id: Uuid,
        report_id: Uuid,
        accident_on: NaiveDate,
        platform: String,
        kind: AccidentKind,
        reported_on: NaiveDate,
    },
}

/// The ids of what was filed for the person.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub filed: BTreeSet<Uuid>,
}

impl Command {
    /// Whom the filing is for.
    pub fn person_id(&self) -> Uuid {
        match self {
            Self::JoinUnion { person_id }
            | Self::FileEmployment { person_id, .. }
            | Self::ReportAccident { person_id, .. } => *person_id,
        }
    }

    /// The filing's id: the same for the same person and content.
    pub fn filing_id(&self) -> Uuid {
        let name = match self {
            Self::JoinUnion { person_id } => format!("union/{person_id}"),
            Self::FileEmployment {
                person_id,
                occupation,
            } => format!("employment/{person_id}/{}", occupation.trim()),
            Self::ReportAccident {
                person_id,
                accident_on,
                platform,
                kind,
            } => format!(
                "accident/{person_id}/{accident_on}/{}/{kind:?}",
                platform.trim()
            ),
        };
        Uuid::new_v5(&FILING_IDS, name.as_bytes())
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct FilingDecider;

impl Decider for FilingDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "filings";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let today = beijing_today(now);
        let mut v = Vec::new();
        match command {
            Command::JoinUnion { .. } => {}
            Command::FileEmployment { occupation, .. } => {
                v.extend(text_violations("occupation", occupation, 50));
            }
            Command::ReportAccident {
                accident_on,
                platform,
                ..
            } => {
                if *accident_on > today {
                    v.push(FieldViolation::new(
                        "accident_on",
                        "must not be in the future",
                    ));
                }
                v.extend(text_violations("platform", platform, 50));
            }
        }
        if !v.is_empty() {
            return Err(CommandError::Invalid(v));
        }
        let id = command.filing_id();
        if state.filed.contains(&id) {
            return Ok(vec![]);
        }
        Ok(vec![match command {
            Command::JoinUnion { person_id } => Event::UnionApplied {
                person_id: *person_id,
                application_id: id,
                applied_on: today,
            },
            Command::FileEmployment {
                person_id,
                occupation,
            } => Event::EmploymentFiled {
                person_id: *person_id,
                filing_id: id,
                occupation: occupation.trim().to_owned(),
                filed_on: today,
            },
            Command::ReportAccident {
                person_id,
                accident_on,
                platform,
                kind,
            } => Event::AccidentReported {
                person_id: *person_id,
                report_id: id,
                accident_on: *accident_on,
                platform: platform.trim().to_owned(),
                kind: *kind,
                reported_on: today,
            },
        }])
    }

    fn evolve(&self, mut state: State, event: &Event) -> State {
        let id = match event {
            Event::UnionApplied { application_id, .. } => *application_id,
            Event::EmploymentFiled { filing_id, .. } => *filing_id,
            Event::AccidentReported { report_id, .. } => *report_id,
        };
        state.filed.insert(id);
        state
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::UnionApplied { .. } => "UnionMembershipApplied",
            Self::EmploymentFiled { .. } => "EmploymentRegistrationFiled",
            Self::AccidentReported { .. } => "AccidentReported",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::UnionApplied {
                person_id,
                application_id,
                applied_on,
            } => pb::UnionMembershipApplied {
                person_id: person_id.to_string(),
                application_id: application_id.to_string(),
                applied_on: format_day(*applied_on),
            }
            .encode_to_vec(),
            Self::EmploymentFiled {
                person_id,
                filing_id,
                occupation,
                filed_on,
            } => pb::EmploymentRegistrationFiled {
                person_id: person_id.to_string(),
                filing_id: filing_id.to_string(),
                occupation: occupation.clone(),
                filed_on: format_day(*filed_on),
            }
            .encode_to_vec(),
            Self::AccidentReported {
                person_id,
                report_id,
                accident_on,
                platform,
                kind,
                reported_on,
            } => pb::AccidentReported {
                person_id: person_id.to_string(),
                report_id: report_id.to_string(),
                accident_on: format_day(*accident_on),
                platform: platform.clone(),
                kind: kind.to_wire() as i32,
                reported_on: format_day(*reported_on),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if schema_version != 1 {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let bad = |e: prost::DecodeError| malformed(event_type, e);
        let day = |raw: &str| {
            parse_day(raw).ok_or_else(|| DecodeError::malformed(event_type, "not a day"))
        };
        match event_type {
            "UnionMembershipApplied" => {
                let e = pb::UnionMembershipApplied::decode(payload).map_err(bad)?;
                Ok(Self::UnionApplied {
                    person_id: decode_id(event_type, &e.person_id)?,
                    application_id: decode_id(event_type, &e.application_id)?,
                    applied_on: day(&e.applied_on)?,
                })
            }
            "EmploymentRegistrationFiled" => {
                let e = pb::EmploymentRegistrationFiled::decode(payload).map_err(bad)?;
                Ok(Self::EmploymentFiled {
                    person_id: decode_id(event_type, &e.person_id)?,
                    filing_id: decode_id(event_type, &e.filing_id)?,
                    filed_on: day(&e.filed_on)?,
                    occupation: e.occupation,
                })
            }
            "AccidentReported" => {
                let e = pb::AccidentReported::decode(payload).map_err(bad)?;
                Ok(Self::AccidentReported {
                    person_id: decode_id(event_type, &e.person_id)?,
                    report_id: decode_id(event_type, &e.report_id)?,
                    accident_on: day(&e.accident_on)?,
                    kind: AccidentKind::from_wire(e.kind)
                        .ok_or_else(|| DecodeError::malformed(event_type, "unknown kind"))?,
                    reported_on: day(&e.reported_on)?,
                    platform: e.platform,
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

    fn day(raw: &str) -> NaiveDate {
        parse_day(raw).unwrap_or_default()
    }

    fn accident() -> Command {
        Command::ReportAccident {
            person_id: Uuid::from_u128(7),
            accident_on: day("2022-06-01"),
            platform: "美团".into(),
            kind: AccidentKind::Traffic,
        }
    }

    fn decide(past: &[Event], command: Command) -> Vec<Event> {
        let state = past
            .iter()
            .fold(State::default(), |s, e| FilingDecider.evolve(s, e));
        FilingDecider
            .decide(&state, &command, Utc::now())
            .unwrap_or_default()
    }

    #[test]
    fn the_same_filing_again_changes_nothing() {
        let filed = decide(&[], accident());
        assert_eq!(filed.len(), 1);
        given(FilingDecider, filed.clone())
            .when(accident())
            .then([]);
        // Another day is another accident.
        let other = Command::ReportAccident {
            person_id: Uuid::from_u128(7),
            accident_on: day("2022-06-02"),
            platform: "美团".into(),
            kind: AccidentKind::Traffic,
        };
        assert_ne!(other.filing_id(), accident().filing_id());
        assert_eq!(decide(&filed, other).len(), 1);
    }

    #[test]
    fn an_accident_is_not_in_the_future_and_names_its_platform() {
        given(FilingDecider, [])
            .when(Command::ReportAccident {
                person_id: Uuid::from_u128(7),
                accident_on: day("2999-01-01"),
                platform: " ".into(),
                kind: AccidentKind::Fall,
            })
            .then_invalid("accident_on");
        given(FilingDecider, [])
            .when(Command::FileEmployment {
                person_id: Uuid::from_u128(7),
                occupation: "".into(),
            })
            .then_invalid("occupation");
    }

    #[test]
    fn events_round_trip() {
        for command in [
            accident(),
            Command::JoinUnion {
                person_id: Uuid::from_u128(7),
            },
            Command::FileEmployment {
                person_id: Uuid::from_u128(7),
                occupation: "网约配送员".into(),
            },
        ] {
            let events = decide(&[], command);
            assert_eq!(events.len(), 1);
            for e in events {
                let back = Event::decode(e.event_type(), 1, &e.encode());
                assert_eq!(back.ok(), Some(e));
            }
        }
    }
}
