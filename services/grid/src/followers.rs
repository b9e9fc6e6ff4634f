//! What follows from a case's own events, done by a durable follower of
//! the grid's store rather than in the request that caused it: a verified
//! report earns its points, and the followers of a merged duplicate follow
//! its original. Were the process to die between the case's commit and the
//! reaction, the follower does it on the next start; each reaction is
//! idempotent (points once per case, following a set), so a redelivery
//! changes nothing.

use std::future::Future;
use std::sync::Arc;

use hongxin_bus::{EventEnvelope, EventFeed};
use hongxin_domain::{CommandError, CommandHandler, RetryPolicy};
use hongxin_proto::grid::v1 as pb;
use hongxin_runtime::follow::{caused_by, consume, settle};
use prost::Message as _;
use uuid::Uuid;

use crate::case::{self, CaseDecider};
use crate::recognition::{Award, PointsDecider};

const ACTOR: &str = "service:grid/followers";
const REFUSED: &str = "hongxin_grid_events_refused_total";

/// The follower's durable checkpoint in the grid's store.
pub const FEED_NAME: &str = "grid-cases";

/// Follows the grid's own store until `shutdown`.
pub async fn follow_cases(
    cases: Arc<CommandHandler<CaseDecider>>,
    points: Arc<CommandHandler<PointsDecider>>,
    feed: EventFeed,
    shutdown: impl Future<Output = ()>,
) {
    consume(ACTOR, feed, shutdown, |delivery| {
        let (cases, points) = (&cases, &points);
        async move {
            let outcome = react(cases, points, &delivery.envelope).await;
            settle(delivery, outcome, REFUSED).await
        }
    })
    .await;
}

async fn react(
    cases: &CommandHandler<CaseDecider>,
    points: &CommandHandler<PointsDecider>,
    e: &EventEnvelope,
) -> Result<(), CommandError> {
    if e.event_type != "CaseProgressed" {
        return Ok(());
    }
    let p = pb::CaseProgressed::decode(e.payload.as_slice())
        .map_err(|err| CommandError::invalid("payload", err.to_string()))?;
    let state = pb::CaseState::try_from(p.state).unwrap_or(pb::CaseState::Unspecified);
    // A case is closed only by the verification of its resolution.
    if !matches!(state, pb::CaseState::Closed | pb::CaseState::Merged) {
        return Ok(());
    }
    let case_id =
        Uuid::parse_str(&p.case_id).map_err(|_| CommandError::invalid("case_id", "not a UUID"))?;
    let loaded = cases
        .load(&CommandHandler::<CaseDecider>::stream_id(case_id))
        .await?;
    let Some(c) = loaded.state.0 else {
        return Err(CommandError::NotFound("the case of the event".into()));
    };
    let ctx = caused_by(ACTOR, e);
    if state == pb::CaseState::Closed {
        let at = chrono::DateTime::parse_from_rfc3339(&p.at)
            .map_err(|_| CommandError::invalid("at", "not an RFC 3339 time"))?
            .with_timezone(&chrono::Utc);
        let award = Award {
            person_id: c.report.reporter,
            case_id,
            by_grid_worker: c.report.by_grid_worker,
            on: hongxin_domain::time::beijing_today(at),
        };
        points
            .handle(
                &CommandHandler::<PointsDecider>::stream_id(c.report.reporter),
                &award,
                &ctx,
                RetryPolicy::Reload(5),
            )
            .await?;
    } else {
        let original = Uuid::parse_str(&p.merged_into_case_id)
            .map_err(|_| CommandError::invalid("merged_into_case_id", "not a UUID"))?;
        let follow = case::Command::Follow {
            people: c.followers.clone(),
        };
        cases
            .handle(
                &CommandHandler::<CaseDecider>::stream_id(original),
                &follow,
                &ctx,
                RetryPolicy::Reload(5),
            )
            .await?;
    }
    Ok(())
}
