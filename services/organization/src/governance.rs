//! The work committee's governance calendar: a joint meeting 联席会议 every
//! month, field research 调研 in the industries every quarter, the industry
//! departments' reports 述职 every half year. One stream per duty and period;
//! a period that ends without its duty is overdue.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use hongxin_domain::text::check_text;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, malformed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DutyKind {
    JointMeeting,
    FieldResearch,
    DepartmentReport,
}

impl DutyKind {
    pub const ALL: [Self; 3] = [
        Self::JointMeeting,
        Self::FieldResearch,
        Self::DepartmentReport,
    ];

    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::GovernanceDutyKind::try_from(raw).ok()? {
            pb::GovernanceDutyKind::JointMeeting => Some(Self::JointMeeting),
            pb::GovernanceDutyKind::FieldResearch => Some(Self::FieldResearch),
            pb::GovernanceDutyKind::DepartmentReport => Some(Self::DepartmentReport),
            pb::GovernanceDutyKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::GovernanceDutyKind {
        match self {
            Self::JointMeeting => pb::GovernanceDutyKind::JointMeeting,
            Self::FieldResearch => pb::GovernanceDutyKind::FieldResearch,
            Self::DepartmentReport => pb::GovernanceDutyKind::DepartmentReport,
        }
    }

    fn months(self) -> u32 {
        match self {
            Self::JointMeeting => 1,
            Self::FieldResearch => 3,
            Self::DepartmentReport => 6,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Self::JointMeeting => "joint_meeting",
            Self::FieldResearch => "field_research",
            Self::DepartmentReport => "department_report",
        }
    }
}

/// One period of one duty, e.g. the joint meeting of May 2022.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub kind: DutyKind,
    pub first_day: NaiveDate,
}

impl Period {
    /// The period of `kind` that contains `day`.
    pub fn containing(kind: DutyKind, day: NaiveDate) -> Self {
        let m = kind.months();
        let month0 = (day.month0() / m) * m;
        let first_day = NaiveDate::from_ymd_opt(day.year(), month0 + 1, 1).unwrap_or(day);
        Self { kind, first_day }
    }

    /// Every period of `kind` in `year`.
    pub fn of_year(kind: DutyKind, year: i32) -> Vec<Self> {
        (0..12 / kind.months())
            .filter_map(|i| NaiveDate::from_ymd_opt(year, i * kind.months() + 1, 1))
            .map(|first_day| Self { kind, first_day })
            .collect()
    }

    pub fn last_day(&self) -> NaiveDate {
        self.first_day
            .checked_add_months(Months::new(self.kind.months()))
            .and_then(|d| d.pred_opt())
            .unwrap_or(self.first_day)
    }

    /// "2022-05", "2022-Q2" or "2022-H1".
    pub fn label(&self) -> String {
        let (y, m) = (self.first_day.year(), self.first_day.month0());
        match self.kind {
            DutyKind::JointMeeting => format!("{y}-{:02}", m + 1),
            DutyKind::FieldResearch => format!("{y}-Q{}", m / 3 + 1),
            DutyKind::DepartmentReport => format!("{y}-H{}", m / 6 + 1),
        }
    }

    /// The aggregate id: the duty and its period.
    pub fn stream_key(&self) -> String {
        format!("{}.{}", self.kind.slug(), self.label())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub kind: DutyKind,
    pub held_on: NaiveDate,
    pub minutes: String,
    pub attendees: Vec<Uuid>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Held>);

impl State {
    /// The duty as callers see it: overdue once its period has ended
    /// without it.
    pub fn view(&self, period: Period, today: NaiveDate) -> pb::GovernanceDuty {
        let held = self.0.as_ref();
        pb::GovernanceDuty {
            kind: period.kind.to_wire() as i32,
            period: period.label(),
            due_on: format_day(period.last_day()),
            held_on: held.map(|h| format_day(h.held_on)).unwrap_or_default(),
            minutes: held.map(|h| h.minutes.clone()).unwrap_or_default(),
            attendees: held.map_or(0, |h| u32::try_from(h.attendees.len()).unwrap_or(u32::MAX)),
            overdue: held.is_none() && period.last_day() < today,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct DutyDecider;

impl Decider for DutyDecider {
    type State = State;
    type Command = Held;
    type Event = Held;
    const CATEGORY: &'static str = "governance_duty";

    fn decide(
        &self,
        state: &State,
        held: &Held,
        now: DateTime<Utc>,
    ) -> Result<Vec<Held>, CommandError> {
        let minutes =
            check_text(&held.minutes, 5_000).map_err(|d| CommandError::invalid("minutes", d))?;
        if held.held_on > beijing_today(now) {
            return Err(CommandError::invalid(
                "held_on",
                "must not be in the future",
            ));
        }
        if held.attendees.is_empty() {
            return Err(CommandError::invalid(
                "attendee_person_ids",
                "at least one attendee",
            ));
        }
        let clean = Held {
            minutes: minutes.to_owned(),
            ..held.clone()
        };
        match &state.0 {
            None => Ok(vec![clean]),
            Some(existing) if *existing == clean => Ok(vec![]),
            Some(existing) => Err(CommandError::rejected(format!(
                "the {} of {} was already held on {}",
                match held.kind {
                    DutyKind::JointMeeting => "joint meeting",
                    DutyKind::FieldResearch => "field research",
                    DutyKind::DepartmentReport => "department report",
                },
                Period::containing(held.kind, held.held_on).label(),
                format_day(existing.held_on)
            ))),
        }
    }

    fn evolve(&self, _state: State, event: &Held) -> State {
        State(Some(event.clone()))
    }
}

impl DomainEvent for Held {
    fn event_type(&self) -> &'static str {
        "GovernanceDutyHeld"
    }

    fn encode(&self) -> Vec<u8> {
        pb::GovernanceDutyHeld {
            kind: self.kind.to_wire() as i32,
            period: Period::containing(self.kind, self.held_on).label(),
            held_on: format_day(self.held_on),
            minutes: self.minutes.clone(),
            attendee_person_ids: self.attendees.iter().map(Uuid::to_string).collect(),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if (event_type, schema_version) != ("GovernanceDutyHeld", 1) {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let e = pb::GovernanceDutyHeld::decode(payload).map_err(|e| malformed(event_type, e))?;
        Ok(Self {
            kind: DutyKind::from_wire(e.kind)
                .ok_or_else(|| malformed(event_type, "unknown kind"))?,
            held_on: parse_day(&e.held_on).ok_or_else(|| malformed(event_type, "bad day"))?,
            attendees: e
                .attendee_person_ids
                .iter()
                .map(|id| decode_id(event_type, id))
                .collect::<Result<_, _>>()?,
            minutes: e.minutes,
        })
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn held(kind: DutyKind, on: NaiveDate) -> Held {
        Held {
            kind,
            held_on: on,
            minutes: "研究新就业群体党建工作".to_owned(),
            attendees: vec![Uuid::from_u128(1)],
        }
    }

    #[test]
    fn periods_are_months_quarters_and_half_years() {
        let may = day(2022, 5, 20);
        let month = Period::containing(DutyKind::JointMeeting, may);
        assert_eq!(
            (month.label(), month.last_day()),
            ("2022-05".to_owned(), day(2022, 5, 31))
        );
        let quarter = Period::containing(DutyKind::FieldResearch, may);
        assert_eq!(
            (quarter.label(), quarter.last_day()),
            ("2022-Q2".to_owned(), day(2022, 6, 30))
        );
        let half = Period::containing(DutyKind::DepartmentReport, may);
        assert_eq!(
            (half.label(), half.last_day()),
            ("2022-H1".to_owned(), day(2022, 6, 30))
        );
        assert_eq!(
            Period::containing(DutyKind::JointMeeting, day(2024, 2, 10)).last_day(),
            day(2024, 2, 29)
        );
        assert_eq!(Period::of_year(DutyKind::JointMeeting, 2022).len(), 12);
        assert_eq!(Period::of_year(DutyKind::FieldResearch, 2022).len(), 4);
        assert_eq!(
            Period::of_year(DutyKind::DepartmentReport, 2022)[1].label(),
            "2022-H2"
        );
    }

    #[test]
    fn a_duty_is_held_once_per_period_and_overdue_only_after_it_ends() {
        let may = Period::containing(DutyKind::JointMeeting, day(2022, 5, 1));
        let state = given(DutyDecider, [])
            .when(held(DutyKind::JointMeeting, day(2022, 5, 20)))
            .then([held(DutyKind::JointMeeting, day(2022, 5, 20))]);
        assert!(!state.view(may, day(2022, 7, 1)).overdue);
        assert!(
            !State::default().view(may, day(2022, 5, 31)).overdue,
            "the last day of the period is still in time"
        );
        assert!(State::default().view(may, day(2022, 6, 1)).overdue);
        given(
            DutyDecider,
            [held(DutyKind::JointMeeting, day(2022, 5, 20))],
        )
        .when(held(DutyKind::JointMeeting, day(2022, 5, 20)))
        .then([]);
        given(
            DutyDecider,
            [held(DutyKind::JointMeeting, day(2022, 5, 20))],
        )
        .when(held(DutyKind::JointMeeting, day(2022, 5, 27)))
        .then_rejected("already held on 2022-05-20");
    }

    #[test]
    fn minutes_attendees_and_the_date_are_required_to_be_real() {
        let mut no_one = held(DutyKind::FieldResearch, day(2022, 5, 1));
        no_one.attendees.clear();
        given(DutyDecider, [])
            .when(no_one)
            .then_invalid("attendee_person_ids");
        let mut blank = held(DutyKind::FieldResearch, day(2022, 5, 1));
        blank.minutes = " ".to_owned();
        given(DutyDecider, []).when(blank).then_invalid("minutes");
        given(DutyDecider, [])
            .when(held(DutyKind::FieldResearch, day(2022, 7, 1)))
            .then_invalid("held_on");
    }
}
