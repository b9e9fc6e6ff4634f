//! The store's errors; each variant says how a caller should react.

use std::fmt;

use uuid::Uuid;

use crate::model::ExpectedVersion;

/// One problem with one field of a request, reported to clients as a gRPC
/// `BadRequest` field violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request is malformed; nothing was written. Do not retry as is.
    #[error("invalid append: {}", join(.0))]
    InvalidInput(Vec<FieldViolation>),
    /// Another writer changed the stream first; reload and decide again.
    #[error("stream {stream_id} is at version {actual}, expected {expected}")]
    Conflict {
        stream_id: String,
        expected: ExpectedVersion,
        actual: u64,
    },
    /// An event id is already used by a different event or stream.
    #[error("event id {event_id} is already used by another event")]
    EventIdReused { event_id: Uuid },
    /// The database is unreachable or failed; retrying later may work.
    #[error("event store unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The store was closed (the process is shutting down).
    #[error("event store is closed")]
    Closed,
    /// A stored row cannot be read back; a bug or a damaged store.
    #[error("stored event is unreadable: {0}")]
    Corrupt(String),
}

fn join(v: &[FieldViolation]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unavailable(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Unavailable(sqlx::Error::Migrate(Box::new(e)))
    }
}
