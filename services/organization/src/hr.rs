//! What the HR bureau 人社局 records of a person: flexible-employment
//! registration 灵活就业登记, occupational-injury protection
//! 新就业形态就业人员职业伤害保障 (enrolment through a platform, and claims),
//! and training subsidies. One stream per person (`hr_records-<person_id>`),
//! beside the person's own: these facts arrive from another system, in
//! batches, and never decide anything about the person's registration.
//!
//! Each fact carries the bureau's own record id. The same record with the
//! same content again decides nothing, so an import run twice writes
//! nothing; the same record with a newer status is a new fact and is
//! recorded; a status older than the one recorded (earlier in the claim's
//! course, or on an earlier day) is refused, since an old export must not
//! undo what a newer one said.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, malformed};

/// Largest amount one record may carry, in fen (¥1 million).
pub const MAX_AMOUNT_FEN: i64 = 100_000_000;
/// Longest record id a partner may use.
pub const MAX_RECORD_ID_CHARS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationStatus {
    Registered,
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimStatus {
    Reported,
    Confirmed,
    Paid,
    Refused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubsidyStatus {
    Applied,
    Approved,
    Paid,
    Refused,
}

/// One record's content, as the bureau reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    Employment {
        status: RegistrationStatus,
        on: NaiveDate,
        occupation: String,
    },
    Protection {
        platform: String,
        enrolled_on: NaiveDate,
    },
    Claim {
        status: ClaimStatus,
        accident_on: NaiveDate,
        status_on: NaiveDate,
        paid_fen: i64,
    },
    Subsidy {
        course: String,
        status: SubsidyStatus,
        status_on: NaiveDate,
        amount_fen: i64,
    },
}

/// Which kind of record; a record id is unique within its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Employment,
    Protection,
    Claim,
    Subsidy,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Employment => "employment",
            Self::Protection => "injury-protection",
            Self::Claim => "injury-claim",
            Self::Subsidy => "training-subsidy",
        }
    }
}

impl Fact {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Employment { .. } => Kind::Employment,
            Self::Protection { .. } => Kind::Protection,
            Self::Claim { .. } => Kind::Claim,
            Self::Subsidy { .. } => Kind::Subsidy,
        }
    }

    /// How far along its course the record is, and the day it got there:
    /// a record never moves back in either.
    fn progress(&self) -> (u8, NaiveDate) {
        match self {
            Self::Employment { on, .. } => (0, *on),
            Self::Protection { enrolled_on, .. } => (0, *enrolled_on),
            Self::Claim {
                status, status_on, ..
            } => (
                match status {
                    ClaimStatus::Reported => 0,
                    ClaimStatus::Confirmed => 1,
                    ClaimStatus::Paid | ClaimStatus::Refused => 2,
                },
                *status_on,
            ),
            Self::Subsidy {
                status, status_on, ..
            } => (
                match status {
                    SubsidyStatus::Applied => 0,
                    SubsidyStatus::Approved => 1,
                    SubsidyStatus::Paid | SubsidyStatus::Refused => 2,
                },
                *status_on,
            ),
        }
    }

    /// Field problems with the record's content.
    pub fn violations(&self, today: NaiveDate) -> Vec<FieldViolation> {
        let mut v = Vec::new();
        let mut not_future = |field: &str, day: NaiveDate| {
            if day > today {
                v.push(FieldViolation::new(field, "must not be in the future"));
            }
        };
        match self {
            Self::Employment { on, .. } => not_future("on", *on),
            Self::Protection { enrolled_on, .. } => not_future("enrolled_on", *enrolled_on),
            Self::Claim {
                accident_on,
                status_on,
                ..
            } => {
                not_future("accident_on", *accident_on);
                not_future("status_on", *status_on);
            }
            Self::Subsidy { status_on, .. } => not_future("status_on", *status_on),
        }
        match self {
            Self::Employment { occupation, .. } if !occupation.trim().is_empty() => {
                v.extend(text_violations("occupation", occupation, 50));
            }
            Self::Employment { .. } => {}
            Self::Protection { platform, .. } => {
                v.extend(text_violations("platform", platform, 50))
            }
            Self::Claim {
                status,
                accident_on,
                status_on,
                paid_fen,
            } => {
                if status_on < accident_on {
                    v.push(FieldViolation::new(
                        "status_on",
                        "must not be before the accident",
                    ));
                }
                let paid = *status == ClaimStatus::Paid;
                if paid && !(1..=MAX_AMOUNT_FEN).contains(paid_fen) {
                    v.push(FieldViolation::new(
                        "paid_fen",
                        "a paid claim pays 1 to 100000000 fen (¥1 million)",
                    ));
                } else if !paid && *paid_fen != 0 {
                    v.push(FieldViolation::new(
                        "paid_fen",
                        "only a paid claim carries an amount",
                    ));
                }
            }
            Self::Subsidy {
                course, amount_fen, ..
            } => {
                v.extend(text_violations("course", course, 50));
                if !(1..=MAX_AMOUNT_FEN).contains(amount_fen) {
                    v.push(FieldViolation::new(
                        "amount_fen",
                        "1 to 100000000 fen (¥1 million)",
                    ));
                }
            }
        }
        v
    }

    fn clean(&self) -> Self {
        match self {
            Self::Employment {
                status,
                on,
                occupation,
            } => Self::Employment {
                status: *status,
                on: *on,
                occupation: occupation.trim().to_owned(),
            },
            Self::Protection {
                platform,
                enrolled_on,
            } => Self::Protection {
                platform: platform.trim().to_owned(),
                enrolled_on: *enrolled_on,
            },
            Self::Claim { .. } => self.clone(),
            Self::Subsidy {
                course,
                status,
                status_on,
                amount_fen,
            } => Self::Subsidy {
                course: course.trim().to_owned(),
                status: *status,
                status_on: *status_on,
                amount_fen: *amount_fen,
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Records what the bureau reports of one of its records.
    Record {
        person_id: Uuid,
        record_id: String,
        fact: Fact,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// One record reached this content (the event type says which kind).
    Recorded {
        person_id: Uuid,
        record_id: String,
        fact: Fact,
    },
}

/// The latest content of each of the person's records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub records: BTreeMap<(Kind, String), Fact>,
}

impl State {
    pub fn get(&self, kind: Kind, record_id: &str) -> Option<&Fact> {
        self.records.get(&(kind, record_id.to_owned()))
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct HrRecordsDecider;

/// Field problems with a partner's record id.
pub fn record_id_violations(field: &str, raw: &str) -> Vec<FieldViolation> {
    let id = raw.trim();
    if id.is_empty() {
        vec![FieldViolation::new(field, "must not be empty")]
    } else if id.chars().count() > MAX_RECORD_ID_CHARS {
        vec![FieldViolation::new(field, "must be at most 64 characters")]
    } else if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        vec![FieldViolation::new(
            field,
            "must not contain spaces or control characters",
        )]
    } else {
        Vec::new()
    }
}

impl Decider for HrRecordsDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "hr_records";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let Command::Record {
            person_id,
            record_id,
            fact,
        } = command;
        let mut v = record_id_violations("record.record_id", record_id);
        v.extend(fact.violations(beijing_today(now)));
        if !v.is_empty() {
            return Err(CommandError::Invalid(v));
        }
        let record_id = record_id.trim().to_owned();
        let fact = fact.clean();
        if let Some(known) = state.get(fact.kind(), &record_id) {
            if *known == fact {
                return Ok(vec![]);
            }
            if fact.progress() < known.progress() {
                return Err(CommandError::rejected(format!(
                    "record {record_id} already stands further on ({}); this status is older",
                    describe(known)
                )));
            }
        }
        Ok(vec![Event::Recorded {
            person_id: *person_id,
            record_id,
            fact,
        }])
    }

    fn evolve(&self, mut state: State, event: &Event) -> State {
        let Event::Recorded {
            record_id, fact, ..
        } = event;
        state
            .records
            .insert((fact.kind(), record_id.clone()), fact.clone());
        state
    }
}

/// A record's standing in words, for a county officer.
fn describe(fact: &Fact) -> String {
    let (status, on) = match fact {
        Fact::Employment { status, on, .. } => (
            match status {
                RegistrationStatus::Registered => "已登记",
                RegistrationStatus::Cancelled => "已注销",
            },
            on,
        ),
        Fact::Protection { enrolled_on, .. } => ("已参保", enrolled_on),
        Fact::Claim {
            status, status_on, ..
        } => (
            match status {
                ClaimStatus::Reported => "已报案",
                ClaimStatus::Confirmed => "已认定",
                ClaimStatus::Paid => "已支付",
                ClaimStatus::Refused => "不予认定",
            },
            status_on,
        ),
        Fact::Subsidy {
            status, status_on, ..
        } => (
            match status {
                SubsidyStatus::Applied => "已申请",
                SubsidyStatus::Approved => "已审核",
                SubsidyStatus::Paid => "已发放",
                SubsidyStatus::Refused => "不予补贴",
            },
            status_on,
        ),
    };
    format!("{status} {}", format_day(*on))
}

impl RegistrationStatus {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::EmploymentRegistrationStatus::try_from(raw).ok()? {
            pb::EmploymentRegistrationStatus::Registered => Some(Self::Registered),
            pb::EmploymentRegistrationStatus::Cancelled => Some(Self::Cancelled),
            pb::EmploymentRegistrationStatus::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::EmploymentRegistrationStatus {
        match self {
            Self::Registered => pb::EmploymentRegistrationStatus::Registered,
            Self::Cancelled => pb::EmploymentRegistrationStatus::Cancelled,
        }
    }
}

impl ClaimStatus {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::InjuryClaimStatus::try_from(raw).ok()? {
            pb::InjuryClaimStatus::Reported => Some(Self::Reported),
            pb::InjuryClaimStatus::Confirmed => Some(Self::Confirmed),
            pb::InjuryClaimStatus::Paid => Some(Self::Paid),
            pb::InjuryClaimStatus::Refused => Some(Self::Refused),
            pb::InjuryClaimStatus::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::InjuryClaimStatus {
        match self {
            Self::Reported => pb::InjuryClaimStatus::Reported,
            Self::Confirmed => pb::InjuryClaimStatus::Confirmed,
            Self::Paid => pb::InjuryClaimStatus::Paid,
            Self::Refused => pb::InjuryClaimStatus::Refused,
        }
    }
}

impl SubsidyStatus {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::TrainingSubsidyStatus::try_from(raw).ok()? {
            pb::TrainingSubsidyStatus::Applied => Some(Self::Applied),
            pb::TrainingSubsidyStatus::Approved => Some(Self::Approved),
            pb::TrainingSubsidyStatus::Paid => Some(Self::Paid),
            pb::TrainingSubsidyStatus::Refused => Some(Self::Refused),
            pb::TrainingSubsidyStatus::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::TrainingSubsidyStatus {
        match self {
            Self::Applied => pb::TrainingSubsidyStatus::Applied,
            Self::Approved => pb::TrainingSubsidyStatus::Approved,
            Self::Paid => pb::TrainingSubsidyStatus::Paid,
            Self::Refused => pb::TrainingSubsidyStatus::Refused,
        }
    }
}

fn decode_day(event_type: &str, raw: &str) -> Result<NaiveDate, DecodeError> {
    parse_day(raw).ok_or_else(|| malformed(event_type, format!("{raw:?} is not a day")))
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        let Self::Recorded { fact, .. } = self;
        match fact.kind() {
            Kind::Employment => "EmploymentRegistrationRecorded",
            Kind::Protection => "InjuryProtectionEnrolled",
            Kind::Claim => "InjuryClaimRecorded",
            Kind::Subsidy => "TrainingSubsidyRecorded",
        }
    }

    fn encode(&self) -> Vec<u8> {
        let Self::Recorded {
            person_id,
            record_id,
            fact,
        } = self;
        let person_id = person_id.to_string();
        let record_id = record_id.clone();
        match fact {
            Fact::Employment {
                status,
                on,
                occupation,
            } => pb::EmploymentRegistrationRecorded {
                person_id,
                record_id,
                status: status.to_wire() as i32,
                on: format_day(*on),
                occupation: occupation.clone(),
            }
            .encode_to_vec(),
            Fact::Protection {
                platform,
                enrolled_on,
            } => pb::InjuryProtectionEnrolled {
                person_id,
                record_id,
                platform: platform.clone(),
                enrolled_on: format_day(*enrolled_on),
            }
            .encode_to_vec(),
            Fact::Claim {
                status,
                accident_on,
                status_on,
                paid_fen,
            } => pb::InjuryClaimRecorded {
                person_id,
                record_id,
                status: status.to_wire() as i32,
                accident_on: format_day(*accident_on),
                status_on: format_day(*status_on),
                paid_fen: *paid_fen,
            }
            .encode_to_vec(),
            Fact::Subsidy {
                course,
                status,
                status_on,
                amount_fen,
            } => pb::TrainingSubsidyRecorded {
                person_id,
                record_id,
                course: course.clone(),
                status: status.to_wire() as i32,
                status_on: format_day(*status_on),
                amount_fen: *amount_fen,
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if schema_version != 1 {
            return Err(DecodeError::unknown(t, schema_version));
        }
        let bad = |e: prost::DecodeError| malformed(t, e);
        let unknown_status = || malformed(t, "unknown status");
        let (person_id, record_id, fact) = match t {
            "EmploymentRegistrationRecorded" => {
                let m = pb::EmploymentRegistrationRecorded::decode(payload).map_err(bad)?;
                let fact = Fact::Employment {
                    status: RegistrationStatus::from_wire(m.status).ok_or_else(unknown_status)?,
                    on: decode_day(t, &m.on)?,
                    occupation: m.occupation,
                };
                (m.person_id, m.record_id, fact)
            }
            "InjuryProtectionEnrolled" => {
                let m = pb::InjuryProtectionEnrolled::decode(payload).map_err(bad)?;
                let fact = Fact::Protection {
                    platform: m.platform,
                    enrolled_on: decode_day(t, &m.enrolled_on)?,
                };
                (m.person_id, m.record_id, fact)
            }
            "InjuryClaimRecorded" => {
                let m = pb::InjuryClaimRecorded::decode(payload).map_err(bad)?;
                let fact = Fact::Claim {
                    status: ClaimStatus::from_wire(m.status).ok_or_else(unknown_status)?,
                    accident_on: decode_day(t, &m.accident_on)?,
                    status_on: decode_day(t, &m.status_on)?,
                    paid_fen: m.paid_fen,
                };
                (m.person_id, m.record_id, fact)
            }
            "TrainingSubsidyRecorded" => {
                let m = pb::TrainingSubsidyRecorded::decode(payload).map_err(bad)?;
                let fact = Fact::Subsidy {
                    course: m.course,
                    status: SubsidyStatus::from_wire(m.status).ok_or_else(unknown_status)?,
                    status_on: decode_day(t, &m.status_on)?,
                    amount_fen: m.amount_fen,
                };
                (m.person_id, m.record_id, fact)
            }
            other => return Err(DecodeError::unknown(other, schema_version)),
        };
        Ok(Self::Recorded {
            person_id: decode_id(t, &person_id)?,
            record_id,
            fact,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hongxin_testkit::given::given;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 3, d).expect("day")
    }

    fn person() -> Uuid {
        Uuid::from_u128(7)
    }

    fn subsidy(status: SubsidyStatus, on: u32) -> Fact {
        subsidy_of(status, on, 150_000)
    }

    fn subsidy_of(status: SubsidyStatus, on: u32, amount_fen: i64) -> Fact {
        Fact::Subsidy {
            course: "电工".into(),
            status,
            status_on: day(on),
            amount_fen,
        }
    }

    fn record(record_id: &str, fact: Fact) -> Command {
        Command::Record {
            person_id: person(),
            record_id: record_id.into(),
            fact,
        }
    }

    fn recorded(record_id: &str, fact: Fact) -> Event {
        Event::Recorded {
            person_id: person(),
            record_id: record_id.into(),
            fact,
        }
    }

    #[test]
    fn a_new_record_is_recorded_and_the_same_record_again_changes_nothing() {
        let fact = Fact::Protection {
            platform: "美团".into(),
            enrolled_on: day(2),
        };
        given(HrRecordsDecider, [])
            .when(record(
                " ZS-001 ",
                Fact::Protection {
                    platform: " 美团 ".into(),
                    enrolled_on: day(2),
                },
            ))
            .then([recorded("ZS-001", fact.clone())]);
        given(HrRecordsDecider, [recorded("ZS-001", fact.clone())])
            .when(record("ZS-001", fact.clone()))
            .then([]);
        // Another kind with the same id is another record.
        let employment = Fact::Employment {
            status: RegistrationStatus::Registered,
            on: day(1),
            occupation: String::new(),
        };
        given(HrRecordsDecider, [recorded("ZS-001", fact)])
            .when(record("ZS-001", employment.clone()))
            .then([recorded("ZS-001", employment)]);
    }

    #[test]
    fn a_newer_status_is_a_new_fact_and_an_older_one_is_refused() {
        let applied = recorded("BT-9", subsidy(SubsidyStatus::Applied, 3));
        let state = given(HrRecordsDecider, [applied.clone()])
            .when(record("BT-9", subsidy(SubsidyStatus::Paid, 9)))
            .then([recorded("BT-9", subsidy(SubsidyStatus::Paid, 9))]);
        assert_eq!(
            state.get(Kind::Subsidy, "BT-9"),
            Some(&subsidy(SubsidyStatus::Paid, 9))
        );
        let paid = recorded("BT-9", subsidy(SubsidyStatus::Paid, 9));
        given(HrRecordsDecider, [applied.clone(), paid.clone()])
            .when(record("BT-9", subsidy(SubsidyStatus::Approved, 10)))
            .then_rejected("已发放 2022-03-09");
        // The same status on an earlier day is older too.
        given(HrRecordsDecider, [applied.clone(), paid])
            .when(record("BT-9", subsidy(SubsidyStatus::Paid, 8)))
            .then_rejected("this status is older");
        // A correction at the same standing (the amount) is recorded.
        let corrected = subsidy_of(SubsidyStatus::Applied, 3, 120_000);
        given(HrRecordsDecider, [applied])
            .when(record("BT-9", corrected.clone()))
            .then([recorded("BT-9", corrected)]);
    }

    #[test]
    fn claims_move_from_report_to_payment_and_only_a_paid_claim_has_an_amount() {
        let claim = |status, on, paid_fen| Fact::Claim {
            status,
            accident_on: day(1),
            status_on: day(on),
            paid_fen,
        };
        given(
            HrRecordsDecider,
            [recorded("GS-1", claim(ClaimStatus::Reported, 1, 0))],
        )
        .when(record("GS-1", claim(ClaimStatus::Confirmed, 5, 0)))
        .then([recorded("GS-1", claim(ClaimStatus::Confirmed, 5, 0))]);
        given(HrRecordsDecider, [])
            .when(record("GS-1", claim(ClaimStatus::Paid, 5, 0)))
            .then_invalid("paid_fen");
        given(HrRecordsDecider, [])
            .when(record("GS-1", claim(ClaimStatus::Reported, 5, 100)))
            .then_invalid("paid_fen");
        given(HrRecordsDecider, [])
            .when(record(
                "GS-1",
                Fact::Claim {
                    status: ClaimStatus::Reported,
                    accident_on: day(6),
                    status_on: day(5),
                    paid_fen: 0,
                },
            ))
            .then_invalid("status_on");
    }

    #[test]
    fn bad_records_are_invalid() {
        given(HrRecordsDecider, [])
            .when(record("", subsidy(SubsidyStatus::Applied, 3)))
            .then_invalid("record.record_id");
        given(HrRecordsDecider, [])
            .when(record("X", subsidy_of(SubsidyStatus::Applied, 3, 0)))
            .then_invalid("amount_fen");
        given(HrRecordsDecider, [])
            .when(record(
                "X",
                Fact::Protection {
                    platform: " ".into(),
                    enrolled_on: day(1),
                },
            ))
            .then_invalid("platform");
        let future = NaiveDate::from_ymd_opt(2999, 1, 1).expect("day");
        given(HrRecordsDecider, [])
            .when(record(
                "X",
                Fact::Employment {
                    status: RegistrationStatus::Registered,
                    on: future,
                    occupation: String::new(),
                },
            ))
            .then_invalid("on");
    }

    #[test]
    fn events_round_trip_through_their_codec() {
        for fact in [
            Fact::Employment {
                status: RegistrationStatus::Cancelled,
                on: day(4),
                occupation: "网约配送员".into(),
            },
            Fact::Protection {
                platform: "饿了么".into(),
                enrolled_on: day(2),
            },
            Fact::Claim {
                status: ClaimStatus::Paid,
                accident_on: day(1),
                status_on: day(20),
                paid_fen: 1_234_567,
            },
            subsidy(SubsidyStatus::Refused, 7),
        ] {
            let event = recorded("R-1", fact);
            let back = Event::decode(event.event_type(), 1, &event.encode()).expect("decodes");
            assert_eq!(back, event);
        }
        assert!(Event::decode("TrainingSubsidyRecorded", 2, &[]).is_err());
    }
}
