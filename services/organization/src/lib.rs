//! The organization service (组织引领): industry committees, communities,
//! enterprises, the people registry, Party organisations, report stations,
//! vanguard and the governance calendar with the county's policy. Events are
//! published on `hongxin.organization.>`.
//!
//! Architecture Invariant: only `grpc.rs` and the `*_api.rs` modules know
//! tonic and the request types; the deciders know only the domain (and the
//! protobuf of their own events).

pub mod client;
mod codec;
pub mod committee;
pub mod community;
pub mod enterprise;
pub mod filings;
mod filings_api;
pub mod governance;
mod grpc;
pub mod hr;
mod imports_api;
pub mod membership;
pub mod party;
mod people_api;
pub mod person;
pub mod policy;
mod policy_api;
pub mod shows;
pub mod station;
pub mod vanguard;
mod vanguard_api;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hongxin_domain::{Clock, CommandHandler};
use hongxin_eventstore::EventStore;
use hongxin_proto::organization::v1::organization_service_server::OrganizationServiceServer;
use hongxin_runtime::grpc::GrpcApp;
use hongxin_vault::Vault;
use tonic::service::Routes;

/// The bounded context's name: store schema, NATS subjects, stream.
pub const CONTEXT: &str = "organization";

/// gRPC services this process serves, as health reports them.
pub const SERVICE_NAMES: &[&str] = &["hongxin.organization.v1.OrganizationService"];

/// The service's gRPC routes over its event store.
pub fn routes(store: EventStore, vault: Vault, clock: Arc<dyn Clock>) -> Routes {
    let api = grpc::Api {
        people: CommandHandler::with_clock(store.clone(), person::PersonDecider, clock.clone()),
        hr_records: CommandHandler::with_clock(store.clone(), hr::HrRecordsDecider, clock.clone()),
        filings: CommandHandler::with_clock(store.clone(), filings::FilingDecider, clock.clone()),
        vault,
        shows: CommandHandler::with_clock(store.clone(), shows::ShowDecider, clock.clone()),
        policy: CommandHandler::with_clock(store.clone(), policy::PolicyDecider, clock.clone()),
        committees: CommandHandler::with_clock(
            store.clone(),
            committee::CommitteeDecider,
            clock.clone(),
        ),
        communities: CommandHandler::with_clock(
            store.clone(),
            community::CommunityDecider,
            clock.clone(),
        ),
        enterprises: CommandHandler::with_clock(
            store.clone(),
            enterprise::EnterpriseDecider,
            clock.clone(),
        ),
        organizations: CommandHandler::with_clock(
            store.clone(),
            party::PartyOrganizationDecider,
            clock.clone(),
        ),
        stations: CommandHandler::with_clock(store.clone(), station::StationDecider, clock.clone()),
        sites: CommandHandler::with_clock(store.clone(), vanguard::SiteDecider, clock.clone()),
        conventions: CommandHandler::with_clock(
            store.clone(),
            vanguard::ConventionDecider,
            clock.clone(),
        ),
        duties: CommandHandler::with_clock(store, governance::DutyDecider, clock),
    };
    Routes::new(OrganizationServiceServer::new(api))
}

/// The organization gRPC server, bound and ready to run.
pub async fn build(
    addr: SocketAddr,
    store: EventStore,
    vault: Vault,
    clock: Arc<dyn Clock>,
    grace: Duration,
) -> anyhow::Result<GrpcApp> {
    GrpcApp::build(addr, routes(store, vault, clock), SERVICE_NAMES, grace).await
}
