use std::sync::Arc;

use hongxin_eventstore::{
    AppendRequest, AppendResult, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreError,
    StreamId,
};
use uuid::Uuid;

use crate::{Clock, CommandError, Decider, DomainEvent, SystemClock};

/// Who asks, in which correlation, and with what guarantees.
#[derive(Clone, Debug)]
pub struct CommandContext {
    /// The caller: a user subject or a service identity.
    pub actor: String,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// Makes the command idempotent: a retry returns the first outcome.
    pub idempotency_key: Option<String>,
    /// The aggregate version the caller last read; a mismatch is a conflict.
    pub expected_version: Option<u64>,
}

impl CommandContext {
    pub fn new(actor: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            traceparent: None,
            tracestate: None,
            idempotency_key: None,
            expected_version: None,
        }
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn with_expected_version(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }
}

/// Whether a command is decided again when another writer got there first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Reload and decide again, up to this many attempts in all. Right for
    /// commands whose outcome does not depend on what the caller saw.
    Reload(u32),
    /// Report the conflict to the caller.
    Never,
}

/// An aggregate as loaded from its stream.
#[derive(Clone, Debug)]
pub struct Loaded<S> {
    pub state: S,
    /// Number of events in the stream; 0 when it does not exist.
    pub version: u64,
}

/// What a handled command did.
#[derive(Clone, Debug)]
pub struct Outcome<D: Decider> {
    pub state: D::State,
    pub version: u64,
    /// The events this command appended; empty for a replay or a no-op.
    pub events: Vec<D::Event>,
    /// None when the decision yielded no events.
    pub append: Option<AppendResult>,
}

/// Loads an aggregate, decides a command, appends the events.
#[derive(Debug)]
pub struct CommandHandler<D: Decider> {
    store: EventStore,
    decider: D,
    clock: Arc<dyn Clock>,
}

impl<D: Decider> CommandHandler<D> {
    pub fn new(store: EventStore, decider: D) -> Self {
        Self::with_clock(store, decider, Arc::new(SystemClock))
    }

    pub fn with_clock(store: EventStore, decider: D, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            decider,
            clock,
        }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    pub fn decider(&self) -> &D {
        &self.decider
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The stream of the aggregate with this id.
    pub fn stream_id(id: impl std::fmt::Display) -> StreamId {
        StreamId::new(D::CATEGORY, id)
    }

    /// Rebuilds an aggregate from its events.
    pub async fn load(&self, stream: &StreamId) -> Result<Loaded<D::State>, CommandError> {
        let recorded = self.store.load_stream(stream).await?;
        let mut state = D::State::default();
        for r in &recorded {
            let event = D::Event::decode(&r.event_type, r.schema_version, &r.payload)?;
            state = self.decider.evolve(state, &event);
        }
        Ok(Loaded {
            state,
            version: recorded.len() as u64,
        })
    }

    /// Handles one command for the aggregate on `stream`.
    pub async fn handle(
        &self,
        stream: &StreamId,
        command: &D::Command,
        ctx: &CommandContext,
        retry: RetryPolicy,
    ) -> Result<Outcome<D>, CommandError> {
        if let Some(key) = &ctx.idempotency_key
            && let Some(done) = self.store.find_idempotency_key(key).await?
        {
            return self.replay(stream, done).await;
        }
        let attempts = match retry {
            RetryPolicy::Reload(n) if ctx.expected_version.is_none() => n.max(1),
            _ => 1,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let loaded = self.load(stream).await?;
            if let Some(expected) = ctx.expected_version
                && expected != loaded.version
            {
                return Err(CommandError::Conflict(format!(
                    "it was changed by someone else (version {} now, you read {expected}); reload and try again",
                    loaded.version
                )));
            }
            let events = self
                .decider
                .decide(&loaded.state, command, self.clock.now())?;
            if events.is_empty() {
                return Ok(Outcome {
                    state: loaded.state,
                    version: loaded.version,
                    events,
                    append: None,
                });
            }
            let request = self.append_request(stream, loaded.version, &events, ctx);
            match self.store.append(request).await {
                Ok(result) if result.deduplicated => return self.replay(stream, result).await,
                Ok(result) => {
                    let state = events
                        .iter()
                        .fold(loaded.state, |s, e| self.decider.evolve(s, e));
                    return Ok(Outcome {
                        state,
                        version: result.last_version,
                        events,
                        append: Some(result),
                    });
                }
                Err(StoreError::Conflict { .. }) if attempt < attempts => {
                    tracing::debug!(%stream, attempt, "conflict, deciding again");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn append_request(
        &self,
        stream: &StreamId,
        version: u64,
        events: &[D::Event],
        ctx: &CommandContext,
    ) -> AppendRequest {
        let occurred_at = self.clock.now();
        let new_events = events
            .iter()
            .map(|e| NewEvent {
                event_id: Uuid::now_v7(),
                event_type: e.event_type().to_owned(),
                schema_version: e.schema_version(),
                payload: e.encode(),
                metadata: EventMetadata {
                    occurred_at,
                    actor: ctx.actor.clone(),
                    correlation_id: ctx.correlation_id,
                    causation_id: ctx.causation_id,
                    traceparent: ctx.traceparent.clone(),
                    tracestate: ctx.tracestate.clone(),
                },
            })
            .collect();
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        let request = AppendRequest::new(stream.clone(), expected, new_events);
        match &ctx.idempotency_key {
            Some(key) => request.with_idempotency_key(key.clone()),
            None => request,
        }
    }

    /// The outcome of a command that was already carried out.
    async fn replay(
        &self,
        stream: &StreamId,
        done: AppendResult,
    ) -> Result<Outcome<D>, CommandError> {
        if &done.stream_id != stream {
            return Err(CommandError::Conflict(
                "this idempotency key was already used for another record".to_owned(),
            ));
        }
        let loaded = self.load(stream).await?;
        Ok(Outcome {
            state: loaded.state,
            version: loaded.version,
            events: Vec::new(),
            append: Some(done),
        })
    }
}
