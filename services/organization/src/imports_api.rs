//! The gRPC face of records from partners: the union's membership
//! confirmations and the HR bureau's records, each naming the person by ID
//! number. The ID number is checked (GB 11643), the person found through the
//! registry's blind index, and the record written once: the store's
//! idempotency key is the partner, the kind, the partner's record id and a
//! hash of what the record says, so the same row sent again (by a second
//! import of a file, or a retry) writes nothing. The ID number never leaves
//! the request.

use chrono::NaiveDate;
use hongxin_domain::{CommandContext, CommandHandler, Decider, DomainEvent};
use hongxin_proto::organization::v1 as pb;
use hongxin_runtime::fields::Fields;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::grpc::Api;
use crate::hr::{self, ClaimStatus, Fact, RegistrationStatus, SubsidyStatus};
use crate::person::{self, IdNumber};

/// Namespace of the content hashes in idempotency keys.
const RECORD_HASH: Uuid = Uuid::from_u128(0x6b1c_2f0e_58a4_4c1e_9d7b_3a52_e0c4_1f88);

/// Who a partner's record names and which record it is, its fields checked.
struct Named {
    id_number: Option<IdNumber>,
    name: String,
    record_id: String,
}

fn named(f: &mut Fields, record: Option<pb::PartnerRecord>, today: NaiveDate) -> Named {
    let r = record.unwrap_or_default();
    let id_number = match IdNumber::parse(&r.id_number, today) {
        Ok(id) => Some(id),
        Err(why) => {
            f.push("record.id_number", why);
            None
        }
    };
    f.0.extend(hr::record_id_violations("record.record_id", &r.record_id));
    Named {
        id_number,
        name: r.name.trim().to_owned(),
        record_id: r.record_id.trim().to_owned(),
    }
}

fn not_future(f: &mut Fields, field: &str, raw: &str, today: NaiveDate) -> Option<NaiveDate> {
    let day = f.day(field, raw)?;
    if day > today {
        f.push(field, "must not be in the future");
        return None;
    }
    Some(day)
}

/// The idempotency key of one partner record with this content.
fn record_key(
    partner: &str,
    kind: &str,
    record_id: &str,
    person_id: Uuid,
    content: &[u8],
) -> String {
    let mut bytes = person_id.as_bytes().to_vec();
    bytes.extend_from_slice(content);
    let hash = Uuid::new_v5(&RECORD_HASH, &bytes).simple();
    format!("import:{partner}:{kind}:{record_id}:{hash}")
}

impl Api {
    fn import_today(&self) -> NaiveDate {
        hongxin_domain::time::beijing_today(self.people.clock().now())
    }

    /// The registered, unerased person with this ID number; `NotFound`
    /// otherwise. A name on the record must be the registry's.
    async fn person_named(&self, named: &Named, id_number: &IdNumber) -> Result<Uuid, Status> {
        let unknown = || Status::not_found("no person with this ID number is registered");
        let id = self
            .vault
            .subject_of(id_number.as_str())
            .await
            .map_err(|e| status_of(hongxin_domain::CommandError::Unavailable(Box::new(e))))?
            .ok_or_else(unknown)?;
        let (_, _, details) = self.person_with_details(id).await?.ok_or_else(unknown)?;
        let details = details.ok_or_else(unknown)?;
        if !named.name.is_empty() && named.name != details.name {
            let mut f = Fields::default();
            f.push("record.name", "does not match the name in the registry");
            return Err(f.fail());
        }
        Ok(id)
    }

    /// Runs `command` once per record content; true when nothing was (or,
    /// with `validate_only`, would be) written.
    async fn import<D: Decider>(
        &self,
        handler: &CommandHandler<D>,
        id: Uuid,
        command: &D::Command,
        mut ctx: CommandContext,
        key: String,
        validate_only: bool,
    ) -> Result<bool, Status> {
        if !validate_only {
            ctx.idempotency_key = Some(key);
            let outcome = crate::grpc::run(handler, id, command, ctx, 0).await?;
            return Ok(outcome.events.is_empty());
        }
        let store_error = |e| status_of(hongxin_domain::CommandError::from(e));
        if handler
            .store()
            .find_idempotency_key(&key)
            .await
            .map_err(store_error)?
            .is_some()
        {
            return Ok(true);
        }
        let loaded = handler
            .load(&CommandHandler::<D>::stream_id(id))
            .await
            .map_err(status_of)?;
        let events = handler
            .decider()
            .decide(&loaded.state, command, handler.clock().now())
            .map_err(status_of)?;
        Ok(events.is_empty())
    }

    pub(crate) async fn find_person_by_id_number_impl(
        &self,
        request: Request<pb::FindPersonByIdNumberRequest>,
    ) -> Result<Response<pb::FindPersonByIdNumberResponse>, Status> {
        let mut f = Fields::default();
        let id_number = match IdNumber::parse(&request.get_ref().id_number, self.import_today()) {
            Ok(id) => Some(id),
            Err(why) => {
                f.push("id_number", why);
                None
            }
        };
        let Some(id_number) = id_number else {
            return Err(f.fail());
        };
        let named = Named {
            id_number: None,
            name: String::new(),
            record_id: String::new(),
        };
        let id = self.person_named(&named, &id_number).await?;
        Ok(Response::new(pb::FindPersonByIdNumberResponse {
            person: Some(self.person_view(id).await?),
        }))
    }

    pub(crate) async fn confirm_union_membership_impl(
        &self,
        request: Request<pb::ConfirmUnionMembershipRequest>,
    ) -> Result<Response<pb::ConfirmUnionMembershipResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let today = self.import_today();
        let mut f = Fields::default();
        let named = named(&mut f, r.record, today);
        let joined_on = not_future(&mut f, "joined_on", &r.joined_on, today);
        let (Some(id_number), Some(joined_on)) = (named.id_number.as_ref(), joined_on) else {
            return Err(f.fail());
        };
        f.check()?;
        let id = self.person_named(&named, id_number).await?;
        let (p, _, _) = self
            .person_with_details(id)
            .await?
            .ok_or_else(|| Status::not_found("no such person"))?;
        let command = person::Command::SetFlags(person::Flags {
            union_member: true,
            ..p.registration.flags.clone()
        });
        let key = record_key(
            "union",
            "membership",
            &named.record_id,
            id,
            hongxin_domain::time::format_day(joined_on).as_bytes(),
        );
        let unchanged = self
            .import(&self.people, id, &command, ctx, key, r.validate_only)
            .await?;
        Ok(Response::new(pb::ConfirmUnionMembershipResponse {
            person_id: id.to_string(),
            unchanged,
        }))
    }

    /// Records one HR bureau record of the person the record names.
    async fn hr_record(
        &self,
        ctx: CommandContext,
        mut f: Fields,
        named: Named,
        fact: Option<Fact>,
        validate_only: bool,
    ) -> Result<(Uuid, bool), Status> {
        let (Some(id_number), Some(fact)) = (named.id_number.as_ref(), fact) else {
            return Err(f.fail());
        };
        // Every problem of the row is reported before the person is looked
        // up, so bad input is InvalidArgument whoever it names.
        f.0.extend(fact.violations(self.import_today()));
        if !f.is_empty() {
            return Err(f.fail());
        }
        let id = self.person_named(&named, id_number).await?;
        let kind = fact.kind().name();
        let content = hr::Event::Recorded {
            person_id: id,
            record_id: named.record_id.clone(),
            fact: fact.clone(),
        }
        .encode();
        let key = record_key("hr", kind, &named.record_id, id, &content);
        let command = hr::Command::Record {
            person_id: id,
            record_id: named.record_id,
            fact,
        };
        let unchanged = self
            .import(&self.hr_records, id, &command, ctx, key, validate_only)
            .await?;
        Ok((id, unchanged))
    }

    pub(crate) async fn record_employment_registration_impl(
        &self,
        request: Request<pb::RecordEmploymentRegistrationRequest>,
    ) -> Result<Response<pb::RecordEmploymentRegistrationResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let today = self.import_today();
        let mut f = Fields::default();
        let named = named(&mut f, r.record, today);
        let status = RegistrationStatus::from_wire(r.status);
        let status = f.required("status", status, "must be registered or cancelled");
        let on = not_future(&mut f, "on", &r.on, today);
        let fact = match (status, on) {
            (Some(status), Some(on)) => Some(Fact::Employment {
                status,
                on,
                occupation: r.occupation.trim().to_owned(),
            }),
            _ => None,
        };
        let (id, unchanged) = self.hr_record(ctx, f, named, fact, r.validate_only).await?;
        Ok(Response::new(pb::RecordEmploymentRegistrationResponse {
            person_id: id.to_string(),
            unchanged,
        }))
    }

    pub(crate) async fn record_injury_protection_impl(
        &self,
        request: Request<pb::RecordInjuryProtectionRequest>,
    ) -> Result<Response<pb::RecordInjuryProtectionResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let today = self.import_today();
        let mut f = Fields::default();
        let named = named(&mut f, r.record, today);
        let fact = not_future(&mut f, "enrolled_on", &r.enrolled_on, today).map(|enrolled_on| {
            Fact::Protection {
                platform: r.platform.trim().to_owned(),
                enrolled_on,
            }
        });
        let (id, unchanged) = self.hr_record(ctx, f, named, fact, r.validate_only).await?;
        Ok(Response::new(pb::RecordInjuryProtectionResponse {
            person_id: id.to_string(),
            unchanged,
        }))
    }

    pub(crate) async fn record_injury_claim_impl(
        &self,
        request: Request<pb::RecordInjuryClaimRequest>,
    ) -> Result<Response<pb::RecordInjuryClaimResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let today = self.import_today();
        let mut f = Fields::default();
        let named = named(&mut f, r.record, today);
        let status = ClaimStatus::from_wire(r.status);
        let status = f.required(
            "status",
            status,
            "must be reported, confirmed, paid or refused",
        );
        let accident_on = not_future(&mut f, "accident_on", &r.accident_on, today);
        let status_on = not_future(&mut f, "status_on", &r.status_on, today);
        let fact = match (status, accident_on, status_on) {
            (Some(status), Some(accident_on), Some(status_on)) => Some(Fact::Claim {
                status,
                accident_on,
                status_on,
                paid_fen: r.paid_fen,
            }),
            _ => None,
        };
        let (id, unchanged) = self.hr_record(ctx, f, named, fact, r.validate_only).await?;
        Ok(Response::new(pb::RecordInjuryClaimResponse {
            person_id: id.to_string(),
            unchanged,
        }))
    }

    pub(crate) async fn record_training_subsidy_impl(
        &self,
        request: Request<pb::RecordTrainingSubsidyRequest>,
    ) -> Result<Response<pb::RecordTrainingSubsidyResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let today = self.import_today();
        let mut f = Fields::default();
        let named = named(&mut f, r.record, today);
        let status = SubsidyStatus::from_wire(r.status);
        let status = f.required(
            "status",
            status,
            "must be applied, approved, paid or refused",
        );
        let status_on = not_future(&mut f, "status_on", &r.status_on, today);
        let fact = match (status, status_on) {
            (Some(status), Some(status_on)) => Some(Fact::Subsidy {
                course: r.course.trim().to_owned(),
                status,
                status_on,
                amount_fen: r.amount_fen,
            }),
            _ => None,
        };
        let (id, unchanged) = self.hr_record(ctx, f, named, fact, r.validate_only).await?;
        Ok(Response::new(pb::RecordTrainingSubsidyResponse {
            person_id: id.to_string(),
            unchanged,
        }))
    }
}
