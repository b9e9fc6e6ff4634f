//! The subscriptions, kept in memory by reading the integration store: the
//! router asks it, before each event, who receives what.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hongxin_domain::{Decider as _, DomainEvent as _};

use hongxin_eventstore::{EventStore, StoreError};
use uuid::Uuid;

use crate::subscription::{Event, State, Subscription, SubscriptionDecider};

#[derive(Clone, Debug, Default)]
pub struct Index {
    subscriptions: Arc<RwLock<HashMap<Uuid, Subscription>>>,
    /// How far the store was read; held while reading so one refresh runs
    /// at a time.
    position: Arc<tokio::sync::Mutex<u64>>,
}

impl Index {
    /// Reads what the store committed since the last refresh.
    pub async fn refresh(&self, store: &EventStore) -> Result<(), StoreError> {
        let mut position = self.position.lock().await;
        loop {
            let batch = store.read_all(*position, 500).await?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            let last = last.global_position;
            let mut subscriptions = self
                .subscriptions
                .write()
                .unwrap_or_else(|p| p.into_inner());
            for r in batch
                .iter()
                .filter(|r| r.stream_id.category() == SubscriptionDecider::CATEGORY)
            {
                let Ok(event) = Event::decode(&r.event_type, r.schema_version, &r.payload) else {
                    tracing::error!(event_type = %r.event_type, "an undecodable subscription event");
                    continue;
                };
                let id = r
                    .stream_id
                    .as_str()
                    .strip_prefix("subscription-")
                    .and_then(|raw| Uuid::parse_str(raw).ok());
                let Some(id) = id else { continue };
                let state = State(subscriptions.remove(&id));
                if let Some(sub) = SubscriptionDecider.evolve(state, &event).0 {
                    subscriptions.insert(id, sub);
                }
            }
            *position = last;
        }
    }

    pub fn all(&self) -> Vec<Subscription> {
        let mut all: Vec<Subscription> = self
            .subscriptions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|s| (s.created_at, s.id));
        all
    }
}
