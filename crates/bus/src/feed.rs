//! The consumer side: one contract, two transports.
//!
//! A consumer asks for the next [`Delivery`], handles it, and acks it; an
//! unacked delivery comes again. Delivery is at least once and in the
//! context's global order; consumers make the effect exactly once by
//! keeping their own checkpoint (the envelope's `global_position`) in the
//! same transaction as their change.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::{Stream, StreamExt as _};
use hongxin_eventstore::{EventStore, RecordedEvent, StoreError};
use hongxin_proto::eventing::v1::EventEnvelope;
use prost::Message as _;

use crate::envelope::envelope_of;
use crate::jetstream::{BusError, JetStreamSettings, ensure_stream};

type Events = Pin<Box<dyn Stream<Item = Result<RecordedEvent, StoreError>> + Send>>;

/// A durable subscription to one context's events.
pub struct EventFeed {
    inner: Inner,
}

impl std::fmt::Debug for EventFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::JetStream { durable, .. } => write!(f, "EventFeed::JetStream({durable})"),
            Inner::InProcess { name, .. } => write!(f, "EventFeed::InProcess({name})"),
        }
    }
}

enum Inner {
    JetStream {
        durable: String,
        messages: Box<pull::Stream>,
    },
    InProcess {
        store: EventStore,
        context: String,
        name: String,
        events: Events,
        /// Set by a nak: the position to deliver again from.
        rewind: Arc<Mutex<Option<u64>>>,
    },
}

impl EventFeed {
    /// A durable pull consumer with explicit acks on the context's stream;
    /// it resumes where the last acknowledged message left it.
    pub async fn jetstream(
        js: &jetstream::Context,
        context: &str,
        durable: &str,
        settings: &JetStreamSettings,
    ) -> Result<Self, BusError> {
        let stream = ensure_stream(js, context, settings).await?;
        let consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .get_or_create_consumer(
                durable,
                pull::Config {
                    durable_name: Some(durable.to_owned()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    description: Some(format!("hongxin consumer {durable}")),
                    ..Default::default()
                },
            )
            .await
            .map_err(BusError::nats)?;
        let messages = consumer.messages().await.map_err(BusError::nats)?;
        Ok(Self {
            inner: Inner::JetStream {
                durable: durable.to_owned(),
                messages: Box::new(messages),
            },
        })
    }

    /// Reads the producing context's store directly (embedded default),
    /// resuming after the position last acked under `name`.
    pub async fn in_process(
        store: EventStore,
        context: &str,
        name: &str,
    ) -> Result<Self, BusError> {
        let name = format!("consumer.{name}");
        let from = store.checkpoint(&name).await?;
        let events = store.follow(from);
        Ok(Self {
            inner: Inner::InProcess {
                store,
                context: context.to_owned(),
                name,
                events,
                rewind: Arc::new(Mutex::new(None)),
            },
        })
    }

    /// Waits for the next event.
    pub async fn next(&mut self) -> Result<Delivery, BusError> {
        match &mut self.inner {
            Inner::JetStream { messages, .. } => {
                let message = messages
                    .next()
                    .await
                    .ok_or(BusError::Closed)?
                    .map_err(BusError::nats)?;
                let pending = message.info().map(|i| i.pending).unwrap_or(0);
                match EventEnvelope::decode(message.payload.as_ref()) {
                    Ok(envelope) => Ok(Delivery {
                        envelope,
                        pending,
                        ack: Ack::JetStream(Box::new(message)),
                    }),
                    Err(e) => {
                        // Never skipped silently: reported, and terminated so
                        // it does not block the consumer forever.
                        let subject = message.subject.to_string();
                        tracing::error!(%subject, error = %e, "undecodable event envelope");
                        metrics::counter!("hongxin_feed_malformed_total").increment(1);
                        let _ = message.ack_with(AckKind::Term).await;
                        Err(BusError::Malformed {
                            subject,
                            reason: e.to_string(),
                        })
                    }
                }
            }
            Inner::InProcess {
                store,
                context,
                name,
                events,
                rewind,
            } => {
                let again = rewind.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(position) = again {
                    *events = store.follow(position);
                }
                let event = events.next().await.ok_or(BusError::Closed)??;
                let head = *store.watch_head().borrow();
                Ok(Delivery {
                    envelope: envelope_of(context, &event),
                    pending: head.saturating_sub(event.global_position),
                    ack: Ack::InProcess {
                        store: store.clone(),
                        name: name.clone(),
                        position: event.global_position,
                        rewind: rewind.clone(),
                    },
                })
            }
        }
    }
}

/// One event handed to a consumer; ack it once its effect is committed.
#[derive(Debug)]
pub struct Delivery {
    pub envelope: EventEnvelope,
    /// Events of the context still waiting behind this one, as far as the
    /// transport knows: the consumer's lag.
    pub pending: u64,
    ack: Ack,
}

#[derive(Debug)]
enum Ack {
    JetStream(Box<jetstream::Message>),
    InProcess {
        store: EventStore,
        name: String,
        position: u64,
        rewind: Arc<Mutex<Option<u64>>>,
    },
}

/// Confirms a run of deliveries of one feed, handled in order: on
/// JetStream each is acknowledged (concurrently); in process, the last one's
/// checkpoint covers those before it.
pub async fn ack_all(deliveries: Vec<Delivery>) -> Result<(), BusError> {
    let mut jetstream = Vec::new();
    let mut last_in_process = None;
    for d in deliveries {
        if matches!(d.ack, Ack::JetStream(_)) {
            jetstream.push(d.ack());
        } else {
            last_in_process = Some(d);
        }
    }
    for result in futures::future::join_all(jetstream).await {
        result?;
    }
    if let Some(d) = last_in_process {
        d.ack().await?;
    }
    Ok(())
}

impl Delivery {
    /// Confirms the event is handled; it will not come again.
    pub async fn ack(self) -> Result<(), BusError> {
        match self.ack {
            Ack::JetStream(m) => m.ack().await.map_err(BusError::nats),
            Ack::InProcess {
                store,
                name,
                position,
                ..
            } => Ok(store.save_checkpoint(&name, position).await?),
        }
    }

    /// Asks for the event again (after `delay`, on JetStream).
    pub async fn nak(self, delay: Duration) -> Result<(), BusError> {
        match self.ack {
            Ack::JetStream(m) => m
                .ack_with(AckKind::Nak(Some(delay)))
                .await
                .map_err(BusError::nats),
            Ack::InProcess {
                position, rewind, ..
            } => {
                *rewind.lock().unwrap_or_else(|p| p.into_inner()) = Some(position - 1);
                tokio::time::sleep(delay).await;
                Ok(())
            }
        }
    }
}
