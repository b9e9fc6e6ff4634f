//! A gRPC call's command run through an aggregate's handler, and an
//! aggregate loaded for an answer; failures as the status a client sees.

use hongxin_domain::{CommandContext, CommandHandler, Decider, Outcome, RetryPolicy};
use tonic::Status;

use crate::status_of;

/// Handles `command` for the aggregate `id`, decided again on a conflict
/// (up to five times) unless the caller named the version it read
/// (`expected_version` > 0), when a conflict is theirs to resolve.
pub async fn run<D: Decider>(
    handler: &CommandHandler<D>,
    id: impl std::fmt::Display,
    command: &D::Command,
    mut ctx: CommandContext,
    expected_version: u64,
) -> Result<Outcome<D>, Status> {
    if expected_version > 0 {
        ctx.expected_version = Some(expected_version);
    }
    handler
        .handle(
            &CommandHandler::<D>::stream_id(id),
            command,
            &ctx,
            RetryPolicy::Reload(5),
        )
        .await
        .map_err(status_of)
}

/// The aggregate `id` and its version (the initial state when it has no
/// events).
pub async fn load<D: Decider>(
    handler: &CommandHandler<D>,
    id: impl std::fmt::Display,
) -> Result<(D::State, u64), Status> {
    let loaded = handler
        .load(&CommandHandler::<D>::stream_id(id))
        .await
        .map_err(status_of)?;
    Ok((loaded.state, loaded.version))
}
