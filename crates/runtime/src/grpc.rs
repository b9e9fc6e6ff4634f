//! gRPC servers: every one answers health and reflection, tags each call
//! with a correlation id, continues the caller's trace, and drains on
//! shutdown with a grace timeout.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use futures::FutureExt as _;
use opentelemetry::propagation::Extractor;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use uuid::Uuid;

use crate::Shutdown;

pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// The call's correlation id, from the caller's `x-correlation-id` or new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorrelationId(pub Uuid);

/// The caller's W3C trace context, as received.
#[derive(Clone, Debug, Default)]
pub struct IncomingTrace {
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

/// Binds before serving, so the caller learns the port (0 = any free one).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to bind gRPC on {addr}"))
}

/// Serves `routes` plus health and reflection on `listener` until shutdown,
/// then lets calls in flight finish for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    service_names: &[&str],
    auth: Option<std::sync::Arc<crate::auth::Authenticator>>,
    tls: Option<tonic::transport::ServerTlsConfig>,
    shutdown: Shutdown,
    grace: Duration,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in service_names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(hongxin_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("failed to build gRPC reflection")?;

    let stopping = {
        let shutdown = shutdown.clone();
        let reporter = reporter.clone();
        let names: Vec<String> = service_names.iter().map(|s| (*s).to_owned()).collect();
        async move {
            shutdown.wait().await;
            // Tell load balancers first, then stop accepting.
            for name in names {
                reporter
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
        }
    };
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .context("the TLS configuration is not usable")?;
    }
    let server = builder
        .layer(CorrelationLayer)
        .layer(crate::auth::AuthLayer::new(auth))
        .add_routes(routes)
        .add_service(health)
        .add_service(reflection)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stopping);
    let deadline = async {
        shutdown.wait().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = server => r.context("gRPC server failed"),
        _ = deadline => {
            tracing::warn!(?grace, "calls still in flight after the grace period; stopping anyway");
            Ok(())
        }
    }
}

/// Adds a correlation id and a span, continuing the caller's trace.
#[derive(Clone, Copy, Debug, Default)]
pub struct CorrelationLayer;

impl<S> Layer<S> for CorrelationLayer {
    type Service = Correlation<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Correlation { inner }
    }
}

#[derive(Clone, Debug)]
pub struct Correlation<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> Service<http::Request<B>> for Correlation<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let id = req
            .headers()
            .get(CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Uuid::parse_str(v).ok())
            .unwrap_or_else(Uuid::now_v7);
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let trace = IncomingTrace {
            traceparent: header("traceparent"),
            tracestate: header("tracestate"),
        };
        let span = tracing::info_span!(
            "grpc",
            rpc.method = %req.uri().path(),
            correlation_id = %id,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(req.headers()))
        });
        let _ = span.set_parent(parent);
        req.extensions_mut().insert(CorrelationId(id));
        req.extensions_mut().insert(trace);
        let started = std::time::Instant::now();
        let method = req.uri().path().to_owned();
        let fut = self.inner.call(req);
        async move {
            let mut response = fut.await?;
            if let Ok(v) = http::HeaderValue::from_str(&id.to_string()) {
                response.headers_mut().insert(CORRELATION_HEADER, v);
            }
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0")
                .to_owned();
            metrics::histogram!("hongxin_grpc_request_seconds", "method" => method, "code" => code)
                .record(started.elapsed().as_secs_f64());
            Ok(response)
        }
        .instrument(span)
        .boxed()
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// A bound, not yet running gRPC server: tests read its port, then run it.
#[derive(Debug)]
pub struct GrpcApp {
    listener: TcpListener,
    routes: Routes,
    names: Vec<&'static str>,
    grace: Duration,
    auth: Option<std::sync::Arc<crate::auth::Authenticator>>,
    tls: Option<tonic::transport::ServerTlsConfig>,
}

impl GrpcApp {
    /// Binds `addr` (port 0 = any free one) for `routes`, whose gRPC service
    /// names are reported by the health service.
    pub async fn build(
        addr: SocketAddr,
        routes: Routes,
        names: &[&'static str],
        grace: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            listener: bind(addr).await?,
            routes,
            names: names.to_vec(),
            grace,
            auth: None,
            tls: None,
        })
    }

    /// Serves TLS and asks callers for a client certificate of the
    /// deployment's CA (mutual TLS).
    pub fn with_tls(mut self, tls: Option<&crate::tls::Tls>) -> Self {
        self.tls = tls.map(crate::tls::Tls::server);
        self
    }

    /// Checks the bearer token of every call with `auth` (see
    /// [`crate::auth::policy`]); without it, only health checks and
    /// reflection are answered.
    pub fn with_auth(mut self, auth: std::sync::Arc<crate::auth::Authenticator>) -> Self {
        self.auth = Some(auth);
        self
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        serve(
            self.listener,
            self.routes,
            &self.names,
            self.auth,
            self.tls,
            shutdown,
            self.grace,
        )
        .await
    }
}
