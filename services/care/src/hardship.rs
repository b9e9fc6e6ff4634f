//! Hardship assistance 暖心助力 with the labour union and the Youth League.
//!
//! The union's categories come from the household's figures and the local
//! minimum-living standard: the monthly per-capita figure is
//! (annual disposable income − unavoidable expenses) / 12 / household size;
//! below the standard is 深度困难 (deep), below twice it 相对困难 (relative);
//! an accident or sudden event 意外致困 qualifies otherwise. The comparison is
//! made on whole fen without dividing, so it is exact.
//!
//! The figures are personal: the decider sees them only to compute the
//! category; the event carries them sealed with the person's key.

use chrono::{DateTime, Days, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::care::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{bad, day, id};

/// Largest yearly income or expense accepted, in fen (¥10 million).
pub const MAX_YEARLY_FEN: i64 = 1_000_000_000;
/// Largest single support, in fen (¥1 million).
pub const MAX_SUPPORT_FEN: i64 = 100_000_000;
/// Days the approval waits after the public notice begins.
pub const NOTICE_DAYS: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Deep,
    Relative,
    Accident,
}

impl Category {
    pub fn to_wire(self) -> pb::HardshipCategory {
        match self {
            Self::Deep => pb::HardshipCategory::Deep,
            Self::Relative => pb::HardshipCategory::Relative,
            Self::Accident => pb::HardshipCategory::Accident,
        }
    }

    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::HardshipCategory::try_from(raw).ok()? {
            pb::HardshipCategory::Deep => Some(Self::Deep),
            pb::HardshipCategory::Relative => Some(Self::Relative),
            pb::HardshipCategory::Accident => Some(Self::Accident),
            pb::HardshipCategory::Unspecified => None,
        }
    }
}

/// The figures behind a category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figures {
    pub household_size: u32,
    pub annual_income_fen: i64,
    pub unavoidable_expenses_fen: i64,
    /// The local minimum-living standard, fen per person per month.
    pub standard_fen: i64,
    pub accident: bool,
}

impl Figures {
    /// Field problems with the figures.
    pub fn violations(&self) -> Vec<FieldViolation> {
        let mut v = Vec::new();
        if !(1..=20).contains(&self.household_size) {
            v.push(FieldViolation::new("household.size", "1 to 20 people"));
        }
        for (field, fen) in [
            (
                "household.annual_disposable_income_fen",
                self.annual_income_fen,
            ),
            (
                "household.unavoidable_expenses_fen",
                self.unavoidable_expenses_fen,
            ),
        ] {
            if !(0..=MAX_YEARLY_FEN).contains(&fen) {
                v.push(FieldViolation::new(
                    field,
                    "0 to 1000000000 fen (¥10 million) a year",
                ));
            }
        }
        if !(1..=10_000_000).contains(&self.standard_fen) {
            v.push(FieldViolation::new(
                "minimum_living_standard_fen",
                "must be a positive monthly amount in fen",
            ));
        }
        v
    }

    /// The monthly per-capita figure in fen, rounded down.
    pub fn monthly_per_capita_fen(&self) -> i64 {
        (self.annual_income_fen - self.unavoidable_expenses_fen)
            .div_euclid(12 * i64::from(self.household_size.max(1)))
    }

    /// The union's category, or `None` when the household is not in
    /// hardship by these figures.
    pub fn category(&self) -> Option<Category> {
        let net = self.annual_income_fen - self.unavoidable_expenses_fen;
        let line = self.standard_fen * 12 * i64::from(self.household_size);
        if net < line {
            Some(Category::Deep)
        } else if net < 2 * line {
            Some(Category::Relative)
        } else if self.accident {
            Some(Category::Accident)
        } else {
            None
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    UnionReview,
    HomeVisit,
    CrossCheck,
    Notice,
    Approval,
    Review,
    Exit,
}

impl Step {
    const ALL: [Self; 7] = [
        Self::UnionReview,
        Self::HomeVisit,
        Self::CrossCheck,
        Self::Notice,
        Self::Approval,
        Self::Review,
        Self::Exit,
    ];

    pub fn to_wire(self) -> pb::HardshipStep {
        use pb::HardshipStep as W;
        match self {
            Self::UnionReview => W::UnionReview,
            Self::HomeVisit => W::HomeVisit,
            Self::CrossCheck => W::CrossCheck,
            Self::Notice => W::Notice,
            Self::Approval => W::Approval,
            Self::Review => W::Review,
            Self::Exit => W::Exit,
        }
    }

    pub fn from_wire(raw: i32) -> Option<Self> {
        let w = pb::HardshipStep::try_from(raw).ok()?;
        Self::ALL.into_iter().find(|s| s.to_wire() == w)
    }

    /// The step that must come just before, when there is one.
    fn after(self) -> Option<Self> {
        match self {
            Self::UnionReview => None,
            Self::HomeVisit => Some(Self::UnionReview),
            Self::CrossCheck => Some(Self::HomeVisit),
            Self::Notice => Some(Self::CrossCheck),
            Self::Approval => Some(Self::Notice),
            Self::Review | Self::Exit => Some(Self::Approval),
        }
    }
}

/// The union's own status of its hardship file 困难职工档案, as its export
/// reports it. These are the union's view of the file, not steps of this
/// case: the union may approve a file before this case's notice, or close
/// it after this case's exit, so they are recorded beside the steps rather
/// than mapped onto them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnionStatus {
    Filed,
    Approved,
    Refused,
    Supported,
    Exited,
}

impl UnionStatus {
    pub fn to_wire(self) -> pb::UnionHardshipStatus {
        use pb::UnionHardshipStatus as W;
        match self {
            Self::Filed => W::Filed,
            Self::Approved => W::Approved,
            Self::Refused => W::Refused,
            Self::Supported => W::Supported,
            Self::Exited => W::Exited,
        }
    }

    pub fn from_wire(raw: i32) -> Option<Self> {
        use pb::UnionHardshipStatus as W;
        match W::try_from(raw).ok()? {
            W::Filed => Some(Self::Filed),
            W::Approved => Some(Self::Approved),
            W::Refused => Some(Self::Refused),
            W::Supported => Some(Self::Supported),
            W::Exited => Some(Self::Exited),
            W::Unspecified => None,
        }
    }

    /// How far along the file is: a file's status never moves back.
    fn rank(self) -> u8 {
        match self {
            Self::Filed => 0,
            Self::Approved | Self::Refused => 1,
            Self::Supported => 2,
            Self::Exited => 3,
        }
    }
}

/// What the union last reported of the case's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnionReport {
    pub file_number: String,
    pub status: UnionStatus,
    pub on: NaiveDate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SupportKind {
    Cash,
    InKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Support {
    pub support_id: Uuid,
    pub kind: SupportKind,
    pub amount_fen: i64,
    pub description: String,
    pub giver: String,
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub case_id: Uuid,
    pub person_id: Uuid,
    pub category: Category,
    pub sealed_household: Vec<u8>,
    pub standard_fen: i64,
    pub applied_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `figures` are only for the category; `sealed_household` is what is
    /// kept.
    Apply {
        case_id: Uuid,
        person_id: Uuid,
        figures: Figures,
        sealed_household: Vec<u8>,
        applied_on: NaiveDate,
    },
    Record {
        step: Step,
        on: NaiveDate,
        passed: bool,
        note: String,
    },
    Give(Support),
    /// Records the union's status of its file; `person_id` is whom the
    /// union's file names, which must be the case's person.
    RecordUnionStatus {
        person_id: Uuid,
        report: UnionReport,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Applied(Application),
    StepRecorded {
        case_id: Uuid,
        step: Step,
        on: NaiveDate,
        passed: bool,
        note: String,
    },
    SupportGiven {
        case_id: Uuid,
        support: Support,
    },
    UnionStatusRecorded {
        case_id: Uuid,
        report: UnionReport,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub application: Application,
    pub steps: Vec<(Step, NaiveDate, bool)>,
    pub support: Vec<Support>,
    /// Closed by a failed review or check, or by exit.
    pub closed: bool,
    pub union_report: Option<UnionReport>,
}

impl Case {
    fn done(&self, step: Step) -> Option<NaiveDate> {
        self.steps
            .iter()
            .rev()
            .find(|(s, _, passed)| *s == step && *passed)
            .map(|(_, on, _)| *on)
    }

    pub fn approved(&self) -> bool {
        self.done(Step::Approval).is_some()
    }

    pub fn support_total_fen(&self) -> i64 {
        self.support.iter().map(|s| s.amount_fen).sum()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Case>);

#[derive(Clone, Copy, Debug, Default)]
pub struct CaseDecider;

impl Decider for CaseDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "hardship_case";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let today = beijing_today(now);
        if let Command::Apply {
            case_id,
            person_id,
            figures,
            sealed_household,
            applied_on,
        } = command
        {
            let mut v = figures.violations();
            if *applied_on > today {
                v.push(FieldViolation::new(
                    "applied_on",
                    "must not be in the future",
                ));
            }
            if !v.is_empty() {
                return Err(CommandError::Invalid(v));
            }
            let Some(category) = figures.category() else {
                return Err(CommandError::rejected(format!(
                    "the household's monthly per-capita figure, ¥{:.2}, is not below twice the local standard of ¥{:.2}, and no accident is stated",
                    figures.monthly_per_capita_fen() as f64 / 100.0,
                    figures.standard_fen as f64 / 100.0
                )));
            };
            let application = Application {
                case_id: *case_id,
                person_id: *person_id,
                category,
                sealed_household: sealed_household.clone(),
                standard_fen: figures.standard_fen,
                applied_on: *applied_on,
            };
            return match &state.0 {
                None => Ok(vec![Event::Applied(application)]),
                // A retry: sealed afresh, the rest the same.
                Some(c)
                    if c.application.person_id == *person_id
                        && c.application.category == category
                        && c.application.applied_on == *applied_on =>
                {
                    Ok(vec![])
                }
                Some(_) => Err(CommandError::rejected(format!(
                    "hardship case {case_id} exists with other data"
                ))),
            };
        }
        let c = state
            .0
            .as_ref()
            .ok_or_else(|| CommandError::not_found("no such hardship case"))?;
        let case_id = c.application.case_id;
        // The union reports on its file whether or not this case is still
        // open: its file may close after this case's exit.
        if let Command::RecordUnionStatus { person_id, report } = command {
            return decide_union_status(c, *person_id, report, today);
        }
        if c.closed {
            return Err(CommandError::rejected("the case is closed"));
        }
        match command {
            Command::Apply { .. } | Command::RecordUnionStatus { .. } => {
                unreachable!("handled above")
            }
            Command::Record {
                step,
                on,
                passed,
                note,
            } => {
                if *on > today || *on < c.application.applied_on {
                    return Err(CommandError::invalid(
                        "on",
                        "must fall between the application and today",
                    ));
                }
                if note.chars().count() > 1000 {
                    return Err(CommandError::invalid("note", "at most 1000 characters"));
                }
                if let Some(before) = step.after()
                    && c.done(before).is_none()
                {
                    return Err(CommandError::rejected(format!(
                        "{step:?} comes after a passed {before:?}"
                    )));
                }
                if c.done(*step).is_some() && !matches!(step, Step::Review) {
                    return Err(CommandError::rejected(format!(
                        "{step:?} is already recorded"
                    )));
                }
                if *step == Step::HomeVisit && !passed {
                    return Err(CommandError::rejected(
                        "a home visit is recorded with the household's consent",
                    ));
                }
                if *step == Step::Approval
                    && let Some(notice) = c.done(Step::Notice)
                    && *on < notice + Days::new(NOTICE_DAYS)
                {
                    return Err(CommandError::rejected(format!(
                        "the public notice runs {NOTICE_DAYS} days: approval from {}",
                        format_day(notice + Days::new(NOTICE_DAYS))
                    )));
                }
                if *step == Step::Exit && note.trim().is_empty() {
                    return Err(CommandError::invalid("note", "an exit says why"));
                }
                Ok(vec![Event::StepRecorded {
                    case_id,
                    step: *step,
                    on: *on,
                    passed: *passed || matches!(step, Step::Notice | Step::Exit),
                    note: note.trim().to_owned(),
                }])
            }
            Command::Give(support) => {
                if !c.approved() {
                    return Err(CommandError::rejected("support follows approval"));
                }
                let mut v = text_violations("support.giver", &support.giver, 100);
                if !(1..=MAX_SUPPORT_FEN).contains(&support.amount_fen) {
                    v.push(FieldViolation::new(
                        "support.amount_fen",
                        "1 to 100000000 fen (¥1 million)",
                    ));
                }
                if support.kind == SupportKind::InKind {
                    v.extend(text_violations(
                        "support.description",
                        &support.description,
                        200,
                    ));
                }
                if support.on > today || support.on < c.application.applied_on {
                    v.push(FieldViolation::new(
                        "support.given_on",
                        "must fall between the application and today",
                    ));
                }
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if c.support.iter().any(|s| s.support_id == support.support_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::SupportGiven {
                    case_id,
                    support: Support {
                        giver: support.giver.trim().to_owned(),
                        description: support.description.trim().to_owned(),
                        ..support.clone()
                    },
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Applied(a) => State(Some(Case {
                application: a.clone(),
                steps: Vec::new(),
                support: Vec::new(),
                closed: false,
                union_report: None,
            })),
            Event::StepRecorded {
                step, on, passed, ..
            } => State(state.0.map(|mut c| {
                c.steps.push((*step, *on, *passed));
                if *step == Step::Exit || !passed {
                    c.closed = true;
                }
                c
            })),
            Event::SupportGiven { support, .. } => State(state.0.map(|mut c| {
                c.support.push(support.clone());
                c
            })),
            Event::UnionStatusRecorded { report, .. } => State(state.0.map(|mut c| {
                c.union_report = Some(report.clone());
                c
            })),
        }
    }
}

fn decide_union_status(
    c: &Case,
    person_id: Uuid,
    report: &UnionReport,
    today: NaiveDate,
) -> Result<Vec<Event>, CommandError> {
    let mut v = Vec::new();
    if person_id != c.application.person_id {
        v.push(FieldViolation::new(
            "person_id",
            "the union's file names another person than this case",
        ));
    }
    let file_number = report.file_number.trim();
    if file_number.is_empty()
        || file_number.chars().count() > 64
        || file_number
            .chars()
            .any(|ch| ch.is_control() || ch.is_whitespace())
    {
        v.push(FieldViolation::new(
            "union_file_number",
            "1 to 64 characters without spaces",
        ));
    }
    if report.on > today || report.on < c.application.applied_on {
        v.push(FieldViolation::new(
            "on",
            "must fall between the application and today",
        ));
    }
    if !v.is_empty() {
        return Err(CommandError::Invalid(v));
    }
    let report = UnionReport {
        file_number: file_number.to_owned(),
        ..report.clone()
    };
    if let Some(known) = &c.union_report {
        if *known == report {
            return Ok(vec![]);
        }
        if (report.status.rank(), report.on) < (known.status.rank(), known.on) {
            return Err(CommandError::rejected(format!(
                "the union's file already stood at {:?} on {}; this status is older",
                known.status,
                format_day(known.on)
            )));
        }
    }
    Ok(vec![Event::UnionStatusRecorded {
        case_id: c.application.case_id,
        report,
    }])
}

pub fn support_to_wire(s: &Support) -> pb::Support {
    pb::Support {
        support_id: s.support_id.to_string(),
        kind: match s.kind {
            SupportKind::Cash => pb::SupportKind::Cash,
            SupportKind::InKind => pb::SupportKind::InKind,
        } as i32,
        amount_fen: s.amount_fen,
        description: s.description.clone(),
        giver: s.giver.clone(),
        given_on: format_day(s.on),
    }
}

fn support_from_wire(t: &str, s: pb::Support) -> Result<Support, DecodeError> {
    Ok(Support {
        support_id: id(t, &s.support_id)?,
        kind: match pb::SupportKind::try_from(s.kind) {
            Ok(pb::SupportKind::Cash) => SupportKind::Cash,
            Ok(pb::SupportKind::InKind) => SupportKind::InKind,
            _ => return Err(DecodeError::malformed(t, "unknown support kind")),
        },
        amount_fen: s.amount_fen,
        description: s.description,
        giver: s.giver,
        on: day(t, &s.given_on)?,
    })
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Applied(_) => "HardshipApplied",
            Self::StepRecorded { .. } => "HardshipStepRecorded",
            Self::SupportGiven { .. } => "HardshipSupportGiven",
            Self::UnionStatusRecorded { .. } => "HardshipUnionStatusRecorded",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Applied(a) => pb::HardshipApplied {
                case_id: a.case_id.to_string(),
                person_id: a.person_id.to_string(),
                category: a.category.to_wire() as i32,
                sealed_household: a.sealed_household.clone(),
                applied_on: format_day(a.applied_on),
                minimum_living_standard_fen: a.standard_fen,
            }
            .encode_to_vec(),
            Self::StepRecorded {
                case_id,
                step,
                on,
                passed,
                note,
            } => pb::HardshipStepRecorded {
                case_id: case_id.to_string(),
                step: step.to_wire() as i32,
                on: format_day(*on),
                passed: *passed,
                note: note.clone(),
            }
            .encode_to_vec(),
            Self::SupportGiven { case_id, support } => pb::HardshipSupportGiven {
                case_id: case_id.to_string(),
                support: Some(support_to_wire(support)),
            }
            .encode_to_vec(),
            Self::UnionStatusRecorded { case_id, report } => pb::HardshipUnionStatusRecorded {
                case_id: case_id.to_string(),
                union_file_number: report.file_number.clone(),
                status: report.status.to_wire() as i32,
                on: format_day(report.on),
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (t, version) {
            ("HardshipApplied", 1) => {
                let e = pb::HardshipApplied::decode(payload).map_err(bad(t))?;
                Ok(Self::Applied(Application {
                    case_id: id(t, &e.case_id)?,
                    person_id: id(t, &e.person_id)?,
                    category: Category::from_wire(e.category)
                        .ok_or_else(|| DecodeError::malformed(t, "unknown category"))?,
                    sealed_household: e.sealed_household,
                    standard_fen: e.minimum_living_standard_fen,
                    applied_on: day(t, &e.applied_on)?,
                }))
            }
            ("HardshipStepRecorded", 1) => {
                let e = pb::HardshipStepRecorded::decode(payload).map_err(bad(t))?;
                Ok(Self::StepRecorded {
                    case_id: id(t, &e.case_id)?,
                    step: Step::from_wire(e.step)
                        .ok_or_else(|| DecodeError::malformed(t, "unknown step"))?,
                    on: day(t, &e.on)?,
                    passed: e.passed,
                    note: e.note,
                })
            }
            ("HardshipSupportGiven", 1) => {
                let e = pb::HardshipSupportGiven::decode(payload).map_err(bad(t))?;
                Ok(Self::SupportGiven {
                    case_id: id(t, &e.case_id)?,
                    support: support_from_wire(
                        t,
                        e.support
                            .ok_or_else(|| DecodeError::malformed(t, "no support"))?,
                    )?,
                })
            }
            ("HardshipUnionStatusRecorded", 1) => {
                let e = pb::HardshipUnionStatusRecorded::decode(payload).map_err(bad(t))?;
                Ok(Self::UnionStatusRecorded {
                    case_id: id(t, &e.case_id)?,
                    report: UnionReport {
                        file_number: e.union_file_number,
                        status: UnionStatus::from_wire(e.status)
                            .ok_or_else(|| DecodeError::malformed(t, "unknown union status"))?,
                        on: day(t, &e.on)?,
                    },
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

    /// A household of 3 under a standard of ¥800 a month: the deep line is
    /// ¥28,800 a year, the relative line ¥57,600.
    fn figures(income_yuan: i64, expenses_yuan: i64, accident: bool) -> Figures {
        Figures {
            household_size: 3,
            annual_income_fen: income_yuan * 100,
            unavoidable_expenses_fen: expenses_yuan * 100,
            standard_fen: 80_000,
            accident,
        }
    }

    #[test]
    fn categories_at_their_boundaries() {
        // Exactly the standard: not below it, so relative.
        assert_eq!(
            figures(28_800, 0, false).category(),
            Some(Category::Relative)
        );
        assert_eq!(figures(28_800, 0, false).monthly_per_capita_fen(), 80_000);
        // One fen less a year: deep.
        let just_below = Figures {
            annual_income_fen: 2_880_000 - 1,
            ..figures(0, 0, false)
        };
        assert_eq!(just_below.category(), Some(Category::Deep));
        // Exactly twice the standard: not relative; only an accident counts.
        assert_eq!(figures(57_600, 0, false).category(), None);
        assert_eq!(
            figures(57_600, 0, true).category(),
            Some(Category::Accident)
        );
        // Expenses count against income, and may exceed it.
        assert_eq!(
            figures(60_000, 10_000, false).category(),
            Some(Category::Relative)
        );
        assert_eq!(
            figures(10_000, 30_000, false).category(),
            Some(Category::Deep)
        );
        assert_eq!(
            figures(10_000, 30_000, false).monthly_per_capita_fen(),
            -55_556
        );
    }

    fn applied() -> Event {
        Event::Applied(Application {
            case_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(2),
            category: Category::Deep,
            sealed_household: vec![1, 2, 3],
            standard_fen: 80_000,
            applied_on: NaiveDate::from_ymd_opt(2022, 3, 1).unwrap_or_default(),
        })
    }

    fn step(step: Step, d: u32, passed: bool) -> Event {
        Event::StepRecorded {
            case_id: Uuid::from_u128(1),
            step,
            on: NaiveDate::from_ymd_opt(2022, 4, d).unwrap_or_default(),
            passed,
            note: if step == Step::Exit {
                "收入改善".into()
            } else {
                String::new()
            },
        }
    }

    fn record(s: Step, d: u32, passed: bool) -> Command {
        Command::Record {
            step: s,
            on: NaiveDate::from_ymd_opt(2022, 4, d).unwrap_or_default(),
            passed,
            note: String::new(),
        }
    }

    #[test]
    fn applications_are_refused_outside_the_categories_and_for_absurd_figures() {
        let apply = |f| Command::Apply {
            case_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(2),
            figures: f,
            sealed_household: vec![1],
            applied_on: NaiveDate::from_ymd_opt(2022, 3, 1).unwrap_or_default(),
        };
        given(CaseDecider, [])
            .when(apply(figures(57_600, 0, false)))
            .then_rejected("not below twice the local standard");
        given(CaseDecider, [])
            .when(apply(Figures {
                annual_income_fen: -1,
                ..figures(0, 0, false)
            }))
            .then_invalid("household.annual_disposable_income_fen");
        given(CaseDecider, [])
            .when(apply(Figures {
                household_size: 0,
                ..figures(0, 0, false)
            }))
            .then_invalid("household.size");
    }

    #[test]
    fn the_steps_come_in_order_and_support_follows_approval() {
        given(CaseDecider, [applied()])
            .when(record(Step::HomeVisit, 2, true))
            .then_rejected("comes after a passed UnionReview");
        given(CaseDecider, [applied(), step(Step::UnionReview, 1, true)])
            .when(record(Step::HomeVisit, 2, false))
            .then_rejected("consent");
        let through_notice = [
            applied(),
            step(Step::UnionReview, 1, true),
            step(Step::HomeVisit, 2, true),
            step(Step::CrossCheck, 3, true),
            step(Step::Notice, 4, true),
        ];
        // Notice from 4 April: approval from 9 April.
        given(CaseDecider, through_notice.clone())
            .when(record(Step::Approval, 8, true))
            .then_rejected("approval from 2022-04-09");
        let give = Command::Give(Support {
            support_id: Uuid::from_u128(9),
            kind: SupportKind::Cash,
            amount_fen: 200_000,
            description: String::new(),
            giver: "县总工会".into(),
            on: NaiveDate::from_ymd_opt(2022, 4, 20).unwrap_or_default(),
        });
        given(CaseDecider, through_notice.clone())
            .when(give.clone())
            .then_rejected("support follows approval");
        let mut approved = through_notice.to_vec();
        approved.push(step(Step::Approval, 9, true));
        let state = given(CaseDecider, approved.clone())
            .when(give.clone())
            .then([Event::SupportGiven {
                case_id: Uuid::from_u128(1),
                support: Support {
                    support_id: Uuid::from_u128(9),
                    kind: SupportKind::Cash,
                    amount_fen: 200_000,
                    description: String::new(),
                    giver: "县总工会".into(),
                    on: NaiveDate::from_ymd_opt(2022, 4, 20).unwrap_or_default(),
                },
            }]);
        assert_eq!(state.0.map(|c| c.support_total_fen()), Some(200_000));
        let Command::Give(s) = give else {
            unreachable!()
        };
        given(CaseDecider, approved.clone())
            .when(Command::Give(Support {
                amount_fen: 0,
                ..s.clone()
            }))
            .then_invalid("support.amount_fen");
        given(CaseDecider, approved.clone())
            .when(Command::Give(Support {
                amount_fen: MAX_SUPPORT_FEN + 1,
                ..s
            }))
            .then_invalid("support.amount_fen");
        // Exit closes the case.
        approved.push(step(Step::Exit, 30, true));
        given(CaseDecider, approved)
            .when(record(Step::Review, 30, true))
            .then_rejected("the case is closed");
    }

    fn report(status: UnionStatus, d: u32) -> UnionReport {
        UnionReport {
            file_number: "GH-2022-017".into(),
            status,
            on: NaiveDate::from_ymd_opt(2022, 4, d).unwrap_or_default(),
        }
    }

    fn union_status(status: UnionStatus, d: u32) -> Command {
        Command::RecordUnionStatus {
            person_id: Uuid::from_u128(2),
            report: report(status, d),
        }
    }

    fn union_recorded(status: UnionStatus, d: u32) -> Event {
        Event::UnionStatusRecorded {
            case_id: Uuid::from_u128(1),
            report: report(status, d),
        }
    }

    #[test]
    fn the_unions_status_of_its_file_is_recorded_once_and_never_moves_back() {
        let state = given(CaseDecider, [applied()])
            .when(union_status(UnionStatus::Filed, 2))
            .then([union_recorded(UnionStatus::Filed, 2)]);
        assert_eq!(
            state.0.and_then(|c| c.union_report).map(|r| r.status),
            Some(UnionStatus::Filed)
        );
        // The same status of the same file again: a second import.
        given(
            CaseDecider,
            [applied(), union_recorded(UnionStatus::Filed, 2)],
        )
        .when(union_status(UnionStatus::Filed, 2))
        .then([]);
        // A newer status is a new fact, even on a case closed here.
        given(
            CaseDecider,
            [
                applied(),
                union_recorded(UnionStatus::Supported, 5),
                step(Step::UnionReview, 6, false),
            ],
        )
        .when(union_status(UnionStatus::Exited, 9))
        .then([union_recorded(UnionStatus::Exited, 9)]);
        given(
            CaseDecider,
            [applied(), union_recorded(UnionStatus::Supported, 5)],
        )
        .when(union_status(UnionStatus::Approved, 6))
        .then_rejected("this status is older");
    }

    #[test]
    fn the_unions_file_must_name_the_cases_person_and_a_day_in_its_course() {
        given(CaseDecider, [applied()])
            .when(Command::RecordUnionStatus {
                person_id: Uuid::from_u128(3),
                report: report(UnionStatus::Filed, 2),
            })
            .then_invalid("person_id");
        given(CaseDecider, [applied()])
            .when(Command::RecordUnionStatus {
                person_id: Uuid::from_u128(2),
                report: UnionReport {
                    on: NaiveDate::from_ymd_opt(2022, 2, 1).unwrap_or_default(),
                    ..report(UnionStatus::Filed, 2)
                },
            })
            .then_invalid("on");
        given(CaseDecider, [applied()])
            .when(Command::RecordUnionStatus {
                person_id: Uuid::from_u128(2),
                report: UnionReport {
                    file_number: " ".into(),
                    ..report(UnionStatus::Filed, 2)
                },
            })
            .then_invalid("union_file_number");
        given(CaseDecider, [])
            .when(union_status(UnionStatus::Filed, 2))
            .then_error();
        let event = union_recorded(UnionStatus::Refused, 3);
        assert_eq!(
            Event::decode(event.event_type(), 1, &event.encode()).ok(),
            Some(event)
        );
    }
}
