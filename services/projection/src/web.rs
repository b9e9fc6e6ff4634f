//! The dashboard's HTTP side: the page and its JSON.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{Stream, StreamExt as _};
use hongxin_runtime::Shutdown;
use serde::Serialize;

use crate::{Freshness, Projection};

const PAGE: &str = include_str!("../web/index.html");

/// The page and its data: `/`, `/api/v1/overview` (every figure),
/// `/api/v1/live` (server-sent events when figures change, until
/// `shutdown`), `/api/v1/tables` and `/api/v1/tables/{name}.csv|.xlsx`
/// (the tables for download).
pub fn routes(projection: Projection, shutdown: Shutdown) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/assets/echarts.min.js", get(echarts))
        .route("/api/v1/overview", get(overview))
        .route("/api/v1/live", get(live))
        .route("/api/v1/tables", get(crate::tables::list))
        .route("/api/v1/tables/{file}", get(crate::tables::download))
        .with_state(Web {
            projection,
            shutdown,
        })
}

/// What the handlers share.
#[derive(Clone, Debug)]
pub(crate) struct Web {
    pub(crate) projection: Projection,
    shutdown: Shutdown,
}

/// A `changed` event with every context's freshness now, then one after
/// each change of the read models (bursts coalesced), until shutdown.
async fn live(State(web): State<Web>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = web
        .projection
        .freshness_updates()
        .map(|contexts| {
            let data = serde_json::json!({ "contexts": contexts });
            Ok(Event::default().event("changed").data(data.to_string()))
        })
        .take_until(web.shutdown.wait());
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Apache ECharts, vendored (`make vendor`), so the page needs no internet.
const ECHARTS: &[u8] = include_bytes!("../web/vendor/echarts.min.js");

async fn echarts() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/javascript"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ECHARTS,
    )
        .into_response()
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

#[derive(Serialize)]
pub(crate) struct Overview {
    contexts: Vec<ContextStatus>,
    events: Vec<EventCount>,
    committees_by_industry: Vec<IndustryCount>,
    enterprises_by_industry: Vec<EnterpriseFigures>,
    enterprises_by_community: Vec<CommunityFigures>,
    party_organizations_by_kind: Vec<KindCount>,
    coverage: Coverage,
    report_stations: ReportStations,
    vanguard: Vanguard,
    people: People,
    people_by_industry: Vec<PeopleFigures>,
    hr: HrFigures,
    policy: Vec<PolicyCount>,
    governance: Governance,
    development: Development,
    capability: Capability,
    service: Service,
    mechanism: Mechanism,
    cases_by_category: Vec<CaseFigures>,
    case_metrics: Vec<CaseMetrics>,
    cases_by_grid: Vec<GridFigures>,
    by_month: Vec<MonthFigures>,
    /// Event types a context's contract does not know: reported, not
    /// projected (empty when all is well).
    unknown_event_types: Vec<UnknownEvents>,
}

#[derive(Serialize, sqlx::FromRow)]
struct UnknownEvents {
    context: String,
    event_type: String,
    events: i64,
    first_position: i64,
}

/// The standard metrics of one category at one department.
#[derive(Serialize, Debug, PartialEq)]
struct CaseMetrics {
    category: String,
    department: String,
    /// Dispatched to this department.
    cases: i64,
    /// 响应率: acknowledged of dispatched, percent.
    response_rate: f64,
    /// 解决率: resolved or closed of dispatched, percent.
    resolution_rate: f64,
    /// 满意率: rated 4 or 5 of rated, percent.
    satisfaction_rate: f64,
    /// Resolved by the due moment, of resolved, percent.
    sla_attainment: f64,
    /// Reopened at least once, of resolved, percent.
    reopen_rate: f64,
    hours_to_acknowledge_median: Option<f64>,
    hours_to_acknowledge_p90: Option<f64>,
    hours_to_close_median: Option<f64>,
    hours_to_close_p90: Option<f64>,
}

/// One dispatched case's times, as stored.
#[derive(sqlx::FromRow)]
struct CaseTimes {
    category: String,
    department: String,
    state: String,
    reported_at: String,
    dispatched_at: Option<String>,
    acknowledged_at: Option<String>,
    resolved_at: Option<String>,
    closed_at: Option<String>,
    due_at: Option<String>,
    reopened: i64,
    rating: i64,
}

/// The nearest-rank percentile `q` (0–1) of `values`, one decimal.
fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some((values[rank - 1] * 10.0).round() / 10.0)
}

fn hours_between(from: &str, to: &str) -> Option<f64> {
    let from = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let to = chrono::DateTime::parse_from_rfc3339(to).ok()?;
    Some((to - from).num_seconds() as f64 / 3600.0)
}

fn case_metrics(rows: Vec<CaseTimes>) -> Vec<CaseMetrics> {
    let mut groups: std::collections::BTreeMap<(String, String), Vec<CaseTimes>> =
        std::collections::BTreeMap::new();
    for r in rows {
        groups
            .entry((r.category.clone(), r.department.clone()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((category, department), cases)| {
            let n = cases.len() as i64;
            let count =
                |f: &dyn Fn(&CaseTimes) -> bool| cases.iter().filter(|c| f(c)).count() as i64;
            let resolved = count(&|c| matches!(c.state.as_str(), "resolved" | "closed"));
            let rated = count(&|c| c.rating > 0);
            let mut to_ack: Vec<f64> = cases
                .iter()
                .filter_map(|c| {
                    hours_between(c.dispatched_at.as_deref()?, c.acknowledged_at.as_deref()?)
                })
                .collect();
            let mut to_close: Vec<f64> = cases
                .iter()
                .filter_map(|c| hours_between(&c.reported_at, c.closed_at.as_deref()?))
                .collect();
            CaseMetrics {
                response_rate: percent(count(&|c| c.acknowledged_at.is_some()), n),
                resolution_rate: percent(resolved, n),
                satisfaction_rate: percent(count(&|c| c.rating >= 4), rated),
                sla_attainment: percent(
                    count(&|c| {
                        matches!(c.state.as_str(), "resolved" | "closed")
                            && c.resolved_at.is_some()
                            && c.resolved_at <= c.due_at
                    }),
                    resolved,
                ),
                reopen_rate: percent(
                    count(&|c| c.reopened > 0 && matches!(c.state.as_str(), "resolved" | "closed")),
                    resolved,
                ),
                hours_to_acknowledge_median: percentile(&mut to_ack, 0.5),
                hours_to_acknowledge_p90: percentile(&mut to_ack, 0.9),
                hours_to_close_median: percentile(&mut to_close, 0.5),
                hours_to_close_p90: percentile(&mut to_close, 0.9),
                category,
                department,
                cases: n,
            }
        })
        .collect()
}

/// The mechanism leads: grid workers and snap-and-report cases.
#[derive(Serialize, sqlx::FromRow)]
struct Mechanism {
    /// Part-time grid workers appointed now.
    grid_workers: i64,
    cases: i64,
    /// Reported by grid workers (the rest by citizens).
    cases_by_grid_workers: i64,
    /// Resolved or closed.
    cases_resolved: i64,
    /// Resolved by the due moment.
    cases_within_sla: i64,
    cases_escalated: i64,
    cases_reopened: i64,
    /// Of those with a place to be, percent.
    #[sqlx(skip)]
    sla_attainment: f64,
}

#[derive(Serialize, sqlx::FromRow)]
struct CaseFigures {
    category: String,
    cases: i64,
    resolved: i64,
}

/// The service leads: figures from the care context.
#[derive(Serialize, sqlx::FromRow)]
struct Service {
    requests: i64,
    requests_completed: i64,
    /// Completed by the promised day.
    requests_on_time: i64,
    /// Open past the promised day, or completed after it.
    requests_overdue: i64,
    /// 红色CGO: cadres posted to enterprises now (each cadre once).
    posted_cadres: i64,
    problems_raised: i64,
    problems_solved: i64,
    activities_held: i64,
    /// People checked in, each once per activity.
    activity_participants: i64,
    hardship_cases_approved: i64,
    hardship_support_fen: i64,
    supplies_value_fen: i64,
    wishes: i64,
    wishes_fulfilled: i64,
}

/// The capability leads beyond the funnel: pairs, training, theme Party
/// days, posts.
#[derive(Serialize, sqlx::FromRow)]
struct Capability {
    /// Pairs still going.
    development_pairs: i64,
    cultivation_pairs: i64,
    training_sessions: i64,
    /// Person-sessions: someone at two sessions counts twice.
    training_attendances: i64,
    party_days_held: i64,
    party_day_attendances: i64,
    news_posts: i64,
    history_posts: i64,
    reflections: i64,
    micro_wishes: i64,
}

/// The development funnel: candidates by stage.
#[derive(Serialize, sqlx::FromRow)]
struct Development {
    applicants: i64,
    activists: i64,
    development_targets: i64,
    probationary: i64,
    full: i64,
    cancelled: i64,
    /// Next steps with a due day, by the pipeline's rules: not yet due, and
    /// past their day (Asia/Shanghai).
    #[sqlx(skip)]
    steps_due: i64,
    #[sqlx(skip)]
    steps_overdue: i64,
    #[sqlx(skip)]
    due_by_step: Vec<StepDue>,
}

/// One step's next-step counts across candidates.
#[derive(Serialize, sqlx::FromRow)]
struct StepDue {
    step: String,
    due: i64,
    overdue: i64,
}

/// Measures, actions and standing systems in force.
#[derive(Serialize, sqlx::FromRow)]
struct PolicyCount {
    kind: String,
    in_force: i64,
}

/// The governance calendar of the current year (Asia/Shanghai), and of
/// each earlier year in which a duty was held.
#[derive(Serialize)]
struct Governance {
    year: i32,
    duties: Vec<DutyFigures>,
    /// Each duty of each earlier year, newest year first, every period of
    /// them ended.
    earlier: Vec<EarlierDuty>,
}

#[derive(Serialize)]
struct EarlierDuty {
    year: i32,
    #[serde(flatten)]
    duty: DutyFigures,
}

/// One duty: held in the year, periods ended so far, ended without it.
#[derive(Serialize)]
struct DutyFigures {
    kind: &'static str,
    held: i64,
    due: i64,
    overdue: i64,
}

/// Labels of the periods of `year` of a duty every `months` that ended
/// before `today` ("2022-05", "2022-Q2", "2022-H1"): all of them for an
/// earlier year.
fn ended_periods(months: u32, year: i32, today: chrono::NaiveDate) -> Vec<String> {
    use chrono::Datelike as _;
    (0..12 / months)
        .filter(|i| {
            year < today.year() || (year == today.year() && (i + 1) * months <= today.month0())
        })
        .map(|i| match months {
            1 => format!("{year}-{:02}", i + 1),
            3 => format!("{year}-Q{}", i + 1),
            _ => format!("{year}-H{}", i + 1),
        })
        .collect()
}

/// Each duty's figures in `year`, from the periods in which it was held.
fn duties_of(held: &[(String, String)], year: i32, today: chrono::NaiveDate) -> Vec<DutyFigures> {
    let prefix = format!("{year}-");
    [
        ("joint_meeting", 1),
        ("field_research", 3),
        ("department_report", 6),
    ]
    .into_iter()
    .map(|(kind, months)| {
        let periods: Vec<&String> = held
            .iter()
            .filter(|(k, p)| k == kind && p.starts_with(&prefix))
            .map(|(_, p)| p)
            .collect();
        let ended = ended_periods(months, year, today);
        let overdue = ended.iter().filter(|p| !periods.contains(p)).count();
        DutyFigures {
            kind,
            held: periods.len() as i64,
            due: ended.len() as i64,
            overdue: overdue as i64,
        }
    })
    .collect()
}

async fn governance(
    pool: &sqlx::AnyPool,
    today: chrono::NaiveDate,
) -> Result<Governance, sqlx::Error> {
    use chrono::Datelike as _;
    let year = today.year();
    let held: Vec<(String, String)> = sqlx::query_as("SELECT kind, period FROM governance_duties")
        .fetch_all(pool)
        .await?;
    let mut years: Vec<i32> = held
        .iter()
        .filter_map(|(_, p)| p.get(..4)?.parse().ok())
        .filter(|y| *y < year)
        .collect();
    years.sort_unstable_by(|a, b| b.cmp(a));
    years.dedup();
    Ok(Governance {
        year,
        duties: duties_of(&held, year, today),
        earlier: years
            .into_iter()
            .flat_map(|y| {
                duties_of(&held, y, today)
                    .into_iter()
                    .map(move |duty| EarlierDuty { year: y, duty })
            })
            .collect(),
    })
}

/// The people registry by category (erased people still count: only their
/// personal data is gone).
#[derive(Serialize, sqlx::FromRow)]
struct People {
    registered: i64,
    full_members: i64,
    probationary_members: i64,
    /// Applicants, activists and development targets.
    in_pipeline: i64,
    union_members: i64,
    mobile_members: i64,
}

/// What the HR bureau reports of the county's workers (imported records,
/// each at its latest status), and what hongxin filed with it for them.
#[derive(Serialize, sqlx::FromRow)]
struct HrFigures {
    /// Applications for 灵活就业登记 filed through hongxin.
    employment_filings: i64,
    /// Accidents on the job reported through hongxin 职业伤害报案.
    accidents_reported: i64,
    /// Training certificates 结业证书 issued.
    training_certificates: i64,
    /// 灵活就业登记, not cancelled.
    employment_registered: i64,
    /// 职业伤害保障 enrolments.
    injury_protection_enrolled: i64,
    injury_claims_reported: i64,
    injury_claims_paid: i64,
    injury_claims_paid_fen: i64,
    training_subsidies_paid: i64,
    training_subsidies_paid_fen: i64,
}

#[derive(Serialize, sqlx::FromRow)]
struct PeopleFigures {
    industry: String,
    people: i64,
    /// Full and probationary members.
    members: i64,
    union_members: i64,
}

/// Vanguard sites and convention signatures.
#[derive(Serialize, sqlx::FromRow)]
struct Vanguard {
    /// 党员示范站点
    demonstration_stations: i64,
    /// 红齐先锋岗
    vanguard_posts: i64,
    convention_signatures: i64,
    /// 亮身份: members showing their identity.
    identity_shows: i64,
    /// 亮标识: members' vehicles with the marking.
    vehicle_markings: i64,
    /// 亮承诺: enterprises with a commitment.
    enterprise_commitments: i64,
}

/// Mobile-member report stations 流动党员报到站.
#[derive(Serialize, sqlx::FromRow)]
struct ReportStations {
    stations: i64,
    /// Mobile members checked in now.
    members: i64,
}

#[derive(Serialize, sqlx::FromRow)]
struct KindCount {
    kind: String,
    organizations: i64,
}

/// Coverage of the new-economy units by Party organisations.
#[derive(Serialize, sqlx::FromRow)]
struct Coverage {
    enterprises: i64,
    /// Covered by their own branch or a joint branch.
    covered: i64,
    own_branch: i64,
    /// Units with at least one full or probationary member.
    with_members: i64,
    with_members_covered: i64,
    /// Uncovered units with a Party-building instructor 党建指导员.
    instructed: i64,
    /// 组织覆盖率, percent.
    #[sqlx(skip)]
    organization_rate: f64,
    /// 单独组建率, percent.
    #[sqlx(skip)]
    own_branch_rate: f64,
    /// Share of units with members that are covered, percent.
    #[sqlx(skip)]
    member_units_rate: f64,
    /// 工作覆盖率: covered by an organisation or an instructor, percent.
    #[sqlx(skip)]
    work_coverage_rate: f64,
}

/// `part` of `whole` in percent, one decimal; 0 when there is no whole.
fn percent(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// Units of one industry and the Party members working in them.
#[derive(Serialize, sqlx::FromRow)]
struct EnterpriseFigures {
    industry: String,
    enterprises: i64,
    workers: i64,
    full_members: i64,
    /// Units with at least one full or probationary member.
    with_members: i64,
}

#[derive(Serialize, sqlx::FromRow)]
struct CommunityFigures {
    community: String,
    enterprises: i64,
    workers: i64,
}

#[derive(Serialize)]
struct ContextStatus {
    context: String,
    #[serde(flatten)]
    freshness: Freshness,
}

#[derive(Serialize, sqlx::FromRow)]
struct EventCount {
    context: String,
    event_type: String,
    events: i64,
}

#[derive(Serialize, sqlx::FromRow)]
struct IndustryCount {
    industry: String,
    committees: i64,
}

async fn overview(State(web): State<Web>) -> Result<Json<Overview>, StatusCode> {
    compute(&web.projection).await.map(Json).map_err(|e| {
        tracing::warn!(error = %e, "overview query failed");
        StatusCode::SERVICE_UNAVAILABLE
    })
}

/// Every figure of the dashboard, from the read models.
pub(crate) async fn compute(p: &Projection) -> Result<Overview, sqlx::Error> {
    let pool = p.pool();
    let events: Vec<EventCount> = sqlx::query_as(
        "SELECT context, event_type, events FROM event_counts ORDER BY context, event_type",
    )
    .fetch_all(&pool)
    .await?;
    let committees_by_industry: Vec<IndustryCount> = sqlx::query_as(
        "SELECT industry, COUNT(*) AS committees FROM committees GROUP BY industry ORDER BY industry",
    )
    .fetch_all(&pool)
    .await?;
    let enterprises_by_industry: Vec<EnterpriseFigures> = sqlx::query_as(
        "SELECT industry, COUNT(*) AS enterprises, CAST(COALESCE(SUM(workers), 0) AS BIGINT) AS workers, \
         CAST(COALESCE(SUM(full_members), 0) AS BIGINT) AS full_members, \
         CAST(COALESCE(SUM(CASE WHEN full_members + probationary_members > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS with_members \
         FROM enterprises GROUP BY industry ORDER BY industry",
    )
    .fetch_all(&pool)
    .await?;
    let enterprises_by_community: Vec<CommunityFigures> = sqlx::query_as(
        "SELECT COALESCE(c.name, e.community_id) AS community, COUNT(*) AS enterprises, \
         CAST(COALESCE(SUM(e.workers), 0) AS BIGINT) AS workers \
         FROM enterprises e LEFT JOIN communities c ON c.community_id = e.community_id \
         GROUP BY COALESCE(c.name, e.community_id) ORDER BY community",
    )
    .fetch_all(&pool)
    .await?;
    let party_organizations_by_kind: Vec<KindCount> = sqlx::query_as(
        "SELECT kind, COUNT(*) AS organizations FROM party_organizations GROUP BY kind ORDER BY kind",
    )
    .fetch_all(&pool)
    .await?;
    let mut coverage: Coverage = sqlx::query_as(
        "SELECT COUNT(*) AS enterprises, \
         CAST(COALESCE(SUM(CASE WHEN c.enterprise_id IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS covered, \
         CAST(COALESCE(SUM(CASE WHEN c.kind = 'branch' THEN 1 ELSE 0 END), 0) AS BIGINT) AS own_branch, \
         CAST(COALESCE(SUM(CASE WHEN e.full_members + e.probationary_members > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS with_members, \
         CAST(COALESCE(SUM(CASE WHEN e.full_members + e.probationary_members > 0 AND c.enterprise_id IS NOT NULL \
              THEN 1 ELSE 0 END), 0) AS BIGINT) AS with_members_covered, \
         CAST(COALESCE(SUM(CASE WHEN c.enterprise_id IS NULL AND e.instructor_person_id IS NOT NULL \
              THEN 1 ELSE 0 END), 0) AS BIGINT) AS instructed \
         FROM enterprises e LEFT JOIN coverage c ON c.enterprise_id = e.enterprise_id",
    )
    .fetch_one(&pool)
    .await?;
    coverage.organization_rate = percent(coverage.covered, coverage.enterprises);
    coverage.own_branch_rate = percent(coverage.own_branch, coverage.enterprises);
    coverage.member_units_rate = percent(coverage.with_members_covered, coverage.with_members);
    coverage.work_coverage_rate =
        percent(coverage.covered + coverage.instructed, coverage.enterprises);
    let people: People = sqlx::query_as(
        "SELECT COUNT(*) AS registered, \
         CAST(COALESCE(SUM(CASE WHEN party_status = 'full' THEN 1 ELSE 0 END), 0) AS BIGINT) AS full_members, \
         CAST(COALESCE(SUM(CASE WHEN party_status = 'probationary' THEN 1 ELSE 0 END), 0) AS BIGINT) AS probationary_members, \
         CAST(COALESCE(SUM(CASE WHEN party_status IN ('applicant', 'activist', 'development_target') \
              THEN 1 ELSE 0 END), 0) AS BIGINT) AS in_pipeline, \
         CAST(COALESCE(SUM(union_member), 0) AS BIGINT) AS union_members, \
         CAST(COALESCE(SUM(mobile_member), 0) AS BIGINT) AS mobile_members \
         FROM people",
    )
    .fetch_one(&pool)
    .await?;
    let people_by_industry: Vec<PeopleFigures> = sqlx::query_as(
        "SELECT industry, COUNT(*) AS people, \
         CAST(COALESCE(SUM(CASE WHEN party_status IN ('full', 'probationary') THEN 1 ELSE 0 END), 0) AS BIGINT) AS members, \
         CAST(COALESCE(SUM(union_member), 0) AS BIGINT) AS union_members \
         FROM people GROUP BY industry ORDER BY industry",
    )
    .fetch_all(&pool)
    .await?;
    let hr: HrFigures = sqlx::query_as(
        "SELECT \
         CAST(COALESCE(SUM(CASE WHEN kind = 'employment_filing' THEN 1 ELSE 0 END), 0) AS BIGINT) AS employment_filings, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'accident_report' THEN 1 ELSE 0 END), 0) AS BIGINT) AS accidents_reported, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'training_certificate' THEN 1 ELSE 0 END), 0) AS BIGINT) AS training_certificates, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'employment' AND status = 'registered' THEN 1 ELSE 0 END), 0) AS BIGINT) AS employment_registered, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'injury_protection' THEN 1 ELSE 0 END), 0) AS BIGINT) AS injury_protection_enrolled, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'injury_claim' THEN 1 ELSE 0 END), 0) AS BIGINT) AS injury_claims_reported, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'injury_claim' AND status = 'paid' THEN 1 ELSE 0 END), 0) AS BIGINT) AS injury_claims_paid, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'injury_claim' AND status = 'paid' THEN amount_fen ELSE 0 END), 0) AS BIGINT) AS injury_claims_paid_fen, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'training_subsidy' AND status = 'paid' THEN 1 ELSE 0 END), 0) AS BIGINT) AS training_subsidies_paid, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'training_subsidy' AND status = 'paid' THEN amount_fen ELSE 0 END), 0) AS BIGINT) AS training_subsidies_paid_fen \
         FROM hr_records",
    )
    .fetch_one(&pool)
    .await?;
    let report_stations: ReportStations = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM report_stations) AS stations, \
         (SELECT COUNT(*) FROM station_members) AS members",
    )
    .fetch_one(&pool)
    .await?;
    let vanguard: Vanguard = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM vanguard_sites WHERE kind = 'demonstration_station') AS demonstration_stations, \
         (SELECT COUNT(*) FROM vanguard_sites WHERE kind = 'vanguard_post') AS vanguard_posts, \
         (SELECT COUNT(*) FROM convention_signatures) AS convention_signatures, \
         (SELECT COUNT(*) FROM vanguard_shows WHERE show = 'identity') AS identity_shows, \
         (SELECT COUNT(*) FROM vanguard_shows WHERE show = 'vehicle_marking') AS vehicle_markings, \
         (SELECT COUNT(*) FROM vanguard_shows WHERE show = 'commitment') AS enterprise_commitments",
    )
    .fetch_one(&pool)
    .await?;
    let policy: Vec<PolicyCount> = sqlx::query_as(
        "SELECT kind, COUNT(*) AS in_force FROM policy_items WHERE retired_on IS NULL \
         GROUP BY kind ORDER BY kind",
    )
    .fetch_all(&pool)
    .await?;
    let development: Development = sqlx::query_as(
        "SELECT \
         CAST(COALESCE(SUM(CASE WHEN stage = 'applicant' THEN 1 ELSE 0 END), 0) AS BIGINT) AS applicants, \
         CAST(COALESCE(SUM(CASE WHEN stage = 'activist' THEN 1 ELSE 0 END), 0) AS BIGINT) AS activists, \
         CAST(COALESCE(SUM(CASE WHEN stage = 'development_target' THEN 1 ELSE 0 END), 0) AS BIGINT) AS development_targets, \
         CAST(COALESCE(SUM(CASE WHEN stage = 'probationary' THEN 1 ELSE 0 END), 0) AS BIGINT) AS probationary, \
         CAST(COALESCE(SUM(CASE WHEN stage = 'full' THEN 1 ELSE 0 END), 0) AS BIGINT) AS full, \
         CAST(COALESCE(SUM(CASE WHEN stage = 'cancelled' THEN 1 ELSE 0 END), 0) AS BIGINT) AS cancelled \
         FROM candidates",
    )
    .fetch_one(&pool)
    .await?;
    let today_text =
        hongxin_domain::time::format_day(hongxin_domain::time::beijing_today(chrono::Utc::now()));
    let mut development = development;
    development.due_by_step = sqlx::query_as(
        "SELECT step, \
         CAST(COALESCE(SUM(CASE WHEN due_on >= $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS due, \
         CAST(COALESCE(SUM(CASE WHEN due_on < $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS overdue \
         FROM candidate_due GROUP BY step ORDER BY step",
    )
    .bind(&today_text)
    .fetch_all(&pool)
    .await?;
    development.steps_due = development.due_by_step.iter().map(|s| s.due).sum();
    development.steps_overdue = development.due_by_step.iter().map(|s| s.overdue).sum();
    let capability: Capability = sqlx::query_as(
        "SELECT \
         (SELECT COUNT(*) FROM pairs WHERE kind = 'development' AND ended_on IS NULL) AS development_pairs, \
         (SELECT COUNT(*) FROM pairs WHERE kind = 'cultivation' AND ended_on IS NULL) AS cultivation_pairs, \
         (SELECT COUNT(*) FROM training_sessions) AS training_sessions, \
         (SELECT COUNT(*) FROM training_attendance) AS training_attendances, \
         (SELECT COUNT(*) FROM party_days WHERE held_on IS NOT NULL) AS party_days_held, \
         (SELECT CAST(COALESCE(SUM(attendees), 0) AS BIGINT) FROM party_days) AS party_day_attendances, \
         (SELECT COUNT(*) FROM posts WHERE kind = 'news') AS news_posts, \
         (SELECT COUNT(*) FROM posts WHERE kind = 'history') AS history_posts, \
         (SELECT COUNT(*) FROM posts WHERE kind = 'reflection') AS reflections, \
         (SELECT COUNT(*) FROM posts WHERE kind = 'micro_wish') AS micro_wishes",
    )
    .fetch_one(&pool)
    .await?;
    let mut mechanism: Mechanism = sqlx::query_as(
        "SELECT \
         (SELECT COUNT(*) FROM grid_workers WHERE state = 'appointed') AS grid_workers, \
         (SELECT COUNT(*) FROM cases WHERE state NOT IN ('rejected', 'merged')) AS cases, \
         (SELECT COUNT(*) FROM cases WHERE by_grid_worker = 1 AND state NOT IN ('rejected', 'merged')) AS cases_by_grid_workers, \
         (SELECT COUNT(*) FROM cases WHERE state IN ('resolved', 'closed')) AS cases_resolved, \
         (SELECT COUNT(*) FROM cases WHERE state IN ('resolved', 'closed') AND resolved_at <= due_at) AS cases_within_sla, \
         (SELECT COUNT(*) FROM cases WHERE escalated = 1) AS cases_escalated, \
         (SELECT COUNT(*) FROM cases WHERE reopened > 0) AS cases_reopened",
    )
    .fetch_one(&pool)
    .await?;
    mechanism.sla_attainment = percent(mechanism.cases_within_sla, mechanism.cases_resolved);
    let cases_by_category: Vec<CaseFigures> = sqlx::query_as(
        "SELECT category, COUNT(*) AS cases, \
         CAST(COALESCE(SUM(CASE WHEN state IN ('resolved', 'closed') THEN 1 ELSE 0 END), 0) AS BIGINT) AS resolved \
         FROM cases WHERE state NOT IN ('rejected', 'merged') GROUP BY category ORDER BY category",
    )
    .fetch_all(&pool)
    .await?;
    let times: Vec<CaseTimes> = sqlx::query_as(
        "SELECT category, COALESCE(department, '') AS department, state, reported_at, dispatched_at, \
         acknowledged_at, resolved_at, closed_at, due_at, reopened, rating \
         FROM cases WHERE dispatched_at IS NOT NULL",
    )
    .fetch_all(&pool)
    .await?;
    let case_metrics = case_metrics(times);
    let today = hongxin_domain::time::beijing_today(chrono::Utc::now());
    let service: Service = sqlx::query_as(
        "SELECT \
         (SELECT COUNT(*) FROM service_requests) AS requests, \
         (SELECT COUNT(*) FROM service_requests WHERE state = 'completed') AS requests_completed, \
         (SELECT COUNT(*) FROM service_requests WHERE state = 'completed' AND closed_on <= due_on) AS requests_on_time, \
         (SELECT COUNT(*) FROM service_requests WHERE (state = 'completed' AND closed_on > due_on) \
              OR (state IN ('filed', 'accepted') AND due_on < $1)) AS requests_overdue, \
         (SELECT COUNT(DISTINCT cadre_person_id) FROM cadre_postings WHERE ended_on IS NULL) AS posted_cadres, \
         (SELECT COUNT(*) FROM enterprise_problems) AS problems_raised, \
         (SELECT COUNT(*) FROM enterprise_problems WHERE state = 'solved') AS problems_solved, \
         (SELECT COUNT(*) FROM care_activities WHERE cancelled = 0) AS activities_held, \
         (SELECT COUNT(*) FROM care_participants) AS activity_participants, \
         (SELECT COUNT(*) FROM hardship_cases WHERE approved = 1) AS hardship_cases_approved, \
         (SELECT CAST(COALESCE(SUM(support_fen), 0) AS BIGINT) FROM hardship_cases) AS hardship_support_fen, \
         (SELECT CAST(COALESCE(SUM(value_handed_out_fen), 0) AS BIGINT) FROM supply_campaigns) AS supplies_value_fen, \
         (SELECT COUNT(*) FROM micro_wishes) AS wishes, \
         (SELECT COUNT(*) FROM micro_wishes WHERE state = 'fulfilled') AS wishes_fulfilled",
    )
    .bind(hongxin_domain::time::format_day(today))
    .fetch_one(&pool)
    .await?;
    let governance = governance(&pool, today).await?;
    let contexts = p
        .freshness()
        .into_iter()
        .map(|(context, freshness)| ContextStatus { context, freshness })
        .collect();
    let by_month = by_month(&pool).await?;
    let cases_by_grid: Vec<GridFigures> = sqlx::query_as(
        "SELECT c.grid_id, COALESCE(g.name, '') AS grid, COALESCE(m.name, '') AS community, \
         COUNT(*) AS cases, \
         CAST(COALESCE(SUM(CASE WHEN c.state IN ('resolved', 'closed') THEN 1 ELSE 0 END), 0) AS BIGINT) AS solved \
         FROM cases c LEFT JOIN grids g ON g.grid_id = c.grid_id \
         LEFT JOIN communities m ON m.community_id = g.community_id \
         WHERE c.state NOT IN ('rejected', 'merged') AND c.grid_id <> '' \
         GROUP BY c.grid_id, g.name, m.name ORDER BY cases DESC, c.grid_id",
    )
    .fetch_all(&pool)
    .await?;
    let unknown_event_types: Vec<UnknownEvents> = sqlx::query_as(
        "SELECT context, event_type, events, first_position FROM unknown_events \
         ORDER BY context, event_type",
    )
    .fetch_all(&pool)
    .await?;
    Ok(Overview {
        contexts,
        events,
        committees_by_industry,
        enterprises_by_industry,
        enterprises_by_community,
        party_organizations_by_kind,
        coverage,
        report_stations,
        vanguard,
        people,
        people_by_industry,
        hr,
        policy,
        governance,
        development,
        capability,
        service,
        mechanism,
        cases_by_category,
        case_metrics,
        cases_by_grid,
        by_month,
        unknown_event_types,
    })
}

/// Cases of one grid (rejected and merged reports left out).
#[derive(Serialize, sqlx::FromRow)]
struct GridFigures {
    grid_id: String,
    grid: String,
    community: String,
    cases: i64,
    solved: i64,
}

/// What happened in one month (Asia/Shanghai), for the trend lines.
#[derive(Serialize, Default, Debug, PartialEq)]
struct MonthFigures {
    month: String,
    cases_reported: i64,
    /// Resolved or closed cases, by the month of their resolution.
    cases_solved: i64,
    training_attendances: i64,
    activity_participants: i64,
    service_requests: i64,
    /// Admitted as probationary members, by the day of the branch meeting.
    members_admitted: i64,
}

/// The month ("YYYY-MM") of a UTC RFC 3339 time in Asia/Shanghai.
fn beijing_month(utc: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(utc).ok()?;
    let day = hongxin_domain::time::beijing_today(t.with_timezone(&chrono::Utc));
    Some(day.format("%Y-%m").to_string())
}

/// The month of a "YYYY-MM-DD" day, already Asia/Shanghai.
fn day_month(day: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m").to_string())
}

/// Counts by month from each context's own dates; months with nothing are
/// left out.
async fn by_month(pool: &sqlx::AnyPool) -> Result<Vec<MonthFigures>, sqlx::Error> {
    use std::collections::BTreeMap;
    let mut months: BTreeMap<String, MonthFigures> = BTreeMap::new();
    let mut bump = |month: Option<String>, field: fn(&mut MonthFigures) -> &mut i64| {
        if let Some(month) = month {
            *field(months.entry(month).or_default()) += 1;
        }
    };
    let cases: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT state, reported_at, resolved_at FROM cases WHERE state NOT IN ('rejected', 'merged')",
    )
    .fetch_all(pool)
    .await?;
    for (state, reported_at, resolved_at) in &cases {
        bump(beijing_month(reported_at), |m| &mut m.cases_reported);
        if matches!(state.as_str(), "resolved" | "closed") {
            bump(resolved_at.as_deref().and_then(beijing_month), |m| {
                &mut m.cases_solved
            });
        }
    }
    let days = |sql: &'static str| sqlx::query_scalar::<_, String>(sql).fetch_all(pool);
    for day in days(
        "SELECT s.held_on FROM training_attendance a \
         JOIN training_sessions s ON s.session_id = a.session_id",
    )
    .await?
    {
        bump(day_month(&day), |m| &mut m.training_attendances);
    }
    for day in days(
        "SELECT a.held_on FROM care_participants p \
         JOIN care_activities a ON a.activity_id = p.activity_id",
    )
    .await?
    {
        bump(day_month(&day), |m| &mut m.activity_participants);
    }
    for day in days("SELECT filed_on FROM service_requests").await? {
        bump(day_month(&day), |m| &mut m.service_requests);
    }
    for day in days("SELECT admitted_on FROM candidates WHERE admitted_on IS NOT NULL").await? {
        bump(day_month(&day), |m| &mut m.members_admitted);
    }
    Ok(months
        .into_iter()
        .map(|(month, figures)| MonthFigures { month, ..figures })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 7.0, 8.0, 9.0];
        assert_eq!(percentile(&mut v, 0.5), Some(5.0));
        assert_eq!(percentile(&mut v, 0.9), Some(9.0));
        assert_eq!(percentile(&mut [2.25], 0.9), Some(2.3));
        assert_eq!(percentile(&mut [], 0.5), None);
    }

    #[test]
    fn periods_end_before_today_only() {
        let day = |m, d| chrono::NaiveDate::from_ymd_opt(2022, m, d).expect("day");
        assert_eq!(ended_periods(1, 2022, day(3, 15)), ["2022-01", "2022-02"]);
        assert_eq!(ended_periods(3, 2022, day(3, 31)), Vec::<String>::new());
        assert_eq!(ended_periods(3, 2022, day(4, 1)), ["2022-Q1"]);
        assert_eq!(ended_periods(6, 2022, day(12, 31)), ["2022-H1"]);
        assert_eq!(ended_periods(1, 2022, day(1, 1)), Vec::<String>::new());
        // Every period of an earlier year has ended; none of a later one.
        assert_eq!(ended_periods(6, 2021, day(1, 1)), ["2021-H1", "2021-H2"]);
        assert_eq!(ended_periods(3, 2021, day(1, 1)).len(), 4);
        assert_eq!(ended_periods(1, 2023, day(12, 31)), Vec::<String>::new());
    }

    #[test]
    fn an_earlier_year_counts_all_its_periods() {
        let today = chrono::NaiveDate::from_ymd_opt(2023, 2, 10).expect("day");
        let held = vec![
            ("joint_meeting".to_owned(), "2022-01".to_owned()),
            ("joint_meeting".to_owned(), "2022-02".to_owned()),
            ("field_research".to_owned(), "2022-Q3".to_owned()),
            ("joint_meeting".to_owned(), "2023-01".to_owned()),
        ];
        let of = |year| {
            duties_of(&held, year, today)
                .into_iter()
                .map(|d| (d.kind, d.held, d.due, d.overdue))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            of(2022),
            [
                ("joint_meeting", 2, 12, 10),
                ("field_research", 1, 4, 3),
                ("department_report", 0, 2, 2)
            ]
        );
        assert_eq!(of(2023)[0], ("joint_meeting", 1, 1, 0));
    }
}
