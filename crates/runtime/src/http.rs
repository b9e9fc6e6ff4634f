//! The HTTP side every process has: Prometheus `/metrics` and a liveness
//! probe, and the server that serves every HTTP router with bounded
//! requests.

use std::net::SocketAddr;
use std::time::Duration;

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

/// How long a client may take to send a request's headers: hyper enforces
/// it only when given a timer, which `axum::serve` does not give it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Answers 503 when a request is not answered within `timeout`: the time
/// until the answer starts (reading the request's body included), so the
/// dashboard's server-sent events and a download that has started are not
/// cut.
pub fn bounded(router: Router, timeout: Duration) -> Router {
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            use axum::response::IntoResponse as _;
            let path = req.uri().path().to_owned();
            match tokio::time::timeout(timeout, next.run(req)).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!(%path, ?timeout, "an HTTP request was not answered in time");
                    (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(serde_json::json!({
                            "error": "the request took longer than the server allows"
                        })),
                    )
                        .into_response()
                }
            }
        },
    ))
}

/// Serves `router` on `listener` until shutdown, each request bounded by
/// `request_timeout` ([`bounded`]) and its headers by a read timeout; then
/// waits for the connections to finish what they were answering.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    request_timeout: Duration,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let router = bounded(router, request_timeout);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEPALIVE_INTERVAL)
        .keep_alive_timeout(HTTP2_KEEPALIVE_TIMEOUT);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let stopping = shutdown.wait();
    tokio::pin!(stopping);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: pause, not stop.
                    tracing::warn!(error = %e, "failed to accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopping => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "an HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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
