//! Mobile-member report stations 流动党员报到站. A Party member working away
//! from home checks in 报到 at a station, joins local Party life while keeping
//! one formal affiliation at home, and reports to the home organisation at
//! least once a year.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, NaiveDate, Utc};
use hongxin_domain::text::{check_text, text_violations};
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{
    CommandError, Decider, DecodeError, DomainEvent, FieldViolation, create_once,
};
use hongxin_proto::organization::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{decode_id, malformed};

/// How often a mobile member reports to the home organisation.
const REPORT_HOME_EVERY: Months = Months::new(12);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    pub station_id: Uuid,
    pub name: String,
    pub community_id: Uuid,
    pub address: String,
    pub opened_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub home_organisation: String,
    pub checked_in_on: NaiveDate,
    pub last_reported_home_on: Option<NaiveDate>,
}

impl Member {
    /// A year after the last report home, or after the check-in.
    pub fn report_home_due_on(&self) -> NaiveDate {
        let from = self.last_reported_home_on.unwrap_or(self.checked_in_on);
        from.checked_add_months(REPORT_HOME_EVERY)
            .unwrap_or(NaiveDate::MAX)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Station {
    pub opening: Opening,
    /// Members checked in now, by person.
    pub members: BTreeMap<Uuid, Member>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Station>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Open(Opening),
    CheckIn {
        person_id: Uuid,
        home_organisation: String,
        on: NaiveDate,
    },
    ReportHome {
        person_id: Uuid,
        on: NaiveDate,
    },
    CheckOut {
        person_id: Uuid,
        on: NaiveDate,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Opened(Opening),
    CheckedIn {
        station_id: Uuid,
        person_id: Uuid,
        home_organisation: String,
        on: NaiveDate,
    },
    ReportedHome {
        station_id: Uuid,
        person_id: Uuid,
        on: NaiveDate,
    },
    CheckedOut {
        station_id: Uuid,
        person_id: Uuid,
        on: NaiveDate,
    },
}

#[derive(Clone, Copy, Debug, Default)]
pub struct StationDecider;

fn not_in_future(field: &str, day: NaiveDate, now: DateTime<Utc>) -> Result<(), CommandError> {
    if day > beijing_today(now) {
        Err(CommandError::invalid(field, "must not be in the future"))
    } else {
        Ok(())
    }
}

impl Decider for StationDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "report_station";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        if let Command::Open(o) = command {
            let mut v = text_violations("name", &o.name, 100);
            v.extend(text_violations("address", &o.address, 200));
            if o.opened_on > beijing_today(now) {
                v.push(FieldViolation::new(
                    "opened_on",
                    "must not be in the future",
                ));
            }
            if !v.is_empty() {
                return Err(CommandError::Invalid(v));
            }
            let clean = Opening {
                name: o.name.trim().to_owned(),
                address: o.address.trim().to_owned(),
                ..o.clone()
            };
            return create_once(
                state.0.as_ref().map(|s| s.opening.clone()),
                clean,
                |o| {
                    format!(
                        "report station {} is already open as “{}”",
                        o.station_id, o.name
                    )
                },
                |o| Ok(vec![Event::Opened(o)]),
            );
        }
        let Some(station) = &state.0 else {
            return Err(CommandError::not_found("no such report station"));
        };
        let station_id = station.opening.station_id;
        match command {
            Command::Open(_) => Ok(vec![]),
            Command::CheckIn {
                person_id,
                home_organisation,
                on,
            } => {
                let home = check_text(home_organisation, 100)
                    .map_err(|d| CommandError::invalid("home_organisation", d))?;
                not_in_future("checked_in_on", *on, now)?;
                if *on < station.opening.opened_on {
                    return Err(CommandError::rejected(
                        "the check-in date is before the station opened",
                    ));
                }
                match station.members.get(person_id) {
                    Some(m) if m.home_organisation == home && m.checked_in_on == *on => Ok(vec![]),
                    Some(m) => Err(CommandError::rejected(format!(
                        "this member is already checked in here since {}",
                        format_day(m.checked_in_on)
                    ))),
                    None => Ok(vec![Event::CheckedIn {
                        station_id,
                        person_id: *person_id,
                        home_organisation: home.to_owned(),
                        on: *on,
                    }]),
                }
            }
            Command::ReportHome { person_id, on } => {
                not_in_future("reported_on", *on, now)?;
                let member = checked_in(station, person_id)?;
                if member.last_reported_home_on == Some(*on) {
                    return Ok(vec![]);
                }
                if *on < member.checked_in_on
                    || member.last_reported_home_on.is_some_and(|last| *on < last)
                {
                    return Err(CommandError::rejected(
                        "a report home before the check-in or before the last recorded report changes nothing; record the latest report",
                    ));
                }
                Ok(vec![Event::ReportedHome {
                    station_id,
                    person_id: *person_id,
                    on: *on,
                }])
            }
            Command::CheckOut { person_id, on } => {
                not_in_future("checked_out_on", *on, now)?;
                let member = checked_in(station, person_id)?;
                if *on < member.checked_in_on {
                    return Err(CommandError::rejected(
                        "the check-out date is before the check-in",
                    ));
                }
                Ok(vec![Event::CheckedOut {
                    station_id,
                    person_id: *person_id,
                    on: *on,
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Opened(o) => State(Some(Station {
                opening: o.clone(),
                members: BTreeMap::new(),
            })),
            Event::CheckedIn {
                person_id,
                home_organisation,
                on,
                ..
            } => State(state.0.map(|mut s| {
                s.members.insert(
                    *person_id,
                    Member {
                        home_organisation: home_organisation.clone(),
                        checked_in_on: *on,
                        last_reported_home_on: None,
                    },
                );
                s
            })),
            Event::ReportedHome { person_id, on, .. } => State(state.0.map(|mut s| {
                if let Some(m) = s.members.get_mut(person_id) {
                    m.last_reported_home_on = Some(*on);
                }
                s
            })),
            Event::CheckedOut { person_id, .. } => State(state.0.map(|mut s| {
                s.members.remove(person_id);
                s
            })),
        }
    }
}

fn checked_in<'a>(station: &'a Station, person_id: &Uuid) -> Result<&'a Member, CommandError> {
    station
        .members
        .get(person_id)
        .ok_or_else(|| CommandError::rejected("this member is not checked in at this station"))
}

impl Station {
    pub(crate) fn to_wire(&self, version: u64, today: NaiveDate) -> pb::ReportStation {
        let o = &self.opening;
        pb::ReportStation {
            station_id: o.station_id.to_string(),
            name: o.name.clone(),
            community_id: o.community_id.to_string(),
            address: o.address.clone(),
            opened_on: format_day(o.opened_on),
            members: self
                .members
                .iter()
                .map(|(person, m)| pb::StationMember {
                    person_id: person.to_string(),
                    home_organisation: m.home_organisation.clone(),
                    checked_in_on: format_day(m.checked_in_on),
                    last_reported_home_on: m
                        .last_reported_home_on
                        .map(format_day)
                        .unwrap_or_default(),
                    report_home_due_on: format_day(m.report_home_due_on()),
                    report_home_overdue: m.report_home_due_on() < today,
                })
                .collect(),
            version,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Opened(_) => "ReportStationOpened",
            Self::CheckedIn { .. } => "MobileMemberCheckedIn",
            Self::ReportedHome { .. } => "MobileMemberReportedHome",
            Self::CheckedOut { .. } => "MobileMemberCheckedOut",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Opened(o) => pb::ReportStationOpened {
                station_id: o.station_id.to_string(),
                name: o.name.clone(),
                community_id: o.community_id.to_string(),
                address: o.address.clone(),
                opened_on: format_day(o.opened_on),
            }
            .encode_to_vec(),
            Self::CheckedIn {
                station_id,
                person_id,
                home_organisation,
                on,
            } => pb::MobileMemberCheckedIn {
                station_id: station_id.to_string(),
                person_id: person_id.to_string(),
                home_organisation: home_organisation.clone(),
                checked_in_on: format_day(*on),
            }
            .encode_to_vec(),
            Self::ReportedHome {
                station_id,
                person_id,
                on,
            } => pb::MobileMemberReportedHome {
                station_id: station_id.to_string(),
                person_id: person_id.to_string(),
                reported_on: format_day(*on),
            }
            .encode_to_vec(),
            Self::CheckedOut {
                station_id,
                person_id,
                on,
            } => pb::MobileMemberCheckedOut {
                station_id: station_id.to_string(),
                person_id: person_id.to_string(),
                checked_out_on: format_day(*on),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        let day = |raw: &str| {
            parse_day(raw).ok_or_else(|| malformed(event_type, format!("{raw:?} is not a day")))
        };
        let bad = |e| malformed(event_type, e);
        match (event_type, schema_version) {
            ("ReportStationOpened", 1) => {
                let e = pb::ReportStationOpened::decode(payload).map_err(bad)?;
                Ok(Self::Opened(Opening {
                    station_id: decode_id(event_type, &e.station_id)?,
                    community_id: decode_id(event_type, &e.community_id)?,
                    opened_on: day(&e.opened_on)?,
                    name: e.name,
                    address: e.address,
                }))
            }
            ("MobileMemberCheckedIn", 1) => {
                let e = pb::MobileMemberCheckedIn::decode(payload).map_err(bad)?;
                Ok(Self::CheckedIn {
                    station_id: decode_id(event_type, &e.station_id)?,
                    person_id: decode_id(event_type, &e.person_id)?,
                    on: day(&e.checked_in_on)?,
                    home_organisation: e.home_organisation,
                })
            }
            ("MobileMemberReportedHome", 1) => {
                let e = pb::MobileMemberReportedHome::decode(payload).map_err(bad)?;
                Ok(Self::ReportedHome {
                    station_id: decode_id(event_type, &e.station_id)?,
                    person_id: decode_id(event_type, &e.person_id)?,
                    on: day(&e.reported_on)?,
                })
            }
            ("MobileMemberCheckedOut", 1) => {
                let e = pb::MobileMemberCheckedOut::decode(payload).map_err(bad)?;
                Ok(Self::CheckedOut {
                    station_id: decode_id(event_type, &e.station_id)?,
                    person_id: decode_id(event_type, &e.person_id)?,
                    on: day(&e.checked_out_on)?,
                })
            }
            _ => Err(DecodeError::unknown(event_type, schema_version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use hongxin_testkit::given::given;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn opened() -> Event {
        Event::Opened(Opening {
            station_id: Uuid::from_u128(1),
            name: "西关社区流动党员报到站".to_owned(),
            community_id: Uuid::from_u128(2),
            address: "齐河县西关街1号".to_owned(),
            opened_on: day(2022, 3, 1),
        })
    }

    fn rider() -> Uuid {
        Uuid::from_u128(77)
    }

    fn checked_in(on: NaiveDate) -> Event {
        Event::CheckedIn {
            station_id: Uuid::from_u128(1),
            person_id: rider(),
            home_organisation: "聊城市某村党支部".to_owned(),
            on,
        }
    }

    fn check_in(on: NaiveDate) -> Command {
        Command::CheckIn {
            person_id: rider(),
            home_organisation: "聊城市某村党支部".to_owned(),
            on,
        }
    }

    #[test]
    fn a_member_checks_in_once_and_the_first_report_home_is_due_a_year_later() {
        let state = given(StationDecider, [opened()])
            .when(check_in(day(2022, 4, 10)))
            .then([checked_in(day(2022, 4, 10))]);
        let member = state
            .0
            .and_then(|s| s.members.get(&rider()).cloned())
            .expect("member");
        assert_eq!(member.report_home_due_on(), day(2023, 4, 10));
        given(StationDecider, [opened(), checked_in(day(2022, 4, 10))])
            .when(check_in(day(2022, 4, 10)))
            .then([]);
        given(StationDecider, [opened(), checked_in(day(2022, 4, 10))])
            .when(check_in(day(2022, 5, 1)))
            .then_rejected("already checked in");
    }

    #[test]
    fn dates_are_checked_against_the_station_and_today() {
        given(StationDecider, [opened()])
            .when(check_in(day(2022, 2, 1)))
            .then_rejected("before the station opened");
        let now = Utc
            .with_ymd_and_hms(2022, 6, 1, 2, 0, 0)
            .single()
            .unwrap_or_default();
        given(StationDecider, [opened()])
            .at(now)
            .when(check_in(day(2022, 6, 2)))
            .then_invalid("checked_in_on");
        assert!(matches!(
            given(StationDecider, [])
                .when(check_in(day(2022, 4, 1)))
                .then_error(),
            CommandError::NotFound(_)
        ));
    }

    #[test]
    fn reports_home_move_the_due_date_forward_only() {
        let past = [opened(), checked_in(day(2022, 4, 10))];
        let state = given(StationDecider, past.clone())
            .at(Utc
                .with_ymd_and_hms(2023, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default())
            .when(Command::ReportHome {
                person_id: rider(),
                on: day(2022, 12, 20),
            })
            .then([Event::ReportedHome {
                station_id: Uuid::from_u128(1),
                person_id: rider(),
                on: day(2022, 12, 20),
            }]);
        let member = state
            .0
            .and_then(|s| s.members.get(&rider()).cloned())
            .expect("member");
        assert_eq!(member.report_home_due_on(), day(2023, 12, 20));
        given(StationDecider, past)
            .when(Command::ReportHome {
                person_id: rider(),
                on: day(2022, 4, 1),
            })
            .then_rejected("before the check-in");
        given(StationDecider, [opened()])
            .when(Command::ReportHome {
                person_id: rider(),
                on: day(2022, 4, 1),
            })
            .then_rejected("not checked in");
    }

    #[test]
    fn a_leap_day_check_in_is_due_on_the_last_day_of_february() {
        let state = given(StationDecider, [opened()])
            .at(Utc
                .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default())
            .when(check_in(day(2024, 2, 29)))
            .then([checked_in(day(2024, 2, 29))]);
        let member = state
            .0
            .and_then(|s| s.members.get(&rider()).cloned())
            .expect("member");
        assert_eq!(member.report_home_due_on(), day(2025, 2, 28));
    }

    #[test]
    fn a_member_checks_out_after_checking_in() {
        let state = given(StationDecider, [opened(), checked_in(day(2022, 4, 10))])
            .at(Utc
                .with_ymd_and_hms(2022, 9, 2, 0, 0, 0)
                .single()
                .unwrap_or_default())
            .when(Command::CheckOut {
                person_id: rider(),
                on: day(2022, 9, 1),
            })
            .then([Event::CheckedOut {
                station_id: Uuid::from_u128(1),
                person_id: rider(),
                on: day(2022, 9, 1),
            }]);
        assert!(state.0.is_some_and(|s| s.members.is_empty()));
        given(StationDecider, [opened(), checked_in(day(2022, 4, 10))])
            .when(Command::CheckOut {
                person_id: rider(),
                on: day(2022, 4, 1),
            })
            .then_rejected("before the check-in");
    }
}
