//! Vanguard 先锋带动: Party-member demonstration stations 党员示范站点 and mobile
//! vanguard posts 红齐先锋岗, and the conventions workers sign (the
//! 先锋骑士十条公约).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::{check_text, text_violations};
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{
    CommandError, Decider, DecodeError, DomainEvent, FieldViolation, create_once,
};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, decode_optional_id, malformed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteKind {
    DemonstrationStation,
    VanguardPost,
}

impl SiteKind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::VanguardSiteKind::try_from(raw).ok()? {
            pb::VanguardSiteKind::DemonstrationStation => Some(Self::DemonstrationStation),
            pb::VanguardSiteKind::VanguardPost => Some(Self::VanguardPost),
            pb::VanguardSiteKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::VanguardSiteKind {
        match self {
            Self::DemonstrationStation => pb::VanguardSiteKind::DemonstrationStation,
            Self::VanguardPost => pb::VanguardSiteKind::VanguardPost,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub site_id: Uuid,
    pub kind: SiteKind,
    pub name: String,
    pub community_id: Uuid,
    pub enterprise_id: Option<Uuid>,
    pub established_on: NaiveDate,
}

/// A vanguard site: established once.
#[derive(Clone, Copy, Debug, Default)]
pub struct SiteDecider;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteState(pub Option<Site>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Establish(pub Site);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Established(pub Site);

impl Decider for SiteDecider {
    type State = SiteState;
    type Command = Establish;
    type Event = Established;
    const CATEGORY: &'static str = "vanguard_site";

    fn decide(
        &self,
        state: &SiteState,
        Establish(site): &Establish,
        now: DateTime<Utc>,
    ) -> Result<Vec<Established>, CommandError> {
        let mut v = text_violations("name", &site.name, 100);
        if site.established_on > beijing_today(now) {
            v.push(FieldViolation::new(
                "established_on",
                "must not be in the future",
            ));
        }
        if !v.is_empty() {
            return Err(CommandError::Invalid(v));
        }
        let clean = Site {
            name: site.name.trim().to_owned(),
            ..site.clone()
        };
        create_once(
            state.0.clone(),
            clean,
            |s| {
                format!(
                    "vanguard site {} is already established as “{}”",
                    s.site_id, s.name
                )
            },
            |s| Ok(vec![Established(s)]),
        )
    }

    fn evolve(&self, _state: SiteState, Established(site): &Established) -> SiteState {
        SiteState(Some(site.clone()))
    }
}

impl DomainEvent for Established {
    fn event_type(&self) -> &'static str {
        "VanguardSiteEstablished"
    }

    fn encode(&self) -> Vec<u8> {
        let s = &self.0;
        pb::VanguardSiteEstablished {
            site_id: s.site_id.to_string(),
            kind: s.kind.to_wire() as i32,
            name: s.name.clone(),
            community_id: s.community_id.to_string(),
            enterprise_id: s.enterprise_id.map(|e| e.to_string()).unwrap_or_default(),
            established_on: format_day(s.established_on),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if (event_type, schema_version) != ("VanguardSiteEstablished", 1) {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let e =
            pb::VanguardSiteEstablished::decode(payload).map_err(|e| malformed(event_type, e))?;
        Ok(Self(Site {
            site_id: decode_id(event_type, &e.site_id)?,
            kind: SiteKind::from_wire(e.kind)
                .ok_or_else(|| malformed(event_type, "unknown kind"))?,
            community_id: decode_id(event_type, &e.community_id)?,
            enterprise_id: decode_optional_id(event_type, &e.enterprise_id)?,
            established_on: parse_day(&e.established_on)
                .ok_or_else(|| malformed(event_type, "bad day"))?,
            name: e.name,
        }))
    }
}

/// A convention and who signed it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConventionDecider;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Convention {
    pub title: Option<String>,
    pub signers: BTreeSet<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sign {
    pub convention_id: Uuid,
    pub title: String,
    pub person_id: Uuid,
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed(pub Sign);

impl Decider for ConventionDecider {
    type State = Convention;
    type Command = Sign;
    type Event = Signed;
    const CATEGORY: &'static str = "convention";

    fn decide(
        &self,
        state: &Convention,
        sign: &Sign,
        now: DateTime<Utc>,
    ) -> Result<Vec<Signed>, CommandError> {
        let title = check_text(&sign.title, 100).map_err(|d| CommandError::invalid("title", d))?;
        if sign.on > beijing_today(now) {
            return Err(CommandError::invalid(
                "signed_on",
                "must not be in the future",
            ));
        }
        if let Some(known) = &state.title
            && known != title
        {
            return Err(CommandError::rejected(format!(
                "this convention is “{known}”, not “{title}”"
            )));
        }
        if state.signers.contains(&sign.person_id) {
            return Ok(vec![]);
        }
        Ok(vec![Signed(Sign {
            title: title.to_owned(),
            ..sign.clone()
        })])
    }

    fn evolve(&self, mut state: Convention, Signed(sign): &Signed) -> Convention {
        state.title.get_or_insert_with(|| sign.title.clone());
        state.signers.insert(sign.person_id);
        state
    }
}

impl DomainEvent for Signed {
    fn event_type(&self) -> &'static str {
        "ConventionSigned"
    }

    fn encode(&self) -> Vec<u8> {
        let s = &self.0;
        pb::ConventionSigned {
            convention_id: s.convention_id.to_string(),
            title: s.title.clone(),
            person_id: s.person_id.to_string(),
            signed_on: format_day(s.on),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if (event_type, schema_version) != ("ConventionSigned", 1) {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let e = pb::ConventionSigned::decode(payload).map_err(|e| malformed(event_type, e))?;
        Ok(Self(Sign {
            convention_id: decode_id(event_type, &e.convention_id)?,
            person_id: decode_id(event_type, &e.person_id)?,
            on: parse_day(&e.signed_on).ok_or_else(|| malformed(event_type, "bad day"))?,
            title: e.title,
        }))
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn site() -> Site {
        Site {
            site_id: Uuid::from_u128(1),
            kind: SiteKind::VanguardPost,
            name: "红齐先锋岗（美团齐河站）".to_owned(),
            community_id: Uuid::from_u128(2),
            enterprise_id: None,
            established_on: NaiveDate::from_ymd_opt(2022, 5, 1).unwrap_or_default(),
        }
    }

    fn sign(person: u128, title: &str) -> Sign {
        Sign {
            convention_id: Uuid::from_u128(9),
            title: title.to_owned(),
            person_id: Uuid::from_u128(person),
            on: NaiveDate::from_ymd_opt(2022, 5, 4).unwrap_or_default(),
        }
    }

    #[test]
    fn a_site_is_established_once() {
        given(SiteDecider, [])
            .when(Establish(site()))
            .then([Established(site())]);
        given(SiteDecider, [Established(site())])
            .when(Establish(site()))
            .then([]);
        let mut other = site();
        other.name = "另一个先锋岗".to_owned();
        given(SiteDecider, [Established(site())])
            .when(Establish(other))
            .then_rejected("already established");
        let mut future = site();
        future.established_on = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap_or_default();
        given(SiteDecider, [])
            .when(Establish(future))
            .then_invalid("established_on");
    }

    #[test]
    fn each_worker_signs_once_and_the_title_stays() {
        let title = "先锋骑士十条公约";
        let state = given(ConventionDecider, [Signed(sign(1, title))])
            .when(sign(2, title))
            .then([Signed(sign(2, title))]);
        assert_eq!(state.signers.len(), 2);
        given(ConventionDecider, [Signed(sign(1, title))])
            .when(sign(1, title))
            .then([]);
        given(ConventionDecider, [Signed(sign(1, title))])
            .when(sign(3, "别的公约"))
            .then_rejected("this convention is");
        given(ConventionDecider, [])
            .when(sign(1, " "))
            .then_invalid("title");
    }
}
