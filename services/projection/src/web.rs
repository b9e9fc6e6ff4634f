//! The dashboard's HTTP side: the page and its JSON.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::{Freshness, Projection};

const PAGE: &str = include_str!("../web/index.html");

/// `/` (the page) and `/api/v1/overview` (its figures).
pub fn routes(projection: Projection) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/v1/overview", get(overview))
        .with_state(projection)
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
struct Overview {
    contexts: Vec<ContextStatus>,
    events: Vec<EventCount>,
    committees_by_industry: Vec<IndustryCount>,
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

async fn overview(State(p): State<Projection>) -> Result<Json<Overview>, StatusCode> {
    let fail = |e: sqlx::Error| {
        tracing::warn!(error = %e, "overview query failed");
        StatusCode::SERVICE_UNAVAILABLE
    };
    let events: Vec<EventCount> = sqlx::query_as(
        "SELECT context, event_type, events FROM event_counts ORDER BY context, event_type",
    )
    .fetch_all(p.pool())
    .await
    .map_err(fail)?;
    let committees_by_industry: Vec<IndustryCount> = sqlx::query_as(
        "SELECT industry, COUNT(*) AS committees FROM committees GROUP BY industry ORDER BY industry",
    )
    .fetch_all(p.pool())
    .await
    .map_err(fail)?;
    let contexts = p
        .freshness()
        .into_iter()
        .map(|(context, freshness)| ContextStatus { context, freshness })
        .collect();
    Ok(Json(Overview {
        contexts,
        events,
        committees_by_industry,
    }))
}
