//! Industry Party committees 行业党委: one per industry of the new
//! employment groups, led by a county department, with a list of
//! responsibilities.

use chrono::{DateTime, Utc};
use hongxin_domain::{
    CommandError, Decider, DecodeError, DomainEvent, FieldViolation, create_once,
};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, malformed};
use hongxin_domain::text::{check_text, text_violations};

/// Most responsibilities a committee lists (the article names ten).
const MAX_RESPONSIBILITIES: usize = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Industry {
    /// 快递
    Express,
    /// 外卖
    FoodDelivery,
    /// 直播电商
    LiveCommerce,
    /// 交通运输
    Transport,
}

impl Industry {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::Industry::try_from(raw).ok()? {
            pb::Industry::Express => Some(Self::Express),
            pb::Industry::FoodDelivery => Some(Self::FoodDelivery),
            pb::Industry::LiveCommerce => Some(Self::LiveCommerce),
            pb::Industry::Transport => Some(Self::Transport),
            pb::Industry::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::Industry {
        match self {
            Self::Express => pb::Industry::Express,
            Self::FoodDelivery => pb::Industry::FoodDelivery,
            Self::LiveCommerce => pb::Industry::LiveCommerce,
            Self::Transport => pb::Industry::Transport,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Register {
        committee_id: Uuid,
        name: String,
        industry: Industry,
        lead_department: String,
    },
    SetResponsibilities {
        responsibilities: Vec<String>,
    },
    SetMembers {
        members: Vec<Member>,
    },
}

/// A person on the committee and their role (书记, 副书记, 委员, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub person_id: Uuid,
    pub role: String,
}

/// Most members one committee lists.
const MAX_MEMBERS: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Registered {
        committee_id: Uuid,
        name: String,
        industry: Industry,
        lead_department: String,
    },
    ResponsibilitiesSet {
        committee_id: Uuid,
        responsibilities: Vec<String>,
    },
    MembersSet {
        committee_id: Uuid,
        members: Vec<Member>,
    },
}

/// A committee as its events leave it; `None` before it is registered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Committee>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    pub committee_id: Uuid,
    pub name: String,
    pub industry: Industry,
    pub lead_department: String,
    pub responsibilities: Vec<String>,
    pub members: Vec<Member>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CommitteeDecider;

impl Decider for CommitteeDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "industry_committee";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        match command {
            Command::Register {
                committee_id,
                name,
                industry,
                lead_department,
            } => {
                let mut v = text_violations("name", name, 100);
                v.extend(text_violations("lead_department", lead_department, 100));
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                let existing = state.0.as_ref().map(|c| {
                    (
                        c.committee_id,
                        c.name.as_str(),
                        c.industry,
                        c.lead_department.as_str(),
                    )
                });
                let wanted = (
                    *committee_id,
                    name.trim(),
                    *industry,
                    lead_department.trim(),
                );
                create_once(
                    existing,
                    wanted,
                    |(id, name, ..)| {
                        format!("industry committee {id} is already registered as “{name}”")
                    },
                    |(committee_id, name, industry, lead_department)| {
                        Ok(vec![Event::Registered {
                            committee_id,
                            name: name.to_owned(),
                            industry,
                            lead_department: lead_department.to_owned(),
                        }])
                    },
                )
            }
            Command::SetResponsibilities { responsibilities } => {
                let Some(c) = &state.0 else {
                    return Err(CommandError::not_found("no such industry committee"));
                };
                let list = check_responsibilities(responsibilities)?;
                if list == c.responsibilities {
                    return Ok(vec![]);
                }
                Ok(vec![Event::ResponsibilitiesSet {
                    committee_id: c.committee_id,
                    responsibilities: list,
                }])
            }
            Command::SetMembers { members } => {
                let Some(c) = &state.0 else {
                    return Err(CommandError::not_found("no such industry committee"));
                };
                let members = check_members(members)?;
                if members == c.members {
                    return Ok(vec![]);
                }
                Ok(vec![Event::MembersSet {
                    committee_id: c.committee_id,
                    members,
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Registered {
                committee_id,
                name,
                industry,
                lead_department,
            } => State(Some(Committee {
                committee_id: *committee_id,
                name: name.clone(),
                industry: *industry,
                lead_department: lead_department.clone(),
                responsibilities: Vec::new(),
                members: Vec::new(),
            })),
            Event::MembersSet { members, .. } => State(state.0.map(|c| Committee {
                members: members.clone(),
                ..c
            })),
            Event::ResponsibilitiesSet {
                responsibilities, ..
            } => State(state.0.map(|c| Committee {
                responsibilities: responsibilities.clone(),
                ..c
            })),
        }
    }
}

fn check_members(members: &[Member]) -> Result<Vec<Member>, CommandError> {
    let mut v: Vec<FieldViolation> = Vec::new();
    if members.len() > MAX_MEMBERS {
        v.push(FieldViolation::new("members", "at most 50 members"));
    }
    let mut out: Vec<Member> = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        match check_text(&m.role, 20) {
            Err(description) => v.push(FieldViolation::new(
                format!("members[{i}].role"),
                description,
            )),
            Ok(_) if out.iter().any(|o| o.person_id == m.person_id) => v.push(FieldViolation::new(
                format!("members[{i}].person_id"),
                "is listed twice",
            )),
            Ok(role) => out.push(Member {
                person_id: m.person_id,
                role: role.to_owned(),
            }),
        }
    }
    if v.is_empty() {
        Ok(out)
    } else {
        Err(CommandError::Invalid(v))
    }
}

pub(crate) fn members_to_wire(members: &[Member]) -> Vec<pb::CommitteeMember> {
    members
        .iter()
        .map(|m| pb::CommitteeMember {
            person_id: m.person_id.to_string(),
            role: m.role.clone(),
        })
        .collect()
}

fn check_responsibilities(items: &[String]) -> Result<Vec<String>, CommandError> {
    let mut v: Vec<FieldViolation> = Vec::new();
    if items.len() > MAX_RESPONSIBILITIES {
        v.push(FieldViolation::new(
            "responsibilities",
            "at most 30 responsibilities",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("responsibilities[{i}]");
        match check_text(item, 200) {
            Err(description) => v.push(FieldViolation::new(field, description)),
            Ok(text) if out.iter().any(|o| o == text) => {
                v.push(FieldViolation::new(field, "is listed twice"))
            }
            Ok(text) => out.push(text.to_owned()),
        }
    }
    if v.is_empty() {
        Ok(out)
    } else {
        Err(CommandError::Invalid(v))
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered { .. } => "IndustryCommitteeRegistered",
            Self::ResponsibilitiesSet { .. } => "IndustryCommitteeResponsibilitiesSet",
            Self::MembersSet { .. } => "IndustryCommitteeMembersSet",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Registered {
                committee_id,
                name,
                industry,
                lead_department,
            } => pb::IndustryCommitteeRegistered {
                committee_id: committee_id.to_string(),
                name: name.clone(),
                industry: industry.to_wire() as i32,
                lead_department: lead_department.clone(),
            }
            .encode_to_vec(),
            Self::ResponsibilitiesSet {
                committee_id,
                responsibilities,
            } => pb::IndustryCommitteeResponsibilitiesSet {
                committee_id: committee_id.to_string(),
                responsibilities: responsibilities.clone(),
            }
            .encode_to_vec(),
            Self::MembersSet {
                committee_id,
                members,
            } => pb::IndustryCommitteeMembersSet {
                committee_id: committee_id.to_string(),
                members: members_to_wire(members),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("IndustryCommitteeRegistered", 1) => {
                let e = pb::IndustryCommitteeRegistered::decode(payload)
                    .map_err(|e| malformed(event_type, e))?;
                Ok(Self::Registered {
                    committee_id: decode_id(event_type, &e.committee_id)?,
                    industry: Industry::from_wire(e.industry)
                        .ok_or_else(|| malformed(event_type, "unknown industry"))?,
                    name: e.name,
                    lead_department: e.lead_department,
                })
            }
            ("IndustryCommitteeMembersSet", 1) => {
                let e = pb::IndustryCommitteeMembersSet::decode(payload)
                    .map_err(|e| malformed(event_type, e))?;
                Ok(Self::MembersSet {
                    committee_id: decode_id(event_type, &e.committee_id)?,
                    members: e
                        .members
                        .into_iter()
                        .map(|m| {
                            Ok(Member {
                                person_id: decode_id(event_type, &m.person_id)?,
                                role: m.role,
                            })
                        })
                        .collect::<Result<_, DecodeError>>()?,
                })
            }
            ("IndustryCommitteeResponsibilitiesSet", 1) => {
                let e = pb::IndustryCommitteeResponsibilitiesSet::decode(payload)
                    .map_err(|e| malformed(event_type, e))?;
                Ok(Self::ResponsibilitiesSet {
                    committee_id: decode_id(event_type, &e.committee_id)?,
                    responsibilities: e.responsibilities,
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

    fn id() -> Uuid {
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)
    }

    fn registered() -> Event {
        Event::Registered {
            committee_id: id(),
            name: "快递行业党委".to_owned(),
            industry: Industry::Express,
            lead_department: "县邮政管理局".to_owned(),
        }
    }

    fn register(name: &str) -> Command {
        Command::Register {
            committee_id: id(),
            name: name.to_owned(),
            industry: Industry::Express,
            lead_department: "县邮政管理局".to_owned(),
        }
    }

    #[test]
    fn a_committee_is_registered_with_trimmed_names() {
        given(CommitteeDecider, [])
            .when(register("  快递行业党委 "))
            .then([registered()]);
    }

    #[test]
    fn registering_again_with_the_same_data_changes_nothing() {
        given(CommitteeDecider, [registered()])
            .when(register("快递行业党委"))
            .then([]);
    }

    #[test]
    fn registering_again_with_other_data_is_refused() {
        given(CommitteeDecider, [registered()])
            .when(register("外卖行业党委"))
            .then_rejected("already registered");
    }

    #[test]
    fn a_blank_or_overlong_name_is_invalid() {
        given(CommitteeDecider, [])
            .when(register("   "))
            .then_invalid("name");
        given(CommitteeDecider, [])
            .when(register(&"党".repeat(101)))
            .then_invalid("name");
        given(CommitteeDecider, [])
            .when(register("快递\u{0}党委"))
            .then_invalid("name");
    }

    #[test]
    fn responsibilities_are_set_on_an_existing_committee() {
        let list = vec!["组织覆盖".to_owned(), "发展党员".to_owned()];
        let state = given(CommitteeDecider, [registered()])
            .when(Command::SetResponsibilities {
                responsibilities: list.clone(),
            })
            .then([Event::ResponsibilitiesSet {
                committee_id: id(),
                responsibilities: list.clone(),
            }]);
        assert_eq!(state.0.map(|c| c.responsibilities), Some(list));
    }

    #[test]
    fn responsibilities_need_a_committee_and_clean_items() {
        let cmd = |items: &[&str]| Command::SetResponsibilities {
            responsibilities: items.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(matches!(
            given(CommitteeDecider, [])
                .when(cmd(&["组织覆盖"]))
                .then_error(),
            CommandError::NotFound(_)
        ));
        given(CommitteeDecider, [registered()])
            .when(cmd(&["组织覆盖", "组织覆盖"]))
            .then_invalid("responsibilities[1]");
        given(CommitteeDecider, [registered()])
            .when(cmd(&[""]))
            .then_invalid("responsibilities[0]");
        let many: Vec<String> = (0..31).map(|i| format!("职责{i}")).collect();
        given(CommitteeDecider, [registered()])
            .when(Command::SetResponsibilities {
                responsibilities: many,
            })
            .then_invalid("responsibilities");
    }

    #[test]
    fn unknown_event_types_and_versions_do_not_decode() {
        assert!(Event::decode("Nope", 1, &[]).is_err());
        assert!(Event::decode("IndustryCommitteeRegistered", 2, &registered().encode()).is_err());
        assert!(Event::decode("IndustryCommitteeRegistered", 1, &[0xff, 0xff]).is_err());
    }

    #[test]
    fn members_are_listed_once_each_with_a_role() {
        let registered = Event::Registered {
            committee_id: Uuid::from_u128(1),
            name: "快递行业党委".into(),
            industry: Industry::Express,
            lead_department: "县邮政管理局".into(),
        };
        let member = |n, role: &str| Member {
            person_id: Uuid::from_u128(n),
            role: role.to_owned(),
        };
        given(CommitteeDecider, [registered.clone()])
            .when(Command::SetMembers {
                members: vec![member(2, " 书记 "), member(3, "委员")],
            })
            .then([Event::MembersSet {
                committee_id: Uuid::from_u128(1),
                members: vec![member(2, "书记"), member(3, "委员")],
            }]);
        given(CommitteeDecider, [registered.clone()])
            .when(Command::SetMembers {
                members: vec![member(2, "书记"), member(2, "委员")],
            })
            .then_invalid("members[1].person_id");
        given(CommitteeDecider, [registered])
            .when(Command::SetMembers {
                members: vec![member(2, "")],
            })
            .then_invalid("members[0].role");
    }
}
