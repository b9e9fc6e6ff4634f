//! The county's policy: measures 措施 (the ten "暖新" measures), actions 行动
//! (such as "强基铸魂") and standing systems 制度 (such as 书记直通车). Each is
//! issued once and may be retired.

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{
    CommandError, Decider, DecodeError, DomainEvent, FieldViolation, create_once,
};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, malformed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Measure,
    Action,
    System,
}

impl Kind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::PolicyKind::try_from(raw).ok()? {
            pb::PolicyKind::Measure => Some(Self::Measure),
            pb::PolicyKind::Action => Some(Self::Action),
            pb::PolicyKind::System => Some(Self::System),
            pb::PolicyKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::PolicyKind {
        match self {
            Self::Measure => pb::PolicyKind::Measure,
            Self::Action => pb::PolicyKind::Action,
            Self::System => pb::PolicyKind::System,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub policy_id: Uuid,
    pub kind: Kind,
    pub title: String,
    pub summary: String,
    pub issued_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Issue(Issue),
    Retire { on: NaiveDate },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Issued(Issue),
    Retired { policy_id: Uuid, on: NaiveDate },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub issue: Issue,
    pub retired_on: Option<NaiveDate>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Item>);

#[derive(Clone, Copy, Debug, Default)]
pub struct PolicyDecider;

impl Decider for PolicyDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "policy_item";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let today = beijing_today(now);
        match command {
            Command::Issue(issue) => {
                let mut v = text_violations("title", &issue.title, 100);
                if !issue.summary.trim().is_empty() {
                    v.extend(text_violations("summary", &issue.summary, 2000));
                }
                if issue.issued_on > today {
                    v.push(FieldViolation::new(
                        "issued_on",
                        "must not be in the future",
                    ));
                }
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                let clean = Issue {
                    title: issue.title.trim().to_owned(),
                    summary: issue.summary.trim().to_owned(),
                    ..issue.clone()
                };
                create_once(
                    state.0.as_ref().map(|i| i.issue.clone()),
                    clean,
                    |i| {
                        format!(
                            "policy item {} is already issued as “{}”",
                            i.policy_id, i.title
                        )
                    },
                    |i| Ok(vec![Event::Issued(i)]),
                )
            }
            Command::Retire { on } => {
                let Some(item) = &state.0 else {
                    return Err(CommandError::not_found("no such policy item"));
                };
                if item.retired_on.is_some() {
                    return Ok(vec![]);
                }
                if *on < item.issue.issued_on || *on > today {
                    return Err(CommandError::invalid(
                        "retired_on",
                        "must fall between the issue date and today",
                    ));
                }
                Ok(vec![Event::Retired {
                    policy_id: item.issue.policy_id,
                    on: *on,
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Issued(issue) => State(Some(Item {
                issue: issue.clone(),
                retired_on: None,
            })),
            Event::Retired { on, .. } => State(state.0.map(|i| Item {
                retired_on: Some(*on),
                ..i
            })),
        }
    }
}

impl Item {
    pub(crate) fn to_wire(&self, version: u64) -> pb::PolicyItem {
        let i = &self.issue;
        pb::PolicyItem {
            policy_id: i.policy_id.to_string(),
            kind: i.kind.to_wire() as i32,
            title: i.title.clone(),
            summary: i.summary.clone(),
            issued_on: format_day(i.issued_on),
            retired_on: self.retired_on.map(format_day).unwrap_or_default(),
            version,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Issued(_) => "PolicyItemIssued",
            Self::Retired { .. } => "PolicyItemRetired",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Issued(i) => pb::PolicyItemIssued {
                policy_id: i.policy_id.to_string(),
                kind: i.kind.to_wire() as i32,
                title: i.title.clone(),
                summary: i.summary.clone(),
                issued_on: format_day(i.issued_on),
            }
            .encode_to_vec(),
            Self::Retired { policy_id, on } => pb::PolicyItemRetired {
                policy_id: policy_id.to_string(),
                retired_on: format_day(*on),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        let bad_day = || malformed(event_type, "not a day");
        match (event_type, schema_version) {
            ("PolicyItemIssued", 1) => {
                let e =
                    pb::PolicyItemIssued::decode(payload).map_err(|e| malformed(event_type, e))?;
                Ok(Self::Issued(Issue {
                    policy_id: decode_id(event_type, &e.policy_id)?,
                    kind: Kind::from_wire(e.kind)
                        .ok_or_else(|| malformed(event_type, "unknown kind"))?,
                    issued_on: parse_day(&e.issued_on).ok_or_else(bad_day)?,
                    title: e.title,
                    summary: e.summary,
                }))
            }
            ("PolicyItemRetired", 1) => {
                let e =
                    pb::PolicyItemRetired::decode(payload).map_err(|e| malformed(event_type, e))?;
                Ok(Self::Retired {
                    policy_id: decode_id(event_type, &e.policy_id)?,
                    on: parse_day(&e.retired_on).ok_or_else(bad_day)?,
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

    fn issue() -> Issue {
        Issue {
            policy_id: Uuid::from_u128(1),
            kind: Kind::System,
            title: "书记直通车".to_owned(),
            summary: "新就业群体直接向党组织书记反映诉求".to_owned(),
            issued_on: NaiveDate::from_ymd_opt(2022, 3, 1).unwrap_or_default(),
        }
    }

    #[test]
    fn an_item_is_issued_once() {
        given(PolicyDecider, [])
            .when(Command::Issue(Issue {
                title: " 书记直通车 ".into(),
                ..issue()
            }))
            .then([Event::Issued(issue())]);
        given(PolicyDecider, [Event::Issued(issue())])
            .when(Command::Issue(issue()))
            .then([]);
        given(PolicyDecider, [Event::Issued(issue())])
            .when(Command::Issue(Issue {
                kind: Kind::Measure,
                ..issue()
            }))
            .then_rejected("already issued");
        given(PolicyDecider, [])
            .when(Command::Issue(Issue {
                title: String::new(),
                ..issue()
            }))
            .then_invalid("title");
    }

    #[test]
    fn an_item_is_retired_once_within_its_life() {
        let on = NaiveDate::from_ymd_opt(2022, 5, 1).unwrap_or_default();
        let retired = Event::Retired {
            policy_id: Uuid::from_u128(1),
            on,
        };
        given(PolicyDecider, [Event::Issued(issue())])
            .when(Command::Retire { on })
            .then([retired.clone()]);
        given(PolicyDecider, [Event::Issued(issue()), retired])
            .when(Command::Retire { on })
            .then([]);
        given(PolicyDecider, [Event::Issued(issue())])
            .when(Command::Retire {
                on: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default(),
            })
            .then_invalid("retired_on");
        given(PolicyDecider, [])
            .when(Command::Retire { on })
            .then_error();
    }
}
