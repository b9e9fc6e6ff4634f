//! Care activities 关爱活动: parent-child days, sports, free clinics, legal
//! aid, counselling. Registration up to capacity, then a waiting list; a
//! withdrawal gives the place to the first who waits; check-in once per
//! person. Two people racing for the last place: the store's optimistic
//! concurrency lets one decide first, and the other decides again on the
//! new state and waits.

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::format_day;
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::care::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{bad, day, id, optional_id};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ParentChild,
    Sports,
    FreeClinic,
    LegalAid,
    Counselling,
    Other,
}

impl Kind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        use pb::ActivityKind as W;
        match W::try_from(raw).ok()? {
            W::ParentChild => Some(Self::ParentChild),
            W::Sports => Some(Self::Sports),
            W::FreeClinic => Some(Self::FreeClinic),
            W::LegalAid => Some(Self::LegalAid),
            W::Counselling => Some(Self::Counselling),
            W::Other => Some(Self::Other),
            W::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::ActivityKind {
        use pb::ActivityKind as W;
        match self {
            Self::ParentChild => W::ParentChild,
            Self::Sports => W::Sports,
            Self::FreeClinic => W::FreeClinic,
            Self::LegalAid => W::LegalAid,
            Self::Counselling => W::Counselling,
            Self::Other => W::Other,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub activity_id: Uuid,
    pub kind: Kind,
    pub title: String,
    pub organiser: String,
    pub place: String,
    pub held_on: NaiveDate,
    pub capacity: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Plan(Plan),
    Register { person_id: Uuid },
    Withdraw { person_id: Uuid },
    CheckIn { person_id: Uuid },
    Cancel { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Planned(Plan),
    Registered {
        activity_id: Uuid,
        person_id: Uuid,
        waiting: bool,
    },
    Withdrawn {
        activity_id: Uuid,
        person_id: Uuid,
        promoted: Option<Uuid>,
    },
    CheckedIn {
        activity_id: Uuid,
        person_id: Uuid,
    },
    Cancelled {
        activity_id: Uuid,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    pub plan: Plan,
    pub registered: Vec<Uuid>,
    pub waiting: Vec<Uuid>,
    pub attended: Vec<Uuid>,
    pub cancelled: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Activity>);

#[derive(Clone, Copy, Debug, Default)]
pub struct ActivityDecider;

impl Decider for ActivityDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "activity";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        if let Command::Plan(plan) = command {
            let mut v = text_violations("title", &plan.title, 100);
            v.extend(text_violations("organiser", &plan.organiser, 100));
            v.extend(text_violations("place", &plan.place, 200));
            if !(1..=10_000).contains(&plan.capacity) {
                v.push(FieldViolation::new("capacity", "1 to 10000 places"));
            }
            if !v.is_empty() {
                return Err(CommandError::Invalid(v));
            }
            let clean = Plan {
                title: plan.title.trim().to_owned(),
                organiser: plan.organiser.trim().to_owned(),
                place: plan.place.trim().to_owned(),
                ..plan.clone()
            };
            return match &state.0 {
                None => Ok(vec![Event::Planned(clean)]),
                Some(a) if a.plan == clean => Ok(vec![]),
                Some(_) => Err(CommandError::rejected(format!(
                    "activity {} is already planned differently",
                    plan.activity_id
                ))),
            };
        }
        let a = state
            .0
            .as_ref()
            .ok_or_else(|| CommandError::not_found("no such activity"))?;
        let activity_id = a.plan.activity_id;
        if a.cancelled {
            return match command {
                Command::Cancel { .. } => Ok(vec![]),
                _ => Err(CommandError::rejected("the activity was cancelled")),
            };
        }
        match command {
            Command::Plan(_) => unreachable!("handled above"),
            Command::Register { person_id } => {
                if a.registered.contains(person_id) || a.waiting.contains(person_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Registered {
                    activity_id,
                    person_id: *person_id,
                    waiting: a.registered.len() >= a.plan.capacity as usize,
                }])
            }
            Command::Withdraw { person_id } => {
                if a.attended.contains(person_id) {
                    return Err(CommandError::rejected("already checked in"));
                }
                if a.waiting.contains(person_id) {
                    return Ok(vec![Event::Withdrawn {
                        activity_id,
                        person_id: *person_id,
                        promoted: None,
                    }]);
                }
                if !a.registered.contains(person_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Withdrawn {
                    activity_id,
                    person_id: *person_id,
                    promoted: a.waiting.first().copied(),
                }])
            }
            Command::CheckIn { person_id } => {
                if !a.registered.contains(person_id) {
                    return Err(CommandError::rejected("only people with a place check in"));
                }
                if a.attended.contains(person_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::CheckedIn {
                    activity_id,
                    person_id: *person_id,
                }])
            }
            Command::Cancel { reason } => {
                let v = text_violations("reason", reason, 200);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                Ok(vec![Event::Cancelled {
                    activity_id,
                    reason: reason.trim().to_owned(),
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Planned(plan) => State(Some(Activity {
                plan: plan.clone(),
                registered: Vec::new(),
                waiting: Vec::new(),
                attended: Vec::new(),
                cancelled: false,
            })),
            Event::Registered {
                person_id, waiting, ..
            } => State(state.0.map(|mut a| {
                if *waiting {
                    a.waiting.push(*person_id);
                } else {
                    a.registered.push(*person_id);
                }
                a
            })),
            Event::Withdrawn {
                person_id,
                promoted,
                ..
            } => State(state.0.map(|mut a| {
                a.registered.retain(|p| p != person_id);
                a.waiting.retain(|p| p != person_id);
                if let Some(p) = promoted {
                    a.waiting.retain(|w| w != p);
                    a.registered.push(*p);
                }
                a
            })),
            Event::CheckedIn { person_id, .. } => State(state.0.map(|mut a| {
                a.attended.push(*person_id);
                a
            })),
            Event::Cancelled { .. } => State(state.0.map(|mut a| {
                a.cancelled = true;
                a
            })),
        }
    }
}

impl Activity {
    pub fn to_wire(&self, version: u64) -> pb::Activity {
        let p = &self.plan;
        let ids = |v: &[Uuid]| v.iter().map(Uuid::to_string).collect();
        pb::Activity {
            activity_id: p.activity_id.to_string(),
            kind: p.kind.to_wire() as i32,
            title: p.title.clone(),
            organiser: p.organiser.clone(),
            place: p.place.clone(),
            held_on: format_day(p.held_on),
            capacity: p.capacity,
            registered_person_ids: ids(&self.registered),
            waiting_person_ids: ids(&self.waiting),
            attended_person_ids: ids(&self.attended),
            cancelled: self.cancelled,
            version,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Planned(_) => "ActivityPlanned",
            Self::Registered { .. } => "ActivityRegistered",
            Self::Withdrawn { .. } => "ActivityRegistrationWithdrawn",
            Self::CheckedIn { .. } => "ActivityCheckedIn",
            Self::Cancelled { .. } => "ActivityCancelled",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Planned(p) => pb::ActivityPlanned {
                activity_id: p.activity_id.to_string(),
                kind: p.kind.to_wire() as i32,
                title: p.title.clone(),
                organiser: p.organiser.clone(),
                place: p.place.clone(),
                held_on: format_day(p.held_on),
                capacity: p.capacity,
            }
            .encode_to_vec(),
            Self::Registered {
                activity_id,
                person_id,
                waiting,
            } => pb::ActivityRegistered {
                activity_id: activity_id.to_string(),
                person_id: person_id.to_string(),
                waiting: *waiting,
            }
            .encode_to_vec(),
            Self::Withdrawn {
                activity_id,
                person_id,
                promoted,
            } => pb::ActivityRegistrationWithdrawn {
                activity_id: activity_id.to_string(),
                person_id: person_id.to_string(),
                promoted_person_id: promoted.map(|p| p.to_string()).unwrap_or_default(),
            }
            .encode_to_vec(),
            Self::CheckedIn {
                activity_id,
                person_id,
            } => pb::ActivityCheckedIn {
                activity_id: activity_id.to_string(),
                person_id: person_id.to_string(),
            }
            .encode_to_vec(),
            Self::Cancelled {
                activity_id,
                reason,
            } => pb::ActivityCancelled {
                activity_id: activity_id.to_string(),
                reason: reason.clone(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (t, version) {
            ("ActivityPlanned", 1) => {
                let e = pb::ActivityPlanned::decode(payload).map_err(bad(t))?;
                Ok(Self::Planned(Plan {
                    activity_id: id(t, &e.activity_id)?,
                    kind: Kind::from_wire(e.kind)
                        .ok_or_else(|| DecodeError::malformed(t, "unknown kind"))?,
                    held_on: day(t, &e.held_on)?,
                    title: e.title,
                    organiser: e.organiser,
                    place: e.place,
                    capacity: e.capacity,
                }))
            }
            ("ActivityRegistered", 1) => {
                let e = pb::ActivityRegistered::decode(payload).map_err(bad(t))?;
                Ok(Self::Registered {
                    activity_id: id(t, &e.activity_id)?,
                    person_id: id(t, &e.person_id)?,
                    waiting: e.waiting,
                })
            }
            ("ActivityRegistrationWithdrawn", 1) => {
                let e = pb::ActivityRegistrationWithdrawn::decode(payload).map_err(bad(t))?;
                Ok(Self::Withdrawn {
                    activity_id: id(t, &e.activity_id)?,
                    person_id: id(t, &e.person_id)?,
                    promoted: optional_id(t, &e.promoted_person_id)?,
                })
            }
            ("ActivityCheckedIn", 1) => {
                let e = pb::ActivityCheckedIn::decode(payload).map_err(bad(t))?;
                Ok(Self::CheckedIn {
                    activity_id: id(t, &e.activity_id)?,
                    person_id: id(t, &e.person_id)?,
                })
            }
            ("ActivityCancelled", 1) => {
                let e = pb::ActivityCancelled::decode(payload).map_err(bad(t))?;
                Ok(Self::Cancelled {
                    activity_id: id(t, &e.activity_id)?,
                    reason: e.reason,
                })
            }
            _ => Err(DecodeError::unknown(t, version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn plan(capacity: u32) -> Plan {
        Plan {
            activity_id: Uuid::from_u128(1),
            kind: Kind::FreeClinic,
            title: "骑手义诊".into(),
            organiser: "县卫健局".into(),
            place: "党群服务中心".into(),
            held_on: NaiveDate::from_ymd_opt(2022, 6, 1).unwrap_or_default(),
            capacity,
        }
    }

    fn registered(n: u128, waiting: bool) -> Event {
        Event::Registered {
            activity_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(n),
            waiting,
        }
    }

    #[test]
    fn past_capacity_people_wait_and_a_withdrawal_promotes_the_first() {
        given(
            ActivityDecider,
            [Event::Planned(plan(1)), registered(7, false)],
        )
        .when(Command::Register {
            person_id: Uuid::from_u128(8),
        })
        .then([registered(8, true)]);
        let state = given(
            ActivityDecider,
            [
                Event::Planned(plan(1)),
                registered(7, false),
                registered(8, true),
                registered(9, true),
            ],
        )
        .when(Command::Withdraw {
            person_id: Uuid::from_u128(7),
        })
        .then([Event::Withdrawn {
            activity_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(7),
            promoted: Some(Uuid::from_u128(8)),
        }]);
        let a = state.0.expect("activity");
        assert_eq!(a.registered, [Uuid::from_u128(8)]);
        assert_eq!(a.waiting, [Uuid::from_u128(9)]);
    }

    #[test]
    fn check_in_is_for_people_with_a_place_and_counts_once() {
        let past = [
            Event::Planned(plan(1)),
            registered(7, false),
            registered(8, true),
        ];
        given(ActivityDecider, past.clone())
            .when(Command::CheckIn {
                person_id: Uuid::from_u128(8),
            })
            .then_rejected("only people with a place");
        let checked = Event::CheckedIn {
            activity_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(7),
        };
        let mut twice = past.to_vec();
        twice.push(checked);
        given(ActivityDecider, twice)
            .when(Command::CheckIn {
                person_id: Uuid::from_u128(7),
            })
            .then([]);
    }

    #[test]
    fn capacity_is_checked_and_a_cancelled_activity_takes_no_one() {
        given(ActivityDecider, [])
            .when(Command::Plan(plan(0)))
            .then_invalid("capacity");
        let cancelled = Event::Cancelled {
            activity_id: Uuid::from_u128(1),
            reason: "天气".into(),
        };
        given(ActivityDecider, [Event::Planned(plan(5)), cancelled])
            .when(Command::Register {
                person_id: Uuid::from_u128(7),
            })
            .then_rejected("cancelled");
    }
}
