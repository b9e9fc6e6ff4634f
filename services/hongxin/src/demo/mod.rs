//! `hongxin demo <scenario>`: drives a running system through a scenario
//! with nothing but the services' public gRPC APIs, so that the dashboard
//! shows what the scenario's people did.
//!
//! `qihe-2022` is the year the article in the seed describes: 齐河县's four
//! industry committees, 20 report stations, 8 enterprise Party
//! organisations, 2 new members and 23 activists, training, vanguard posts,
//! 43 part-time grid workers and their 86 + 37 cases, 18 "红色CGO", care
//! activities, hardship help and summer-cooling supplies.
//!
//! Every id is a UUID v5 of a stable name and every command that is not
//! idempotent by its id carries an `idempotency-key` made the same way, or
//! is skipped when the record already shows it; so a second run changes no
//! figure.

mod care;
mod dashboard;
mod grid;
mod organization;
mod people;
mod pipeline;
mod world;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::TryStreamExt as _;
use hongxin_proto::care::v1::care_service_client::CareServiceClient;
use hongxin_proto::grid::v1::grid_service_client::GridServiceClient;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_proto::pipeline::v1::pipeline_service_client::PipelineServiceClient;
use hongxin_runtime::Config;
use hongxin_runtime::auth::Authed;
use tokio::sync::Semaphore;
use tonic::transport::Endpoint;

use world::World;

/// The scenarios there are.
#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// 齐河县 2022: the "four leads" of the seed article.
    #[value(name = "qihe-2022")]
    Qihe2022,
}

/// Where the services are; the defaults are the configuration's host and
/// ports, as the embedded default listens.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// The organization service, e.g. http://127.0.0.1:50051.
    #[arg(long)]
    organization_url: Option<String>,
    /// The development pipeline service.
    #[arg(long)]
    pipeline_url: Option<String>,
    /// The grid governance service.
    #[arg(long)]
    grid_url: Option<String>,
    /// The care service.
    #[arg(long)]
    care_url: Option<String>,
    /// The dashboard (e.g. http://127.0.0.1:8080); when given, the demo
    /// waits for it to catch up and prints the figures.
    #[arg(long)]
    dashboard_url: Option<String>,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

/// The four services' clients, sharing one bound on calls in flight.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    pub(crate) org: OrganizationServiceClient<Authed>,
    pub(crate) pipeline: PipelineServiceClient<Authed>,
    pub(crate) grid: GridServiceClient<Authed>,
    pub(crate) care: CareServiceClient<Authed>,
    permits: Arc<Semaphore>,
    pub(crate) concurrency: usize,
}

/// How long one call may take before it is tried again.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Status codes that say "try again": a conflict on a busy record, a
/// service away or slow.
fn retryable(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Aborted | tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
    )
}

impl Api {
    async fn connect(urls: [String; 4], concurrency: usize, token: &str) -> anyhow::Result<Self> {
        let channel = |url: &str| -> anyhow::Result<Authed> {
            Ok(hongxin_runtime::auth::authed(
                Endpoint::from_shared(url.to_owned())
                    .with_context(|| format!("{url} is not a URL"))?
                    .connect_timeout(Duration::from_secs(5))
                    .connect_lazy(),
                token,
            ))
        };
        let [org, pipeline, grid, care] = urls;
        Ok(Self {
            org: OrganizationServiceClient::new(channel(&org)?),
            pipeline: PipelineServiceClient::new(channel(&pipeline)?),
            grid: GridServiceClient::new(channel(&grid)?),
            care: CareServiceClient::new(channel(&care)?),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
        })
    }

    /// Runs one call (made afresh by `attempt` each time), retrying what
    /// may succeed later; `Ok(None)` when the service answers NotFound.
    pub(crate) async fn call_opt<T, Fut>(
        &self,
        what: &str,
        mut attempt: impl FnMut() -> Fut,
    ) -> anyhow::Result<Option<T>>
    where
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut delay = Duration::from_millis(50);
        let mut tries = 0;
        loop {
            tries += 1;
            let permit = self.permits.acquire().await?;
            let result = attempt().await;
            drop(permit);
            match result {
                Ok(r) => return Ok(Some(r.into_inner())),
                Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
                Err(s) if retryable(s.code()) && tries < 12 => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(s) => {
                    anyhow::bail!("{what}: {:?}: {}", s.code(), s.message());
                }
            }
        }
    }

    /// As `call_opt`, NotFound being a failure too.
    pub(crate) async fn call<T, Fut>(
        &self,
        what: &str,
        attempt: impl FnMut() -> Fut,
    ) -> anyhow::Result<T>
    where
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.call_opt(what, attempt)
            .await?
            .with_context(|| format!("{what}: NotFound"))
    }
}

/// A request with a deadline and, when given, an idempotency key.
pub(crate) fn request<T>(message: T, key: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(CALL_TIMEOUT);
    if let Some(value) = key.and_then(|k| tonic::metadata::MetadataValue::try_from(k).ok()) {
        r.metadata_mut().insert("idempotency-key", value);
    }
    r
}

/// `rpc!(api, org.register_person(message))`, optionally `key = "…"`:
/// one call through `Api::call`, the message cloned for each try.
macro_rules! rpc {
    ($api:expr, $svc:ident . $method:ident ( $msg:expr ) $(, key = $key:expr)?) => {{
        let msg = $msg;
        let key: Option<String> = None $(.or(Some($key)))?;
        $api.call(stringify!($method), || {
            let mut client = $api.$svc.clone();
            let r = $crate::demo::request(msg.clone(), key.as_deref());
            async move { client.$method(r).await }
        })
        .await
    }};
}

/// `get!(api, grid.get_case(message))`: `Ok(None)` when NotFound.
macro_rules! get {
    ($api:expr, $svc:ident . $method:ident ( $msg:expr )) => {{
        let msg = $msg;
        $api.call_opt(stringify!($method), || {
            let mut client = $api.$svc.clone();
            let r = $crate::demo::request(msg.clone(), None);
            async move { client.$method(r).await }
        })
        .await
    }};
}

pub(crate) use {get, rpc};

/// Runs `f` over `items`, at most the API's concurrency at once, stopping
/// at the first failure.
pub(crate) async fn each<I, F, Fut>(api: &Api, items: I, f: F) -> anyhow::Result<()>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    futures::stream::iter(items.into_iter().map(Ok))
        .try_for_each_concurrent(api.concurrency * 2, f)
        .await
}

/// A progress line before and after a step, with how long it took.
pub(crate) async fn step<T>(
    label: &str,
    count: usize,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let out = work.await.with_context(|| label.to_owned())?;
    println!(
        "  ✓ {label} ×{count}  ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

fn url_or(given: &Option<String>, host: std::net::IpAddr, port: u16) -> String {
    given
        .clone()
        .unwrap_or_else(|| format!("http://{host}:{port}"))
}

/// Runs `scenario` against the services `options` and `config` name.
pub(crate) async fn run(
    config: &Config,
    scenario: Scenario,
    options: Options,
) -> anyhow::Result<()> {
    let Scenario::Qihe2022 = scenario;
    let urls = [
        options
            .organization_url
            .clone()
            .unwrap_or_else(|| config.organization_url()),
        url_or(&options.pipeline_url, config.host, config.ports.pipeline),
        url_or(&options.grid_url, config.host, config.ports.grid),
        url_or(&options.care_url, config.host, config.ports.care),
    ];
    println!("hongxin demo qihe-2022 — 齐河县 2022 “四个引领”");
    println!(
        "  organization {}  pipeline {}  grid {}  care {}",
        urls[0], urls[1], urls[2], urls[3]
    );
    // The demo acts as the county's administrator, with a token of the
    // system's own local key (it runs where the system's configuration is).
    let token = hongxin_runtime::auth::from_config(config)?.mint(
        "person:demo-qihe-2022",
        &[hongxin_runtime::auth::Role::CountyAdmin],
        hongxin_runtime::auth::Scope::default(),
        Duration::from_secs(3600),
    )?;
    let api = Api::connect(urls, options.concurrency, &token).await?;
    let world = World::qihe_2022();
    let started = Instant::now();

    println!("组织引领 organization");
    organization::run(&api, &world).await?;
    println!("能力引领 · 机制引领 · 服务引领 pipeline, grid, care");
    let (posts, (), ()) = tokio::try_join!(
        pipeline::run(&api, &world),
        grid::run(&api, &world),
        care::run(&api, &world),
    )?;
    care::fulfil_wishes(&api, &world, &posts).await?;
    println!(
        "done in {:.1} s: every figure comes from the commands above",
        started.elapsed().as_secs_f64()
    );

    if let Some(url) = options.dashboard_url {
        let overview = dashboard::wait_caught_up(&url, Duration::from_secs(120)).await?;
        dashboard::print(&overview);
    }
    Ok(())
}
