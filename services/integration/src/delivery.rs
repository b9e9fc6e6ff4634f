//! Routing and delivery.
//!
//! **Routing.** One follower per source context (durable name
//! `integration`) reads that context's events in order and appends each
//! event a subscription receives to the subscription's log
//! (`subscription_log-<id>`, event `EventRouted`, its id a UUID v5 of the
//! subscription and the source event, so a redelivery appends nothing).
//! The log's version is the subscription's cursor. A transient failure is
//! retried in place rather than nak'd, so routing never reorders.
//!
//! **Delivery.** One task per subscription reads its log from a durable
//! checkpoint (`delivery.<id>`) and posts each entry as a signed CloudEvent,
//! one at a time, retrying with exponential backoff and full jitter. After
//! the last attempt (or at once, for an answer that will never change: a
//! 4xx other than 408 and 429) the entry is **parked** as a dead letter.
//! A later entry of the same aggregate stream is then **held**: recorded as
//! a dead letter behind the parked one without being attempted, so a
//! partner never sees an aggregate's events out of order. Other streams go
//! on. `ReplayDeadLetter` delivers the parked entry and then those held
//! behind it, in order; a discarded one lets the next be replayed.
//!
//! At least once: the checkpoint is saved after the answer, so a crash in
//! between posts the entry again, with the same CloudEvent id.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hongxin_bus::{EventEnvelope, EventFeed};
use hongxin_domain::{Clock, CommandContext, CommandError, CommandHandler, RetryPolicy};
use hongxin_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StreamId,
};
use hongxin_proto::integration::v1 as pb;
use hongxin_runtime::Shutdown;
use hongxin_runtime::follow::consume;
use hongxin_vault::Vault;
use prost::Message as _;
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use crate::Settings;
use crate::catalogue;
use crate::index::Index;
use crate::registry::Registry;
use crate::signing;
use crate::subscription::{Command, LetterState, Parking, Subscription, SubscriptionDecider};

const ROUTER: &str = "service:integration/router";
const DELIVERER: &str = "service:integration/delivery";
const REFUSED: &str = "hongxin_integration_events_refused_total";
const DELIVERED: &str = "hongxin_integration_deliveries_total";
const PARKED: &str = "hongxin_integration_parked_total";

/// The category of subscriptions' logs.
pub const LOG: &str = "subscription_log";

pub fn log_of(subscription: Uuid) -> StreamId {
    StreamId::new(LOG, subscription)
}

/// Why one delivery attempt failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// For the dead letter and the operator, e.g. "HTTP 503"; never the
    /// payload.
    pub reason: String,
    /// An answer that will not change by trying again.
    pub permanent: bool,
}

impl Failure {
    fn transient(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            permanent: false,
        }
    }

    fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            permanent: true,
        }
    }
}

/// What a replay did.
#[derive(Clone, Debug, Default)]
pub struct Replayed {
    pub delivered: Vec<u64>,
    pub failed: Option<(u64, String)>,
}

/// The routing and delivery machinery, shared by the gRPC API, the pull
/// route and the background tasks.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: EventStore,
    vault: Vault,
    registry: Registry,
    http: reqwest::Client,
    settings: Settings,
    clock: Arc<dyn Clock>,
    subscriptions: CommandHandler<SubscriptionDecider>,
    index: Index,
    /// Bumped whenever something a deliverer waits for may have changed.
    wake: watch::Sender<u64>,
}

impl Engine {
    pub fn new(
        store: EventStore,
        vault: Vault,
        registry: Registry,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .connect_timeout(Duration::from_millis(settings.request_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hongxin/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let subscriptions =
            CommandHandler::with_clock(store.clone(), SubscriptionDecider, clock.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                vault,
                registry,
                http,
                settings,
                clock,
                subscriptions,
                index: Index::default(),
                wake: watch::channel(0).0,
            }),
        })
    }

    pub fn subscriptions(&self) -> &CommandHandler<SubscriptionDecider> {
        &self.inner.subscriptions
    }

    pub fn store(&self) -> &EventStore {
        &self.inner.store
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn index(&self) -> &Index {
        &self.inner.index
    }

    /// Tells waiting deliverers to look again.
    pub fn wake(&self) {
        self.inner.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The subscription as its stream says now.
    pub async fn load(&self, id: Uuid) -> Result<Option<Subscription>, CommandError> {
        let loaded = self
            .inner
            .subscriptions
            .load(&CommandHandler::<SubscriptionDecider>::stream_id(id))
            .await?;
        Ok(loaded.state.0)
    }

    /// Runs a command on the subscription `id`.
    pub async fn command(
        &self,
        id: Uuid,
        command: &Command,
        ctx: &CommandContext,
    ) -> Result<Option<Subscription>, CommandError> {
        let outcome = self
            .inner
            .subscriptions
            .handle(
                &CommandHandler::<SubscriptionDecider>::stream_id(id),
                command,
                ctx,
                RetryPolicy::Reload(5),
            )
            .await?;
        self.wake();
        Ok(outcome.state.0)
    }

    /// How many events were routed to the subscription: its newest cursor.
    pub async fn routed(&self, id: Uuid) -> Result<u64, CommandError> {
        Ok(self.inner.store.stream_version(&log_of(id)).await?)
    }

    async fn secret(&self, sub: &Subscription, sealed: &[u8]) -> Result<Vec<u8>, CommandError> {
        let key = self
            .inner
            .vault
            .key(sub.id)
            .await
            .map_err(|e| CommandError::Unavailable(Box::new(e)))?
            .ok_or_else(|| CommandError::Internal("the subscription's key is gone".into()))?;
        key.open(sealed)
            .map_err(|e| CommandError::Internal(Box::new(e)))
    }

    /// The newest key's id and secret.
    pub async fn signing_key(&self, sub: &Subscription) -> Result<(String, Vec<u8>), CommandError> {
        let key = sub
            .keys
            .first()
            .ok_or_else(|| CommandError::Internal("a subscription without a key".into()))?;
        Ok((
            key.key_id.clone(),
            self.secret(sub, &key.sealed_secret).await?,
        ))
    }

    /// The secret of `kid` if that key verifies now.
    pub async fn verifying_key(
        &self,
        sub: &Subscription,
        kid: &str,
    ) -> Result<Option<Vec<u8>>, CommandError> {
        let now = self.inner.clock.now();
        match sub
            .keys
            .iter()
            .find(|k| k.key_id == kid && k.verifies_at(now))
        {
            Some(k) => Ok(Some(self.secret(sub, &k.sealed_secret).await?)),
            None => Ok(None),
        }
    }

    /// The CloudEvents of the subscription's log after `after`, at most
    /// `limit`: what a partner that was away pulls to catch up.
    pub async fn pull(
        &self,
        id: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Value>, CommandError> {
        let entries = self
            .inner
            .store
            .read_stream(&log_of(id), after + 1, limit)
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in &entries {
            let envelope = routed_envelope(entry)?;
            out.push(
                catalogue::cloud_event(&envelope, entry.stream_version, &self.inner.registry)
                    .await?,
            );
        }
        Ok(out)
    }

    // ---- routing ------------------------------------------------------

    /// Follows one source context until `shutdown`.
    pub async fn route(&self, feed: EventFeed, shutdown: impl Future<Output = ()>) {
        consume(ROUTER, feed, shutdown, |delivery| async move {
            let mut backoff = Duration::from_millis(50);
            loop {
                match self.route_one(&delivery.envelope).await {
                    Ok(()) => break,
                    Err(CommandError::Unavailable(e)) => {
                        tracing::warn!(error = %e, "routing waits for a store or the registry");
                    }
                    Err(CommandError::Conflict(_)) => {}
                    Err(refused) => {
                        tracing::error!(error = %refused, event_type = %delivery.envelope.event_type, "an event could not be routed");
                        metrics::counter!(REFUSED).increment(1);
                        break;
                    }
                }
                // In place, so that no later event of the context overtakes.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Some(delivery)
        })
        .await;
    }

    async fn route_one(&self, e: &EventEnvelope) -> Result<(), CommandError> {
        let wanted = catalogue::cloud_type(&e.context, &e.event_type);
        if catalogue::entitlement(&wanted).is_none() {
            return Ok(());
        }
        self.inner.index.refresh(&self.inner.store).await?;
        let candidates: Vec<Subscription> = self
            .inner
            .index
            .all()
            .into_iter()
            .filter(|s| s.spec.event_types.contains(&wanted))
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let filtered = candidates
            .iter()
            .any(|s| !s.spec.industries.is_empty() || !s.spec.community_ids.is_empty());
        let work = if filtered {
            catalogue::work_of(e, &self.inner.registry).await?
        } else {
            None
        };
        let source_id = Uuid::parse_str(&e.event_id)
            .map_err(|err| CommandError::invalid("event_id", err.to_string()))?;
        let mut routed = false;
        for sub in candidates
            .iter()
            .filter(|s| catalogue::receives(s, e, work.as_ref()))
        {
            let payload = pb::EventRouted {
                subscription_id: sub.id.to_string(),
                envelope: Some(e.clone()),
            };
            let mut metadata = EventMetadata::new(ROUTER, self.inner.clock.now());
            metadata.correlation_id =
                Uuid::parse_str(&e.correlation_id).unwrap_or(metadata.correlation_id);
            metadata.causation_id = Some(source_id);
            metadata.traceparent = Some(e.traceparent.clone()).filter(|t| !t.is_empty());
            metadata.tracestate = Some(e.tracestate.clone()).filter(|t| !t.is_empty());
            let event = NewEvent {
                event_id: Uuid::new_v5(&sub.id, source_id.as_bytes()),
                event_type: "EventRouted".to_owned(),
                schema_version: 1,
                payload: payload.encode_to_vec(),
                metadata,
            };
            self.inner
                .store
                .append(AppendRequest::new(
                    log_of(sub.id),
                    ExpectedVersion::Any,
                    vec![event],
                ))
                .await?;
            routed = true;
        }
        if routed {
            self.wake();
        }
        Ok(())
    }

    // ---- delivery -----------------------------------------------------

    /// Starts a deliverer for every subscription, as they are created, and
    /// waits for them when `shutdown` comes.
    pub async fn deliver_all(&self, shutdown: Shutdown) {
        let mut running = std::collections::HashSet::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut wake = self.inner.wake.subscribe();
        loop {
            match self.inner.index.refresh(&self.inner.store).await {
                Ok(()) => {
                    for sub in self.inner.index.all() {
                        if running.insert(sub.id) {
                            let (engine, s) = (self.clone(), shutdown.clone());
                            tasks.spawn(async move { engine.deliver(sub.id, s).await });
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the subscriptions; retrying"),
            }
            if !self.wait(&mut wake, &shutdown).await {
                break;
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Waits for a wake-up, the poll interval or shutdown; false on
    /// shutdown.
    async fn wait(&self, wake: &mut watch::Receiver<u64>, shutdown: &Shutdown) -> bool {
        let poll = Duration::from_millis(self.inner.settings.poll_interval_ms);
        tokio::select! {
            _ = shutdown.wait() => false,
            _ = wake.changed() => true,
            _ = tokio::time::sleep(poll) => true,
        }
    }

    /// Delivers one subscription's log in order until `shutdown`.
    pub async fn deliver(&self, id: Uuid, shutdown: Shutdown) {
        let checkpoint = format!("delivery.{id}");
        let log = log_of(id);
        let mut wake = self.inner.wake.subscribe();
        loop {
            if shutdown.is_triggered() {
                return;
            }
            let next = async {
                let done = self.inner.store.checkpoint(&checkpoint).await?;
                self.inner.store.read_stream(&log, done + 1, 100).await
            };
            let entries = match next.await {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(error = %e, subscription_id = %id, "cannot read the log; retrying");
                    if !self.wait(&mut wake, &shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            if entries.is_empty() {
                if !self.wait(&mut wake, &shutdown).await {
                    return;
                }
                continue;
            }
            for entry in &entries {
                match self.settle(id, entry, &shutdown).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, subscription_id = %id, "delivery interrupted; trying again");
                        if !self.wait(&mut wake, &shutdown).await {
                            return;
                        }
                        break;
                    }
                }
                if let Err(e) = self
                    .inner
                    .store
                    .save_checkpoint(&checkpoint, entry.stream_version)
                    .await
                {
                    // The entry comes again: at least once.
                    tracing::warn!(error = %e, subscription_id = %id, "cannot save the delivery checkpoint");
                    break;
                }
            }
        }
    }

    /// Delivers, parks or holds one log entry. False on shutdown.
    async fn settle(
        &self,
        id: Uuid,
        entry: &RecordedEvent,
        shutdown: &Shutdown,
    ) -> Result<bool, CommandError> {
        let cursor = entry.stream_version;
        let envelope = match routed_envelope(entry) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, cursor, "an undecodable log entry is skipped");
                metrics::counter!(REFUSED).increment(1);
                return Ok(true);
            }
        };
        let mut wake = self.inner.wake.subscribe();
        let ctx = CommandContext::new(DELIVERER);
        loop {
            let Some(sub) = self.load(id).await? else {
                return Ok(true);
            };
            if sub.dead_letters.contains_key(&cursor) {
                // Parked before a crash, with the checkpoint not yet saved.
                return Ok(true);
            }
            if sub.paused {
                if !self.wait(&mut wake, shutdown).await {
                    return Ok(false);
                }
                continue;
            }
            if sub.holding(&envelope.stream_id, cursor).is_some() {
                let held = Command::Park(parking(&envelope, cursor, true, "held", 0));
                match self.command(id, &held, &ctx).await {
                    Ok(_) => {
                        metrics::counter!(PARKED).increment(1);
                        return Ok(true);
                    }
                    // Replayed meanwhile: deliver it after all.
                    Err(CommandError::Rejected(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            match self.attempts(&sub, &envelope, cursor, shutdown).await {
                Attempts::Delivered => return Ok(true),
                Attempts::Stopped => return Ok(false),
                Attempts::Paused => continue,
                Attempts::Failed(failure, attempts) => {
                    let park =
                        Command::Park(parking(&envelope, cursor, false, &failure.reason, attempts));
                    self.command(id, &park, &ctx).await?;
                    metrics::counter!(PARKED).increment(1);
                    tracing::warn!(subscription_id = %id, cursor, reason = %failure.reason, attempts, "a delivery was parked");
                    return Ok(true);
                }
            }
        }
    }

    /// Every attempt at one entry, with backoff and full jitter between.
    async fn attempts(
        &self,
        sub: &Subscription,
        envelope: &EventEnvelope,
        cursor: u64,
        shutdown: &Shutdown,
    ) -> Attempts {
        let s = &self.inner.settings;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.post(sub, envelope, cursor, attempt).await {
                Ok(()) => return Attempts::Delivered,
                Err(f) => f,
            };
            if failure.permanent || attempt >= s.max_attempts.max(1) {
                return Attempts::Failed(failure, attempt);
            }
            let ceiling = s
                .initial_backoff_ms
                .saturating_mul(1u64 << (attempt - 1).min(30))
                .min(s.max_backoff_ms);
            let delay = Duration::from_millis(rand::random_range(0..=ceiling));
            tokio::select! {
                _ = shutdown.wait() => return Attempts::Stopped,
                _ = tokio::time::sleep(delay) => {}
            }
            match self.load(sub.id).await {
                Ok(Some(now)) if now.paused => return Attempts::Paused,
                _ => {}
            }
        }
    }

    /// One signed POST of one entry.
    pub async fn post(
        &self,
        sub: &Subscription,
        envelope: &EventEnvelope,
        cursor: u64,
        attempt: u32,
    ) -> Result<(), Failure> {
        let event = match catalogue::cloud_event(envelope, cursor, &self.inner.registry).await {
            Ok(event) => event,
            Err(CommandError::Unavailable(_)) => {
                return Err(Failure::transient("the people registry is unavailable"));
            }
            Err(e) => {
                tracing::error!(error = %e, cursor, "an event could not be mapped for a partner");
                return Err(Failure::permanent("the event could not be mapped"));
            }
        };
        let body = serde_json::to_vec(&event)
            .map_err(|_| Failure::permanent("the event could not be written"))?;
        let (kid, secret) = self.signing_key(sub).await.map_err(|e| match e {
            CommandError::Unavailable(_) => Failure::transient("the key store is unavailable"),
            _ => Failure::permanent("the signing key cannot be opened"),
        })?;
        let signature = signing::sign(&secret, &kid, self.inner.clock.now(), &body);
        let sent = self
            .inner
            .http
            .post(&sub.spec.endpoint_url)
            .header(
                "content-type",
                "application/cloudevents+json; charset=utf-8",
            )
            .header(signing::HEADER, signature)
            .header("Hongxin-Delivery-Attempt", attempt.to_string())
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                metrics::counter!(DELIVERED).increment(1);
                Ok(())
            }
            Ok(r) => {
                let code = r.status().as_u16();
                let reason = format!("HTTP {code}");
                if (400..500).contains(&code) && code != 408 && code != 429 {
                    Err(Failure::permanent(reason))
                } else {
                    Err(Failure::transient(reason))
                }
            }
            Err(e) if e.is_timeout() => Err(Failure::transient("timed out")),
            Err(e) if e.is_connect() => Err(Failure::transient("connection failed")),
            Err(_) => Err(Failure::transient("the request failed")),
        }
    }

    /// Delivers the dead letter at `cursor`, once, then those of its stream
    /// held behind it, in order, until one fails.
    pub async fn replay(
        &self,
        id: Uuid,
        cursor: u64,
        ctx: &CommandContext,
    ) -> Result<Replayed, CommandError> {
        let sub = self
            .load(id)
            .await?
            .ok_or_else(|| CommandError::not_found("no such subscription"))?;
        let letter = sub
            .dead_letters
            .get(&cursor)
            .ok_or_else(|| CommandError::not_found("no such dead letter"))?;
        if !letter.is_open() {
            return Err(CommandError::rejected(match letter.state {
                LetterState::Delivered => "this dead letter was delivered already",
                _ => "this dead letter was discarded",
            }));
        }
        if let Some(ahead) = sub.holding(&letter.stream, cursor) {
            return Err(CommandError::rejected(format!(
                "dead letter {} of the same stream must be replayed or discarded first",
                ahead.cursor
            )));
        }
        let stream = letter.stream.clone();
        let mut out = Replayed::default();
        let mut next = Some(cursor);
        let mut sub = sub;
        while let Some(c) = next {
            let entry = self
                .inner
                .store
                .read_stream(&log_of(id), c, 1)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| CommandError::Internal("a dead letter without its entry".into()))?;
            let envelope = routed_envelope(&entry)?;
            if let Err(f) = self.post(&sub, &envelope, c, 1).await {
                out.failed = Some((c, f.reason));
                return Ok(out);
            }
            let after = self
                .command(id, &Command::MarkDelivered { cursor: c }, ctx)
                .await?;
            out.delivered.push(c);
            let Some(after) = after else { break };
            next = after
                .dead_letters
                .values()
                .find(|l| l.is_open() && l.stream == stream)
                .map(|l| l.cursor);
            sub = after;
        }
        Ok(out)
    }
}

enum Attempts {
    Delivered,
    Failed(Failure, u32),
    Paused,
    Stopped,
}

fn parking(e: &EventEnvelope, cursor: u64, held: bool, reason: &str, attempts: u32) -> Parking {
    Parking {
        cursor,
        event_id: e.event_id.clone(),
        event_type: catalogue::cloud_type(&e.context, &e.event_type),
        stream: e.stream_id.clone(),
        held,
        reason: reason.to_owned(),
        attempts,
    }
}

/// The source event a log entry carries.
pub fn routed_envelope(entry: &RecordedEvent) -> Result<EventEnvelope, CommandError> {
    pb::EventRouted::decode(entry.payload.as_slice())
        .ok()
        .and_then(|r| r.envelope)
        .ok_or_else(|| CommandError::Internal("a malformed log entry".into()))
}
