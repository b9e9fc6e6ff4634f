//! The domain kit: the decider shape every aggregate follows, and the
//! command handler that loads an aggregate, decides, and appends.
//!
//! A command is decided against the current state and yields events
//! (`decide`); the state is the fold of those events (`evolve`). Deciders do
//! no I/O and never read the wall clock: time comes in through [`Clock`].
//!
//! Architecture Invariant: deciders know nothing of storage, transport or
//! wire types; event payload encoding lives beside them in [`DomainEvent`].

pub mod calendar;
mod clock;
mod error;
mod handler;
pub mod text;
pub mod time;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{CommandError, DecodeError};
pub use handler::{CommandContext, CommandHandler, Loaded, Outcome, RetryPolicy};
pub use hongxin_eventstore::FieldViolation;

use chrono::{DateTime, Utc};

/// An aggregate's rules.
pub trait Decider: Send + Sync + 'static {
    /// The state rebuilt from the aggregate's events; `Default` is "no
    /// events yet".
    type State: Default + Clone + Send + Sync;
    type Command: Send + Sync;
    type Event: DomainEvent;

    /// The stream category, `[a-z0-9_]+`, e.g. "industry_committee".
    const CATEGORY: &'static str;

    /// Decides a command against the current state: the events it yields, or
    /// why it is refused. `now` comes from the handler's clock.
    fn decide(
        &self,
        state: &Self::State,
        command: &Self::Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Self::Event>, CommandError>;

    /// Applies one event to the state.
    fn evolve(&self, state: Self::State, event: &Self::Event) -> Self::State;
}

/// An event with its wire form: a protobuf payload, a type name and a schema
/// version. `decode` is where old versions are upcast.
pub trait DomainEvent: Sized + Clone + Send + Sync + 'static {
    /// Past-tense type name, e.g. "IndustryCommitteeRegistered".
    fn event_type(&self) -> &'static str;
    fn schema_version(&self) -> u32 {
        1
    }
    fn encode(&self) -> Vec<u8>;
    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError>;
}

/// Creating an aggregate is idempotent: with nothing yet, `create` decides;
/// the same data again changes nothing (a retried call); other data under the
/// same id is refused in the words of `refusal`.
pub fn create_once<T: PartialEq, E>(
    existing: Option<T>,
    wanted: T,
    refusal: impl FnOnce(&T) -> String,
    create: impl FnOnce(T) -> Result<Vec<E>, CommandError>,
) -> Result<Vec<E>, CommandError> {
    match existing {
        None => create(wanted),
        Some(e) if e == wanted => Ok(Vec::new()),
        Some(e) => Err(CommandError::Rejected(refusal(&e))),
    }
}

/// Rebuilds a state from events, as the handler does.
pub fn fold<D: Decider>(decider: &D, events: &[D::Event]) -> D::State {
    events
        .iter()
        .fold(D::State::default(), |s, e| decider.evolve(s, e))
}
