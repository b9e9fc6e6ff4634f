//! The embedded default: every service in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hongxin_bus::EventFeed;
use hongxin_domain::SystemClock;
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_organization::client::Directory;
use hongxin_organization::membership::MembershipFollower;
use hongxin_projection::{Projection, ProjectionDb};
use hongxin_runtime::{Config, Shutdown};
use hongxin_vault::Vault;

/// How long one service waits for another's answer.
pub(crate) const DIRECTORY_DEADLINE: Duration = Duration::from_secs(3);

/// How often overdue cases are looked for and escalated.
pub(crate) const ESCALATION_SWEEP: Duration = Duration::from_secs(60);

/// The embedded default's stores: one SQLite file per context.
struct Stores {
    organization: EventStore,
    pipeline: EventStore,
    care: EventStore,
    grid: EventStore,
    integration: EventStore,
    projection: Projection,
}

async fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("failed to create {}", config.data_dir.display()))?;
    let open = |context: &'static str| async move {
        EventStore::open(&StoreConfig::Sqlite {
            path: config.data_dir.join(format!("{context}.db")),
        })
        .await
        .with_context(|| format!("failed to open the {context} store"))
    };
    let organization = open(hongxin_organization::CONTEXT).await?;
    let pipeline = open(hongxin_pipeline::CONTEXT).await?;
    let care = open(hongxin_care::CONTEXT).await?;
    let grid = open(hongxin_grid::CONTEXT).await?;
    let integration = open(hongxin_integration::CONTEXT).await?;
    let projection = Projection::open(&ProjectionDb::Sqlite {
        path: config.data_dir.join("projection.db"),
    })
    .await?;
    Ok(Stores {
        organization,
        pipeline,
        care,
        grid,
        integration,
        projection,
    })
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
    let timeout = config.request_timeout();
    let stores = open_stores(&config).await?;
    let pipeline_settings: hongxin_pipeline::Settings = config
        .section("pipeline")
        .context("the [pipeline] section of the configuration is not valid")?;
    let care_settings: hongxin_care::Settings = config
        .section("care")
        .context("the [care] section of the configuration is not valid")?;
    let grid_settings: hongxin_grid::Settings = config
        .section("grid")
        .context("the [grid] section of the configuration is not valid")?;
    let master_key = crate::keys::master_key(&config)?;
    let auth = hongxin_runtime::auth::from_config(&config)?;

    let organization = hongxin_organization::build(
        SocketAddr::new(config.host, config.ports.organization),
        stores.organization.clone(),
        Vault::new(stores.organization.clone(), master_key.clone()),
        Arc::new(SystemClock),
        grace,
    )
    .await?;
    // The pipeline asks the organization service over gRPC, as it does when
    // they run apart.
    let directory = Directory::connect_lazy(
        &format!("http://{}:{}", config.host, organization.port()),
        DIRECTORY_DEADLINE,
    )?
    .with_identity(hongxin_runtime::auth::ServiceIdentity::new(
        auth.clone(),
        "embedded",
    ));
    let pipeline = hongxin_pipeline::build(
        SocketAddr::new(config.host, config.ports.pipeline),
        stores.pipeline.clone(),
        &pipeline_settings,
        directory.clone(),
        Arc::new(SystemClock),
        grace,
    )
    .await?;
    // The embedded default keeps photos on disk unless a bucket is named.
    let photos = match &grid_settings.s3 {
        Some(s3) => hongxin_grid::photos::PhotoStore::s3(s3)
            .context("the [grid.s3] photo store is not usable")?,
        None => hongxin_grid::photos::PhotoStore::on_disk(
            grid_settings
                .photo_dir
                .clone()
                .unwrap_or_else(|| config.data_dir.join("photos")),
        )
        .context("failed to open the photo directory")?,
    };
    let grid = hongxin_grid::build(
        SocketAddr::new(config.host, config.ports.grid),
        stores.grid.clone(),
        photos,
        &grid_settings,
        directory.clone(),
        Arc::new(SystemClock),
        grace,
    )
    .await?;
    let care_vault = Vault::new(stores.care.clone(), master_key.clone());
    let care = hongxin_care::build(
        SocketAddr::new(config.host, config.ports.care),
        stores.care.clone(),
        care_vault.clone(),
        &care_settings,
        directory.clone(),
        Arc::new(SystemClock),
        grace,
    )
    .await?;
    let integration_settings: hongxin_integration::Settings = config
        .section("integration")
        .context("the [integration] section of the configuration is not valid")?;
    let integration = hongxin_integration::build(
        SocketAddr::new(config.host, config.ports.integration),
        stores.integration.clone(),
        Vault::new(stores.integration.clone(), master_key),
        hongxin_integration::Registry::from(directory),
        &integration_settings,
        Arc::new(SystemClock),
        grace,
    )
    .await?;
    // A rebuild reads each context's own store.
    let sources: hongxin_projection::grpc::Sources = {
        let stores = [
            (hongxin_organization::CONTEXT, stores.organization.clone()),
            (hongxin_pipeline::CONTEXT, stores.pipeline.clone()),
            (hongxin_care::CONTEXT, stores.care.clone()),
            (hongxin_grid::CONTEXT, stores.grid.clone()),
        ];
        Arc::new(move || {
            stores
                .iter()
                .map(
                    |(context, store)| hongxin_projection::RebuildSource::Store {
                        context: (*context).to_owned(),
                        store: store.clone(),
                    },
                )
                .collect()
        })
    };
    let dashboard = hongxin_runtime::grpc::GrpcApp::build(
        SocketAddr::new(config.host, config.ports.projection),
        hongxin_projection::grpc::routes(stores.projection.clone(), sources, shutdown.clone()),
        hongxin_projection::grpc::SERVICE_NAMES,
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
    println!(
        "  pipeline:      grpc://{}:{}",
        config.host,
        pipeline.app.port()
    );
    println!(
        "  grid:          grpc://{}:{}",
        config.host,
        grid.app.port()
    );
    println!(
        "  care:          grpc://{}:{}",
        config.host,
        care.app.port()
    );
    println!(
        "  projection:    grpc://{}:{}",
        config.host,
        dashboard.port()
    );
    println!(
        "  integration:   grpc://{}:{}",
        config.host,
        integration.app.port()
    );
    // A development token, so the system can be tried at once.
    let token = auth.mint(
        "person:developer",
        &[hongxin_runtime::auth::Role::CountyAdmin],
        hongxin_runtime::auth::Scope::default(),
        Duration::from_secs(12 * 3600),
    )?;
    println!("  token:         {token}");
    println!(
        "                 (county administrator, 12 h; `hongxin token --role ...` for others)"
    );
    println!("press Ctrl-C to stop");

    let mut tasks = tokio::task::JoinSet::new();
    for (context, store) in [
        (hongxin_organization::CONTEXT, &stores.organization),
        (hongxin_pipeline::CONTEXT, &stores.pipeline),
        (hongxin_care::CONTEXT, &stores.care),
        (hongxin_grid::CONTEXT, &stores.grid),
    ] {
        let feed = EventFeed::in_process(store.clone(), context, "projection").await?;
        let p = stores.projection.clone();
        let s = shutdown.clone();
        tasks.spawn(async move {
            p.run(context, feed, s).await;
            Ok(())
        });
    }
    {
        let feed = EventFeed::in_process(
            stores.pipeline.clone(),
            hongxin_pipeline::CONTEXT,
            "organization-membership",
        )
        .await?;
        let follower = MembershipFollower::new(stores.organization.clone(), Arc::new(SystemClock));
        let s = shutdown.clone();
        tasks.spawn(async move {
            follower.run(feed, s.wait()).await;
            Ok(())
        });
    }
    {
        let index = pipeline.index.clone();
        let store = stores.pipeline.clone();
        let s = shutdown.clone();
        tasks.spawn(async move {
            index.follow(store, s.wait()).await;
            Ok(())
        });
    }
    {
        let wishes = EventFeed::in_process(
            stores.pipeline.clone(),
            hongxin_pipeline::CONTEXT,
            "care-wishes",
        )
        .await?;
        let erasures = EventFeed::in_process(
            stores.organization.clone(),
            hongxin_organization::CONTEXT,
            "care-erasures",
        )
        .await?;
        let (store, s) = (stores.care.clone(), shutdown.clone());
        tasks.spawn(async move {
            hongxin_care::follow_wishes(store, Arc::new(SystemClock), wishes, s.wait()).await;
            Ok(())
        });
        let s = shutdown.clone();
        tasks.spawn(async move {
            hongxin_care::follow_erasures(care_vault, erasures, s.wait()).await;
            Ok(())
        });
        let (index, store, s) = (care.index.clone(), stores.care.clone(), shutdown.clone());
        tasks.spawn(async move {
            index.follow(store, s.wait()).await;
            Ok(())
        });
    }
    tasks.spawn(crate::distributed::secured(
        organization,
        &auth,
        None,
        &shutdown,
        timeout,
    ));
    tasks.spawn(crate::distributed::secured(
        care.app, &auth, None, &shutdown, timeout,
    ));
    tasks.spawn(grid.background(stores.grid.clone(), ESCALATION_SWEEP, shutdown.clone()));
    tasks.spawn(crate::distributed::secured(
        grid.app, &auth, None, &shutdown, timeout,
    ));
    tasks.spawn(crate::distributed::secured(
        dashboard, &auth, None, &shutdown, timeout,
    ));
    tasks.spawn(crate::distributed::secured(
        pipeline.app,
        &auth,
        None,
        &shutdown,
        timeout,
    ));
    {
        // The partners' feeds follow each source store under their own name.
        let sources = [
            (hongxin_organization::CONTEXT, stores.organization.clone()),
            (hongxin_pipeline::CONTEXT, stores.pipeline.clone()),
            (hongxin_care::CONTEXT, stores.care.clone()),
        ];
        let feeds = async move || {
            let mut feeds = Vec::new();
            for (context, store) in sources {
                let feed =
                    EventFeed::in_process(store, context, hongxin_integration::FEED_NAME).await?;
                feeds.push((context, feed));
            }
            Ok(feeds)
        };
        tasks.spawn(integration.background(feeds, shutdown.clone()));
    }
    let integration_routes = integration.routes.clone();
    tasks.spawn(crate::distributed::secured(
        integration.app,
        &auth,
        None,
        &shutdown,
        timeout,
    ));
    let router = hongxin_runtime::http::dashboard(
        hongxin_projection::routes(stores.projection.clone(), shutdown.clone()),
        auth.clone(),
    )
    .merge(hongxin_runtime::http::guard(
        grid.open311.clone(),
        auth.clone(),
        hongxin_grid::open311_policy,
    ))
    // Signed by the partner's subscription key, not a bearer token.
    .merge(integration_routes)
    .merge(hongxin_runtime::http::ops_routes());
    {
        let s = shutdown.clone();
        tasks.spawn(
            async move { Ok(hongxin_runtime::http::serve(http, router, timeout, s).await?) },
        );
    }
    let result = supervise(&mut tasks, &shutdown).await;
    stores.organization.close().await;
    stores.pipeline.close().await;
    stores.care.close().await;
    stores.grid.close().await;
    stores.integration.close().await;
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
