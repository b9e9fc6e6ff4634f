//! The gRPC face of the grid service.

use chrono::{TimeDelta, Utc};
use hongxin_domain::{CommandContext, CommandError, CommandHandler, Decider as _};
use hongxin_organization::client::{Directory, References};
use hongxin_proto::grid::v1 as pb;
use hongxin_proto::grid::v1::grid_service_server::GridService;
use hongxin_runtime::fields::Fields;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::Settings;
use crate::case::{self, Action, CaseDecider, Rejection};
use crate::geo::{self, Point};
use crate::grid::{self, CategoryDecider, GridDecider};
use crate::index::GridIndex;
use crate::worker::{self, WorkerDecider};

pub(crate) struct Api {
    pub(crate) grids: CommandHandler<GridDecider>,
    pub(crate) categories: CommandHandler<CategoryDecider>,
    pub(crate) workers: CommandHandler<WorkerDecider>,
    pub(crate) cases: CommandHandler<CaseDecider>,
    pub(crate) directory: Directory,
    pub(crate) index: GridIndex,
    pub(crate) settings: Settings,
    pub(crate) photos: crate::photos::PhotoStore,
    pub(crate) points: crate::recognition_api::Points,
    pub(crate) recognitions: crate::recognition_api::Recognitions,
    pub(crate) limits: crate::limits::Limits,
}

pub(crate) use hongxin_runtime::commands::run;

/// A point from the wire, converted to WGS-84.
fn point(f: &mut Fields, field: &str, p: Option<&pb::Point>, datum: i32) -> Option<Point> {
    let p = f.required(field, p, "a point is required")?;
    let Some(raw) = Point::new(p.longitude, p.latitude) else {
        f.push(field, "longitude -180..180 and latitude -90..90");
        return None;
    };
    match pb::Datum::try_from(datum) {
        Ok(pb::Datum::Gcj02) => Some(geo::gcj02_to_wgs84(raw)),
        Ok(_) => Some(raw),
        Err(_) => {
            f.push("datum", "WGS-84 or GCJ-02");
            None
        }
    }
}

impl Api {
    pub(crate) fn now(&self) -> chrono::DateTime<Utc> {
        self.cases.clock().now()
    }

    fn today(&self) -> chrono::NaiveDate {
        hongxin_domain::time::beijing_today(self.now())
    }

    fn in_county(&self, p: Point) -> bool {
        let b = &self.settings.county_bounds;
        (b.min_longitude..=b.max_longitude).contains(&p.lng)
            && (b.min_latitude..=b.max_latitude).contains(&p.lat)
    }

    pub(crate) async fn known_person(&self, field: &str, id: Uuid) -> Result<(), Status> {
        let unknown = self
            .directory
            .unknown(&References {
                people: vec![id],
                ..References::default()
            })
            .await
            .map_err(status_of)?;
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(status_of(CommandError::invalid(field, "no such person")))
        }
    }

    /// Photo ids that must all be stored already.
    async fn photo_ids(&self, f: &mut Fields, raw: &[String]) -> Result<Vec<String>, Status> {
        if raw.len() > 9 {
            f.push("photo_ids", "at most 9 photos");
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(raw.len());
        for (i, id) in raw.iter().enumerate() {
            if self.photos.exists(id).await.map_err(photo_status)? {
                ids.push(id.clone());
            } else {
                f.push(format!("photo_ids[{i}]"), "no such photo; upload it first");
            }
        }
        Ok(ids)
    }

    /// Refuses a caller whose data scope does not reach the case: a
    /// department officer reaches the cases dispatched to the department,
    /// community staff the cases in their community's grids, a worker or
    /// grid worker their own reports. An unknown case passes, for the
    /// command to answer `NotFound`.
    async fn check_case_reach<T>(&self, request: &Request<T>, id: Uuid) -> Result<(), Status> {
        use hongxin_runtime::auth::{Record, Role};
        let Some(caller) = hongxin_runtime::auth::caller_of(request) else {
            return Ok(());
        };
        if caller.has(Role::CountyAdmin) || caller.has(Role::Service) {
            return Ok(());
        }
        let loaded = self
            .cases
            .load(&CommandHandler::<CaseDecider>::stream_id(id))
            .await
            .map_err(status_of)?;
        let Some(c) = loaded.state.0 else {
            return Ok(());
        };
        let community = match c.report.grid {
            Some(grid) => self
                .grids
                .load(&CommandHandler::<GridDecider>::stream_id(grid))
                .await
                .map_err(status_of)?
                .state
                .0
                .map(|g| g.community_id.to_string()),
            None => None,
        };
        let reporter = c.report.reporter.to_string();
        hongxin_runtime::auth::check_reach(
            request,
            &Record {
                person: Some(&reporter),
                community: community.as_deref(),
                industry: None,
                department: c.department.as_deref(),
            },
        )
    }

    /// Refuses a caller whose data scope does not reach the grid worker:
    /// community staff reach the workers the registry has in their
    /// community. An unknown worker passes, for the command to answer
    /// `NotFound`.
    async fn check_worker_reach<T>(
        &self,
        request: &Request<T>,
        person: &str,
    ) -> Result<(), Status> {
        use hongxin_runtime::auth::{Record, Role};
        let Some(caller) = hongxin_runtime::auth::caller_of(request) else {
            return Ok(());
        };
        if caller.has(Role::CountyAdmin) || caller.has(Role::Service) {
            return Ok(());
        }
        let Ok(id) = Uuid::parse_str(person) else {
            return Ok(());
        };
        let loaded = self
            .workers
            .load(&CommandHandler::<WorkerDecider>::stream_id(id))
            .await
            .map_err(status_of)?;
        if loaded.state.0.is_none() {
            return Ok(());
        }
        let community = self
            .directory
            .person(id)
            .await
            .map_err(status_of)?
            .and_then(|p| p.work)
            .map(|w| w.community_id)
            .filter(|c| !c.is_empty());
        hongxin_runtime::auth::check_reach(
            request,
            &Record {
                community: community.as_deref(),
                ..Record::default()
            },
        )
    }

    /// Refuses a caller whose data scope does not reach the person who
    /// applies to be a grid worker: a worker applies for themselves,
    /// community staff for the people the registry has in their
    /// community. An unknown person passes, for the command to answer.
    async fn check_applicant_reach<T>(
        &self,
        request: &Request<T>,
        person: &str,
    ) -> Result<(), Status> {
        use hongxin_runtime::auth::{Record, Role};
        let Some(caller) = hongxin_runtime::auth::caller_of(request) else {
            return Ok(());
        };
        let Ok(id) = Uuid::parse_str(person) else {
            return Ok(());
        };
        let own = Record {
            person: Some(person),
            ..Record::default()
        };
        // Only a community's staff need the registry.
        if caller.reaches(&own) || !caller.has(Role::CommunityStaff) {
            return hongxin_runtime::auth::check_reach(request, &own);
        }
        let Some(p) = self.directory.person(id).await.map_err(status_of)? else {
            return Ok(());
        };
        let community = p.work.map(|w| w.community_id).filter(|c| !c.is_empty());
        hongxin_runtime::auth::check_reach(
            request,
            &Record {
                community: community.as_deref(),
                ..own
            },
        )
    }

    async fn case_view(&self, id: Uuid) -> Result<pb::Case, Status> {
        let loaded = self
            .cases
            .load(&CommandHandler::<CaseDecider>::stream_id(id))
            .await
            .map_err(status_of)?;
        loaded
            .state
            .0
            .map(|c| c.to_wire(loaded.version, self.now()))
            .ok_or_else(|| Status::not_found("no such case"))
    }

    async fn worker(
        &self,
        request_ctx: CommandContext,
        person: &str,
        command: impl FnOnce(Uuid) -> Result<worker::Command, Fields>,
    ) -> Result<pb::GridWorker, Status> {
        let mut f = Fields::default();
        let Some(id) = f.id("person_id", person) else {
            return Err(f.fail());
        };
        let command = command(id).map_err(Fields::fail)?;
        let o = run(&self.workers, id, &command, request_ctx, 0).await?;
        o.state
            .0
            .map(|w| w.to_wire(o.version))
            .ok_or_else(|| Status::not_found("no such grid worker"))
    }
}

/// Chunks of a photo sent back, well under gRPC's 4 MiB message limit.
const PHOTO_CHUNK: usize = 64 * 1024;

/// What a failure of the photo store or a bad upload answers.
fn photo_status(e: crate::photos::PhotoError) -> Status {
    use crate::photos::PhotoError;
    match e {
        PhotoError::Store(e) => status_of(CommandError::Unavailable(Box::new(e))),
        e @ (PhotoError::TooLarge | PhotoError::NotAnImage) => {
            status_of(CommandError::invalid("data", e.to_string()))
        }
        PhotoError::Unreadable(_) => {
            status_of(CommandError::invalid("data", "the image cannot be read"))
        }
    }
}

#[tonic::async_trait]
impl GridService for Api {
    async fn define_grid(
        &self,
        request: Request<pb::DefineGridRequest>,
    ) -> Result<Response<pb::DefineGridResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("grid_id", &r.grid_id);
        let community = f.id("community_id", &r.community_id);
        let worker = f.optional_id("full_time_worker_person_id", &r.full_time_worker_person_id);
        let polygon: Vec<Option<Point>> = r
            .polygon
            .iter()
            .enumerate()
            .map(|(i, p)| point(&mut f, &format!("polygon[{i}]"), Some(p), r.datum))
            .collect();
        let (Some(id), Some(community), Some(worker), Some(polygon)) = (
            id,
            community,
            worker,
            polygon.into_iter().collect::<Option<Vec<_>>>(),
        ) else {
            return Err(f.fail());
        };
        if polygon.iter().any(|p| !self.in_county(*p)) {
            return Err(status_of(CommandError::invalid(
                "polygon",
                "every corner must lie within the county",
            )));
        }
        let unknown = self
            .directory
            .unknown(&References {
                communities: vec![community],
                people: worker.into_iter().collect(),
                ..References::default()
            })
            .await
            .map_err(status_of)?;
        for u in &unknown {
            let field = if u.kind == "community" {
                "community_id"
            } else {
                "full_time_worker_person_id"
            };
            f.push(field, format!("no such {}", u.kind));
        }
        f.check()?;
        let command = grid::Define(grid::Grid {
            grid_id: id,
            community_id: community,
            name: r.name,
            polygon: polygon.clone(),
            full_time_worker: worker,
        });
        let o = run(&self.grids, id, &command, ctx, 0).await?;
        self.index.add_grid(id, polygon);
        Ok(Response::new(pb::DefineGridResponse {
            grid: o.state.0.map(|g| g.to_wire(o.version)),
        }))
    }

    async fn resolve_point(
        &self,
        request: Request<pb::ResolvePointRequest>,
    ) -> Result<Response<pb::ResolvePointResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let Some(p) = point(&mut f, "point", r.point.as_ref(), r.datum) else {
            return Err(f.fail());
        };
        Ok(Response::new(pb::ResolvePointResponse {
            grid_id: self
                .index
                .grid_of(p)
                .map(|g| g.to_string())
                .unwrap_or_default(),
            wgs84: Some(grid::point_to_wire(p)),
        }))
    }

    async fn apply_as_grid_worker(
        &self,
        request: Request<pb::ApplyAsGridWorkerRequest>,
    ) -> Result<Response<pb::ApplyAsGridWorkerResponse>, Status> {
        self.check_applicant_reach(&request, &request.get_ref().person_id)
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        if let Ok(id) = Uuid::parse_str(&r.person_id) {
            self.known_person("person_id", id).await?;
        }
        let worker = self
            .worker(ctx, &r.person_id, |person_id| {
                let mut f = Fields::default();
                let on = f.day("on", &r.on);
                match on {
                    Some(on) => Ok(worker::Command::Apply {
                        person_id,
                        roles: r.roles.clone(),
                        department: r.department.clone(),
                        on,
                    }),
                    None => Err(f),
                }
            })
            .await?;
        Ok(Response::new(pb::ApplyAsGridWorkerResponse {
            worker: Some(worker),
        }))
    }

    async fn vet_grid_worker(
        &self,
        request: Request<pb::VetGridWorkerRequest>,
    ) -> Result<Response<pb::VetGridWorkerResponse>, Status> {
        self.check_worker_reach(&request, &request.get_ref().person_id)
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let worker = self
            .worker(ctx, &r.person_id, |_| {
                let mut f = Fields::default();
                match f.day("on", &r.on) {
                    Some(on) => Ok(worker::Command::Vet {
                        passed: r.passed,
                        on,
                        note: r.note.clone(),
                    }),
                    None => Err(f),
                }
            })
            .await?;
        Ok(Response::new(pb::VetGridWorkerResponse {
            worker: Some(worker),
        }))
    }

    async fn appoint_grid_worker(
        &self,
        request: Request<pb::AppointGridWorkerRequest>,
    ) -> Result<Response<pb::AppointGridWorkerResponse>, Status> {
        self.check_worker_reach(&request, &request.get_ref().person_id)
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let worker = self
            .worker(ctx, &r.person_id, |_| {
                let mut f = Fields::default();
                match f.day("on", &r.on) {
                    Some(on) => Ok(worker::Command::Appoint {
                        on,
                        term_months: r.term_months,
                    }),
                    None => Err(f),
                }
            })
            .await?;
        Ok(Response::new(pb::AppointGridWorkerResponse {
            worker: Some(worker),
        }))
    }

    async fn dismiss_grid_worker(
        &self,
        request: Request<pb::DismissGridWorkerRequest>,
    ) -> Result<Response<pb::DismissGridWorkerResponse>, Status> {
        self.check_worker_reach(&request, &request.get_ref().person_id)
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let worker = self
            .worker(ctx, &r.person_id, |_| {
                let mut f = Fields::default();
                match f.day("on", &r.on) {
                    Some(on) => Ok(worker::Command::Dismiss {
                        on,
                        note: r.note.clone(),
                    }),
                    None => Err(f),
                }
            })
            .await?;
        Ok(Response::new(pb::DismissGridWorkerResponse {
            worker: Some(worker),
        }))
    }

    async fn define_case_category(
        &self,
        request: Request<pb::DefineCaseCategoryRequest>,
    ) -> Result<Response<pb::DefineCaseCategoryResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        if !grid::valid_code(&r.code) {
            return Err(status_of(CommandError::invalid(
                "code",
                "1 to 40 lower-case letters, digits or _",
            )));
        }
        let command = grid::DefineCategory(grid::Category {
            code: r.code.clone(),
            name: r.name,
            sla_hours: r.sla_hours,
            default_department: r.default_department,
        });
        let o = run(&self.categories, &r.code, &command, ctx, 0).await?;
        if let Some(c) = &o.state.0 {
            self.index.add_category(c);
        }
        Ok(Response::new(pb::DefineCaseCategoryResponse {
            category: o.state.0.map(|c| c.to_wire(o.version)),
        }))
    }

    async fn report_case(
        &self,
        request: Request<pb::ReportCaseRequest>,
    ) -> Result<Response<pb::ReportCaseResponse>, Status> {
        let ctx = command_context(&request);
        // A retry of a report already made under this key answers with that
        // case, whatever case id the retry carries (a phone app may make a
        // new one each time).
        if let Some(key) = &ctx.idempotency_key {
            let known = self
                .cases
                .store()
                .find_idempotency_key(key)
                .await
                .map_err(|e| status_of(CommandError::Unavailable(Box::new(e))))?;
            if let Some(first) = known
                && first.stream_id.category() == CaseDecider::CATEGORY
                && let Some(Ok(id)) = first
                    .stream_id
                    .as_str()
                    .strip_prefix("case-")
                    .map(Uuid::parse_str)
            {
                return Ok(Response::new(pb::ReportCaseResponse {
                    case: Some(self.case_view(id).await?),
                    possible_duplicates: Vec::new(),
                }));
            }
        }
        // A retry answered above costs nothing; a new report counts.
        self.limits.report(&request)?;
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("case_id", &r.case_id);
        let reporter = f.id("reporter_person_id", &r.reporter_person_id);
        let photos = self.photo_ids(&mut f, &r.photo_ids).await?;
        let p = point(&mut f, "point", r.point.as_ref(), r.datum);
        if let Some(p) = p
            && !self.in_county(p)
        {
            f.push("point", "outside the county");
        }
        let category = if grid::valid_code(&r.category) {
            self.categories
                .load(&CommandHandler::<CategoryDecider>::stream_id(&r.category))
                .await
                .map_err(status_of)?
                .state
                .0
        } else {
            None
        };
        let category = f.required("category", category, "no such case category");
        let (Some(id), Some(reporter), Some(p), Some(category)) = (id, reporter, p, category)
        else {
            return Err(f.fail());
        };
        f.check()?;
        self.known_person("reporter_person_id", reporter).await?;
        let worker = self
            .workers
            .load(&CommandHandler::<WorkerDecider>::stream_id(reporter))
            .await
            .map_err(status_of)?
            .state
            .0;
        let now = self.now();
        let by_grid_worker = worker.is_some_and(|w| w.serving_on(self.today()));
        let since = now - TimeDelta::hours(i64::from(self.settings.duplicate_window_hours));
        let nearby = self
            .index
            .nearby(&category.code, p, self.settings.duplicate_radius_m, since);
        let command = case::Command::Report(case::Report {
            case_id: id,
            category,
            point: p,
            grid: self.index.grid_of(p),
            description: r.description,
            reporter,
            by_grid_worker,
            at: now,
            photos,
        });
        let o = run(&self.cases, id, &command, ctx, 0).await?;
        for e in &o.events {
            self.index.apply_case(e);
        }
        let mut possible_duplicates = Vec::new();
        for other in nearby.into_iter().filter(|o| *o != id) {
            possible_duplicates.push(self.case_view(other).await?);
        }
        Ok(Response::new(pb::ReportCaseResponse {
            case: o.state.0.map(|c| c.to_wire(o.version, now)),
            possible_duplicates,
        }))
    }

    async fn act_on_case(
        &self,
        request: Request<pb::ActOnCaseRequest>,
    ) -> Result<Response<pb::ActOnCaseResponse>, Status> {
        let ctx = command_context(&request);
        if let Ok(id) = Uuid::parse_str(&request.get_ref().case_id) {
            self.check_case_reach(&request, id).await?;
        }
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("case_id", &r.case_id);
        let photos = self.photo_ids(&mut f, &r.photo_ids).await?;
        let department = Some(r.department.trim().to_owned()).filter(|d| !d.is_empty());
        let action = match pb::CaseAction::try_from(r.action) {
            Ok(pb::CaseAction::Accept) => Some(Action::Accept),
            Ok(pb::CaseAction::Reject) => match pb::RejectionReason::try_from(r.rejection) {
                Ok(pb::RejectionReason::Invalid) => Some(Action::Reject(Rejection::Invalid)),
                Ok(pb::RejectionReason::NotOurs) => Some(Action::Reject(Rejection::NotOurs)),
                _ => {
                    f.push("rejection", "invalid or not ours (a duplicate is merged)");
                    None
                }
            },
            Ok(pb::CaseAction::Merge) => f
                .id("duplicate_of_case_id", &r.duplicate_of_case_id)
                .map(|original| Action::Merge { original }),
            Ok(pb::CaseAction::Dispatch) => Some(Action::Dispatch { department }),
            Ok(pb::CaseAction::Acknowledge) => Some(Action::Acknowledge),
            Ok(pb::CaseAction::Transfer) => f
                .required("department", department, "the department it goes to")
                .map(|department| Action::Transfer { department }),
            Ok(pb::CaseAction::Resolve) => Some(Action::Resolve),
            Ok(pb::CaseAction::Verify) => Some(Action::Verify),
            Ok(pb::CaseAction::Reopen) => Some(Action::Reopen),
            _ => {
                f.push("action", "must be a known action");
                None
            }
        };
        let (Some(id), Some(action)) = (id, action) else {
            return Err(f.fail());
        };
        f.check()?;
        // A duplicate joins an open original.
        if let Action::Merge { original } = &action {
            let loaded = self
                .cases
                .load(&CommandHandler::<CaseDecider>::stream_id(original))
                .await
                .map_err(status_of)?;
            match loaded.state.0 {
                None => {
                    return Err(status_of(CommandError::invalid(
                        "duplicate_of_case_id",
                        "no such case",
                    )));
                }
                Some(o) if !o.state.open() => {
                    return Err(status_of(CommandError::rejected(
                        "the original case is closed; reopen it or accept this one",
                    )));
                }
                Some(_) => {}
            }
        }
        let command = case::Command::Act {
            action: action.clone(),
            note: r.note,
            photos,
        };
        let o = run(&self.cases, id, &command, ctx.clone(), r.expected_version).await?;
        for e in &o.events {
            self.index.apply_case(e);
        }
        // Points for a verified report and the followers of a merged
        // duplicate come from `followers::follow_cases`.
        Ok(Response::new(pb::ActOnCaseResponse {
            case: o.state.0.map(|c| c.to_wire(o.version, self.now())),
        }))
    }

    async fn follow_case(
        &self,
        request: Request<pb::FollowCaseRequest>,
    ) -> Result<Response<pb::FollowCaseResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let (Some(id), Some(person)) =
            (f.id("case_id", &r.case_id), f.id("person_id", &r.person_id))
        else {
            return Err(f.fail());
        };
        self.known_person("person_id", person).await?;
        let o = run(
            &self.cases,
            id,
            &case::Command::Follow {
                people: vec![person],
            },
            ctx,
            0,
        )
        .await?;
        Ok(Response::new(pb::FollowCaseResponse {
            case: o.state.0.map(|c| c.to_wire(o.version, self.now())),
        }))
    }

    async fn rate_case(
        &self,
        request: Request<pb::RateCaseRequest>,
    ) -> Result<Response<pb::RateCaseResponse>, Status> {
        let ctx = command_context(&request);
        if let Ok(id) = Uuid::parse_str(&request.get_ref().case_id) {
            self.check_case_reach(&request, id).await?;
        }
        let r = request.into_inner();
        let mut f = Fields::default();
        let Some(id) = f.id("case_id", &r.case_id) else {
            return Err(f.fail());
        };
        let o = run(
            &self.cases,
            id,
            &case::Command::Rate { rating: r.rating },
            ctx,
            0,
        )
        .await?;
        Ok(Response::new(pb::RateCaseResponse {
            case: o.state.0.map(|c| c.to_wire(o.version, self.now())),
        }))
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::GetCaseResponse>, Status> {
        let mut f = Fields::default();
        let Some(id) = f.id("case_id", &request.get_ref().case_id) else {
            return Err(f.fail());
        };
        self.check_case_reach(&request, id).await?;
        Ok(Response::new(pb::GetCaseResponse {
            case: Some(self.case_view(id).await?),
        }))
    }

    async fn upload_photo(
        &self,
        request: Request<tonic::Streaming<pb::UploadPhotoRequest>>,
    ) -> Result<Response<pb::UploadPhotoResponse>, Status> {
        use crate::photos::{MAX_BYTES, PhotoError};
        use futures::StreamExt as _;
        let mut stream = request.into_inner();
        let mut upload = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if upload.len() + chunk.data.len() > MAX_BYTES {
                return Err(status_of(CommandError::invalid(
                    "data",
                    PhotoError::TooLarge.to_string(),
                )));
            }
            upload.extend_from_slice(&chunk.data);
        }
        let stored = self.photos.put(upload).await.map_err(photo_status)?;
        Ok(Response::new(pb::UploadPhotoResponse {
            photo_id: stored.id,
            width: stored.width,
            height: stored.height,
        }))
    }

    type GetPhotoStream =
        futures::stream::Iter<std::vec::IntoIter<Result<pb::GetPhotoResponse, Status>>>;

    async fn get_photo(
        &self,
        request: Request<pb::GetPhotoRequest>,
    ) -> Result<Response<Self::GetPhotoStream>, Status> {
        use crate::photos::Variant;
        let r = request.into_inner();
        if !crate::photos::valid_id(&r.photo_id) {
            return Err(status_of(CommandError::invalid(
                "photo_id",
                "a photo id is 64 lower-case hex digits",
            )));
        }
        let variant = if r.thumbnail {
            Variant::Thumbnail
        } else {
            Variant::Photo
        };
        let Some(jpeg) = self
            .photos
            .get(&r.photo_id, variant)
            .await
            .map_err(photo_status)?
        else {
            return Err(status_of(CommandError::NotFound("no such photo".into())));
        };
        let chunks: Vec<_> = jpeg
            .chunks(PHOTO_CHUNK)
            .map(|c| Ok(pb::GetPhotoResponse { data: c.to_vec() }))
            .collect();
        Ok(Response::new(futures::stream::iter(chunks)))
    }

    async fn get_points(
        &self,
        request: Request<pb::GetPointsRequest>,
    ) -> Result<Response<pb::GetPointsResponse>, Status> {
        self.get_points_impl(request).await
    }

    async fn open_recognition(
        &self,
        request: Request<pb::OpenRecognitionRequest>,
    ) -> Result<Response<pb::OpenRecognitionResponse>, Status> {
        self.open_recognition_impl(request).await
    }

    async fn nominate_candidate(
        &self,
        request: Request<pb::NominateCandidateRequest>,
    ) -> Result<Response<pb::NominateCandidateResponse>, Status> {
        self.nominate_impl(request).await
    }

    async fn review_candidate(
        &self,
        request: Request<pb::ReviewCandidateRequest>,
    ) -> Result<Response<pb::ReviewCandidateResponse>, Status> {
        self.review_impl(request).await
    }

    async fn open_voting(
        &self,
        request: Request<pb::OpenVotingRequest>,
    ) -> Result<Response<pb::OpenVotingResponse>, Status> {
        self.open_voting_impl(request).await
    }

    async fn vote(
        &self,
        request: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        self.limits.vote(&request)?;
        self.vote_impl(request).await
    }

    async fn close_recognition(
        &self,
        request: Request<pb::CloseRecognitionRequest>,
    ) -> Result<Response<pb::CloseRecognitionResponse>, Status> {
        self.close_recognition_impl(request).await
    }

    async fn escalate_overdue(
        &self,
        request: Request<pb::EscalateOverdueRequest>,
    ) -> Result<Response<pb::EscalateOverdueResponse>, Status> {
        let ctx = command_context(&request);
        let escalated = crate::escalate(&self.cases, &self.index, ctx)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::EscalateOverdueResponse {
            escalated_case_ids: escalated.iter().map(Uuid::to_string).collect(),
        }))
    }
}
