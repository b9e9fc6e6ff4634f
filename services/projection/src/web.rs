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
    enterprises_by_industry: Vec<EnterpriseFigures>,
    enterprises_by_community: Vec<CommunityFigures>,
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
    let enterprises_by_industry: Vec<EnterpriseFigures> = sqlx::query_as(
        "SELECT industry, COUNT(*) AS enterprises, CAST(COALESCE(SUM(workers), 0) AS BIGINT) AS workers, \
         CAST(COALESCE(SUM(full_members), 0) AS BIGINT) AS full_members, \
         CAST(COALESCE(SUM(CASE WHEN full_members + probationary_members > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS with_members \
         FROM enterprises GROUP BY industry ORDER BY industry",
    )
    .fetch_all(p.pool())
    .await
    .map_err(fail)?;
    let enterprises_by_community: Vec<CommunityFigures> = sqlx::query_as(
        "SELECT COALESCE(c.name, e.community_id) AS community, COUNT(*) AS enterprises, \
         CAST(COALESCE(SUM(e.workers), 0) AS BIGINT) AS workers \
         FROM enterprises e LEFT JOIN communities c ON c.community_id = e.community_id \
         GROUP BY COALESCE(c.name, e.community_id) ORDER BY community",
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
        enterprises_by_industry,
        enterprises_by_community,
    }))
}
