//! A partner's subscription: what it receives, where, the keys that sign
//! deliveries, and the dead letters taken out of its delivery order.
//!
//! One stream per subscription (`subscription-<id>`). The dead letters live
//! in the same aggregate because whether an event may be delivered depends
//! on them: a stream with an open dead letter is held.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, create_once};
use hongxin_proto::integration::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

/// The outside systems hongxin feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Partner {
    Union,
    HrBureau,
}

impl Partner {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::Partner::try_from(raw).ok()? {
            pb::Partner::Union => Some(Self::Union),
            pb::Partner::HrBureau => Some(Self::HrBureau),
            pb::Partner::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::Partner {
        match self {
            Self::Union => pb::Partner::Union,
            Self::HrBureau => pb::Partner::HrBureau,
        }
    }
}

/// What a subscription asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub partner: Partner,
    pub endpoint_url: String,
    /// CloudEvents types, sorted, each one the partner is entitled to.
    pub event_types: Vec<String>,
    /// `hongxin.organization.v1.Industry` values, sorted; empty for all.
    pub industries: Vec<i32>,
    /// Sorted; empty for all.
    pub community_ids: Vec<Uuid>,
}

/// A signing key as recorded: the secret sealed with the subscription's
/// data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub key_id: String,
    pub sealed_secret: Vec<u8>,
    pub issued_at: DateTime<Utc>,
    /// None while it is the newest key.
    pub valid_until: Option<DateTime<Utc>>,
}

impl Key {
    /// Whether a signature made with this key is accepted at `now`.
    pub fn verifies_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_until.is_none_or(|until| now < until)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LetterState {
    Parked,
    Held,
    Delivered,
    Discarded,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub cursor: u64,
    pub event_id: String,
    pub event_type: String,
    pub stream: String,
    pub state: LetterState,
    pub held_behind: u64,
    pub reason: String,
    pub attempts: u32,
    pub parked_at: DateTime<Utc>,
}

impl DeadLetter {
    pub fn is_open(&self) -> bool {
        matches!(self.state, LetterState::Parked | LetterState::Held)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: Uuid,
    pub spec: Spec,
    pub created_at: DateTime<Utc>,
    /// Newest first.
    pub keys: Vec<Key>,
    pub paused: bool,
    pub dead_letters: BTreeMap<u64, DeadLetter>,
}

impl Subscription {
    /// The first open dead letter of `stream` before `cursor`: what an event
    /// of that stream at `cursor` must wait behind.
    pub fn holding(&self, stream: &str, cursor: u64) -> Option<&DeadLetter> {
        self.dead_letters
            .range(..cursor)
            .map(|(_, l)| l)
            .find(|l| l.is_open() && l.stream == stream)
    }

    pub fn open_dead_letters(&self) -> usize {
        self.dead_letters.values().filter(|l| l.is_open()).count()
    }
}

#[derive(Clone, Debug, Default)]
pub struct State(pub Option<Subscription>);

/// An event that could not be delivered in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parking {
    pub cursor: u64,
    pub event_id: String,
    pub event_type: String,
    pub stream: String,
    /// True when it only waits behind an open dead letter of its stream.
    pub held: bool,
    pub reason: String,
    pub attempts: u32,
}

#[derive(Clone, Debug)]
pub enum Command {
    Create {
        id: Uuid,
        spec: Spec,
        /// The first key's secret, sealed.
        sealed_secret: Vec<u8>,
    },
    /// A new newest key; the previous verifies for `overlap` more.
    Rotate {
        sealed_secret: Vec<u8>,
        overlap: Duration,
    },
    Pause,
    Resume,
    Park(Parking),
    MarkDelivered {
        cursor: u64,
    },
    Discard {
        cursor: u64,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Created(pb::SubscriptionCreated),
    KeyRotated(pb::SigningKeyRotated),
    Paused(pb::SubscriptionPaused),
    Resumed(pb::SubscriptionResumed),
    Parked(pb::DeliveryParked),
    Delivered(pb::DeadLetterDelivered),
    Discarded(pb::DeadLetterDiscarded),
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_time(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SubscriptionDecider;

impl Decider for SubscriptionDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "subscription";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        if let Command::Create {
            id,
            spec,
            sealed_secret,
        } = command
        {
            return create_once(
                state.0.as_ref().map(|s| s.spec.clone()),
                spec.clone(),
                |_| "this subscription exists with other settings".to_owned(),
                |spec| {
                    Ok(vec![Event::Created(pb::SubscriptionCreated {
                        subscription_id: id.to_string(),
                        partner: spec.partner.to_wire() as i32,
                        endpoint_url: spec.endpoint_url,
                        event_types: spec.event_types,
                        industries: spec.industries,
                        community_ids: spec.community_ids.iter().map(Uuid::to_string).collect(),
                        created_at: rfc3339(now),
                        key: Some(pb::RecordedSigningKey {
                            key_id: "k1".to_owned(),
                            sealed_secret: sealed_secret.clone(),
                            issued_at: rfc3339(now),
                        }),
                    })])
                },
            );
        }
        let Some(sub) = &state.0 else {
            return Err(CommandError::not_found("no such subscription"));
        };
        let id = sub.id.to_string();
        let letter = |cursor: u64| {
            sub.dead_letters
                .get(&cursor)
                .ok_or_else(|| CommandError::not_found("no such dead letter"))
        };
        Ok(match command {
            Command::Create { .. } => Vec::new(),
            Command::Rotate {
                sealed_secret,
                overlap,
            } => vec![Event::KeyRotated(pb::SigningKeyRotated {
                subscription_id: id,
                key: Some(pb::RecordedSigningKey {
                    key_id: format!("k{}", sub.keys.len() + 1),
                    sealed_secret: sealed_secret.clone(),
                    issued_at: rfc3339(now),
                }),
                previous_valid_until: rfc3339(now + *overlap),
            })],
            Command::Pause if sub.paused => Vec::new(),
            Command::Pause => vec![Event::Paused(pb::SubscriptionPaused {
                subscription_id: id,
            })],
            Command::Resume if !sub.paused => Vec::new(),
            Command::Resume => vec![Event::Resumed(pb::SubscriptionResumed {
                subscription_id: id,
            })],
            Command::Park(p) => {
                if sub.dead_letters.contains_key(&p.cursor) {
                    // A retried parking after a crash: recorded already.
                    return Ok(Vec::new());
                }
                let held_behind = match sub.holding(&p.stream, p.cursor) {
                    Some(ahead) if p.held => ahead.cursor,
                    None if p.held => {
                        return Err(CommandError::rejected(
                            "nothing of this stream is parked any more",
                        ));
                    }
                    _ => 0,
                };
                vec![Event::Parked(pb::DeliveryParked {
                    subscription_id: id,
                    cursor: p.cursor,
                    event_id: p.event_id.clone(),
                    event_type: p.event_type.clone(),
                    stream: p.stream.clone(),
                    held_behind,
                    reason: p.reason.clone(),
                    attempts: p.attempts,
                    parked_at: rfc3339(now),
                })]
            }
            Command::MarkDelivered { cursor } => {
                let l = letter(*cursor)?;
                if l.state == LetterState::Delivered {
                    return Ok(Vec::new());
                }
                if !l.is_open() {
                    return Err(CommandError::rejected("this dead letter was discarded"));
                }
                if let Some(ahead) = sub.holding(&l.stream, *cursor) {
                    return Err(CommandError::rejected(format!(
                        "dead letter {} of the same stream comes first",
                        ahead.cursor
                    )));
                }
                vec![Event::Delivered(pb::DeadLetterDelivered {
                    subscription_id: id,
                    cursor: *cursor,
                    delivered_at: rfc3339(now),
                })]
            }
            Command::Discard { cursor, reason } => {
                let l = letter(*cursor)?;
                if l.state == LetterState::Discarded {
                    return Ok(Vec::new());
                }
                if !l.is_open() {
                    return Err(CommandError::rejected("this dead letter was delivered"));
                }
                vec![Event::Discarded(pb::DeadLetterDiscarded {
                    subscription_id: id,
                    cursor: *cursor,
                    reason: reason.clone(),
                })]
            }
        })
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        let mut state = state;
        match event {
            Event::Created(e) => {
                let spec = Spec {
                    partner: Partner::from_wire(e.partner).unwrap_or(Partner::Union),
                    endpoint_url: e.endpoint_url.clone(),
                    event_types: e.event_types.clone(),
                    industries: e.industries.clone(),
                    community_ids: e
                        .community_ids
                        .iter()
                        .filter_map(|c| Uuid::parse_str(c).ok())
                        .collect(),
                };
                state.0 = Some(Subscription {
                    id: Uuid::parse_str(&e.subscription_id).unwrap_or_default(),
                    spec,
                    created_at: parse_time(&e.created_at),
                    keys: e.key.iter().map(key_of).collect(),
                    paused: false,
                    dead_letters: BTreeMap::new(),
                });
            }
            Event::KeyRotated(e) => {
                if let Some(sub) = &mut state.0 {
                    let until = parse_time(&e.previous_valid_until);
                    for k in &mut sub.keys {
                        // An older key's end is never pushed later.
                        k.valid_until = Some(k.valid_until.map_or(until, |u| u.min(until)));
                    }
                    if let Some(k) = &e.key {
                        sub.keys.insert(0, key_of(k));
                    }
                }
            }
            Event::Paused(_) => {
                if let Some(sub) = &mut state.0 {
                    sub.paused = true;
                }
            }
            Event::Resumed(_) => {
                if let Some(sub) = &mut state.0 {
                    sub.paused = false;
                }
            }
            Event::Parked(e) => {
                if let Some(sub) = &mut state.0 {
                    sub.dead_letters.insert(
                        e.cursor,
                        DeadLetter {
                            cursor: e.cursor,
                            event_id: e.event_id.clone(),
                            event_type: e.event_type.clone(),
                            stream: e.stream.clone(),
                            state: if e.held_behind == 0 {
                                LetterState::Parked
                            } else {
                                LetterState::Held
                            },
                            held_behind: e.held_behind,
                            reason: e.reason.clone(),
                            attempts: e.attempts,
                            parked_at: parse_time(&e.parked_at),
                        },
                    );
                }
            }
            Event::Delivered(e) => {
                if let Some(l) = state
                    .0
                    .as_mut()
                    .and_then(|s| s.dead_letters.get_mut(&e.cursor))
                {
                    l.state = LetterState::Delivered;
                }
            }
            Event::Discarded(e) => {
                if let Some(l) = state
                    .0
                    .as_mut()
                    .and_then(|s| s.dead_letters.get_mut(&e.cursor))
                {
                    l.state = LetterState::Discarded;
                    l.reason = format!("discarded: {}", e.reason);
                }
            }
        }
        state
    }
}

fn key_of(k: &pb::RecordedSigningKey) -> Key {
    Key {
        key_id: k.key_id.clone(),
        sealed_secret: k.sealed_secret.clone(),
        issued_at: parse_time(&k.issued_at),
        valid_until: None,
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created(_) => "SubscriptionCreated",
            Self::KeyRotated(_) => "SigningKeyRotated",
            Self::Paused(_) => "SubscriptionPaused",
            Self::Resumed(_) => "SubscriptionResumed",
            Self::Parked(_) => "DeliveryParked",
            Self::Delivered(_) => "DeadLetterDelivered",
            Self::Discarded(_) => "DeadLetterDiscarded",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Created(e) => e.encode_to_vec(),
            Self::KeyRotated(e) => e.encode_to_vec(),
            Self::Paused(e) => e.encode_to_vec(),
            Self::Resumed(e) => e.encode_to_vec(),
            Self::Parked(e) => e.encode_to_vec(),
            Self::Delivered(e) => e.encode_to_vec(),
            Self::Discarded(e) => e.encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        fn d<M: prost::Message + Default>(t: &str, p: &[u8]) -> Result<M, DecodeError> {
            M::decode(p).map_err(|e| DecodeError::malformed(t, e))
        }
        if schema_version != 1 {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        Ok(match event_type {
            "SubscriptionCreated" => Self::Created(d(event_type, payload)?),
            "SigningKeyRotated" => Self::KeyRotated(d(event_type, payload)?),
            "SubscriptionPaused" => Self::Paused(d(event_type, payload)?),
            "SubscriptionResumed" => Self::Resumed(d(event_type, payload)?),
            "DeliveryParked" => Self::Parked(d(event_type, payload)?),
            "DeadLetterDelivered" => Self::Delivered(d(event_type, payload)?),
            "DeadLetterDiscarded" => Self::Discarded(d(event_type, payload)?),
            _ => return Err(DecodeError::unknown(event_type, schema_version)),
        })
    }
}
