//! What the care service takes from other contexts: micro-wishes posted on
//! the pipeline's cloud platform, and erasures from the people registry
//! (the person's key here is destroyed too, so the household figures
//! sealed with it become unreadable).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hongxin_bus::{BusError, Delivery, EventFeed};
use hongxin_domain::{Clock, CommandContext, CommandError, CommandHandler, RetryPolicy};
use hongxin_eventstore::EventStore;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::pipeline::v1 as pipeline;
use hongxin_vault::Vault;
use prost::Message as _;
use uuid::Uuid;

use crate::wishes::{self, WishDecider};

const ACTOR: &str = "service:care/followers";

/// Runs `handle` on every delivery of `feed` until `shutdown`; acks what was
/// handled (or can never be), naks what may work later.
async fn consume<F, Fut>(mut feed: EventFeed, shutdown: impl Future<Output = ()>, handle: F)
where
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
                tracing::warn!(error = %e, "care feed failed; retrying");
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn settle(delivery: Delivery, outcome: Result<(), CommandError>) {
    let settled = match outcome {
        Err(CommandError::Unavailable(e)) => {
            tracing::warn!(error = %e, "store unavailable; the event comes again");
            delivery.nak(Duration::from_secs(1)).await
        }
        Err(refused) => {
            tracing::error!(error = %refused, "an event from another context was refused");
            metrics::counter!("hongxin_care_events_refused_total").increment(1);
            delivery.ack().await
        }
        Ok(()) => delivery.ack().await,
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, "could not settle an event; it comes again");
    }
}

/// Takes up the micro-wishes of the pipeline's cloud platform.
pub async fn follow_wishes(
    store: EventStore,
    clock: Arc<dyn Clock>,
    feed: EventFeed,
    shutdown: impl Future<Output = ()>,
) {
    let wishes = CommandHandler::with_clock(store, WishDecider, clock);
    consume(feed, shutdown, |delivery| {
        let wishes = &wishes;
        async move {
            let e = &delivery.envelope;
            let outcome = if e.event_type == "PostPublished" {
                receive(wishes, e).await
            } else {
                Ok(())
            };
            settle(delivery, outcome).await;
        }
    })
    .await;
}

async fn receive(
    wishes: &CommandHandler<WishDecider>,
    e: &hongxin_bus::EventEnvelope,
) -> Result<(), CommandError> {
    let post = pipeline::PostPublished::decode(e.payload.as_slice())
        .map_err(|err| CommandError::invalid("payload", err.to_string()))?;
    if post.kind != pipeline::PostKind::MicroWish as i32 {
        return Ok(());
    }
    let (Ok(post_id), Ok(person_id), Some(on)) = (
        Uuid::parse_str(&post.post_id),
        Uuid::parse_str(&post.author_person_id),
        hongxin_domain::time::parse_day(&post.published_on),
    ) else {
        return Err(CommandError::invalid(
            "payload",
            "a malformed micro-wish post",
        ));
    };
    let mut ctx = CommandContext::new(ACTOR);
    ctx.causation_id = Uuid::parse_str(&e.event_id).ok();
    ctx.correlation_id = Uuid::parse_str(&e.correlation_id).unwrap_or(ctx.correlation_id);
    let command = wishes::Command::Receive(wishes::Wish {
        wish_id: post_id,
        person_id,
        title: post.title,
        received_on: on,
        post_id: Some(post_id),
    });
    wishes
        .handle(
            &CommandHandler::<WishDecider>::stream_id(post_id),
            &command,
            &ctx,
            RetryPolicy::Reload(3),
        )
        .await?;
    Ok(())
}

/// Destroys a person's key here when the registry erases them.
pub async fn follow_erasures(vault: Vault, feed: EventFeed, shutdown: impl Future<Output = ()>) {
    consume(feed, shutdown, |delivery| {
        let vault = &vault;
        async move {
            let e = &delivery.envelope;
            let outcome = if e.event_type == "PersonErased" {
                match org::PersonErased::decode(e.payload.as_slice())
                    .ok()
                    .and_then(|p| Uuid::parse_str(&p.person_id).ok())
                {
                    Some(person) => vault
                        .erase(person)
                        .await
                        .map(|_| tracing::info!(person_id = %person, "care data key destroyed"))
                        .map_err(|err| CommandError::Unavailable(Box::new(err))),
                    None => Err(CommandError::invalid("payload", "a malformed PersonErased")),
                }
            } else {
                Ok(())
            };
            settle(delivery, outcome).await;
        }
    })
    .await;
}
