//! The grid-governance service (机制引领): grids, part-time grid workers and
//! snap-and-report cases with dispatch, SLA and escalation. Events are
//! published on `hongxin.grid.>`.

pub mod case;
pub mod followers;
pub mod geo;
pub mod grid;
mod limits;
pub mod photos;
pub mod recognition;
mod recognition_api;
pub mod worker;

/// The bounded context's name: store schema, NATS subjects, stream.
pub const CONTEXT: &str = "grid";

mod grpc;
pub mod index;
mod open311;
pub use open311::policy as open311_policy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use hongxin_domain::calendar::{Calendar, WorkingHours};
use hongxin_domain::{Clock, CommandContext, CommandError, CommandHandler, RetryPolicy};
use hongxin_eventstore::EventStore;
use hongxin_organization::client::Directory;
use hongxin_proto::grid::v1::grid_service_server::GridServiceServer;
use hongxin_runtime::grpc::GrpcApp;
use serde::Deserialize;
use uuid::Uuid;

use crate::case::CaseDecider;
use crate::index::GridIndex;

/// gRPC services this process serves, as health reports them.
pub const SERVICE_NAMES: &[&str] = &["hongxin.grid.v1.GridService"];

/// The county's extent: points outside it are refused.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub min_longitude: f64,
    pub max_longitude: f64,
    pub min_latitude: f64,
    pub max_latitude: f64,
}

/// The `[grid]` section of the configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// 齐河县 and a margin by default.
    pub county_bounds: Bounds,
    /// Open cases of the same category this close are offered as duplicates.
    pub duplicate_radius_m: f64,
    /// ... when reported within this many hours.
    pub duplicate_window_hours: u32,
    /// Working hours of the SLA clock, Asia/Shanghai.
    pub work_day_start: NaiveTime,
    pub work_day_end: NaiveTime,
    pub holidays: Vec<NaiveDate>,
    pub working_weekends: Vec<NaiveDate>,
    /// Where photos are kept on disk; `<data_dir>/photos` when unset.
    pub photo_dir: Option<std::path::PathBuf>,
    /// An S3-compatible bucket for photos instead (the distributed mode's
    /// choice, since every grid process must see every photo).
    pub s3: Option<photos::S3Settings>,
    /// Points for a verified report (citizen / grid worker) and the daily cap.
    pub points_per_report: i64,
    pub points_per_report_by_grid_worker: i64,
    pub points_daily_cap: i64,
    /// Reports and votes a caller may make a minute (0: no limit).
    pub reports_per_minute: u32,
    pub votes_per_minute: u32,
}

impl Default for Settings {
    fn default() -> Self {
        let hours = WorkingHours::default();
        Self {
            county_bounds: Bounds {
                min_longitude: 116.40,
                max_longitude: 117.10,
                min_latitude: 36.40,
                max_latitude: 37.10,
            },
            duplicate_radius_m: 100.0,
            duplicate_window_hours: 72,
            work_day_start: hours.start,
            work_day_end: hours.end,
            holidays: Vec::new(),
            working_weekends: Vec::new(),
            photo_dir: None,
            s3: None,
            points_per_report: recognition::PointRules::default().per_report,
            points_per_report_by_grid_worker: recognition::PointRules::default()
                .per_report_by_grid_worker,
            points_daily_cap: recognition::PointRules::default().daily_cap,
            reports_per_minute: 20,
            votes_per_minute: 30,
        }
    }
}

/// The service, bound, with the index the caller keeps live
/// (`index.follow(store, shutdown)`) and sweeps (`sweep`).
#[derive(Debug)]
pub struct Built {
    pub app: GrpcApp,
    /// Open311 GeoReport v2 over HTTP, for the caller to serve.
    pub open311: axum::Router,
    pub index: GridIndex,
    pub cases: Arc<CommandHandler<CaseDecider>>,
    /// For the caller to run `followers::follow_cases` with.
    pub points: Arc<CommandHandler<recognition::PointsDecider>>,
}

pub async fn build(
    addr: SocketAddr,
    store: EventStore,
    photos: photos::PhotoStore,
    settings: &Settings,
    directory: Directory,
    clock: Arc<dyn Clock>,
    grace: Duration,
) -> anyhow::Result<Built> {
    if settings.work_day_end <= settings.work_day_start || settings.duplicate_radius_m < 0.0 {
        anyhow::bail!("grid: the working day must end after it starts, and the radius be positive");
    }
    let decider = CaseDecider {
        calendar: Arc::new(Calendar::new(
            settings.holidays.iter().copied(),
            settings.working_weekends.iter().copied(),
        )),
        hours: WorkingHours {
            start: settings.work_day_start,
            end: settings.work_day_end,
        },
    };
    let index = GridIndex::default();
    let rules = recognition::PointRules {
        per_report: settings.points_per_report,
        per_report_by_grid_worker: settings.points_per_report_by_grid_worker,
        daily_cap: settings.points_daily_cap,
    };
    let api = grpc::Api {
        grids: CommandHandler::with_clock(store.clone(), grid::GridDecider, clock.clone()),
        categories: CommandHandler::with_clock(store.clone(), grid::CategoryDecider, clock.clone()),
        workers: CommandHandler::with_clock(store.clone(), worker::WorkerDecider, clock.clone()),
        cases: CommandHandler::with_clock(store.clone(), decider.clone(), clock.clone()),
        directory,
        index: index.clone(),
        settings: settings.clone(),
        photos,
        points: CommandHandler::with_clock(
            store.clone(),
            recognition::PointsDecider { rules },
            clock.clone(),
        ),
        recognitions: CommandHandler::with_clock(
            store.clone(),
            recognition::RecognitionDecider,
            clock.clone(),
        ),
        limits: limits::Limits::new(settings.reports_per_minute, settings.votes_per_minute),
    };
    let api = Arc::new(api);
    let open311 = open311::routes(api.clone());
    let routes = tonic::service::Routes::new(GridServiceServer::from_arc(api));
    let app = GrpcApp::build(addr, routes, SERVICE_NAMES, grace).await?;
    Ok(Built {
        app,
        open311,
        index,
        cases: Arc::new(CommandHandler::with_clock(
            store.clone(),
            decider,
            clock.clone(),
        )),
        points: Arc::new(CommandHandler::with_clock(
            store,
            recognition::PointsDecider { rules },
            clock,
        )),
    })
}

impl Built {
    /// What the service does besides answering calls, until `shutdown`:
    /// the index follows the store, overdue cases are escalated every
    /// `sweep_every`, and the case followers react to verifications and
    /// merges from their durable checkpoint.
    pub fn background(
        &self,
        store: EventStore,
        sweep_every: Duration,
        shutdown: hongxin_runtime::Shutdown,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static + use<> {
        let (index, cases, points) = (self.index.clone(), self.cases.clone(), self.points.clone());
        async move {
            let feed =
                hongxin_bus::EventFeed::in_process(store.clone(), CONTEXT, followers::FEED_NAME)
                    .await?;
            tokio::join!(
                index.clone().follow(store, shutdown.wait()),
                sweep(cases.clone(), index, sweep_every, shutdown.wait()),
                followers::follow_cases(cases, points, feed, shutdown.wait()),
            );
            Ok(())
        }
    }
}

/// Escalates every overdue case not yet escalated; the ids escalated.
pub async fn escalate(
    cases: &CommandHandler<CaseDecider>,
    index: &GridIndex,
    ctx: CommandContext,
) -> Result<Vec<Uuid>, CommandError> {
    let mut escalated = Vec::new();
    for id in index.overdue(cases.clock().now()) {
        let outcome = cases
            .handle(
                &CommandHandler::<CaseDecider>::stream_id(id),
                &case::Command::Escalate,
                &ctx,
                RetryPolicy::Reload(3),
            )
            .await?;
        for e in &outcome.events {
            index.apply_case(e);
        }
        if !outcome.events.is_empty() {
            escalated.push(id);
        }
    }
    if !escalated.is_empty() {
        tracing::info!(cases = escalated.len(), "overdue cases escalated");
    }
    Ok(escalated)
}

/// Escalates overdue cases every `every` until `shutdown`.
pub async fn sweep(
    cases: Arc<CommandHandler<CaseDecider>>,
    index: GridIndex,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(every) => {}
        }
        let ctx = CommandContext::new("service:grid/escalation");
        if let Err(e) = escalate(&cases, &index, ctx).await {
            tracing::warn!(error = %e, "escalating overdue cases failed; trying again later");
        }
    }
}
