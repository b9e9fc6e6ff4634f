//! Double pairing 双结对: a development pair joins an industry-committee
//! member with a non-member enterprise head; a cultivation pair joins a key
//! member with a development target. Who qualifies is checked against the
//! registry by the service; the pair keeps its dates and notes.

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::pipeline::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Development,
    Cultivation,
}

impl Kind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::PairKind::try_from(raw).ok()? {
            pb::PairKind::Development => Some(Self::Development),
            pb::PairKind::Cultivation => Some(Self::Cultivation),
            pb::PairKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::PairKind {
        match self {
            Self::Development => pb::PairKind::Development,
            Self::Cultivation => pb::PairKind::Cultivation,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    pub pair_id: Uuid,
    pub kind: Kind,
    pub member: Uuid,
    pub partner: Uuid,
    pub enterprise: Option<Uuid>,
    pub started_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Start(Start),
    Note { on: NaiveDate, text: String },
    End { on: NaiveDate },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Started(Start),
    Noted {
        pair_id: Uuid,
        on: NaiveDate,
        text: String,
    },
    Ended {
        pair_id: Uuid,
        on: NaiveDate,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub start: Start,
    pub notes: Vec<(NaiveDate, String)>,
    pub ended_on: Option<NaiveDate>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Pair>);

#[derive(Clone, Copy, Debug, Default)]
pub struct PairDecider;

impl Decider for PairDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "pair";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let today = beijing_today(now);
        let not_future = |field: &str, on: NaiveDate| {
            if on > today {
                Err(CommandError::invalid(field, "must not be in the future"))
            } else {
                Ok(())
            }
        };
        match command {
            Command::Start(start) => {
                not_future("started_on", start.started_on)?;
                let mut v = Vec::new();
                if start.member == start.partner {
                    v.push(FieldViolation::new(
                        "partner_person_id",
                        "must be someone other than the member",
                    ));
                }
                if start.kind == Kind::Development && start.enterprise.is_none() {
                    v.push(FieldViolation::new(
                        "enterprise_id",
                        "a development pair names the partner's enterprise",
                    ));
                }
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                match &state.0 {
                    None => Ok(vec![Event::Started(start.clone())]),
                    Some(p) if p.start == *start => Ok(vec![]),
                    Some(_) => Err(CommandError::rejected(format!(
                        "pair {} already exists with other people or dates",
                        start.pair_id
                    ))),
                }
            }
            Command::Note { on, text } => {
                let p = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no such pair"))?;
                not_future("on", *on)?;
                let v = text_violations("text", text, 1000);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if *on < p.start.started_on {
                    return Err(CommandError::invalid(
                        "on",
                        "must not be before the pair began",
                    ));
                }
                if p.ended_on.is_some() {
                    return Err(CommandError::rejected("the pair has ended"));
                }
                Ok(vec![Event::Noted {
                    pair_id: p.start.pair_id,
                    on: *on,
                    text: text.trim().to_owned(),
                }])
            }
            Command::End { on } => {
                let p = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no such pair"))?;
                not_future("ended_on", *on)?;
                if p.ended_on.is_some() {
                    return Ok(vec![]);
                }
                if *on < p.start.started_on {
                    return Err(CommandError::invalid(
                        "ended_on",
                        "must not be before the pair began",
                    ));
                }
                Ok(vec![Event::Ended {
                    pair_id: p.start.pair_id,
                    on: *on,
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Started(start) => State(Some(Pair {
                start: start.clone(),
                notes: Vec::new(),
                ended_on: None,
            })),
            Event::Noted { on, text, .. } => State(state.0.map(|mut p| {
                p.notes.push((*on, text.clone()));
                p
            })),
            Event::Ended { on, .. } => State(state.0.map(|mut p| {
                p.ended_on = Some(*on);
                p
            })),
        }
    }
}

impl Pair {
    pub fn to_wire(&self, version: u64) -> pb::Pair {
        let s = &self.start;
        pb::Pair {
            pair_id: s.pair_id.to_string(),
            kind: s.kind.to_wire() as i32,
            member_person_id: s.member.to_string(),
            partner_person_id: s.partner.to_string(),
            enterprise_id: s.enterprise.map(|e| e.to_string()).unwrap_or_default(),
            started_on: format_day(s.started_on),
            ended_on: self.ended_on.map(format_day).unwrap_or_default(),
            notes: self
                .notes
                .iter()
                .map(|(on, text)| pb::PairNote {
                    on: format_day(*on),
                    text: text.clone(),
                })
                .collect(),
            version,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Started(_) => "PairStarted",
            Self::Noted { .. } => "PairNoted",
            Self::Ended { .. } => "PairEnded",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Started(s) => pb::PairStarted {
                pair_id: s.pair_id.to_string(),
                kind: s.kind.to_wire() as i32,
                member_person_id: s.member.to_string(),
                partner_person_id: s.partner.to_string(),
                enterprise_id: s.enterprise.map(|e| e.to_string()).unwrap_or_default(),
                started_on: format_day(s.started_on),
            }
            .encode_to_vec(),
            Self::Noted { pair_id, on, text } => pb::PairNoted {
                pair_id: pair_id.to_string(),
                on: format_day(*on),
                text: text.clone(),
            }
            .encode_to_vec(),
            Self::Ended { pair_id, on } => pb::PairEnded {
                pair_id: pair_id.to_string(),
                ended_on: format_day(*on),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if schema_version != 1 {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let bad = |e: prost::DecodeError| DecodeError::malformed(event_type, e);
        let id = |raw: &str| {
            Uuid::parse_str(raw).map_err(|_| DecodeError::malformed(event_type, "not a UUID"))
        };
        let day = |raw: &str| {
            parse_day(raw).ok_or_else(|| DecodeError::malformed(event_type, "not a day"))
        };
        match event_type {
            "PairStarted" => {
                let e = pb::PairStarted::decode(payload).map_err(bad)?;
                Ok(Self::Started(Start {
                    pair_id: id(&e.pair_id)?,
                    kind: Kind::from_wire(e.kind)
                        .ok_or_else(|| DecodeError::malformed(event_type, "unknown kind"))?,
                    member: id(&e.member_person_id)?,
                    partner: id(&e.partner_person_id)?,
                    enterprise: if e.enterprise_id.is_empty() {
                        None
                    } else {
                        Some(id(&e.enterprise_id)?)
                    },
                    started_on: day(&e.started_on)?,
                }))
            }
            "PairNoted" => {
                let e = pb::PairNoted::decode(payload).map_err(bad)?;
                Ok(Self::Noted {
                    pair_id: id(&e.pair_id)?,
                    on: day(&e.on)?,
                    text: e.text,
                })
            }
            "PairEnded" => {
                let e = pb::PairEnded::decode(payload).map_err(bad)?;
                Ok(Self::Ended {
                    pair_id: id(&e.pair_id)?,
                    on: day(&e.ended_on)?,
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

    fn start(kind: Kind, enterprise: Option<u128>) -> Start {
        Start {
            pair_id: Uuid::from_u128(1),
            kind,
            member: Uuid::from_u128(2),
            partner: Uuid::from_u128(3),
            enterprise: enterprise.map(Uuid::from_u128),
            started_on: NaiveDate::from_ymd_opt(2022, 3, 1).unwrap_or_default(),
        }
    }

    #[test]
    fn a_pair_starts_once_takes_notes_and_ends() {
        let s = start(Kind::Development, Some(9));
        given(PairDecider, [])
            .when(Command::Start(s.clone()))
            .then([Event::Started(s.clone())]);
        given(PairDecider, [Event::Started(s.clone())])
            .when(Command::Start(s.clone()))
            .then([]);
        let on = NaiveDate::from_ymd_opt(2022, 4, 1).unwrap_or_default();
        given(PairDecider, [Event::Started(s.clone())])
            .when(Command::Note {
                on,
                text: " 帮助解决融资难题 ".into(),
            })
            .then([Event::Noted {
                pair_id: s.pair_id,
                on,
                text: "帮助解决融资难题".into(),
            }]);
        let ended = Event::Ended {
            pair_id: s.pair_id,
            on,
        };
        given(PairDecider, [Event::Started(s.clone())])
            .when(Command::End { on })
            .then([ended.clone()]);
        given(PairDecider, [Event::Started(s), ended])
            .when(Command::Note {
                on,
                text: "x".into(),
            })
            .then_rejected("has ended");
    }

    #[test]
    fn a_development_pair_names_the_enterprise_and_two_people() {
        given(PairDecider, [])
            .when(Command::Start(start(Kind::Development, None)))
            .then_invalid("enterprise_id");
        let mut alone = start(Kind::Cultivation, None);
        alone.partner = alone.member;
        given(PairDecider, [])
            .when(Command::Start(alone))
            .then_invalid("partner_person_id");
    }
}
