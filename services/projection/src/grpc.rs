//! `hongxin.dashboard.v1.DashboardService`: the read models over gRPC, for
//! ops dashboards and other services — the same figures as the page.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt as _};
use hongxin_domain::CommandError;
use hongxin_proto::dashboard::v1 as pb;
use hongxin_proto::dashboard::v1::dashboard_service_server::{
    DashboardService, DashboardServiceServer,
};
use hongxin_runtime::{Shutdown, status_of};
use serde_json::Value;
use tonic::{Request, Response, Status};

use crate::rebuild::RebuildSource;
use crate::tables::{self, Lang};
use crate::web::compute;
use crate::{Freshness, Projection};

pub const SERVICE_NAMES: &[&str] = &["hongxin.dashboard.v1.DashboardService"];

/// What a rebuild reads: the wiring knows where each context's events are.
pub type Sources = Arc<dyn Fn() -> Vec<RebuildSource> + Send + Sync>;

struct Api {
    projection: Projection,
    sources: Sources,
    shutdown: Shutdown,
    /// One rebuild at a time.
    rebuilding: tokio::sync::Mutex<()>,
}

/// The gRPC routes of the dashboard service.
pub fn routes(
    projection: Projection,
    sources: Sources,
    shutdown: Shutdown,
) -> tonic::service::Routes {
    tonic::service::Routes::new(DashboardServiceServer::new(Api {
        projection,
        sources,
        shutdown,
        rebuilding: tokio::sync::Mutex::new(()),
    }))
}

fn contexts(freshness: std::collections::BTreeMap<String, Freshness>) -> Vec<pb::ContextFreshness> {
    freshness
        .into_iter()
        .map(|(context, f)| pb::ContextFreshness {
            context,
            position: f.position,
            pending: f.pending,
            lag_seconds: f.lag_seconds,
            gap: f.gap,
        })
        .collect()
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Status {
    status_of(CommandError::Unavailable(Box::new(e)))
}

fn headline(o: &Value) -> pb::Headline {
    let n = |pointer: &str| o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
    let rate = |pointer: &str| o.pointer(pointer).and_then(Value::as_f64).unwrap_or(0.0);
    pb::Headline {
        report_stations: n("/report_stations/stations"),
        units_covered: n("/coverage/covered"),
        organization_coverage_rate: rate("/coverage/organization_rate"),
        own_branch_rate: rate("/coverage/own_branch_rate"),
        member_units_coverage_rate: rate("/coverage/member_units_rate"),
        probationary_members: n("/development/probationary"),
        full_members_confirmed: n("/development/full"),
        activists: n("/development/activists"),
        training_sessions: n("/capability/training_sessions"),
        training_attendances: n("/capability/training_attendances"),
        demonstration_stations: n("/vanguard/demonstration_stations"),
        vanguard_posts: n("/vanguard/vanguard_posts"),
        grid_workers: n("/mechanism/grid_workers"),
        cases: n("/mechanism/cases"),
        cases_solved: n("/mechanism/cases_resolved"),
        enterprise_problems_solved: n("/service/problems_solved"),
        care_activities: n("/service/activities_held"),
        activity_participants: n("/service/activity_participants"),
        hardship_cases_approved: n("/service/hardship_cases_approved"),
        hardship_support_fen: n("/service/hardship_support_fen"),
        supplies_value_fen: n("/service/supplies_value_fen"),
        posted_cadres: n("/service/posted_cadres"),
    }
}

/// One row of the audit trail as stored.
#[derive(sqlx::FromRow)]
struct AuditRow {
    context: String,
    global_position: i64,
    stream_id: String,
    event_type: String,
    actor: String,
    correlation_id: String,
    recorded_at: String,
}

impl AuditRow {
    fn into_wire(self) -> pb::AuditEntry {
        pb::AuditEntry {
            context: self.context,
            position: self.global_position as u64,
            stream_id: self.stream_id,
            event_type: self.event_type,
            actor: self.actor,
            correlation_id: self.correlation_id,
            recorded_at: self.recorded_at,
        }
    }
}

type FreshnessStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchFreshnessResponse, Status>> + Send>>;

#[tonic::async_trait]
impl DashboardService for Api {
    async fn get_overview(
        &self,
        _: Request<pb::GetOverviewRequest>,
    ) -> Result<Response<pb::GetOverviewResponse>, Status> {
        let overview = compute(&self.projection).await.map_err(unavailable)?;
        let json = serde_json::to_value(&overview)
            .map_err(|e| status_of(CommandError::Internal(e.to_string().into())))?;
        Ok(Response::new(pb::GetOverviewResponse {
            headline: Some(headline(&json)),
            overview_json: json.to_string(),
            contexts: contexts(self.projection.freshness()),
        }))
    }

    async fn list_tables(
        &self,
        _: Request<pb::ListTablesRequest>,
    ) -> Result<Response<pb::ListTablesResponse>, Status> {
        Ok(Response::new(pb::ListTablesResponse {
            tables: tables::TABLES
                .iter()
                .map(|t| pb::Table {
                    name: t.name.to_owned(),
                    title_zh: t.zh.to_owned(),
                    title_en: t.en.to_owned(),
                })
                .collect(),
        }))
    }

    async fn get_table(
        &self,
        request: Request<pb::GetTableRequest>,
    ) -> Result<Response<pb::GetTableResponse>, Status> {
        let r = request.into_inner();
        let Some(table) = tables::TABLES.iter().find(|t| t.name == r.name) else {
            return Err(status_of(CommandError::NotFound(format!(
                "no table named {:?}; ListTables names them",
                r.name
            ))));
        };
        let lang = match r.lang.as_str() {
            "" | "zh" | "zh-CN" => Lang::Zh,
            "en" => Lang::En,
            _ => return Err(status_of(CommandError::invalid("lang", "zh or en"))),
        };
        let overview = compute(&self.projection).await.map_err(unavailable)?;
        let json = serde_json::to_value(&overview)
            .map_err(|e| status_of(CommandError::Internal(e.to_string().into())))?;
        let sheet = tables::sheet(table, &json, lang);
        Ok(Response::new(pb::GetTableResponse {
            title: sheet.title.to_owned(),
            headers: sheet.headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: sheet
                .rows
                .iter()
                .map(|row| pb::Row {
                    cells: row.iter().map(tables::text).collect(),
                })
                .collect(),
        }))
    }

    async fn get_freshness(
        &self,
        _: Request<pb::GetFreshnessRequest>,
    ) -> Result<Response<pb::GetFreshnessResponse>, Status> {
        Ok(Response::new(pb::GetFreshnessResponse {
            contexts: contexts(self.projection.freshness()),
        }))
    }

    type WatchFreshnessStream = FreshnessStream;

    async fn watch_freshness(
        &self,
        _: Request<pb::WatchFreshnessRequest>,
    ) -> Result<Response<Self::WatchFreshnessStream>, Status> {
        let stream = self
            .projection
            .freshness_updates()
            .map(|f| {
                Ok(pb::WatchFreshnessResponse {
                    contexts: contexts(f),
                })
            })
            .take_until(self.shutdown.wait());
        Ok(Response::new(Box::pin(stream)))
    }

    async fn query_audit(
        &self,
        request: Request<pb::QueryAuditRequest>,
    ) -> Result<Response<pb::QueryAuditResponse>, Status> {
        let r = request.into_inner();
        let mut f = hongxin_runtime::fields::Fields::default();
        let mut bound = |field: &str, raw: &str| {
            if raw.is_empty() {
                return String::new();
            }
            match chrono::DateTime::parse_from_rfc3339(raw) {
                Ok(t) => t
                    .with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                Err(_) => {
                    f.push(field, "an RFC 3339 time");
                    String::new()
                }
            }
        };
        let from = bound("from", &r.from);
        let to = bound("to", &r.to);
        if r.limit > 1000 {
            f.push("limit", "at most 1000");
        }
        if r.actor.chars().count() > 200 {
            f.push("actor", "at most 200 characters");
        }
        if r.stream_id.chars().count() > 200 {
            f.push("stream_id", "at most 200 characters");
        }
        f.check()?;
        let limit = if r.limit == 0 {
            100
        } else {
            i64::from(r.limit)
        };
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT context, global_position, stream_id, event_type, actor, correlation_id, recorded_at \
             FROM audit_trail WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR stream_id = $2) \
             AND ($3 = '' OR recorded_at >= $3) AND ($4 = '' OR recorded_at <= $4) \
             ORDER BY recorded_at DESC, context, global_position DESC LIMIT $5",
        )
        .bind(&r.actor)
        .bind(&r.stream_id)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(&self.projection.pool())
        .await
        .map_err(unavailable)?;
        Ok(Response::new(pb::QueryAuditResponse {
            entries: rows.into_iter().map(AuditRow::into_wire).collect(),
        }))
    }

    async fn rebuild_read_models(
        &self,
        _: Request<pb::RebuildReadModelsRequest>,
    ) -> Result<Response<pb::RebuildReadModelsResponse>, Status> {
        let Ok(_one) = self.rebuilding.try_lock() else {
            return Err(status_of(CommandError::rejected(
                "a rebuild is already running; wait for it to finish",
            )));
        };
        let report = self
            .projection
            .rebuild((self.sources)())
            .await
            .map_err(|e| {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "rebuilding the read models failed"
                );
                status_of(CommandError::Unavailable(e.into()))
            })?;
        Ok(Response::new(pb::RebuildReadModelsResponse {
            events: report.events,
            seconds: report.seconds,
            contexts: contexts(self.projection.freshness()),
        }))
    }
}
