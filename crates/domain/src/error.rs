use hongxin_eventstore::{FieldViolation, StoreError};

/// Why a command was not carried out. Each variant says how the caller
/// should react, and maps to one gRPC status in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The request is malformed: fix the named fields. Nothing was written.
    #[error("invalid request: {}", join(.0))]
    Invalid(Vec<FieldViolation>),
    /// What the command names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A rule of the domain forbids it now; the message is for a county
    /// officer to read.
    #[error("{0}")]
    Rejected(String),
    /// Someone else changed the aggregate first; reload and try again.
    #[error("{0}")]
    Conflict(String),
    /// A store or another service is unreachable; retrying later may work.
    #[error("service unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A bug or damaged data; the cause goes to the log, never the client.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl CommandError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    pub fn rejected(message: impl Into<String>) -> Self {
        Self::Rejected(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }
}

fn join(v: &[FieldViolation]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidInput(v) => Self::Invalid(v),
            StoreError::Conflict { .. } => Self::Conflict(e.to_string()),
            StoreError::EventIdReused { .. } => Self::Conflict(e.to_string()),
            StoreError::Unavailable(_) | StoreError::Closed => Self::Unavailable(Box::new(e)),
            StoreError::Corrupt(_) => Self::Internal(Box::new(e)),
        }
    }
}

/// A stored payload that cannot be turned back into a domain event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {event_type} version {schema_version}")]
    UnknownType {
        event_type: String,
        schema_version: u32,
    },
    #[error("malformed {event_type} payload: {reason}")]
    Malformed { event_type: String, reason: String },
}

impl DecodeError {
    /// No decoder for this type and schema version.
    pub fn unknown(event_type: &str, schema_version: u32) -> Self {
        Self::UnknownType {
            event_type: event_type.to_owned(),
            schema_version,
        }
    }

    /// The payload of `event_type` is not what its schema says.
    pub fn malformed(event_type: &str, reason: impl std::fmt::Display) -> Self {
        Self::Malformed {
            event_type: event_type.to_owned(),
            reason: reason.to_string(),
        }
    }
}

impl From<DecodeError> for CommandError {
    fn from(e: DecodeError) -> Self {
        Self::Internal(Box::new(e))
    }
}
