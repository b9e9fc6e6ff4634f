//! Enterprises and outlets of the new economy 新经济组织: platform branches,
//! stations and outlets, live-commerce studios. Their headcount and the Party
//! members among the workers decide how they must be covered by a Party
//! organisation.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::{check_text, text_violations};
use hongxin_domain::time::{format_day, parse_day};
use hongxin_domain::{
    CommandError, Decider, DecodeError, DomainEvent, FieldViolation, create_once,
};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, decode_optional_id, malformed};
use crate::committee::Industry;
use crate::person::PartyStatus;

/// Most workers a single unit may report; more is a typing error.
const MAX_WORKERS: u32 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PlatformBranch,
    Station,
    Studio,
    Other,
}

impl Kind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::EnterpriseKind::try_from(raw).ok()? {
            pb::EnterpriseKind::PlatformBranch => Some(Self::PlatformBranch),
            pb::EnterpriseKind::Station => Some(Self::Station),
            pb::EnterpriseKind::Studio => Some(Self::Studio),
            pb::EnterpriseKind::Other => Some(Self::Other),
            pb::EnterpriseKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::EnterpriseKind {
        match self {
            Self::PlatformBranch => pb::EnterpriseKind::PlatformBranch,
            Self::Station => pb::EnterpriseKind::Station,
            Self::Studio => pb::EnterpriseKind::Studio,
            Self::Other => pb::EnterpriseKind::Other,
        }
    }
}

/// Who works in the unit, as last reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Headcount {
    pub workers: u32,
    /// Full Party members 正式党员.
    pub full_members: u32,
    /// Probationary members 预备党员.
    pub probationary_members: u32,
}

/// What registration needs to know; references to other aggregates are
/// checked by the service before the command is decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub enterprise_id: Uuid,
    pub name: String,
    pub industry: Industry,
    pub kind: Kind,
    pub community_id: Uuid,
    pub platform_brand: String,
    pub parent_enterprise_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Register(Registration),
    ReportHeadcount(Headcount),
    /// Records the Party organisation that covers the unit.
    Cover {
        organization_id: Uuid,
        kind: crate::party::Kind,
    },
    /// A worker of the unit changed Party status through the pipeline.
    RecordMember {
        person_id: Uuid,
        status: PartyStatus,
    },
    /// A Party-building instructor 党建指导员 works with an uncovered unit.
    AssignInstructor {
        person_id: Uuid,
        on: NaiveDate,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Registered(Registration),
    HeadcountReported {
        enterprise_id: Uuid,
        headcount: Headcount,
    },
    Covered {
        enterprise_id: Uuid,
        organization_id: Uuid,
        kind: crate::party::Kind,
    },
    MemberRecorded {
        enterprise_id: Uuid,
        person_id: Uuid,
        status: PartyStatus,
        /// The headcount after the change.
        headcount: Headcount,
    },
    InstructorAssigned {
        enterprise_id: Uuid,
        person_id: Uuid,
        on: NaiveDate,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enterprise {
    pub registration: Registration,
    pub headcount: Headcount,
    pub covered_by: Option<Uuid>,
    /// Members whose status came through the pipeline, so a redelivered
    /// event counts once.
    pub members: BTreeMap<Uuid, PartyStatus>,
    pub instructor: Option<Uuid>,
}

/// The headcount once `person` moves from `from` (absent: not counted yet)
/// to `to`.
fn recount(h: Headcount, from: Option<PartyStatus>, to: PartyStatus) -> Headcount {
    let mut h = h;
    match from {
        Some(PartyStatus::Full) => h.full_members = h.full_members.saturating_sub(1),
        Some(PartyStatus::Probationary) => {
            h.probationary_members = h.probationary_members.saturating_sub(1);
        }
        _ => {}
    }
    match to {
        PartyStatus::Full => h.full_members += 1,
        PartyStatus::Probationary => h.probationary_members += 1,
        _ => {}
    }
    // A member is a worker of the unit, reported or not.
    h.workers = h.workers.max(h.full_members + h.probationary_members);
    h
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Enterprise>);

#[derive(Clone, Copy, Debug, Default)]
pub struct EnterpriseDecider;

impl Decider for EnterpriseDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "enterprise";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        match command {
            Command::Register(r) => {
                let mut v = text_violations("name", &r.name, 100);
                if !r.platform_brand.trim().is_empty() {
                    v.extend(text_violations("platform_brand", &r.platform_brand, 50));
                }
                if r.parent_enterprise_id == Some(r.enterprise_id) {
                    v.push(FieldViolation::new(
                        "parent_enterprise_id",
                        "must not be the enterprise itself",
                    ));
                }
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                let clean = Registration {
                    name: r.name.trim().to_owned(),
                    platform_brand: check_text(&r.platform_brand, 50).unwrap_or("").to_owned(),
                    ..r.clone()
                };
                create_once(
                    state.0.as_ref().map(|e| e.registration.clone()),
                    clean,
                    |r| {
                        format!(
                            "enterprise {} is already registered as “{}”",
                            r.enterprise_id, r.name
                        )
                    },
                    |r| Ok(vec![Event::Registered(r)]),
                )
            }
            Command::ReportHeadcount(h) => {
                let Some(e) = &state.0 else {
                    return Err(CommandError::not_found("no such enterprise"));
                };
                let mut v = Vec::new();
                if h.workers > MAX_WORKERS {
                    v.push(FieldViolation::new(
                        "headcount.workers",
                        "at most 100000 workers in one unit",
                    ));
                }
                if h.full_members.saturating_add(h.probationary_members) > h.workers {
                    v.push(FieldViolation::new(
                        "headcount.full_members",
                        "Party members cannot outnumber the workers",
                    ));
                }
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if e.headcount == *h {
                    return Ok(vec![]);
                }
                Ok(vec![Event::HeadcountReported {
                    enterprise_id: e.registration.enterprise_id,
                    headcount: *h,
                }])
            }
            Command::Cover {
                organization_id,
                kind,
            } => {
                let Some(e) = &state.0 else {
                    return Err(CommandError::not_found("no such enterprise"));
                };
                match e.covered_by {
                    Some(o) if o == *organization_id => Ok(vec![]),
                    Some(o) => Err(CommandError::rejected(format!(
                        "enterprise {} is already covered by Party organisation {o}",
                        e.registration.enterprise_id
                    ))),
                    None => Ok(vec![Event::Covered {
                        enterprise_id: e.registration.enterprise_id,
                        organization_id: *organization_id,
                        kind: *kind,
                    }]),
                }
            }
            Command::RecordMember { person_id, status } => {
                let Some(e) = &state.0 else {
                    return Err(CommandError::not_found("no such enterprise"));
                };
                let from = e.members.get(person_id).copied();
                if from == Some(*status) || (from.is_none() && !status.is_member()) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::MemberRecorded {
                    enterprise_id: e.registration.enterprise_id,
                    person_id: *person_id,
                    status: *status,
                    headcount: recount(e.headcount, from, *status),
                }])
            }
            Command::AssignInstructor { person_id, on } => {
                let Some(e) = &state.0 else {
                    return Err(CommandError::not_found("no such enterprise"));
                };
                if let Some(o) = e.covered_by {
                    return Err(CommandError::rejected(format!(
                        "enterprise {} is covered by Party organisation {o}; instructors work with units that have none",
                        e.registration.enterprise_id
                    )));
                }
                if e.instructor == Some(*person_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::InstructorAssigned {
                    enterprise_id: e.registration.enterprise_id,
                    person_id: *person_id,
                    on: *on,
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Registered(r) => State(Some(Enterprise {
                registration: r.clone(),
                headcount: Headcount::default(),
                covered_by: None,
                members: BTreeMap::new(),
                instructor: None,
            })),
            Event::MemberRecorded {
                person_id,
                status,
                headcount,
                ..
            } => State(state.0.map(|mut e| {
                if status.is_member() {
                    e.members.insert(*person_id, *status);
                } else {
                    e.members.remove(person_id);
                }
                e.headcount = *headcount;
                e
            })),
            Event::InstructorAssigned { person_id, .. } => State(state.0.map(|e| Enterprise {
                instructor: Some(*person_id),
                ..e
            })),
            Event::Covered {
                organization_id, ..
            } => State(state.0.map(|e| Enterprise {
                covered_by: Some(*organization_id),
                ..e
            })),
            Event::HeadcountReported { headcount, .. } => State(state.0.map(|e| Enterprise {
                headcount: *headcount,
                ..e
            })),
        }
    }
}

fn headcount_to_wire(h: &Headcount) -> pb::Headcount {
    pb::Headcount {
        workers: h.workers,
        full_members: h.full_members,
        probationary_members: h.probationary_members,
    }
}

pub(crate) fn headcount_from_wire(h: Option<&pb::Headcount>) -> Headcount {
    h.map_or_else(Headcount::default, |h| Headcount {
        workers: h.workers,
        full_members: h.full_members,
        probationary_members: h.probationary_members,
    })
}

impl Enterprise {
    pub(crate) fn to_wire(&self, version: u64) -> pb::Enterprise {
        let r = &self.registration;
        pb::Enterprise {
            enterprise_id: r.enterprise_id.to_string(),
            name: r.name.clone(),
            industry: r.industry.to_wire() as i32,
            kind: r.kind.to_wire() as i32,
            community_id: r.community_id.to_string(),
            platform_brand: r.platform_brand.clone(),
            parent_enterprise_id: r
                .parent_enterprise_id
                .map(|p| p.to_string())
                .unwrap_or_default(),
            headcount: Some(headcount_to_wire(&self.headcount)),
            version,
            covered_by_organization_id: self.covered_by.map(|o| o.to_string()).unwrap_or_default(),
            instructor_person_id: self.instructor.map(|p| p.to_string()).unwrap_or_default(),
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered(_) => "EnterpriseRegistered",
            Self::HeadcountReported { .. } => "EnterpriseHeadcountReported",
            Self::Covered { .. } => "EnterpriseCovered",
            Self::MemberRecorded { .. } => "EnterpriseMemberRecorded",
            Self::InstructorAssigned { .. } => "EnterpriseInstructorAssigned",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Registered(r) => pb::EnterpriseRegistered {
                enterprise_id: r.enterprise_id.to_string(),
                name: r.name.clone(),
                industry: r.industry.to_wire() as i32,
                kind: r.kind.to_wire() as i32,
                community_id: r.community_id.to_string(),
                platform_brand: r.platform_brand.clone(),
                parent_enterprise_id: r
                    .parent_enterprise_id
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
            }
            .encode_to_vec(),
            Self::HeadcountReported {
                enterprise_id,
                headcount,
            } => pb::EnterpriseHeadcountReported {
                enterprise_id: enterprise_id.to_string(),
                headcount: Some(headcount_to_wire(headcount)),
            }
            .encode_to_vec(),
            Self::Covered {
                enterprise_id,
                organization_id,
                kind,
            } => pb::EnterpriseCovered {
                enterprise_id: enterprise_id.to_string(),
                organization_id: organization_id.to_string(),
                kind: kind.to_wire() as i32,
            }
            .encode_to_vec(),
            Self::MemberRecorded {
                enterprise_id,
                person_id,
                status,
                headcount,
            } => pb::EnterpriseMemberRecorded {
                enterprise_id: enterprise_id.to_string(),
                person_id: person_id.to_string(),
                party_status: status.to_wire() as i32,
                headcount: Some(headcount_to_wire(headcount)),
            }
            .encode_to_vec(),
            Self::InstructorAssigned {
                enterprise_id,
                person_id,
                on,
            } => pb::EnterpriseInstructorAssigned {
                enterprise_id: enterprise_id.to_string(),
                person_id: person_id.to_string(),
                assigned_on: format_day(*on),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("EnterpriseRegistered", 1) => {
                let e = pb::EnterpriseRegistered::decode(payload)
                    .map_err(|e| malformed(event_type, e))?;
                Ok(Self::Registered(Registration {
                    enterprise_id: decode_id(event_type, &e.enterprise_id)?,
                    industry: Industry::from_wire(e.industry)
                        .ok_or_else(|| malformed(event_type, "unknown industry"))?,
                    kind: Kind::from_wire(e.kind)
                        .ok_or_else(|| malformed(event_type, "unknown kind"))?,
                    community_id: decode_id(event_type, &e.community_id)?,
                    parent_enterprise_id: decode_optional_id(event_type, &e.parent_enterprise_id)?,
                    name: e.name,
                    platform_brand: e.platform_brand,
                }))
            }
            ("EnterpriseHeadcountReported", 1) => {
                let e = pb::EnterpriseHeadcountReported::decode(payload)
                    .map_err(|e| malformed(event_type, e))?;
                Ok(Self::HeadcountReported {
                    enterprise_id: decode_id(event_type, &e.enterprise_id)?,
                    headcount: headcount_from_wire(e.headcount.as_ref()),
                })
            }
            ("EnterpriseCovered", 1) => {
                let e =
                    pb::EnterpriseCovered::decode(payload).map_err(|e| malformed(event_type, e))?;
                Ok(Self::Covered {
                    enterprise_id: decode_id(event_type, &e.enterprise_id)?,
                    organization_id: decode_id(event_type, &e.organization_id)?,
                    kind: crate::party::Kind::from_wire(e.kind)
                        .ok_or_else(|| malformed(event_type, "unknown kind"))?,
                })
            }
            ("EnterpriseMemberRecorded", 1) => {
                let e = pb::EnterpriseMemberRecorded::decode(payload)
                    .map_err(|e| malformed(event_type, e))?;
                Ok(Self::MemberRecorded {
                    enterprise_id: decode_id(event_type, &e.enterprise_id)?,
                    person_id: decode_id(event_type, &e.person_id)?,
                    status: PartyStatus::from_wire(e.party_status)
                        .ok_or_else(|| malformed(event_type, "unknown Party status"))?,
                    headcount: headcount_from_wire(e.headcount.as_ref()),
                })
            }
            ("EnterpriseInstructorAssigned", 1) => {
                let e = pb::EnterpriseInstructorAssigned::decode(payload)
                    .map_err(|e| malformed(event_type, e))?;
                Ok(Self::InstructorAssigned {
                    enterprise_id: decode_id(event_type, &e.enterprise_id)?,
                    person_id: decode_id(event_type, &e.person_id)?,
                    on: parse_day(&e.assigned_on)
                        .ok_or_else(|| malformed(event_type, "assigned_on is not a day"))?,
                })
            }
            _ => Err(DecodeError::unknown(event_type, schema_version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn registration() -> Registration {
        Registration {
            enterprise_id: Uuid::from_u128(1),
            name: "美团外卖齐河站".to_owned(),
            industry: Industry::FoodDelivery,
            kind: Kind::Station,
            community_id: Uuid::from_u128(2),
            platform_brand: "美团".to_owned(),
            parent_enterprise_id: None,
        }
    }

    fn headcount(workers: u32, full: u32, probationary: u32) -> Headcount {
        Headcount {
            workers,
            full_members: full,
            probationary_members: probationary,
        }
    }

    #[test]
    fn an_enterprise_is_registered_once() {
        let mut padded = registration();
        padded.name = " 美团外卖齐河站 ".to_owned();
        given(EnterpriseDecider, [])
            .when(Command::Register(padded))
            .then([Event::Registered(registration())]);
        given(EnterpriseDecider, [Event::Registered(registration())])
            .when(Command::Register(registration()))
            .then([]);
        let mut other = registration();
        other.name = "饿了么齐河站".to_owned();
        given(EnterpriseDecider, [Event::Registered(registration())])
            .when(Command::Register(other))
            .then_rejected("already registered");
    }

    #[test]
    fn an_enterprise_cannot_be_its_own_parent() {
        let mut r = registration();
        r.parent_enterprise_id = Some(r.enterprise_id);
        given(EnterpriseDecider, [])
            .when(Command::Register(r))
            .then_invalid("parent_enterprise_id");
    }

    #[test]
    fn headcount_is_reported_with_members_among_the_workers() {
        let state = given(EnterpriseDecider, [Event::Registered(registration())])
            .when(Command::ReportHeadcount(headcount(40, 3, 1)))
            .then([Event::HeadcountReported {
                enterprise_id: Uuid::from_u128(1),
                headcount: headcount(40, 3, 1),
            }]);
        assert_eq!(state.0.map(|e| e.headcount.full_members), Some(3));
    }

    #[test]
    fn a_unit_is_covered_once() {
        let org = Uuid::from_u128(9);
        let cover = |o| Command::Cover {
            organization_id: o,
            kind: crate::party::Kind::Branch,
        };
        let covered = Event::Covered {
            enterprise_id: Uuid::from_u128(1),
            organization_id: org,
            kind: crate::party::Kind::Branch,
        };
        let state = given(EnterpriseDecider, [Event::Registered(registration())])
            .when(cover(org))
            .then([covered.clone()]);
        assert_eq!(state.0.and_then(|e| e.covered_by), Some(org));
        given(
            EnterpriseDecider,
            [Event::Registered(registration()), covered.clone()],
        )
        .when(cover(org))
        .then([]);
        given(
            EnterpriseDecider,
            [Event::Registered(registration()), covered],
        )
        .when(cover(Uuid::from_u128(10)))
        .then_rejected("already covered");
    }

    #[test]
    fn members_from_the_pipeline_count_once_and_move_the_headcount() {
        let p = Uuid::from_u128(7);
        let reported = Event::HeadcountReported {
            enterprise_id: Uuid::from_u128(1),
            headcount: headcount(1, 1, 0),
        };
        let admitted = Event::MemberRecorded {
            enterprise_id: Uuid::from_u128(1),
            person_id: p,
            status: PartyStatus::Probationary,
            headcount: headcount(2, 1, 1),
        };
        let past = [Event::Registered(registration()), reported];
        given(EnterpriseDecider, past.clone())
            .when(Command::RecordMember {
                person_id: p,
                status: PartyStatus::Probationary,
            })
            .then([admitted.clone()]);
        let mut admitted_past = past.to_vec();
        admitted_past.push(admitted);
        // Redelivered: nothing.
        given(EnterpriseDecider, admitted_past.clone())
            .when(Command::RecordMember {
                person_id: p,
                status: PartyStatus::Probationary,
            })
            .then([]);
        let state = given(EnterpriseDecider, admitted_past.clone())
            .when(Command::RecordMember {
                person_id: p,
                status: PartyStatus::Full,
            })
            .then([Event::MemberRecorded {
                enterprise_id: Uuid::from_u128(1),
                person_id: p,
                status: PartyStatus::Full,
                headcount: headcount(2, 2, 0),
            }]);
        assert_eq!(state.0.map(|e| e.members.len()), Some(1));
        // A cancelled probation takes the member off again.
        given(EnterpriseDecider, admitted_past)
            .when(Command::RecordMember {
                person_id: p,
                status: PartyStatus::None,
            })
            .then([Event::MemberRecorded {
                enterprise_id: Uuid::from_u128(1),
                person_id: p,
                status: PartyStatus::None,
                headcount: headcount(2, 1, 0),
            }]);
    }

    #[test]
    fn instructors_work_with_uncovered_units_only() {
        let on = NaiveDate::from_ymd_opt(2022, 6, 1).unwrap_or_default();
        let assign = Command::AssignInstructor {
            person_id: Uuid::from_u128(8),
            on,
        };
        given(EnterpriseDecider, [Event::Registered(registration())])
            .when(assign.clone())
            .then([Event::InstructorAssigned {
                enterprise_id: Uuid::from_u128(1),
                person_id: Uuid::from_u128(8),
                on,
            }]);
        given(
            EnterpriseDecider,
            [
                Event::Registered(registration()),
                Event::Covered {
                    enterprise_id: Uuid::from_u128(1),
                    organization_id: Uuid::from_u128(9),
                    kind: crate::party::Kind::Branch,
                },
            ],
        )
        .when(assign)
        .then_rejected("instructors work with units that have none");
    }

    #[test]
    fn absurd_headcounts_are_refused() {
        let past = [Event::Registered(registration())];
        given(EnterpriseDecider, past.clone())
            .when(Command::ReportHeadcount(headcount(2, 2, 1)))
            .then_invalid("headcount.full_members");
        given(EnterpriseDecider, past)
            .when(Command::ReportHeadcount(headcount(100_001, 0, 0)))
            .then_invalid("headcount.workers");
        assert!(matches!(
            given(EnterpriseDecider, [])
                .when(Command::ReportHeadcount(headcount(1, 0, 0)))
                .then_error(),
            CommandError::NotFound(_)
        ));
    }
}
