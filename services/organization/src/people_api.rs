//! The gRPC face of the people registry: clear personal data comes in, is
//! checked, and leaves this module only sealed (into events) or masked
//! (into answers); `ExportPersonalData` is the one answer in clear.

use hongxin_domain::{CommandError, FieldViolation};
use hongxin_proto::organization::v1 as pb;
use hongxin_runtime::{command_context, status_of};
use hongxin_vault::{SubjectKey, VaultError};
use prost::Message as _;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::committee::Industry;
use crate::grpc::{
    Api, Violations, day, id_scope, industry_scope, load, optional_id, parse_id, run,
};
use crate::person::{self, IdNumber, PartyStatus};

/// Most references one `CheckReferences` call may ask about.
const MAX_REFERENCES: usize = 500;

fn vault_status(e: VaultError) -> Status {
    match e {
        VaultError::Store(e) => status_of(CommandError::Unavailable(Box::new(e))),
        other => status_of(CommandError::Internal(Box::new(other))),
    }
}

fn details_of(key: &SubjectKey, sealed: &[u8]) -> Result<pb::PersonalDetails, Status> {
    let clear = key.open(sealed).map_err(vault_status)?;
    pb::PersonalDetails::decode(clear.as_slice())
        .map_err(|e| status_of(CommandError::Internal(Box::new(e))))
}

/// Refuses a caller whose scope does not reach a person of `person_id`
/// with `work`: community staff reach their community's people, an
/// industry committee its industry's, a worker themselves.
fn check_work_reach<T>(
    request: &Request<T>,
    person_id: &str,
    work: &pb::PersonWork,
) -> Result<(), Status> {
    let person = id_scope(person_id);
    let community = Some(work.community_id.as_str())
        .filter(|c| !c.is_empty())
        .map(id_scope);
    let industry = pb::Industry::try_from(work.industry)
        .ok()
        .filter(|i| *i != pb::Industry::Unspecified)
        .map(industry_scope);
    hongxin_runtime::auth::check_reach(
        request,
        &hongxin_runtime::auth::Record {
            person: Some(&person),
            community: community.as_deref(),
            industry: industry.as_deref(),
            department: None,
        },
    )
}

/// Refuses a caller whose scope does not reach the person as registered.
fn check_person_reach<T>(request: &Request<T>, p: &person::Person) -> Result<(), Status> {
    let r = &p.registration;
    check_work_reach(
        request,
        &r.person_id.to_string(),
        &person::work_to_wire(&r.work),
    )
}

fn masked(p: &person::Person, version: u64, details: Option<&pb::PersonalDetails>) -> pb::Person {
    let r = &p.registration;
    pb::Person {
        person_id: r.person_id.to_string(),
        name: details.map(|d| d.name.clone()).unwrap_or_default(),
        id_number_masked: details
            .map(|d| person::mask_id_number(&d.id_number))
            .unwrap_or_default(),
        phone_masked: details
            .map(|d| person::mask_phone(&d.phone))
            .filter(|m| !m.is_empty())
            .unwrap_or_default(),
        birth_date: details.map(|d| d.birth_date.clone()).unwrap_or_default(),
        work: Some(person::work_to_wire(&r.work)),
        union_member: r.flags.union_member,
        party_status: r.party_status.to_wire() as i32,
        affiliation_organization_id: r.affiliation.map(|a| a.to_string()).unwrap_or_default(),
        mobile_member: r.flags.mobile_member,
        home_organisation: r.flags.home_organisation.clone(),
        erased: details.is_none(),
        version,
    }
}

impl Api {
    fn today(&self) -> chrono::NaiveDate {
        hongxin_domain::time::beijing_today(self.people.clock().now())
    }

    /// The person and their details in clear; details are `None` once
    /// erased (or their key is gone).
    pub(crate) async fn person_with_details(
        &self,
        id: Uuid,
    ) -> Result<Option<(person::Person, u64, Option<pb::PersonalDetails>)>, Status> {
        let Some((p, version)) = load(&self.people, id, |s, v| s.0.map(|p| (p, v))).await? else {
            return Ok(None);
        };
        if p.erased {
            return Ok(Some((p, version, None)));
        }
        let details = match self.vault.key(id).await.map_err(vault_status)? {
            Some(key) => Some(details_of(&key, &p.registration.sealed_details)?),
            None => None,
        };
        Ok(Some((p, version, details)))
    }

    pub(crate) async fn person_view(&self, id: Uuid) -> Result<pb::Person, Status> {
        let (p, version, details) = self
            .person_with_details(id)
            .await?
            .ok_or_else(|| Status::not_found("no such person"))?;
        Ok(masked(&p, version, details.as_ref()))
    }

    /// A person's work, its references checked against this service.
    async fn work_of(
        &self,
        v: &mut Violations,
        work: Option<pb::PersonWork>,
    ) -> Result<Option<person::Work>, Status> {
        let w = work.unwrap_or_default();
        let industry =
            if w.industry == 0 {
                Some(None)
            } else {
                v.take(Industry::from_wire(w.industry).map(Some).ok_or_else(|| {
                    CommandError::invalid("work.industry", "must be a known industry")
                }))
            };
        let enterprise = v.take(optional_id("work.enterprise_id", &w.enterprise_id));
        let community = v.take(optional_id("work.community_id", &w.community_id));
        if let Some(Some(e)) = enterprise
            && load(&self.enterprises, e, |s, _| s.0).await?.is_none()
        {
            v.0.push(FieldViolation::new(
                "work.enterprise_id",
                "no such enterprise",
            ));
        }
        if let Some(Some(c)) = community
            && load(&self.communities, c, |s, _| s.0).await?.is_none()
        {
            v.0.push(FieldViolation::new(
                "work.community_id",
                "no such community",
            ));
        }
        Ok(match (industry, enterprise, community) {
            (Some(industry), Some(enterprise), Some(community)) => Some(person::Work {
                industry,
                platform: w.platform,
                enterprise,
                community,
            }),
            _ => None,
        })
    }

    /// An optional Party organisation reference that must exist.
    async fn organization_ref(
        &self,
        v: &mut Violations,
        field: &str,
        raw: &str,
    ) -> Result<Option<Option<Uuid>>, Status> {
        let id = v.take(optional_id(field, raw));
        if let Some(Some(o)) = id
            && load(&self.organizations, o, |s, _| s.0).await?.is_none()
        {
            v.0.push(FieldViolation::new(field, "no such Party organisation"));
            return Ok(None);
        }
        Ok(id)
    }

    pub(crate) async fn register_person_impl(
        &self,
        request: Request<pb::RegisterPersonRequest>,
    ) -> Result<Response<pb::RegisterPersonResponse>, Status> {
        // Before anything is claimed: community staff register their
        // community's people, an industry committee its industry's.
        check_work_reach(
            &request,
            &request.get_ref().person_id,
            &request.get_ref().work.clone().unwrap_or_default(),
        )?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.take(parse_id("person_id", &r.person_id));
        v.0.extend(hongxin_domain::text::text_violations("name", &r.name, 50));
        let id_number = v.take(
            IdNumber::parse(&r.id_number, self.today())
                .map_err(|why| CommandError::invalid("id_number", why)),
        );
        let phone = if r.phone.trim().is_empty() {
            Some(String::new())
        } else {
            v.take(person::parse_phone(&r.phone).map_err(|why| CommandError::invalid("phone", why)))
        };
        let work = self.work_of(&mut v, r.work).await?;
        let status =
            v.take(PartyStatus::from_wire(r.party_status).ok_or_else(|| {
                CommandError::invalid("party_status", "must be a known Party status")
            }));
        let affiliation = self
            .organization_ref(
                &mut v,
                "affiliation_organization_id",
                &r.affiliation_organization_id,
            )
            .await?;
        let (Some(id), Some(id_number), Some(phone), Some(work), Some(status), Some(affiliation)) =
            (id, id_number, phone, work, status, affiliation)
        else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        if !v.0.is_empty() {
            return Err(status_of(CommandError::Invalid(v.0)));
        }

        let lookup = self.vault.lookup(id_number.as_str());
        let claimed = match self.vault.claim(id, Some(lookup)).await {
            Ok(c) => c,
            Err(VaultError::LookupTaken { by }) => {
                return Err(status_of(CommandError::rejected(format!(
                    "this ID number is already registered (person {by})"
                ))));
            }
            Err(VaultError::LookupMismatch) => {
                return Err(status_of(CommandError::rejected(format!(
                    "person {id} is already registered with another ID number"
                ))));
            }
            Err(e) => return Err(vault_status(e)),
        };
        let details = pb::PersonalDetails {
            name: r.name.trim().to_owned(),
            id_number: id_number.as_str().to_owned(),
            phone,
            birth_date: hongxin_domain::time::format_day(id_number.birth_date()),
        };
        let command = person::Command::Register(person::Registration {
            person_id: id,
            sealed_details: claimed.key.seal(&details.encode_to_vec()),
            work,
            flags: person::Flags {
                union_member: r.union_member,
                mobile_member: r.mobile_member,
                home_organisation: r.home_organisation,
            },
            party_status: status,
            affiliation,
        });
        let outcome = match run(&self.people, id, &command, ctx, 0).await {
            Ok(o) => o,
            Err(status) => {
                // Refused, so nothing was registered: give the ID number
                // back. (After an unavailable store the outcome is unknown;
                // a retry finds the key and completes.)
                let refused = matches!(
                    status.code(),
                    tonic::Code::InvalidArgument
                        | tonic::Code::FailedPrecondition
                        | tonic::Code::NotFound
                );
                if claimed.created && refused {
                    let _ = self.vault.erase(id).await;
                }
                return Err(status);
            }
        };
        let person = outcome
            .state
            .0
            .as_ref()
            .map(|p| {
                let details = details_of(&claimed.key, &p.registration.sealed_details)?;
                Ok::<_, Status>(masked(p, outcome.version, Some(&details)))
            })
            .transpose()?;
        Ok(Response::new(pb::RegisterPersonResponse { person }))
    }

    pub(crate) async fn change_person_work_impl(
        &self,
        request: Request<pb::ChangePersonWorkRequest>,
    ) -> Result<Response<pb::ChangePersonWorkResponse>, Status> {
        // The person must be within the caller's scope, and stay there:
        // community staff do not move a person to another community, nor
        // an industry committee to another industry.
        if let Ok(id) = parse_id("person_id", &request.get_ref().person_id) {
            self.check_person_reach_of(&request, id).await?;
            check_work_reach(
                &request,
                &id.to_string(),
                &request.get_ref().work.clone().unwrap_or_default(),
            )?;
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.take(parse_id("person_id", &r.person_id));
        let work = self.work_of(&mut v, r.work).await?;
        let (Some(id), Some(work)) = (id, work) else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        if !v.0.is_empty() {
            return Err(status_of(CommandError::Invalid(v.0)));
        }
        run(
            &self.people,
            id,
            &person::Command::ChangeWork(work),
            ctx,
            r.expected_version,
        )
        .await?;
        Ok(Response::new(pb::ChangePersonWorkResponse {
            person: Some(self.person_view(id).await?),
        }))
    }

    pub(crate) async fn change_person_contact_impl(
        &self,
        request: Request<pb::ChangePersonContactRequest>,
    ) -> Result<Response<pb::ChangePersonContactResponse>, Status> {
        if let Ok(id) = parse_id("person_id", &request.get_ref().person_id) {
            self.check_person_reach_of(&request, id).await?;
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.take(parse_id("person_id", &r.person_id));
        let phone = if r.phone.trim().is_empty() {
            Some(String::new())
        } else {
            v.take(person::parse_phone(&r.phone).map_err(|why| CommandError::invalid("phone", why)))
        };
        let (Some(id), Some(phone)) = (id, phone) else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        let (p, _, details) = self
            .person_with_details(id)
            .await?
            .ok_or_else(|| Status::not_found("no such person"))?;
        let (Some(mut details), Some(key)) =
            (details, self.vault.key(id).await.map_err(vault_status)?)
        else {
            return Err(status_of(CommandError::rejected(format!(
                "person {} was erased",
                p.registration.person_id
            ))));
        };
        if details.phone != phone {
            details.phone = phone;
            let command = person::Command::ChangeContact {
                sealed_details: key.seal(&details.encode_to_vec()),
            };
            run(&self.people, id, &command, ctx, r.expected_version).await?;
        }
        Ok(Response::new(pb::ChangePersonContactResponse {
            person: Some(self.person_view(id).await?),
        }))
    }

    pub(crate) async fn set_person_flags_impl(
        &self,
        request: Request<pb::SetPersonFlagsRequest>,
    ) -> Result<Response<pb::SetPersonFlagsResponse>, Status> {
        let ctx = command_context(&request);
        let id = parse_id("person_id", &request.get_ref().person_id).map_err(status_of)?;
        self.check_person_reach_of(&request, id).await?;
        let r = request.into_inner();
        let command = person::Command::SetFlags(person::Flags {
            union_member: r.union_member,
            mobile_member: r.mobile_member,
            home_organisation: r.home_organisation,
        });
        run(&self.people, id, &command, ctx, r.expected_version).await?;
        Ok(Response::new(pb::SetPersonFlagsResponse {
            person: Some(self.person_view(id).await?),
        }))
    }

    pub(crate) async fn record_party_status_impl(
        &self,
        request: Request<pb::RecordPartyStatusRequest>,
    ) -> Result<Response<pb::RecordPartyStatusResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.take(parse_id("person_id", &r.person_id));
        let status = v.take(
            PartyStatus::from_wire(r.party_status)
                .filter(|_| r.party_status != 0)
                .ok_or_else(|| {
                    CommandError::invalid("party_status", "must be a known Party status")
                }),
        );
        let on = v.take(day("effective_on", &r.effective_on));
        let affiliation = self
            .organization_ref(
                &mut v,
                "affiliation_organization_id",
                &r.affiliation_organization_id,
            )
            .await?;
        let (Some(id), Some(status), Some(on), Some(affiliation)) = (id, status, on, affiliation)
        else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        if !v.0.is_empty() {
            return Err(status_of(CommandError::Invalid(v.0)));
        }
        let command = person::Command::RecordPartyStatus(person::StatusChange {
            status,
            affiliation,
            on,
            source_event: None,
        });
        run(&self.people, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::RecordPartyStatusResponse {
            person: Some(self.person_view(id).await?),
        }))
    }

    pub(crate) async fn erase_person_impl(
        &self,
        request: Request<pb::ErasePersonRequest>,
    ) -> Result<Response<pb::ErasePersonResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let id = parse_id("person_id", &r.person_id).map_err(status_of)?;
        // The erasure is recorded first, then the key destroyed; a retry
        // after a failure in between records nothing new and destroys it.
        let outcome = run(
            &self.people,
            id,
            &person::Command::Erase { reason: r.reason },
            ctx,
            0,
        )
        .await?;
        self.vault.erase(id).await.map_err(vault_status)?;
        tracing::info!(person_id = %id, "personal data erased");
        Ok(Response::new(pb::ErasePersonResponse {
            person: outcome.state.0.map(|p| masked(&p, outcome.version, None)),
        }))
    }

    /// Refuses a caller whose data scope does not reach `p` (community
    /// staff elsewhere, another worker), and logs the read of a person's
    /// record with who read it.
    pub(crate) fn check_reach<T>(
        &self,
        request: &Request<T>,
        p: &person::Person,
        what: &str,
    ) -> Result<(), Status> {
        check_person_reach(request, p)?;
        let actor = hongxin_runtime::auth::caller_of(request).map(|c| c.actor());
        tracing::info!(person_id = %p.registration.person_id, actor = actor.as_deref().unwrap_or("internal"), what, "a person's record was read");
        Ok(())
    }

    /// Refuses a caller whose scope does not reach the person `id` as
    /// registered; an unknown person passes, for the command to answer
    /// `NotFound`.
    async fn check_person_reach_of<T>(&self, request: &Request<T>, id: Uuid) -> Result<(), Status> {
        if hongxin_runtime::auth::caller_of(request).is_none() {
            return Ok(());
        }
        match load(&self.people, id, |s, _| s.0).await? {
            Some(p) => check_person_reach(request, &p),
            None => Ok(()),
        }
    }

    pub(crate) async fn get_person_impl(
        &self,
        request: Request<pb::GetPersonRequest>,
    ) -> Result<Response<pb::GetPersonResponse>, Status> {
        let id = parse_id("person_id", &request.get_ref().person_id).map_err(status_of)?;
        let (p, version, details) = self
            .person_with_details(id)
            .await?
            .ok_or_else(|| Status::not_found("no such person"))?;
        self.check_reach(&request, &p, "masked")?;
        Ok(Response::new(pb::GetPersonResponse {
            person: Some(masked(&p, version, details.as_ref())),
        }))
    }

    pub(crate) async fn export_personal_data_impl(
        &self,
        request: Request<pb::ExportPersonalDataRequest>,
    ) -> Result<Response<pb::ExportPersonalDataResponse>, Status> {
        let id = parse_id("person_id", &request.get_ref().person_id).map_err(status_of)?;
        let (p, version, details) = self
            .person_with_details(id)
            .await?
            .ok_or_else(|| Status::not_found("no such person"))?;
        self.check_reach(&request, &p, "export")?;
        let stream = hongxin_domain::CommandHandler::<person::PersonDecider>::stream_id(id);
        let events = self
            .people
            .store()
            .load_stream(&stream)
            .await
            .map_err(|e| status_of(CommandError::Unavailable(Box::new(e))))?;
        let history = events
            .iter()
            .map(|e| pb::PersonHistoryEntry {
                version: e.stream_version,
                event_type: e.event_type.clone(),
                occurred_at: e.metadata.occurred_at.to_rfc3339(),
                actor: e.metadata.actor.clone(),
            })
            .collect();
        tracing::info!(person_id = %id, "personal data exported");
        Ok(Response::new(pb::ExportPersonalDataResponse {
            person: Some(masked(&p, version, details.as_ref())),
            id_number: details
                .as_ref()
                .map(|d| d.id_number.clone())
                .unwrap_or_default(),
            phone: details.map(|d| d.phone).unwrap_or_default(),
            history,
        }))
    }

    pub(crate) async fn check_references_impl(
        &self,
        request: Request<pb::CheckReferencesRequest>,
    ) -> Result<Response<pb::CheckReferencesResponse>, Status> {
        let r = request.into_inner();
        let total = r.person_ids.len()
            + r.enterprise_ids.len()
            + r.community_ids.len()
            + r.organization_ids.len();
        if total > MAX_REFERENCES {
            return Err(status_of(CommandError::invalid(
                "request",
                format!("at most {MAX_REFERENCES} references per call"),
            )));
        }
        let mut unknown = Vec::new();
        let mut note = |kind: &str, id: &str| {
            unknown.push(pb::UnknownReference {
                kind: kind.to_owned(),
                id: id.to_owned(),
            });
        };
        for raw in &r.person_ids {
            match Uuid::parse_str(raw) {
                Ok(id) if load(&self.people, id, |s, _| s.0).await?.is_some() => {}
                _ => note("person", raw),
            }
        }
        for raw in &r.enterprise_ids {
            match Uuid::parse_str(raw) {
                Ok(id) if load(&self.enterprises, id, |s, _| s.0).await?.is_some() => {}
                _ => note("enterprise", raw),
            }
        }
        for raw in &r.community_ids {
            match Uuid::parse_str(raw) {
                Ok(id) if load(&self.communities, id, |s, _| s.0).await?.is_some() => {}
                _ => note("community", raw),
            }
        }
        for raw in &r.organization_ids {
            match Uuid::parse_str(raw) {
                Ok(id) if load(&self.organizations, id, |s, _| s.0).await?.is_some() => {}
                _ => note("organization", raw),
            }
        }
        Ok(Response::new(pb::CheckReferencesResponse { unknown }))
    }

    pub(crate) async fn assign_instructor_impl(
        &self,
        request: Request<pb::AssignPartyBuildingInstructorRequest>,
    ) -> Result<Response<pb::AssignPartyBuildingInstructorResponse>, Status> {
        let ctx = command_context(&request);
        if let Ok(id) = parse_id("enterprise_id", &request.get_ref().enterprise_id) {
            self.check_enterprise_reach_of(&request, id).await?;
        }
        let r = request.into_inner();
        let mut v = Violations::default();
        let enterprise = v.take(parse_id("enterprise_id", &r.enterprise_id));
        let person = v.take(parse_id("person_id", &r.person_id));
        let on = v.take(day("assigned_on", &r.assigned_on));
        if let Some(p) = person
            && load(&self.people, p, |s, _| s.0).await?.is_none()
        {
            v.0.push(FieldViolation::new("person_id", "no such person"));
        }
        let (Some(enterprise), Some(person_id), Some(on)) = (enterprise, person, on) else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        if !v.0.is_empty() {
            return Err(status_of(CommandError::Invalid(v.0)));
        }
        let command = crate::enterprise::Command::AssignInstructor { person_id, on };
        let outcome = run(&self.enterprises, enterprise, &command, ctx, 0).await?;
        Ok(Response::new(pb::AssignPartyBuildingInstructorResponse {
            enterprise: outcome.state.0.map(|e| e.to_wire(outcome.version)),
        }))
    }
}
