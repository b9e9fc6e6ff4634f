//! The outbox relay: committed events → NATS JetStream, nothing lost and
//! nothing doubled.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use hongxin_eventstore::{EventStore, RecordedEvent};
use prost::Message as _;
use tokio::sync::watch;

use crate::envelope::{
    HEADER_EVENT_TYPE, HEADER_GLOBAL_POSITION, HEADER_SCHEMA_VERSION, HEADER_STREAM,
    HEADER_STREAM_VERSION, envelope_of, subject_of,
};
use crate::jetstream::{BusError, JetStreamSettings, ensure_stream};

const CHECKPOINT: &str = "relay.jetstream";
const BATCH: usize = 1_000;
const IDLE_POLL: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How far the relay is, for metrics and health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStatus {
    /// Last position acknowledged by JetStream.
    pub published: u64,
    /// Last committed position known to the relay.
    pub head: u64,
}

/// Publishes one context's committed events to its JetStream stream.
#[derive(Debug)]
pub struct OutboxRelay {
    store: EventStore,
    js: jetstream::Context,
    context: String,
    settings: JetStreamSettings,
    status: Arc<watch::Sender<RelayStatus>>,
}

impl OutboxRelay {
    pub fn new(store: EventStore, js: jetstream::Context, context: impl Into<String>) -> Self {
        Self {
            store,
            js,
            context: context.into(),
            settings: JetStreamSettings::default(),
            status: Arc::new(watch::channel(RelayStatus::default()).0),
        }
    }

    pub fn with_settings(mut self, settings: JetStreamSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Progress of the relay, updated after every acknowledged batch.
    pub fn status(&self) -> watch::Receiver<RelayStatus> {
        self.status.subscribe()
    }

    /// Runs until `shutdown` completes. Every failure (NATS away, the store
    /// away) is retried with exponential backoff from the last checkpoint;
    /// JetStream drops the re-published events by their message id.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut head = self.store.watch_head();
        let mut backoff = Duration::from_millis(50);
        let mut ready = false;
        loop {
            let step = async {
                if !ready {
                    self.prepare().await?;
                    ready = true;
                }
                self.pump().await
            };
            let wait = tokio::select! {
                _ = &mut shutdown => return,
                r = step => match r {
                    Ok(0) => {
                        backoff = Duration::from_millis(50);
                        IDLE_POLL
                    }
                    Ok(_) => {
                        backoff = Duration::from_millis(50);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(context = %self.context, error = %e, retry_in = ?backoff, "outbox relay failed; retrying");
                        metrics::counter!("hongxin_relay_failures_total", "context" => self.context.clone()).increment(1);
                        let wait = backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        // Wait the full backoff, not just until the next commit.
                        tokio::select! {
                            _ = &mut shutdown => return,
                            _ = tokio::time::sleep(wait) => continue,
                        }
                    }
                },
            };
            // Idle: wake on the next local commit, or poll for another
            // process's.
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::timeout(wait, head.changed()) => {}
            }
        }
    }

    /// Creates the stream if needed and moves the checkpoint past whatever
    /// the stream already holds from this store (published before a crash
    /// that lost the checkpoint update).
    async fn prepare(&self) -> Result<(), BusError> {
        let mut stream = ensure_stream(&self.js, &self.context, &self.settings).await?;
        let last_seq = stream
            .info()
            .await
            .map_err(BusError::nats)?
            .state
            .last_sequence;
        if last_seq == 0 {
            return Ok(());
        }
        let last = stream
            .get_raw_message(last_seq)
            .await
            .map_err(BusError::nats)?;
        let position = last
            .headers
            .get(HEADER_GLOBAL_POSITION)
            .and_then(|v| v.as_str().parse::<u64>().ok());
        let id = last
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned());
        let (Some(position), Some(id)) = (position, id) else {
            return Ok(());
        };
        let checkpoint = self.store.checkpoint(CHECKPOINT).await?;
        if position > checkpoint {
            // Only trust the stream if the message really is this store's
            // event at that position.
            if let Some(event) = self.store.event_at(position).await?
                && event.event_id.to_string() == id
            {
                tracing::info!(context = %self.context, from = checkpoint, to = position, "relay checkpoint caught up with the stream");
                self.store.save_checkpoint(CHECKPOINT, position).await?;
            }
        }
        Ok(())
    }

    /// Publishes everything after the checkpoint, batch by batch; returns
    /// how many events. While JetStream acknowledges one batch, the next is
    /// read from the store.
    async fn pump(&self) -> Result<usize, BusError> {
        let checkpoint = self.store.checkpoint(CHECKPOINT).await?;
        let mut events = self.store.read_all(checkpoint, BATCH).await?;
        if events.is_empty() {
            self.status.send_modify(|s| {
                s.published = checkpoint;
                s.head = s.head.max(checkpoint);
            });
            return Ok(0);
        }
        let mut total = 0;
        while let Some(last) = events.last().map(|e| e.global_position) {
            let started = Instant::now();
            let mut acks = Vec::with_capacity(events.len());
            for event in &events {
                let ack = self
                    .js
                    .send_publish(subject_of(&self.context, event), self.message(event))
                    .await
                    .map_err(BusError::nats)?;
                acks.push(ack);
            }
            let acknowledged = async {
                for ack in acks {
                    ack.await.map_err(BusError::nats)?;
                }
                Ok::<_, BusError>(())
            };
            let (acknowledged, ahead) =
                tokio::join!(acknowledged, self.store.read_all(last, BATCH));
            acknowledged?;
            // How long after its commit each event was in JetStream.
            let now = chrono::Utc::now();
            for event in &events {
                let delay = (now - event.recorded_at).num_microseconds().unwrap_or(0);
                metrics::histogram!("hongxin_relay_delay_seconds", "context" => self.context.clone())
                    .record(delay.max(0) as f64 / 1e6);
            }
            // Only now, with every message of the batch acknowledged.
            self.store.save_checkpoint(CHECKPOINT, last).await?;
            total += events.len();
            metrics::counter!("hongxin_relay_published_total", "context" => self.context.clone())
                .increment(events.len() as u64);
            metrics::histogram!("hongxin_relay_batch_seconds", "context" => self.context.clone())
                .record(started.elapsed().as_secs_f64());
            let head = *self.store.watch_head().borrow();
            self.status.send_replace(RelayStatus {
                published: last,
                head: head.max(last),
            });
            metrics::gauge!("hongxin_relay_lag_events", "context" => self.context.clone())
                .set(head.saturating_sub(last) as f64);
            events = ahead?;
        }
        Ok(total)
    }

    fn message(&self, e: &RecordedEvent) -> PublishMessage {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_EVENT_TYPE, e.event_type.as_str());
        headers.insert(HEADER_SCHEMA_VERSION, e.schema_version.to_string().as_str());
        headers.insert(HEADER_STREAM, e.stream_id.as_str());
        headers.insert(HEADER_STREAM_VERSION, e.stream_version.to_string().as_str());
        headers.insert(
            HEADER_GLOBAL_POSITION,
            e.global_position.to_string().as_str(),
        );
        if let Some(tp) = &e.metadata.traceparent {
            headers.insert("traceparent", tp.as_str());
        }
        if let Some(ts) = &e.metadata.tracestate {
            headers.insert("tracestate", ts.as_str());
        }
        PublishMessage::build()
            .headers(headers)
            .message_id(e.event_id.to_string())
            .payload(envelope_of(&self.context, e).encode_to_vec().into())
    }
}
