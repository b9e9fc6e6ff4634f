//! Pull by cursor: `GET /integration/v1/subscriptions/{id}/events?after=<cursor>&limit=<n>`.
//!
//! A partner that was away asks for the CloudEvents its subscription
//! received after the last cursor it holds (`hongxincursor` of each event).
//! The request is signed like a delivery, with any key of the subscription
//! that verifies now, over `"<t>.GET <path>?<query>"` exactly as sent; the
//! answer is signed with the newest key over its body.
//!
//! Answers: 200 `{"events": [...], "nextCursor": n}`; 400 for a bad cursor
//! or limit; 401 for a missing, stale or wrong signature (and for an
//! unknown subscription, so ids cannot be probed); 503 while a store or the
//! registry is away.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hongxin_domain::CommandError;
use serde_json::json;
use uuid::Uuid;

use crate::delivery::Engine;
use crate::signing;

/// How far a request's `t` may be from now.
const TOLERANCE_SECONDS: i64 = 300;
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

pub fn routes(engine: Engine) -> Router {
    Router::new()
        .route("/integration/v1/subscriptions/{id}/events", get(events))
        .with_state(engine)
}

fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        json!({ "status": status.as_u16(), "detail": detail }).to_string(),
    )
        .into_response()
}

fn unavailable(e: &CommandError) -> Response {
    match e {
        CommandError::Unavailable(_) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "a store or the registry is unavailable; try again later",
        ),
        other => {
            tracing::error!(error = %other, "a pull failed");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn events(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let unauthorized = || {
        problem(
            StatusCode::UNAUTHORIZED,
            "a valid Hongxin-Signature is needed",
        )
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return unauthorized();
    };
    let mut after = 0u64;
    let mut limit = DEFAULT_LIMIT;
    for pair in uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "after" => match v.parse() {
                Ok(a) => after = a,
                Err(_) => {
                    return problem(
                        StatusCode::BAD_REQUEST,
                        "after must be a cursor (a whole number)",
                    );
                }
            },
            "limit" => match v.parse::<usize>() {
                Ok(l) if (1..=MAX_LIMIT).contains(&l) => limit = l,
                _ => return problem(StatusCode::BAD_REQUEST, "limit must be 1 to 500"),
            },
            _ => {}
        }
    }
    let Some(sig) = headers
        .get(signing::HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(signing::parse)
    else {
        return unauthorized();
    };
    let now = engine.clock().now();
    if (now.timestamp() - sig.t).abs() > TOLERANCE_SECONDS {
        return unauthorized();
    }
    let sub = match engine.load(id).await {
        Ok(Some(sub)) => sub,
        Ok(None) => return unauthorized(),
        Err(e) => return unavailable(&e),
    };
    let secret = match engine.verifying_key(&sub, &sig.kid).await {
        Ok(Some(secret)) => secret,
        Ok(None) => return unauthorized(),
        Err(e) => return unavailable(&e),
    };
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    if !signing::verify(&secret, &sig, format!("GET {target}").as_bytes()) {
        return unauthorized();
    }
    let events = match engine.pull(id, after, limit).await {
        Ok(events) => events,
        Err(e) => return unavailable(&e),
    };
    let next = events
        .last()
        .and_then(|e| e.get("hongxincursor"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(after);
    let body = json!({ "events": events, "nextCursor": next }).to_string();
    let (kid, secret) = match engine.signing_key(&sub).await {
        Ok(key) => key,
        Err(e) => return unavailable(&e),
    };
    let signature = signing::sign(&secret, &kid, now, body.as_bytes());
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::HeaderName::from_static("hongxin-signature"),
                signature,
            ),
        ],
        body,
    )
        .into_response()
}
