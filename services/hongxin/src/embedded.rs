//! The embedded default: every service in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hongxin_bus::EventFeed;
use hongxin_domain::SystemClock;
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_projection::{Projection, ProjectionDb};
use hongxin_runtime::{Config, Shutdown};

async fn open_stores(config: &Config) -> anyhow::Result<(EventStore, Projection)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("failed to create {}", config.data_dir.display()))?;
    let organization = EventStore::open(&StoreConfig::Sqlite {
        path: config.data_dir.join("organization.db"),
    })
    .await
    .context("failed to open the organization store")?;
    let projection = Projection::open(&ProjectionDb::Sqlite {
        path: config.data_dir.join("projection.db"),
    })
    .await?;
    Ok((organization, projection))
}

pub(crate) async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_stores(config).await?;
    tracing::info!(data_dir = %config.data_dir.display(), "embedded stores migrated");
    Ok(())
}

pub(crate) async fn up(config: Config) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let (organization_store, projection) = open_stores(&config).await?;

    let organization = hongxin_organization::build(
        SocketAddr::new(config.host, config.ports.organization),
        organization_store.clone(),
        crate::keys::vault(&config, &organization_store)?,
        Arc::new(SystemClock),
        grace,
    )
    .await?;
    let http = hongxin_runtime::http::bind(SocketAddr::new(config.host, config.ports.http)).await?;
    let http_port = http.local_addr()?.port();

    // Startup lines are the user interface of `make run`.
    println!("hongxin {} — embedded default", env!("CARGO_PKG_VERSION"));
    println!("  data:          {}", config.data_dir.display());
    println!("  dashboard:     http://{}:{http_port}/", config.host);
    println!(
        "  metrics:       http://{}:{http_port}/metrics",
        config.host
    );
    println!(
        "  organization:  grpc://{}:{}",
        config.host,
        organization.port()
    );
    println!("press Ctrl-C to stop");

    let feed = EventFeed::in_process(
        organization_store.clone(),
        hongxin_organization::CONTEXT,
        "projection",
    )
    .await?;
    let mut tasks = tokio::task::JoinSet::new();
    {
        let p = projection.clone();
        let s = shutdown.clone();
        tasks.spawn(async move {
            p.run(hongxin_organization::CONTEXT, feed, s).await;
            Ok(())
        });
    }
    tasks.spawn(organization.run_until_stopped(shutdown.clone()));
    let router = hongxin_projection::routes(projection).merge(hongxin_runtime::http::ops_routes());
    {
        let s = shutdown.clone();
        tasks.spawn(async move { Ok(hongxin_runtime::http::serve(http, router, s).await?) });
    }
    let result = supervise(&mut tasks, &shutdown).await;
    organization_store.close().await;
    result
}

/// Waits for every task; the first failure stops the others.
pub(crate) async fn supervise(
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(error = format!("{e:#}"), "a component failed; stopping");
            shutdown.trigger();
            first_error.get_or_insert(e);
        } else if !shutdown.is_triggered() {
            // A component ended by itself: stop the rest too.
            shutdown.trigger();
        }
    }
    first_error.map_or(Ok(()), Err)
}
