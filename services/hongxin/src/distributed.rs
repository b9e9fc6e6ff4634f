//! The distributed mode: one service per process, PostgreSQL and NATS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hongxin_bus::{EventFeed, JetStreamSettings, OutboxRelay};
use hongxin_domain::SystemClock;
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_projection::{Projection, ProjectionDb};
use hongxin_runtime::{Config, Shutdown};
use secrecy::ExposeSecret as _;

use crate::Service;
use crate::embedded::supervise;

fn database_url(config: &Config) -> anyhow::Result<String> {
    config
        .database_url
        .as_ref()
        .map(|s| s.expose_secret().to_owned())
        .context("the distributed mode needs database_url (HONGXIN_DATABASE_URL)")
}

async fn store(config: &Config, schema: &str) -> anyhow::Result<EventStore> {
    EventStore::open(&StoreConfig::Postgres {
        url: database_url(config)?,
        schema: schema.to_owned(),
        max_connections: config.database_max_connections,
    })
    .await
    .with_context(|| format!("failed to open the {schema} store"))
}

async fn jetstream(config: &Config) -> anyhow::Result<async_nats::jetstream::Context> {
    let client = async_nats::ConnectOptions::new()
        .name("hongxin")
        .retry_on_initial_connect()
        .connect(&config.nats_url)
        .await
        .with_context(|| format!("failed to reach NATS at {}", config.nats_url))?;
    Ok(async_nats::jetstream::new(client))
}

fn settings_of(config: &Config) -> JetStreamSettings {
    JetStreamSettings {
        replicas: config.nats_replicas,
        ..JetStreamSettings::default()
    }
}

/// A service's store and NATS, with the outbox relay publishing the store's
/// events running among `tasks`.
async fn with_relay(
    config: &Config,
    context: &'static str,
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
    shutdown: &Shutdown,
) -> anyhow::Result<(EventStore, async_nats::jetstream::Context)> {
    let store = store(config, context).await?;
    let js = jetstream(config).await?;
    let relay =
        OutboxRelay::new(store.clone(), js.clone(), context).with_settings(settings_of(config));
    let s = shutdown.clone();
    tasks.spawn(async move {
        relay.run(s.wait()).await;
        Ok(())
    });
    Ok((store, js))
}

/// Serves `app` with the process's authentication, its bound on a call's
/// time and, when configured, mutual TLS, until shutdown.
pub(crate) fn secured(
    app: hongxin_runtime::grpc::GrpcApp,
    auth: &Arc<hongxin_runtime::auth::Authenticator>,
    tls: Option<&hongxin_runtime::tls::Tls>,
    shutdown: &Shutdown,
    request_timeout: std::time::Duration,
) -> impl Future<Output = anyhow::Result<()>> + Send + 'static + use<> {
    app.with_auth(auth.clone())
        .with_tls(tls)
        .with_request_timeout(request_timeout)
        .run_until_stopped(shutdown.clone())
}

/// The organization service's URL: `https` when the services speak
/// mutual TLS and no URL is configured.
fn organization_url(config: &Config, tls: Option<&hongxin_runtime::tls::Tls>) -> String {
    let url = config.organization_url();
    match (tls, url.strip_prefix("http://")) {
        (Some(_), Some(rest)) if config.organization_url.is_none() => format!("https://{rest}"),
        _ => url,
    }
}

/// How a service reaches the organization service.
fn directory(
    config: &Config,
    auth: &Arc<hongxin_runtime::auth::Authenticator>,
    tls: Option<&hongxin_runtime::tls::Tls>,
    service: Service,
) -> anyhow::Result<hongxin_organization::client::Directory> {
    Ok(hongxin_organization::client::Directory::connect_lazy_tls(
        &organization_url(config, tls),
        crate::embedded::DIRECTORY_DEADLINE,
        tls,
    )?
    .with_identity(hongxin_runtime::auth::ServiceIdentity::new(
        auth.clone(),
        &format!("{service:?}").to_lowercase(),
    )))
}

pub(crate) async fn migrate(config: &Config) -> anyhow::Result<()> {
    store(config, hongxin_organization::CONTEXT).await?;
    store(config, hongxin_pipeline::CONTEXT).await?;
    store(config, hongxin_care::CONTEXT).await?;
    store(config, hongxin_grid::CONTEXT).await?;
    store(config, hongxin_integration::CONTEXT).await?;
    Projection::open(&ProjectionDb::Postgres {
        url: database_url(config)?,
        schema: "projection".to_owned(),
    })
    .await?;
    tracing::info!("PostgreSQL stores migrated");
    Ok(())
}

pub(crate) async fn serve(config: Config, service: Service) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let timeout = config.request_timeout();
    let auth = hongxin_runtime::auth::from_config(&config)?;
    let tls = hongxin_runtime::tls::Tls::from_config(&config)?;
    let mut tasks = tokio::task::JoinSet::new();
    // What a service process serves over HTTP besides its metrics.
    let mut http_routes = hongxin_runtime::http::ops_routes();
    let metrics_port = match service {
        Service::Organization => {
            let (store, js) = with_relay(
                &config,
                hongxin_organization::CONTEXT,
                &mut tasks,
                &shutdown,
            )
            .await?;
            // The development pipeline's membership events update people,
            // enterprises and branch rosters here.
            let membership = EventFeed::jetstream(
                &js,
                "pipeline",
                "organization-membership",
                &settings_of(&config),
            )
            .await?;
            let follower = hongxin_organization::membership::MembershipFollower::new(
                store.clone(),
                Arc::new(SystemClock),
            );
            tasks.spawn({
                let s = shutdown.clone();
                async move {
                    follower.run(membership, s.wait()).await;
                    Ok(())
                }
            });
            let vault = crate::keys::vault(&config, &store)?;
            let app = hongxin_organization::build(
                SocketAddr::new(config.host, config.ports.organization),
                store,
                vault,
                Arc::new(SystemClock),
                grace,
            )
            .await?;
            println!("organization: grpc://{}:{}", config.host, app.port());
            tasks.spawn(secured(app, &auth, tls.as_ref(), &shutdown, timeout));
            Some(config.ports.metrics)
        }
        Service::Pipeline => {
            let settings: hongxin_pipeline::Settings = config
                .section("pipeline")
                .context("the [pipeline] section of the configuration is not valid")?;
            let (store, _) =
                with_relay(&config, hongxin_pipeline::CONTEXT, &mut tasks, &shutdown).await?;
            let directory = directory(&config, &auth, tls.as_ref(), service)?;
            let built = hongxin_pipeline::build(
                SocketAddr::new(config.host, config.ports.pipeline),
                store.clone(),
                &settings,
                directory,
                Arc::new(SystemClock),
                grace,
            )
            .await?;
            tasks.spawn({
                let index = built.index.clone();
                let s = shutdown.clone();
                async move {
                    index.follow(store, s.wait()).await;
                    Ok(())
                }
            });
            println!("pipeline: grpc://{}:{}", config.host, built.app.port());
            tasks.spawn(secured(built.app, &auth, tls.as_ref(), &shutdown, timeout));
            Some(config.ports.metrics)
        }
        Service::Care => {
            let settings: hongxin_care::Settings = config
                .section("care")
                .context("the [care] section of the configuration is not valid")?;
            let (store, js) =
                with_relay(&config, hongxin_care::CONTEXT, &mut tasks, &shutdown).await?;
            let vault = crate::keys::vault(&config, &store)?;
            let wishes = EventFeed::jetstream(
                &js,
                hongxin_pipeline::CONTEXT,
                "care-wishes",
                &settings_of(&config),
            )
            .await?;
            let erasures = EventFeed::jetstream(
                &js,
                hongxin_organization::CONTEXT,
                "care-erasures",
                &settings_of(&config),
            )
            .await?;
            tasks.spawn({
                let (store, s) = (store.clone(), shutdown.clone());
                async move {
                    hongxin_care::follow_wishes(store, Arc::new(SystemClock), wishes, s.wait())
                        .await;
                    Ok(())
                }
            });
            tasks.spawn({
                let (vault, s) = (vault.clone(), shutdown.clone());
                async move {
                    hongxin_care::follow_erasures(vault, erasures, s.wait()).await;
                    Ok(())
                }
            });
            let directory = directory(&config, &auth, tls.as_ref(), service)?;
            let built = hongxin_care::build(
                SocketAddr::new(config.host, config.ports.care),
                store.clone(),
                vault,
                &settings,
                directory,
                Arc::new(SystemClock),
                grace,
            )
            .await?;
            tasks.spawn({
                let (index, s) = (built.index.clone(), shutdown.clone());
                async move {
                    index.follow(store, s.wait()).await;
                    Ok(())
                }
            });
            println!("care: grpc://{}:{}", config.host, built.app.port());
            tasks.spawn(secured(built.app, &auth, tls.as_ref(), &shutdown, timeout));
            Some(config.ports.metrics)
        }
        Service::Grid => {
            let settings: hongxin_grid::Settings = config
                .section("grid")
                .context("the [grid] section of the configuration is not valid")?;
            let (store, _) =
                with_relay(&config, hongxin_grid::CONTEXT, &mut tasks, &shutdown).await?;
            let directory = directory(&config, &auth, tls.as_ref(), service)?;
            // Every grid process must see every photo: an S3-compatible
            // bucket, or else a directory they share (a mounted volume).
            let photos = match &settings.s3 {
                Some(s3) => hongxin_grid::photos::PhotoStore::s3(s3)
                    .context("the [grid.s3] photo store is not usable")?,
                None => hongxin_grid::photos::PhotoStore::on_disk(
                    settings
                        .photo_dir
                        .clone()
                        .unwrap_or_else(|| config.data_dir.join("photos")),
                )
                .context("failed to open the photo directory")?,
            };
            let built = hongxin_grid::build(
                SocketAddr::new(config.host, config.ports.grid),
                store.clone(),
                photos,
                &settings,
                directory,
                Arc::new(SystemClock),
                grace,
            )
            .await?;
            // Every grid process follows the store: reactions are
            // idempotent, so two processes reacting to one event is harmless.
            tasks.spawn(built.background(
                store,
                crate::embedded::ESCALATION_SWEEP,
                shutdown.clone(),
            ));
            println!("grid: grpc://{}:{}", config.host, built.app.port());
            http_routes = http_routes.merge(hongxin_runtime::http::guard(
                built.open311.clone(),
                auth.clone(),
                hongxin_grid::open311_policy,
            ));
            tasks.spawn(secured(built.app, &auth, tls.as_ref(), &shutdown, timeout));
            Some(config.ports.metrics)
        }
        Service::Integration => {
            let settings: hongxin_integration::Settings = config
                .section("integration")
                .context("the [integration] section of the configuration is not valid")?;
            let (store, js) =
                with_relay(&config, hongxin_integration::CONTEXT, &mut tasks, &shutdown).await?;
            let vault = crate::keys::vault(&config, &store)?;
            let registry = hongxin_integration::Registry::from(directory(
                &config,
                &auth,
                tls.as_ref(),
                service,
            )?);
            let built = hongxin_integration::build(
                SocketAddr::new(config.host, config.ports.integration),
                store,
                vault,
                registry,
                &settings,
                Arc::new(SystemClock),
                grace,
            )
            .await?;
            // One durable consumer per source context, opened by the one
            // integration process that leads deliveries (the others wait).
            let settings = settings_of(&config);
            let feeds = async move || {
                let mut feeds = Vec::new();
                for context in hongxin_integration::SOURCES {
                    let feed = EventFeed::jetstream(
                        &js,
                        context,
                        hongxin_integration::FEED_NAME,
                        &settings,
                    )
                    .await?;
                    feeds.push((*context, feed));
                }
                Ok(feeds)
            };
            tasks.spawn(built.background(feeds, shutdown.clone()));
            println!("integration: grpc://{}:{}", config.host, built.app.port());
            http_routes = http_routes.merge(built.routes.clone());
            tasks.spawn(secured(built.app, &auth, tls.as_ref(), &shutdown, timeout));
            Some(config.ports.metrics)
        }
        Service::Projection => {
            let projection = Projection::open(&ProjectionDb::Postgres {
                url: database_url(&config)?,
                schema: "projection".to_owned(),
            })
            .await?;
            let js = jetstream(&config).await?;
            for context in [
                hongxin_organization::CONTEXT,
                hongxin_pipeline::CONTEXT,
                hongxin_care::CONTEXT,
                hongxin_grid::CONTEXT,
            ] {
                let feed =
                    EventFeed::jetstream(&js, context, "projection", &settings_of(&config)).await?;
                let p = projection.clone();
                let s = shutdown.clone();
                tasks.spawn(async move {
                    p.run(context, feed, s).await;
                    Ok(())
                });
            }
            let http = hongxin_runtime::http::bind(SocketAddr::new(config.host, config.ports.http))
                .await?;
            println!(
                "dashboard: http://{}:{}/",
                config.host,
                http.local_addr()?.port()
            );
            // A rebuild reads each context's stream from its start.
            let contexts = [
                hongxin_organization::CONTEXT,
                hongxin_pipeline::CONTEXT,
                hongxin_care::CONTEXT,
                hongxin_grid::CONTEXT,
            ];
            let sources: hongxin_projection::grpc::Sources = Arc::new(move || {
                contexts
                    .iter()
                    .map(|context| hongxin_projection::RebuildSource::JetStream {
                        context: (*context).to_owned(),
                        jetstream: js.clone(),
                    })
                    .collect()
            });
            let app = hongxin_runtime::grpc::GrpcApp::build(
                SocketAddr::new(config.host, config.ports.projection),
                hongxin_projection::grpc::routes(projection.clone(), sources, shutdown.clone()),
                hongxin_projection::grpc::SERVICE_NAMES,
                grace,
            )
            .await?;
            println!("projection: grpc://{}:{}", config.host, app.port());
            tasks.spawn(secured(app, &auth, tls.as_ref(), &shutdown, timeout));
            let router = hongxin_runtime::http::dashboard(
                hongxin_projection::routes(projection, shutdown.clone()),
                auth.clone(),
            )
            .merge(hongxin_runtime::http::ops_routes());
            let s = shutdown.clone();
            tasks.spawn(async move {
                Ok(hongxin_runtime::http::serve(http, router, timeout, s).await?)
            });
            None // metrics are on the dashboard's port
        }
    };
    if let Some(port) = metrics_port {
        let http = hongxin_runtime::http::bind(SocketAddr::new(config.host, port)).await?;
        println!(
            "metrics: http://{}:{}/metrics",
            config.host,
            http.local_addr()?.port()
        );
        let s = shutdown.clone();
        tasks.spawn(async move {
            Ok(hongxin_runtime::http::serve(http, http_routes, timeout, s).await?)
        });
    }
    supervise(&mut tasks, &shutdown).await
}
