//! `hongxin`: the one command line of the platform.
//!
//! - `hongxin up`: the embedded default, every service in one process, SQLite
//!   under `./data`, events delivered in-process, the dashboard on :8080;
//! - `hongxin serve <service>`: one service of the distributed mode, on
//!   PostgreSQL and NATS JetStream;
//! - `hongxin migrate`: applies the stores' migrations and exits;
//! - `hongxin demo <scenario>`: drives a running system's public gRPC APIs
//!   through a scenario, e.g. `qihe-2022`;
//! - `hongxin import <kind> <file>`: a file from the labour union or the HR
//!   bureau into the services that own its records.

mod demo;
mod distributed;
mod embedded;
mod import;
mod keys;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use hongxin_runtime::Config;

#[derive(Parser, Debug)]
#[command(
    name = "hongxin",
    version,
    about = "红新: new-employment-group Party building and grassroots governance"
)]
struct Cli {
    /// Configuration file (TOML); HONGXIN_* environment variables override it.
    #[arg(long, global = true, env = "HONGXIN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the whole system in this process (SQLite, in-process events).
    Up,
    /// Runs one service of the distributed mode (PostgreSQL, NATS JetStream).
    Serve {
        #[arg(value_enum)]
        service: Service,
    },
    /// Applies every store's migrations and exits.
    Migrate {
        /// Migrate the embedded default's SQLite files instead of PostgreSQL.
        #[arg(long)]
        embedded: bool,
    },
    /// Mints a token with the local key (development, tools, tests).
    Token {
        /// A role: county_admin, industry_committee, community_staff,
        /// department_officer, grid_worker, worker, union_liaison,
        /// hr_liaison, dashboard_viewer, service.
        #[arg(long, required = true)]
        role: Vec<String>,
        /// A data scope: industry=<industry>, community=<id>,
        /// department=<name>, person=<id>.
        #[arg(long)]
        scope: Vec<String>,
        /// Who the token names; recorded as the actor of what it does.
        #[arg(long, default_value = "person:developer")]
        subject: String,
        #[arg(long, default_value_t = 12)]
        hours: u64,
    },
    /// Drives a running system through a scenario with its public gRPC APIs.
    Demo {
        #[arg(value_enum)]
        scenario: demo::Scenario,
        #[command(flatten)]
        options: demo::Options,
    },
    /// Imports a file from the labour union or the HR bureau into the
    /// services that own its records (`--dry-run` writes nothing).
    Import(import::Options),
}

/// The services built so far.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(crate) enum Service {
    Organization,
    Pipeline,
    Care,
    Grid,
    Projection,
    Integration,
}

/// See the workspace's `Cargo.toml` for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Several TLS backends are compiled in; the process uses one.
    hongxin_runtime::tls::install_crypto_provider();
    let config = Config::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let name = match &cli.command {
            Command::Up => "hongxin".to_owned(),
            Command::Serve { service } => format!("hongxin-{service:?}").to_lowercase(),
            Command::Migrate { .. } => "hongxin-migrate".to_owned(),
            Command::Demo { .. } => "hongxin-demo".to_owned(),
            Command::Import(_) => "hongxin-import".to_owned(),
            Command::Token { .. } => "hongxin-token".to_owned(),
        };
        let _telemetry = hongxin_runtime::telemetry::init(&config.telemetry, &name)?;
        match cli.command {
            Command::Up => embedded::up(config).await,
            Command::Serve { service } => distributed::serve(config, service).await,
            Command::Migrate { embedded: true } => embedded::migrate(&config).await,
            Command::Migrate { embedded: false } => distributed::migrate(&config).await,
            Command::Demo { scenario, options } => demo::run(&config, scenario, options).await,
            Command::Import(options) => import::run(&config, options).await,
            Command::Token {
                role,
                scope,
                subject,
                hours,
            } => token(&config, &role, &scope, &subject, hours),
        }
    })
}

/// Prints a token signed with this configuration's local key.
fn token(
    config: &Config,
    roles: &[String],
    scope: &[String],
    subject: &str,
    hours: u64,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let roles = roles
        .iter()
        .map(|r| {
            hongxin_runtime::auth::Role::parse(r)
                .with_context(|| format!("{r:?} is not a role (see hongxin token --help)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let scope = hongxin_runtime::auth::parse_scope(scope)?;
    let auth = hongxin_runtime::auth::from_config(config)?;
    println!(
        "{}",
        auth.mint(
            subject,
            &roles,
            scope,
            std::time::Duration::from_secs(hours * 3600)
        )?
    );
    Ok(())
}
