//! Training 成长赋能: sessions of courses (red live-streaming, skills, Party
//! knowledge, ...) at a training base with their lecturers, and who attended
//! (members and non-members, each counted once per session), and the
//! certificates 结业证书 issued to attendees, which the HR bureau receives
//! for its real-name training records.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::pipeline::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

/// Longest session in class hours.
const MAX_HOURS: u32 = 80;
/// Most people recorded in one call.
const MAX_ATTENDEES: usize = 1000;
/// Longest certificate number.
const MAX_CERTIFICATE_CHARS: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CourseKind {
    RedLiveStreaming,
    Skills,
    PartyKnowledge,
    Other,
}

impl CourseKind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::CourseKind::try_from(raw).ok()? {
            pb::CourseKind::RedLiveStreaming => Some(Self::RedLiveStreaming),
            pb::CourseKind::Skills => Some(Self::Skills),
            pb::CourseKind::PartyKnowledge => Some(Self::PartyKnowledge),
            pb::CourseKind::Other => Some(Self::Other),
            pb::CourseKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::CourseKind {
        match self {
            Self::RedLiveStreaming => pb::CourseKind::RedLiveStreaming,
            Self::Skills => pb::CourseKind::Skills,
            Self::PartyKnowledge => pb::CourseKind::PartyKnowledge,
            Self::Other => pb::CourseKind::Other,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub session_id: Uuid,
    pub course: String,
    pub kind: CourseKind,
    pub base: String,
    pub lecturer: String,
    pub held_on: NaiveDate,
    pub class_hours: u32,
    pub counts_as_centralised: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Schedule(Session),
    Attend {
        people: Vec<Uuid>,
    },
    Certify {
        person_id: Uuid,
        certificate_no: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Scheduled(Session),
    Attended {
        session_id: Uuid,
        people: Vec<Uuid>,
    },
    Certified {
        session_id: Uuid,
        person_id: Uuid,
        certificate: Certificate,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub number: String,
    pub issued_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Training {
    pub session: Session,
    pub attendees: BTreeSet<Uuid>,
    /// Each certified attendee's certificate.
    pub certificates: BTreeMap<Uuid, Certificate>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Training>);

#[derive(Clone, Copy, Debug, Default)]
pub struct SessionDecider;

impl Decider for SessionDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "training_session";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        match command {
            Command::Schedule(s) => {
                let mut v = text_violations("course", &s.course, 100);
                v.extend(text_violations("base", &s.base, 100));
                v.extend(text_violations("lecturer", &s.lecturer, 100));
                if s.class_hours == 0 || s.class_hours > MAX_HOURS {
                    v.push(FieldViolation::new(
                        "class_hours",
                        format!("1 to {MAX_HOURS} class hours"),
                    ));
                }
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                let clean = Session {
                    course: s.course.trim().to_owned(),
                    base: s.base.trim().to_owned(),
                    lecturer: s.lecturer.trim().to_owned(),
                    ..s.clone()
                };
                match &state.0 {
                    None => Ok(vec![Event::Scheduled(clean)]),
                    Some(t) if t.session == clean => Ok(vec![]),
                    Some(_) => Err(CommandError::rejected(format!(
                        "session {} is already scheduled differently",
                        s.session_id
                    ))),
                }
            }
            Command::Attend { people } => {
                let t = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no such training session"))?;
                if people.is_empty() || people.len() > MAX_ATTENDEES {
                    return Err(CommandError::invalid(
                        "person_ids",
                        format!("1 to {MAX_ATTENDEES} people"),
                    ));
                }
                let new: BTreeSet<Uuid> = people
                    .iter()
                    .filter(|p| !t.attendees.contains(p))
                    .copied()
                    .collect();
                if new.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Attended {
                    session_id: t.session.session_id,
                    people: new.into_iter().collect(),
                }])
            }
            Command::Certify {
                person_id,
                certificate_no,
            } => {
                let number = certificate_no.trim();
                if number.is_empty()
                    || number.chars().count() > MAX_CERTIFICATE_CHARS
                    || number.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(CommandError::invalid(
                        "certificate_no",
                        format!(
                            "1 to {MAX_CERTIFICATE_CHARS} characters without spaces or control characters"
                        ),
                    ));
                }
                let t = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no such training session"))?;
                let today = hongxin_domain::time::beijing_today(now);
                if t.session.held_on > today {
                    return Err(CommandError::rejected(format!(
                        "session {} is not held until {}",
                        t.session.session_id,
                        format_day(t.session.held_on)
                    )));
                }
                if !t.attendees.contains(person_id) {
                    return Err(CommandError::rejected(format!(
                        "person {person_id} did not attend session {}",
                        t.session.session_id
                    )));
                }
                match t.certificates.get(person_id) {
                    Some(c) if c.number == number => return Ok(vec![]),
                    Some(c) => {
                        return Err(CommandError::rejected(format!(
                            "person {person_id} already holds certificate {}",
                            c.number
                        )));
                    }
                    None => {}
                }
                if t.certificates.values().any(|c| c.number == number) {
                    return Err(CommandError::rejected(format!(
                        "certificate {number} was issued to someone else"
                    )));
                }
                Ok(vec![Event::Certified {
                    session_id: t.session.session_id,
                    person_id: *person_id,
                    certificate: Certificate {
                        number: number.to_owned(),
                        issued_on: today,
                    },
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Scheduled(s) => State(Some(Training {
                session: s.clone(),
                attendees: BTreeSet::new(),
                certificates: BTreeMap::new(),
            })),
            Event::Attended { people, .. } => State(state.0.map(|mut t| {
                t.attendees.extend(people.iter().copied());
                t
            })),
            Event::Certified {
                person_id,
                certificate,
                ..
            } => State(state.0.map(|mut t| {
                t.certificates.insert(*person_id, certificate.clone());
                t
            })),
        }
    }
}

impl Training {
    pub fn to_wire(&self, version: u64) -> pb::TrainingSession {
        let s = &self.session;
        pb::TrainingSession {
            session_id: s.session_id.to_string(),
            course: s.course.clone(),
            kind: s.kind.to_wire() as i32,
            base: s.base.clone(),
            lecturer: s.lecturer.clone(),
            held_on: format_day(s.held_on),
            class_hours: s.class_hours,
            counts_as_centralised: s.counts_as_centralised,
            attendee_person_ids: self.attendees.iter().map(Uuid::to_string).collect(),
            version,
            certificates: self
                .certificates
                .iter()
                .map(|(person, c)| pb::TrainingCertificate {
                    person_id: person.to_string(),
                    certificate_no: c.number.clone(),
                    issued_on: format_day(c.issued_on),
                })
                .collect(),
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Scheduled(_) => "TrainingSessionScheduled",
            Self::Attended { .. } => "TrainingAttended",
            Self::Certified { .. } => "TrainingCertificateIssued",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Scheduled(s) => pb::TrainingSessionScheduled {
                session_id: s.session_id.to_string(),
                course: s.course.clone(),
                kind: s.kind.to_wire() as i32,
                base: s.base.clone(),
                lecturer: s.lecturer.clone(),
                held_on: format_day(s.held_on),
                class_hours: s.class_hours,
                counts_as_centralised: s.counts_as_centralised,
            }
            .encode_to_vec(),
            Self::Attended { session_id, people } => pb::TrainingAttended {
                session_id: session_id.to_string(),
                person_ids: people.iter().map(Uuid::to_string).collect(),
            }
            .encode_to_vec(),
            Self::Certified {
                session_id,
                person_id,
                certificate,
            } => pb::TrainingCertificateIssued {
                session_id: session_id.to_string(),
                person_id: person_id.to_string(),
                certificate_no: certificate.number.clone(),
                issued_on: format_day(certificate.issued_on),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if schema_version != 1 {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let bad = |e: prost::DecodeError| DecodeError::malformed(event_type, e);
        let id = |raw: &str| {
            Uuid::parse_str(raw).map_err(|_| DecodeError::malformed(event_type, "not a UUID"))
        };
        match event_type {
            "TrainingSessionScheduled" => {
                let e = pb::TrainingSessionScheduled::decode(payload).map_err(bad)?;
                Ok(Self::Scheduled(Session {
                    session_id: id(&e.session_id)?,
                    kind: CourseKind::from_wire(e.kind)
                        .ok_or_else(|| DecodeError::malformed(event_type, "unknown kind"))?,
                    held_on: parse_day(&e.held_on)
                        .ok_or_else(|| DecodeError::malformed(event_type, "not a day"))?,
                    course: e.course,
                    base: e.base,
                    lecturer: e.lecturer,
                    class_hours: e.class_hours,
                    counts_as_centralised: e.counts_as_centralised,
                }))
            }
            "TrainingAttended" => {
                let e = pb::TrainingAttended::decode(payload).map_err(bad)?;
                Ok(Self::Attended {
                    session_id: id(&e.session_id)?,
                    people: e
                        .person_ids
                        .iter()
                        .map(|p| id(p))
                        .collect::<Result<_, _>>()?,
                })
            }
            "TrainingCertificateIssued" => {
                let e = pb::TrainingCertificateIssued::decode(payload).map_err(bad)?;
                Ok(Self::Certified {
                    session_id: id(&e.session_id)?,
                    person_id: id(&e.person_id)?,
                    certificate: Certificate {
                        issued_on: parse_day(&e.issued_on)
                            .ok_or_else(|| DecodeError::malformed(event_type, "not a day"))?,
                        number: e.certificate_no,
                    },
                })
            }
            other => Err(DecodeError::unknown(other, schema_version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn session() -> Session {
        Session {
            session_id: Uuid::from_u128(1),
            course: "红色直播：讲好身边的先锋故事".into(),
            kind: CourseKind::RedLiveStreaming,
            base: "齐河县新就业群体培训基地".into(),
            lecturer: "知名主播".into(),
            held_on: NaiveDate::from_ymd_opt(2022, 5, 20).unwrap_or_default(),
            class_hours: 4,
            counts_as_centralised: false,
        }
    }

    #[test]
    fn attendance_counts_each_person_once() {
        let scheduled = Event::Scheduled(session());
        let first = Event::Attended {
            session_id: Uuid::from_u128(1),
            people: vec![Uuid::from_u128(7), Uuid::from_u128(8)],
        };
        given(SessionDecider, [scheduled.clone()])
            .when(Command::Attend {
                people: vec![Uuid::from_u128(8), Uuid::from_u128(7), Uuid::from_u128(7)],
            })
            .then([first.clone()]);
        let state = given(SessionDecider, [scheduled.clone(), first.clone()])
            .when(Command::Attend {
                people: vec![Uuid::from_u128(8), Uuid::from_u128(9)],
            })
            .then([Event::Attended {
                session_id: Uuid::from_u128(1),
                people: vec![Uuid::from_u128(9)],
            }]);
        assert_eq!(state.0.map(|t| t.attendees.len()), Some(3));
        given(SessionDecider, [scheduled, first])
            .when(Command::Attend {
                people: vec![Uuid::from_u128(7)],
            })
            .then([]);
    }

    #[test]
    fn a_certificate_goes_to_an_attendee_once() {
        let scheduled = Event::Scheduled(session());
        let attended = Event::Attended {
            session_id: Uuid::from_u128(1),
            people: vec![Uuid::from_u128(7), Uuid::from_u128(8)],
        };
        let certify = |person: u128, number: &str| Command::Certify {
            person_id: Uuid::from_u128(person),
            certificate_no: number.into(),
        };
        let now = DateTime::parse_from_rfc3339("2022-05-21T02:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let issued = Event::Certified {
            session_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(7),
            certificate: Certificate {
                number: "QH2022-001".into(),
                issued_on: NaiveDate::from_ymd_opt(2022, 5, 21).unwrap_or_default(),
            },
        };
        given(SessionDecider, [scheduled.clone(), attended.clone()])
            .at(now)
            .when(certify(7, " QH2022-001 "))
            .then([issued.clone()]);
        let past = [scheduled.clone(), attended.clone(), issued.clone()];
        given(SessionDecider, past.clone())
            .at(now)
            .when(certify(7, "QH2022-001"))
            .then([]);
        given(SessionDecider, past.clone())
            .at(now)
            .when(certify(7, "QH2022-009"))
            .then_rejected("already holds");
        given(SessionDecider, past.clone())
            .at(now)
            .when(certify(8, "QH2022-001"))
            .then_rejected("someone else");
        given(SessionDecider, past.clone())
            .at(now)
            .when(certify(9, "QH2022-002"))
            .then_rejected("did not attend");
        given(SessionDecider, past)
            .at(now)
            .when(certify(8, "QH 2022"))
            .then_invalid("certificate_no");
        let early = DateTime::parse_from_rfc3339("2022-05-01T02:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        given(SessionDecider, [scheduled, attended])
            .at(early)
            .when(certify(8, "QH2022-002"))
            .then_rejected("not held");
        let back = Event::decode("TrainingCertificateIssued", 1, &issued.encode());
        assert_eq!(back.ok(), Some(issued));
    }

    #[test]
    fn a_session_has_a_course_a_base_a_lecturer_and_hours() {
        given(SessionDecider, [])
            .when(Command::Schedule(Session {
                class_hours: 0,
                lecturer: " ".into(),
                ..session()
            }))
            .then_invalid("class_hours");
        given(SessionDecider, [Event::Scheduled(session())])
            .when(Command::Schedule(Session {
                class_hours: 8,
                ..session()
            }))
            .then_rejected("already scheduled differently");
    }
}
