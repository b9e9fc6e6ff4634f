//! `hongxin.integration.v1.IntegrationService`: wire types in, commands
//! out, statuses by the workspace's convention.

use chrono::{DateTime, SecondsFormat, Utc};
use hongxin_domain::{CommandError, CommandHandler};
use hongxin_proto::integration::v1 as pb;
use hongxin_proto::integration::v1::integration_service_server::IntegrationService;
use hongxin_proto::organization::v1 as org;
use hongxin_runtime::fields::Fields;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::catalogue;
use crate::delivery::Engine;
use crate::signing;
use crate::subscription::{
    Command, DeadLetter, LetterState, Partner, Spec, Subscription, SubscriptionDecider,
};

/// At most 30 days of overlap after a rotation.
const MAX_OVERLAP_SECONDS: u32 = 30 * 24 * 3600;
const MAX_URL_LEN: usize = 2_000;

#[derive(Debug)]
pub(crate) struct Api {
    pub(crate) engine: Engine,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Whether `raw` is an endpoint deliveries may go to: HTTPS, or plain HTTP
/// to the loopback interface (tests, a local relay), with no credentials.
fn endpoint_problem(raw: &str) -> Option<&'static str> {
    if raw.len() > MAX_URL_LEN {
        return Some("must be at most 2000 characters");
    }
    let Ok(url) = reqwest::Url::parse(raw) else {
        return Some("must be an absolute URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Some("must not carry credentials; deliveries are signed instead");
    }
    let Some(host) = url.host_str() else {
        return Some("must name a host");
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => None,
        "http" if loopback => None,
        "http" => Some("must be https (http only for the loopback interface)"),
        _ => Some("must be an https URL"),
    }
}

async fn view(engine: &Engine, sub: &Subscription) -> Result<pb::Subscription, Status> {
    let routed = engine.routed(sub.id).await.map_err(status_of)?;
    Ok(pb::Subscription {
        subscription_id: sub.id.to_string(),
        partner: sub.spec.partner.to_wire() as i32,
        endpoint_url: sub.spec.endpoint_url.clone(),
        event_types: sub.spec.event_types.clone(),
        industries: sub.spec.industries.clone(),
        community_ids: sub.spec.community_ids.iter().map(Uuid::to_string).collect(),
        paused: sub.paused,
        keys: sub
            .keys
            .iter()
            .map(|k| pb::SigningKey {
                key_id: k.key_id.clone(),
                issued_at: rfc3339(k.issued_at),
                valid_until: k.valid_until.map(rfc3339).unwrap_or_default(),
            })
            .collect(),
        created_at: rfc3339(sub.created_at),
        routed,
        open_dead_letters: sub.open_dead_letters() as u32,
    })
}

fn letter_view(sub: &Subscription, l: &DeadLetter) -> pb::DeadLetter {
    pb::DeadLetter {
        subscription_id: sub.id.to_string(),
        cursor: l.cursor,
        event_id: l.event_id.clone(),
        event_type: l.event_type.clone(),
        stream: l.stream.clone(),
        state: match l.state {
            LetterState::Parked => pb::DeadLetterState::Parked,
            LetterState::Held => pb::DeadLetterState::Held,
            LetterState::Delivered => pb::DeadLetterState::Delivered,
            LetterState::Discarded => pb::DeadLetterState::Discarded,
        } as i32,
        reason: if l.state == LetterState::Held {
            format!("held behind {}", l.held_behind)
        } else {
            l.reason.clone()
        },
        attempts: l.attempts,
        parked_at: rfc3339(l.parked_at),
    }
}

impl Api {
    async fn existing(&self, raw: &str) -> Result<Subscription, Status> {
        let mut f = Fields::default();
        let id = f.id("subscription_id", raw);
        f.check()?;
        let id = id.ok_or_else(|| Status::internal("internal error"))?;
        self.engine
            .load(id)
            .await
            .map_err(status_of)?
            .ok_or_else(|| status_of(CommandError::not_found("no such subscription")))
    }

    async fn run(
        &self,
        raw_id: &str,
        command: Command,
        ctx: hongxin_domain::CommandContext,
    ) -> Result<Subscription, Status> {
        let sub = self.existing(raw_id).await?;
        self.engine
            .command(sub.id, &command, &ctx)
            .await
            .map_err(status_of)?
            .ok_or_else(|| status_of(CommandError::not_found("no such subscription")))
    }

    /// A new secret, sealed with the subscription's own data key.
    async fn new_secret(&self, id: Uuid) -> Result<(String, Vec<u8>), Status> {
        let key = self
            .engine
            .vault()
            .claim(id, None)
            .await
            .map_err(|e| status_of(CommandError::Unavailable(Box::new(e))))?
            .key;
        let secret = signing::new_secret();
        let sealed = key.seal(secret.as_bytes());
        Ok((secret, sealed))
    }
}

#[tonic::async_trait]
impl IntegrationService for Api {
    async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<Response<pb::CreateSubscriptionResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("subscription_id", &r.subscription_id);
        let partner = f.required(
            "partner",
            Partner::from_wire(r.partner),
            "must be PARTNER_UNION or PARTNER_HR_BUREAU",
        );
        if let Some(problem) = endpoint_problem(&r.endpoint_url) {
            f.push("endpoint_url", problem);
        }
        if r.event_types.is_empty() {
            f.push("event_types", "must name at least one event type");
        }
        for (i, t) in r.event_types.iter().enumerate() {
            match catalogue::entitlement(t) {
                None => f.push(
                    format!("event_types[{i}]"),
                    "is not a type hongxin delivers",
                ),
                Some(e) if Some(e.partner) != partner && partner.is_some() => f.push(
                    format!("event_types[{i}]"),
                    "is not one this partner is entitled to",
                ),
                Some(_) => {}
            }
        }
        for (i, raw) in r.industries.iter().enumerate() {
            if !matches!(org::Industry::try_from(*raw), Ok(i) if i != org::Industry::Unspecified) {
                f.push(format!("industries[{i}]"), "must be a known industry");
            }
        }
        let communities = f.ids("community_ids", &r.community_ids);
        f.check()?;
        let (Some(id), Some(partner)) = (id, partner) else {
            return Err(Status::internal("internal error"));
        };
        let mut event_types = r.event_types.clone();
        event_types.sort();
        event_types.dedup();
        let mut industries = r.industries.clone();
        industries.sort_unstable();
        industries.dedup();
        let mut community_ids = communities;
        community_ids.sort();
        community_ids.dedup();
        let spec = Spec {
            partner,
            endpoint_url: r.endpoint_url,
            event_types,
            industries,
            community_ids,
        };
        let (secret, sealed_secret) = self.new_secret(id).await?;
        let outcome = self
            .engine
            .subscriptions()
            .handle(
                &CommandHandler::<SubscriptionDecider>::stream_id(id),
                &Command::Create {
                    id,
                    spec,
                    sealed_secret,
                },
                &ctx,
                hongxin_domain::RetryPolicy::Reload(3),
            )
            .await
            .map_err(status_of)?;
        self.engine.wake();
        let created = !outcome.events.is_empty();
        let sub = outcome
            .state
            .0
            .ok_or_else(|| Status::internal("internal error"))?;
        Ok(Response::new(pb::CreateSubscriptionResponse {
            subscription: Some(view(&self.engine, &sub).await?),
            signing_secret: if created { secret } else { String::new() },
        }))
    }

    async fn get_subscription(
        &self,
        request: Request<pb::GetSubscriptionRequest>,
    ) -> Result<Response<pb::GetSubscriptionResponse>, Status> {
        let sub = self.existing(&request.get_ref().subscription_id).await?;
        Ok(Response::new(pb::GetSubscriptionResponse {
            subscription: Some(view(&self.engine, &sub).await?),
        }))
    }

    async fn list_subscriptions(
        &self,
        _request: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        self.engine
            .index()
            .refresh(self.engine.store())
            .await
            .map_err(|e| status_of(e.into()))?;
        let mut subscriptions = Vec::new();
        for sub in self.engine.index().all() {
            subscriptions.push(view(&self.engine, &sub).await?);
        }
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions,
        }))
    }

    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        f.id("subscription_id", &r.subscription_id);
        if r.previous_valid_seconds > MAX_OVERLAP_SECONDS {
            f.push(
                "previous_valid_seconds",
                "must be at most 30 days (2592000)",
            );
        }
        f.check()?;
        let sub = self.existing(&r.subscription_id).await?;
        let seconds = match r.previous_valid_seconds {
            0 => self.engine.settings().key_overlap_seconds,
            s => u64::from(s),
        };
        let overlap = chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1000));
        let (secret, sealed_secret) = self.new_secret(sub.id).await?;
        let sub = self
            .run(
                &r.subscription_id,
                Command::Rotate {
                    sealed_secret,
                    overlap,
                },
                ctx,
            )
            .await?;
        let key_id = sub
            .keys
            .first()
            .map(|k| k.key_id.clone())
            .unwrap_or_default();
        Ok(Response::new(pb::RotateSigningKeyResponse {
            subscription: Some(view(&self.engine, &sub).await?),
            key_id,
            signing_secret: secret,
        }))
    }

    async fn pause_subscription(
        &self,
        request: Request<pb::PauseSubscriptionRequest>,
    ) -> Result<Response<pb::PauseSubscriptionResponse>, Status> {
        let ctx = command_context(&request);
        let sub = self
            .run(&request.get_ref().subscription_id, Command::Pause, ctx)
            .await?;
        Ok(Response::new(pb::PauseSubscriptionResponse {
            subscription: Some(view(&self.engine, &sub).await?),
        }))
    }

    async fn resume_subscription(
        &self,
        request: Request<pb::ResumeSubscriptionRequest>,
    ) -> Result<Response<pb::ResumeSubscriptionResponse>, Status> {
        let ctx = command_context(&request);
        let sub = self
            .run(&request.get_ref().subscription_id, Command::Resume, ctx)
            .await?;
        Ok(Response::new(pb::ResumeSubscriptionResponse {
            subscription: Some(view(&self.engine, &sub).await?),
        }))
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let r = request.into_inner();
        let sub = self.existing(&r.subscription_id).await?;
        let dead_letters = sub
            .dead_letters
            .values()
            .filter(|l| r.include_closed || l.is_open())
            .map(|l| letter_view(&sub, l))
            .collect();
        Ok(Response::new(pb::ListDeadLettersResponse { dead_letters }))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<pb::ReplayDeadLetterRequest>,
    ) -> Result<Response<pb::ReplayDeadLetterResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        f.id("subscription_id", &r.subscription_id);
        if r.cursor == 0 {
            f.push("cursor", "must be a dead letter's cursor");
        }
        f.check()?;
        let sub = self.existing(&r.subscription_id).await?;
        let done = self
            .engine
            .replay(sub.id, r.cursor, &ctx)
            .await
            .map_err(status_of)?;
        let (failed_cursor, failure) = done.failed.unwrap_or_default();
        Ok(Response::new(pb::ReplayDeadLetterResponse {
            delivered: done.delivered,
            failed_cursor,
            failure,
        }))
    }

    async fn discard_dead_letter(
        &self,
        request: Request<pb::DiscardDeadLetterRequest>,
    ) -> Result<Response<pb::DiscardDeadLetterResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        f.id("subscription_id", &r.subscription_id);
        if r.cursor == 0 {
            f.push("cursor", "must be a dead letter's cursor");
        }
        for v in hongxin_domain::text::text_violations("reason", &r.reason, 200) {
            f.0.push(v);
        }
        f.check()?;
        let sub = self
            .run(
                &r.subscription_id,
                Command::Discard {
                    cursor: r.cursor,
                    reason: r.reason,
                },
                ctx,
            )
            .await?;
        let letter = sub
            .dead_letters
            .get(&r.cursor)
            .map(|l| letter_view(&sub, l))
            .ok_or_else(|| status_of(CommandError::not_found("no such dead letter")))?;
        Ok(Response::new(pb::DiscardDeadLetterResponse {
            dead_letter: Some(letter),
        }))
    }
}
