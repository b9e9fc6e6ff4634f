//! Communities 社区, each with one designated full-time committee member
//! 专职委员 who runs the mobile-member report station and the grid work.

use chrono::{DateTime, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, create_once};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, malformed};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Register {
        community_id: Uuid,
        name: String,
        subdistrict: String,
    },
    DesignateMember {
        person_id: Uuid,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Registered {
        community_id: Uuid,
        name: String,
        subdistrict: String,
    },
    MemberDesignated {
        community_id: Uuid,
        person_id: Uuid,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Community {
    pub community_id: Uuid,
    pub name: String,
    pub subdistrict: String,
    pub member: Option<Uuid>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Community>);

#[derive(Clone, Copy, Debug, Default)]
pub struct CommunityDecider;

impl Decider for CommunityDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "community";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        match command {
            Command::Register {
                community_id,
                name,
                subdistrict,
            } => {
                let mut v = text_violations("name", name, 100);
                v.extend(text_violations("subdistrict", subdistrict, 100));
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                let existing = state
                    .0
                    .as_ref()
                    .map(|c| (c.community_id, c.name.as_str(), c.subdistrict.as_str()));
                create_once(
                    existing,
                    (*community_id, name.trim(), subdistrict.trim()),
                    |(id, name, _)| format!("community {id} is already registered as “{name}”"),
                    |(community_id, name, subdistrict)| {
                        Ok(vec![Event::Registered {
                            community_id,
                            name: name.to_owned(),
                            subdistrict: subdistrict.to_owned(),
                        }])
                    },
                )
            }
            Command::DesignateMember { person_id } => {
                let Some(c) = &state.0 else {
                    return Err(CommandError::not_found("no such community"));
                };
                if c.member == Some(*person_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::MemberDesignated {
                    community_id: c.community_id,
                    person_id: *person_id,
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Registered {
                community_id,
                name,
                subdistrict,
            } => State(Some(Community {
                community_id: *community_id,
                name: name.clone(),
                subdistrict: subdistrict.clone(),
                member: None,
            })),
            Event::MemberDesignated { person_id, .. } => State(state.0.map(|c| Community {
                member: Some(*person_id),
                ..c
            })),
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered { .. } => "CommunityRegistered",
            Self::MemberDesignated { .. } => "CommunityMemberDesignated",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Registered {
                community_id,
                name,
                subdistrict,
            } => pb::CommunityRegistered {
                community_id: community_id.to_string(),
                name: name.clone(),
                subdistrict: subdistrict.clone(),
            }
            .encode_to_vec(),
            Self::MemberDesignated {
                community_id,
                person_id,
            } => pb::CommunityMemberDesignated {
                community_id: community_id.to_string(),
                person_id: person_id.to_string(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("CommunityRegistered", 1) => {
                let e = pb::CommunityRegistered::decode(payload)
                    .map_err(|e| malformed(event_type, e))?;
                Ok(Self::Registered {
                    community_id: decode_id(event_type, &e.community_id)?,
                    name: e.name,
                    subdistrict: e.subdistrict,
                })
            }
            ("CommunityMemberDesignated", 1) => {
                let e = pb::CommunityMemberDesignated::decode(payload)
                    .map_err(|e| malformed(event_type, e))?;
                Ok(Self::MemberDesignated {
                    community_id: decode_id(event_type, &e.community_id)?,
                    person_id: decode_id(event_type, &e.person_id)?,
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
        Uuid::from_u128(7)
    }

    fn registered() -> Event {
        Event::Registered {
            community_id: id(),
            name: "西关社区".to_owned(),
            subdistrict: "晏城街道".to_owned(),
        }
    }

    fn register(name: &str) -> Command {
        Command::Register {
            community_id: id(),
            name: name.to_owned(),
            subdistrict: "晏城街道".to_owned(),
        }
    }

    #[test]
    fn a_community_is_registered_once() {
        given(CommunityDecider, [])
            .when(register(" 西关社区 "))
            .then([registered()]);
        given(CommunityDecider, [registered()])
            .when(register("西关社区"))
            .then([]);
        given(CommunityDecider, [registered()])
            .when(register("东关社区"))
            .then_rejected("already registered");
        given(CommunityDecider, [])
            .when(register(""))
            .then_invalid("name");
    }

    #[test]
    fn a_member_is_designated_on_an_existing_community() {
        let person = Uuid::from_u128(99);
        let state = given(CommunityDecider, [registered()])
            .when(Command::DesignateMember { person_id: person })
            .then([Event::MemberDesignated {
                community_id: id(),
                person_id: person,
            }]);
        assert_eq!(state.0.and_then(|c| c.member), Some(person));
        assert!(matches!(
            given(CommunityDecider, [])
                .when(Command::DesignateMember { person_id: person })
                .then_error(),
            CommandError::NotFound(_)
        ));
    }
}
