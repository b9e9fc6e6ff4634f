//! Which enterprises each cadre is posted to, and which problems each
//! enterprise has: what `ListCadreProblems` needs. Built by following the
//! service's own store from the start; the service adds its own writes at
//! once.

use hongxin_eventstore::EventStore;
use hongxin_proto::care::v1 as pb;
use prost::Message as _;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

#[derive(Debug, Default)]
struct Maps {
    /// posting → (cadre, enterprise), while it lasts.
    postings: BTreeMap<Uuid, (Uuid, Uuid)>,
    problems: BTreeMap<Uuid, BTreeSet<Uuid>>,
}

#[derive(Clone, Debug, Default)]
pub struct CareIndex {
    maps: Arc<RwLock<Maps>>,
}

impl CareIndex {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn posted(&self, posting: Uuid, cadre: Uuid, enterprise: Uuid) {
        self.write().postings.insert(posting, (cadre, enterprise));
    }

    pub fn ended(&self, posting: Uuid) {
        self.write().postings.remove(&posting);
    }

    pub fn raised(&self, enterprise: Uuid, problem: Uuid) {
        self.write()
            .problems
            .entry(enterprise)
            .or_default()
            .insert(problem);
    }

    /// Problems of the enterprises `cadre` is posted to now.
    pub fn problems_of_cadre(&self, cadre: Uuid) -> Vec<Uuid> {
        let maps = self.maps.read().unwrap_or_else(|p| p.into_inner());
        let enterprises: BTreeSet<Uuid> = maps
            .postings
            .values()
            .filter(|(c, _)| *c == cadre)
            .map(|(_, e)| *e)
            .collect();
        enterprises
            .iter()
            .filter_map(|e| maps.problems.get(e))
            .flatten()
            .copied()
            .collect()
    }

    fn apply(&self, event_type: &str, payload: &[u8]) {
        let id = |raw: &str| Uuid::parse_str(raw).ok();
        match event_type {
            "CadrePosted" => {
                if let Ok(e) = pb::CadrePosted::decode(payload)
                    && let (Some(p), Some(c), Some(en)) = (
                        id(&e.posting_id),
                        id(&e.cadre_person_id),
                        id(&e.enterprise_id),
                    )
                {
                    self.posted(p, c, en);
                }
            }
            "CadrePostingEnded" => {
                if let Ok(e) = pb::CadrePostingEnded::decode(payload)
                    && let Some(p) = id(&e.posting_id)
                {
                    self.ended(p);
                }
            }
            "EnterpriseProblemRaised" => {
                if let Ok(e) = pb::EnterpriseProblemRaised::decode(payload)
                    && let (Some(en), Some(p)) = (id(&e.enterprise_id), id(&e.problem_id))
                {
                    self.raised(en, p);
                }
            }
            _ => {}
        }
    }

    /// Follows `store` from its first event until `shutdown`.
    pub async fn follow(self, store: EventStore, shutdown: impl Future<Output = ()>) {
        hongxin_bus::tail(store, shutdown, |e| self.apply(&e.event_type, &e.payload)).await;
    }
}
