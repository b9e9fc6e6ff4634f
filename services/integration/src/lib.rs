//! The outbound integration (an anti-corruption layer): subscriptions of
//! the union and the HR bureau to what hongxin records, delivered as signed
//! CloudEvents 1.0 over HTTPS webhooks in order per aggregate, retried,
//! parked as dead letters an operator replays, and pulled by cursor by a
//! partner that was away. Its own events (subscriptions, keys, dead
//! letters, each subscription's log) are published on
//! `hongxin.integration.>`.
//!
//! The partner contract is `catalogue.rs` with the JSON Schemas in
//! `docs/integration/schemas/` and `docs/integration/asyncapi.yaml`.

pub mod catalogue;
pub mod delivery;
mod grpc;
pub mod index;
pub mod pull;
pub mod registry;
pub mod signing;
pub mod subscription;

/// The bounded context's name: store schema, NATS subjects, stream.
pub const CONTEXT: &str = "integration";

/// The durable name of the followers of each source context.
pub const FEED_NAME: &str = "integration";

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hongxin_bus::EventFeed;
use hongxin_domain::Clock;
use hongxin_eventstore::EventStore;
use hongxin_proto::integration::v1::integration_service_server::IntegrationServiceServer;
use hongxin_runtime::Shutdown;
use hongxin_runtime::grpc::GrpcApp;
use hongxin_vault::Vault;
use serde::Deserialize;

pub use catalogue::SOURCES;
pub use delivery::Engine;
pub use registry::Registry;

/// gRPC services this process serves, as health reports them.
pub const SERVICE_NAMES: &[&str] = &["hongxin.integration.v1.IntegrationService"];

/// The `[integration]` section of the configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Attempts at one delivery before it is parked.
    pub max_attempts: u32,
    /// The first retry waits up to this long; each next one up to twice as
    /// long (full jitter), at most `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// One POST, connection included.
    pub request_timeout_ms: u64,
    /// How long a rotated-out key still verifies, unless the call says.
    pub key_overlap_seconds: u64,
    /// How often idle deliverers look for work that another process
    /// routed (within a process they are woken at once).
    pub poll_interval_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        // Eight attempts over about two minutes at most, then the dead
        // letters; a day for partners to switch keys.
        Self {
            max_attempts: 8,
            initial_backoff_ms: 500,
            max_backoff_ms: 60_000,
            request_timeout_ms: 10_000,
            key_overlap_seconds: 86_400,
            poll_interval_ms: 1_000,
        }
    }
}

/// The service, bound, with its pull route for the caller's HTTP router
/// and its engine for the background tasks.
#[derive(Debug)]
pub struct Built {
    pub app: GrpcApp,
    /// `GET /integration/v1/subscriptions/{id}/events`, for the caller to serve.
    pub routes: axum::Router,
    pub engine: Engine,
}

/// The name processes sharing the integration store lead to deliver.
pub const DELIVERY_LEAD: &str = "integration-delivery";

impl Built {
    /// Routes every source context's events and delivers every
    /// subscription, until `shutdown`. Of the processes sharing the store,
    /// one does at a time (a second would post every event again): this
    /// one waits for the lead, then opens its durable feeds (`feeds`:
    /// context and feed) and works. A process that loses the lead stops
    /// at once and answers an error, so that its supervisor restarts it as
    /// a standby; what it had posted and not settled is posted again by
    /// the next leader, with the same event ids.
    pub fn background<F, Fut>(
        &self,
        feeds: F,
        shutdown: Shutdown,
    ) -> impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static + use<F, Fut>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<Vec<(&'static str, EventFeed)>>> + Send,
    {
        let engine = self.engine.clone();
        async move {
            let Some(mut leader) = engine.store().lead(DELIVERY_LEAD, shutdown.wait()).await?
            else {
                return Ok(());
            };
            tracing::info!("this process delivers to partners");
            let feeds = feeds().await?;
            let mut tasks = tokio::task::JoinSet::new();
            for (_, feed) in feeds {
                let (engine, s) = (engine.clone(), shutdown.clone());
                tasks.spawn(async move { engine.route(feed, s.wait()).await });
            }
            {
                let (engine, s) = (engine.clone(), shutdown.clone());
                tasks.spawn(async move { engine.deliver_all(s).await });
            }
            tokio::select! {
                () = async { while tasks.join_next().await.is_some() {} } => Ok(()),
                () = leader.lost() => {
                    tasks.abort_all();
                    anyhow::bail!("lost the lead of partner deliveries (the store's connection broke)")
                }
            }
        }
    }
}

pub async fn build(
    addr: SocketAddr,
    store: EventStore,
    vault: Vault,
    registry: Registry,
    settings: &Settings,
    clock: Arc<dyn Clock>,
    grace: Duration,
) -> anyhow::Result<Built> {
    if settings.max_attempts == 0 {
        anyhow::bail!("integration.max_attempts must be at least 1");
    }
    if settings.initial_backoff_ms > settings.max_backoff_ms {
        anyhow::bail!("integration.initial_backoff_ms must not exceed max_backoff_ms");
    }
    let engine = Engine::new(store, vault, registry, settings.clone(), clock)?;
    let routes = pull::routes(engine.clone());
    let api = grpc::Api {
        engine: engine.clone(),
    };
    let routes_grpc = tonic::service::Routes::new(IntegrationServiceServer::new(api));
    let app = GrpcApp::build(addr, routes_grpc, SERVICE_NAMES, grace).await?;
    Ok(Built {
        app,
        routes,
        engine,
    })
}
