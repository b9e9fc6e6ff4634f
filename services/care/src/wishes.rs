//! Micro-wishes 微心愿: received from the pipeline's cloud-platform posts or
//! filed here; claimed by a member or a unit, one claimant at a time;
//! fulfilled with evidence.

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent};
use hongxin_proto::care::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{bad, day, id, optional_id};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wish {
    pub wish_id: Uuid,
    pub person_id: Uuid,
    pub title: String,
    pub received_on: NaiveDate,
    pub post_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Receive(Wish),
    Claim { claimant: Uuid, on: NaiveDate },
    Release { on: NaiveDate },
    Fulfil { on: NaiveDate, evidence: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Received(Wish),
    Claimed {
        wish_id: Uuid,
        claimant: Uuid,
        on: NaiveDate,
    },
    Released {
        wish_id: Uuid,
        on: NaiveDate,
    },
    Fulfilled {
        wish_id: Uuid,
        on: NaiveDate,
        evidence: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MicroWish {
    pub wish: Wish,
    pub claimant: Option<Uuid>,
    pub fulfilled: Option<(NaiveDate, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<MicroWish>);

#[derive(Clone, Copy, Debug, Default)]
pub struct WishDecider;

impl Decider for WishDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "micro_wish";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let today = beijing_today(now);
        if let Command::Receive(wish) = command {
            let v = text_violations("title", &wish.title, 100);
            if !v.is_empty() {
                return Err(CommandError::Invalid(v));
            }
            let clean = Wish {
                title: wish.title.trim().to_owned(),
                ..wish.clone()
            };
            return match &state.0 {
                None => Ok(vec![Event::Received(clean)]),
                Some(w) if w.wish == clean => Ok(vec![]),
                Some(_) => Err(CommandError::rejected(format!(
                    "micro-wish {} exists with other data",
                    wish.wish_id
                ))),
            };
        }
        let w = state
            .0
            .as_ref()
            .ok_or_else(|| CommandError::not_found("no such micro-wish"))?;
        let wish_id = w.wish.wish_id;
        if w.fulfilled.is_some() {
            return Err(CommandError::rejected("the wish is fulfilled"));
        }
        let when = |on: NaiveDate| {
            if on > today || on < w.wish.received_on {
                Err(CommandError::invalid(
                    "on",
                    "must fall between the wish and today",
                ))
            } else {
                Ok(())
            }
        };
        match command {
            Command::Receive(_) => unreachable!("handled above"),
            Command::Claim { claimant, on } => {
                when(*on)?;
                match w.claimant {
                    Some(c) if c == *claimant => Ok(vec![]),
                    Some(_) => Err(CommandError::rejected(
                        "someone has claimed this wish; one claimant at a time",
                    )),
                    None => Ok(vec![Event::Claimed {
                        wish_id,
                        claimant: *claimant,
                        on: *on,
                    }]),
                }
            }
            Command::Release { on } => {
                when(*on)?;
                if w.claimant.is_none() {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Released { wish_id, on: *on }])
            }
            Command::Fulfil { on, evidence } => {
                when(*on)?;
                let v = text_violations("evidence", evidence, 1000);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if w.claimant.is_none() {
                    return Err(CommandError::rejected(
                        "a wish is claimed before it is fulfilled",
                    ));
                }
                Ok(vec![Event::Fulfilled {
                    wish_id,
                    on: *on,
                    evidence: evidence.trim().to_owned(),
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Received(w) => State(Some(MicroWish {
                wish: w.clone(),
                claimant: None,
                fulfilled: None,
            })),
            Event::Claimed { claimant, .. } => State(state.0.map(|mut w| {
                w.claimant = Some(*claimant);
                w
            })),
            Event::Released { .. } => State(state.0.map(|mut w| {
                w.claimant = None;
                w
            })),
            Event::Fulfilled { on, evidence, .. } => State(state.0.map(|mut w| {
                w.fulfilled = Some((*on, evidence.clone()));
                w
            })),
        }
    }
}

impl MicroWish {
    pub fn to_wire(&self, version: u64) -> pb::MicroWish {
        pb::MicroWish {
            wish_id: self.wish.wish_id.to_string(),
            person_id: self.wish.person_id.to_string(),
            title: self.wish.title.clone(),
            state: if self.fulfilled.is_some() {
                pb::WishState::Fulfilled
            } else if self.claimant.is_some() {
                pb::WishState::Claimed
            } else {
                pb::WishState::Open
            } as i32,
            claimant_id: self.claimant.map(|c| c.to_string()).unwrap_or_default(),
            fulfilled_on: self
                .fulfilled
                .as_ref()
                .map(|(on, _)| format_day(*on))
                .unwrap_or_default(),
            evidence: self
                .fulfilled
                .as_ref()
                .map(|(_, e)| e.clone())
                .unwrap_or_default(),
            version,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Received(_) => "MicroWishReceived",
            Self::Claimed { .. } => "MicroWishClaimed",
            Self::Released { .. } => "MicroWishReleased",
            Self::Fulfilled { .. } => "MicroWishFulfilled",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Received(w) => pb::MicroWishReceived {
                wish_id: w.wish_id.to_string(),
                person_id: w.person_id.to_string(),
                title: w.title.clone(),
                received_on: format_day(w.received_on),
                post_id: w.post_id.map(|p| p.to_string()).unwrap_or_default(),
            }
            .encode_to_vec(),
            Self::Claimed {
                wish_id,
                claimant,
                on,
            } => pb::MicroWishClaimed {
                wish_id: wish_id.to_string(),
                claimant_id: claimant.to_string(),
                on: format_day(*on),
            }
            .encode_to_vec(),
            Self::Released { wish_id, on } => pb::MicroWishReleased {
                wish_id: wish_id.to_string(),
                on: format_day(*on),
            }
            .encode_to_vec(),
            Self::Fulfilled {
                wish_id,
                on,
                evidence,
            } => pb::MicroWishFulfilled {
                wish_id: wish_id.to_string(),
                on: format_day(*on),
                evidence: evidence.clone(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (t, version) {
            ("MicroWishReceived", 1) => {
                let e = pb::MicroWishReceived::decode(payload).map_err(bad(t))?;
                Ok(Self::Received(Wish {
                    wish_id: id(t, &e.wish_id)?,
                    person_id: id(t, &e.person_id)?,
                    title: e.title,
                    received_on: day(t, &e.received_on)?,
                    post_id: optional_id(t, &e.post_id)?,
                }))
            }
            ("MicroWishClaimed", 1) => {
                let e = pb::MicroWishClaimed::decode(payload).map_err(bad(t))?;
                Ok(Self::Claimed {
                    wish_id: id(t, &e.wish_id)?,
                    claimant: id(t, &e.claimant_id)?,
                    on: day(t, &e.on)?,
                })
            }
            ("MicroWishReleased", 1) => {
                let e = pb::MicroWishReleased::decode(payload).map_err(bad(t))?;
                Ok(Self::Released {
                    wish_id: id(t, &e.wish_id)?,
                    on: day(t, &e.on)?,
                })
            }
            ("MicroWishFulfilled", 1) => {
                let e = pb::MicroWishFulfilled::decode(payload).map_err(bad(t))?;
                Ok(Self::Fulfilled {
                    wish_id: id(t, &e.wish_id)?,
                    on: day(t, &e.on)?,
                    evidence: e.evidence,
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

    fn on(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 5, d).unwrap_or_default()
    }

    fn received() -> Event {
        Event::Received(Wish {
            wish_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(2),
            title: "一台电风扇".into(),
            received_on: on(1),
            post_id: None,
        })
    }

    #[test]
    fn one_claimant_at_a_time_then_fulfilled_with_evidence() {
        let claimed = Event::Claimed {
            wish_id: Uuid::from_u128(1),
            claimant: Uuid::from_u128(7),
            on: on(2),
        };
        given(WishDecider, [received(), claimed.clone()])
            .when(Command::Claim {
                claimant: Uuid::from_u128(8),
                on: on(3),
            })
            .then_rejected("one claimant at a time");
        given(WishDecider, [received()])
            .when(Command::Fulfil {
                on: on(3),
                evidence: "已送达".into(),
            })
            .then_rejected("claimed before it is fulfilled");
        given(WishDecider, [received(), claimed.clone()])
            .when(Command::Fulfil {
                on: on(3),
                evidence: " ".into(),
            })
            .then_invalid("evidence");
        let released = Event::Released {
            wish_id: Uuid::from_u128(1),
            on: on(3),
        };
        given(WishDecider, [received(), claimed, released])
            .when(Command::Claim {
                claimant: Uuid::from_u128(8),
                on: on(4),
            })
            .then([Event::Claimed {
                wish_id: Uuid::from_u128(1),
                claimant: Uuid::from_u128(8),
                on: on(4),
            }]);
    }
}
