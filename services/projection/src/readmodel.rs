//! Applying one event to the read models, exactly once in effect.

use hongxin_proto::care::v1 as care;
use hongxin_proto::eventing::v1::EventEnvelope;
use hongxin_proto::grid::v1 as grid;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::pipeline::v1 as pipeline;
use prost::Message as _;
use sqlx::{Any, AnyPool, Transaction};

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
pub(crate) async fn apply(pool: &AnyPool, e: &EventEnvelope) -> Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let last = checkpoint(&mut tx, &e.context).await?;
    if e.global_position <= last {
        return Ok(Applied::Duplicate);
    }
    if e.global_position != last + 1 {
        return Ok(Applied::Gap);
    }
    let mut tally = Tally::default();
    tally.apply(&mut tx, e).await?;
    tally.flush(&mut tx).await?;
    save_checkpoint(&mut tx, e).await?;
    tx.commit().await?;
    Ok(Applied::Applied)
}

/// Applies consecutive events of one context in one transaction, with the
/// checkpoint of the last (a burst of live deliveries, a rebuild's batch):
/// events at or below the checkpoint are skipped (redeliveries), and the
/// batch stops at a gap. Returns how many of `events`, from the first, are
/// done — applied now or before; those after them must come again.
pub(crate) async fn apply_batch(
    pool: &AnyPool,
    events: &[EventEnvelope],
) -> Result<usize, sqlx::Error> {
    let Some(first) = events.first() else {
        return Ok(0);
    };
    let mut tx = pool.begin().await?;
    let mut last = checkpoint(&mut tx, &first.context).await?;
    let mut applied = None;
    let mut done = 0;
    let mut tally = Tally::default();
    for e in events {
        if e.context != first.context {
            break;
        }
        if e.global_position > last {
            if e.global_position != last + 1 {
                break;
            }
            tally.apply(&mut tx, e).await?;
            last = e.global_position;
            applied = Some(e);
        }
        done += 1;
    }
    if let Some(e) = applied {
        tally.flush(&mut tx).await?;
        save_checkpoint(&mut tx, e).await?;
        tx.commit().await?;
    }
    Ok(done)
}

async fn checkpoint(tx: &mut Transaction<'_, Any>, context: &str) -> Result<u64, sqlx::Error> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE context = $1")
            .bind(context)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(last.unwrap_or(0) as u64)
}

/// Audit rows per multi-row INSERT: few enough parameters (7 each) that
/// binding stays cheap — SQLite finds each numbered parameter by a linear
/// search, so binding n of them costs n² (measured: at 500 rows, a fifth of
/// a rebuild's time went there).
const AUDIT_ROWS_PER_INSERT: usize = 50;

/// What every event adds besides its own read models — a row of the audit
/// trail and one to its type's count — gathered over a transaction and
/// written at its end in a few statements, not two per event. Neither is
/// read by the statements of other events, so the order is free.
#[derive(Default)]
struct Tally {
    audit: Vec<AuditRow>,
    counts: std::collections::BTreeMap<(String, String), i64>,
}

struct AuditRow {
    context: String,
    position: i64,
    stream_id: String,
    event_type: String,
    actor: String,
    correlation_id: String,
    recorded_at: String,
}

impl Tally {
    async fn apply(
        &mut self,
        tx: &mut Transaction<'_, Any>,
        e: &EventEnvelope,
    ) -> Result<(), sqlx::Error> {
        let recorded_at = e
            .recorded_at
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default();
        self.audit.push(AuditRow {
            context: e.context.clone(),
            position: e.global_position as i64,
            stream_id: e.stream_id.clone(),
            event_type: e.event_type.clone(),
            actor: e.actor.clone(),
            correlation_id: e.correlation_id.clone(),
            recorded_at,
        });
        *self
            .counts
            .entry((e.context.clone(), e.event_type.clone()))
            .or_default() += 1;
        apply_to_models(tx, e).await
    }

    async fn flush(&mut self, tx: &mut Transaction<'_, Any>) -> Result<(), sqlx::Error> {
        for rows in self.audit.chunks(AUDIT_ROWS_PER_INSERT) {
            // Numbered placeholders, which both databases take through
            // `Any` (its query builder would write `?`, which PostgreSQL
            // does not).
            let values: Vec<String> = (0..rows.len())
                .map(|i| {
                    let n = i * 7;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6,
                        n + 7
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_trail (context, global_position, stream_id, event_type, actor, \
                 correlation_id, recorded_at) VALUES {} \
                 ON CONFLICT (context, global_position) DO NOTHING",
                values.join(", ")
            );
            let mut insert = sqlx::query(&sql);
            for r in rows {
                insert = insert
                    .bind(&r.context)
                    .bind(r.position)
                    .bind(&r.stream_id)
                    .bind(&r.event_type)
                    .bind(&r.actor)
                    .bind(&r.correlation_id)
                    .bind(&r.recorded_at);
            }
            insert.execute(&mut **tx).await?;
        }
        self.audit.clear();
        for ((context, event_type), n) in std::mem::take(&mut self.counts) {
            sqlx::query(
                "INSERT INTO event_counts (context, event_type, events) VALUES ($1, $2, $3) \
                 ON CONFLICT (context, event_type) DO UPDATE SET events = event_counts.events + excluded.events",
            )
            .bind(context)
            .bind(event_type)
            .bind(n)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

async fn save_checkpoint(
    tx: &mut Transaction<'_, Any>,
    e: &EventEnvelope,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (context, position, recorded_at_us, updated_at_us) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (context) DO UPDATE SET position = excluded.position, \
         recorded_at_us = excluded.recorded_at_us, updated_at_us = excluded.updated_at_us",
    )
    .bind(&e.context)
    .bind(e.global_position as i64)
    .bind(micros(e.recorded_at.as_ref()))
    .bind(chrono::Utc::now().timestamp_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn apply_to_models(
    tx: &mut Transaction<'_, Any>,
    e: &EventEnvelope,
) -> Result<(), sqlx::Error> {
    if e.context == "pipeline" && e.stream_id.starts_with("candidate-") {
        candidate_next_steps(tx, e).await?;
    }
    match (e.context.as_str(), e.event_type.as_str()) {
        ("organization", "IndustryCommitteeRegistered") => {
            let Ok(c) = org::IndustryCommitteeRegistered::decode(e.payload.as_slice()) else {
                tracing::error!(
                    position = e.global_position,
                    "malformed IndustryCommitteeRegistered; counted, not projected"
                );
                metrics::counter!("hongxin_projection_malformed_total").increment(1);
                return Ok(());
            };
            let industry = org::Industry::try_from(c.industry)
                .map(|i| {
                    i.as_str_name()
                        .trim_start_matches("INDUSTRY_")
                        .to_ascii_lowercase()
                })
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO committees (committee_id, name, industry, lead_department, registered_at_us) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (committee_id) DO NOTHING",
            )
            .bind(c.committee_id)
            .bind(c.name)
            .bind(industry)
            .bind(c.lead_department)
            .bind(micros(e.occurred_at.as_ref()))
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "CommunityRegistered") => {
            let Some(c) = decode::<org::CommunityRegistered>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO communities (community_id, name, subdistrict) VALUES ($1, $2, $3) \
                 ON CONFLICT (community_id) DO NOTHING",
            )
            .bind(c.community_id)
            .bind(c.name)
            .bind(c.subdistrict)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "EnterpriseRegistered") => {
            let Some(r) = decode::<org::EnterpriseRegistered>(e) else {
                return Ok(());
            };
            let kind = org::EnterpriseKind::try_from(r.kind)
                .map(|k| wire_name(k.as_str_name(), "ENTERPRISE_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO enterprises (enterprise_id, name, industry, kind, community_id, workers, \
                 full_members, probationary_members) VALUES ($1, $2, $3, $4, $5, 0, 0, 0) \
                 ON CONFLICT (enterprise_id) DO NOTHING",
            )
            .bind(r.enterprise_id)
            .bind(r.name)
            .bind(industry_name(r.industry))
            .bind(kind)
            .bind(r.community_id)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "EnterpriseHeadcountReported") => {
            let Some(h) = decode::<org::EnterpriseHeadcountReported>(e) else {
                return Ok(());
            };
            let count = h.headcount.unwrap_or_default();
            sqlx::query(
                "UPDATE enterprises SET workers = $2, full_members = $3, probationary_members = $4 \
                 WHERE enterprise_id = $1",
            )
            .bind(h.enterprise_id)
            .bind(i64::from(count.workers))
            .bind(i64::from(count.full_members))
            .bind(i64::from(count.probationary_members))
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "PartyOrganizationFounded") => {
            let Some(o) = decode::<org::PartyOrganizationFounded>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO party_organizations (organization_id, name, kind, founded_on, units) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (organization_id) DO NOTHING",
            )
            .bind(o.organization_id)
            .bind(o.name)
            .bind(party_kind(o.kind))
            .bind(o.founded_on)
            .bind(o.covered_enterprise_ids.len() as i64)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "EnterpriseCovered") => {
            let Some(c) = decode::<org::EnterpriseCovered>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO coverage (enterprise_id, organization_id, kind) VALUES ($1, $2, $3) \
                 ON CONFLICT (enterprise_id) DO NOTHING",
            )
            .bind(c.enterprise_id)
            .bind(c.organization_id)
            .bind(party_kind(c.kind))
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "ReportStationOpened") => {
            let Some(o) = decode::<org::ReportStationOpened>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO report_stations (station_id, name, community_id, opened_on) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (station_id) DO NOTHING",
            )
            .bind(o.station_id)
            .bind(o.name)
            .bind(o.community_id)
            .bind(o.opened_on)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "MobileMemberCheckedIn") => {
            let Some(c) = decode::<org::MobileMemberCheckedIn>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO station_members (station_id, person_id, checked_in_on) VALUES ($1, $2, $3) \
                 ON CONFLICT (station_id, person_id) DO NOTHING",
            )
            .bind(c.station_id)
            .bind(c.person_id)
            .bind(c.checked_in_on)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "MobileMemberCheckedOut") => {
            let Some(c) = decode::<org::MobileMemberCheckedOut>(e) else {
                return Ok(());
            };
            sqlx::query("DELETE FROM station_members WHERE station_id = $1 AND person_id = $2")
                .bind(c.station_id)
                .bind(c.person_id)
                .execute(&mut **tx)
                .await?;
        }
        ("organization", "VanguardSiteEstablished") => {
            let Some(v) = decode::<org::VanguardSiteEstablished>(e) else {
                return Ok(());
            };
            let kind = org::VanguardSiteKind::try_from(v.kind)
                .map(|k| wire_name(k.as_str_name(), "VANGUARD_SITE_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO vanguard_sites (site_id, kind, name, community_id, established_on) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id) DO NOTHING",
            )
            .bind(v.site_id)
            .bind(kind)
            .bind(v.name)
            .bind(v.community_id)
            .bind(v.established_on)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "ConventionSigned") => {
            let Some(c) = decode::<org::ConventionSigned>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO convention_signatures (convention_id, person_id, signed_on) VALUES ($1, $2, $3) \
                 ON CONFLICT (convention_id, person_id) DO NOTHING",
            )
            .bind(c.convention_id)
            .bind(c.person_id)
            .bind(c.signed_on)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "PersonRegistered") => {
            let Some(r) = decode::<org::PersonRegistered>(e) else {
                return Ok(());
            };
            let work = r.work.unwrap_or_default();
            sqlx::query(
                "INSERT INTO people (person_id, industry, community_id, enterprise_id, union_member, \
                 party_status, mobile_member, erased) VALUES ($1, $2, $3, $4, $5, $6, $7, 0) \
                 ON CONFLICT (person_id) DO NOTHING",
            )
            .bind(r.person_id)
            .bind(industry_name(work.industry))
            .bind(work.community_id)
            .bind(work.enterprise_id)
            .bind(i32::from(r.union_member))
            .bind(party_status(r.party_status))
            .bind(i32::from(r.mobile_member))
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "PersonWorkChanged") => {
            let Some(c) = decode::<org::PersonWorkChanged>(e) else {
                return Ok(());
            };
            let work = c.work.unwrap_or_default();
            sqlx::query(
                "UPDATE people SET industry = $2, community_id = $3, enterprise_id = $4 WHERE person_id = $1",
            )
            .bind(c.person_id)
            .bind(industry_name(work.industry))
            .bind(work.community_id)
            .bind(work.enterprise_id)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "PersonFlagsSet") => {
            let Some(f) = decode::<org::PersonFlagsSet>(e) else {
                return Ok(());
            };
            sqlx::query(
                "UPDATE people SET union_member = $2, mobile_member = $3 WHERE person_id = $1",
            )
            .bind(f.person_id)
            .bind(i32::from(f.union_member))
            .bind(i32::from(f.mobile_member))
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "PersonPartyStatusChanged") => {
            let Some(c) = decode::<org::PersonPartyStatusChanged>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE people SET party_status = $2 WHERE person_id = $1")
                .bind(c.person_id)
                .bind(party_status(c.party_status))
                .execute(&mut **tx)
                .await?;
        }
        ("organization", "PersonErased") => {
            let Some(c) = decode::<org::PersonErased>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE people SET erased = 1 WHERE person_id = $1")
                .bind(c.person_id)
                .execute(&mut **tx)
                .await?;
        }
        ("organization", "EmploymentRegistrationRecorded") => {
            let Some(r) = decode::<org::EmploymentRegistrationRecorded>(e) else {
                return Ok(());
            };
            let status = match org::EmploymentRegistrationStatus::try_from(r.status) {
                Ok(org::EmploymentRegistrationStatus::Cancelled) => "cancelled",
                _ => "registered",
            };
            hr_record(tx, "employment", &r.person_id, &r.record_id, status, 0).await?;
        }
        ("organization", "InjuryProtectionEnrolled") => {
            let Some(r) = decode::<org::InjuryProtectionEnrolled>(e) else {
                return Ok(());
            };
            hr_record(
                tx,
                "injury_protection",
                &r.person_id,
                &r.record_id,
                "enrolled",
                0,
            )
            .await?;
        }
        ("organization", "InjuryClaimRecorded") => {
            let Some(r) = decode::<org::InjuryClaimRecorded>(e) else {
                return Ok(());
            };
            let status = match org::InjuryClaimStatus::try_from(r.status) {
                Ok(org::InjuryClaimStatus::Confirmed) => "confirmed",
                Ok(org::InjuryClaimStatus::Paid) => "paid",
                Ok(org::InjuryClaimStatus::Refused) => "refused",
                _ => "reported",
            };
            hr_record(
                tx,
                "injury_claim",
                &r.person_id,
                &r.record_id,
                status,
                r.paid_fen,
            )
            .await?;
        }
        ("organization", "TrainingSubsidyRecorded") => {
            let Some(r) = decode::<org::TrainingSubsidyRecorded>(e) else {
                return Ok(());
            };
            let status = match org::TrainingSubsidyStatus::try_from(r.status) {
                Ok(org::TrainingSubsidyStatus::Approved) => "approved",
                Ok(org::TrainingSubsidyStatus::Paid) => "paid",
                Ok(org::TrainingSubsidyStatus::Refused) => "refused",
                _ => "applied",
            };
            hr_record(
                tx,
                "training_subsidy",
                &r.person_id,
                &r.record_id,
                status,
                r.amount_fen,
            )
            .await?;
        }
        ("organization", "EmploymentRegistrationFiled") => {
            let Some(f) = decode::<org::EmploymentRegistrationFiled>(e) else {
                return Ok(());
            };
            hr_record(
                tx,
                "employment_filing",
                &f.person_id,
                &f.filing_id,
                "filed",
                0,
            )
            .await?;
        }
        ("organization", "AccidentReported") => {
            let Some(a) = decode::<org::AccidentReported>(e) else {
                return Ok(());
            };
            hr_record(
                tx,
                "accident_report",
                &a.person_id,
                &a.report_id,
                "reported",
                0,
            )
            .await?;
        }
        ("organization", "EnterpriseMemberRecorded") => {
            let Some(m) = decode::<org::EnterpriseMemberRecorded>(e) else {
                return Ok(());
            };
            let count = m.headcount.unwrap_or_default();
            sqlx::query(
                "UPDATE enterprises SET workers = $2, full_members = $3, probationary_members = $4 \
                 WHERE enterprise_id = $1",
            )
            .bind(m.enterprise_id)
            .bind(i64::from(count.workers))
            .bind(i64::from(count.full_members))
            .bind(i64::from(count.probationary_members))
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "EnterpriseInstructorAssigned") => {
            let Some(a) = decode::<org::EnterpriseInstructorAssigned>(e) else {
                return Ok(());
            };
            sqlx::query(
                "UPDATE enterprises SET instructor_person_id = $2 WHERE enterprise_id = $1",
            )
            .bind(a.enterprise_id)
            .bind(a.person_id)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "VanguardShown") => {
            let Some(v) = decode::<org::VanguardShown>(e) else {
                return Ok(());
            };
            let show = org::VanguardShow::try_from(v.show)
                .map(|k| wire_name(k.as_str_name(), "VANGUARD_SHOW_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO vanguard_shows (subject_id, show, shown_on) VALUES ($1, $2, $3) \
                 ON CONFLICT (subject_id, show) DO NOTHING",
            )
            .bind(v.subject_id)
            .bind(show)
            .bind(v.shown_on)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "PolicyItemIssued") => {
            let Some(i) = decode::<org::PolicyItemIssued>(e) else {
                return Ok(());
            };
            let kind = org::PolicyKind::try_from(i.kind)
                .map(|k| wire_name(k.as_str_name(), "POLICY_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO policy_items (policy_id, kind, title, issued_on) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (policy_id) DO NOTHING",
            )
            .bind(i.policy_id)
            .bind(kind)
            .bind(i.title)
            .bind(i.issued_on)
            .execute(&mut **tx)
            .await?;
        }
        ("organization", "PolicyItemRetired") => {
            let Some(r) = decode::<org::PolicyItemRetired>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE policy_items SET retired_on = $2 WHERE policy_id = $1")
                .bind(r.policy_id)
                .bind(r.retired_on)
                .execute(&mut **tx)
                .await?;
        }
        ("organization", "GovernanceDutyHeld") => {
            let Some(h) = decode::<org::GovernanceDutyHeld>(e) else {
                return Ok(());
            };
            let kind = org::GovernanceDutyKind::try_from(h.kind)
                .map(|k| wire_name(k.as_str_name(), "GOVERNANCE_DUTY_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO governance_duties (kind, period, held_on, attendees) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (kind, period) DO NOTHING",
            )
            .bind(kind)
            .bind(h.period)
            .bind(h.held_on)
            .bind(h.attendee_person_ids.len() as i64)
            .execute(&mut **tx)
            .await?;
        }
        ("pipeline", "CandidateApplied") => {
            let Some(a) = decode::<pipeline::CandidateApplied>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO candidates (candidate_id, organization_id, stage, applied_on) \
                 VALUES ($1, $2, 'applicant', $3) ON CONFLICT (candidate_id) DO NOTHING",
            )
            .bind(a.candidate_id)
            .bind(a.organization_id)
            .bind(a.applied_on)
            .execute(&mut **tx)
            .await?;
        }
        ("pipeline", "CandidateStepRecorded") => {
            let Some(r) = decode::<pipeline::CandidateStepRecorded>(e) else {
                return Ok(());
            };
            let stage = match pipeline::Step::try_from(r.step) {
                Ok(pipeline::Step::ActivistConfirmed) => "activist",
                Ok(pipeline::Step::TargetConfirmed) => "development_target",
                _ => return Ok(()),
            };
            set_stage(tx, &r.candidate_id, stage).await?;
        }
        ("pipeline", "ProbationaryMemberAdmitted") => {
            let Some(m) = decode::<pipeline::ProbationaryMemberAdmitted>(e) else {
                return Ok(());
            };
            set_stage(tx, &m.candidate_id, "probationary").await?;
            sqlx::query("UPDATE candidates SET admitted_on = $2 WHERE candidate_id = $1")
                .bind(&m.candidate_id)
                .bind(&m.admitted_on)
                .execute(&mut **tx)
                .await?;
        }
        ("pipeline", "FullMembershipConfirmed") => {
            let Some(m) = decode::<pipeline::FullMembershipConfirmed>(e) else {
                return Ok(());
            };
            set_stage(tx, &m.candidate_id, "full").await?;
        }
        ("pipeline", "ProbationCancelled") => {
            let Some(m) = decode::<pipeline::ProbationCancelled>(e) else {
                return Ok(());
            };
            set_stage(tx, &m.candidate_id, "cancelled").await?;
        }
        ("pipeline", "PairStarted") => {
            let Some(p) = decode::<pipeline::PairStarted>(e) else {
                return Ok(());
            };
            let kind = pipeline::PairKind::try_from(p.kind)
                .map(|k| wire_name(k.as_str_name(), "PAIR_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO pairs (pair_id, kind, started_on) VALUES ($1, $2, $3) \
                 ON CONFLICT (pair_id) DO NOTHING",
            )
            .bind(p.pair_id)
            .bind(kind)
            .bind(p.started_on)
            .execute(&mut **tx)
            .await?;
        }
        ("pipeline", "PairEnded") => {
            let Some(p) = decode::<pipeline::PairEnded>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE pairs SET ended_on = $2 WHERE pair_id = $1")
                .bind(p.pair_id)
                .bind(p.ended_on)
                .execute(&mut **tx)
                .await?;
        }
        ("pipeline", "TrainingSessionScheduled") => {
            let Some(t) = decode::<pipeline::TrainingSessionScheduled>(e) else {
                return Ok(());
            };
            let kind = pipeline::CourseKind::try_from(t.kind)
                .map(|k| wire_name(k.as_str_name(), "COURSE_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO training_sessions (session_id, kind, held_on, class_hours) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(t.session_id)
            .bind(kind)
            .bind(t.held_on)
            .bind(i64::from(t.class_hours))
            .execute(&mut **tx)
            .await?;
        }
        ("pipeline", "TrainingAttended") => {
            let Some(t) = decode::<pipeline::TrainingAttended>(e) else {
                return Ok(());
            };
            for person in t.person_ids {
                sqlx::query(
                    "INSERT INTO training_attendance (session_id, person_id) VALUES ($1, $2) \
                     ON CONFLICT (session_id, person_id) DO NOTHING",
                )
                .bind(&t.session_id)
                .bind(person)
                .execute(&mut **tx)
                .await?;
            }
        }
        ("pipeline", "TrainingCertificateIssued") => {
            let Some(c) = decode::<pipeline::TrainingCertificateIssued>(e) else {
                return Ok(());
            };
            hr_record(
                tx,
                "training_certificate",
                &c.person_id,
                &c.session_id,
                "issued",
                0,
            )
            .await?;
        }
        ("pipeline", "PartyDayScheduled") => {
            let Some(d) = decode::<pipeline::PartyDayScheduled>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO party_days (month, host, attendees) VALUES ($1, $2, 0) \
                 ON CONFLICT (month) DO UPDATE SET host = excluded.host",
            )
            .bind(d.month)
            .bind(d.host_organization_id)
            .execute(&mut **tx)
            .await?;
        }
        ("pipeline", "PartyDayHeld") => {
            let Some(d) = decode::<pipeline::PartyDayHeld>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE party_days SET held_on = $2, attendees = $3 WHERE month = $1")
                .bind(d.month)
                .bind(d.held_on)
                .bind(d.attendee_person_ids.len() as i64)
                .execute(&mut **tx)
                .await?;
        }
        ("pipeline", "PostPublished") => {
            let Some(p) = decode::<pipeline::PostPublished>(e) else {
                return Ok(());
            };
            let kind = pipeline::PostKind::try_from(p.kind)
                .map(|k| wire_name(k.as_str_name(), "POST_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO posts (post_id, kind, published_on) VALUES ($1, $2, $3) \
                 ON CONFLICT (post_id) DO NOTHING",
            )
            .bind(p.post_id)
            .bind(kind)
            .bind(p.published_on)
            .execute(&mut **tx)
            .await?;
        }
        ("care", _) => care_models(tx, e).await?,
        ("grid", _) => grid_models(tx, e).await?,
        _ => not_projected(tx, e).await?,
    }
    Ok(())
}

/// Keeps a candidate's next steps and the days they are due, as the
/// pipeline's own rules give them from the candidate's whole history (the
/// rules travel in the candidate's application event), so the dashboard's
/// due and overdue steps are the pipeline's, not a second reading of the
/// rules.
async fn candidate_next_steps(
    tx: &mut Transaction<'_, Any>,
    e: &EventEnvelope,
) -> Result<(), sqlx::Error> {
    use base64::Engine as _;
    use hongxin_domain::{Decider as _, DomainEvent as _};
    use hongxin_pipeline::candidate::{CandidateDecider, Event, State};
    let Some(candidate_id) = e.stream_id.strip_prefix("candidate-") else {
        return Ok(());
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    sqlx::query(
        "INSERT INTO candidate_events (candidate_id, global_position, event_type, schema_version, payload) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (candidate_id, global_position) DO NOTHING",
    )
    .bind(candidate_id)
    .bind(e.global_position as i64)
    .bind(&e.event_type)
    .bind(i64::from(e.schema_version))
    .bind(b64.encode(&e.payload))
    .execute(&mut **tx)
    .await?;
    let history: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT event_type, schema_version, payload FROM candidate_events \
         WHERE candidate_id = $1 ORDER BY global_position",
    )
    .bind(candidate_id)
    .fetch_all(&mut **tx)
    .await?;
    let decider = CandidateDecider::default();
    let mut state = State::default();
    for (event_type, version, payload) in &history {
        let decoded = b64
            .decode(payload)
            .ok()
            .and_then(|p| Event::decode(event_type, *version as u32, &p).ok());
        match decoded {
            Some(event) => state = decider.evolve(state, &event),
            None => {
                tracing::error!(
                    candidate_id,
                    event_type,
                    "a candidate event that does not decode; its next steps are not shown"
                );
                metrics::counter!("hongxin_projection_malformed_total").increment(1);
                return Ok(());
            }
        }
    }
    sqlx::query("DELETE FROM candidate_due WHERE candidate_id = $1")
        .bind(candidate_id)
        .execute(&mut **tx)
        .await?;
    let Some(candidate) = state.0 else {
        return Ok(());
    };
    // Due days depend on the history only; `today` only marks which are
    // overdue, which the dashboard judges when it is asked.
    let today = hongxin_domain::time::beijing_today(chrono::Utc::now());
    for next in candidate.next(today) {
        let Some(due) = next.due else { continue };
        sqlx::query(
            "INSERT INTO candidate_due (candidate_id, organization_id, step, due_on) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (candidate_id, step) DO UPDATE SET due_on = excluded.due_on",
        )
        .bind(candidate_id)
        .bind(candidate.application.organization_id.to_string())
        .bind(wire_name(next.step.to_wire().as_str_name(), "STEP_"))
        .bind(hongxin_domain::time::format_day(due))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// An event no read model uses. A type of the context's contract is only
/// counted (in `event_counts`); a type the contract does not know — a
/// producer newer than this projection, or a mistake — is also recorded in
/// `unknown_events` and the log, so it is seen on the dashboard instead of
/// vanishing.
async fn not_projected(
    tx: &mut Transaction<'_, Any>,
    e: &EventEnvelope,
) -> Result<(), sqlx::Error> {
    if known_event(&e.context, &e.event_type) {
        tracing::debug!(context = %e.context, event_type = %e.event_type, "no read model for this event type");
        return Ok(());
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
    sqlx::query(
        "INSERT INTO unknown_events (context, event_type, events, first_position) \
         VALUES ($1, $2, 1, $3) ON CONFLICT (context, event_type) \
         DO UPDATE SET events = unknown_events.events + 1",
    )
    .bind(&e.context)
    .bind(&e.event_type)
    .bind(e.global_position as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
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

async fn set_stage(
    tx: &mut Transaction<'_, Any>,
    candidate_id: &str,
    stage: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE candidates SET stage = $2 WHERE candidate_id = $1")
        .bind(candidate_id)
        .bind(stage)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The care context's read models.
async fn care_models(tx: &mut Transaction<'_, Any>, e: &EventEnvelope) -> Result<(), sqlx::Error> {
    match e.event_type.as_str() {
        "ServiceRequestFiled" => {
            let Some(r) = decode::<care::ServiceRequestFiled>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO service_requests (request_id, department, filed_on, due_on, state, rating) \
                 VALUES ($1, $2, $3, $4, 'filed', 0) ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(r.request_id)
            .bind(r.department)
            .bind(r.filed_on)
            .bind(r.due_on)
            .execute(&mut **tx)
            .await?;
        }
        "ServiceRequestProgressed" => {
            let Some(r) = decode::<care::ServiceRequestProgressed>(e) else {
                return Ok(());
            };
            let state = care::RequestState::try_from(r.state)
                .map(|s| wire_name(s.as_str_name(), "REQUEST_STATE_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            let closes = matches!(state.as_str(), "completed" | "declined");
            sqlx::query(
                "UPDATE service_requests SET state = $2, \
                 closed_on = CASE WHEN $3 = 1 THEN $4 ELSE closed_on END WHERE request_id = $1",
            )
            .bind(r.request_id)
            .bind(state)
            .bind(i32::from(closes))
            .bind(r.on)
            .execute(&mut **tx)
            .await?;
        }
        "ServiceRequestRated" => {
            let Some(r) = decode::<care::ServiceRequestRated>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE service_requests SET rating = $2 WHERE request_id = $1")
                .bind(r.request_id)
                .bind(i64::from(r.rating))
                .execute(&mut **tx)
                .await?;
        }
        "CadrePosted" => {
            let Some(c) = decode::<care::CadrePosted>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO cadre_postings (posting_id, cadre_person_id, enterprise_id, started_on) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (posting_id) DO NOTHING",
            )
            .bind(c.posting_id)
            .bind(c.cadre_person_id)
            .bind(c.enterprise_id)
            .bind(c.started_on)
            .execute(&mut **tx)
            .await?;
        }
        "CadrePostingEnded" => {
            let Some(c) = decode::<care::CadrePostingEnded>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE cadre_postings SET ended_on = $2 WHERE posting_id = $1")
                .bind(c.posting_id)
                .bind(c.ended_on)
                .execute(&mut **tx)
                .await?;
        }
        "EnterpriseProblemRaised" => {
            let Some(p) = decode::<care::EnterpriseProblemRaised>(e) else {
                return Ok(());
            };
            let kind = care::ProblemKind::try_from(p.kind)
                .map(|k| wire_name(k.as_str_name(), "PROBLEM_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO enterprise_problems (problem_id, kind, state) VALUES ($1, $2, 'raised') \
                 ON CONFLICT (problem_id) DO NOTHING",
            )
            .bind(p.problem_id)
            .bind(kind)
            .execute(&mut **tx)
            .await?;
        }
        "EnterpriseProblemProgressed" => {
            let Some(p) = decode::<care::EnterpriseProblemProgressed>(e) else {
                return Ok(());
            };
            let state = care::ProblemState::try_from(p.state)
                .map(|s| wire_name(s.as_str_name(), "PROBLEM_STATE_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query("UPDATE enterprise_problems SET state = $2 WHERE problem_id = $1")
                .bind(p.problem_id)
                .bind(state)
                .execute(&mut **tx)
                .await?;
        }
        "ActivityPlanned" => {
            let Some(a) = decode::<care::ActivityPlanned>(e) else {
                return Ok(());
            };
            let kind = care::ActivityKind::try_from(a.kind)
                .map(|k| wire_name(k.as_str_name(), "ACTIVITY_KIND_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO care_activities (activity_id, kind, held_on, cancelled) VALUES ($1, $2, $3, 0) \
                 ON CONFLICT (activity_id) DO NOTHING",
            )
            .bind(a.activity_id)
            .bind(kind)
            .bind(a.held_on)
            .execute(&mut **tx)
            .await?;
        }
        "ActivityCheckedIn" => {
            let Some(a) = decode::<care::ActivityCheckedIn>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO care_participants (activity_id, person_id) VALUES ($1, $2) \
                 ON CONFLICT (activity_id, person_id) DO NOTHING",
            )
            .bind(a.activity_id)
            .bind(a.person_id)
            .execute(&mut **tx)
            .await?;
        }
        "ActivityCancelled" => {
            let Some(a) = decode::<care::ActivityCancelled>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE care_activities SET cancelled = 1 WHERE activity_id = $1")
                .bind(a.activity_id)
                .execute(&mut **tx)
                .await?;
        }
        "HardshipApplied" => {
            let Some(h) = decode::<care::HardshipApplied>(e) else {
                return Ok(());
            };
            let category = care::HardshipCategory::try_from(h.category)
                .map(|c| wire_name(c.as_str_name(), "HARDSHIP_CATEGORY_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO hardship_cases (case_id, category, approved, support_fen) \
                 VALUES ($1, $2, 0, 0) ON CONFLICT (case_id) DO NOTHING",
            )
            .bind(h.case_id)
            .bind(category)
            .execute(&mut **tx)
            .await?;
        }
        "HardshipStepRecorded" => {
            let Some(h) = decode::<care::HardshipStepRecorded>(e) else {
                return Ok(());
            };
            if h.step == care::HardshipStep::Approval as i32 && h.passed {
                sqlx::query("UPDATE hardship_cases SET approved = 1 WHERE case_id = $1")
                    .bind(h.case_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        "HardshipSupportGiven" => {
            let Some(h) = decode::<care::HardshipSupportGiven>(e) else {
                return Ok(());
            };
            sqlx::query(
                "UPDATE hardship_cases SET support_fen = support_fen + $2 WHERE case_id = $1",
            )
            .bind(h.case_id)
            .bind(h.support.map_or(0, |s| s.amount_fen))
            .execute(&mut **tx)
            .await?;
        }
        "CampaignOpened" => {
            let Some(c) = decode::<care::CampaignOpened>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO supply_campaigns (campaign_id, name, handed_out, value_handed_out_fen) \
                 VALUES ($1, $2, 0, 0) ON CONFLICT (campaign_id) DO NOTHING",
            )
            .bind(c.campaign_id)
            .bind(c.name)
            .execute(&mut **tx)
            .await?;
        }
        "CampaignHandedOut" => {
            let Some(c) = decode::<care::CampaignHandedOut>(e) else {
                return Ok(());
            };
            sqlx::query(
                "UPDATE supply_campaigns SET handed_out = handed_out + $2, \
                 value_handed_out_fen = value_handed_out_fen + $3 WHERE campaign_id = $1",
            )
            .bind(c.campaign_id)
            .bind(c.quantity)
            .bind(c.value_fen)
            .execute(&mut **tx)
            .await?;
        }
        "MicroWishReceived" | "MicroWishClaimed" | "MicroWishReleased" | "MicroWishFulfilled" => {
            let (wish_id, state) = match e.event_type.as_str() {
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
            }
            .unzip();
            let (Some(wish_id), Some(state)) = (wish_id, state) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO micro_wishes (wish_id, state) VALUES ($1, $2) \
                 ON CONFLICT (wish_id) DO UPDATE SET state = excluded.state",
            )
            .bind(wish_id)
            .bind(state)
            .execute(&mut **tx)
            .await?;
        }
        _ => not_projected(tx, e).await?,
    }
    Ok(())
}

/// The grid context's read models.
async fn grid_models(tx: &mut Transaction<'_, Any>, e: &EventEnvelope) -> Result<(), sqlx::Error> {
    match e.event_type.as_str() {
        "GridDefined" => {
            let Some(g) = decode::<grid::GridDefined>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO grids (grid_id, name, community_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (grid_id) DO UPDATE SET name = excluded.name, \
                 community_id = excluded.community_id",
            )
            .bind(g.grid_id)
            .bind(g.name)
            .bind(g.community_id)
            .execute(&mut **tx)
            .await?;
        }
        "GridWorkerChanged" => {
            let Some(w) = decode::<grid::GridWorkerChanged>(e) else {
                return Ok(());
            };
            let state = grid::WorkerState::try_from(w.state)
                .map(|s| wire_name(s.as_str_name(), "WORKER_STATE_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "INSERT INTO grid_workers (person_id, state) VALUES ($1, $2) \
                 ON CONFLICT (person_id) DO UPDATE SET state = excluded.state",
            )
            .bind(w.person_id)
            .bind(state)
            .execute(&mut **tx)
            .await?;
        }
        "CaseReported" => {
            let Some(c) = decode::<grid::CaseReported>(e) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO cases (case_id, category, grid_id, by_grid_worker, state, reported_at, \
                 escalated, reopened, rating) VALUES ($1, $2, $3, $4, 'reported', $5, 0, 0, 0) \
                 ON CONFLICT (case_id) DO NOTHING",
            )
            .bind(c.case_id)
            .bind(c.category)
            .bind(c.grid_id)
            .bind(i32::from(c.by_grid_worker))
            .bind(fixed_time(&c.reported_at))
            .execute(&mut **tx)
            .await?;
        }
        "CaseProgressed" => {
            let Some(c) = decode::<grid::CaseProgressed>(e) else {
                return Ok(());
            };
            let state = grid::CaseState::try_from(c.state)
                .map(|s| wire_name(s.as_str_name(), "CASE_STATE_"))
                .unwrap_or_else(|_| "unknown".to_owned());
            sqlx::query(
                "UPDATE cases SET \
                 reopened = reopened + CASE WHEN state = 'resolved' AND $2 = 'dispatched' THEN 1 ELSE 0 END, \
                 resolved_at = CASE WHEN $2 = 'resolved' THEN $3 \
                                    WHEN $2 = 'dispatched' THEN NULL ELSE resolved_at END, \
                 due_at = CASE WHEN $4 <> '' THEN $4 ELSE due_at END, \
                 department = CASE WHEN $5 <> '' THEN $5 ELSE department END, \
                 dispatched_at = CASE WHEN $2 = 'dispatched' THEN COALESCE(dispatched_at, $3) ELSE dispatched_at END, \
                 acknowledged_at = CASE WHEN $2 = 'acknowledged' THEN COALESCE(acknowledged_at, $3) ELSE acknowledged_at END, \
                 closed_at = CASE WHEN $2 = 'closed' THEN $3 ELSE closed_at END, \
                 state = $2 WHERE case_id = $1",
            )
            .bind(c.case_id)
            .bind(state)
            .bind(fixed_time(&c.at))
            .bind(fixed_time(&c.due_at))
            .bind(c.department)
            .execute(&mut **tx)
            .await?;
        }
        "CaseEscalated" => {
            let Some(c) = decode::<grid::CaseEscalated>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE cases SET escalated = 1 WHERE case_id = $1")
                .bind(c.case_id)
                .execute(&mut **tx)
                .await?;
        }
        "CaseRated" => {
            let Some(c) = decode::<grid::CaseRated>(e) else {
                return Ok(());
            };
            sqlx::query("UPDATE cases SET rating = $2 WHERE case_id = $1")
                .bind(c.case_id)
                .bind(i64::from(c.rating))
                .execute(&mut **tx)
                .await?;
        }
        _ => not_projected(tx, e).await?,
    }
    Ok(())
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

/// The latest status of one of the HR bureau's records.
async fn hr_record(
    tx: &mut Transaction<'_, Any>,
    kind: &str,
    person_id: &str,
    record_id: &str,
    status: &str,
    amount_fen: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO hr_records (kind, person_id, record_id, status, amount_fen) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, person_id, record_id) \
         DO UPDATE SET status = excluded.status, amount_fen = excluded.amount_fen",
    )
    .bind(kind.to_owned())
    .bind(person_id.to_owned())
    .bind(record_id.to_owned())
    .bind(status.to_owned())
    .bind(amount_fen)
    .execute(&mut **tx)
    .await?;
    Ok(())
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
