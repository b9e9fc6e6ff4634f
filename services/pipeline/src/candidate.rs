//! One candidate's way through member development: a stream of steps, each
//! guarded by the rules the candidate applied under.
//!
//! Two kinds of time rule: waiting periods (18 years old, a year as
//! activist, probation) refuse a step taken too early; obligations of the
//! organisation (talk within a month, assess every six months) are shown as
//! due and overdue. The approval windows are hard limits: an approval after
//! them is refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::pipeline::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::calendar::{Calendar, add_months, age_on};
use crate::rules::RuleSet;

/// The steps, in the order of the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Application,
    Talk,
    ActivistConfirmed,
    ActivistFiled,
    ContactsAssigned,
    Assessment,
    TargetConfirmed,
    TargetFiled,
    IntroducersAssigned,
    PoliticalReview,
    Training,
    BranchReview,
    PreReview,
    PublicNotice,
    ApplicationForm,
    BranchMeeting,
    CommitteeTalk,
    Approval,
    ApprovalFiled,
    Oath,
    ProbationAssessment,
    FullApplication,
    FullMeeting,
    FullApproval,
    Archived,
    Extension,
    Cancellation,
}

impl Step {
    pub const ALL: [Self; 27] = [
        Self::Application,
        Self::Talk,
        Self::ActivistConfirmed,
        Self::ActivistFiled,
        Self::ContactsAssigned,
        Self::Assessment,
        Self::TargetConfirmed,
        Self::TargetFiled,
        Self::IntroducersAssigned,
        Self::PoliticalReview,
        Self::Training,
        Self::BranchReview,
        Self::PreReview,
        Self::PublicNotice,
        Self::ApplicationForm,
        Self::BranchMeeting,
        Self::CommitteeTalk,
        Self::Approval,
        Self::ApprovalFiled,
        Self::Oath,
        Self::ProbationAssessment,
        Self::FullApplication,
        Self::FullMeeting,
        Self::FullApproval,
        Self::Archived,
        Self::Extension,
        Self::Cancellation,
    ];

    pub fn from_wire(raw: i32) -> Option<Self> {
        let step = pb::Step::try_from(raw).ok()?;
        Self::ALL.into_iter().find(|s| s.to_wire() == step)
    }

    pub fn to_wire(self) -> pb::Step {
        use pb::Step as W;
        match self {
            Self::Application => W::Application,
            Self::Talk => W::Talk,
            Self::ActivistConfirmed => W::ActivistConfirmed,
            Self::ActivistFiled => W::ActivistFiled,
            Self::ContactsAssigned => W::ContactsAssigned,
            Self::Assessment => W::Assessment,
            Self::TargetConfirmed => W::TargetConfirmed,
            Self::TargetFiled => W::TargetFiled,
            Self::IntroducersAssigned => W::IntroducersAssigned,
            Self::PoliticalReview => W::PoliticalReview,
            Self::Training => W::Training,
            Self::BranchReview => W::BranchReview,
            Self::PreReview => W::PreReview,
            Self::PublicNotice => W::PublicNotice,
            Self::ApplicationForm => W::ApplicationForm,
            Self::BranchMeeting => W::BranchMeeting,
            Self::CommitteeTalk => W::CommitteeTalk,
            Self::Approval => W::Approval,
            Self::ApprovalFiled => W::ApprovalFiled,
            Self::Oath => W::Oath,
            Self::ProbationAssessment => W::ProbationAssessment,
            Self::FullApplication => W::FullApplication,
            Self::FullMeeting => W::FullMeeting,
            Self::FullApproval => W::FullApproval,
            Self::Archived => W::Archived,
            Self::Extension => W::Extension,
            Self::Cancellation => W::Cancellation,
        }
    }

    /// What an officer reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Application => "递交入党申请书",
            Self::Talk => "党组织派人谈话",
            Self::ActivistConfirmed => "确定入党积极分子",
            Self::ActivistFiled => "入党积极分子报上级党委备案",
            Self::ContactsAssigned => "指定培养联系人",
            Self::Assessment => "培养教育考察",
            Self::TargetConfirmed => "确定发展对象",
            Self::TargetFiled => "发展对象报上级党委备案",
            Self::IntroducersAssigned => "确定入党介绍人",
            Self::PoliticalReview => "政治审查",
            Self::Training => "集中培训",
            Self::BranchReview => "支部委员会审查",
            Self::PreReview => "上级党委预审",
            Self::PublicNotice => "公示",
            Self::ApplicationForm => "填写入党志愿书",
            Self::BranchMeeting => "支部大会讨论接收预备党员",
            Self::CommitteeTalk => "上级党委派人谈话",
            Self::Approval => "上级党委审批",
            Self::ApprovalFiled => "再上一级党委组织部门备案",
            Self::Oath => "入党宣誓",
            Self::ProbationAssessment => "继续教育考察",
            Self::FullApplication => "提出转正申请",
            Self::FullMeeting => "支部大会讨论转正",
            Self::FullApproval => "上级党委审批转正",
            Self::Archived => "材料归档",
            Self::Extension => "延长预备期",
            Self::Cancellation => "取消预备党员资格",
        }
    }

    /// Steps that may be recorded more than once.
    fn repeats(self) -> bool {
        matches!(
            self,
            Self::Assessment
                | Self::Training
                | Self::ProbationAssessment
                | Self::BranchMeeting
                | Self::FullMeeting
        )
    }

    /// Steps that must be recorded before this one.
    fn requires(self) -> &'static [Step] {
        use Step::*;
        match self {
            Application => &[],
            Talk => &[Application],
            ActivistConfirmed => &[Talk],
            ActivistFiled | ContactsAssigned | Assessment => &[ActivistConfirmed],
            TargetConfirmed => &[ActivistFiled, ContactsAssigned, Assessment],
            TargetFiled | IntroducersAssigned | PoliticalReview | Training => &[TargetConfirmed],
            BranchReview => &[TargetFiled, IntroducersAssigned, PoliticalReview, Training],
            PreReview => &[BranchReview],
            PublicNotice => &[PreReview],
            ApplicationForm => &[PublicNotice],
            BranchMeeting => &[ApplicationForm],
            CommitteeTalk => &[BranchMeeting],
            Approval => &[CommitteeTalk],
            ApprovalFiled | Oath | ProbationAssessment | Extension | Cancellation => &[Approval],
            FullApplication => &[Oath],
            FullMeeting => &[FullApplication],
            FullApproval => &[FullMeeting],
            Archived => &[FullApproval],
        }
    }

    /// The steps a full member must have gone through.
    pub const MANDATORY_FOR_FULL: [Step; 22] = [
        Step::Application,
        Step::Talk,
        Step::ActivistConfirmed,
        Step::ActivistFiled,
        Step::ContactsAssigned,
        Step::Assessment,
        Step::TargetConfirmed,
        Step::TargetFiled,
        Step::IntroducersAssigned,
        Step::PoliticalReview,
        Step::Training,
        Step::BranchReview,
        Step::PreReview,
        Step::PublicNotice,
        Step::ApplicationForm,
        Step::BranchMeeting,
        Step::CommitteeTalk,
        Step::Approval,
        Step::Oath,
        Step::FullApplication,
        Step::FullMeeting,
        Step::FullApproval,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recommender {
    Members,
    Union,
    YouthLeague,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Votes {
    pub voting_members: u32,
    pub present: u32,
    pub yes: u32,
}

impl Votes {
    /// More than half of the voting members present.
    pub fn quorate(&self) -> bool {
        self.present * 2 > self.voting_members
    }

    /// Yes-votes over half of those who should attend.
    pub fn passes(&self) -> bool {
        self.yes * 2 > self.voting_members
    }
}

/// What a step records besides its date.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    pub recommended_by: Option<Recommender>,
    pub people: Vec<Uuid>,
    pub passed: bool,
    pub days: u32,
    pub hours: u32,
    pub votes: Option<Votes>,
    pub approving_organization: Option<Uuid>,
    pub special_case_reason: String,
    pub months: u32,
    pub note: String,
    /// TRAINING: the sessions whose hours are included in `hours`.
    pub training_sessions: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub candidate_id: Uuid,
    pub person_id: Uuid,
    pub organization_id: Uuid,
    pub applied_on: NaiveDate,
    pub rules: RuleSet,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `birth_date` from the registry; checked against the minimum age.
    Apply {
        application: Application,
        birth_date: NaiveDate,
    },
    Record {
        step: Step,
        on: NaiveDate,
        details: Details,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub step: Step,
    pub on: NaiveDate,
    pub details: Details,
    /// PUBLIC_NOTICE: its last day.
    pub notice_ends_on: Option<NaiveDate>,
    /// Meetings: whether the vote passed.
    pub passed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Applied(Application),
    StepRecorded {
        subject: Subject,
        recorded: Recorded,
    },
    /// Published for the organization service.
    ProbationaryMemberAdmitted {
        subject: Subject,
        admitted_on: NaiveDate,
    },
    FullMembershipConfirmed {
        subject: Subject,
        confirmed_on: NaiveDate,
    },
    ProbationExtended {
        subject: Subject,
        extended_on: NaiveDate,
        months: u32,
        probation_ends_on: NaiveDate,
    },
    ProbationCancelled {
        subject: Subject,
        cancelled_on: NaiveDate,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Applicant,
    Activist,
    DevelopmentTarget,
    Probationary,
    Full,
    Cancelled,
}

impl Stage {
    pub fn to_wire(self) -> pb::Stage {
        match self {
            Self::Applicant => pb::Stage::Applicant,
            Self::Activist => pb::Stage::Activist,
            Self::DevelopmentTarget => pb::Stage::DevelopmentTarget,
            Self::Probationary => pb::Stage::Probationary,
            Self::Full => pb::Stage::Full,
            Self::Cancelled => pb::Stage::Cancelled,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub application: Application,
    pub steps: BTreeMap<Step, Vec<Recorded>>,
    /// The day of the admission meeting that passed: probation counts from it.
    pub admitted_on: Option<NaiveDate>,
    pub probation_ends_on: Option<NaiveDate>,
    pub stage: Stage,
}

impl Candidate {
    pub fn has(&self, step: Step) -> bool {
        self.steps.get(&step).is_some_and(|r| !r.is_empty())
    }

    fn last(&self, step: Step) -> Option<&Recorded> {
        self.steps.get(&step).and_then(|r| r.last())
    }

    /// The latest day among the given steps.
    fn latest_of(&self, steps: &[Step]) -> Option<NaiveDate> {
        steps
            .iter()
            .filter_map(|s| self.last(*s).map(|r| r.on))
            .max()
    }

    fn training(&self) -> (u32, u32) {
        self.steps.get(&Step::Training).map_or((0, 0), |rs| {
            rs.iter().fold((0, 0), |(d, h), r| {
                (d + r.details.days, h + r.details.hours)
            })
        })
    }

    fn meeting_passed(&self, step: Step) -> bool {
        self.steps
            .get(&step)
            .is_some_and(|rs| rs.iter().any(|r| r.passed))
    }

    fn rules(&self) -> &RuleSet {
        &self.application.rules
    }

    fn subject(&self) -> Subject {
        Subject {
            candidate_id: self.application.candidate_id,
            person_id: self.application.person_id,
            organization_id: self.application.organization_id,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Candidate>);

#[derive(Clone, Debug, Default)]
pub struct CandidateDecider {
    pub calendar: Arc<Calendar>,
}

fn refuse(message: impl Into<String>) -> CommandError {
    CommandError::Rejected(message.into())
}

impl CandidateDecider {
    fn apply(
        &self,
        state: &State,
        application: &Application,
        birth_date: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<Event>, CommandError> {
        if application.applied_on > today {
            return Err(CommandError::invalid(
                "applied_on",
                "must not be in the future",
            ));
        }
        if let Some(c) = &state.0 {
            return if c.application == *application {
                Ok(vec![])
            } else {
                Err(refuse(format!(
                    "candidate {} has already applied differently",
                    application.candidate_id
                )))
            };
        }
        let min = application.rules.min_age_years;
        if age_on(birth_date, application.applied_on) < min as i32 {
            return Err(refuse(format!(
                "an applicant must be at least {min} years old on the day of application"
            )));
        }
        Ok(vec![Event::Applied(application.clone())])
    }

    fn record(
        &self,
        c: &Candidate,
        step: Step,
        on: NaiveDate,
        details: &Details,
        today: NaiveDate,
    ) -> Result<Vec<Event>, CommandError> {
        if on > today {
            return Err(CommandError::invalid("on", "must not be in the future"));
        }
        match c.stage {
            Stage::Cancelled => {
                return Err(refuse("the candidacy was cancelled; no further steps"));
            }
            Stage::Full if step != Step::Archived => {
                return Err(refuse("already a full member; only archiving remains"));
            }
            _ => {}
        }
        if step == Step::Application {
            return Err(refuse("the application is made once, with Apply"));
        }
        if c.has(step) && !step.repeats() {
            return Err(refuse(format!("{} is already recorded", step.label())));
        }
        let missing: Vec<&str> = step
            .requires()
            .iter()
            .filter(|s| !c.has(**s))
            .map(|s| s.label())
            .collect();
        if !missing.is_empty() {
            return Err(refuse(format!(
                "{} needs first: {}",
                step.label(),
                missing.join("、")
            )));
        }
        if let Some(before) = c.latest_of(step.requires()).filter(|d| on < *d) {
            return Err(refuse(format!(
                "{} cannot be dated before {} (its previous step)",
                step.label(),
                format_day(before)
            )));
        }
        let rules = c.rules();
        let subject = c.subject();
        let mut recorded = Recorded {
            step,
            on,
            details: details.clone(),
            notice_ends_on: None,
            passed: false,
        };
        let mut extra = Vec::new();
        match step {
            Step::ActivistConfirmed => {
                if details.recommended_by.is_none() {
                    return Err(CommandError::invalid(
                        "details.recommended_by",
                        "an activist is recommended by members, the union or the Youth League",
                    ));
                }
                let earliest = add_months(
                    c.application.applied_on,
                    rules.min_months_application_to_activist,
                );
                if on < earliest {
                    return Err(refuse(format!(
                        "under rule set {} an activist is confirmed no earlier than {}",
                        rules.id,
                        format_day(earliest)
                    )));
                }
            }
            Step::ContactsAssigned => {
                check_people(
                    c,
                    &details.people,
                    rules.min_contacts,
                    rules.max_contacts,
                    "cultivation contacts",
                )?;
            }
            Step::Assessment | Step::TargetConfirmed if c.has(Step::TargetConfirmed) => {
                return Err(refuse(format!(
                    "{} belongs to the activist stage, which has ended",
                    step.label()
                )));
            }
            _ => {}
        }
        match step {
            Step::TargetConfirmed => {
                let activist_on = c.last(Step::ActivistConfirmed).map_or(on, |r| r.on);
                let earliest = add_months(activist_on, rules.min_months_as_activist);
                if on < earliest {
                    return Err(refuse(format!(
                        "a development target must have been an activist for at least {} months: not before {}",
                        rules.min_months_as_activist,
                        format_day(earliest)
                    )));
                }
                // Assessed every period, up to this day.
                let mut checkpoints = vec![activist_on];
                checkpoints.extend(
                    c.steps
                        .get(&Step::Assessment)
                        .into_iter()
                        .flatten()
                        .map(|r| r.on),
                );
                checkpoints.push(on);
                if let Some(gap) = checkpoints
                    .windows(2)
                    .find(|w| w[1] > add_months(w[0], rules.assessment_every_months))
                {
                    return Err(refuse(format!(
                        "an activist is assessed every {} months; none between {} and {}",
                        rules.assessment_every_months,
                        format_day(gap[0]),
                        format_day(gap[1])
                    )));
                }
            }
            Step::IntroducersAssigned => {
                check_people(
                    c,
                    &details.people,
                    rules.introducers,
                    rules.introducers,
                    "introducers",
                )?;
            }
            Step::Training
                if details.days == 0 && details.hours == 0
                    || details.days > 60
                    || details.hours > 480 =>
            {
                return Err(CommandError::invalid(
                    "details.days",
                    "a training record has 1–60 days or 1–480 hours",
                ));
            }
            Step::BranchReview => {
                if !c.steps[&Step::PoliticalReview]
                    .iter()
                    .any(|r| r.details.passed)
                {
                    return Err(refuse("the political review has not been passed"));
                }
                let (days, hours) = c.training();
                if days < rules.training_min_days && hours < rules.training_min_hours {
                    return Err(refuse(format!(
                        "centralised training needs at least {} days or {} class hours; recorded {days} days, {hours} hours",
                        rules.training_min_days, rules.training_min_hours
                    )));
                }
            }
            Step::PublicNotice => {
                recorded.notice_ends_on = Some(
                    self.calendar
                        .working_days_end(on, rules.notice_working_days),
                );
            }
            Step::BranchMeeting | Step::FullMeeting => {
                let votes = check_votes(details)?;
                if step == Step::BranchMeeting {
                    let ends = c
                        .last(Step::PublicNotice)
                        .and_then(|r| r.notice_ends_on)
                        .unwrap_or(on);
                    if on <= ends {
                        return Err(refuse(format!(
                            "the branch meeting comes after the public notice, which ends on {}",
                            format_day(ends)
                        )));
                    }
                    if c.meeting_passed(Step::BranchMeeting) {
                        return Err(refuse(
                            "the branch meeting has already admitted the candidate",
                        ));
                    }
                } else {
                    let ends = c.probation_ends_on.unwrap_or(on);
                    if on < ends {
                        return Err(refuse(format!(
                            "probation ends on {}; the meeting on full membership comes after",
                            format_day(ends)
                        )));
                    }
                    if c.meeting_passed(Step::FullMeeting) {
                        return Err(refuse(
                            "the branch meeting has already agreed to full membership",
                        ));
                    }
                }
                recorded.passed = votes.passes();
            }
            Step::CommitteeTalk if !c.meeting_passed(Step::BranchMeeting) => {
                return Err(refuse(
                    "the branch meeting has not voted to admit the candidate",
                ));
            }
            Step::Approval => {
                let meeting = c.admitted_on.unwrap_or(on);
                if details.approving_organization.is_none() {
                    return Err(CommandError::invalid(
                        "details.approving_organization_id",
                        "the approving Party committee is required",
                    ));
                }
                let normal = add_months(meeting, rules.approval_within_months);
                let special = add_months(meeting, rules.approval_special_months);
                if on > special {
                    return Err(refuse(format!(
                        "approval is due within {} months of the branch meeting, {} at the latest",
                        rules.approval_special_months,
                        format_day(special)
                    )));
                }
                if on > normal && details.special_case_reason.trim().is_empty() {
                    return Err(refuse(format!(
                        "approval after {} needs the special reason that allows up to {} months",
                        format_day(normal),
                        rules.approval_special_months
                    )));
                }
                extra.push(Event::ProbationaryMemberAdmitted {
                    subject,
                    admitted_on: meeting,
                });
            }
            Step::FullApplication => {
                let ends = c.probation_ends_on.unwrap_or(on);
                let earliest = ends
                    .checked_sub_months(chrono::Months::new(1))
                    .unwrap_or(ends);
                if on < earliest {
                    return Err(refuse(format!(
                        "the application for full membership is made when probation ends ({})",
                        format_day(ends)
                    )));
                }
            }
            Step::FullApproval => {
                if !c.meeting_passed(Step::FullMeeting) {
                    return Err(refuse(
                        "the branch meeting has not agreed to full membership",
                    ));
                }
                if details.approving_organization.is_none() {
                    return Err(CommandError::invalid(
                        "details.approving_organization_id",
                        "the approving Party committee is required",
                    ));
                }
                let ends = c.probation_ends_on.unwrap_or(on);
                let latest = add_months(ends, rules.full_approval_within_months);
                if on > latest {
                    return Err(refuse(format!(
                        "full membership is approved within {} months of the end of probation, by {}",
                        rules.full_approval_within_months,
                        format_day(latest)
                    )));
                }
                extra.push(Event::FullMembershipConfirmed {
                    subject,
                    confirmed_on: on,
                });
            }
            Step::Extension => {
                if c.has(Step::FullApproval) {
                    return Err(refuse("already a full member"));
                }
                if !(rules.extension_min_months..=rules.extension_max_months)
                    .contains(&details.months)
                {
                    return Err(CommandError::invalid(
                        "details.months",
                        format!(
                            "probation is extended by {} to {} months",
                            rules.extension_min_months, rules.extension_max_months
                        ),
                    ));
                }
                let ends = add_months(c.probation_ends_on.unwrap_or(on), details.months);
                extra.push(Event::ProbationExtended {
                    subject,
                    extended_on: on,
                    months: details.months,
                    probation_ends_on: ends,
                });
            }
            Step::Cancellation => {
                if details.note.trim().is_empty() {
                    return Err(CommandError::invalid("details.note", "say why"));
                }
                extra.push(Event::ProbationCancelled {
                    subject,
                    cancelled_on: on,
                });
            }
            _ => {}
        }
        let mut events = vec![Event::StepRecorded {
            subject: c.subject(),
            recorded,
        }];
        events.extend(extra);
        Ok(events)
    }
}

/// 1–n distinct people, not the candidate themselves.
fn check_people(
    c: &Candidate,
    people: &[Uuid],
    min: u32,
    max: u32,
    what: &str,
) -> Result<(), CommandError> {
    let n = people.len() as u32;
    if n < min || n > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(CommandError::invalid(
            "details.person_ids",
            format!("{want} {what}, not {n}"),
        ));
    }
    let mut v = Vec::new();
    for (i, p) in people.iter().enumerate() {
        if people[..i].contains(p) {
            v.push(FieldViolation::new(
                format!("details.person_ids[{i}]"),
                "is listed twice",
            ));
        }
        if *p == c.application.person_id {
            v.push(FieldViolation::new(
                format!("details.person_ids[{i}]"),
                "is the candidate",
            ));
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(CommandError::Invalid(v))
    }
}

fn check_votes(details: &Details) -> Result<Votes, CommandError> {
    let Some(votes) = details.votes else {
        return Err(CommandError::invalid(
            "details.votes",
            "the meeting's count is required",
        ));
    };
    if votes.voting_members == 0
        || votes.present > votes.voting_members
        || votes.yes > votes.present
        || votes.voting_members > 10_000
    {
        return Err(CommandError::invalid(
            "details.votes",
            "yes-votes ≤ present ≤ voting members, and at least one voting member",
        ));
    }
    if !votes.quorate() {
        return Err(refuse(format!(
            "{} of {} voting members present: more than half must attend for the meeting to decide",
            votes.present, votes.voting_members
        )));
    }
    Ok(votes)
}

impl Decider for CandidateDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "candidate";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let today = beijing_today(now);
        match command {
            Command::Apply {
                application,
                birth_date,
            } => self.apply(state, application, *birth_date, today),
            Command::Record { step, on, details } => {
                let Some(c) = &state.0 else {
                    return Err(CommandError::not_found("no such candidate"));
                };
                self.record(c, *step, *on, details, today)
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        let Some(mut c) = state.0 else {
            return match event {
                Event::Applied(a) => {
                    let first = Recorded {
                        step: Step::Application,
                        on: a.applied_on,
                        details: Details::default(),
                        notice_ends_on: None,
                        passed: false,
                    };
                    State(Some(Candidate {
                        application: a.clone(),
                        steps: BTreeMap::from([(Step::Application, vec![first])]),
                        admitted_on: None,
                        probation_ends_on: None,
                        stage: Stage::Applicant,
                    }))
                }
                _ => State(None),
            };
        };
        match event {
            Event::Applied(_) => {}
            Event::StepRecorded { recorded: r, .. } => {
                match r.step {
                    Step::ActivistConfirmed => c.stage = Stage::Activist,
                    Step::TargetConfirmed => c.stage = Stage::DevelopmentTarget,
                    Step::BranchMeeting if r.passed => {
                        c.admitted_on = Some(r.on);
                    }
                    _ => {}
                }
                c.steps.entry(r.step).or_default().push(r.clone());
            }
            Event::ProbationaryMemberAdmitted { admitted_on, .. } => {
                c.stage = Stage::Probationary;
                c.probation_ends_on = Some(add_months(
                    *admitted_on,
                    c.application.rules.probation_months,
                ));
            }
            Event::FullMembershipConfirmed { .. } => c.stage = Stage::Full,
            Event::ProbationExtended {
                probation_ends_on, ..
            } => c.probation_ends_on = Some(*probation_ends_on),
            Event::ProbationCancelled { .. } => c.stage = Stage::Cancelled,
        }
        State(Some(c))
    }
}

/// A next step with its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub step: Step,
    pub earliest: Option<NaiveDate>,
    pub due: Option<NaiveDate>,
    pub overdue: bool,
}

impl Candidate {
    /// What comes next, judged on `today`.
    pub fn next(&self, today: NaiveDate) -> Vec<Due> {
        let rules = self.rules();
        let due = |step, earliest: Option<NaiveDate>, due: Option<NaiveDate>| Due {
            step,
            earliest: earliest.filter(|e| *e > today),
            due,
            overdue: due.is_some_and(|d| d < today),
        };
        let mut out = Vec::new();
        match self.stage {
            Stage::Full => {
                if !self.has(Step::Archived) {
                    out.push(due(Step::Archived, None, None));
                }
                return out;
            }
            Stage::Cancelled => return out,
            _ => {}
        }
        let applied = self.application.applied_on;
        if !self.has(Step::Talk) {
            out.push(due(
                Step::Talk,
                None,
                Some(add_months(applied, rules.talk_within_months)),
            ));
            return out;
        }
        if self.stage == Stage::Activist {
            let last = self
                .latest_of(&[Step::ActivistConfirmed, Step::Assessment])
                .unwrap_or(applied);
            out.push(due(
                Step::Assessment,
                None,
                Some(add_months(last, rules.assessment_every_months)),
            ));
            let since = self.last(Step::ActivistConfirmed).map_or(applied, |r| r.on);
            out.push(due(
                Step::TargetConfirmed,
                Some(add_months(since, rules.min_months_as_activist)),
                None,
            ));
        }
        if self.stage == Stage::Probationary
            && let Some(ends) = self.probation_ends_on
        {
            if !self.has(Step::FullApproval) && self.meeting_passed(Step::FullMeeting) {
                out.push(due(
                    Step::FullApproval,
                    None,
                    Some(add_months(ends, rules.full_approval_within_months)),
                ));
            } else if !self.has(Step::FullApplication) || !self.meeting_passed(Step::FullMeeting) {
                let step = if self.has(Step::FullApplication) {
                    Step::FullMeeting
                } else if self.has(Step::Oath) {
                    Step::FullApplication
                } else {
                    Step::Oath
                };
                out.push(due(
                    step,
                    (step != Step::Oath).then_some(ends),
                    Some(add_months(ends, rules.full_approval_within_months)),
                ));
            }
            return out;
        }
        if self.meeting_passed(Step::BranchMeeting) && !self.has(Step::Approval) {
            let meeting = self.admitted_on.unwrap_or(applied);
            let step = if self.has(Step::CommitteeTalk) {
                Step::Approval
            } else {
                Step::CommitteeTalk
            };
            out.push(due(
                step,
                None,
                Some(add_months(meeting, rules.approval_within_months)),
            ));
            return out;
        }
        // Otherwise the first mandatory step not yet taken, if the stage's
        // waits are not already listed.
        if self.stage != Stage::Activist
            && let Some(step) = Step::MANDATORY_FOR_FULL
                .into_iter()
                .find(|s| !self.has(*s) || (*s == Step::BranchMeeting && !self.meeting_passed(*s)))
        {
            let earliest = match step {
                Step::ActivistConfirmed => Some(add_months(
                    applied,
                    rules.min_months_application_to_activist,
                )),
                Step::BranchMeeting => self
                    .last(Step::PublicNotice)
                    .and_then(|r| r.notice_ends_on)
                    .and_then(|d| d.succ_opt()),
                _ => None,
            };
            out.push(due(step, earliest, None));
        }
        out
    }
}

fn details_to_wire(d: &Details) -> pb::StepDetails {
    pb::StepDetails {
        recommended_by: match d.recommended_by {
            None => pb::Recommender::Unspecified,
            Some(Recommender::Members) => pb::Recommender::Members,
            Some(Recommender::Union) => pb::Recommender::Union,
            Some(Recommender::YouthLeague) => pb::Recommender::YouthLeague,
        } as i32,
        person_ids: d.people.iter().map(Uuid::to_string).collect(),
        passed: d.passed,
        days: d.days,
        hours: d.hours,
        votes: d.votes.map(|v| pb::Votes {
            voting_members: v.voting_members,
            present: v.present,
            yes_votes: v.yes,
        }),
        approving_organization_id: d
            .approving_organization
            .map(|o| o.to_string())
            .unwrap_or_default(),
        special_case_reason: d.special_case_reason.clone(),
        months: d.months,
        note: d.note.clone(),
        training_session_ids: d.training_sessions.iter().map(Uuid::to_string).collect(),
    }
}

/// The details of a step from the wire; field problems reported at once.
pub fn details_from_wire(d: pb::StepDetails) -> Result<Details, Vec<FieldViolation>> {
    let mut v = Vec::new();
    let recommended_by = match pb::Recommender::try_from(d.recommended_by) {
        Ok(pb::Recommender::Unspecified) => None,
        Ok(pb::Recommender::Members) => Some(Recommender::Members),
        Ok(pb::Recommender::Union) => Some(Recommender::Union),
        Ok(pb::Recommender::YouthLeague) => Some(Recommender::YouthLeague),
        Err(_) => {
            v.push(FieldViolation::new("details.recommended_by", "unknown"));
            None
        }
    };
    if d.person_ids.len() > 10 {
        v.push(FieldViolation::new(
            "details.person_ids",
            "at most 10 people",
        ));
    }
    let people = d
        .person_ids
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| match Uuid::parse_str(raw) {
            Ok(id) if !id.is_nil() => Some(id),
            _ => {
                v.push(FieldViolation::new(
                    format!("details.person_ids[{i}]"),
                    "must be a UUID",
                ));
                None
            }
        })
        .collect();
    if d.training_session_ids.len() > 50 {
        v.push(FieldViolation::new(
            "details.training_session_ids",
            "at most 50 sessions",
        ));
    }
    let training_sessions = d
        .training_session_ids
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| match Uuid::parse_str(raw) {
            Ok(id) if !id.is_nil() => Some(id),
            _ => {
                v.push(FieldViolation::new(
                    format!("details.training_session_ids[{i}]"),
                    "must be a UUID",
                ));
                None
            }
        })
        .collect();
    let approving_organization = if d.approving_organization_id.is_empty() {
        None
    } else {
        match Uuid::parse_str(&d.approving_organization_id) {
            Ok(id) => Some(id),
            Err(_) => {
                v.push(FieldViolation::new(
                    "details.approving_organization_id",
                    "must be a UUID",
                ));
                None
            }
        }
    };
    for (field, text, max) in [
        ("details.special_case_reason", &d.special_case_reason, 500),
        ("details.note", &d.note, 1000),
    ] {
        if text.chars().count() > max || text.chars().any(|c| c.is_control() && c != '\n') {
            v.push(FieldViolation::new(
                field,
                format!("at most {max} characters of text"),
            ));
        }
    }
    if !v.is_empty() {
        return Err(v);
    }
    Ok(Details {
        recommended_by,
        people,
        passed: d.passed,
        days: d.days,
        hours: d.hours,
        votes: d.votes.map(|v| Votes {
            voting_members: v.voting_members,
            present: v.present,
            yes: v.yes_votes,
        }),
        approving_organization,
        special_case_reason: d.special_case_reason.trim().to_owned(),
        months: d.months,
        note: d.note.trim().to_owned(),
        training_sessions,
    })
}

impl Candidate {
    pub fn to_wire(&self, version: u64, today: NaiveDate) -> pb::Candidate {
        let a = &self.application;
        let mut steps: Vec<&Recorded> = self.steps.values().flatten().collect();
        steps.sort_by_key(|r| (r.on, r.step));
        pb::Candidate {
            candidate_id: a.candidate_id.to_string(),
            person_id: a.person_id.to_string(),
            organization_id: a.organization_id.to_string(),
            stage: self.stage.to_wire() as i32,
            rules: Some(a.rules.to_wire()),
            steps: steps
                .into_iter()
                .map(|r| pb::RecordedStep {
                    step: r.step.to_wire() as i32,
                    on: format_day(r.on),
                    details: Some(details_to_wire(&r.details)),
                })
                .collect(),
            next: self
                .next(today)
                .into_iter()
                .map(|d| pb::DueStep {
                    step: d.step.to_wire() as i32,
                    earliest_on: d.earliest.map(format_day).unwrap_or_default(),
                    due_on: d.due.map(format_day).unwrap_or_default(),
                    overdue: d.overdue,
                })
                .collect(),
            admitted_on: self.admitted_on.map(format_day).unwrap_or_default(),
            probation_ends_on: self.probation_ends_on.map(format_day).unwrap_or_default(),
            version,
        }
    }
}

/// Who a membership event is about: the organization service needs the
/// person and the branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub candidate_id: Uuid,
    pub person_id: Uuid,
    pub organization_id: Uuid,
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Applied(_) => "CandidateApplied",
            Self::StepRecorded { .. } => "CandidateStepRecorded",
            Self::ProbationaryMemberAdmitted { .. } => "ProbationaryMemberAdmitted",
            Self::FullMembershipConfirmed { .. } => "FullMembershipConfirmed",
            Self::ProbationExtended { .. } => "ProbationExtended",
            Self::ProbationCancelled { .. } => "ProbationCancelled",
        }
    }

    fn encode(&self) -> Vec<u8> {
        let ids = |s: &Subject| {
            (
                s.candidate_id.to_string(),
                s.person_id.to_string(),
                s.organization_id.to_string(),
            )
        };
        match self {
            Self::Applied(a) => pb::CandidateApplied {
                candidate_id: a.candidate_id.to_string(),
                person_id: a.person_id.to_string(),
                organization_id: a.organization_id.to_string(),
                applied_on: format_day(a.applied_on),
                rules: Some(a.rules.to_wire()),
            }
            .encode_to_vec(),
            Self::StepRecorded {
                subject,
                recorded: r,
            } => pb::CandidateStepRecorded {
                candidate_id: subject.candidate_id.to_string(),
                person_id: subject.person_id.to_string(),
                organization_id: subject.organization_id.to_string(),
                step: r.step.to_wire() as i32,
                on: format_day(r.on),
                details: Some(details_to_wire(&r.details)),
                notice_ends_on: r.notice_ends_on.map(format_day).unwrap_or_default(),
                passed: r.passed,
            }
            .encode_to_vec(),
            Self::ProbationaryMemberAdmitted {
                subject,
                admitted_on,
            } => {
                let (candidate_id, person_id, organization_id) = ids(subject);
                pb::ProbationaryMemberAdmitted {
                    candidate_id,
                    person_id,
                    organization_id,
                    admitted_on: format_day(*admitted_on),
                }
                .encode_to_vec()
            }
            Self::FullMembershipConfirmed {
                subject,
                confirmed_on,
            } => {
                let (candidate_id, person_id, organization_id) = ids(subject);
                pb::FullMembershipConfirmed {
                    candidate_id,
                    person_id,
                    organization_id,
                    confirmed_on: format_day(*confirmed_on),
                }
                .encode_to_vec()
            }
            Self::ProbationExtended {
                subject,
                extended_on,
                months,
                probation_ends_on,
            } => {
                let (candidate_id, person_id, organization_id) = ids(subject);
                pb::ProbationExtended {
                    candidate_id,
                    person_id,
                    organization_id,
                    extended_on: format_day(*extended_on),
                    months: *months,
                    probation_ends_on: format_day(*probation_ends_on),
                }
                .encode_to_vec()
            }
            Self::ProbationCancelled {
                subject,
                cancelled_on,
            } => {
                let (candidate_id, person_id, organization_id) = ids(subject);
                pb::ProbationCancelled {
                    candidate_id,
                    person_id,
                    organization_id,
                    cancelled_on: format_day(*cancelled_on),
                }
                .encode_to_vec()
            }
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        decode_event(event_type, schema_version, payload)
    }
}

fn decode_event(
    event_type: &str,
    schema_version: u32,
    payload: &[u8],
) -> Result<Event, DecodeError> {
    if schema_version != 1 {
        return Err(DecodeError::unknown(event_type, schema_version));
    }
    let bad = |e: prost::DecodeError| DecodeError::malformed(event_type, e);
    let day = |raw: &str| {
        parse_day(raw)
            .ok_or_else(|| DecodeError::malformed(event_type, format!("{raw:?} is not a day")))
    };
    let id = |raw: &str| {
        Uuid::parse_str(raw)
            .map_err(|_| DecodeError::malformed(event_type, format!("{raw:?} is not a UUID")))
    };
    let subject = |c: &str, p: &str, o: &str| -> Result<Subject, DecodeError> {
        Ok(Subject {
            candidate_id: id(c)?,
            person_id: id(p)?,
            organization_id: id(o)?,
        })
    };
    match event_type {
        "CandidateApplied" => {
            let e = pb::CandidateApplied::decode(payload).map_err(bad)?;
            Ok(Event::Applied(Application {
                candidate_id: id(&e.candidate_id)?,
                person_id: id(&e.person_id)?,
                organization_id: id(&e.organization_id)?,
                applied_on: day(&e.applied_on)?,
                rules: RuleSet::from_wire(
                    e.rules
                        .ok_or_else(|| DecodeError::malformed(event_type, "no rules"))?,
                ),
            }))
        }
        "CandidateStepRecorded" => {
            let e = pb::CandidateStepRecorded::decode(payload).map_err(bad)?;
            Ok(Event::StepRecorded {
                subject: subject(&e.candidate_id, &e.person_id, &e.organization_id)?,
                recorded: Recorded {
                    step: Step::from_wire(e.step)
                        .ok_or_else(|| DecodeError::malformed(event_type, "unknown step"))?,
                    on: day(&e.on)?,
                    details: details_from_wire(e.details.unwrap_or_default())
                        .map_err(|_| DecodeError::malformed(event_type, "bad details"))?,
                    notice_ends_on: if e.notice_ends_on.is_empty() {
                        None
                    } else {
                        Some(day(&e.notice_ends_on)?)
                    },
                    passed: e.passed,
                },
            })
        }
        "ProbationaryMemberAdmitted" => {
            let e = pb::ProbationaryMemberAdmitted::decode(payload).map_err(bad)?;
            Ok(Event::ProbationaryMemberAdmitted {
                subject: subject(&e.candidate_id, &e.person_id, &e.organization_id)?,
                admitted_on: day(&e.admitted_on)?,
            })
        }
        "FullMembershipConfirmed" => {
            let e = pb::FullMembershipConfirmed::decode(payload).map_err(bad)?;
            Ok(Event::FullMembershipConfirmed {
                subject: subject(&e.candidate_id, &e.person_id, &e.organization_id)?,
                confirmed_on: day(&e.confirmed_on)?,
            })
        }
        "ProbationExtended" => {
            let e = pb::ProbationExtended::decode(payload).map_err(bad)?;
            Ok(Event::ProbationExtended {
                subject: subject(&e.candidate_id, &e.person_id, &e.organization_id)?,
                extended_on: day(&e.extended_on)?,
                months: e.months,
                probation_ends_on: day(&e.probation_ends_on)?,
            })
        }
        "ProbationCancelled" => {
            let e = pb::ProbationCancelled::decode(payload).map_err(bad)?;
            Ok(Event::ProbationCancelled {
                subject: subject(&e.candidate_id, &e.person_id, &e.organization_id)?,
                cancelled_on: day(&e.cancelled_on)?,
            })
        }
        other => Err(DecodeError::unknown(other, schema_version)),
    }
}
