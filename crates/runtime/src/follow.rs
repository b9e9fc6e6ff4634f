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
    let mut held = Held::new(label);
    loop {
        let next = held
            .meanwhile(async {
                tokio::select! {
                    _ = &mut shutdown => None,
                    n = feed.next() => Some(n),
                }
            })
            .await;
        match next {
            None | Some(Err(BusError::Closed)) => break,
            Some(Ok(delivery)) => {
                backoff = Duration::from_millis(100);
                let caught_up = delivery.pending == 0;
                // A long handling (a retry in place while a store is away)
                // does not hold the acks before it past the bound either:
                // on JetStream they would come again after its ack wait.
                match held.meanwhile(handle(delivery)).await {
                    Some(done) => {
                        held.push(done);
                        if caught_up || held.deliveries.len() >= ACK_RUN {
                            held.confirm().await;
                        }
                    }
                    None => held.confirm().await,
                }
            }
            Some(Err(e)) => {
                held.confirm().await;
                tracing::warn!(follower = label, error = %e, "feed failed; retrying");
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    held.confirm().await;
}

/// The handled deliveries a follower holds back, to ack in one go.
struct Held {
    label: &'static str,
    deliveries: Vec<Delivery>,
    /// When the first of them was handed back.
    since: Instant,
}

impl Held {
    fn new(label: &'static str) -> Self {
        Self {
            label,
            deliveries: Vec::new(),
            since: Instant::now(),
        }
    }

    fn push(&mut self, delivery: Delivery) {
        if self.deliveries.is_empty() {
            self.since = Instant::now();
        }
        self.deliveries.push(delivery);
    }

    /// Awaits `work`, confirming the held acks meanwhile once they are
    /// `ACK_WITHIN` old.
    async fn meanwhile<T>(&mut self, work: impl Future<Output = T>) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = tokio::time::sleep_until(self.since + ACK_WITHIN), if !self.deliveries.is_empty() => {
                    self.confirm().await;
                }
            }
        }
    }

    /// Acks the held deliveries.
    async fn confirm(&mut self) {
        if self.deliveries.is_empty() {
            return;
        }
        if let Err(e) = hongxin_bus::ack_all(std::mem::take(&mut self.deliveries)).await {
            tracing::warn!(follower = self.label, error = %e, "could not ack handled events; they may come again");
        }
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
