//! Part-time grid workers 兼职网格员: a worker applies for roles with a
//! partner department, is vetted, appointed for a term, renewed or
//! dismissed. Only an appointed worker within the term reports as a grid
//! worker. One stream per person.

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::calendar::add_months;
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::grid::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    Applied,
    Vetted,
    Appointed,
    Refused,
    Dismissed,
}

impl WorkerState {
    pub fn to_wire(self) -> pb::WorkerState {
        match self {
            Self::Applied => pb::WorkerState::Applied,
            Self::Vetted => pb::WorkerState::Vetted,
            Self::Appointed => pb::WorkerState::Appointed,
            Self::Refused => pb::WorkerState::Refused,
            Self::Dismissed => pb::WorkerState::Dismissed,
        }
    }

    fn from_wire(raw: i32) -> Option<Self> {
        match pb::WorkerState::try_from(raw).ok()? {
            pb::WorkerState::Applied => Some(Self::Applied),
            pb::WorkerState::Vetted => Some(Self::Vetted),
            pb::WorkerState::Appointed => Some(Self::Appointed),
            pb::WorkerState::Refused => Some(Self::Refused),
            pb::WorkerState::Dismissed => Some(Self::Dismissed),
            pb::WorkerState::Unspecified => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Apply {
        person_id: Uuid,
        roles: Vec<String>,
        department: String,
        on: NaiveDate,
    },
    Vet {
        passed: bool,
        on: NaiveDate,
        note: String,
    },
    /// Appoints, or renews an appointment, for `term_months`.
    Appoint {
        on: NaiveDate,
        term_months: u32,
    },
    Dismiss {
        on: NaiveDate,
        note: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Applied {
        person_id: Uuid,
        roles: Vec<String>,
        department: String,
        on: NaiveDate,
    },
    Changed {
        person_id: Uuid,
        state: WorkerState,
        on: NaiveDate,
        term_ends_on: Option<NaiveDate>,
        note: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub person_id: Uuid,
    pub roles: Vec<String>,
    pub department: String,
    pub state: WorkerState,
    pub appointed_on: Option<NaiveDate>,
    pub term_ends_on: Option<NaiveDate>,
}

impl Worker {
    /// Whether they report as a grid worker on `day`.
    pub fn serving_on(&self, day: NaiveDate) -> bool {
        self.state == WorkerState::Appointed && self.term_ends_on.is_some_and(|end| day <= end)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Worker>);

#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerDecider;

impl Decider for WorkerDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "grid_worker";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let today = beijing_today(now);
        let day = match command {
            Command::Apply { on, .. }
            | Command::Vet { on, .. }
            | Command::Appoint { on, .. }
            | Command::Dismiss { on, .. } => *on,
        };
        if day > today {
            return Err(CommandError::invalid("on", "must not be in the future"));
        }
        if let Command::Apply {
            person_id,
            roles,
            department,
            on,
        } = command
        {
            let mut v = text_violations("department", department, 50);
            if roles.is_empty() || roles.len() > 5 {
                v.push(FieldViolation::new("roles", "1 to 5 roles"));
            }
            for (i, r) in roles.iter().enumerate() {
                v.extend(text_violations(&format!("roles[{i}]"), r, 30));
            }
            if !v.is_empty() {
                return Err(CommandError::Invalid(v));
            }
            return match &state.0 {
                None => Ok(vec![Event::Applied {
                    person_id: *person_id,
                    roles: roles.iter().map(|r| r.trim().to_owned()).collect(),
                    department: department.trim().to_owned(),
                    on: *on,
                }]),
                Some(w) if matches!(w.state, WorkerState::Refused | WorkerState::Dismissed) => {
                    Ok(vec![Event::Applied {
                        person_id: *person_id,
                        roles: roles.iter().map(|r| r.trim().to_owned()).collect(),
                        department: department.trim().to_owned(),
                        on: *on,
                    }])
                }
                Some(_) => Ok(vec![]),
            };
        }
        let w = state
            .0
            .as_ref()
            .ok_or_else(|| CommandError::not_found("no application from this person"))?;
        let change = |state, term_ends_on, note: &str| {
            Ok(vec![Event::Changed {
                person_id: w.person_id,
                state,
                on: day,
                term_ends_on,
                note: note.trim().to_owned(),
            }])
        };
        match command {
            Command::Apply { .. } => unreachable!("handled above"),
            Command::Vet { passed, note, .. } => {
                if w.state != WorkerState::Applied {
                    return Err(CommandError::rejected("only an application is vetted"));
                }
                let to = if *passed {
                    WorkerState::Vetted
                } else {
                    WorkerState::Refused
                };
                change(to, None, note)
            }
            Command::Appoint { term_months, .. } => {
                if !(1..=60).contains(term_months) {
                    return Err(CommandError::invalid("term_months", "1 to 60 months"));
                }
                if !matches!(w.state, WorkerState::Vetted | WorkerState::Appointed) {
                    return Err(CommandError::rejected(
                        "a worker is vetted before being appointed",
                    ));
                }
                change(
                    WorkerState::Appointed,
                    Some(add_months(day, *term_months)),
                    "",
                )
            }
            Command::Dismiss { note, .. } => {
                if w.state != WorkerState::Appointed {
                    return Err(CommandError::rejected(
                        "only an appointed worker is dismissed",
                    ));
                }
                let v = text_violations("note", note, 200);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                change(WorkerState::Dismissed, None, note)
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Applied {
                person_id,
                roles,
                department,
                ..
            } => State(Some(Worker {
                person_id: *person_id,
                roles: roles.clone(),
                department: department.clone(),
                state: WorkerState::Applied,
                appointed_on: None,
                term_ends_on: None,
            })),
            Event::Changed {
                state: s,
                on,
                term_ends_on,
                ..
            } => State(state.0.map(|mut w| {
                w.state = *s;
                if *s == WorkerState::Appointed {
                    w.appointed_on = Some(*on);
                    w.term_ends_on = *term_ends_on;
                }
                w
            })),
        }
    }
}

impl Worker {
    pub fn to_wire(&self, version: u64) -> pb::GridWorker {
        pb::GridWorker {
            person_id: self.person_id.to_string(),
            roles: self.roles.clone(),
            department: self.department.clone(),
            state: self.state.to_wire() as i32,
            appointed_on: self.appointed_on.map(format_day).unwrap_or_default(),
            term_ends_on: self.term_ends_on.map(format_day).unwrap_or_default(),
            version,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "GridWorkerApplied",
            Self::Changed { .. } => "GridWorkerChanged",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Applied {
                person_id,
                roles,
                department,
                on,
            } => pb::GridWorkerApplied {
                person_id: person_id.to_string(),
                roles: roles.clone(),
                department: department.clone(),
                on: format_day(*on),
            }
            .encode_to_vec(),
            Self::Changed {
                person_id,
                state,
                on,
                term_ends_on,
                note,
            } => pb::GridWorkerChanged {
                person_id: person_id.to_string(),
                state: state.to_wire() as i32,
                on: format_day(*on),
                term_ends_on: term_ends_on.map(format_day).unwrap_or_default(),
                note: note.clone(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        let bad = |e: prost::DecodeError| DecodeError::malformed(t, e);
        let id =
            |raw: &str| Uuid::parse_str(raw).map_err(|_| DecodeError::malformed(t, "not a UUID"));
        let day = |raw: &str| {
            hongxin_domain::time::parse_day(raw)
                .ok_or_else(|| DecodeError::malformed(t, "not a day"))
        };
        match (t, version) {
            ("GridWorkerApplied", 1) => {
                let e = pb::GridWorkerApplied::decode(payload).map_err(bad)?;
                Ok(Self::Applied {
                    person_id: id(&e.person_id)?,
                    roles: e.roles,
                    department: e.department,
                    on: day(&e.on)?,
                })
            }
            ("GridWorkerChanged", 1) => {
                let e = pb::GridWorkerChanged::decode(payload).map_err(bad)?;
                Ok(Self::Changed {
                    person_id: id(&e.person_id)?,
                    state: WorkerState::from_wire(e.state)
                        .ok_or_else(|| DecodeError::malformed(t, "unknown state"))?,
                    on: day(&e.on)?,
                    term_ends_on: if e.term_ends_on.is_empty() {
                        None
                    } else {
                        Some(day(&e.term_ends_on)?)
                    },
                    note: e.note,
                })
            }
            _ => Err(DecodeError::unknown(t, version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn on(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, m, d).unwrap_or_default()
    }

    #[test]
    fn apply_vet_appoint_for_a_term_then_dismiss() {
        let p = Uuid::from_u128(1);
        let applied = Event::Applied {
            person_id: p,
            roles: vec!["文明市场监督员".into()],
            department: "县市场监管局".into(),
            on: on(3, 1),
        };
        given(WorkerDecider, [applied.clone()])
            .when(Command::Appoint {
                on: on(3, 5),
                term_months: 12,
            })
            .then_rejected("vetted before being appointed");
        let vetted = Event::Changed {
            person_id: p,
            state: WorkerState::Vetted,
            on: on(3, 3),
            term_ends_on: None,
            note: String::new(),
        };
        let state = given(WorkerDecider, [applied, vetted])
            .when(Command::Appoint {
                on: on(3, 5),
                term_months: 12,
            })
            .then([Event::Changed {
                person_id: p,
                state: WorkerState::Appointed,
                on: on(3, 5),
                term_ends_on: Some(NaiveDate::from_ymd_opt(2023, 3, 5).unwrap_or_default()),
                note: String::new(),
            }]);
        let w = state.0.expect("worker");
        assert!(w.serving_on(NaiveDate::from_ymd_opt(2023, 3, 5).unwrap_or_default()));
        assert!(!w.serving_on(NaiveDate::from_ymd_opt(2023, 3, 6).unwrap_or_default()));
    }
}
