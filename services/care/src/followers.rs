//! What the care service takes from other contexts: micro-wishes posted on
//! the pipeline's cloud platform, and erasures from the people registry
//! (the person's key here is destroyed too, so the household figures
//! sealed with it become unreadable).

use std::future::Future;
use std::sync::Arc;

use hongxin_bus::EventFeed;
use hongxin_domain::{Clock, CommandError, CommandHandler, RetryPolicy};
use hongxin_eventstore::EventStore;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::pipeline::v1 as pipeline;
use hongxin_runtime::follow::{caused_by, consume, settle};
use hongxin_vault::Vault;
use prost::Message as _;
use uuid::Uuid;

use crate::wishes::{self, WishDecider};

const ACTOR: &str = "service:care/followers";

const REFUSED: &str = "hongxin_care_events_refused_total";

/// Takes up the micro-wishes of the pipeline's cloud platform.
pub async fn follow_wishes(
    store: EventStore,
    clock: Arc<dyn Clock>,
    feed: EventFeed,
    shutdown: impl Future<Output = ()>,
) {
    let wishes = CommandHandler::with_clock(store, WishDecider, clock);
    consume(ACTOR, feed, shutdown, |delivery| {
        let wishes = &wishes;
        async move {
            let e = &delivery.envelope;
            let outcome = if e.event_type == "PostPublished" {
                receive(wishes, e).await
            } else {
                Ok(())
            };
            settle(delivery, outcome, REFUSED).await
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
    let ctx = caused_by(ACTOR, e);
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
    consume(ACTOR, feed, shutdown, |delivery| {
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
            settle(delivery, outcome, REFUSED).await
        }
    })
    .await;
}
