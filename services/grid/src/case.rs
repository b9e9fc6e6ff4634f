//! Snap-and-report cases 随手拍: reported → accepted or rejected (a duplicate
//! is merged into its original) → dispatched to a department with a due
//! moment from the category's SLA in working hours → acknowledged →
//! resolved with evidence → verified and closed, or reopened; transferred
//! between departments; escalated when overdue; rated by the reporter.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use hongxin_domain::calendar::{Calendar, WorkingHours};
use hongxin_domain::text::text_violations;
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::grid::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::geo::Point;
use crate::grid::{Category, point_to_wire};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseState {
    Reported,
    Accepted,
    Rejected,
    Dispatched,
    Acknowledged,
    Resolved,
    Closed,
    Merged,
}

impl CaseState {
    pub fn to_wire(self) -> pb::CaseState {
        use pb::CaseState as W;
        match self {
            Self::Reported => W::Reported,
            Self::Accepted => W::Accepted,
            Self::Rejected => W::Rejected,
            Self::Dispatched => W::Dispatched,
            Self::Acknowledged => W::Acknowledged,
            Self::Resolved => W::Resolved,
            Self::Closed => W::Closed,
            Self::Merged => W::Merged,
        }
    }

    fn from_wire(raw: i32) -> Option<Self> {
        use pb::CaseState as W;
        Some(match W::try_from(raw).ok()? {
            W::Reported => Self::Reported,
            W::Accepted => Self::Accepted,
            W::Rejected => Self::Rejected,
            W::Dispatched => Self::Dispatched,
            W::Acknowledged => Self::Acknowledged,
            W::Resolved => Self::Resolved,
            W::Closed => Self::Closed,
            W::Merged => Self::Merged,
            W::Unspecified => return None,
        })
    }

    /// Still someone's work.
    pub fn open(self) -> bool {
        !matches!(self, Self::Rejected | Self::Closed | Self::Merged)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    Invalid,
    NotOurs,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub case_id: Uuid,
    pub category: Category,
    pub point: Point,
    pub grid: Option<Uuid>,
    pub description: String,
    pub reporter: Uuid,
    pub by_grid_worker: bool,
    pub at: DateTime<Utc>,
    /// Photo ids (content hashes).
    pub photos: Vec<String>,
}

/// What an officer, a department or the reporter does with a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Accept,
    Reject(Rejection),
    /// Rejected as a duplicate of `original`, which the reporter follows.
    Merge {
        original: Uuid,
    },
    /// To the category's default department when `None`.
    Dispatch {
        department: Option<String>,
    },
    Acknowledge,
    Transfer {
        department: String,
    },
    Resolve,
    /// The reporter or a grid worker confirms: closed.
    Verify,
    Reopen,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Report(Report),
    Act {
        action: Action,
        note: String,
        /// Evidence photos of a resolution.
        photos: Vec<String>,
    },
    /// Escalates the case if it is overdue now (a no-op otherwise).
    Escalate,
    Follow {
        people: Vec<Uuid>,
    },
    Rate {
        rating: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Reported(Report),
    Progressed {
        case_id: Uuid,
        state: CaseState,
        at: DateTime<Utc>,
        note: String,
        department: Option<String>,
        due_at: Option<DateTime<Utc>>,
        rejection: Option<Rejection>,
        merged_into: Option<Uuid>,
        photos: Vec<String>,
    },
    Escalated {
        case_id: Uuid,
        at: DateTime<Utc>,
    },
    Followed {
        case_id: Uuid,
        people: Vec<Uuid>,
    },
    Rated {
        case_id: Uuid,
        rating: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub report: Report,
    pub state: CaseState,
    pub department: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub escalated: bool,
    pub reopened: u32,
    pub rating: u32,
    pub followers: Vec<Uuid>,
    pub merged_into: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub evidence: Vec<String>,
}

impl Case {
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        matches!(self.state, CaseState::Dispatched | CaseState::Acknowledged)
            && self.due_at.is_some_and(|due| now > due)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct State(pub Option<Case>);

#[derive(Clone, Debug, Default)]
pub struct CaseDecider {
    pub calendar: Arc<Calendar>,
    pub hours: WorkingHours,
}

impl Decider for CaseDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "case";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        if let Command::Report(report) = command {
            let v = text_violations("description", &report.description, 1000);
            if !v.is_empty() {
                return Err(CommandError::Invalid(v));
            }
            let clean = Report {
                description: report.description.trim().to_owned(),
                ..report.clone()
            };
            return match &state.0 {
                None => Ok(vec![Event::Reported(clean)]),
                // The same report again (a retry without its key) changes
                // nothing.
                Some(c)
                    if c.report.reporter == clean.reporter
                        && c.report.category.code == clean.category.code
                        && c.report.description == clean.description =>
                {
                    Ok(vec![])
                }
                Some(_) => Err(CommandError::rejected(format!(
                    "case {} exists with another report",
                    report.case_id
                ))),
            };
        }
        let c = state
            .0
            .as_ref()
            .ok_or_else(|| CommandError::not_found("no such case"))?;
        let case_id = c.report.case_id;
        match command {
            Command::Report(_) => unreachable!("handled above"),
            Command::Escalate => {
                if c.overdue(now) && !c.escalated {
                    Ok(vec![Event::Escalated { case_id, at: now }])
                } else {
                    Ok(vec![])
                }
            }
            Command::Follow { people } => {
                let new: Vec<Uuid> = people
                    .iter()
                    .filter(|p| !c.followers.contains(p))
                    .copied()
                    .fold(Vec::new(), |mut acc, p| {
                        if !acc.contains(&p) {
                            acc.push(p);
                        }
                        acc
                    });
                if new.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Followed {
                    case_id,
                    people: new,
                }])
            }
            Command::Rate { rating } => {
                if !(1..=5).contains(rating) {
                    return Err(CommandError::invalid("rating", "1 to 5"));
                }
                if c.state != CaseState::Closed {
                    return Err(CommandError::rejected("a case is rated once closed"));
                }
                if c.rating != 0 {
                    return Err(CommandError::rejected("the case is already rated"));
                }
                Ok(vec![Event::Rated {
                    case_id,
                    rating: *rating,
                }])
            }
            Command::Act {
                action,
                note,
                photos,
            } => self.act(c, action, note, photos, now),
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Reported(report) => State(Some(Case {
                report: report.clone(),
                state: CaseState::Reported,
                department: None,
                due_at: None,
                escalated: false,
                reopened: 0,
                rating: 0,
                followers: vec![report.reporter],
                merged_into: None,
                acknowledged_at: None,
                closed_at: None,
                evidence: Vec::new(),
            })),
            Event::Progressed {
                state: s,
                at,
                department,
                due_at,
                merged_into,
                photos,
                ..
            } => State(state.0.map(|mut c| {
                c.evidence.extend(photos.iter().cloned());
                if c.state == CaseState::Resolved && *s == CaseState::Dispatched {
                    c.reopened += 1;
                    c.escalated = false;
                }
                c.state = *s;
                if department.is_some() {
                    c.department.clone_from(department);
                }
                if due_at.is_some() {
                    c.due_at = *due_at;
                }
                if *s == CaseState::Acknowledged {
                    c.acknowledged_at = Some(*at);
                }
                if !s.open() {
                    c.closed_at = Some(*at);
                }
                c.merged_into = *merged_into;
                c
            })),
            Event::Escalated { .. } => State(state.0.map(|mut c| {
                c.escalated = true;
                c
            })),
            Event::Followed { people, .. } => State(state.0.map(|mut c| {
                c.followers.extend(people.iter().copied());
                c
            })),
            Event::Rated { rating, .. } => State(state.0.map(|mut c| {
                c.rating = *rating;
                c
            })),
        }
    }
}

impl CaseDecider {
    fn act(
        &self,
        c: &Case,
        action: &Action,
        note: &str,
        photos: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        if !photos.is_empty() && *action != Action::Resolve {
            return Err(CommandError::invalid(
                "photo_ids",
                "photos go with a resolution",
            ));
        }
        use CaseState::*;
        if note.chars().count() > 1000 {
            return Err(CommandError::invalid("note", "at most 1000 characters"));
        }
        let (to, allowed) = match action {
            Action::Accept => (Accepted, c.state == Reported),
            Action::Reject(_) | Action::Merge { .. } => (
                if matches!(action, Action::Merge { .. }) {
                    Merged
                } else {
                    Rejected
                },
                matches!(c.state, Reported | Accepted),
            ),
            Action::Dispatch { .. } => (Dispatched, c.state == Accepted),
            Action::Acknowledge => (Acknowledged, c.state == Dispatched),
            Action::Transfer { .. } => (Dispatched, matches!(c.state, Dispatched | Acknowledged)),
            Action::Resolve => (Resolved, c.state == Acknowledged),
            Action::Verify => (Closed, c.state == Resolved),
            Action::Reopen => (Dispatched, c.state == Resolved),
        };
        if !allowed {
            return Err(CommandError::rejected(format!(
                "a case that is {:?} cannot go to {to:?} that way",
                c.state
            )));
        }
        let mut department = None;
        let mut due_at = None;
        let mut rejection = None;
        let mut merged_into = None;
        match action {
            Action::Reject(r) => {
                if note.trim().is_empty() {
                    return Err(CommandError::invalid("note", "a rejection says why"));
                }
                rejection = Some(*r);
            }
            Action::Merge { original } => {
                if *original == c.report.case_id {
                    return Err(CommandError::invalid(
                        "duplicate_of_case_id",
                        "a case is not a duplicate of itself",
                    ));
                }
                merged_into = Some(*original);
            }
            Action::Dispatch { department: d } => {
                let d = d
                    .clone()
                    .unwrap_or_else(|| c.report.category.default_department.clone());
                if !text_violations("department", &d, 50).is_empty() {
                    return Err(CommandError::invalid("department", "1 to 50 characters"));
                }
                department = Some(d.trim().to_owned());
                due_at = Some(self.due(now, c));
            }
            Action::Transfer { department: d } => {
                let v: Vec<FieldViolation> = text_violations("department", d, 50);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if c.department.as_deref() == Some(d.trim()) {
                    return Err(CommandError::rejected(
                        "the case is with that department already",
                    ));
                }
                department = Some(d.trim().to_owned());
            }
            Action::Resolve if note.trim().is_empty() => {
                return Err(CommandError::invalid(
                    "note",
                    "a resolution says what was done",
                ));
            }
            Action::Reopen => {
                if note.trim().is_empty() {
                    return Err(CommandError::invalid("note", "a reopened case says why"));
                }
                due_at = Some(self.due(now, c));
            }
            _ => {}
        }
        Ok(vec![Event::Progressed {
            case_id: c.report.case_id,
            state: to,
            at: now,
            note: note.trim().to_owned(),
            department,
            due_at,
            rejection,
            merged_into,
            photos: photos.to_vec(),
        }])
    }

    fn due(&self, from: DateTime<Utc>, c: &Case) -> DateTime<Utc> {
        self.calendar
            .add_working_hours(from, c.report.category.sla_hours, self.hours)
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_time(t: &str, raw: &str) -> Result<DateTime<Utc>, DecodeError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| DecodeError::malformed(t, "not an RFC 3339 time"))
}

fn rejection_to_wire(r: Option<Rejection>, merged: bool) -> pb::RejectionReason {
    match (r, merged) {
        (_, true) => pb::RejectionReason::Duplicate,
        (Some(Rejection::Invalid), _) => pb::RejectionReason::Invalid,
        (Some(Rejection::NotOurs), _) => pb::RejectionReason::NotOurs,
        (None, _) => pb::RejectionReason::Unspecified,
    }
}

impl Case {
    pub fn to_wire(&self, version: u64, now: DateTime<Utc>) -> pb::Case {
        let r = &self.report;
        pb::Case {
            case_id: r.case_id.to_string(),
            category: r.category.code.clone(),
            point: Some(point_to_wire(r.point)),
            grid_id: r.grid.map(|g| g.to_string()).unwrap_or_default(),
            description: r.description.clone(),
            reporter_person_id: r.reporter.to_string(),
            by_grid_worker: r.by_grid_worker,
            state: self.state.to_wire() as i32,
            department: self.department.clone().unwrap_or_default(),
            reported_at: time(r.at),
            due_at: self.due_at.map(time).unwrap_or_default(),
            overdue: self.overdue(now),
            escalated: self.escalated,
            reopened: self.reopened,
            rating: self.rating,
            follower_person_ids: self.followers.iter().map(Uuid::to_string).collect(),
            merged_into_case_id: self.merged_into.map(|m| m.to_string()).unwrap_or_default(),
            version,
            photo_ids: r.photos.clone(),
            evidence_photo_ids: self.evidence.clone(),
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Reported(_) => "CaseReported",
            Self::Progressed { .. } => "CaseProgressed",
            Self::Escalated { .. } => "CaseEscalated",
            Self::Followed { .. } => "CaseFollowed",
            Self::Rated { .. } => "CaseRated",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Reported(r) => pb::CaseReported {
                case_id: r.case_id.to_string(),
                category: r.category.code.clone(),
                point: Some(point_to_wire(r.point)),
                grid_id: r.grid.map(|g| g.to_string()).unwrap_or_default(),
                description: r.description.clone(),
                reporter_person_id: r.reporter.to_string(),
                by_grid_worker: r.by_grid_worker,
                reported_at: time(r.at),
                sla_hours: r.category.sla_hours,
                category_name: r.category.name.clone(),
                default_department: r.category.default_department.clone(),
                photo_ids: r.photos.clone(),
            }
            .encode_to_vec(),
            Self::Progressed {
                case_id,
                state,
                at,
                note,
                department,
                due_at,
                rejection,
                merged_into,
                photos,
            } => pb::CaseProgressed {
                case_id: case_id.to_string(),
                state: state.to_wire() as i32,
                at: time(*at),
                note: note.clone(),
                department: department.clone().unwrap_or_default(),
                due_at: due_at.map(time).unwrap_or_default(),
                rejection: rejection_to_wire(*rejection, merged_into.is_some()) as i32,
                merged_into_case_id: merged_into.map(|m| m.to_string()).unwrap_or_default(),
                photo_ids: photos.clone(),
            }
            .encode_to_vec(),
            Self::Escalated { case_id, at } => pb::CaseEscalated {
                case_id: case_id.to_string(),
                at: time(*at),
            }
            .encode_to_vec(),
            Self::Followed { case_id, people } => pb::CaseFollowed {
                case_id: case_id.to_string(),
                person_ids: people.iter().map(Uuid::to_string).collect(),
            }
            .encode_to_vec(),
            Self::Rated { case_id, rating } => pb::CaseRated {
                case_id: case_id.to_string(),
                rating: *rating,
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if version != 1 {
            return Err(DecodeError::unknown(t, version));
        }
        let bad = |e: prost::DecodeError| DecodeError::malformed(t, e);
        let id =
            |raw: &str| Uuid::parse_str(raw).map_err(|_| DecodeError::malformed(t, "not a UUID"));
        let optional = |raw: &str| {
            if raw.is_empty() {
                Ok(None)
            } else {
                id(raw).map(Some)
            }
        };
        match t {
            "CaseReported" => {
                let e = pb::CaseReported::decode(payload).map_err(bad)?;
                let p = e.point.unwrap_or_default();
                Ok(Self::Reported(Report {
                    case_id: id(&e.case_id)?,
                    category: Category {
                        code: e.category,
                        name: e.category_name,
                        sla_hours: e.sla_hours,
                        default_department: e.default_department,
                    },
                    point: Point::new(p.longitude, p.latitude)
                        .ok_or_else(|| DecodeError::malformed(t, "bad point"))?,
                    grid: optional(&e.grid_id)?,
                    description: e.description,
                    reporter: id(&e.reporter_person_id)?,
                    by_grid_worker: e.by_grid_worker,
                    at: parse_time(t, &e.reported_at)?,
                    photos: e.photo_ids,
                }))
            }
            "CaseProgressed" => {
                let e = pb::CaseProgressed::decode(payload).map_err(bad)?;
                Ok(Self::Progressed {
                    case_id: id(&e.case_id)?,
                    state: CaseState::from_wire(e.state)
                        .ok_or_else(|| DecodeError::malformed(t, "unknown state"))?,
                    at: parse_time(t, &e.at)?,
                    note: e.note,
                    department: Some(e.department).filter(|d| !d.is_empty()),
                    due_at: if e.due_at.is_empty() {
                        None
                    } else {
                        Some(parse_time(t, &e.due_at)?)
                    },
                    rejection: match pb::RejectionReason::try_from(e.rejection) {
                        Ok(pb::RejectionReason::Invalid) => Some(Rejection::Invalid),
                        Ok(pb::RejectionReason::NotOurs) => Some(Rejection::NotOurs),
                        _ => None,
                    },
                    merged_into: optional(&e.merged_into_case_id)?,
                    photos: e.photo_ids,
                })
            }
            "CaseEscalated" => {
                let e = pb::CaseEscalated::decode(payload).map_err(bad)?;
                Ok(Self::Escalated {
                    case_id: id(&e.case_id)?,
                    at: parse_time(t, &e.at)?,
                })
            }
            "CaseFollowed" => {
                let e = pb::CaseFollowed::decode(payload).map_err(bad)?;
                Ok(Self::Followed {
                    case_id: id(&e.case_id)?,
                    people: e
                        .person_ids
                        .iter()
                        .map(|p| id(p))
                        .collect::<Result<_, _>>()?,
                })
            }
            "CaseRated" => {
                let e = pb::CaseRated::decode(payload).map_err(bad)?;
                Ok(Self::Rated {
                    case_id: id(&e.case_id)?,
                    rating: e.rating,
                })
            }
            other => Err(DecodeError::unknown(other, version)),
        }
    }
}
