//! The development-pipeline service (能力引领): candidates through the five
//! stages of member development under versioned time rules. Events are
//! published on `hongxin.pipeline.>`; the membership events
//! (`ProbationaryMemberAdmitted`, `FullMembershipConfirmed`,
//! `ProbationExtended`, `ProbationCancelled`) are what the organization
//! service follows.
//!
//! Besides candidates: double pairing (`pairing.rs`), training
//! (`training.rs`), the monthly theme Party day (`party_day.rs`) and the
//! cloud platform's posts (`posts.rs`).
//!
//! Architecture Invariant: only `grpc.rs` and `activities_api.rs` know tonic
//! and the request types; the decider knows only the domain and the protobuf of its events.

mod activities_api;
pub mod calendar;
pub mod candidate;
mod grpc;
pub mod index;
pub mod pairing;
pub mod party_day;
pub mod posts;
pub mod rules;
pub mod training;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use hongxin_domain::{Clock, CommandHandler};
use hongxin_eventstore::EventStore;
use hongxin_organization::client::Directory;
use hongxin_proto::pipeline::v1::pipeline_service_server::PipelineServiceServer;
use hongxin_runtime::grpc::GrpcApp;
use serde::Deserialize;
use tonic::service::Routes;

use crate::calendar::Calendar;
use crate::candidate::CandidateDecider;
use crate::index::CandidateIndex;
use crate::rules::{RuleBook, RuleSet};

/// The bounded context's name: store schema, NATS subjects, stream.
pub const CONTEXT: &str = "pipeline";

/// gRPC services this process serves, as health reports them.
pub const SERVICE_NAMES: &[&str] = &["hongxin.pipeline.v1.PipelineService"];

/// The `[pipeline]` section of the configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Rule sets beyond the built-in 2014 rules (`[[pipeline.rule_sets]]`).
    #[serde(default)]
    pub rule_sets: Vec<RuleSet>,
    /// The set new applications use; the 2014 rules when unset.
    pub default_rule_set: Option<String>,
    /// Public holidays, "YYYY-MM-DD".
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// Weekend days worked in exchange 调休.
    #[serde(default)]
    pub working_weekends: Vec<NaiveDate>,
}

impl Settings {
    pub fn rule_book(&self) -> anyhow::Result<RuleBook> {
        RuleBook::new(self.rule_sets.clone(), self.default_rule_set.clone())
            .map_err(anyhow::Error::msg)
    }

    pub fn calendar(&self) -> Calendar {
        Calendar::new(
            self.holidays.iter().copied(),
            self.working_weekends.iter().copied(),
        )
    }
}

/// The service, bound and ready to run, with the index of candidates by
/// branch that the caller keeps live (`index.follow(store, shutdown)`).
#[derive(Debug)]
pub struct Built {
    pub app: GrpcApp,
    pub index: CandidateIndex,
}

/// The pipeline's gRPC routes over its store.
pub fn routes(
    store: EventStore,
    settings: &Settings,
    directory: Directory,
    index: CandidateIndex,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Routes> {
    let decider = CandidateDecider {
        calendar: Arc::new(settings.calendar()),
    };
    let api = grpc::Api {
        candidates: CommandHandler::with_clock(store.clone(), decider, clock.clone()),
        rules: settings.rule_book()?,
        directory,
        index,
        pairs: CommandHandler::with_clock(store.clone(), pairing::PairDecider, clock.clone()),
        sessions: CommandHandler::with_clock(
            store.clone(),
            training::SessionDecider,
            clock.clone(),
        ),
        party_days: CommandHandler::with_clock(
            store.clone(),
            party_day::PartyDayDecider,
            clock.clone(),
        ),
        posts: CommandHandler::with_clock(store, posts::PostDecider, clock),
    };
    Ok(Routes::new(PipelineServiceServer::new(api)))
}

pub async fn build(
    addr: SocketAddr,
    store: EventStore,
    settings: &Settings,
    directory: Directory,
    clock: Arc<dyn Clock>,
    grace: Duration,
) -> anyhow::Result<Built> {
    let index = CandidateIndex::default();
    let routes = routes(store, settings, directory, index.clone(), clock)?;
    let app = GrpcApp::build(addr, routes, SERVICE_NAMES, grace).await?;
    Ok(Built { app, index })
}
