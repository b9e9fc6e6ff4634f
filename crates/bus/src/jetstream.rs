//! JetStream streams of the bounded contexts.

use std::time::Duration;

use async_nats::jetstream::{self, stream::StorageType};

use crate::envelope::stream_name;

/// How a context's stream is set up.
#[derive(Clone, Debug)]
pub struct JetStreamSettings {
    /// Window in which the server drops a message whose `Nats-Msg-Id` it has
    /// seen; the relay also reconciles its checkpoint with the stream on
    /// start, so a longer outage cannot double an event either.
    pub duplicate_window: Duration,
    /// Replicas of the stream (3 on a production cluster, 1 on one server).
    pub replicas: usize,
}

impl Default for JetStreamSettings {
    fn default() -> Self {
        Self {
            duplicate_window: Duration::from_secs(300),
            replicas: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("NATS is unavailable: {0}")]
    Unavailable(String),
    #[error("event store unavailable")]
    Store(#[from] hongxin_eventstore::StoreError),
    #[error("malformed message on {subject}: {reason}")]
    Malformed { subject: String, reason: String },
    #[error("the feed is closed")]
    Closed,
}

impl BusError {
    pub(crate) fn nats(e: impl std::fmt::Display) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Creates the context's stream if missing: file storage, subjects
/// `hongxin.<context>.>`.
pub async fn ensure_stream(
    js: &jetstream::Context,
    context: &str,
    settings: &JetStreamSettings,
) -> Result<jetstream::stream::Stream, BusError> {
    js.get_or_create_stream(jetstream::stream::Config {
        name: stream_name(context),
        subjects: vec![format!("hongxin.{context}.>")],
        storage: StorageType::File,
        duplicate_window: settings.duplicate_window,
        num_replicas: settings.replicas,
        description: Some(format!(
            "hongxin {context} events, published by its outbox relay"
        )),
        ..Default::default()
    })
    .await
    .map_err(BusError::nats)
}
