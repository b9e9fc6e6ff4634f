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
