//! The envelope an event travels in, and where it travels.

use hongxin_eventstore::RecordedEvent;
use hongxin_proto::eventing::v1::EventEnvelope;

pub const HEADER_EVENT_TYPE: &str = "Hongxin-Event-Type";
pub const HEADER_SCHEMA_VERSION: &str = "Hongxin-Schema-Version";
pub const HEADER_STREAM: &str = "Hongxin-Stream";
pub const HEADER_STREAM_VERSION: &str = "Hongxin-Stream-Version";
pub const HEADER_GLOBAL_POSITION: &str = "Hongxin-Global-Position";

/// The JetStream stream of a bounded context, e.g. `HONGXIN_ORGANIZATION`.
pub fn stream_name(context: &str) -> String {
    format!("HONGXIN_{}", context.to_ascii_uppercase().replace('-', "_"))
}

/// `hongxin.<context>.<aggregate>.<event_type>`. Stream categories and
/// event types are restricted by the store to subject-safe characters.
pub fn subject_of(context: &str, event: &RecordedEvent) -> String {
    format!(
        "hongxin.{context}.{}.{}",
        event.stream_id.category(),
        event.event_type
    )
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Wraps a committed event for the bus.
pub fn envelope_of(context: &str, e: &RecordedEvent) -> EventEnvelope {
    EventEnvelope {
        event_id: e.event_id.to_string(),
        context: context.to_owned(),
        stream_id: e.stream_id.to_string(),
        stream_version: e.stream_version,
        global_position: e.global_position,
        event_type: e.event_type.clone(),
        schema_version: e.schema_version,
        occurred_at: Some(timestamp(e.metadata.occurred_at)),
        recorded_at: Some(timestamp(e.recorded_at)),
        actor: e.metadata.actor.clone(),
        correlation_id: e.metadata.correlation_id.to_string(),
        causation_id: e
            .metadata
            .causation_id
            .map(|c| c.to_string())
            .unwrap_or_default(),
        traceparent: e.metadata.traceparent.clone().unwrap_or_default(),
        tracestate: e.metadata.tracestate.clone().unwrap_or_default(),
        payload: e.payload.clone(),
    }
}
