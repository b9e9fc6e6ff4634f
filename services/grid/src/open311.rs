//! Open311 GeoReport v2 (JSON) over the same cases, for city systems that
//! speak it: `GET services.json`, `GET requests.json`, `GET
//! requests/{id}.json` and `POST requests.json`. A request's `account_id`
//! is the reporter's person id in the registry.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hongxin_proto::grid::v1 as pb;
use hongxin_proto::grid::v1::grid_service_server::GridService as _;
use serde::{Deserialize, Serialize};
use tonic::Code;
use uuid::Uuid;

use hongxin_runtime::auth::Caller;

use crate::grpc::Api;

/// The gRPC call each Open311 request stands for, whose roles it needs:
/// posting a request reports a case; reading reads cases.
pub fn policy(method: &axum::http::Method) -> &'static str {
    if method == axum::http::Method::POST {
        "/hongxin.grid.v1.GridService/ReportCase"
    } else {
        "/hongxin.grid.v1.GridService/GetCase"
    }
}

/// A call on behalf of the authenticated caller of the HTTP request.
fn on_behalf<T>(caller: &Option<axum::Extension<Caller>>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(axum::Extension(caller)) = caller {
        request.extensions_mut().insert(caller.clone());
    }
    request
}

/// The Open311 routes under `/open311/v2`.
pub(crate) fn routes(api: Arc<Api>) -> Router {
    Router::new()
        .route("/open311/v2/services.json", get(services))
        .route("/open311/v2/requests.json", get(requests).post(create))
        .route("/open311/v2/requests/{id}", get(request))
        .with_state(api)
}

#[derive(Serialize)]
struct Service {
    service_code: String,
    service_name: String,
    description: String,
    metadata: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    keywords: String,
    group: String,
}

#[derive(Serialize)]
struct ServiceRequest {
    service_request_id: String,
    status: &'static str,
    status_notes: String,
    service_name: String,
    service_code: String,
    description: String,
    agency_responsible: String,
    requested_datetime: String,
    updated_datetime: String,
    expected_datetime: String,
    lat: f64,
    long: f64,
    media_url: String,
}

#[derive(Serialize)]
struct Error {
    code: u16,
    description: String,
}

/// Open311 errors: a list with the HTTP code and a description; internal
/// causes are not repeated.
fn error(status: &tonic::Status) -> Response {
    let code = match status.code() {
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists => StatusCode::CONFLICT,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let description = if code == StatusCode::INTERNAL_SERVER_ERROR {
        "internal error".to_owned()
    } else {
        status.message().to_owned()
    };
    (
        code,
        Json(vec![Error {
            code: code.as_u16(),
            description,
        }]),
    )
        .into_response()
}

fn request_of(api: &Api, c: pb::Case) -> ServiceRequest {
    let name = api.index.category_name(&c.category).unwrap_or_default();
    let point = c.point.unwrap_or_default();
    let open = !matches!(
        pb::CaseState::try_from(c.state),
        Ok(pb::CaseState::Closed | pb::CaseState::Rejected | pb::CaseState::Merged)
    );
    ServiceRequest {
        service_request_id: c.case_id,
        status: if open { "open" } else { "closed" },
        status_notes: pb::CaseState::try_from(c.state)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("CASE_STATE_")
                    .to_ascii_lowercase()
            })
            .unwrap_or_default(),
        service_name: name,
        service_code: c.category,
        description: c.description,
        agency_responsible: c.department,
        requested_datetime: c.reported_at.clone(),
        updated_datetime: c.reported_at,
        expected_datetime: c.due_at,
        lat: point.latitude,
        long: point.longitude,
        media_url: String::new(),
    }
}

async fn services(State(api): State<Arc<Api>>) -> Response {
    let services: Vec<Service> = api
        .index
        .categories()
        .into_iter()
        .map(|(code, name, department)| Service {
            service_code: code,
            service_name: name,
            description: String::new(),
            metadata: false,
            kind: "realtime",
            keywords: String::new(),
            group: department,
        })
        .collect();
    Json(services).into_response()
}

/// A case as the caller may read it through `GetCase`, within their data
/// scope (a case outside it is `PermissionDenied`, as over gRPC).
async fn load(
    api: &Api,
    caller: &Option<axum::Extension<Caller>>,
    id: &str,
) -> Result<ServiceRequest, tonic::Status> {
    let case = api
        .get_case(on_behalf(
            caller,
            pb::GetCaseRequest {
                case_id: id.to_owned(),
            },
        ))
        .await?
        .into_inner()
        .case
        .ok_or_else(|| tonic::Status::not_found("no such request"))?;
    Ok(request_of(api, case))
}

async fn request(
    State(api): State<Arc<Api>>,
    caller: Option<axum::Extension<Caller>>,
    Path(id): Path<String>,
) -> Response {
    let id = id.strip_suffix(".json").unwrap_or(&id);
    match load(&api, &caller, id).await {
        Ok(r) => Json(vec![r]).into_response(),
        Err(e) => error(&e),
    }
}

/// The cases the caller may read; those outside their scope are left out.
async fn requests(
    State(api): State<Arc<Api>>,
    caller: Option<axum::Extension<Caller>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let code = q.get("service_code");
    let ids = api.index.cases(code.map(String::as_str), 1000);
    let wanted = q.get("status").map(String::as_str);
    let mut out = Vec::new();
    for id in ids {
        match load(&api, &caller, &id.to_string()).await {
            Ok(r) if wanted.is_none_or(|w| w == r.status) => out.push(r),
            Ok(_) => {}
            Err(e) if e.code() == Code::PermissionDenied => {}
            Err(e) => return error(&e),
        }
    }
    Json(out).into_response()
}

#[derive(Deserialize)]
struct Create {
    service_code: String,
    lat: Option<f64>,
    long: Option<f64>,
    description: Option<String>,
    /// The reporter, a person of the registry.
    account_id: Option<String>,
}

#[derive(Serialize)]
struct Created {
    service_request_id: String,
    service_notice: String,
    account_id: String,
}

async fn create(
    State(api): State<Arc<Api>>,
    caller: Option<axum::Extension<Caller>>,
    Form(c): Form<Create>,
) -> Response {
    let id = Uuid::now_v7().to_string();
    let reply = api
        .report_case(on_behalf(
            &caller,
            pb::ReportCaseRequest {
                case_id: id.clone(),
                category: c.service_code,
                point: match (c.long, c.lat) {
                    (Some(longitude), Some(latitude)) => Some(pb::Point {
                        longitude,
                        latitude,
                    }),
                    _ => None,
                },
                datum: pb::Datum::Wgs84 as i32,
                description: c.description.unwrap_or_default(),
                reporter_person_id: c.account_id.clone().unwrap_or_default(),
                photo_ids: Vec::new(),
            },
        ))
        .await;
    match reply {
        Ok(r) => {
            let case = r.into_inner().case.map(|c| c.case_id).unwrap_or(id);
            (
                StatusCode::CREATED,
                Json(vec![Created {
                    service_request_id: case,
                    service_notice: String::new(),
                    account_id: c.account_id.unwrap_or_default(),
                }]),
            )
                .into_response()
        }
        Err(s) => error(&s),
    }
}
