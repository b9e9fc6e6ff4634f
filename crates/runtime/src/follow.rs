//! Followers: a service reacting to events (its own, or another context's)
//! through a durable feed, so that nothing it must do is lost when the
//! process dies between a commit and the reaction.

use std::future::Future;
use std::time::Duration;

use hongxin_bus::{BusError, Delivery, EventFeed};
use hongxin_domain::{CommandContext, CommandError};
use tokio::time::Instant;
use uuid::Uuid;

/// Acks a follower holds back to confirm them in one go, and for how long
/// at most. They are confirmed at once when the feed has nothing more
/// waiting, so a follower that has caught up has saved where it is.
const ACK_RUN: usize = 256;
const ACK_WITHIN: Duration = Duration::from_secs(1);

/// Runs `handle` on every delivery of `feed` until `shutdown`, backing off
/// while the feed fails; `label` names the follower in the log.
///
/// `handle` hands back the delivery to ack, or `None` when it has settled
/// it itself (a nak). The acks are confirmed in runs (`hongxin_bus::ack_all`:
/// in process one checkpoint for the run) — each confirmation in process is
/// a write to the store the feed reads, and one per event kept a follower
/// far behind the commands of a busy store. After a crash, up to a run of
/// handled events comes again: delivery is at least once, and what a
/// follower does is idempotent.
pub async fn consume<F, Fut>(
    label: &'static str,
    mut feed: EventFeed,
    shutdown: impl Future<Output = ()>,
    handle: F,
) where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = Option<Delivery>>,
{
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(100);
    let mut handled: Vec<Delivery> = Vec::new();
    let mut oldest = Instant::now();
    loop {
        let next = tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep_until(oldest + ACK_WITHIN), if !handled.is_empty() => {
                confirm(label, &mut handled).await;
                continue;
            }
            n = feed.next() => n,
        };
        match next {
            Ok(delivery) => {
                backoff = Duration::from_millis(100);
                let caught_up = delivery.pending == 0;
                // A long handling (a retry in place while a store is away)
                // does not hold the acks before it past the bound: on
                // JetStream they would come again after its ack wait.
                let handling = handle(delivery);
                tokio::pin!(handling);
                let handed_back = loop {
                    tokio::select! {
                        done = &mut handling => break done,
                        _ = tokio::time::sleep_until(oldest + ACK_WITHIN), if !handled.is_empty() => {
                            confirm(label, &mut handled).await;
                        }
                    }
                };
                match handed_back {
                    Some(done) => {
                        if handled.is_empty() {
                            oldest = Instant::now();
                        }
                        handled.push(done);
                        if caught_up || handled.len() >= ACK_RUN {
                            confirm(label, &mut handled).await;
                        }
                    }
                    None => confirm(label, &mut handled).await,
                }
            }
            Err(BusError::Closed) => break,
            Err(e) => {
                confirm(label, &mut handled).await;
                tracing::warn!(follower = label, error = %e, "feed failed; retrying");
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    confirm(label, &mut handled).await;
}

/// Acks the handled deliveries held back.
async fn confirm(label: &'static str, handled: &mut Vec<Delivery>) {
    if handled.is_empty() {
        return;
    }
    if let Err(e) = hongxin_bus::ack_all(std::mem::take(handled)).await {
        tracing::warn!(follower = label, error = %e, "could not ack handled events; they may come again");
    }
}

/// Hands back what was handled or can never be (counted in
/// `refused_metric` and logged) to be acked; naks what may work later (a
/// store away, a conflict).
pub async fn settle(
    delivery: Delivery,
    outcome: Result<(), CommandError>,
    refused_metric: &'static str,
) -> Option<Delivery> {
    let again_after = match outcome {
        Ok(()) => return Some(delivery),
        Err(CommandError::Unavailable(e)) => {
            tracing::warn!(error = %e, "store unavailable; the event comes again");
            Duration::from_secs(1)
        }
        Err(CommandError::Conflict(_)) => Duration::from_millis(100),
        Err(refused) => {
            tracing::error!(error = %refused, event_type = %delivery.envelope.event_type, "an event was refused");
            metrics::counter!(refused_metric).increment(1);
            return Some(delivery);
        }
    };
    if let Err(e) = delivery.nak(again_after).await {
        tracing::warn!(error = %e, "could not nak an event; it comes again");
    }
    None
}

/// The context of a command a follower runs for an event: caused by it, in
/// its correlation.
pub fn caused_by(actor: &str, e: &hongxin_bus::EventEnvelope) -> CommandContext {
    let mut ctx = CommandContext::new(actor);
    ctx.causation_id = Uuid::parse_str(&e.event_id).ok();
    ctx.correlation_id = Uuid::parse_str(&e.correlation_id).unwrap_or(ctx.correlation_id);
    ctx
}
