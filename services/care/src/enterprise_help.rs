//! Help for enterprises 助企服务: cadres posted to enterprises as their "red
//! CGO" 红色CGO, and enterprise problems raised 问需, helped 帮服, followed
//! 跟踪 and solved 助力 (or closed unsolved).

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent};
use hongxin_proto::care::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{bad, day, id};

// ---- Postings ----------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    pub posting_id: Uuid,
    pub cadre: Uuid,
    pub enterprise: Uuid,
    pub started_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostingCommand {
    Post(Posting),
    End { on: NaiveDate },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostingEvent {
    Posted(Posting),
    Ended { posting_id: Uuid, on: NaiveDate },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostingState(pub Option<(Posting, Option<NaiveDate>)>);

#[derive(Clone, Copy, Debug, Default)]
pub struct PostingDecider;

impl Decider for PostingDecider {
    type State = PostingState;
    type Command = PostingCommand;
    type Event = PostingEvent;
    const CATEGORY: &'static str = "cadre_posting";

    fn decide(
        &self,
        state: &PostingState,
        command: &PostingCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<PostingEvent>, CommandError> {
        let today = beijing_today(now);
        match command {
            PostingCommand::Post(p) => {
                if p.started_on > today {
                    return Err(CommandError::invalid(
                        "started_on",
                        "must not be in the future",
                    ));
                }
                match &state.0 {
                    None => Ok(vec![PostingEvent::Posted(p.clone())]),
                    Some((existing, _)) if existing == p => Ok(vec![]),
                    Some(_) => Err(CommandError::rejected(format!(
                        "posting {} exists with other data",
                        p.posting_id
                    ))),
                }
            }
            PostingCommand::End { on } => {
                let (p, ended) = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no such posting"))?;
                if ended.is_some() {
                    return Ok(vec![]);
                }
                if *on < p.started_on || *on > today {
                    return Err(CommandError::invalid(
                        "ended_on",
                        "must fall between the start and today",
                    ));
                }
                Ok(vec![PostingEvent::Ended {
                    posting_id: p.posting_id,
                    on: *on,
                }])
            }
        }
    }

    fn evolve(&self, state: PostingState, event: &PostingEvent) -> PostingState {
        match event {
            PostingEvent::Posted(p) => PostingState(Some((p.clone(), None))),
            PostingEvent::Ended { on, .. } => PostingState(state.0.map(|(p, _)| (p, Some(*on)))),
        }
    }
}

impl PostingState {
    pub fn to_wire(&self, version: u64) -> Option<pb::CadrePosting> {
        self.0.as_ref().map(|(p, ended)| pb::CadrePosting {
            posting_id: p.posting_id.to_string(),
            cadre_person_id: p.cadre.to_string(),
            enterprise_id: p.enterprise.to_string(),
            started_on: format_day(p.started_on),
            ended_on: ended.map(format_day).unwrap_or_default(),
            version,
        })
    }
}

impl DomainEvent for PostingEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Posted(_) => "CadrePosted",
            Self::Ended { .. } => "CadrePostingEnded",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Posted(p) => pb::CadrePosted {
                posting_id: p.posting_id.to_string(),
                cadre_person_id: p.cadre.to_string(),
                enterprise_id: p.enterprise.to_string(),
                started_on: format_day(p.started_on),
            }
            .encode_to_vec(),
            Self::Ended { posting_id, on } => pb::CadrePostingEnded {
                posting_id: posting_id.to_string(),
                ended_on: format_day(*on),
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (t, version) {
            ("CadrePosted", 1) => {
                let e = pb::CadrePosted::decode(payload).map_err(bad(t))?;
                Ok(Self::Posted(Posting {
                    posting_id: id(t, &e.posting_id)?,
                    cadre: id(t, &e.cadre_person_id)?,
                    enterprise: id(t, &e.enterprise_id)?,
                    started_on: day(t, &e.started_on)?,
                }))
            }
            ("CadrePostingEnded", 1) => {
                let e = pb::CadrePostingEnded::decode(payload).map_err(bad(t))?;
                Ok(Self::Ended {
                    posting_id: id(t, &e.posting_id)?,
                    on: day(t, &e.ended_on)?,
                })
            }
            _ => Err(DecodeError::unknown(t, version)),
        }
    }
}

// ---- Problems ----------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    Funding,
    Sales,
    Supply,
    Labour,
    Policy,
    Other,
}

impl ProblemKind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        use pb::ProblemKind as W;
        match W::try_from(raw).ok()? {
            W::Funding => Some(Self::Funding),
            W::Sales => Some(Self::Sales),
            W::Supply => Some(Self::Supply),
            W::Labour => Some(Self::Labour),
            W::Policy => Some(Self::Policy),
            W::Other => Some(Self::Other),
            W::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::ProblemKind {
        use pb::ProblemKind as W;
        match self {
            Self::Funding => W::Funding,
            Self::Sales => W::Sales,
            Self::Supply => W::Supply,
            Self::Labour => W::Labour,
            Self::Policy => W::Policy,
            Self::Other => W::Other,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemState {
    Raised,
    InHand,
    Solved,
    ClosedUnsolved,
}

impl ProblemState {
    pub fn to_wire(self) -> pb::ProblemState {
        match self {
            Self::Raised => pb::ProblemState::Raised,
            Self::InHand => pb::ProblemState::InHand,
            Self::Solved => pb::ProblemState::Solved,
            Self::ClosedUnsolved => pb::ProblemState::ClosedUnsolved,
        }
    }

    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::ProblemState::try_from(raw).ok()? {
            pb::ProblemState::Raised => Some(Self::Raised),
            pb::ProblemState::InHand => Some(Self::InHand),
            pb::ProblemState::Solved => Some(Self::Solved),
            pb::ProblemState::ClosedUnsolved => Some(Self::ClosedUnsolved),
            pb::ProblemState::Unspecified => None,
        }
    }

    pub fn open(self) -> bool {
        matches!(self, Self::Raised | Self::InHand)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raising {
    pub problem_id: Uuid,
    pub enterprise: Uuid,
    pub kind: ProblemKind,
    pub description: String,
    pub raised_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemCommand {
    Raise(Raising),
    /// Help given or a follow-up (stays in hand), solved, or closed
    /// unsolved.
    Progress {
        to: ProblemState,
        on: NaiveDate,
        note: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemEvent {
    Raised(Raising),
    Progressed {
        problem_id: Uuid,
        state: ProblemState,
        on: NaiveDate,
        note: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub raising: Raising,
    pub state: ProblemState,
    pub closed_on: Option<NaiveDate>,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProblemStateView(pub Option<Problem>);

#[derive(Clone, Copy, Debug, Default)]
pub struct ProblemDecider;

impl Decider for ProblemDecider {
    type State = ProblemStateView;
    type Command = ProblemCommand;
    type Event = ProblemEvent;
    const CATEGORY: &'static str = "enterprise_problem";

    fn decide(
        &self,
        state: &ProblemStateView,
        command: &ProblemCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<ProblemEvent>, CommandError> {
        let today = beijing_today(now);
        match command {
            ProblemCommand::Raise(r) => {
                let v = text_violations("description", &r.description, 1000);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if r.raised_on > today {
                    return Err(CommandError::invalid(
                        "raised_on",
                        "must not be in the future",
                    ));
                }
                let clean = Raising {
                    description: r.description.trim().to_owned(),
                    ..r.clone()
                };
                match &state.0 {
                    None => Ok(vec![ProblemEvent::Raised(clean)]),
                    Some(p) if p.raising == clean => Ok(vec![]),
                    Some(_) => Err(CommandError::rejected(format!(
                        "problem {} exists with other data",
                        r.problem_id
                    ))),
                }
            }
            ProblemCommand::Progress { to, on, note } => {
                let p = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no such problem"))?;
                let v = text_violations("note", note, 1000);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if *on > today || *on < p.raising.raised_on {
                    return Err(CommandError::invalid(
                        "on",
                        "must fall between the raising and today",
                    ));
                }
                if !p.state.open() {
                    return Err(CommandError::rejected("the problem is closed"));
                }
                if *to == ProblemState::Raised {
                    return Err(CommandError::invalid("state", "a problem is raised once"));
                }
                if *to == ProblemState::Solved && p.state == ProblemState::Raised {
                    return Err(CommandError::rejected(
                        "a problem is helped with before it is solved",
                    ));
                }
                Ok(vec![ProblemEvent::Progressed {
                    problem_id: p.raising.problem_id,
                    state: *to,
                    on: *on,
                    note: note.trim().to_owned(),
                }])
            }
        }
    }

    fn evolve(&self, state: ProblemStateView, event: &ProblemEvent) -> ProblemStateView {
        match event {
            ProblemEvent::Raised(r) => ProblemStateView(Some(Problem {
                raising: r.clone(),
                state: ProblemState::Raised,
                closed_on: None,
                notes: Vec::new(),
            })),
            ProblemEvent::Progressed {
                state: s, on, note, ..
            } => ProblemStateView(state.0.map(|mut p| {
                p.state = *s;
                if !s.open() {
                    p.closed_on = Some(*on);
                }
                p.notes.push(note.clone());
                p
            })),
        }
    }
}

impl Problem {
    pub fn to_wire(&self, version: u64) -> pb::EnterpriseProblem {
        let r = &self.raising;
        pb::EnterpriseProblem {
            problem_id: r.problem_id.to_string(),
            enterprise_id: r.enterprise.to_string(),
            kind: r.kind.to_wire() as i32,
            description: r.description.clone(),
            state: self.state.to_wire() as i32,
            raised_on: format_day(r.raised_on),
            closed_on: self.closed_on.map(format_day).unwrap_or_default(),
            notes: self.notes.clone(),
            version,
        }
    }
}

impl DomainEvent for ProblemEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Raised(_) => "EnterpriseProblemRaised",
            Self::Progressed { .. } => "EnterpriseProblemProgressed",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Raised(r) => pb::EnterpriseProblemRaised {
                problem_id: r.problem_id.to_string(),
                enterprise_id: r.enterprise.to_string(),
                kind: r.kind.to_wire() as i32,
                description: r.description.clone(),
                raised_on: format_day(r.raised_on),
            }
            .encode_to_vec(),
            Self::Progressed {
                problem_id,
                state,
                on,
                note,
            } => pb::EnterpriseProblemProgressed {
                problem_id: problem_id.to_string(),
                state: state.to_wire() as i32,
                on: format_day(*on),
                note: note.clone(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (t, version) {
            ("EnterpriseProblemRaised", 1) => {
                let e = pb::EnterpriseProblemRaised::decode(payload).map_err(bad(t))?;
                Ok(Self::Raised(Raising {
                    problem_id: id(t, &e.problem_id)?,
                    enterprise: id(t, &e.enterprise_id)?,
                    kind: ProblemKind::from_wire(e.kind)
                        .ok_or_else(|| DecodeError::malformed(t, "unknown kind"))?,
                    description: e.description,
                    raised_on: day(t, &e.raised_on)?,
                }))
            }
            ("EnterpriseProblemProgressed", 1) => {
                let e = pb::EnterpriseProblemProgressed::decode(payload).map_err(bad(t))?;
                Ok(Self::Progressed {
                    problem_id: id(t, &e.problem_id)?,
                    state: ProblemState::from_wire(e.state)
                        .ok_or_else(|| DecodeError::malformed(t, "unknown state"))?,
                    on: day(t, &e.on)?,
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

    fn on(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 5, d).unwrap_or_default()
    }

    fn raised() -> ProblemEvent {
        ProblemEvent::Raised(Raising {
            problem_id: Uuid::from_u128(1),
            enterprise: Uuid::from_u128(2),
            kind: ProblemKind::Funding,
            description: "站点扩建资金不足".into(),
            raised_on: on(1),
        })
    }

    fn progress(to: ProblemState, d: u32) -> ProblemCommand {
        ProblemCommand::Progress {
            to,
            on: on(d),
            note: "对接银行".into(),
        }
    }

    #[test]
    fn a_problem_is_helped_before_it_is_solved_and_stays_closed() {
        given(ProblemDecider, [raised()])
            .when(progress(ProblemState::Solved, 2))
            .then_rejected("helped with before it is solved");
        let helped = ProblemEvent::Progressed {
            problem_id: Uuid::from_u128(1),
            state: ProblemState::InHand,
            on: on(2),
            note: "对接银行".into(),
        };
        let solved = ProblemEvent::Progressed {
            problem_id: Uuid::from_u128(1),
            state: ProblemState::Solved,
            on: on(9),
            note: "对接银行".into(),
        };
        given(ProblemDecider, [raised(), helped.clone()])
            .when(progress(ProblemState::Solved, 9))
            .then([solved.clone()]);
        given(ProblemDecider, [raised(), helped, solved])
            .when(progress(ProblemState::InHand, 10))
            .then_rejected("closed");
    }

    #[test]
    fn a_posting_ends_once() {
        let posting = Posting {
            posting_id: Uuid::from_u128(1),
            cadre: Uuid::from_u128(2),
            enterprise: Uuid::from_u128(3),
            started_on: on(1),
        };
        let ended = PostingEvent::Ended {
            posting_id: Uuid::from_u128(1),
            on: on(20),
        };
        given(PostingDecider, [PostingEvent::Posted(posting.clone())])
            .when(PostingCommand::End { on: on(20) })
            .then([ended.clone()]);
        given(PostingDecider, [PostingEvent::Posted(posting), ended])
            .when(PostingCommand::End { on: on(21) })
            .then([]);
    }
}
