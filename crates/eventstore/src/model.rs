//! The types of the store's API: what is appended and what is read back.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{FieldViolation, StoreError};

/// Most events one append may carry; larger batches are a caller bug.
pub const MAX_EVENTS_PER_APPEND: usize = 1_000;
/// Longest stream id, idempotency key, actor or event type accepted.
pub(crate) const MAX_NAME_LEN: usize = 200;

/// Identifies one aggregate's stream: `<category>-<id>`, where the category
/// (the aggregate type, `[a-z0-9_]+`) becomes a NATS subject token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(String);

impl StreamId {
    /// A stream id for an aggregate of `category` identified by `id`.
    pub fn new(category: &str, id: impl fmt::Display) -> Self {
        Self(format!("{category}-{id}"))
    }

    /// Checks and wraps a stream id received from outside.
    pub fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let violation = |d: &str| FieldViolation::new("stream_id", d);
        if raw.is_empty() {
            return Err(violation("must not be empty"));
        }
        if raw.len() > MAX_NAME_LEN {
            return Err(violation("must be at most 200 bytes"));
        }
        let Some((category, id)) = raw.split_once('-') else {
            return Err(violation("must look like <category>-<id>"));
        };
        if category.is_empty()
            || !category
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(violation(
                "category must be lower-case letters, digits or _",
            ));
        }
        if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(violation("id must be non-empty and without white space"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The aggregate type, the part before the first `-`.
    pub fn category(&self) -> &str {
        self.0.split_once('-').map_or(&self.0, |(c, _)| c)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the writer believes the stream's version to be; checked atomically
/// with the append (optimistic concurrency).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (0 = no events).
    Exact(u64),
}

impl ExpectedVersion {
    /// Decodes the wire form used by APIs: -1 any, -2 no stream, n ≥ 0 exact.
    pub fn from_wire(raw: i64) -> Result<Self, FieldViolation> {
        match raw {
            -1 => Ok(Self::Any),
            -2 => Ok(Self::NoStream),
            n if n >= 0 => Ok(Self::Exact(n as u64)),
            _ => Err(FieldViolation::new(
                "expected_version",
                "must be -1 (any), -2 (no stream) or a version ≥ 0",
            )),
        }
    }

    pub(crate) fn admits(self, current: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => current == 0,
            Self::Exact(v) => current == v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// Who and what caused an event; stored beside every event and carried on
/// the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMetadata {
    pub occurred_at: DateTime<Utc>,
    /// A user subject or a service identity.
    pub actor: String,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    /// W3C `traceparent` of the command that caused the event.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

impl EventMetadata {
    /// Metadata for an event caused by `actor` now, in a new correlation.
    pub fn new(actor: impl Into<String>, occurred_at: DateTime<Utc>) -> Self {
        Self {
            occurred_at,
            actor: actor.into(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            traceparent: None,
            tracestate: None,
        }
    }
}

/// An event to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: Uuid,
    /// Past-tense name, `[A-Za-z][A-Za-z0-9_]*`; becomes a subject token.
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Vec<u8>,
    pub metadata: EventMetadata,
}

/// One append: events for one stream, committed together or not at all.
#[derive(Clone, Debug)]
pub struct AppendRequest {
    pub stream_id: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    /// Makes the whole append idempotent: a second append with the same key
    /// writes nothing and returns the first result.
    pub idempotency_key: Option<String>,
}

impl AppendRequest {
    pub fn new(stream_id: StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        Self {
            stream_id,
            expected,
            events,
            idempotency_key: None,
        }
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Checks everything that can be checked without the database, so a bad
    /// request never reaches the writer.
    pub(crate) fn validate(&self, max_payload: usize) -> Result<(), StoreError> {
        let mut v = Vec::new();
        if let Err(e) = StreamId::parse(self.stream_id.as_str()) {
            v.push(e);
        }
        if self.events.is_empty() {
            v.push(FieldViolation::new("events", "must not be empty"));
        }
        if self.events.len() > MAX_EVENTS_PER_APPEND {
            v.push(FieldViolation::new(
                "events",
                "at most 1000 events per append",
            ));
        }
        if let Some(key) = &self.idempotency_key
            && (key.is_empty() || key.len() > MAX_NAME_LEN)
        {
            v.push(FieldViolation::new(
                "idempotency_key",
                "must be 1 to 200 bytes",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, e) in self.events.iter().enumerate() {
            let field = |name: &str| format!("events[{i}].{name}");
            if !seen.insert(e.event_id) {
                v.push(FieldViolation::new(
                    field("event_id"),
                    "appears twice in one append",
                ));
            }
            if e.event_id.is_nil() {
                v.push(FieldViolation::new(
                    field("event_id"),
                    "must not be the nil UUID",
                ));
            }
            if !valid_event_type(&e.event_type) {
                v.push(FieldViolation::new(
                    field("event_type"),
                    "must be 1 to 200 letters, digits or _, starting with a letter",
                ));
            }
            if e.payload.len() > max_payload {
                v.push(FieldViolation::new(
                    field("payload"),
                    format!("must be at most {max_payload} bytes"),
                ));
            }
            let m = &e.metadata;
            if m.actor.is_empty() || m.actor.len() > MAX_NAME_LEN {
                v.push(FieldViolation::new(
                    field("metadata.actor"),
                    "must be 1 to 200 bytes",
                ));
            }
            if let Some(tp) = &m.traceparent
                && !valid_traceparent(tp)
            {
                v.push(FieldViolation::new(
                    field("metadata.traceparent"),
                    "must be a W3C traceparent",
                ));
            }
            if m.tracestate.as_ref().is_some_and(|s| s.len() > 512) {
                v.push(FieldViolation::new(
                    field("metadata.tracestate"),
                    "at most 512 bytes",
                ));
            }
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(StoreError::InvalidInput(v))
        }
    }
}

fn valid_event_type(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_NAME_LEN
        && t.starts_with(|c: char| c.is_ascii_alphabetic())
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `version-traceid-parentid-flags`, lower-case hex, as W3C Trace Context
/// defines it.
pub fn valid_traceparent(tp: &str) -> bool {
    let parts: Vec<&str> = tp.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && parts[2].bytes().any(|b| b != b'0')
        && hex(parts[3], 2)
}

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    pub stream_id: StreamId,
    /// Version of the first appended event.
    pub first_version: u64,
    /// The stream's version after the append.
    pub last_version: u64,
    pub first_position: u64,
    pub last_position: u64,
    /// True when nothing was written because the same append (same event
    /// ids, or the same idempotency key) was already committed.
    pub deduplicated: bool,
}

/// An event as committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// 1-based, gapless position in the store.
    pub global_position: u64,
    pub stream_id: StreamId,
    /// 1-based version within the stream.
    pub stream_version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Vec<u8>,
    pub metadata: EventMetadata,
    pub recorded_at: DateTime<Utc>,
}

/// A data subject's key, wrapped by a master key the store never sees.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey {
    pub subject: Uuid,
    pub wrapped_key: Vec<u8>,
    /// Which master key wrapped it, so master keys can rotate.
    pub kek_id: String,
    /// Keyed hash of the subject's unique natural key, if any.
    pub lookup: Option<String>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("subject", &self.subject)
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

/// What became of a request to store a data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyClaim {
    /// Stored now.
    Created,
    /// The subject already had one (its lookup may differ).
    Existing(DataKey),
    /// Another subject holds the lookup.
    LookupTaken { by: Uuid },
}
