//! Every guard of member development, given/when/then, with the boundary
//! days; and a property: no sequence of steps makes a full member who
//! skipped a mandatory one.

use std::sync::Arc;

use chrono::{NaiveDate, TimeZone as _, Utc};
use hongxin_domain::{CommandError, Decider as _};
use hongxin_pipeline::calendar::Calendar;
use hongxin_pipeline::candidate::{
    Application, CandidateDecider, Command, Details, Event, Recommender, Stage, State, Step, Votes,
};
use hongxin_pipeline::rules::RuleSet;
use hongxin_testkit::given::given;
use proptest::prelude::*;
use uuid::Uuid;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("day")
}

/// Decisions are made in 2030, after every date used here.
fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .expect("now")
}

fn decider() -> CandidateDecider {
    CandidateDecider {
        calendar: Arc::new(Calendar::default()),
    }
}

const PERSON: u128 = 1;
const BRANCH: u128 = 2;
const COMMITTEE: u128 = 3;

fn application(rules: RuleSet) -> Application {
    Application {
        candidate_id: Uuid::from_u128(100),
        person_id: Uuid::from_u128(PERSON),
        organization_id: Uuid::from_u128(BRANCH),
        applied_on: day(2023, 1, 2),
        rules,
    }
}

fn step(step: Step, on: NaiveDate, details: Details) -> Command {
    Command::Record { step, on, details }
}

fn plain(s: Step, on: NaiveDate) -> Command {
    step(s, on, Details::default())
}

fn votes(voting_members: u32, present: u32, yes: u32) -> Details {
    Details {
        votes: Some(Votes {
            voting_members,
            present,
            yes,
        }),
        ..Details::default()
    }
}

fn approval(reason: &str) -> Details {
    Details {
        approving_organization: Some(Uuid::from_u128(COMMITTEE)),
        special_case_reason: reason.to_owned(),
        ..Details::default()
    }
}

/// The whole way, one valid command per step, in order.
fn the_way() -> Vec<(Step, Command)> {
    vec![
        (Step::Talk, plain(Step::Talk, day(2023, 1, 20))),
        (
            Step::ActivistConfirmed,
            step(
                Step::ActivistConfirmed,
                day(2023, 3, 1),
                Details {
                    recommended_by: Some(Recommender::Union),
                    ..Details::default()
                },
            ),
        ),
        (
            Step::ActivistFiled,
            plain(Step::ActivistFiled, day(2023, 3, 5)),
        ),
        (
            Step::ContactsAssigned,
            step(
                Step::ContactsAssigned,
                day(2023, 3, 6),
                Details {
                    people: vec![Uuid::from_u128(10)],
                    ..Details::default()
                },
            ),
        ),
        (Step::Assessment, plain(Step::Assessment, day(2023, 8, 30))),
        (Step::Assessment, plain(Step::Assessment, day(2024, 2, 28))),
        // Exactly one year after becoming an activist.
        (
            Step::TargetConfirmed,
            plain(Step::TargetConfirmed, day(2024, 3, 1)),
        ),
        (Step::TargetFiled, plain(Step::TargetFiled, day(2024, 3, 5))),
        (
            Step::IntroducersAssigned,
            step(
                Step::IntroducersAssigned,
                day(2024, 3, 6),
                Details {
                    people: vec![Uuid::from_u128(11), Uuid::from_u128(12)],
                    ..Details::default()
                },
            ),
        ),
        (
            Step::PoliticalReview,
            step(
                Step::PoliticalReview,
                day(2024, 3, 10),
                Details {
                    passed: true,
                    ..Details::default()
                },
            ),
        ),
        (
            Step::Training,
            step(
                Step::Training,
                day(2024, 3, 15),
                Details {
                    hours: 24,
                    ..Details::default()
                },
            ),
        ),
        (
            Step::BranchReview,
            plain(Step::BranchReview, day(2024, 4, 1)),
        ),
        (
            Step::PreReview,
            step(Step::PreReview, day(2024, 4, 8), approval("")),
        ),
        // Monday 15 April: five working days end on Friday 19 April.
        (
            Step::PublicNotice,
            plain(Step::PublicNotice, day(2024, 4, 15)),
        ),
        (
            Step::ApplicationForm,
            plain(Step::ApplicationForm, day(2024, 4, 22)),
        ),
        (
            Step::BranchMeeting,
            step(Step::BranchMeeting, day(2024, 4, 23), votes(10, 8, 7)),
        ),
        (
            Step::CommitteeTalk,
            plain(Step::CommitteeTalk, day(2024, 5, 6)),
        ),
        (
            Step::Approval,
            step(Step::Approval, day(2024, 6, 1), approval("")),
        ),
        (
            Step::ApprovalFiled,
            plain(Step::ApprovalFiled, day(2024, 6, 5)),
        ),
        (Step::Oath, plain(Step::Oath, day(2024, 6, 10))),
        (
            Step::FullApplication,
            plain(Step::FullApplication, day(2025, 4, 1)),
        ),
        (
            Step::FullMeeting,
            step(Step::FullMeeting, day(2025, 4, 23), votes(10, 9, 9)),
        ),
        (
            Step::FullApproval,
            step(Step::FullApproval, day(2025, 5, 10), approval("")),
        ),
        (Step::Archived, plain(Step::Archived, day(2025, 5, 20))),
    ]
}

/// The events of a candidate who applied and went the way up to (not
/// including) the first command for `stop`.
fn history_until(stop: Step) -> Vec<Event> {
    let d = decider();
    let mut events = d
        .decide(
            &State::default(),
            &Command::Apply {
                application: application(RuleSet::cpc_2014()),
                birth_date: day(1995, 5, 5),
            },
            now(),
        )
        .expect("apply");
    let mut state = events.iter().fold(State::default(), |s, e| d.evolve(s, e));
    for (s, command) in the_way() {
        if s == stop {
            break;
        }
        let new = d
            .decide(&state, &command, now())
            .unwrap_or_else(|e| panic!("the way refused {s:?}: {e}"));
        for e in &new {
            state = d.evolve(state, e);
        }
        events.extend(new);
    }
    events
}

fn rejected(stop: Step, command: Command, needle: &str) {
    given(decider(), history_until(stop))
        .at(now())
        .when(command)
        .then_rejected(needle);
}

fn accepted(stop: Step, command: Command) -> State {
    let before = history_until(stop);
    let d = decider();
    let state = before.iter().fold(State::default(), |s, e| d.evolve(s, e));
    let events = d.decide(&state, &command, now()).expect("accepted");
    assert!(!events.is_empty());
    events.iter().fold(state, |s, e| d.evolve(s, e))
}

#[test]
fn the_whole_way_makes_a_full_member_and_tells_the_organization_service() {
    let events = history_until(Step::Extension);
    let types: Vec<&str> = events
        .iter()
        .map(hongxin_domain::DomainEvent::event_type)
        .filter(|t| !t.starts_with("Candidate"))
        .collect();
    assert_eq!(
        types,
        ["ProbationaryMemberAdmitted", "FullMembershipConfirmed"]
    );
    let state = events
        .iter()
        .fold(State::default(), |s, e| decider().evolve(s, e));
    let c = state.0.expect("candidate");
    assert_eq!(c.stage, Stage::Full);
    assert_eq!(
        c.admitted_on,
        Some(day(2024, 4, 23)),
        "probation counts from the meeting"
    );
    assert_eq!(c.probation_ends_on, Some(day(2025, 4, 23)));
    assert!(c.next(day(2025, 6, 1)).is_empty(), "archived: nothing left");
}

#[test]
fn an_applicant_is_eighteen_on_the_day_of_application() {
    let apply = |birth| Command::Apply {
        application: application(RuleSet::cpc_2014()),
        birth_date: birth,
    };
    // Eighteen on 2 January 2023 exactly.
    given(decider(), [])
        .at(now())
        .when(apply(day(2005, 1, 2)))
        .then([Event::Applied(application(RuleSet::cpc_2014()))]);
    given(decider(), [])
        .at(now())
        .when(apply(day(2005, 1, 3)))
        .then_rejected("at least 18 years old");
    // Applying twice with the same data is a retry.
    given(
        decider(),
        [Event::Applied(application(RuleSet::cpc_2014()))],
    )
    .at(now())
    .when(apply(day(1990, 1, 1)))
    .then([]);
}

#[test]
fn the_talk_is_due_within_a_month_and_shown_overdue_after() {
    let events = history_until(Step::Talk);
    let c = events
        .iter()
        .fold(State::default(), |s, e| decider().evolve(s, e))
        .0
        .expect("candidate");
    let next = c.next(day(2023, 2, 2));
    assert_eq!(next[0].step, Step::Talk);
    assert_eq!(next[0].due, Some(day(2023, 2, 2)));
    assert!(!next[0].overdue, "the last day is still in time");
    assert!(c.next(day(2023, 2, 3))[0].overdue);
}

#[test]
fn steps_come_in_order() {
    rejected(
        Step::Talk,
        plain(Step::ActivistFiled, day(2023, 3, 1)),
        "needs first: 确定入党积极分子",
    );
    rejected(
        Step::TargetConfirmed,
        plain(Step::BranchReview, day(2024, 4, 1)),
        "needs first",
    );
    rejected(
        Step::ActivistFiled,
        plain(Step::ActivistFiled, day(2023, 2, 1)),
        "cannot be dated before 2023-03-01",
    );
    rejected(
        Step::ActivistFiled,
        plain(Step::Talk, day(2023, 1, 25)),
        "already recorded",
    );
    given(decider(), history_until(Step::Talk))
        .at(now())
        .when(plain(Step::Talk, day(2031, 1, 1)))
        .then_invalid("on");
}

#[test]
fn an_activist_is_recommended_and_may_wait_per_local_rules() {
    given(decider(), history_until(Step::ActivistConfirmed))
        .at(now())
        .when(plain(Step::ActivistConfirmed, day(2023, 3, 1)))
        .then_invalid("details.recommended_by");
    let local = RuleSet {
        id: "local".into(),
        min_months_application_to_activist: 6,
        ..RuleSet::cpc_2014()
    };
    let d = decider();
    let mut state = State::default();
    for e in d
        .decide(
            &state,
            &Command::Apply {
                application: application(local),
                birth_date: day(1990, 1, 1),
            },
            now(),
        )
        .expect("apply")
    {
        state = d.evolve(state, &e);
    }
    for e in d
        .decide(&state, &plain(Step::Talk, day(2023, 1, 10)), now())
        .expect("talk")
    {
        state = d.evolve(state, &e);
    }
    let recommended = |on| {
        step(
            Step::ActivistConfirmed,
            on,
            Details {
                recommended_by: Some(Recommender::Members),
                ..Details::default()
            },
        )
    };
    let early = d.decide(&state, &recommended(day(2023, 7, 1)), now());
    assert!(
        matches!(&early, Err(CommandError::Rejected(m)) if m.contains("no earlier than 2023-07-02")),
        "{early:?}"
    );
    assert!(
        d.decide(&state, &recommended(day(2023, 7, 2)), now())
            .is_ok()
    );
}

#[test]
fn contacts_and_introducers_are_counted_and_distinct() {
    let contacts = |people: Vec<u128>| {
        step(
            Step::ContactsAssigned,
            day(2023, 3, 6),
            Details {
                people: people.into_iter().map(Uuid::from_u128).collect(),
                ..Details::default()
            },
        )
    };
    given(decider(), history_until(Step::ContactsAssigned))
        .at(now())
        .when(contacts(vec![]))
        .then_invalid("details.person_ids");
    given(decider(), history_until(Step::ContactsAssigned))
        .at(now())
        .when(contacts(vec![10, 11, 12]))
        .then_invalid("details.person_ids");
    given(decider(), history_until(Step::ContactsAssigned))
        .at(now())
        .when(contacts(vec![10, 10]))
        .then_invalid("details.person_ids[1]");
    given(decider(), history_until(Step::ContactsAssigned))
        .at(now())
        .when(contacts(vec![PERSON]))
        .then_invalid("details.person_ids[0]");
    accepted(Step::ContactsAssigned, contacts(vec![10, 11]));
    let introducers = |people: Vec<u128>| {
        step(
            Step::IntroducersAssigned,
            day(2024, 3, 6),
            Details {
                people: people.into_iter().map(Uuid::from_u128).collect(),
                ..Details::default()
            },
        )
    };
    given(decider(), history_until(Step::IntroducersAssigned))
        .at(now())
        .when(introducers(vec![11]))
        .then_invalid("details.person_ids");
}

#[test]
fn a_development_target_has_been_an_activist_for_a_year_assessed_every_six_months() {
    // One day short of a year.
    rejected(
        Step::TargetConfirmed,
        plain(Step::TargetConfirmed, day(2024, 2, 29)),
        "not before 2024-03-01",
    );
    accepted(
        Step::TargetConfirmed,
        plain(Step::TargetConfirmed, day(2024, 3, 1)),
    );
    // Without the second assessment there is a gap of more than 6 months.
    let events: Vec<Event> = history_until(Step::TargetConfirmed)
        .into_iter()
        .filter(|e| {
            !matches!(e, Event::StepRecorded { recorded, .. }
                if recorded.step == Step::Assessment && recorded.on == day(2024, 2, 28))
        })
        .collect();
    given(decider(), events)
        .at(now())
        .when(plain(Step::TargetConfirmed, day(2024, 3, 1)))
        .then_rejected("none between 2023-08-30 and 2024-03-01");
    // The assessment falls due six months after the last one.
    let c = history_until(Step::TargetConfirmed)
        .iter()
        .fold(State::default(), |s, e| decider().evolve(s, e))
        .0
        .expect("candidate");
    let next = c.next(day(2024, 2, 29));
    assert_eq!(next[0].step, Step::Assessment);
    assert_eq!(next[0].due, Some(day(2024, 8, 28)));
    assert_eq!(next[1].step, Step::TargetConfirmed);
    assert_eq!(next[1].earliest, Some(day(2024, 3, 1)));
}

#[test]
fn review_needs_a_passed_political_review_and_enough_training() {
    let mut events = history_until(Step::BranchReview);
    // Replace the 24-hour training with 2 days.
    for e in &mut events {
        if let Event::StepRecorded { recorded, .. } = e
            && recorded.step == Step::Training
        {
            recorded.details.hours = 0;
            recorded.details.days = 2;
        }
    }
    given(decider(), events.clone())
        .at(now())
        .when(plain(Step::BranchReview, day(2024, 4, 1)))
        .then_rejected("at least 3 days or 24 class hours; recorded 2 days, 0 hours");
    // One more day makes three.
    let more = step(
        Step::Training,
        day(2024, 3, 20),
        Details {
            days: 1,
            ..Details::default()
        },
    );
    let d = decider();
    let mut state = events.iter().fold(State::default(), |s, e| d.evolve(s, e));
    for e in d.decide(&state, &more, now()).expect("training") {
        state = d.evolve(state, &e);
    }
    assert!(
        d.decide(&state, &plain(Step::BranchReview, day(2024, 4, 1)), now())
            .is_ok()
    );

    let mut failed = history_until(Step::BranchReview);
    for e in &mut failed {
        if let Event::StepRecorded { recorded, .. } = e
            && recorded.step == Step::PoliticalReview
        {
            recorded.details.passed = false;
        }
    }
    given(decider(), failed)
        .at(now())
        .when(plain(Step::BranchReview, day(2024, 4, 1)))
        .then_rejected("political review has not been passed");
}

#[test]
fn the_meeting_waits_for_the_notice_in_working_days_across_a_holiday() {
    // Notice from Monday 30 September 2024: National Day 1–7 October, with
    // Sunday 29 September and Saturday 12 October worked. Five working
    // days: 30 Sep, 8, 9, 10, 11 Oct.
    let holidays = (1..=7).map(|d| day(2024, 10, d));
    let cal = Calendar::new(holidays, [day(2024, 9, 29), day(2024, 10, 12)]);
    let d = CandidateDecider {
        calendar: Arc::new(cal),
    };
    let mut events = history_until(Step::PublicNotice);
    let mut state = events.iter().fold(State::default(), |s, e| d.evolve(s, e));
    let notice = d
        .decide(&state, &plain(Step::PublicNotice, day(2024, 9, 30)), now())
        .expect("notice");
    let Event::StepRecorded { recorded, .. } = &notice[0] else {
        panic!("a step");
    };
    assert_eq!(recorded.notice_ends_on, Some(day(2024, 10, 11)));
    for e in &notice {
        state = d.evolve(state, e);
    }
    events.extend(notice);
    for e in d
        .decide(
            &state,
            &plain(Step::ApplicationForm, day(2024, 10, 8)),
            now(),
        )
        .expect("form")
    {
        state = d.evolve(state, &e);
    }
    let on_last_day = d.decide(
        &state,
        &step(Step::BranchMeeting, day(2024, 10, 11), votes(10, 8, 7)),
        now(),
    );
    assert!(
        matches!(&on_last_day, Err(CommandError::Rejected(m)) if m.contains("ends on 2024-10-11")),
        "{on_last_day:?}"
    );
    assert!(
        d.decide(
            &state,
            &step(Step::BranchMeeting, day(2024, 10, 12), votes(10, 8, 7)),
            now()
        )
        .is_ok()
    );
}

#[test]
fn the_branch_meeting_needs_a_quorum_and_a_majority_of_those_who_should_attend() {
    // 10 voting members: 5 present is not more than half.
    rejected(
        Step::BranchMeeting,
        step(Step::BranchMeeting, day(2024, 4, 23), votes(10, 5, 5)),
        "more than half must attend",
    );
    // 6 present, 5 yes: a majority of those present but not of the 10.
    let state = accepted(
        Step::BranchMeeting,
        step(Step::BranchMeeting, day(2024, 4, 23), votes(10, 6, 5)),
    );
    let c = state.0.expect("candidate");
    assert_eq!(c.admitted_on, None, "the vote failed");
    // 6 yes of 10 passes.
    let c = accepted(
        Step::BranchMeeting,
        step(Step::BranchMeeting, day(2024, 4, 23), votes(10, 6, 6)),
    )
    .0
    .expect("candidate");
    assert_eq!(c.admitted_on, Some(day(2024, 4, 23)));
    given(decider(), history_until(Step::BranchMeeting))
        .at(now())
        .when(step(
            Step::BranchMeeting,
            day(2024, 4, 23),
            votes(10, 11, 6),
        ))
        .then_invalid("details.votes");
    rejected(
        Step::BranchMeeting,
        plain(Step::CommitteeTalk, day(2024, 5, 6)),
        "needs first",
    );
}

#[test]
fn approval_comes_within_three_months_or_six_with_a_reason() {
    // Meeting on 23 April 2024: the last day is 23 July.
    accepted(
        Step::Approval,
        step(Step::Approval, day(2024, 7, 23), approval("")),
    );
    rejected(
        Step::Approval,
        step(Step::Approval, day(2024, 7, 24), approval("")),
        "needs the special reason",
    );
    accepted(
        Step::Approval,
        step(
            Step::Approval,
            day(2024, 10, 23),
            approval("审批委员会换届"),
        ),
    );
    rejected(
        Step::Approval,
        step(
            Step::Approval,
            day(2024, 10, 24),
            approval("审批委员会换届"),
        ),
        "2024-10-23 at the latest",
    );
    given(decider(), history_until(Step::Approval))
        .at(now())
        .when(plain(Step::Approval, day(2024, 6, 1)))
        .then_invalid("details.approving_organization_id");
}

#[test]
fn probation_lasts_a_year_may_be_extended_once_or_cancelled() {
    rejected(
        Step::FullMeeting,
        step(Step::FullMeeting, day(2025, 4, 22), votes(10, 9, 9)),
        "probation ends on 2025-04-23",
    );
    rejected(
        Step::FullApplication,
        plain(Step::FullApplication, day(2025, 3, 22)),
        "when probation ends",
    );
    let extend = |months| {
        step(
            Step::Extension,
            day(2025, 4, 20),
            Details {
                months,
                ..Details::default()
            },
        )
    };
    given(decider(), history_until(Step::FullApplication))
        .at(now())
        .when(extend(5))
        .then_invalid("details.months");
    let c = accepted(Step::FullApplication, extend(6))
        .0
        .expect("candidate");
    assert_eq!(c.probation_ends_on, Some(day(2025, 10, 23)));
    let mut extended = history_until(Step::FullApplication);
    let d = decider();
    let state = extended
        .iter()
        .fold(State::default(), |s, e| d.evolve(s, e));
    extended.extend(d.decide(&state, &extend(6), now()).expect("extend"));
    given(decider(), extended)
        .at(now())
        .when(extend(6))
        .then_rejected("already recorded");
    // Full approval within three months of the end of probation.
    rejected(
        Step::FullApproval,
        step(Step::FullApproval, day(2025, 7, 24), approval("")),
        "by 2025-07-23",
    );
    let cancel = step(
        Step::Cancellation,
        day(2025, 1, 10),
        Details {
            note: "不履行党员义务".into(),
            ..Details::default()
        },
    );
    let c = accepted(Step::FullApplication, cancel)
        .0
        .expect("candidate");
    assert_eq!(c.stage, Stage::Cancelled);
    assert!(c.next(day(2025, 2, 1)).is_empty());
}

fn any_step() -> impl Strategy<Value = Step> {
    proptest::sample::select(Step::ALL.to_vec())
}

proptest! {
    /// Whatever steps are tried, in whatever order, on whatever days, a
    /// candidate who becomes a full member has every mandatory step.
    #[test]
    fn no_sequence_makes_a_full_member_who_skipped_a_step(
        attempts in proptest::collection::vec((any_step(), 0u32..900, 0u32..4, any::<bool>()), 1..120),
        shortcut in 0usize..24,
    ) {
        let d = decider();
        // Start part-way along the valid way, then try random steps.
        let way = the_way();
        let mut state = d
            .decide(&State::default(), &Command::Apply {
                application: application(RuleSet::cpc_2014()),
                birth_date: day(1995, 5, 5),
            }, now())
            .expect("apply")
            .iter()
            .fold(State::default(), |s, e| d.evolve(s, e));
        for (_, command) in way.iter().take(shortcut) {
            for e in d.decide(&state, command, now()).expect("the way") {
                state = d.evolve(state, &e);
            }
        }
        for (s, offset, people, flag) in attempts {
            let on = day(2023, 1, 2) + chrono::Days::new(u64::from(offset));
            let details = Details {
                recommended_by: flag.then_some(Recommender::Members),
                people: (0..people).map(|i| Uuid::from_u128(20 + u128::from(i))).collect(),
                passed: flag,
                days: people,
                hours: people * 8,
                votes: Some(Votes { voting_members: 10, present: 6 + people, yes: 3 + people * 2 }),
                approving_organization: flag.then(|| Uuid::from_u128(COMMITTEE)),
                special_case_reason: if flag { "特殊情况".into() } else { String::new() },
                months: 5 + people * 2,
                note: if flag { "备注".into() } else { String::new() },
                training_sessions: Vec::new(),
            };
            if let Ok(events) = d.decide(&state, &step(s, on, details), now()) {
                for e in &events {
                    state = d.evolve(state, e);
                }
            }
        }
        if let Some(c) = &state.0
            && c.stage == Stage::Full
        {
            for s in Step::MANDATORY_FOR_FULL {
                prop_assert!(c.has(s), "a full member without {:?}", s);
            }
            let (days, hours) = c.steps.get(&Step::Training).into_iter().flatten()
                .fold((0, 0), |(d, h), r| (d + r.details.days, h + r.details.hours));
            prop_assert!(days >= 3 || hours >= 24);
            prop_assert!(c.steps[&Step::BranchMeeting].iter().any(|r| r.passed));
            prop_assert!(c.steps[&Step::PoliticalReview].iter().any(|r| r.details.passed));
        }
    }
}
