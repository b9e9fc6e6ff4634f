//! Party organisations 党组织 of the new economy and the units they cover.
//!
//! The rules (《中国共产党支部工作条例》 as the domain page restates them): a
//! unit with 3 or more full members forms its own branch; units with fewer
//! join a joint branch of at most 5 nearby or same-trade units, which itself
//! needs 3 full members; a unit is covered by one organisation at most.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{
    CommandError, Decider, DecodeError, DomainEvent, FieldViolation, create_once,
};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, decode_optional_id, malformed};
use crate::person::PartyStatus;

/// Full members a unit needs to form its own branch.
pub const OWN_BRANCH_MIN_MEMBERS: u32 = 3;
/// Most units one joint branch covers.
pub const JOINT_BRANCH_MAX_UNITS: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Committee,
    GeneralBranch,
    Branch,
    JointBranch,
}

impl Kind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::PartyOrganizationKind::try_from(raw).ok()? {
            pb::PartyOrganizationKind::Committee => Some(Self::Committee),
            pb::PartyOrganizationKind::GeneralBranch => Some(Self::GeneralBranch),
            pb::PartyOrganizationKind::Branch => Some(Self::Branch),
            pb::PartyOrganizationKind::JointBranch => Some(Self::JointBranch),
            pb::PartyOrganizationKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::PartyOrganizationKind {
        match self {
            Self::Committee => pb::PartyOrganizationKind::Committee,
            Self::GeneralBranch => pb::PartyOrganizationKind::GeneralBranch,
            Self::Branch => pb::PartyOrganizationKind::Branch,
            Self::JointBranch => pb::PartyOrganizationKind::JointBranch,
        }
    }

    /// Whether organisations of this kind may have others report to them.
    pub fn leads_others(self) -> bool {
        matches!(self, Self::Committee | Self::GeneralBranch)
    }
}

/// What founding records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Founding {
    pub organization_id: Uuid,
    pub name: String,
    pub kind: Kind,
    pub parent: Option<Uuid>,
    pub covered: Vec<Uuid>,
    pub secretary: Option<Uuid>,
    pub founded_on: NaiveDate,
}

/// What the service knows of a unit to be covered, looked up before the
/// command is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    pub enterprise_id: Uuid,
    pub full_members: u32,
    pub covered_by: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Found {
        founding: Founding,
        units: Vec<Unit>,
    },
    /// A member joined (probationary), was confirmed (full) or left (none)
    /// through the development pipeline.
    RecordMember {
        person_id: Uuid,
        status: PartyStatus,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Founded(Founding),
    MemberRecorded {
        organization_id: Uuid,
        person_id: Uuid,
        status: PartyStatus,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub founding: Founding,
    /// Members who joined through the pipeline, by status.
    pub roster: BTreeMap<Uuid, PartyStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Organization>);

#[derive(Clone, Copy, Debug, Default)]
pub struct PartyOrganizationDecider;

impl Decider for PartyOrganizationDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "party_organization";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let (founding, units) = match command {
            Command::Found { founding, units } => (founding, units),
            Command::RecordMember { person_id, status } => {
                let Some(o) = &state.0 else {
                    return Err(CommandError::not_found("no such Party organisation"));
                };
                let current = o.roster.get(person_id).copied();
                if current == Some(*status) || (current.is_none() && !status.is_member()) {
                    return Ok(vec![]);
                }
                return Ok(vec![Event::MemberRecorded {
                    organization_id: o.founding.organization_id,
                    person_id: *person_id,
                    status: *status,
                }]);
            }
        };
        let mut v = text_violations("name", &founding.name, 100);
        if founding.founded_on > beijing_today(now) {
            v.push(FieldViolation::new(
                "founded_on",
                "must not be in the future",
            ));
        }
        for (i, id) in founding.covered.iter().enumerate() {
            if founding.covered[..i].contains(id) {
                v.push(FieldViolation::new(
                    format!("covered_enterprise_ids[{i}]"),
                    "is listed twice",
                ));
            }
        }
        if founding.parent == Some(founding.organization_id) {
            v.push(FieldViolation::new(
                "parent_organization_id",
                "must not be the organisation itself",
            ));
        }
        if !v.is_empty() {
            return Err(CommandError::Invalid(v));
        }
        let founding = Founding {
            name: founding.name.trim().to_owned(),
            ..founding.clone()
        };
        create_once(
            state.0.as_ref().map(|o| o.founding.clone()),
            founding,
            |f| {
                format!(
                    "Party organisation {} is already founded as “{}”",
                    f.organization_id, f.name
                )
            },
            |f| {
                check_coverage(&f, units)?;
                Ok(vec![Event::Founded(f)])
            },
        )
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Founded(f) => State(Some(Organization {
                founding: f.clone(),
                roster: BTreeMap::new(),
            })),
            Event::MemberRecorded {
                person_id, status, ..
            } => State(state.0.map(|mut o| {
                if status.is_member() {
                    o.roster.insert(*person_id, *status);
                } else {
                    o.roster.remove(person_id);
                }
                o
            })),
        }
    }
}

/// The branch rules, in words a county officer reads.
fn check_coverage(founding: &Founding, units: &[Unit]) -> Result<(), CommandError> {
    let n = founding.covered.len();
    for unit in units {
        if let Some(other) = unit.covered_by.filter(|o| *o != founding.organization_id) {
            return Err(CommandError::rejected(format!(
                "enterprise {} is already covered by Party organisation {other}; a unit is covered by one organisation only",
                unit.enterprise_id
            )));
        }
    }
    let members = |id: &Uuid| {
        units
            .iter()
            .find(|u| u.enterprise_id == *id)
            .map_or(0, |u| u.full_members)
    };
    match founding.kind {
        Kind::Committee | Kind::GeneralBranch if n > 0 => Err(CommandError::rejected(
            "a Party committee or general branch leads branches; the units themselves are covered by branches or joint branches",
        )),
        Kind::Committee | Kind::GeneralBranch => Ok(()),
        Kind::Branch if n > 1 => Err(CommandError::rejected(
            "a branch is formed in one unit; several units with few members form a joint branch",
        )),
        Kind::Branch => match founding.covered.first() {
            Some(id) if members(id) < OWN_BRANCH_MIN_MEMBERS => {
                Err(CommandError::rejected(format!(
                    "enterprise {id} has {} full Party members; a unit needs at least 3 to form its own branch (fewer: join a joint branch)",
                    members(id)
                )))
            }
            _ => Ok(()),
        },
        Kind::JointBranch => {
            if !(2..=JOINT_BRANCH_MAX_UNITS).contains(&n) {
                return Err(CommandError::rejected(format!(
                    "a joint branch covers 2 to 5 units, not {n}"
                )));
            }
            if let Some(big) = founding
                .covered
                .iter()
                .find(|id| members(id) >= OWN_BRANCH_MIN_MEMBERS)
            {
                return Err(CommandError::rejected(format!(
                    "enterprise {big} has {} full Party members and must form its own branch",
                    members(big)
                )));
            }
            let total: u32 = founding.covered.iter().map(members).sum();
            if total < OWN_BRANCH_MIN_MEMBERS {
                return Err(CommandError::rejected(format!(
                    "the units have {total} full Party members together; a joint branch needs at least 3 (otherwise assign a Party-building instructor)"
                )));
            }
            Ok(())
        }
    }
}

impl Organization {
    pub(crate) fn to_wire(&self, version: u64) -> pb::PartyOrganization {
        let count = |status| self.roster.values().filter(|s| **s == status).count() as u32;
        pb::PartyOrganization {
            may_approve_members: self.founding.kind == Kind::Committee,
            roster_full_members: count(PartyStatus::Full),
            roster_probationary_members: count(PartyStatus::Probationary),
            ..self.founding.to_wire(version)
        }
    }
}

impl Founding {
    pub(crate) fn to_wire(&self, version: u64) -> pb::PartyOrganization {
        pb::PartyOrganization {
            organization_id: self.organization_id.to_string(),
            name: self.name.clone(),
            kind: self.kind.to_wire() as i32,
            parent_organization_id: self.parent.map(|p| p.to_string()).unwrap_or_default(),
            covered_enterprise_ids: self.covered.iter().map(Uuid::to_string).collect(),
            secretary_person_id: self.secretary.map(|p| p.to_string()).unwrap_or_default(),
            founded_on: format_day(self.founded_on),
            version,
            may_approve_members: false,
            roster_full_members: 0,
            roster_probationary_members: 0,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Founded(_) => "PartyOrganizationFounded",
            Self::MemberRecorded { .. } => "PartyOrganizationMemberRecorded",
        }
    }

    fn encode(&self) -> Vec<u8> {
        let f = match self {
            Self::Founded(f) => f,
            Self::MemberRecorded {
                organization_id,
                person_id,
                status,
            } => {
                return pb::PartyOrganizationMemberRecorded {
                    organization_id: organization_id.to_string(),
                    person_id: person_id.to_string(),
                    party_status: status.to_wire() as i32,
                }
                .encode_to_vec();
            }
        };
        let o = f.to_wire(0);
        pb::PartyOrganizationFounded {
            organization_id: o.organization_id,
            name: o.name,
            kind: o.kind,
            parent_organization_id: o.parent_organization_id,
            covered_enterprise_ids: o.covered_enterprise_ids,
            secretary_person_id: o.secretary_person_id,
            founded_on: o.founded_on,
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if (event_type, schema_version) == ("PartyOrganizationMemberRecorded", 1) {
            let e = pb::PartyOrganizationMemberRecorded::decode(payload)
                .map_err(|e| malformed(event_type, e))?;
            return Ok(Self::MemberRecorded {
                organization_id: decode_id(event_type, &e.organization_id)?,
                person_id: decode_id(event_type, &e.person_id)?,
                status: PartyStatus::from_wire(e.party_status)
                    .ok_or_else(|| malformed(event_type, "unknown Party status"))?,
            });
        }
        if (event_type, schema_version) != ("PartyOrganizationFounded", 1) {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let e =
            pb::PartyOrganizationFounded::decode(payload).map_err(|e| malformed(event_type, e))?;
        Ok(Self::Founded(Founding {
            organization_id: decode_id(event_type, &e.organization_id)?,
            kind: Kind::from_wire(e.kind).ok_or_else(|| malformed(event_type, "unknown kind"))?,
            parent: decode_optional_id(event_type, &e.parent_organization_id)?,
            covered: e
                .covered_enterprise_ids
                .iter()
                .map(|id| decode_id(event_type, id))
                .collect::<Result<_, _>>()?,
            secretary: decode_optional_id(event_type, &e.secretary_person_id)?,
            founded_on: parse_day(&e.founded_on)
                .ok_or_else(|| malformed(event_type, "bad founding date"))?,
            name: e.name,
        }))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use hongxin_testkit::given::given;

    use super::*;

    fn unit(n: u128, full_members: u32) -> Unit {
        Unit {
            enterprise_id: Uuid::from_u128(n),
            full_members,
            covered_by: None,
        }
    }

    fn founding(kind: Kind, covered: &[Unit]) -> Founding {
        Founding {
            organization_id: Uuid::from_u128(100),
            name: "顺丰速运齐河营业部党支部".to_owned(),
            kind,
            parent: None,
            covered: covered.iter().map(|u| u.enterprise_id).collect(),
            secretary: None,
            founded_on: NaiveDate::from_ymd_opt(2022, 5, 20).unwrap_or_default(),
        }
    }

    fn found(kind: Kind, units: &[Unit]) -> Command {
        Command::Found {
            founding: founding(kind, units),
            units: units.to_vec(),
        }
    }

    #[test]
    fn a_unit_with_three_full_members_forms_its_own_branch() {
        let units = [unit(1, 3)];
        given(PartyOrganizationDecider, [])
            .when(found(Kind::Branch, &units))
            .then([Event::Founded(founding(Kind::Branch, &units))]);
    }

    #[test]
    fn a_unit_with_two_full_members_cannot() {
        given(PartyOrganizationDecider, [])
            .when(found(Kind::Branch, &[unit(1, 2)]))
            .then_rejected("needs at least 3");
        given(PartyOrganizationDecider, [])
            .when(found(Kind::Branch, &[unit(1, 3), unit(2, 4)]))
            .then_rejected("formed in one unit");
    }

    #[test]
    fn a_joint_branch_covers_two_to_five_small_units_with_three_members_together() {
        let units = [unit(1, 1), unit(2, 1), unit(3, 1)];
        given(PartyOrganizationDecider, [])
            .when(found(Kind::JointBranch, &units))
            .then([Event::Founded(founding(Kind::JointBranch, &units))]);
        let six: Vec<Unit> = (1..=6).map(|n| unit(n, 1)).collect();
        given(PartyOrganizationDecider, [])
            .when(found(Kind::JointBranch, &six))
            .then_rejected("2 to 5 units");
        given(PartyOrganizationDecider, [])
            .when(found(Kind::JointBranch, &[unit(1, 2)]))
            .then_rejected("2 to 5 units");
        given(PartyOrganizationDecider, [])
            .when(found(Kind::JointBranch, &[unit(1, 1), unit(2, 3)]))
            .then_rejected("must form its own branch");
        given(PartyOrganizationDecider, [])
            .when(found(Kind::JointBranch, &[unit(1, 1), unit(2, 1)]))
            .then_rejected("needs at least 3");
    }

    #[test]
    fn five_units_is_the_joint_branch_limit() {
        let five: Vec<Unit> = (1..=5).map(|n| unit(n, 1)).collect();
        given(PartyOrganizationDecider, [])
            .when(found(Kind::JointBranch, &five))
            .then([Event::Founded(founding(Kind::JointBranch, &five))]);
    }

    #[test]
    fn a_unit_is_covered_by_one_organisation_only() {
        let mut taken = unit(1, 5);
        taken.covered_by = Some(Uuid::from_u128(555));
        given(PartyOrganizationDecider, [])
            .when(found(Kind::Branch, &[taken]))
            .then_rejected("already covered");
        // Covered by this very organisation (a retry) is fine.
        let mut mine = unit(1, 5);
        mine.covered_by = Some(Uuid::from_u128(100));
        given(
            PartyOrganizationDecider,
            [Event::Founded(founding(Kind::Branch, &[mine]))],
        )
        .when(found(Kind::Branch, &[mine]))
        .then([]);
    }

    #[test]
    fn committees_lead_branches_and_cover_no_unit_themselves() {
        given(PartyOrganizationDecider, [])
            .when(found(Kind::Committee, &[]))
            .then([Event::Founded(founding(Kind::Committee, &[]))]);
        given(PartyOrganizationDecider, [])
            .when(found(Kind::GeneralBranch, &[unit(1, 9)]))
            .then_rejected("leads branches");
    }

    #[test]
    fn the_founding_date_is_not_in_the_future_in_beijing() {
        // 2022-05-19 23:30 UTC is already 2022-05-20 in Beijing.
        let now = Utc
            .with_ymd_and_hms(2022, 5, 19, 23, 30, 0)
            .single()
            .unwrap_or_default();
        given(PartyOrganizationDecider, [])
            .at(now)
            .when(found(Kind::Branch, &[unit(1, 3)]))
            .then([Event::Founded(founding(Kind::Branch, &[unit(1, 3)]))]);
        let earlier = Utc
            .with_ymd_and_hms(2022, 5, 19, 15, 59, 0)
            .single()
            .unwrap_or_default();
        given(PartyOrganizationDecider, [])
            .at(earlier)
            .when(found(Kind::Branch, &[unit(1, 3)]))
            .then_invalid("founded_on");
    }

    #[test]
    fn the_roster_follows_the_pipeline_once_per_change() {
        let founded = Event::Founded(founding(Kind::Committee, &[]));
        let p = Uuid::from_u128(7);
        let record = |status| Command::RecordMember {
            person_id: p,
            status,
        };
        let joined = Event::MemberRecorded {
            organization_id: Uuid::from_u128(100),
            person_id: p,
            status: PartyStatus::Probationary,
        };
        given(PartyOrganizationDecider, [founded.clone()])
            .when(record(PartyStatus::Probationary))
            .then([joined.clone()]);
        let state = given(PartyOrganizationDecider, [founded.clone(), joined.clone()])
            .when(record(PartyStatus::Probationary))
            .then([]);
        let wire = state.0.expect("organization").to_wire(2);
        assert_eq!(wire.roster_probationary_members, 1);
        assert!(
            wire.may_approve_members,
            "a Party committee approves members"
        );
        // Leaving someone who never joined changes nothing.
        given(PartyOrganizationDecider, [founded])
            .when(record(PartyStatus::None))
            .then([]);
        assert!(matches!(
            given(PartyOrganizationDecider, [])
                .when(record(PartyStatus::Full))
                .then_error(),
            CommandError::NotFound(_)
        ));
    }

    #[test]
    fn a_retry_with_other_data_is_refused_and_lists_are_clean() {
        let units = [unit(1, 3)];
        let other = Command::Found {
            founding: Founding {
                name: "另一个党支部".to_owned(),
                ..founding(Kind::Branch, &units)
            },
            units: units.to_vec(),
        };
        given(
            PartyOrganizationDecider,
            [Event::Founded(self::founding(Kind::Branch, &units))],
        )
        .when(other)
        .then_rejected("already founded");
        let twice = Command::Found {
            founding: Founding {
                covered: vec![Uuid::from_u128(1), Uuid::from_u128(1)],
                ..self::founding(Kind::JointBranch, &[])
            },
            units: vec![unit(1, 1)],
        };
        given(PartyOrganizationDecider, [])
            .when(twice)
            .then_invalid("covered_enterprise_ids[1]");
    }
}
