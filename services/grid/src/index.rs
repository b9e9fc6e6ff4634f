//! What the grid service keeps in memory from its own events: the grids'
//! polygons (to resolve a point) and the open cases (to offer duplicates
//! and to escalate what is overdue). Built by following the store from the
//! start; the service's own writes are added at once.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use hongxin_domain::DomainEvent as _;
use hongxin_eventstore::{EventStore, RecordedEvent};
use uuid::Uuid;

use crate::case::{self, CaseState};
use crate::geo::{self, Point};
use crate::grid;

#[derive(Clone, Debug, PartialEq)]
pub struct OpenCase {
    pub category: String,
    pub point: Point,
    pub reported_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub state: CaseState,
    pub escalated: bool,
}

#[derive(Debug, Default)]
struct Maps {
    grids: BTreeMap<Uuid, Vec<Point>>,
    open: BTreeMap<Uuid, OpenCase>,
    /// Every case and its category.
    all: BTreeMap<Uuid, String>,
    /// code → (name, default department).
    categories: BTreeMap<String, (String, String)>,
}

#[derive(Clone, Debug, Default)]
pub struct GridIndex {
    maps: Arc<RwLock<Maps>>,
}

impl GridIndex {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The grid containing `p` (the first by id when grids overlap).
    pub fn grid_of(&self, p: Point) -> Option<Uuid> {
        self.read()
            .grids
            .iter()
            .find(|(_, polygon)| geo::contains(polygon, p))
            .map(|(id, _)| *id)
    }

    /// Open cases of `category` within `radius_m` of `p`, reported after
    /// `since`.
    pub fn nearby(
        &self,
        category: &str,
        p: Point,
        radius_m: f64,
        since: DateTime<Utc>,
    ) -> Vec<Uuid> {
        self.read()
            .open
            .iter()
            .filter(|(_, c)| {
                c.category == category
                    && c.reported_at >= since
                    && c.point.distance_m(p) <= radius_m
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Cases overdue at `now` and not yet escalated.
    pub fn overdue(&self, now: DateTime<Utc>) -> Vec<Uuid> {
        self.read()
            .open
            .iter()
            .filter(|(_, c)| {
                matches!(c.state, CaseState::Dispatched | CaseState::Acknowledged)
                    && !c.escalated
                    && c.due_at.is_some_and(|d| now > d)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn add_category(&self, c: &grid::Category) {
        self.write().categories.insert(
            c.code.clone(),
            (c.name.clone(), c.default_department.clone()),
        );
    }

    /// Every category: (code, name, default department).
    pub fn categories(&self) -> Vec<(String, String, String)> {
        self.read()
            .categories
            .iter()
            .map(|(code, (name, dept))| (code.clone(), name.clone(), dept.clone()))
            .collect()
    }

    pub fn category_name(&self, code: &str) -> Option<String> {
        self.read()
            .categories
            .get(code)
            .map(|(name, _)| name.clone())
    }

    /// Up to `limit` cases, newest first, of one category or all.
    pub fn cases(&self, category: Option<&str>, limit: usize) -> Vec<Uuid> {
        self.read()
            .all
            .iter()
            .rev()
            .filter(|(_, c)| category.is_none_or(|want| want == c.as_str()))
            .take(limit)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Takes in one of the service's events.
    pub fn apply(&self, event_type: &str, schema_version: u32, payload: &[u8]) {
        match event_type {
            "GridDefined" => {
                if let Ok(grid::Defined(g)) = <grid::Defined as hongxin_domain::DomainEvent>::decode(
                    event_type,
                    schema_version,
                    payload,
                ) {
                    self.write().grids.insert(g.grid_id, g.polygon);
                }
            }
            "CaseCategoryDefined" => {
                if let Ok(grid::CategoryDefined(c)) =
                    <grid::CategoryDefined as hongxin_domain::DomainEvent>::decode(
                        event_type,
                        schema_version,
                        payload,
                    )
                {
                    self.add_category(&c);
                }
            }
            "CaseReported" | "CaseProgressed" | "CaseEscalated" => {
                if let Ok(e) = case::Event::decode(event_type, schema_version, payload) {
                    self.apply_case(&e);
                }
            }
            _ => {}
        }
    }

    pub fn apply_case(&self, event: &case::Event) {
        let mut maps = self.write();
        match event {
            case::Event::Reported(r) => {
                maps.all.insert(r.case_id, r.category.code.clone());
                maps.open.insert(
                    r.case_id,
                    OpenCase {
                        category: r.category.code.clone(),
                        point: r.point,
                        reported_at: r.at,
                        due_at: None,
                        state: CaseState::Reported,
                        escalated: false,
                    },
                );
            }
            case::Event::Progressed {
                case_id,
                state,
                due_at,
                ..
            } => {
                if !state.open() {
                    maps.open.remove(case_id);
                } else if let Some(c) = maps.open.get_mut(case_id) {
                    if c.state == CaseState::Resolved && *state == CaseState::Dispatched {
                        c.escalated = false;
                    }
                    c.state = *state;
                    if due_at.is_some() {
                        c.due_at = *due_at;
                    }
                }
            }
            case::Event::Escalated { case_id, .. } => {
                if let Some(c) = maps.open.get_mut(case_id) {
                    c.escalated = true;
                }
            }
            _ => {}
        }
    }

    pub fn add_grid(&self, id: Uuid, polygon: Vec<Point>) {
        self.write().grids.insert(id, polygon);
    }

    /// Follows `store` from its first event until `shutdown`.
    pub async fn follow(self, store: EventStore, shutdown: impl Future<Output = ()>) {
        hongxin_bus::tail(store, shutdown, |e: &RecordedEvent| {
            self.apply(&e.event_type, e.schema_version, &e.payload);
        })
        .await;
    }
}
