//! The three shows 三亮 of the vanguard campaign: Party members show their
//! identity 亮身份 (the badge) and their vehicles a marking 亮标识; enterprises
//! show a commitment 亮承诺. One stream per person or enterprise.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, malformed};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Show {
    Identity,
    VehicleMarking,
    Commitment,
}

impl Show {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::VanguardShow::try_from(raw).ok()? {
            pb::VanguardShow::Identity => Some(Self::Identity),
            pb::VanguardShow::VehicleMarking => Some(Self::VehicleMarking),
            pb::VanguardShow::Commitment => Some(Self::Commitment),
            pb::VanguardShow::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::VanguardShow {
        match self {
            Self::Identity => pb::VanguardShow::Identity,
            Self::VehicleMarking => pb::VanguardShow::VehicleMarking,
            Self::Commitment => pb::VanguardShow::Commitment,
        }
    }

    /// Shows a person makes; the commitment is an enterprise's.
    pub fn by_person(self) -> bool {
        !matches!(self, Self::Commitment)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    pub subject_id: Uuid,
    pub show: Show,
    pub commitment: String,
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record(pub Shown);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event(pub Shown);

/// The shows a subject has made, with the commitment's current text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub BTreeMap<Show, Shown>);

#[derive(Clone, Copy, Debug, Default)]
pub struct ShowDecider;

impl Decider for ShowDecider {
    type State = State;
    type Command = Record;
    type Event = Event;
    const CATEGORY: &'static str = "vanguard_show";

    fn decide(
        &self,
        state: &State,
        Record(shown): &Record,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let mut v = Vec::new();
        if shown.show == Show::Commitment {
            v.extend(text_violations("commitment", &shown.commitment, 500));
        } else if !shown.commitment.trim().is_empty() {
            v.push(hongxin_domain::FieldViolation::new(
                "commitment",
                "only an enterprise's show carries a commitment",
            ));
        }
        if shown.on > beijing_today(now) {
            v.push(hongxin_domain::FieldViolation::new(
                "shown_on",
                "must not be in the future",
            ));
        }
        if !v.is_empty() {
            return Err(CommandError::Invalid(v));
        }
        let shown = Shown {
            commitment: shown.commitment.trim().to_owned(),
            ..shown.clone()
        };
        // Shown before: only a new commitment text is news.
        match state.0.get(&shown.show) {
            Some(before) if before.commitment == shown.commitment => Ok(vec![]),
            _ => Ok(vec![Event(shown)]),
        }
    }

    fn evolve(&self, mut state: State, Event(shown): &Event) -> State {
        state.0.insert(shown.show, shown.clone());
        state
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        "VanguardShown"
    }

    fn encode(&self) -> Vec<u8> {
        let Self(s) = self;
        pb::VanguardShown {
            subject_id: s.subject_id.to_string(),
            show: s.show.to_wire() as i32,
            commitment: s.commitment.clone(),
            shown_on: format_day(s.on),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if (event_type, schema_version) != ("VanguardShown", 1) {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let e = pb::VanguardShown::decode(payload).map_err(|e| malformed(event_type, e))?;
        Ok(Self(Shown {
            subject_id: decode_id(event_type, &e.subject_id)?,
            show: Show::from_wire(e.show).ok_or_else(|| malformed(event_type, "unknown show"))?,
            commitment: e.commitment,
            on: parse_day(&e.shown_on).ok_or_else(|| malformed(event_type, "bad shown_on"))?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn shown(show: Show, commitment: &str) -> Shown {
        Shown {
            subject_id: Uuid::from_u128(1),
            show,
            commitment: commitment.to_owned(),
            on: NaiveDate::from_ymd_opt(2022, 5, 1).unwrap_or_default(),
        }
    }

    #[test]
    fn a_show_is_recorded_once_and_a_new_commitment_again() {
        let badge = shown(Show::Identity, "");
        given(ShowDecider, [])
            .when(Record(badge.clone()))
            .then([Event(badge.clone())]);
        given(ShowDecider, [Event(badge.clone())])
            .when(Record(badge))
            .then([]);
        let promise = shown(Show::Commitment, "准时送达，文明骑行");
        given(ShowDecider, [Event(promise.clone())])
            .when(Record(shown(Show::Commitment, " 准时送达，文明骑行 ")))
            .then([]);
        let renewed = shown(Show::Commitment, "准时送达，文明骑行，热心公益");
        given(ShowDecider, [Event(promise)])
            .when(Record(renewed.clone()))
            .then([Event(renewed)]);
    }

    #[test]
    fn a_commitment_has_text_and_a_badge_has_none() {
        given(ShowDecider, [])
            .when(Record(shown(Show::Commitment, " ")))
            .then_invalid("commitment");
        given(ShowDecider, [])
            .when(Record(shown(Show::VehicleMarking, "承诺")))
            .then_invalid("commitment");
        let mut future = shown(Show::Identity, "");
        future.on = NaiveDate::from_ymd_opt(2999, 1, 1).unwrap_or_default();
        given(ShowDecider, [])
            .when(Record(future))
            .then_invalid("shown_on");
    }
}
