//! Follows the development pipeline's events and brings the registry
//! along: application, activist and development target set the person's
//! Party status; admission as probationary, confirmation as full and a
//! cancelled probation also move their enterprise's member count (so
//! coverage follows) and the branch roster.
//!
//! Each step is idempotent by itself (a status already recorded changes
//! nothing), so a redelivered event, or one redelivered after a crash
//! half-way, ends in the same state; the delivery is acked only after all
//! steps.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hongxin_bus::{Delivery, EventFeed};
use hongxin_domain::{Clock, CommandContext, CommandError, CommandHandler, RetryPolicy};
use hongxin_eventstore::EventStore;
use hongxin_proto::eventing::v1::EventEnvelope;
use hongxin_proto::pipeline::v1 as pipeline;
use prost::Message as _;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::enterprise::{self, EnterpriseDecider};
use crate::party::{self, PartyOrganizationDecider};
use crate::person::{self, PartyStatus, PersonDecider};

/// The actor recorded on the events this follower causes.
const ACTOR: &str = "service:organization/membership";

/// A membership change read off a pipeline event.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Change {
    person: Uuid,
    organization: Uuid,
    status: PartyStatus,
    on: chrono::NaiveDate,
}

fn change_of(envelope: &EventEnvelope) -> Result<Option<Change>, String> {
    let fields = |person: &str, organization: &str, on: &str| -> Result<_, String> {
        Ok((
            Uuid::parse_str(person).map_err(|_| "person_id is not a UUID")?,
            Uuid::parse_str(organization).map_err(|_| "organization_id is not a UUID")?,
            hongxin_domain::time::parse_day(on).ok_or("the date is not YYYY-MM-DD")?,
        ))
    };
    let payload = envelope.payload.as_slice();
    let (person, organization, on, status) = match envelope.event_type.as_str() {
        "ProbationaryMemberAdmitted" => {
            let e =
                pipeline::ProbationaryMemberAdmitted::decode(payload).map_err(|e| e.to_string())?;
            let (p, o, d) = fields(&e.person_id, &e.organization_id, &e.admitted_on)?;
            (p, o, d, PartyStatus::Probationary)
        }
        "FullMembershipConfirmed" => {
            let e =
                pipeline::FullMembershipConfirmed::decode(payload).map_err(|e| e.to_string())?;
            let (p, o, d) = fields(&e.person_id, &e.organization_id, &e.confirmed_on)?;
            (p, o, d, PartyStatus::Full)
        }
        "ProbationCancelled" => {
            let e = pipeline::ProbationCancelled::decode(payload).map_err(|e| e.to_string())?;
            let (p, o, d) = fields(&e.person_id, &e.organization_id, &e.cancelled_on)?;
            (p, o, d, PartyStatus::None)
        }
        // The stages before membership: the registry shows them too.
        "CandidateApplied" => {
            let e = pipeline::CandidateApplied::decode(payload).map_err(|e| e.to_string())?;
            let (p, o, d) = fields(&e.person_id, &e.organization_id, &e.applied_on)?;
            (p, o, d, PartyStatus::Applicant)
        }
        "CandidateStepRecorded" => {
            let e = pipeline::CandidateStepRecorded::decode(payload).map_err(|e| e.to_string())?;
            let status = match pipeline::Step::try_from(e.step) {
                Ok(pipeline::Step::ActivistConfirmed) => PartyStatus::Activist,
                Ok(pipeline::Step::TargetConfirmed) => PartyStatus::DevelopmentTarget,
                _ => return Ok(None),
            };
            let (p, o, d) = fields(&e.person_id, &e.organization_id, &e.on)?;
            (p, o, d, status)
        }
        _ => return Ok(None),
    };
    Ok(Some(Change {
        person,
        organization,
        status,
        on,
    }))
}

/// Applies the pipeline's membership events to this context.
pub struct MembershipFollower {
    people: CommandHandler<PersonDecider>,
    enterprises: CommandHandler<EnterpriseDecider>,
    organizations: CommandHandler<PartyOrganizationDecider>,
}

impl std::fmt::Debug for MembershipFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MembershipFollower")
    }
}

impl MembershipFollower {
    pub fn new(store: EventStore, clock: Arc<dyn Clock>) -> Self {
        Self {
            people: CommandHandler::with_clock(store.clone(), PersonDecider, clock.clone()),
            enterprises: CommandHandler::with_clock(
                store.clone(),
                EnterpriseDecider,
                clock.clone(),
            ),
            organizations: CommandHandler::with_clock(store, PartyOrganizationDecider, clock),
        }
    }

    /// Consumes `feed` (the pipeline's events) until `shutdown`.
    pub async fn run(self, feed: EventFeed, shutdown: impl Future<Output = ()>) {
        hongxin_runtime::follow::consume("organization-membership", feed, shutdown, |delivery| {
            self.handle(delivery)
        })
        .await;
    }

    async fn handle(&self, delivery: Delivery) -> Option<Delivery> {
        let span = tracing::info_span!(
            "membership",
            event_type = %delivery.envelope.event_type,
            event_id = %delivery.envelope.event_id,
        );
        hongxin_runtime::context::continue_trace(
            &span,
            &delivery.envelope.traceparent,
            &delivery.envelope.tracestate,
        );
        self.settle(delivery).instrument(span).await
    }

    /// The delivery to ack, or `None` once nak'd.
    async fn settle(&self, delivery: Delivery) -> Option<Delivery> {
        let outcome = match change_of(&delivery.envelope) {
            Ok(None) => Ok(()),
            Ok(Some(change)) => self.apply(&delivery.envelope, &change).await,
            Err(why) => {
                tracing::error!(reason = %why, "a membership event could not be read; skipped");
                metrics::counter!("hongxin_membership_events_refused_total").increment(1);
                Ok(())
            }
        };
        match outcome {
            Ok(()) => Some(delivery),
            Err(CommandError::Unavailable(e)) => {
                tracing::warn!(error = %e, "store unavailable; the membership event comes again");
                if let Err(e) = delivery.nak(Duration::from_secs(1)).await {
                    tracing::warn!(error = %e, "could not nak a membership event; it comes again");
                }
                None
            }
            Err(refused) => {
                // The registry disagrees (unknown person, a step out of
                // order): an officer must look; retrying cannot help.
                tracing::error!(error = %refused, "membership event refused by the registry");
                metrics::counter!("hongxin_membership_events_refused_total").increment(1);
                Some(delivery)
            }
        }
    }

    async fn apply(&self, envelope: &EventEnvelope, change: &Change) -> Result<(), CommandError> {
        let mut ctx = CommandContext::new(ACTOR);
        ctx.correlation_id =
            Uuid::parse_str(&envelope.correlation_id).unwrap_or(ctx.correlation_id);
        ctx.causation_id = Uuid::parse_str(&envelope.event_id).ok();
        ctx.traceparent = Some(envelope.traceparent.clone()).filter(|t| !t.is_empty());
        ctx.tracestate = Some(envelope.tracestate.clone()).filter(|t| !t.is_empty());

        let status = person::Command::RecordPartyStatus(person::StatusChange {
            status: change.status,
            // The branch holds a member's affiliation, or handles the
            // application of someone on the way.
            affiliation: (change.status != PartyStatus::None).then_some(change.organization),
            on: change.on,
            source_event: ctx.causation_id,
        });
        let outcome = self
            .people
            .handle(
                &CommandHandler::<PersonDecider>::stream_id(change.person),
                &status,
                &ctx,
                RetryPolicy::Reload(3),
            )
            .await?;
        if !matches!(
            change.status,
            PartyStatus::Probationary | PartyStatus::Full | PartyStatus::None
        ) {
            // Applicants, activists and targets are on no roster.
            tracing::info!(person_id = %change.person, status = ?change.status, "pipeline stage recorded");
            return Ok(());
        }
        if let Some(enterprise_id) = outcome
            .state
            .0
            .as_ref()
            .and_then(|p| p.registration.work.enterprise)
        {
            let record = enterprise::Command::RecordMember {
                person_id: change.person,
                status: change.status,
            };
            self.enterprises
                .handle(
                    &CommandHandler::<EnterpriseDecider>::stream_id(enterprise_id),
                    &record,
                    &ctx,
                    RetryPolicy::Reload(3),
                )
                .await?;
        }
        let roster = party::Command::RecordMember {
            person_id: change.person,
            status: change.status,
        };
        self.organizations
            .handle(
                &CommandHandler::<PartyOrganizationDecider>::stream_id(change.organization),
                &roster,
                &ctx,
                RetryPolicy::Reload(3),
            )
            .await?;
        tracing::info!(person_id = %change.person, status = ?change.status, "membership recorded");
        Ok(())
    }
}
