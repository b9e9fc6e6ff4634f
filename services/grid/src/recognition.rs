//! Points and recognition 榜样激励: verified reports earn points (each case
//! once, none for rejected or merged reports, a daily cap against farming);
//! the annual "most beautiful" courier / rider / ride-hailing driver:
//! nominations, review, public voting (one vote per voter per candidate per
//! day), winners.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent};
use hongxin_proto::grid::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

// ---- Points ------------------------------------------------------------

/// What a verified report earns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointRules {
    pub per_report: i64,
    pub per_report_by_grid_worker: i64,
    pub daily_cap: i64,
}

impl Default for PointRules {
    fn default() -> Self {
        Self {
            per_report: 5,
            per_report_by_grid_worker: 10,
            daily_cap: 30,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Award {
    pub person_id: Uuid,
    pub case_id: Uuid,
    pub by_grid_worker: bool,
    /// The day the report was verified, Beijing.
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Awarded {
    pub person_id: Uuid,
    pub case_id: Uuid,
    pub points: i64,
    pub on: NaiveDate,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    pub cases: BTreeSet<Uuid>,
    pub by_day: BTreeMap<NaiveDate, i64>,
}

impl Ledger {
    pub fn total(&self) -> i64 {
        self.by_day.values().sum()
    }

    pub fn by_year(&self) -> BTreeMap<i32, i64> {
        let mut out = BTreeMap::new();
        for (day, points) in &self.by_day {
            *out.entry(day.year()).or_default() += points;
        }
        out
    }
}

#[derive(Clone, Debug, Default)]
pub struct PointsDecider {
    pub rules: PointRules,
}

impl Decider for PointsDecider {
    type State = Ledger;
    type Command = Award;
    type Event = Awarded;
    const CATEGORY: &'static str = "points";

    fn decide(
        &self,
        state: &Ledger,
        award: &Award,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Awarded>, CommandError> {
        if state.cases.contains(&award.case_id) {
            return Ok(vec![]);
        }
        let earned = if award.by_grid_worker {
            self.rules.per_report_by_grid_worker
        } else {
            self.rules.per_report
        };
        let room = self.rules.daily_cap - state.by_day.get(&award.on).copied().unwrap_or(0);
        let points = earned.min(room).max(0);
        if points == 0 {
            return Ok(vec![]);
        }
        Ok(vec![Awarded {
            person_id: award.person_id,
            case_id: award.case_id,
            points,
            on: award.on,
        }])
    }

    fn evolve(&self, mut state: Ledger, event: &Awarded) -> Ledger {
        state.cases.insert(event.case_id);
        *state.by_day.entry(event.on).or_default() += event.points;
        state
    }
}

impl DomainEvent for Awarded {
    fn event_type(&self) -> &'static str {
        "PointsAwarded"
    }

    fn encode(&self) -> Vec<u8> {
        pb::PointsAwarded {
            person_id: self.person_id.to_string(),
            case_id: self.case_id.to_string(),
            points: self.points,
            on: format_day(self.on),
        }
        .encode_to_vec()
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if (t, version) != ("PointsAwarded", 1) {
            return Err(DecodeError::unknown(t, version));
        }
        let e = pb::PointsAwarded::decode(payload).map_err(|e| DecodeError::malformed(t, e))?;
        let id =
            |raw: &str| Uuid::parse_str(raw).map_err(|_| DecodeError::malformed(t, "not a UUID"));
        Ok(Self {
            person_id: id(&e.person_id)?,
            case_id: id(&e.case_id)?,
            points: e.points,
            on: parse_day(&e.on).ok_or_else(|| DecodeError::malformed(t, "not a day"))?,
        })
    }
}

// ---- Recognition -------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Courier,
    Rider,
    Driver,
}

impl Kind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::RecognitionKind::try_from(raw).ok()? {
            pb::RecognitionKind::Courier => Some(Self::Courier),
            pb::RecognitionKind::Rider => Some(Self::Rider),
            pb::RecognitionKind::Driver => Some(Self::Driver),
            pb::RecognitionKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::RecognitionKind {
        match self {
            Self::Courier => pb::RecognitionKind::Courier,
            Self::Rider => pb::RecognitionKind::Rider,
            Self::Driver => pb::RecognitionKind::Driver,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Nominating,
    Voting,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Open {
        campaign_id: Uuid,
        year: i32,
        kind: Kind,
        winners: u32,
    },
    Nominate {
        person_id: Uuid,
        citation: String,
    },
    Review {
        person_id: Uuid,
        approved: bool,
    },
    OpenVoting,
    /// `voter` is a keyed hash of who voted, never their identity.
    Vote {
        candidate: Uuid,
        voter: String,
    },
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Opened {
        campaign_id: Uuid,
        year: i32,
        kind: Kind,
        winners: u32,
    },
    Nominated {
        campaign_id: Uuid,
        person_id: Uuid,
        citation: String,
    },
    Reviewed {
        campaign_id: Uuid,
        person_id: Uuid,
        approved: bool,
    },
    VotingOpened {
        campaign_id: Uuid,
    },
    Voted {
        campaign_id: Uuid,
        candidate: Uuid,
        voter: String,
        on: NaiveDate,
    },
    Closed {
        campaign_id: Uuid,
        winners: Vec<Uuid>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nominee {
    pub citation: String,
    pub approved: Option<bool>,
    pub votes: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Campaign {
    pub campaign_id: Uuid,
    pub year: i32,
    pub kind: Kind,
    pub winners_wanted: u32,
    pub phase: Phase,
    pub nominees: BTreeMap<Uuid, Nominee>,
    /// (voter, candidate, day) already counted.
    pub ballots: BTreeSet<(String, Uuid, NaiveDate)>,
    pub winners: Vec<Uuid>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Campaign>);

#[derive(Clone, Copy, Debug, Default)]
pub struct RecognitionDecider;

impl Decider for RecognitionDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "recognition";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        if let Command::Open {
            campaign_id,
            year,
            kind,
            winners,
        } = command
        {
            if !(1..=100).contains(winners) || !(2000..=2100).contains(year) {
                return Err(CommandError::invalid(
                    "winners",
                    "1 to 100 winners, in a year between 2000 and 2100",
                ));
            }
            return match &state.0 {
                None => Ok(vec![Event::Opened {
                    campaign_id: *campaign_id,
                    year: *year,
                    kind: *kind,
                    winners: *winners,
                }]),
                Some(c) if c.year == *year && c.kind == *kind && c.winners_wanted == *winners => {
                    Ok(vec![])
                }
                Some(_) => Err(CommandError::rejected(
                    "the campaign exists with other terms",
                )),
            };
        }
        let c = state
            .0
            .as_ref()
            .ok_or_else(|| CommandError::not_found("no such campaign"))?;
        let campaign_id = c.campaign_id;
        let phase = |want: Phase, what: &str| {
            if c.phase == want {
                Ok(())
            } else {
                Err(CommandError::rejected(format!(
                    "{what} ({:?} now)",
                    c.phase
                )))
            }
        };
        match command {
            Command::Open { .. } => unreachable!("handled above"),
            Command::Nominate {
                person_id,
                citation,
            } => {
                phase(Phase::Nominating, "nominations are closed")?;
                let v = text_violations("citation", citation, 500);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if c.nominees.contains_key(person_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Nominated {
                    campaign_id,
                    person_id: *person_id,
                    citation: citation.trim().to_owned(),
                }])
            }
            Command::Review {
                person_id,
                approved,
            } => {
                phase(Phase::Nominating, "reviews come before voting")?;
                let n = c
                    .nominees
                    .get(person_id)
                    .ok_or_else(|| CommandError::not_found("no such nominee"))?;
                if n.approved == Some(*approved) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Reviewed {
                    campaign_id,
                    person_id: *person_id,
                    approved: *approved,
                }])
            }
            Command::OpenVoting => {
                if c.phase == Phase::Voting {
                    return Ok(vec![]);
                }
                phase(Phase::Nominating, "voting opens after nominations")?;
                if !c.nominees.values().any(|n| n.approved == Some(true)) {
                    return Err(CommandError::rejected("no approved candidate to vote for"));
                }
                Ok(vec![Event::VotingOpened { campaign_id }])
            }
            Command::Vote { candidate, voter } => {
                phase(Phase::Voting, "voting is not open")?;
                if c.nominees.get(candidate).and_then(|n| n.approved) != Some(true) {
                    return Err(CommandError::invalid(
                        "candidate_person_id",
                        "not a candidate of this campaign",
                    ));
                }
                let today = beijing_today(now);
                if c.ballots.contains(&(voter.clone(), *candidate, today)) {
                    return Err(CommandError::rejected(
                        "one vote per candidate per day: come back tomorrow",
                    ));
                }
                Ok(vec![Event::Voted {
                    campaign_id,
                    candidate: *candidate,
                    voter: voter.clone(),
                    on: today,
                }])
            }
            Command::Close => {
                if c.phase == Phase::Closed {
                    return Ok(vec![]);
                }
                phase(Phase::Voting, "a campaign closes after voting")?;
                let mut ranked: Vec<(&Uuid, &Nominee)> = c
                    .nominees
                    .iter()
                    .filter(|(_, n)| n.approved == Some(true))
                    .collect();
                ranked.sort_by(|a, b| b.1.votes.cmp(&a.1.votes).then(a.0.cmp(b.0)));
                Ok(vec![Event::Closed {
                    campaign_id,
                    winners: ranked
                        .into_iter()
                        .take(c.winners_wanted as usize)
                        .map(|(id, _)| *id)
                        .collect(),
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        if let Event::Opened {
            campaign_id,
            year,
            kind,
            winners,
        } = event
        {
            return State(Some(Campaign {
                campaign_id: *campaign_id,
                year: *year,
                kind: *kind,
                winners_wanted: *winners,
                phase: Phase::Nominating,
                nominees: BTreeMap::new(),
                ballots: BTreeSet::new(),
                winners: Vec::new(),
            }));
        }
        State(state.0.map(|mut c| {
            match event {
                Event::Opened { .. } => {}
                Event::Nominated {
                    person_id,
                    citation,
                    ..
                } => {
                    c.nominees.insert(
                        *person_id,
                        Nominee {
                            citation: citation.clone(),
                            approved: None,
                            votes: 0,
                        },
                    );
                }
                Event::Reviewed {
                    person_id,
                    approved,
                    ..
                } => {
                    if let Some(n) = c.nominees.get_mut(person_id) {
                        n.approved = Some(*approved);
                    }
                }
                Event::VotingOpened { .. } => c.phase = Phase::Voting,
                Event::Voted {
                    candidate,
                    voter,
                    on,
                    ..
                } => {
                    c.ballots.insert((voter.clone(), *candidate, *on));
                    if let Some(n) = c.nominees.get_mut(candidate) {
                        n.votes += 1;
                    }
                }
                Event::Closed { winners, .. } => {
                    c.phase = Phase::Closed;
                    c.winners.clone_from(winners);
                }
            }
            c
        }))
    }
}

impl Campaign {
    pub fn to_wire(&self, version: u64) -> pb::Recognition {
        pb::Recognition {
            campaign_id: self.campaign_id.to_string(),
            year: self.year,
            kind: self.kind.to_wire() as i32,
            phase: match self.phase {
                Phase::Nominating => "nominating",
                Phase::Voting => "voting",
                Phase::Closed => "closed",
            }
            .to_owned(),
            candidates: self
                .nominees
                .iter()
                .map(|(id, n)| pb::Candidate {
                    person_id: id.to_string(),
                    citation: n.citation.clone(),
                    approved: n.approved == Some(true),
                    votes: n.votes,
                })
                .collect(),
            winner_person_ids: self.winners.iter().map(Uuid::to_string).collect(),
            version,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Opened { .. } => "RecognitionOpened",
            Self::Nominated { .. } => "CandidateNominated",
            Self::Reviewed { .. } => "CandidateReviewed",
            Self::VotingOpened { .. } => "RecognitionVotingOpened",
            Self::Voted { .. } => "VoteCast",
            Self::Closed { .. } => "RecognitionClosed",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Opened {
                campaign_id,
                year,
                kind,
                winners,
            } => pb::RecognitionOpened {
                campaign_id: campaign_id.to_string(),
                year: *year,
                kind: kind.to_wire() as i32,
                winners: *winners,
            }
            .encode_to_vec(),
            Self::Nominated {
                campaign_id,
                person_id,
                citation,
            } => pb::CandidateNominated {
                campaign_id: campaign_id.to_string(),
                person_id: person_id.to_string(),
                citation: citation.clone(),
            }
            .encode_to_vec(),
            Self::Reviewed {
                campaign_id,
                person_id,
                approved,
            } => pb::CandidateReviewed {
                campaign_id: campaign_id.to_string(),
                person_id: person_id.to_string(),
                approved: *approved,
            }
            .encode_to_vec(),
            Self::VotingOpened { campaign_id } => pb::RecognitionVotingOpened {
                campaign_id: campaign_id.to_string(),
            }
            .encode_to_vec(),
            Self::Voted {
                campaign_id,
                candidate,
                voter,
                on,
            } => pb::VoteCast {
                campaign_id: campaign_id.to_string(),
                candidate_person_id: candidate.to_string(),
                voter: voter.clone(),
                on: format_day(*on),
            }
            .encode_to_vec(),
            Self::Closed {
                campaign_id,
                winners,
            } => pb::RecognitionClosed {
                campaign_id: campaign_id.to_string(),
                winner_person_ids: winners.iter().map(Uuid::to_string).collect(),
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
        match t {
            "RecognitionOpened" => {
                let e = pb::RecognitionOpened::decode(payload).map_err(bad)?;
                Ok(Self::Opened {
                    campaign_id: id(&e.campaign_id)?,
                    year: e.year,
                    kind: Kind::from_wire(e.kind)
                        .ok_or_else(|| DecodeError::malformed(t, "unknown kind"))?,
                    winners: e.winners,
                })
            }
            "CandidateNominated" => {
                let e = pb::CandidateNominated::decode(payload).map_err(bad)?;
                Ok(Self::Nominated {
                    campaign_id: id(&e.campaign_id)?,
                    person_id: id(&e.person_id)?,
                    citation: e.citation,
                })
            }
            "CandidateReviewed" => {
                let e = pb::CandidateReviewed::decode(payload).map_err(bad)?;
                Ok(Self::Reviewed {
                    campaign_id: id(&e.campaign_id)?,
                    person_id: id(&e.person_id)?,
                    approved: e.approved,
                })
            }
            "RecognitionVotingOpened" => {
                let e = pb::RecognitionVotingOpened::decode(payload).map_err(bad)?;
                Ok(Self::VotingOpened {
                    campaign_id: id(&e.campaign_id)?,
                })
            }
            "VoteCast" => {
                let e = pb::VoteCast::decode(payload).map_err(bad)?;
                Ok(Self::Voted {
                    campaign_id: id(&e.campaign_id)?,
                    candidate: id(&e.candidate_person_id)?,
                    voter: e.voter,
                    on: parse_day(&e.on).ok_or_else(|| DecodeError::malformed(t, "not a day"))?,
                })
            }
            "RecognitionClosed" => {
                let e = pb::RecognitionClosed::decode(payload).map_err(bad)?;
                Ok(Self::Closed {
                    campaign_id: id(&e.campaign_id)?,
                    winners: e
                        .winner_person_ids
                        .iter()
                        .map(|p| id(p))
                        .collect::<Result<_, _>>()?,
                })
            }
            other => Err(DecodeError::unknown(other, version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use hongxin_testkit::given::given;

    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default()
    }

    fn award(case: u128, worker: bool, d: u32) -> Award {
        Award {
            person_id: Uuid::from_u128(1),
            case_id: Uuid::from_u128(case),
            by_grid_worker: worker,
            on: day(d),
        }
    }

    fn awarded(case: u128, points: i64, d: u32) -> Awarded {
        Awarded {
            person_id: Uuid::from_u128(1),
            case_id: Uuid::from_u128(case),
            points,
            on: day(d),
        }
    }

    #[test]
    fn points_once_per_case_up_to_the_daily_cap() {
        let decider = PointsDecider::default();
        given(decider.clone(), [awarded(1, 10, 20), awarded(2, 10, 20)])
            .when(award(1, true, 20))
            .then([]);
        // 20 of 30 used today: a grid worker's 10 fits exactly.
        given(decider.clone(), [awarded(1, 10, 20), awarded(2, 10, 20)])
            .when(award(3, true, 20))
            .then([awarded(3, 10, 20)]);
        // 25 used: only 5 of the next 10 count; at the cap, nothing.
        given(
            decider.clone(),
            [awarded(1, 10, 20), awarded(2, 10, 20), awarded(3, 5, 20)],
        )
        .when(award(4, true, 20))
        .then([awarded(4, 5, 20)]);
        given(
            decider.clone(),
            [awarded(1, 10, 20), awarded(2, 10, 20), awarded(3, 10, 20)],
        )
        .when(award(4, false, 20))
        .then([]);
        // The next day starts afresh.
        given(
            decider,
            [awarded(1, 10, 20), awarded(2, 10, 20), awarded(3, 10, 20)],
        )
        .when(award(4, false, 21))
        .then([awarded(4, 5, 21)]);
    }

    #[test]
    fn one_vote_per_voter_per_candidate_per_day_and_winners_by_votes() {
        let c = Uuid::from_u128(9);
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let past = vec![
            Event::Opened {
                campaign_id: c,
                year: 2026,
                kind: Kind::Rider,
                winners: 1,
            },
            Event::Nominated {
                campaign_id: c,
                person_id: a,
                citation: "风雨无阻".into(),
            },
            Event::Nominated {
                campaign_id: c,
                person_id: b,
                citation: "热心公益".into(),
            },
            Event::Reviewed {
                campaign_id: c,
                person_id: a,
                approved: true,
            },
            Event::Reviewed {
                campaign_id: c,
                person_id: b,
                approved: true,
            },
            Event::VotingOpened { campaign_id: c },
        ];
        let noon = |d| {
            Utc.with_ymd_and_hms(2026, 11, d, 4, 0, 0)
                .single()
                .unwrap_or_default()
        };
        let vote = |who: Uuid| Command::Vote {
            candidate: who,
            voter: "voter-hash".into(),
        };
        let mut voted = past.clone();
        voted.push(Event::Voted {
            campaign_id: c,
            candidate: a,
            voter: "voter-hash".into(),
            on: day(20),
        });
        given(RecognitionDecider, voted.clone())
            .at(noon(20))
            .when(vote(a))
            .then_rejected("come back tomorrow");
        given(RecognitionDecider, voted.clone())
            .at(noon(20))
            .when(vote(b))
            .then([Event::Voted {
                campaign_id: c,
                candidate: b,
                voter: "voter-hash".into(),
                on: day(20),
            }]);
        given(RecognitionDecider, voted.clone())
            .at(noon(21))
            .when(vote(a))
            .then([Event::Voted {
                campaign_id: c,
                candidate: a,
                voter: "voter-hash".into(),
                on: day(21),
            }]);
        given(RecognitionDecider, voted)
            .at(noon(22))
            .when(Command::Close)
            .then([Event::Closed {
                campaign_id: c,
                winners: vec![a],
            }]);
        given(RecognitionDecider, past)
            .at(noon(20))
            .when(Command::Nominate {
                person_id: Uuid::from_u128(3),
                citation: "x".into(),
            })
            .then_rejected("nominations are closed");
    }
}
