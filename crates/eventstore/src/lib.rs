//! The append-only event store of one bounded context, over sqlx on
//! PostgreSQL (distributed mode) or SQLite (embedded default), with the same
//! semantics on both:
//!
//! - one stream per aggregate, optimistic concurrency on the expected
//!   version, unique event ids, idempotent re-append and idempotency keys;
//! - a gapless global order that commits in order, so a reader following
//!   positions never skips an event whose transaction commits late;
//! - metadata on every event (type and schema version, occurred-at and
//!   recorded-at, actor, correlation and causation ids, W3C trace context).
//!
//! Architecture Invariant: this is the only crate that writes SQL for events.

mod error;
mod lead;
mod model;
mod sql;
mod store;

pub use error::{FieldViolation, StoreError};
pub use lead::Leader;
pub use model::{
    AppendRequest, AppendResult, DataKey, EventMetadata, ExpectedVersion, KeyClaim,
    MAX_EVENTS_PER_APPEND, NewEvent, RecordedEvent, StreamId, valid_traceparent,
};
pub use store::{EventStore, StoreConfig, StoreLimits};
