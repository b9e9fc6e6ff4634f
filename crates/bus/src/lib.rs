//! Getting committed events from a context's store to its consumers.
//!
//! - [`OutboxRelay`] reads the store in global order and publishes each
//!   event to NATS JetStream with its event id as `Nats-Msg-Id`, advancing its
//!   checkpoint only after the server's acknowledgement.
//! - [`EventFeed`] is the consumer side, with one contract and two
//!   transports: a durable JetStream pull consumer with explicit acks
//!   (distributed mode), and an in-process feed that reads the producing
//!   store directly (embedded default).
//!
//! Architecture Invariant: services never publish to NATS themselves; an
//! event reaches the bus only after it is committed, through the relay.

mod envelope;
mod feed;
mod jetstream;
mod relay;
mod tail;

pub use envelope::{
    HEADER_EVENT_TYPE, HEADER_GLOBAL_POSITION, HEADER_SCHEMA_VERSION, HEADER_STREAM,
    HEADER_STREAM_VERSION, envelope_of, stream_name, subject_of,
};
pub use feed::{Delivery, EventFeed, ack_all};
pub use jetstream::{BusError, JetStreamSettings, ensure_stream};
pub use relay::{OutboxRelay, RelayStatus};
pub use tail::tail;

pub use hongxin_proto::eventing::v1::EventEnvelope;
