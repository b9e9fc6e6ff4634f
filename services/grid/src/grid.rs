//! Grids 网格 under communities, each a polygon with its full-time grid
//! worker; and the catalogue of case categories with their SLA and default
//! department.

use chrono::{DateTime, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::grid::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::geo::Point;

/// Most corners of one grid's polygon.
pub const MAX_CORNERS: usize = 500;

#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub grid_id: Uuid,
    pub community_id: Uuid,
    pub name: String,
    pub polygon: Vec<Point>,
    pub full_time_worker: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Define(pub Grid);

#[derive(Clone, Debug, PartialEq)]
pub struct Defined(pub Grid);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct State(pub Option<Grid>);

#[derive(Clone, Copy, Debug, Default)]
pub struct GridDecider;

impl Decider for GridDecider {
    type State = State;
    type Command = Define;
    type Event = Defined;
    const CATEGORY: &'static str = "grid";

    /// Defining again with other data redraws the grid.
    fn decide(
        &self,
        state: &State,
        Define(grid): &Define,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Defined>, CommandError> {
        let mut v = text_violations("name", &grid.name, 50);
        if !(3..=MAX_CORNERS).contains(&grid.polygon.len()) {
            v.push(FieldViolation::new("polygon", "3 to 500 corners"));
        }
        if !v.is_empty() {
            return Err(CommandError::Invalid(v));
        }
        let clean = Grid {
            name: grid.name.trim().to_owned(),
            ..grid.clone()
        };
        if let Some(existing) = &state.0 {
            if existing.community_id != clean.community_id {
                return Err(CommandError::rejected("a grid stays in its community"));
            }
            if *existing == clean {
                return Ok(vec![]);
            }
        }
        Ok(vec![Defined(clean)])
    }

    fn evolve(&self, _state: State, Defined(grid): &Defined) -> State {
        State(Some(grid.clone()))
    }
}

pub fn point_to_wire(p: Point) -> pb::Point {
    pb::Point {
        longitude: p.lng,
        latitude: p.lat,
    }
}

impl Grid {
    pub fn to_wire(&self, version: u64) -> pb::Grid {
        pb::Grid {
            grid_id: self.grid_id.to_string(),
            community_id: self.community_id.to_string(),
            name: self.name.clone(),
            polygon: self.polygon.iter().copied().map(point_to_wire).collect(),
            full_time_worker_person_id: self
                .full_time_worker
                .map(|p| p.to_string())
                .unwrap_or_default(),
            version,
        }
    }
}

fn point_from_wire(t: &str, p: &pb::Point) -> Result<Point, DecodeError> {
    Point::new(p.longitude, p.latitude).ok_or_else(|| DecodeError::malformed(t, "bad point"))
}

impl DomainEvent for Defined {
    fn event_type(&self) -> &'static str {
        "GridDefined"
    }

    fn encode(&self) -> Vec<u8> {
        let g = &self.0;
        pb::GridDefined {
            grid_id: g.grid_id.to_string(),
            community_id: g.community_id.to_string(),
            name: g.name.clone(),
            polygon: g.polygon.iter().copied().map(point_to_wire).collect(),
            full_time_worker_person_id: g
                .full_time_worker
                .map(|p| p.to_string())
                .unwrap_or_default(),
        }
        .encode_to_vec()
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if (t, version) != ("GridDefined", 1) {
            return Err(DecodeError::unknown(t, version));
        }
        let e = pb::GridDefined::decode(payload).map_err(|e| DecodeError::malformed(t, e))?;
        let id =
            |raw: &str| Uuid::parse_str(raw).map_err(|_| DecodeError::malformed(t, "not a UUID"));
        Ok(Self(Grid {
            grid_id: id(&e.grid_id)?,
            community_id: id(&e.community_id)?,
            name: e.name,
            polygon: e
                .polygon
                .iter()
                .map(|p| point_from_wire(t, p))
                .collect::<Result<_, _>>()?,
            full_time_worker: if e.full_time_worker_person_id.is_empty() {
                None
            } else {
                Some(id(&e.full_time_worker_person_id)?)
            },
        }))
    }
}

// ---- Categories --------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    /// Lower-case letters, digits and `_`, e.g. "garbage_pile".
    pub code: String,
    pub name: String,
    pub sla_hours: u32,
    pub default_department: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefineCategory(pub Category);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryDefined(pub Category);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CategoryState(pub Option<Category>);

#[derive(Clone, Copy, Debug, Default)]
pub struct CategoryDecider;

pub fn valid_code(code: &str) -> bool {
    (1..=40).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Decider for CategoryDecider {
    type State = CategoryState;
    type Command = DefineCategory;
    type Event = CategoryDefined;
    const CATEGORY: &'static str = "case_category";

    /// Defining again with other data changes the category for new cases.
    fn decide(
        &self,
        state: &CategoryState,
        DefineCategory(c): &DefineCategory,
        _now: DateTime<Utc>,
    ) -> Result<Vec<CategoryDefined>, CommandError> {
        let mut v = text_violations("name", &c.name, 50);
        v.extend(text_violations(
            "default_department",
            &c.default_department,
            50,
        ));
        if !valid_code(&c.code) {
            v.push(FieldViolation::new(
                "code",
                "1 to 40 lower-case letters, digits or _",
            ));
        }
        if !(1..=2000).contains(&c.sla_hours) {
            v.push(FieldViolation::new("sla_hours", "1 to 2000 working hours"));
        }
        if !v.is_empty() {
            return Err(CommandError::Invalid(v));
        }
        let clean = Category {
            name: c.name.trim().to_owned(),
            default_department: c.default_department.trim().to_owned(),
            ..c.clone()
        };
        if state.0.as_ref() == Some(&clean) {
            return Ok(vec![]);
        }
        Ok(vec![CategoryDefined(clean)])
    }

    fn evolve(&self, _state: CategoryState, CategoryDefined(c): &CategoryDefined) -> CategoryState {
        CategoryState(Some(c.clone()))
    }
}

impl Category {
    pub fn to_wire(&self, version: u64) -> pb::CaseCategory {
        pb::CaseCategory {
            code: self.code.clone(),
            name: self.name.clone(),
            sla_hours: self.sla_hours,
            default_department: self.default_department.clone(),
            version,
        }
    }
}

impl DomainEvent for CategoryDefined {
    fn event_type(&self) -> &'static str {
        "CaseCategoryDefined"
    }

    fn encode(&self) -> Vec<u8> {
        let c = &self.0;
        pb::CaseCategoryDefined {
            code: c.code.clone(),
            name: c.name.clone(),
            sla_hours: c.sla_hours,
            default_department: c.default_department.clone(),
        }
        .encode_to_vec()
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if (t, version) != ("CaseCategoryDefined", 1) {
            return Err(DecodeError::unknown(t, version));
        }
        let e =
            pb::CaseCategoryDefined::decode(payload).map_err(|e| DecodeError::malformed(t, e))?;
        Ok(Self(Category {
            code: e.code,
            name: e.name,
            sla_hours: e.sla_hours,
            default_department: e.default_department,
        }))
    }
}
