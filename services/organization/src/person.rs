//! The people registry: workers of the new employment groups, members and
//! non-members, that every other context refers to.
//!
//! Name, ID number and phone are personal data: the decider never sees them
//! in clear. The gRPC layer checks them, then seals them with the person's
//! own data key (see `hongxin-vault`); events and state carry the sealed
//! bytes, and erasure destroys the key. Categories (industry, community,
//! Party status, union membership) stay in clear: the county's figures are
//! made of them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use hongxin_domain::text::{check_text, text_violations};
use hongxin_domain::time::{format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, decode_optional_id, malformed};
use crate::committee::Industry;

/// Where a person stands in relation to Party membership, in the order of
/// the development pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PartyStatus {
    None,
    Applicant,
    Activist,
    DevelopmentTarget,
    Probationary,
    Full,
}

impl PartyStatus {
    /// UNSPECIFIED reads as none.
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::PartyStatus::try_from(raw).ok()? {
            pb::PartyStatus::Unspecified | pb::PartyStatus::None => Some(Self::None),
            pb::PartyStatus::Applicant => Some(Self::Applicant),
            pb::PartyStatus::Activist => Some(Self::Activist),
            pb::PartyStatus::DevelopmentTarget => Some(Self::DevelopmentTarget),
            pb::PartyStatus::Probationary => Some(Self::Probationary),
            pb::PartyStatus::Full => Some(Self::Full),
        }
    }

    pub fn to_wire(self) -> pb::PartyStatus {
        match self {
            Self::None => pb::PartyStatus::None,
            Self::Applicant => pb::PartyStatus::Applicant,
            Self::Activist => pb::PartyStatus::Activist,
            Self::DevelopmentTarget => pb::PartyStatus::DevelopmentTarget,
            Self::Probationary => pb::PartyStatus::Probationary,
            Self::Full => pb::PartyStatus::Full,
        }
    }

    /// Probationary and full members.
    pub fn is_member(self) -> bool {
        matches!(self, Self::Probationary | Self::Full)
    }

    fn label(self) -> &'static str {
        match self {
            Self::None => "群众",
            Self::Applicant => "入党申请人",
            Self::Activist => "入党积极分子",
            Self::DevelopmentTarget => "发展对象",
            Self::Probationary => "预备党员",
            Self::Full => "正式党员",
        }
    }
}

/// A checked resident ID number (GB 11643-1999: 17 digits and a check
/// character).
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber {
    value: String,
    birth_date: NaiveDate,
}

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", mask_id_number(&self.value))
    }
}

impl IdNumber {
    /// Checks length, digits, the birth date and the check character;
    /// `today` bounds the birth date.
    pub fn parse(raw: &str, today: NaiveDate) -> Result<Self, &'static str> {
        const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        const CHECK: &[u8; 11] = b"10X98765432";
        let value = raw.trim().to_ascii_uppercase();
        let bytes = value.as_bytes();
        if bytes.len() != 18 {
            return Err("must be 18 characters");
        }
        if !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
        {
            return Err("must be 17 digits and a digit or X");
        }
        if bytes[0] == b'0' {
            return Err("does not start with a region code");
        }
        let birth_date = NaiveDate::parse_from_str(&value[6..14], "%Y%m%d")
            .ok()
            .filter(|d| d.year() >= 1900 && *d <= today)
            .ok_or("does not hold a valid birth date")?;
        let sum: u32 = bytes[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        if bytes[17] != CHECK[(sum % 11) as usize] {
            return Err("has a wrong check digit");
        }
        Ok(Self { value, birth_date })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }
}

/// A mainland mobile number: 11 digits, 1 then 3–9.
pub fn parse_phone(raw: &str) -> Result<String, &'static str> {
    let phone: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let phone = phone.strip_prefix("+86").unwrap_or(&phone).to_owned();
    let b = phone.as_bytes();
    if b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
    {
        Ok(phone)
    } else {
        Err("must be an 11-digit mainland mobile number")
    }
}

/// "3701**********0012": region and check digits only.
pub fn mask_id_number(id: &str) -> String {
    mask(id, 4, 4)
}

/// "138****5678".
pub fn mask_phone(phone: &str) -> String {
    mask(phone, 3, 4)
}

fn mask(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Where a person works and lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    pub industry: Option<Industry>,
    pub platform: String,
    pub enterprise: Option<Uuid>,
    pub community: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flags {
    pub union_member: bool,
    pub mobile_member: bool,
    pub home_organisation: String,
}

/// What registering records. `sealed_details` are the person's
/// [`pb::PersonalDetails`], sealed with their data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub person_id: Uuid,
    pub sealed_details: Vec<u8>,
    pub work: Work,
    pub flags: Flags,
    pub party_status: PartyStatus,
    pub affiliation: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    pub status: PartyStatus,
    pub affiliation: Option<Uuid>,
    pub on: NaiveDate,
    /// The pipeline event behind it, when there is one.
    pub source_event: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Register(Registration),
    ChangeWork(Work),
    ChangeContact { sealed_details: Vec<u8> },
    SetFlags(Flags),
    RecordPartyStatus(StatusChange),
    Erase { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Registered(Registration),
    WorkChanged {
        person_id: Uuid,
        work: Work,
    },
    ContactChanged {
        person_id: Uuid,
        sealed_details: Vec<u8>,
    },
    FlagsSet {
        person_id: Uuid,
        flags: Flags,
    },
    PartyStatusChanged {
        person_id: Uuid,
        change: StatusChange,
    },
    Erased {
        person_id: Uuid,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub registration: Registration,
    pub erased: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Person>);

#[derive(Clone, Copy, Debug, Default)]
pub struct PersonDecider;

fn work_violations(work: &Work) -> Vec<FieldViolation> {
    if work.platform.trim().is_empty() {
        Vec::new()
    } else {
        text_violations("work.platform", &work.platform, 50)
    }
}

fn flags_violations(flags: &Flags) -> Vec<FieldViolation> {
    if flags.mobile_member {
        text_violations("home_organisation", &flags.home_organisation, 100)
    } else if !flags.home_organisation.trim().is_empty() {
        vec![FieldViolation::new(
            "home_organisation",
            "only a mobile member has a home organisation here",
        )]
    } else {
        Vec::new()
    }
}

fn clean_work(work: &Work) -> Work {
    Work {
        platform: check_text(&work.platform, 50).unwrap_or("").to_owned(),
        ..work.clone()
    }
}

fn clean_flags(flags: &Flags) -> Flags {
    Flags {
        home_organisation: flags.home_organisation.trim().to_owned(),
        ..flags.clone()
    }
}

/// Whether the registry may move a person from `from` to `to`.
fn check_transition(from: PartyStatus, to: PartyStatus) -> Result<(), String> {
    use PartyStatus::*;
    let allowed = match to {
        // Leaving the pipeline (or a cancelled probation); a full member
        // leaves by other procedures.
        None => from != Full,
        Applicant | Activist | DevelopmentTarget => from < Probationary && from <= to,
        Probationary => from < Probationary,
        Full => from == Probationary,
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "cannot record {} for someone who is {}",
            to.label(),
            from.label()
        ))
    }
}

impl Decider for PersonDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "person";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        if let Command::Register(r) = command {
            let mut v = work_violations(&r.work);
            v.extend(flags_violations(&r.flags));
            if r.party_status.is_member() && r.affiliation.is_none() {
                v.push(FieldViolation::new(
                    "affiliation_organization_id",
                    "a Party member's affiliation is required",
                ));
            }
            if !v.is_empty() {
                return Err(CommandError::Invalid(v));
            }
            let clean = Registration {
                work: clean_work(&r.work),
                flags: clean_flags(&r.flags),
                ..r.clone()
            };
            return match &state.0 {
                None => Ok(vec![Event::Registered(clean)]),
                Some(p) if p.erased => Err(CommandError::rejected(format!(
                    "person {} was erased and cannot be registered again",
                    r.person_id
                ))),
                // A retry: everything but the sealed bytes (sealed afresh
                // each time) must match.
                Some(p)
                    if Registration {
                        sealed_details: Vec::new(),
                        ..p.registration.clone()
                    } == Registration {
                        sealed_details: Vec::new(),
                        ..clean
                    } =>
                {
                    Ok(vec![])
                }
                Some(_) => Err(CommandError::rejected(format!(
                    "person {} is already registered differently",
                    r.person_id
                ))),
            };
        }
        let Some(p) = &state.0 else {
            return Err(CommandError::not_found("no such person"));
        };
        let person_id = p.registration.person_id;
        if p.erased {
            // Erasing twice is a retry; anything else is refused.
            return match command {
                Command::Erase { .. } => Ok(vec![]),
                _ => Err(CommandError::rejected(format!(
                    "person {person_id} was erased"
                ))),
            };
        }
        let current = &p.registration;
        match command {
            Command::Register(_) => unreachable!("handled above"),
            Command::ChangeWork(work) => {
                let v = work_violations(work);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                let work = clean_work(work);
                if work == current.work {
                    return Ok(vec![]);
                }
                Ok(vec![Event::WorkChanged { person_id, work }])
            }
            Command::ChangeContact { sealed_details } => Ok(vec![Event::ContactChanged {
                person_id,
                sealed_details: sealed_details.clone(),
            }]),
            Command::SetFlags(flags) => {
                let v = flags_violations(flags);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                let flags = clean_flags(flags);
                if flags == current.flags {
                    return Ok(vec![]);
                }
                Ok(vec![Event::FlagsSet { person_id, flags }])
            }
            Command::RecordPartyStatus(change) => {
                if change.status.is_member() && change.affiliation.is_none() {
                    return Err(CommandError::invalid(
                        "affiliation_organization_id",
                        "a Party member's affiliation is required",
                    ));
                }
                if change.status == current.party_status
                    && (change.affiliation == current.affiliation || change.affiliation.is_none())
                {
                    return Ok(vec![]);
                }
                check_transition(current.party_status, change.status)
                    .map_err(CommandError::Rejected)?;
                Ok(vec![Event::PartyStatusChanged {
                    person_id,
                    change: change.clone(),
                }])
            }
            Command::Erase { reason } => {
                let v = text_violations("reason", reason, 200);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                Ok(vec![Event::Erased {
                    person_id,
                    reason: reason.trim().to_owned(),
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        let update = |f: &dyn Fn(&mut Person)| {
            State(state.0.clone().map(|mut p| {
                f(&mut p);
                p
            }))
        };
        match event {
            Event::Registered(r) => State(Some(Person {
                registration: r.clone(),
                erased: false,
            })),
            Event::WorkChanged { work, .. } => update(&|p| p.registration.work = work.clone()),
            Event::ContactChanged { sealed_details, .. } => {
                update(&|p| p.registration.sealed_details = sealed_details.clone())
            }
            Event::FlagsSet { flags, .. } => update(&|p| p.registration.flags = flags.clone()),
            Event::PartyStatusChanged { change, .. } => update(&|p| {
                p.registration.party_status = change.status;
                if change.affiliation.is_some() || change.status == PartyStatus::None {
                    p.registration.affiliation = change.affiliation;
                }
            }),
            Event::Erased { .. } => update(&|p| {
                p.erased = true;
                p.registration.sealed_details.clear();
            }),
        }
    }
}

pub(crate) fn work_to_wire(w: &Work) -> pb::PersonWork {
    pb::PersonWork {
        industry: w
            .industry
            .map_or(pb::Industry::Unspecified, Industry::to_wire) as i32,
        platform: w.platform.clone(),
        enterprise_id: w.enterprise.map(|e| e.to_string()).unwrap_or_default(),
        community_id: w.community.map(|c| c.to_string()).unwrap_or_default(),
    }
}

fn work_from_wire(event_type: &str, w: Option<pb::PersonWork>) -> Result<Work, DecodeError> {
    let w = w.unwrap_or_default();
    Ok(Work {
        industry: Industry::from_wire(w.industry),
        platform: w.platform,
        enterprise: decode_optional_id(event_type, &w.enterprise_id)?,
        community: decode_optional_id(event_type, &w.community_id)?,
    })
}

fn status_from_wire(event_type: &str, raw: i32) -> Result<PartyStatus, DecodeError> {
    PartyStatus::from_wire(raw).ok_or_else(|| malformed(event_type, "unknown Party status"))
}

fn optional(id: Option<Uuid>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered(_) => "PersonRegistered",
            Self::WorkChanged { .. } => "PersonWorkChanged",
            Self::ContactChanged { .. } => "PersonContactChanged",
            Self::FlagsSet { .. } => "PersonFlagsSet",
            Self::PartyStatusChanged { .. } => "PersonPartyStatusChanged",
            Self::Erased { .. } => "PersonErased",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Registered(r) => pb::PersonRegistered {
                person_id: r.person_id.to_string(),
                sealed_details: r.sealed_details.clone(),
                work: Some(work_to_wire(&r.work)),
                union_member: r.flags.union_member,
                party_status: r.party_status.to_wire() as i32,
                affiliation_organization_id: optional(r.affiliation),
                mobile_member: r.flags.mobile_member,
                home_organisation: r.flags.home_organisation.clone(),
            }
            .encode_to_vec(),
            Self::WorkChanged { person_id, work } => pb::PersonWorkChanged {
                person_id: person_id.to_string(),
                work: Some(work_to_wire(work)),
            }
            .encode_to_vec(),
            Self::ContactChanged {
                person_id,
                sealed_details,
            } => pb::PersonContactChanged {
                person_id: person_id.to_string(),
                sealed_details: sealed_details.clone(),
            }
            .encode_to_vec(),
            Self::FlagsSet { person_id, flags } => pb::PersonFlagsSet {
                person_id: person_id.to_string(),
                union_member: flags.union_member,
                mobile_member: flags.mobile_member,
                home_organisation: flags.home_organisation.clone(),
            }
            .encode_to_vec(),
            Self::PartyStatusChanged { person_id, change } => pb::PersonPartyStatusChanged {
                person_id: person_id.to_string(),
                party_status: change.status.to_wire() as i32,
                affiliation_organization_id: optional(change.affiliation),
                effective_on: format_day(change.on),
                source_event_id: optional(change.source_event),
            }
            .encode_to_vec(),
            Self::Erased { person_id, reason } => pb::PersonErased {
                person_id: person_id.to_string(),
                reason: reason.clone(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if schema_version != 1 {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let bad = |e: prost::DecodeError| malformed(event_type, e);
        match event_type {
            "PersonRegistered" => {
                let m = pb::PersonRegistered::decode(payload).map_err(bad)?;
                Ok(Self::Registered(Registration {
                    person_id: decode_id(event_type, &m.person_id)?,
                    sealed_details: m.sealed_details,
                    work: work_from_wire(event_type, m.work)?,
                    flags: Flags {
                        union_member: m.union_member,
                        mobile_member: m.mobile_member,
                        home_organisation: m.home_organisation,
                    },
                    party_status: status_from_wire(event_type, m.party_status)?,
                    affiliation: decode_optional_id(event_type, &m.affiliation_organization_id)?,
                }))
            }
            "PersonWorkChanged" => {
                let m = pb::PersonWorkChanged::decode(payload).map_err(bad)?;
                Ok(Self::WorkChanged {
                    person_id: decode_id(event_type, &m.person_id)?,
                    work: work_from_wire(event_type, m.work)?,
                })
            }
            "PersonContactChanged" => {
                let m = pb::PersonContactChanged::decode(payload).map_err(bad)?;
                Ok(Self::ContactChanged {
                    person_id: decode_id(event_type, &m.person_id)?,
                    sealed_details: m.sealed_details,
                })
            }
            "PersonFlagsSet" => {
                let m = pb::PersonFlagsSet::decode(payload).map_err(bad)?;
                Ok(Self::FlagsSet {
                    person_id: decode_id(event_type, &m.person_id)?,
                    flags: Flags {
                        union_member: m.union_member,
                        mobile_member: m.mobile_member,
                        home_organisation: m.home_organisation,
                    },
                })
            }
            "PersonPartyStatusChanged" => {
                let m = pb::PersonPartyStatusChanged::decode(payload).map_err(bad)?;
                Ok(Self::PartyStatusChanged {
                    person_id: decode_id(event_type, &m.person_id)?,
                    change: StatusChange {
                        status: status_from_wire(event_type, m.party_status)?,
                        affiliation: decode_optional_id(
                            event_type,
                            &m.affiliation_organization_id,
                        )?,
                        on: parse_day(&m.effective_on)
                            .ok_or_else(|| malformed(event_type, "effective_on is not a day"))?,
                        source_event: decode_optional_id(event_type, &m.source_event_id)?,
                    },
                })
            }
            "PersonErased" => {
                let m = pb::PersonErased::decode(payload).map_err(bad)?;
                Ok(Self::Erased {
                    person_id: decode_id(event_type, &m.person_id)?,
                    reason: m.reason,
                })
            }
            other => Err(DecodeError::unknown(other, schema_version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hongxin_testkit::given::given;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).expect("day")
    }

    #[test]
    fn id_numbers_are_checked_per_gb_11643() {
        // The standard's own example, and its check digit.
        let id = IdNumber::parse("11010519491231002X", today()).expect("valid");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).expect("d")
        );
        assert_eq!(id.as_str(), "11010519491231002X");
        assert!(
            IdNumber::parse("11010519491231002x", today()).is_ok(),
            "lower-case x"
        );
        assert_eq!(
            IdNumber::parse("110105194912310021", today()).err(),
            Some("has a wrong check digit")
        );
        assert_eq!(
            IdNumber::parse("1101051949123100", today()).err(),
            Some("must be 18 characters")
        );
        assert_eq!(
            IdNumber::parse("11010519491331002X", today()).err(),
            Some("does not hold a valid birth date")
        );
        assert_eq!(
            IdNumber::parse("11010520991231002X", today()).err(),
            Some("does not hold a valid birth date")
        );
        assert!(IdNumber::parse("1101051949123100ZX", today()).is_err());
        assert!(IdNumber::parse("一一0105194912310021", today()).is_err());
        assert_eq!(format!("{id:?}"), "IdNumber(1101**********002X)");
    }

    #[test]
    fn phones_and_masks() {
        assert_eq!(parse_phone("138 0013 8000"), Ok("13800138000".to_owned()));
        assert_eq!(parse_phone("+8613800138000"), Ok("13800138000".to_owned()));
        assert!(parse_phone("12800138000").is_err());
        assert!(parse_phone("1380013800").is_err());
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_id_number("11010519491231002X"), "1101**********002X");
        assert_eq!(mask("abc", 3, 4), "***");
    }

    fn registration(status: PartyStatus) -> Registration {
        Registration {
            person_id: Uuid::from_u128(1),
            sealed_details: vec![1, 2, 3],
            work: Work {
                industry: Some(Industry::FoodDelivery),
                platform: "美团".into(),
                enterprise: Some(Uuid::from_u128(2)),
                community: Some(Uuid::from_u128(3)),
            },
            flags: Flags {
                union_member: true,
                mobile_member: false,
                home_organisation: String::new(),
            },
            party_status: status,
            affiliation: status.is_member().then(|| Uuid::from_u128(9)),
        }
    }

    fn change(status: PartyStatus) -> StatusChange {
        StatusChange {
            status,
            affiliation: Some(Uuid::from_u128(9)),
            on: today(),
            source_event: None,
        }
    }

    #[test]
    fn registering_twice_with_the_same_categories_is_a_retry() {
        let r = registration(PartyStatus::None);
        given(PersonDecider, [Event::Registered(r.clone())])
            .when(Command::Register(Registration {
                sealed_details: vec![4, 5, 6],
                ..r.clone()
            }))
            .then([]);
        given(PersonDecider, [Event::Registered(r.clone())])
            .when(Command::Register(Registration {
                party_status: PartyStatus::Applicant,
                ..r
            }))
            .then_rejected("already registered differently");
    }

    #[test]
    fn a_member_needs_an_affiliation() {
        given(PersonDecider, [])
            .when(Command::Register(Registration {
                affiliation: None,
                ..registration(PartyStatus::Full)
            }))
            .then_invalid("affiliation_organization_id");
    }

    #[test]
    fn a_mobile_member_names_a_home_organisation() {
        let mut r = registration(PartyStatus::Full);
        r.flags.mobile_member = true;
        given(PersonDecider, [])
            .when(Command::Register(r.clone()))
            .then_invalid("home_organisation");
        r.flags.mobile_member = false;
        r.flags.home_organisation = "某村党支部".into();
        given(PersonDecider, [])
            .when(Command::Register(r))
            .then_invalid("home_organisation");
    }

    #[test]
    fn party_status_moves_along_the_pipeline_only() {
        let p = Uuid::from_u128(1);
        let target = registration(PartyStatus::DevelopmentTarget);
        given(PersonDecider, [Event::Registered(target.clone())])
            .when(Command::RecordPartyStatus(change(
                PartyStatus::Probationary,
            )))
            .then([Event::PartyStatusChanged {
                person_id: p,
                change: change(PartyStatus::Probationary),
            }]);
        given(PersonDecider, [Event::Registered(target.clone())])
            .when(Command::RecordPartyStatus(change(PartyStatus::Full)))
            .then_rejected("cannot record 正式党员 for someone who is 发展对象");
        given(PersonDecider, [Event::Registered(target.clone())])
            .when(Command::RecordPartyStatus(change(PartyStatus::Activist)))
            .then_rejected("cannot record 入党积极分子");
        let full = registration(PartyStatus::Full);
        given(PersonDecider, [Event::Registered(full.clone())])
            .when(Command::RecordPartyStatus(change(PartyStatus::None)))
            .then_rejected("正式党员");
        // The same status again changes nothing (a redelivered event).
        given(PersonDecider, [Event::Registered(full)])
            .when(Command::RecordPartyStatus(change(PartyStatus::Full)))
            .then([]);
        // A cancelled probation returns the person to none.
        let probationary = registration(PartyStatus::Probationary);
        let cancelled = StatusChange {
            affiliation: None,
            ..change(PartyStatus::None)
        };
        let state = given(PersonDecider, [Event::Registered(probationary)])
            .when(Command::RecordPartyStatus(cancelled.clone()))
            .then([Event::PartyStatusChanged {
                person_id: p,
                change: cancelled,
            }]);
        let person = state.0.expect("person");
        assert_eq!(person.registration.party_status, PartyStatus::None);
        assert_eq!(person.registration.affiliation, None);
    }

    #[test]
    fn an_erased_person_keeps_only_categories_and_takes_no_more_commands() {
        let r = registration(PartyStatus::Full);
        let erased = Event::Erased {
            person_id: r.person_id,
            reason: "本人申请".into(),
        };
        let state = given(PersonDecider, [Event::Registered(r.clone())])
            .when(Command::Erase {
                reason: " 本人申请 ".into(),
            })
            .then([erased.clone()]);
        let person = state.0.expect("person");
        assert!(person.erased && person.registration.sealed_details.is_empty());
        assert_eq!(person.registration.party_status, PartyStatus::Full);

        given(
            PersonDecider,
            [Event::Registered(r.clone()), erased.clone()],
        )
        .when(Command::Erase {
            reason: "again".into(),
        })
        .then([]);
        given(
            PersonDecider,
            [Event::Registered(r.clone()), erased.clone()],
        )
        .when(Command::ChangeWork(r.work.clone()))
        .then_rejected("was erased");
        given(PersonDecider, [Event::Registered(r.clone()), erased])
            .when(Command::Register(r))
            .then_rejected("cannot be registered again");
        given(PersonDecider, [])
            .when(Command::Erase { reason: "x".into() })
            .then_error();
    }

    #[test]
    fn work_and_flags_change_only_when_they_differ() {
        let r = registration(PartyStatus::None);
        given(PersonDecider, [Event::Registered(r.clone())])
            .when(Command::ChangeWork(Work {
                platform: " 美团 ".into(),
                ..r.work.clone()
            }))
            .then([]);
        let moved = Work {
            community: Some(Uuid::from_u128(4)),
            ..r.work.clone()
        };
        given(PersonDecider, [Event::Registered(r.clone())])
            .when(Command::ChangeWork(moved.clone()))
            .then([Event::WorkChanged {
                person_id: r.person_id,
                work: moved,
            }]);
        given(PersonDecider, [Event::Registered(r.clone())])
            .when(Command::SetFlags(r.flags.clone()))
            .then([]);
    }
}
