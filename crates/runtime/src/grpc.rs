//! gRPC servers: every one answers health and reflection, tags each call
//! with a correlation id, continues the caller's trace, bounds each call's
//! time, and drains on shutdown with a grace timeout.

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

/// How long a call may take to be answered when the configuration does not
/// say ([`crate::Config::request_timeout_seconds`]).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How often an idle connection is pinged, and how long the ping may go
/// unanswered before the connection (and any watch on it) is closed: a
/// peer that vanished without closing must not hold a stream forever.
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// A TLS handshake not finished by then is dropped, so connections that
/// never complete one do not pile up.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serves the app's routes plus health and reflection until shutdown,
/// then lets calls in flight finish for up to the app's grace.
async fn serve(app: GrpcApp, shutdown: Shutdown) -> anyhow::Result<()> {
    let GrpcApp {
        listener,
        routes,
        names,
        grace,
        auth,
        tls,
        request_timeout,
    } = app;
    let service_names = &names[..];
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
    // Not `Server::timeout`: it bounds every call until its answer starts,
    // which would cut an upload (a client stream is read whole before the
    // answer), and it answers `Cancelled`. [`DeadlineLayer`] does the same
    // for the other calls with `DeadlineExceeded`, and bounds an upload's
    // pauses instead. A client's shorter `grpc-timeout` still applies.
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
        .tcp_keepalive(Some(TCP_KEEPALIVE));
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls.timeout(TLS_HANDSHAKE_TIMEOUT))
            .context("the TLS configuration is not usable")?;
    }
    let server = builder
        .layer(CorrelationLayer)
        .layer(DeadlineLayer::new(request_timeout))
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

/// Bounds a call's time: until its answer starts for a unary call or a
/// server stream (a watch streams on for as long as it lasts), and between
/// two messages of a client stream (an upload of any size goes through, a
/// stalled one does not). Too late is `DeadlineExceeded`; the handler's
/// future is dropped.
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer {
    timeout: Duration,
}

impl DeadlineLayer {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    timeout: Duration,
}

/// The paths of the contracts' methods whose request is a stream.
fn client_streaming() -> &'static std::collections::HashSet<String> {
    static PATHS: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    PATHS.get_or_init(|| {
        use prost::Message as _;
        let Ok(set) = prost_types::FileDescriptorSet::decode(hongxin_proto::FILE_DESCRIPTOR_SET)
        else {
            return std::collections::HashSet::new();
        };
        set.file
            .iter()
            .flat_map(|f| {
                f.service.iter().flat_map(move |s| {
                    s.method
                        .iter()
                        .filter(|m| m.client_streaming())
                        .map(move |m| format!("/{}.{}/{}", f.package(), s.name(), m.name()))
                })
            })
            .collect()
    })
}

impl<S, R> Service<http::Request<tonic::body::Body>> for Deadline<S>
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let timeout = self.timeout;
        if client_streaming().contains(req.uri().path()) {
            let req = req.map(|body| tonic::body::Body::new(IdleTimeout::new(body, timeout)));
            return self.inner.call(req).boxed();
        }
        let method = req.uri().path().to_owned();
        let fut = self.inner.call(req);
        async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(answer) => answer,
                Err(_) => {
                    tracing::warn!(%method, ?timeout, "a call was not answered in time");
                    Ok(crate::auth::refusal(tonic::Status::deadline_exceeded(
                        "the call took longer than the server allows",
                    )))
                }
            }
        }
        .boxed()
    }
}

/// A request body whose next part must come within `limit` of the last.
struct IdleTimeout<B> {
    inner: B,
    limit: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<B> IdleTimeout<B> {
    fn new(inner: B, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl<B> http_body::Body for IdleTimeout<B>
where
    B: http_body::Body + Unpin,
    B::Error: Into<tower::BoxError>,
{
    type Data = B::Data;
    type Error = tower::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.limit;
                this.sleep.as_mut().reset(next);
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Some(Err(Box::new(tonic::Status::deadline_exceeded(
                        "the upload paused longer than the server allows",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
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
    request_timeout: Duration,
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
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// Bounds each call's time (see [`DeadlineLayer`]);
    /// [`DEFAULT_REQUEST_TIMEOUT`] unless set.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
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
        serve(self, shutdown).await
    }
}
