//! Which candidates each branch has: the one list this service answers
//! itself (for `ListDue`). Built by following the service's own store from
//! the start, so it is complete after catching up and stays live; an
//! application made through this process is added at once.

use hongxin_eventstore::EventStore;
use hongxin_proto::pipeline::v1 as pb;
use prost::Message as _;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

#[derive(Clone, Debug, Default)]
pub struct CandidateIndex {
    by_organization: Arc<RwLock<BTreeMap<Uuid, BTreeSet<Uuid>>>>,
}

impl CandidateIndex {
    pub fn insert(&self, organization: Uuid, candidate: Uuid) {
        self.by_organization
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(organization)
            .or_default()
            .insert(candidate);
    }

    /// The branch's candidates, in id order.
    pub fn of(&self, organization: Uuid) -> Vec<Uuid> {
        self.by_organization
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&organization)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Follows `store` from its first event until `shutdown`, adding every
    /// application.
    pub async fn follow(self, store: EventStore, shutdown: impl Future<Output = ()>) {
        hongxin_bus::tail(store, shutdown, |e| {
            if e.event_type == "CandidateApplied"
                && let Ok(a) = pb::CandidateApplied::decode(e.payload.as_slice())
                && let (Ok(o), Ok(c)) = (
                    Uuid::parse_str(&a.organization_id),
                    Uuid::parse_str(&a.candidate_id),
                )
            {
                self.insert(o, c);
            }
        })
        .await;
    }
}
