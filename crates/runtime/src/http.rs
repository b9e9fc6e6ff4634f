//! The HTTP side every process has: Prometheus `/metrics` and a liveness
//! probe.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::Shutdown;

/// `/metrics` and `/healthz`, to merge into a process's HTTP router.
pub fn ops_routes() -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|| async { crate::telemetry::metrics_handle().render() }),
        )
        .route("/healthz", get(|| async { "ok" }))
}

/// Serves `router` on `listener` until shutdown.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.wait())
        .await
}

/// Binds before serving, so the caller learns the port (0 = any free one).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to bind HTTP on {addr}"))
}

/// Lets through only requests whose bearer token (the `authorization`
/// header, or an `api_key` query parameter as Open311 clients send it) may
/// make the gRPC call `rule` names for the request's method; the caller
/// goes into the request's extensions for the handler.
pub fn guard(
    router: Router,
    auth: std::sync::Arc<crate::auth::Authenticator>,
    rule: fn(&axum::http::Method) -> &'static str,
) -> Router {
    router.layer(axum::middleware::from_fn(
        move |mut req: axum::extract::Request, next: axum::middleware::Next| {
            let auth = auth.clone();
            async move {
                use axum::response::IntoResponse as _;
                let mut headers = req.headers().clone();
                if crate::auth::bearer(&headers).is_none()
                    && let Some(key) = req.uri().query().and_then(api_key)
                    && let Ok(v) = format!("Bearer {key}").parse()
                {
                    headers.insert(axum::http::header::AUTHORIZATION, v);
                }
                match crate::auth::authorize(Some(&auth), rule(req.method()), &headers).await {
                    Ok(caller) => {
                        if let Some(caller) = caller {
                            req.extensions_mut().insert(caller);
                        }
                        next.run(req).await
                    }
                    Err(status) => {
                        let code = match status.code() {
                            tonic::Code::Unauthenticated => axum::http::StatusCode::UNAUTHORIZED,
                            tonic::Code::PermissionDenied => axum::http::StatusCode::FORBIDDEN,
                            _ => axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        };
                        (
                            code,
                            axum::Json(serde_json::json!({ "error": status.message() })),
                        )
                            .into_response()
                    }
                }
            }
        },
    ))
}

/// The `api_key` of a query string.
fn api_key(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "api_key" && !v.is_empty()).then(|| v.to_owned())
    })
}

/// The dashboard's page and figures: open where the configuration says so
/// (the embedded default on loopback), else for the roles that may read
/// aggregates.
pub fn dashboard(router: Router, auth: std::sync::Arc<crate::auth::Authenticator>) -> Router {
    if auth.dashboard_is_open() {
        router
    } else {
        guard(
            router,
            auth,
            |_| "/hongxin.dashboard.v1.DashboardService/GetOverview",
        )
    }
}
