//! Applying events to the read models, exactly once in effect.
//!
//! A transaction's events are turned into writes (`crate::writes`), which
//! are sent together at its end with the checkpoint of its last event.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hongxin_proto::care::v1 as care;
use hongxin_proto::eventing::v1::EventEnvelope;
use hongxin_proto::grid::v1 as grid;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::pipeline::v1 as pipeline;
use prost::Message as _;

use crate::writer::{WriteTx, Writer};
use crate::writes::{Arg, Dialect, Shape, Sql, Value, Writes};

/// What applying an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The read models changed and the checkpoint moved to the event.
    Applied,
    /// The event was applied before (a redelivery); nothing changed.
    Duplicate,
    /// An earlier event of the context has not been applied yet; nothing
    /// changed, and the event must come again later.
    Gap,
}

fn micros(t: Option<&prost_types::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
}

/// Applies `e` in one transaction with its checkpoint.
pub(crate) async fn apply(writer: &Writer, e: &EventEnvelope) -> Result<Applied, sqlx::Error> {
    Ok(match apply_events(writer, std::slice::from_ref(e)).await? {
        (true, _) => Applied::Applied,
        (false, 1) => Applied::Duplicate,
        (false, _) => Applied::Gap,
    })
}

/// Applies consecutive events of one context in one transaction, with the
/// checkpoint of the last (a burst of live deliveries): events at or below
/// the checkpoint are skipped (redeliveries), and the batch stops at a gap.
/// Returns how many of `events`, from the first, are done — applied now or
/// before; those after them must come again.
pub(crate) async fn apply_batch(
    writer: &Writer,
    events: &[EventEnvelope],
) -> Result<usize, sqlx::Error> {
    Ok(apply_events(writer, events).await?.1)
}

/// `apply_batch`, also saying whether anything was applied.
async fn apply_events(
    writer: &Writer,
    events: &[EventEnvelope],
) -> Result<(bool, usize), sqlx::Error> {
    let Some(first) = events.first() else {
        return Ok((false, 0));
    };
    let mut tx = writer.begin().await?;
    let after = tx.position(&first.context).await?;
    let mut histories = Histories::default();
    histories
        .load(&mut tx, events.iter().filter(|e| e.global_position > after))
        .await?;
    let (prepared, done) = prepare(events, after, &mut histories, writer.dialect())?;
    let Some(prepared) = prepared else {
        return Ok((false, done));
    };
    write(&mut tx, prepared).await?;
    tx.commit().await?;
    Ok((true, done))
}

/// A batch made into statements before its transaction, so a rebuild makes
/// the next batch while this one is written.
pub(crate) struct Prepared {
    context: String,
    /// The checkpoint the events follow.
    after: u64,
    /// The last event's position, and when it was recorded.
    pub(crate) last: u64,
    last_recorded_us: i64,
    statements: Vec<Sql>,
}

/// Makes the consecutive events of `events` after `after`, the checkpoint
/// of the first one's context, into statements: those at or below it are
/// skipped (redeliveries), and the events stop at a gap or at another
/// context. `histories` must know the candidates the events are about
/// (`Histories::missing`). Also returns how many of `events`, from the
/// first, are done — applied by the statements or before; those after them
/// must come again.
pub(crate) fn prepare(
    events: &[EventEnvelope],
    after: u64,
    histories: &mut Histories,
    dialect: Dialect,
) -> Result<(Option<Prepared>, usize), sqlx::Error> {
    let mut last = after;
    let mut done = 0;
    let mut batch = Batch::new(histories);
    let mut final_event = None;
    for e in events {
        if e.context != events[0].context {
            break;
        }
        if e.global_position > last {
            if e.global_position != last + 1 {
                break;
            }
            last = e.global_position;
            batch.add(e);
            final_event = Some(e);
        }
        done += 1;
    }
    let Some(f) = final_event else {
        return Ok((None, done));
    };
    let prepared = Prepared {
        context: f.context.clone(),
        after,
        last,
        last_recorded_us: micros(f.recorded_at.as_ref()),
        statements: batch.statements(dialect)?,
    };
    Ok((Some(prepared), done))
}

/// Writes a prepared batch in one transaction with its checkpoint, which
/// must still be where the batch was prepared from.
pub(crate) async fn commit(writer: &Writer, prepared: Prepared) -> Result<(), sqlx::Error> {
    let mut tx = writer.begin().await?;
    if tx.position(&prepared.context).await? != prepared.after {
        return Err(sqlx::Error::Protocol(format!(
            "the {} read models moved on while a rebuild wrote them",
            prepared.context
        )));
    }
    write(&mut tx, prepared).await?;
    tx.commit().await
}

/// Sends a prepared batch's statements and moves the checkpoint to its
/// last event.
async fn write(tx: &mut WriteTx, mut prepared: Prepared) -> Result<(), sqlx::Error> {
    prepared.statements.push(Sql::Query {
        text: "INSERT INTO projection_checkpoints (context, position, recorded_at_us, updated_at_us) \
               VALUES ($1, $2, $3, $4) ON CONFLICT (context) DO UPDATE SET position = excluded.position, \
               recorded_at_us = excluded.recorded_at_us, updated_at_us = excluded.updated_at_us"
            .to_owned(),
        args: vec![
            Arg::Text(prepared.context),
            Arg::Int(prepared.last as i64),
            Arg::Int(prepared.last_recorded_us),
            Arg::Int(chrono::Utc::now().timestamp_micros()),
        ],
    });
    tx.run(prepared.statements).await
}

static AUDIT: Shape = Shape::insert(
    "audit_trail",
    &[
        "context",
        "global_position",
        "stream_id",
        "event_type",
        "actor",
        "correlation_id",
        "recorded_at",
    ],
    2,
    // No conflict to look for: a batch holds each position once, after its
    // checkpoint, which moves in the same transaction. A second row for a
    // position would mean two writers, and fails the transaction.
    "",
);
static COUNT: Shape = Shape::insert(
    "event_counts",
    &["context", "event_type", "events"],
    2,
    "ON CONFLICT (context, event_type) DO UPDATE SET events = event_counts.events + excluded.events",
);
static UNKNOWN: Shape = Shape::insert(
    "unknown_events",
    &["context", "event_type", "events", "first_position"],
    2,
    "ON CONFLICT (context, event_type) DO UPDATE SET events = unknown_events.events + excluded.events",
);
static CANDIDATE_EVENT: Shape = Shape::insert(
    "candidate_events",
    &[
        "candidate_id",
        "global_position",
        "event_type",
        "schema_version",
        "payload",
    ],
    2,
    "ON CONFLICT (candidate_id, global_position) DO NOTHING",
);
static CANDIDATE_DUE_CLEARED: Shape = Shape::delete("candidate_due", &["candidate_id"]);
static CANDIDATE_DUE: Shape = Shape::insert(
    "candidate_due",
    &["candidate_id", "organization_id", "step", "due_on"],
    1,
    "ON CONFLICT (candidate_id, step) DO UPDATE SET due_on = excluded.due_on",
);

/// One event of a candidate's history as the read models keep it.
pub(crate) struct CandidateEvent {
    position: i64,
    event_type: String,
    schema_version: i64,
    /// Base64, as stored.
    payload: String,
}

/// What a transaction's events write, gathered until its end. Besides
/// each event's own read models, every event adds a row to the audit trail
/// and one to its type's count, which are summed over the transaction.
struct Batch<'h> {
    writes: Writes,
    counts: BTreeMap<(String, String), i64>,
    /// Types the contract does not know: how many, and the first position.
    unknown: BTreeMap<(String, String), (i64, i64)>,
    /// The whole history of each candidate the events are about, extended
    /// as its events come.
    candidates: &'h mut Histories,
    /// Candidates whose next steps are worked out again at the end.
    touched: BTreeSet<String>,
}

/// Candidates' histories as the read models hold them: read once for a
/// transaction (live), or once for a whole rebuild and kept, so a batch can
/// be prepared while the one before it is still being written.
#[derive(Default)]
pub(crate) struct Histories(HashMap<String, Vec<CandidateEvent>>);

impl Histories {
    /// The candidates `events` are about that are not known yet.
    pub(crate) fn missing<'e>(
        &self,
        events: impl IntoIterator<Item = &'e EventEnvelope>,
    ) -> Vec<String> {
        let ids: BTreeSet<&str> = events
            .into_iter()
            .filter_map(candidate_of)
            .filter(|id| !self.0.contains_key(*id))
            .collect();
        ids.into_iter().map(str::to_owned).collect()
    }

    /// Reads the histories of the candidates `events` are about that are
    /// not known yet, in a few statements.
    pub(crate) async fn load<'e>(
        &mut self,
        tx: &mut WriteTx,
        events: impl IntoIterator<Item = &'e EventEnvelope>,
    ) -> Result<(), sqlx::Error> {
        let ids = self.missing(events);
        for chunk in ids.chunks(64) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT candidate_id, global_position, event_type, schema_version, payload \
                 FROM candidate_events WHERE candidate_id IN ({}) \
                 ORDER BY candidate_id, global_position",
                list.join(", ")
            );
            for (id, position, event_type, schema_version, payload) in
                tx.candidate_events(&sql, chunk).await?
            {
                self.0.entry(id).or_default().push(CandidateEvent {
                    position,
                    event_type,
                    schema_version,
                    payload,
                });
            }
            for id in chunk {
                self.0.entry(id.clone()).or_default();
            }
        }
        Ok(())
    }
}

/// The candidate a pipeline event is about, from its stream.
fn candidate_of(e: &EventEnvelope) -> Option<&str> {
    if e.context == "pipeline" {
        e.stream_id.strip_prefix("candidate-")
    } else {
        None
    }
}

impl<'h> Batch<'h> {
    fn new(candidates: &'h mut Histories) -> Self {
        Self {
            writes: Writes::default(),
            counts: BTreeMap::new(),
            unknown: BTreeMap::new(),
            candidates,
            touched: BTreeSet::new(),
        }
    }

    /// Adds the writes of `e`.
    fn add(&mut self, e: &EventEnvelope) {
        let recorded_at = e
            .recorded_at
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default();
        self.writes.push(
            &AUDIT,
            vec![
                (&e.context).into(),
                (e.global_position as i64).into(),
                (&e.stream_id).into(),
                (&e.event_type).into(),
                (&e.actor).into(),
                (&e.correlation_id).into(),
                recorded_at.into(),
            ],
        );
        *self
            .counts
            .entry((e.context.clone(), e.event_type.clone()))
            .or_default() += 1;
        if let Some(candidate) = candidate_of(e) {
            self.candidate_event(candidate, e);
        }
        models(self, e);
    }

    /// Keeps `e` in its candidate's history.
    fn candidate_event(&mut self, candidate: &str, e: &EventEnvelope) {
        use base64::Engine as _;
        let position = e.global_position as i64;
        let history = self.candidates.0.entry(candidate.to_owned()).or_default();
        if history.iter().any(|h| h.position == position) {
            return;
        }
        let payload = base64::engine::general_purpose::STANDARD.encode(&e.payload);
        self.writes.push(
            &CANDIDATE_EVENT,
            vec![
                candidate.into(),
                position.into(),
                (&e.event_type).into(),
                i64::from(e.schema_version).into(),
                (&payload).into(),
            ],
        );
        history.push(CandidateEvent {
            position,
            event_type: e.event_type.clone(),
            schema_version: i64::from(e.schema_version),
            payload,
        });
        self.touched.insert(candidate.to_owned());
    }

    /// Keeps each touched candidate's next steps and the days they are due,
    /// as the pipeline's own rules give them from the candidate's whole
    /// history (the rules travel in the candidate's application event), so
    /// the dashboard's due and overdue steps are the pipeline's, not a
    /// second reading of the rules.
    fn candidate_next_steps(&mut self) {
        use base64::Engine as _;
        use hongxin_domain::{Decider as _, DomainEvent as _};
        use hongxin_pipeline::candidate::{CandidateDecider, Event, State};
        let b64 = base64::engine::general_purpose::STANDARD;
        let decider = CandidateDecider::default();
        // Due days depend on the history only; `today` only marks which
        // are overdue, which the dashboard judges when it is asked.
        let today = hongxin_domain::time::beijing_today(chrono::Utc::now());
        'candidates: for candidate_id in std::mem::take(&mut self.touched) {
            let mut state = State::default();
            for h in self.candidates.0.get(&candidate_id).into_iter().flatten() {
                let decoded = b64
                    .decode(&h.payload)
                    .ok()
                    .and_then(|p| Event::decode(&h.event_type, h.schema_version as u32, &p).ok());
                match decoded {
                    Some(event) => state = decider.evolve(state, &event),
                    None => {
                        tracing::error!(
                            candidate_id,
                            event_type = h.event_type,
                            "a candidate event that does not decode; its next steps are not shown"
                        );
                        metrics::counter!("hongxin_projection_malformed_total").increment(1);
                        continue 'candidates;
                    }
                }
            }
            self.writes
                .push(&CANDIDATE_DUE_CLEARED, vec![(&candidate_id).into()]);
            let Some(candidate) = state.0 else {
                continue;
            };
            for next in candidate.next(today) {
                let Some(due) = next.due else { continue };
                self.writes.push(
                    &CANDIDATE_DUE,
                    vec![
                        (&candidate_id).into(),
                        candidate.application.organization_id.to_string().into(),
                        wire_name(next.step.to_wire().as_str_name(), "STEP_").into(),
                        hongxin_domain::time::format_day(due).into(),
                    ],
                );
            }
        }
    }

    /// The statements that send everything gathered.
    fn statements(&mut self, dialect: Dialect) -> Result<Vec<Sql>, sqlx::Error> {
        self.finish();
        self.writes.statements(dialect)
    }

    /// Adds what is written once per transaction: candidates' next steps,
    /// the counts.
    fn finish(&mut self) {
        self.candidate_next_steps();
        for ((context, event_type), n) in std::mem::take(&mut self.counts) {
            self.writes
                .push(&COUNT, vec![context.into(), event_type.into(), n.into()]);
        }
        for ((context, event_type), (n, first)) in std::mem::take(&mut self.unknown) {
            self.writes.push(
                &UNKNOWN,
                vec![context.into(), event_type.into(), n.into(), first.into()],
            );
        }
    }

    fn write(&mut self, shape: &'static Shape, args: Vec<Value>) {
        self.writes.push(shape, args);
    }
}

/// The shape of a write: `insert!(table (columns…) by n, "ON CONFLICT …")`
/// — the first n columns name the row — `update!(table by (key…), args,
/// "set …")`, `delete!(table by (key…))`.
macro_rules! insert {
    ($table:literal ($($column:literal),+) by $group:literal, $tail:literal) => {{
        static SHAPE: Shape = Shape::insert($table, &[$($column),+], $group, $tail);
        &SHAPE
    }};
}
macro_rules! update {
    ($table:literal by ($($key:literal),+), $arity:literal, $set:literal) => {{
        static SHAPE: Shape = Shape::update($table, &[$($key),+], $arity, $set);
        &SHAPE
    }};
}
macro_rules! delete {
    ($table:literal by ($($key:literal),+)) => {{
        static SHAPE: Shape = Shape::delete($table, &[$($key),+]);
        &SHAPE
    }};
}

/// Writes a set of `args` to one row: `row!(batch, shape, a, b, …)`.
macro_rules! row {
    ($batch:expr, $shape:expr, $($arg:expr),+ $(,)?) => {
        $batch.write($shape, vec![$(Value::from($arg)),+])
    };
}

static HEADCOUNT: Shape = Shape::update(
    "enterprises",
    &["enterprise_id"],
    4,
    "workers = $2, full_members = $3, probationary_members = $4",
);
static STAGE: Shape = Shape::update("candidates", &["candidate_id"], 2, "stage = $2");
static HR_RECORD: Shape = Shape::insert(
    "hr_records",
    &["kind", "person_id", "record_id", "status", "amount_fen"],
    3,
    "ON CONFLICT (kind, person_id, record_id) \
     DO UPDATE SET status = excluded.status, amount_fen = excluded.amount_fen",
);

/// The latest status of one of the HR bureau's records.
fn hr_record(
    b: &mut Batch<'_>,
    kind: &str,
    person_id: String,
    record_id: String,
    status: &str,
    amount_fen: i64,
) {
    row!(
        b, &HR_RECORD, kind, person_id, record_id, status, amount_fen
    );
}

/// The read models' writes for `e`.
fn models(b: &mut Batch<'_>, e: &EventEnvelope) {
    match e.context.as_str() {
        "organization" => organization_models(b, e),
        "pipeline" => pipeline_models(b, e),
        "care" => care_models(b, e),
        "grid" => grid_models(b, e),
        _ => not_projected(b, e),
    }
}

/// The organization context's read models.
fn organization_models(b: &mut Batch<'_>, e: &EventEnvelope) {
    match e.event_type.as_str() {
        "IndustryCommitteeRegistered" => {
            let Some(c) = decode::<org::IndustryCommitteeRegistered>(e) else {
                return;
            };
            row!(
                b,
                insert!("committees" ("committee_id", "name", "industry", "lead_department",
                    "registered_at_us") by 1, "ON CONFLICT (committee_id) DO NOTHING"),
                c.committee_id,
                c.name,
                industry_name(c.industry),
                c.lead_department,
                micros(e.occurred_at.as_ref()),
            );
        }
        "CommunityRegistered" => {
            let Some(c) = decode::<org::CommunityRegistered>(e) else {
                return;
            };
            row!(
                b,
                insert!("communities" ("community_id", "name", "subdistrict") by 1,
                    "ON CONFLICT (community_id) DO NOTHING"),
                c.community_id,
                c.name,
                c.subdistrict,
            );
        }
        "EnterpriseRegistered" => {
            let Some(r) = decode::<org::EnterpriseRegistered>(e) else {
                return;
            };
            let kind = org::EnterpriseKind::try_from(r.kind)
                .map(|k| wire_name(k.as_str_name(), "ENTERPRISE_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("enterprises" ("enterprise_id", "name", "industry", "kind", "community_id",
                    "workers", "full_members", "probationary_members") by 1,
                    "ON CONFLICT (enterprise_id) DO NOTHING"),
                r.enterprise_id,
                r.name,
                industry_name(r.industry),
                kind,
                r.community_id,
                0,
                0,
                0,
            );
        }
        "EnterpriseHeadcountReported" => {
            let Some(h) = decode::<org::EnterpriseHeadcountReported>(e) else {
                return;
            };
            let count = h.headcount.unwrap_or_default();
            row!(
                b,
                &HEADCOUNT,
                h.enterprise_id,
                count.workers,
                count.full_members,
                count.probationary_members,
            );
        }
        "EnterpriseMemberRecorded" => {
            let Some(m) = decode::<org::EnterpriseMemberRecorded>(e) else {
                return;
            };
            let count = m.headcount.unwrap_or_default();
            row!(
                b,
                &HEADCOUNT,
                m.enterprise_id,
                count.workers,
                count.full_members,
                count.probationary_members,
            );
        }
        "EnterpriseInstructorAssigned" => {
            let Some(a) = decode::<org::EnterpriseInstructorAssigned>(e) else {
                return;
            };
            row!(
                b,
                update!("enterprises" by ("enterprise_id"), 2, "instructor_person_id = $2"),
                a.enterprise_id,
                a.person_id,
            );
        }
        "PartyOrganizationFounded" => {
            let Some(o) = decode::<org::PartyOrganizationFounded>(e) else {
                return;
            };
            row!(
                b,
                insert!("party_organizations" ("organization_id", "name", "kind", "founded_on",
                    "units") by 1, "ON CONFLICT (organization_id) DO NOTHING"),
                o.organization_id,
                o.name,
                party_kind(o.kind),
                o.founded_on,
                o.covered_enterprise_ids.len() as i64,
            );
        }
        "EnterpriseCovered" => {
            let Some(c) = decode::<org::EnterpriseCovered>(e) else {
                return;
            };
            row!(
                b,
                insert!("coverage" ("enterprise_id", "organization_id", "kind") by 1,
                    "ON CONFLICT (enterprise_id) DO NOTHING"),
                c.enterprise_id,
                c.organization_id,
                party_kind(c.kind),
            );
        }
        "ReportStationOpened" => {
            let Some(o) = decode::<org::ReportStationOpened>(e) else {
                return;
            };
            row!(
                b,
                insert!("report_stations" ("station_id", "name", "community_id", "opened_on") by 1,
                    "ON CONFLICT (station_id) DO NOTHING"),
                o.station_id,
                o.name,
                o.community_id,
                o.opened_on,
            );
        }
        "MobileMemberCheckedIn" => {
            let Some(c) = decode::<org::MobileMemberCheckedIn>(e) else {
                return;
            };
            row!(
                b,
                insert!("station_members" ("station_id", "person_id", "checked_in_on") by 2,
                    "ON CONFLICT (station_id, person_id) DO NOTHING"),
                c.station_id,
                c.person_id,
                c.checked_in_on,
            );
        }
        "MobileMemberCheckedOut" => {
            let Some(c) = decode::<org::MobileMemberCheckedOut>(e) else {
                return;
            };
            row!(
                b,
                delete!("station_members" by ("station_id", "person_id")),
                c.station_id,
                c.person_id,
            );
        }
        "VanguardSiteEstablished" => {
            let Some(v) = decode::<org::VanguardSiteEstablished>(e) else {
                return;
            };
            let kind = org::VanguardSiteKind::try_from(v.kind)
                .map(|k| wire_name(k.as_str_name(), "VANGUARD_SITE_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("vanguard_sites" ("site_id", "kind", "name", "community_id",
                    "established_on") by 1, "ON CONFLICT (site_id) DO NOTHING"),
                v.site_id,
                kind,
                v.name,
                v.community_id,
                v.established_on,
            );
        }
        "ConventionSigned" => {
            let Some(c) = decode::<org::ConventionSigned>(e) else {
                return;
            };
            row!(
                b,
                insert!("convention_signatures" ("convention_id", "person_id", "signed_on") by 2,
                    "ON CONFLICT (convention_id, person_id) DO NOTHING"),
                c.convention_id,
                c.person_id,
                c.signed_on,
            );
        }
        "PersonRegistered" => {
            let Some(r) = decode::<org::PersonRegistered>(e) else {
                return;
            };
            let work = r.work.unwrap_or_default();
            row!(
                b,
                insert!("people" ("person_id", "industry", "community_id", "enterprise_id",
                    "union_member", "party_status", "mobile_member", "erased") by 1,
                    "ON CONFLICT (person_id) DO NOTHING"),
                r.person_id,
                industry_name(work.industry),
                work.community_id,
                work.enterprise_id,
                r.union_member,
                party_status(r.party_status),
                r.mobile_member,
                0,
            );
        }
        "PersonWorkChanged" => {
            let Some(c) = decode::<org::PersonWorkChanged>(e) else {
                return;
            };
            let work = c.work.unwrap_or_default();
            row!(
                b,
                update!("people" by ("person_id"), 4,
                    "industry = $2, community_id = $3, enterprise_id = $4"),
                c.person_id,
                industry_name(work.industry),
                work.community_id,
                work.enterprise_id,
            );
        }
        "PersonFlagsSet" => {
            let Some(f) = decode::<org::PersonFlagsSet>(e) else {
                return;
            };
            row!(
                b,
                update!("people" by ("person_id"), 3, "union_member = $2, mobile_member = $3"),
                f.person_id,
                f.union_member,
                f.mobile_member,
            );
        }
        "PersonPartyStatusChanged" => {
            let Some(c) = decode::<org::PersonPartyStatusChanged>(e) else {
                return;
            };
            row!(
                b,
                update!("people" by ("person_id"), 2, "party_status = $2"),
                c.person_id,
                party_status(c.party_status),
            );
        }
        "PersonErased" => {
            let Some(c) = decode::<org::PersonErased>(e) else {
                return;
            };
            row!(
                b,
                update!("people" by ("person_id"), 1, "erased = 1"),
                c.person_id
            );
        }
        "EmploymentRegistrationRecorded" => {
            let Some(r) = decode::<org::EmploymentRegistrationRecorded>(e) else {
                return;
            };
            let status = match org::EmploymentRegistrationStatus::try_from(r.status) {
                Ok(org::EmploymentRegistrationStatus::Cancelled) => "cancelled",
                _ => "registered",
            };
            hr_record(b, "employment", r.person_id, r.record_id, status, 0);
        }
        "InjuryProtectionEnrolled" => {
            let Some(r) = decode::<org::InjuryProtectionEnrolled>(e) else {
                return;
            };
            hr_record(
                b,
                "injury_protection",
                r.person_id,
                r.record_id,
                "enrolled",
                0,
            );
        }
        "InjuryClaimRecorded" => {
            let Some(r) = decode::<org::InjuryClaimRecorded>(e) else {
                return;
            };
            let status = match org::InjuryClaimStatus::try_from(r.status) {
                Ok(org::InjuryClaimStatus::Confirmed) => "confirmed",
                Ok(org::InjuryClaimStatus::Paid) => "paid",
                Ok(org::InjuryClaimStatus::Refused) => "refused",
                _ => "reported",
            };
            hr_record(
                b,
                "injury_claim",
                r.person_id,
                r.record_id,
                status,
                r.paid_fen,
            );
        }
        "TrainingSubsidyRecorded" => {
            let Some(r) = decode::<org::TrainingSubsidyRecorded>(e) else {
                return;
            };
            let status = match org::TrainingSubsidyStatus::try_from(r.status) {
                Ok(org::TrainingSubsidyStatus::Approved) => "approved",
                Ok(org::TrainingSubsidyStatus::Paid) => "paid",
                Ok(org::TrainingSubsidyStatus::Refused) => "refused",
                _ => "applied",
            };
            hr_record(
                b,
                "training_subsidy",
                r.person_id,
                r.record_id,
                status,
                r.amount_fen,
            );
        }
        "EmploymentRegistrationFiled" => {
            let Some(f) = decode::<org::EmploymentRegistrationFiled>(e) else {
                return;
            };
            hr_record(b, "employment_filing", f.person_id, f.filing_id, "filed", 0);
        }
        "AccidentReported" => {
            let Some(a) = decode::<org::AccidentReported>(e) else {
                return;
            };
            hr_record(
                b,
                "accident_report",
                a.person_id,
                a.report_id,
                "reported",
                0,
            );
        }
        "VanguardShown" => {
            let Some(v) = decode::<org::VanguardShown>(e) else {
                return;
            };
            let show = org::VanguardShow::try_from(v.show)
                .map(|k| wire_name(k.as_str_name(), "VANGUARD_SHOW_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("vanguard_shows" ("subject_id", "show", "shown_on") by 2,
                    "ON CONFLICT (subject_id, show) DO NOTHING"),
                v.subject_id,
                show,
                v.shown_on,
            );
        }
        "PolicyItemIssued" => {
            let Some(i) = decode::<org::PolicyItemIssued>(e) else {
                return;
            };
            let kind = org::PolicyKind::try_from(i.kind)
                .map(|k| wire_name(k.as_str_name(), "POLICY_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("policy_items" ("policy_id", "kind", "title", "issued_on") by 1,
                    "ON CONFLICT (policy_id) DO NOTHING"),
                i.policy_id,
                kind,
                i.title,
                i.issued_on,
            );
        }
        "PolicyItemRetired" => {
            let Some(r) = decode::<org::PolicyItemRetired>(e) else {
                return;
            };
            row!(
                b,
                update!("policy_items" by ("policy_id"), 2, "retired_on = $2"),
                r.policy_id,
                r.retired_on,
            );
        }
        "GovernanceDutyHeld" => {
            let Some(h) = decode::<org::GovernanceDutyHeld>(e) else {
                return;
            };
            let kind = org::GovernanceDutyKind::try_from(h.kind)
                .map(|k| wire_name(k.as_str_name(), "GOVERNANCE_DUTY_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("governance_duties" ("kind", "period", "held_on", "attendees") by 2,
                    "ON CONFLICT (kind, period) DO NOTHING"),
                kind,
                h.period,
                h.held_on,
                h.attendee_person_ids.len() as i64,
            );
        }
        _ => not_projected(b, e),
    }
}

/// The development pipeline's read models (besides each candidate's next
/// steps, which `Batch` keeps).
fn pipeline_models(b: &mut Batch<'_>, e: &EventEnvelope) {
    match e.event_type.as_str() {
        "CandidateApplied" => {
            let Some(a) = decode::<pipeline::CandidateApplied>(e) else {
                return;
            };
            row!(
                b,
                insert!("candidates" ("candidate_id", "organization_id", "stage", "applied_on")
                    by 1, "ON CONFLICT (candidate_id) DO NOTHING"),
                a.candidate_id,
                a.organization_id,
                "applicant",
                a.applied_on,
            );
        }
        "CandidateStepRecorded" => {
            let Some(r) = decode::<pipeline::CandidateStepRecorded>(e) else {
                return;
            };
            let stage = match pipeline::Step::try_from(r.step) {
                Ok(pipeline::Step::ActivistConfirmed) => "activist",
                Ok(pipeline::Step::TargetConfirmed) => "development_target",
                _ => return,
            };
            row!(b, &STAGE, r.candidate_id, stage);
        }
        "ProbationaryMemberAdmitted" => {
            let Some(m) = decode::<pipeline::ProbationaryMemberAdmitted>(e) else {
                return;
            };
            row!(
                b,
                update!("candidates" by ("candidate_id"), 2,
                    "stage = 'probationary', admitted_on = $2"),
                m.candidate_id,
                m.admitted_on,
            );
        }
        "FullMembershipConfirmed" => {
            let Some(m) = decode::<pipeline::FullMembershipConfirmed>(e) else {
                return;
            };
            row!(b, &STAGE, m.candidate_id, "full");
        }
        "ProbationCancelled" => {
            let Some(m) = decode::<pipeline::ProbationCancelled>(e) else {
                return;
            };
            row!(b, &STAGE, m.candidate_id, "cancelled");
        }
        "PairStarted" => {
            let Some(p) = decode::<pipeline::PairStarted>(e) else {
                return;
            };
            let kind = pipeline::PairKind::try_from(p.kind)
                .map(|k| wire_name(k.as_str_name(), "PAIR_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("pairs" ("pair_id", "kind", "started_on") by 1,
                    "ON CONFLICT (pair_id) DO NOTHING"),
                p.pair_id,
                kind,
                p.started_on,
            );
        }
        "PairEnded" => {
            let Some(p) = decode::<pipeline::PairEnded>(e) else {
                return;
            };
            row!(
                b,
                update!("pairs" by ("pair_id"), 2, "ended_on = $2"),
                p.pair_id,
                p.ended_on,
            );
        }
        "TrainingSessionScheduled" => {
            let Some(t) = decode::<pipeline::TrainingSessionScheduled>(e) else {
                return;
            };
            let kind = pipeline::CourseKind::try_from(t.kind)
                .map(|k| wire_name(k.as_str_name(), "COURSE_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("training_sessions" ("session_id", "kind", "held_on", "class_hours") by 1,
                    "ON CONFLICT (session_id) DO NOTHING"),
                t.session_id,
                kind,
                t.held_on,
                t.class_hours,
            );
        }
        "TrainingAttended" => {
            let Some(t) = decode::<pipeline::TrainingAttended>(e) else {
                return;
            };
            for person in t.person_ids {
                row!(
                    b,
                    insert!("training_attendance" ("session_id", "person_id") by 2,
                        "ON CONFLICT (session_id, person_id) DO NOTHING"),
                    &t.session_id,
                    person,
                );
            }
        }
        "TrainingCertificateIssued" => {
            let Some(c) = decode::<pipeline::TrainingCertificateIssued>(e) else {
                return;
            };
            hr_record(
                b,
                "training_certificate",
                c.person_id,
                c.session_id,
                "issued",
                0,
            );
        }
        "PartyDayScheduled" => {
            let Some(d) = decode::<pipeline::PartyDayScheduled>(e) else {
                return;
            };
            row!(
                b,
                insert!("party_days" ("month", "host", "attendees") by 1,
                    "ON CONFLICT (month) DO UPDATE SET host = excluded.host"),
                d.month,
                d.host_organization_id,
                0,
            );
        }
        "PartyDayHeld" => {
            let Some(d) = decode::<pipeline::PartyDayHeld>(e) else {
                return;
            };
            row!(
                b,
                update!("party_days" by ("month"), 3, "held_on = $2, attendees = $3"),
                d.month,
                d.held_on,
                d.attendee_person_ids.len() as i64,
            );
        }
        "PostPublished" => {
            let Some(p) = decode::<pipeline::PostPublished>(e) else {
                return;
            };
            let kind = pipeline::PostKind::try_from(p.kind)
                .map(|k| wire_name(k.as_str_name(), "POST_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("posts" ("post_id", "kind", "published_on") by 1,
                    "ON CONFLICT (post_id) DO NOTHING"),
                p.post_id,
                kind,
                p.published_on,
            );
        }
        _ => not_projected(b, e),
    }
}

/// The care context's read models.
fn care_models(b: &mut Batch<'_>, e: &EventEnvelope) {
    match e.event_type.as_str() {
        "ServiceRequestFiled" => {
            let Some(r) = decode::<care::ServiceRequestFiled>(e) else {
                return;
            };
            row!(
                b,
                insert!("service_requests" ("request_id", "department", "filed_on", "due_on",
                    "state", "rating") by 1, "ON CONFLICT (request_id) DO NOTHING"),
                r.request_id,
                r.department,
                r.filed_on,
                r.due_on,
                "filed",
                0,
            );
        }
        "ServiceRequestProgressed" => {
            let Some(r) = decode::<care::ServiceRequestProgressed>(e) else {
                return;
            };
            let state = care::RequestState::try_from(r.state)
                .map(|s| wire_name(s.as_str_name(), "REQUEST_STATE_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            let closes = matches!(state.as_str(), "completed" | "declined");
            row!(
                b,
                update!("service_requests" by ("request_id"), 4,
                    "state = $2, closed_on = CASE WHEN $3 = 1 THEN $4 ELSE closed_on END"),
                r.request_id,
                state,
                closes,
                r.on,
            );
        }
        "ServiceRequestRated" => {
            let Some(r) = decode::<care::ServiceRequestRated>(e) else {
                return;
            };
            row!(
                b,
                update!("service_requests" by ("request_id"), 2, "rating = $2"),
                r.request_id,
                r.rating,
            );
        }
        "CadrePosted" => {
            let Some(c) = decode::<care::CadrePosted>(e) else {
                return;
            };
            row!(
                b,
                insert!("cadre_postings" ("posting_id", "cadre_person_id", "enterprise_id",
                    "started_on") by 1, "ON CONFLICT (posting_id) DO NOTHING"),
                c.posting_id,
                c.cadre_person_id,
                c.enterprise_id,
                c.started_on,
            );
        }
        "CadrePostingEnded" => {
            let Some(c) = decode::<care::CadrePostingEnded>(e) else {
                return;
            };
            row!(
                b,
                update!("cadre_postings" by ("posting_id"), 2, "ended_on = $2"),
                c.posting_id,
                c.ended_on,
            );
        }
        "EnterpriseProblemRaised" => {
            let Some(p) = decode::<care::EnterpriseProblemRaised>(e) else {
                return;
            };
            let kind = care::ProblemKind::try_from(p.kind)
                .map(|k| wire_name(k.as_str_name(), "PROBLEM_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("enterprise_problems" ("problem_id", "kind", "state") by 1,
                    "ON CONFLICT (problem_id) DO NOTHING"),
                p.problem_id,
                kind,
                "raised",
            );
        }
        "EnterpriseProblemProgressed" => {
            let Some(p) = decode::<care::EnterpriseProblemProgressed>(e) else {
                return;
            };
            let state = care::ProblemState::try_from(p.state)
                .map(|s| wire_name(s.as_str_name(), "PROBLEM_STATE_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                update!("enterprise_problems" by ("problem_id"), 2, "state = $2"),
                p.problem_id,
                state,
            );
        }
        "ActivityPlanned" => {
            let Some(a) = decode::<care::ActivityPlanned>(e) else {
                return;
            };
            let kind = care::ActivityKind::try_from(a.kind)
                .map(|k| wire_name(k.as_str_name(), "ACTIVITY_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("care_activities" ("activity_id", "kind", "held_on", "cancelled") by 1,
                    "ON CONFLICT (activity_id) DO NOTHING"),
                a.activity_id,
                kind,
                a.held_on,
                0,
            );
        }
        "ActivityCheckedIn" => {
            let Some(a) = decode::<care::ActivityCheckedIn>(e) else {
                return;
            };
            row!(
                b,
                insert!("care_participants" ("activity_id", "person_id") by 2,
                    "ON CONFLICT (activity_id, person_id) DO NOTHING"),
                a.activity_id,
                a.person_id,
            );
        }
        "ActivityCancelled" => {
            let Some(a) = decode::<care::ActivityCancelled>(e) else {
                return;
            };
            row!(
                b,
                update!("care_activities" by ("activity_id"), 1, "cancelled = 1"),
                a.activity_id
            );
        }
        "HardshipApplied" => {
            let Some(h) = decode::<care::HardshipApplied>(e) else {
                return;
            };
            let category = care::HardshipCategory::try_from(h.category)
                .map(|c| wire_name(c.as_str_name(), "HARDSHIP_CATEGORY_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("hardship_cases" ("case_id", "category", "approved", "support_fen") by 1,
                    "ON CONFLICT (case_id) DO NOTHING"),
                h.case_id,
                category,
                0,
                0,
            );
        }
        "HardshipStepRecorded" => {
            let Some(h) = decode::<care::HardshipStepRecorded>(e) else {
                return;
            };
            if h.step == care::HardshipStep::Approval as i32 && h.passed {
                row!(
                    b,
                    update!("hardship_cases" by ("case_id"), 1, "approved = 1"),
                    h.case_id
                );
            }
        }
        "HardshipSupportGiven" => {
            let Some(h) = decode::<care::HardshipSupportGiven>(e) else {
                return;
            };
            row!(
                b,
                update!("hardship_cases" by ("case_id"), 2, "support_fen = support_fen + $2"),
                h.case_id,
                h.support.map_or(0, |s| s.amount_fen),
            );
        }
        "CampaignOpened" => {
            let Some(c) = decode::<care::CampaignOpened>(e) else {
                return;
            };
            row!(
                b,
                insert!("supply_campaigns" ("campaign_id", "name", "handed_out",
                    "value_handed_out_fen") by 1, "ON CONFLICT (campaign_id) DO NOTHING"),
                c.campaign_id,
                c.name,
                0,
                0,
            );
        }
        "CampaignHandedOut" => {
            let Some(c) = decode::<care::CampaignHandedOut>(e) else {
                return;
            };
            row!(
                b,
                update!("supply_campaigns" by ("campaign_id"), 3,
                    "handed_out = handed_out + $2, value_handed_out_fen = value_handed_out_fen + $3"),
                c.campaign_id,
                c.quantity,
                c.value_fen,
            );
        }
        "MicroWishReceived" | "MicroWishClaimed" | "MicroWishReleased" | "MicroWishFulfilled" => {
            let wish = match e.event_type.as_str() {
                "MicroWishReceived" => {
                    decode::<care::MicroWishReceived>(e).map(|w| (w.wish_id, "open"))
                }
                "MicroWishClaimed" => {
                    decode::<care::MicroWishClaimed>(e).map(|w| (w.wish_id, "claimed"))
                }
                "MicroWishReleased" => {
                    decode::<care::MicroWishReleased>(e).map(|w| (w.wish_id, "open"))
                }
                _ => decode::<care::MicroWishFulfilled>(e).map(|w| (w.wish_id, "fulfilled")),
            };
            let Some((wish_id, state)) = wish else {
                return;
            };
            row!(
                b,
                insert!("micro_wishes" ("wish_id", "state") by 1,
                    "ON CONFLICT (wish_id) DO UPDATE SET state = excluded.state"),
                wish_id,
                state,
            );
        }
        _ => not_projected(b, e),
    }
}

/// The grid context's read models.
fn grid_models(b: &mut Batch<'_>, e: &EventEnvelope) {
    match e.event_type.as_str() {
        "GridDefined" => {
            let Some(g) = decode::<grid::GridDefined>(e) else {
                return;
            };
            row!(
                b,
                insert!("grids" ("grid_id", "name", "community_id") by 1,
                    "ON CONFLICT (grid_id) DO UPDATE SET name = excluded.name, \
                     community_id = excluded.community_id"),
                g.grid_id,
                g.name,
                g.community_id,
            );
        }
        "GridWorkerChanged" => {
            let Some(w) = decode::<grid::GridWorkerChanged>(e) else {
                return;
            };
            let state = grid::WorkerState::try_from(w.state)
                .map(|s| wire_name(s.as_str_name(), "WORKER_STATE_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                insert!("grid_workers" ("person_id", "state") by 1,
                    "ON CONFLICT (person_id) DO UPDATE SET state = excluded.state"),
                w.person_id,
                state,
            );
        }
        "CaseReported" => {
            let Some(c) = decode::<grid::CaseReported>(e) else {
                return;
            };
            row!(
                b,
                insert!("cases" ("case_id", "category", "grid_id", "by_grid_worker", "state",
                    "reported_at", "escalated", "reopened", "rating") by 1,
                    "ON CONFLICT (case_id) DO NOTHING"),
                c.case_id,
                c.category,
                c.grid_id,
                c.by_grid_worker,
                "reported",
                fixed_time(&c.reported_at),
                0,
                0,
                0,
            );
        }
        "CaseProgressed" => {
            let Some(c) = decode::<grid::CaseProgressed>(e) else {
                return;
            };
            let state = grid::CaseState::try_from(c.state)
                .map(|s| wire_name(s.as_str_name(), "CASE_STATE_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            row!(
                b,
                update!("cases" by ("case_id"), 5,
                    "reopened = reopened + CASE WHEN state = 'resolved' AND $2 = 'dispatched' THEN 1 ELSE 0 END, \
                     resolved_at = CASE WHEN $2 = 'resolved' THEN $3 \
                                        WHEN $2 = 'dispatched' THEN NULL ELSE resolved_at END, \
                     due_at = CASE WHEN $4 <> '' THEN $4 ELSE due_at END, \
                     department = CASE WHEN $5 <> '' THEN $5 ELSE department END, \
                     dispatched_at = CASE WHEN $2 = 'dispatched' THEN COALESCE(dispatched_at, $3) ELSE dispatched_at END, \
                     acknowledged_at = CASE WHEN $2 = 'acknowledged' THEN COALESCE(acknowledged_at, $3) ELSE acknowledged_at END, \
                     closed_at = CASE WHEN $2 = 'closed' THEN $3 ELSE closed_at END, \
                     state = $2"),
                c.case_id,
                state,
                fixed_time(&c.at),
                fixed_time(&c.due_at),
                c.department,
            );
        }
        "CaseEscalated" => {
            let Some(c) = decode::<grid::CaseEscalated>(e) else {
                return;
            };
            row!(
                b,
                update!("cases" by ("case_id"), 1, "escalated = 1"),
                c.case_id
            );
        }
        "CaseRated" => {
            let Some(c) = decode::<grid::CaseRated>(e) else {
                return;
            };
            row!(
                b,
                update!("cases" by ("case_id"), 2, "rating = $2"),
                c.case_id,
                c.rating,
            );
        }
        _ => not_projected(b, e),
    }
}

/// An event no read model uses. A type of the context's contract is only
/// counted (in `event_counts`); a type the contract does not know — a
/// producer newer than this projection, or a mistake — is also recorded in
/// `unknown_events` and the log, so it is seen on the dashboard instead of
/// vanishing.
fn not_projected(b: &mut Batch<'_>, e: &EventEnvelope) {
    if known_event(&e.context, &e.event_type) {
        tracing::debug!(context = %e.context, event_type = %e.event_type, "no read model for this event type");
        return;
    }
    tracing::warn!(
        context = %e.context,
        event_type = %e.event_type,
        position = e.global_position,
        "an event type the contract does not know; counted, not projected"
    );
    metrics::counter!(
        "hongxin_projection_unknown_events_total",
        "context" => e.context.clone()
    )
    .increment(1);
    b.unknown
        .entry((e.context.clone(), e.event_type.clone()))
        .or_insert((0, e.global_position as i64))
        .0 += 1;
}

/// The event types of each context's contract: the messages of
/// `hongxin/<context>/v1/events.proto`.
fn known_event(context: &str, event_type: &str) -> bool {
    use std::collections::BTreeSet;
    use std::sync::LazyLock;
    static KNOWN: LazyLock<BTreeSet<(String, String)>> = LazyLock::new(|| {
        let set = prost_types::FileDescriptorSet::decode(hongxin_proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_default();
        set.file
            .iter()
            .filter_map(|f| {
                let name = f.name();
                let context = name
                    .strip_prefix("hongxin/")?
                    .strip_suffix("/v1/events.proto")?;
                Some((context.to_owned(), f))
            })
            .flat_map(|(context, f)| {
                f.message_type
                    .iter()
                    .map(move |m| (context.clone(), m.name().to_owned()))
            })
            .collect()
    });
    KNOWN.contains(&(context.to_owned(), event_type.to_owned()))
}

/// The payload of `e`, or `None` (reported, counted, not projected) when it
/// does not decode.
fn decode<M: prost::Message + Default>(e: &EventEnvelope) -> Option<M> {
    match M::decode(e.payload.as_slice()) {
        Ok(m) => Some(m),
        Err(err) => {
            tracing::error!(position = e.global_position, event_type = %e.event_type, error = %err, "malformed event; counted, not projected");
            metrics::counter!("hongxin_projection_malformed_total").increment(1);
            None
        }
    }
}

/// `INDUSTRY_FOOD_DELIVERY` → `food_delivery`.
fn wire_name(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_ascii_lowercase()
}

fn industry_name(raw: i32) -> String {
    org::Industry::try_from(raw)
        .map(|i| wire_name(i.as_str_name(), "INDUSTRY_"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn party_kind(raw: i32) -> String {
    org::PartyOrganizationKind::try_from(raw)
        .map(|k| wire_name(k.as_str_name(), "PARTY_ORGANIZATION_KIND_"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn party_status(raw: i32) -> String {
    match org::PartyStatus::try_from(raw) {
        Ok(org::PartyStatus::Unspecified) => "none".to_owned(),
        Ok(s) => wire_name(s.as_str_name(), "PARTY_STATUS_"),
        Err(_) => "unknown".to_owned(),
    }
}

/// An RFC 3339 time in one fixed form (UTC, microseconds), so times compare
/// as text; empty stays empty.
fn fixed_time(raw: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_contracts_name_the_known_event_types() {
        assert!(super::known_event("organization", "PersonRegistered"));
        assert!(super::known_event("grid", "CaseProgressed"));
        assert!(super::known_event("care", "HardshipApplied"));
        assert!(super::known_event("pipeline", "CandidateApplied"));
        assert!(
            !super::known_event("grid", "PersonRegistered"),
            "another context's"
        );
        assert!(!super::known_event("organization", "SomethingNew"));
    }
}
