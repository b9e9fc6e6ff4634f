//! Followers: a service reacting to events (its own, or another context's)
//! through a durable feed, so that nothing it must do is lost when the
//! process dies between a commit and the reaction.

use std::future::Future;
use std::time::Duration;

use hongxin_bus::{BusError, Delivery, EventFeed};
use hongxin_domain::{CommandContext, CommandError};
use uuid::Uuid;

/// Runs `handle` on every delivery of `feed` until `shutdown`, backing off
/// while the feed fails; `label` names the follower in the log.
pub async fn consume<F, Fut>(
    label: &'static str,
    mut feed: EventFeed,
    shutdown: impl Future<Output = ()>,
    handle: F,
) where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(100);
    loop {
        let next = tokio::select! {
            _ = &mut shutdown => return,
            n = feed.next() => n,
        };
        match next {
            Ok(delivery) => {
                backoff = Duration::from_millis(100);
                handle(delivery).await;
            }
            Err(BusError::Closed) => return,
            Err(e) => {
                tracing::warn!(follower = label, error = %e, "feed failed; retrying");
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Acks what was handled or can never be (counted in `refused_metric` and
/// logged), naks what may work later (a store away, a conflict).
pub async fn settle(
    delivery: Delivery,
    outcome: Result<(), CommandError>,
    refused_metric: &'static str,
) {
    let settled = match outcome {
        Err(CommandError::Unavailable(e)) => {
            tracing::warn!(error = %e, "store unavailable; the event comes again");
            delivery.nak(Duration::from_secs(1)).await
        }
        Err(CommandError::Conflict(_)) => delivery.nak(Duration::from_millis(100)).await,
        Err(refused) => {
            tracing::error!(error = %refused, event_type = %delivery.envelope.event_type, "an event was refused");
            metrics::counter!(refused_metric).increment(1);
            delivery.ack().await
        }
        Ok(()) => delivery.ack().await,
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, "could not settle an event; it comes again");
    }
}

/// The context of a command a follower runs for an event: caused by it, in
/// its correlation.
pub fn caused_by(actor: &str, e: &hongxin_bus::EventEnvelope) -> CommandContext {
    let mut ctx = CommandContext::new(actor);
    ctx.causation_id = Uuid::parse_str(&e.event_id).ok();
    ctx.correlation_id = Uuid::parse_str(&e.correlation_id).unwrap_or(ctx.correlation_id);
    ctx
}
