//! The care-services service (服务引领): the service centre and its
//! catalogue, help for enterprises, care activities, hardship assistance
//! with the union, supplies campaigns and micro-wishes. Events are
//! published on `hongxin.care.>`.

pub mod activity;
pub mod centre;
mod codec;
pub mod enterprise_help;
pub mod hardship;
pub mod supplies;
pub mod wishes;

/// The bounded context's name: store schema, NATS subjects, stream.
pub const CONTEXT: &str = "care";

mod followers;
mod grpc;
pub mod index;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use followers::{follow_erasures, follow_wishes};
use hongxin_domain::{Clock, CommandHandler};
use hongxin_eventstore::EventStore;
use hongxin_organization::client::Directory;
use hongxin_proto::care::v1::care_service_server::CareServiceServer;
use hongxin_runtime::grpc::GrpcApp;
use hongxin_vault::Vault;
use serde::Deserialize;

use crate::index::CareIndex;

/// gRPC services this process serves, as health reports them.
pub const SERVICE_NAMES: &[&str] = &["hongxin.care.v1.CareService"];

/// The `[care]` section of the configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The local minimum-living standard 最低生活保障标准, fen per person per
    /// month, that hardship categories are computed against.
    pub minimum_living_standard_fen: i64,
}

impl Default for Settings {
    fn default() -> Self {
        // 德州市 urban standard, 2022: ¥880 a month.
        Self {
            minimum_living_standard_fen: 88_000,
        }
    }
}

/// The service, bound, with the index the caller keeps live
/// (`index.follow(store, shutdown)`).
#[derive(Debug)]
pub struct Built {
    pub app: GrpcApp,
    pub index: CareIndex,
}

pub async fn build(
    addr: SocketAddr,
    store: EventStore,
    vault: Vault,
    settings: &Settings,
    directory: Directory,
    clock: Arc<dyn Clock>,
    grace: Duration,
) -> anyhow::Result<Built> {
    if settings.minimum_living_standard_fen <= 0 {
        anyhow::bail!("care.minimum_living_standard_fen must be a positive amount in fen");
    }
    let index = CareIndex::default();
    let api = grpc::Api {
        items: CommandHandler::with_clock(store.clone(), centre::ItemDecider, clock.clone()),
        requests: CommandHandler::with_clock(store.clone(), centre::RequestDecider, clock.clone()),
        postings: CommandHandler::with_clock(
            store.clone(),
            enterprise_help::PostingDecider,
            clock.clone(),
        ),
        problems: CommandHandler::with_clock(
            store.clone(),
            enterprise_help::ProblemDecider,
            clock.clone(),
        ),
        activities: CommandHandler::with_clock(
            store.clone(),
            activity::ActivityDecider,
            clock.clone(),
        ),
        cases: CommandHandler::with_clock(store.clone(), hardship::CaseDecider, clock.clone()),
        campaigns: CommandHandler::with_clock(
            store.clone(),
            supplies::CampaignDecider,
            clock.clone(),
        ),
        wishes: CommandHandler::with_clock(store, wishes::WishDecider, clock),
        directory,
        vault,
        index: index.clone(),
        minimum_living_standard_fen: settings.minimum_living_standard_fen,
    };
    let routes = tonic::service::Routes::new(CareServiceServer::new(api));
    let app = GrpcApp::build(addr, routes, SERVICE_NAMES, grace).await?;
    Ok(Built { app, index })
}
