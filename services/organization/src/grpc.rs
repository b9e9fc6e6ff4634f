//! The gRPC face of the organization service: wire types in, commands to
//! the handlers, wire types out.

use hongxin_domain::{CommandContext, CommandError, CommandHandler, Decider, RetryPolicy};
use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_server::OrganizationService;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::committee::{Command, CommitteeDecider, Industry, State};
use crate::community::{self, CommunityDecider};
use crate::enterprise::{self, EnterpriseDecider};
use crate::governance::{self, DutyKind, Period};
use crate::party::{self, PartyOrganizationDecider};
use crate::station::{self, StationDecider};
use crate::vanguard;

pub(crate) struct Api {
    pub(crate) shows: CommandHandler<crate::shows::ShowDecider>,
    pub(crate) policy: CommandHandler<crate::policy::PolicyDecider>,
    pub(crate) people: CommandHandler<crate::person::PersonDecider>,
    pub(crate) hr_records: CommandHandler<crate::hr::HrRecordsDecider>,
    pub(crate) filings: CommandHandler<crate::filings::FilingDecider>,
    pub(crate) vault: hongxin_vault::Vault,
    pub(crate) committees: CommandHandler<CommitteeDecider>,
    pub(crate) communities: CommandHandler<CommunityDecider>,
    pub(crate) enterprises: CommandHandler<EnterpriseDecider>,
    pub(crate) organizations: CommandHandler<PartyOrganizationDecider>,
    pub(crate) stations: CommandHandler<StationDecider>,
    pub(crate) sites: CommandHandler<vanguard::SiteDecider>,
    pub(crate) conventions: CommandHandler<vanguard::ConventionDecider>,
    pub(crate) duties: CommandHandler<governance::DutyDecider>,
}

pub(crate) use hongxin_runtime::commands::run;

/// Loads the aggregate `id`; `None` when it does not exist.
pub(crate) async fn load<D: Decider, T>(
    handler: &CommandHandler<D>,
    id: impl std::fmt::Display,
    view: impl FnOnce(D::State, u64) -> Option<T>,
) -> Result<Option<T>, Status> {
    let (state, version) = hongxin_runtime::commands::load(handler, id).await?;
    Ok(view(state, version))
}

fn community_of(state: community::State, version: u64) -> Option<pb::Community> {
    state.0.map(|c| pb::Community {
        community_id: c.community_id.to_string(),
        name: c.name,
        subdistrict: c.subdistrict,
        member_person_id: c.member.map(|m| m.to_string()).unwrap_or_default(),
        version,
    })
}

fn enterprise_of(state: enterprise::State, version: u64) -> Option<pb::Enterprise> {
    state.0.map(|e| e.to_wire(version))
}

/// Gathers every field problem of a request, so the caller hears of all of
/// them at once.
#[derive(Default)]
pub(crate) struct Violations(pub(crate) Vec<hongxin_domain::FieldViolation>);

impl Violations {
    pub(crate) fn take<T>(&mut self, result: Result<T, CommandError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(CommandError::Invalid(v)) => {
                self.0.extend(v);
                None
            }
            Err(other) => {
                self.0.push(hongxin_domain::FieldViolation::new(
                    "request",
                    other.to_string(),
                ));
                None
            }
        }
    }
}

pub(crate) fn day(field: &str, raw: &str) -> Result<chrono::NaiveDate, CommandError> {
    hongxin_domain::time::parse_day(raw)
        .ok_or_else(|| CommandError::invalid(field, "must be a date, YYYY-MM-DD"))
}

/// An industry as scopes name it ("express", "food_delivery").
pub(crate) fn industry_scope(industry: pb::Industry) -> String {
    industry
        .as_str_name()
        .trim_start_matches("INDUSTRY_")
        .to_ascii_lowercase()
}

/// Refuses with `PermissionDenied` a caller whose scope does not reach an
/// enterprise of `industry` in `community`: an industry committee reaches
/// its industry's units, community staff their community's.
pub(crate) fn check_enterprise_reach<T>(
    request: &Request<T>,
    industry: i32,
    community: &str,
) -> Result<(), Status> {
    let industry = pb::Industry::try_from(industry).ok().map(industry_scope);
    hongxin_runtime::auth::check_reach(
        request,
        &hongxin_runtime::auth::Record {
            person: None,
            community: Some(community),
            industry: industry.as_deref(),
            department: None,
        },
    )
}

/// An id as scopes name it: the canonical form when it is a UUID, else as
/// given (for the reach check to refuse).
pub(crate) fn id_scope(raw: &str) -> String {
    Uuid::parse_str(raw).map_or_else(|_| raw.to_owned(), |id| id.to_string())
}

/// Refuses with `PermissionDenied` a caller whose scope does not reach a
/// record of `community`, or `person`'s own record there.
pub(crate) fn check_community_reach<T>(
    request: &Request<T>,
    community: &str,
    person: Option<&str>,
) -> Result<(), Status> {
    let community = id_scope(community);
    let person = person.map(id_scope);
    hongxin_runtime::auth::check_reach(
        request,
        &hongxin_runtime::auth::Record {
            person: person.as_deref(),
            community: Some(&community),
            industry: None,
            department: None,
        },
    )
}

/// Whether the caller has `role`; calls made inside the process have none.
fn caller_has<T>(request: &Request<T>, role: hongxin_runtime::auth::Role) -> bool {
    hongxin_runtime::auth::caller_of(request).is_some_and(|c| c.has(role))
}

impl Api {
    /// Refuses a caller whose scope does not reach the report station (a
    /// station belongs to its community), or `person`'s own membership of
    /// it; an unknown or malformed station passes, for the command to
    /// answer.
    async fn check_station_reach_of<T>(
        &self,
        request: &Request<T>,
        station_id: &str,
        person: Option<&str>,
    ) -> Result<(), Status> {
        if hongxin_runtime::auth::caller_of(request).is_none() {
            return Ok(());
        }
        let Ok(id) = parse_id("station_id", station_id) else {
            return Ok(());
        };
        match load(&self.stations, id, |s, _| s.0).await? {
            Some(s) => check_community_reach(request, &s.opening.community_id.to_string(), person),
            None => Ok(()),
        }
    }

    /// Refuses a caller whose scope does not reach the enterprise; an
    /// unknown enterprise passes, for the command to answer `NotFound`.
    pub(crate) async fn check_enterprise_reach_of<T>(
        &self,
        request: &Request<T>,
        id: Uuid,
    ) -> Result<(), Status> {
        if hongxin_runtime::auth::caller_of(request).is_none() {
            return Ok(());
        }
        match load(&self.enterprises, id, enterprise_of).await? {
            Some(e) => check_enterprise_reach(request, e.industry, &e.community_id),
            None => Ok(()),
        }
    }

    /// The station as callers see it, due dates judged against today in
    /// Beijing.
    fn station_of(&self, state: station::State, version: u64) -> Option<pb::ReportStation> {
        let today = hongxin_domain::time::beijing_today(self.stations.clock().now());
        state.0.map(|s| s.to_wire(version, today))
    }

    /// Runs a command on a station and answers with the station.
    async fn on_station(
        &self,
        ctx: CommandContext,
        station_id: &str,
        command: Result<station::Command, CommandError>,
    ) -> Result<Option<pb::ReportStation>, Status> {
        let mut v = Violations::default();
        let id = v.take(parse_id("station_id", station_id));
        let command = v.take(command);
        let (Some(id), Some(command)) = (id, command) else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        let outcome = run(&self.stations, id, &command, ctx, 0).await?;
        Ok(self.station_of(outcome.state, outcome.version))
    }
}

/// A person and a day from a station request, every bad field reported.
fn person_and_day(
    person_id: &str,
    day_field: &str,
    raw_day: &str,
) -> Result<(Uuid, chrono::NaiveDate), CommandError> {
    let mut v = Violations::default();
    let person = v.take(parse_id("person_id", person_id));
    let on = v.take(day(day_field, raw_day));
    match (person, on) {
        (Some(p), Some(d)) => Ok((p, d)),
        _ => Err(CommandError::Invalid(v.0)),
    }
}

pub(crate) fn optional_id(field: &str, raw: &str) -> Result<Option<Uuid>, CommandError> {
    if raw.is_empty() {
        Ok(None)
    } else {
        parse_id(field, raw).map(Some)
    }
}

pub(crate) fn parse_id(field: &str, raw: &str) -> Result<Uuid, CommandError> {
    Uuid::parse_str(raw)
        .ok()
        .filter(|u| !u.is_nil())
        .ok_or_else(|| CommandError::invalid(field, "must be a UUID"))
}

fn committee_of(state: State, version: u64) -> Option<pb::IndustryCommittee> {
    state.0.map(|c| pb::IndustryCommittee {
        committee_id: c.committee_id.to_string(),
        name: c.name,
        industry: c.industry.to_wire() as i32,
        lead_department: c.lead_department,
        responsibilities: c.responsibilities,
        members: crate::committee::members_to_wire(&c.members),
        version,
    })
}

#[tonic::async_trait]
impl OrganizationService for Api {
    async fn register_person(
        &self,
        request: Request<pb::RegisterPersonRequest>,
    ) -> Result<Response<pb::RegisterPersonResponse>, Status> {
        self.register_person_impl(request).await
    }

    async fn change_person_work(
        &self,
        request: Request<pb::ChangePersonWorkRequest>,
    ) -> Result<Response<pb::ChangePersonWorkResponse>, Status> {
        self.change_person_work_impl(request).await
    }

    async fn change_person_contact(
        &self,
        request: Request<pb::ChangePersonContactRequest>,
    ) -> Result<Response<pb::ChangePersonContactResponse>, Status> {
        self.change_person_contact_impl(request).await
    }

    async fn set_person_flags(
        &self,
        request: Request<pb::SetPersonFlagsRequest>,
    ) -> Result<Response<pb::SetPersonFlagsResponse>, Status> {
        self.set_person_flags_impl(request).await
    }

    async fn record_party_status(
        &self,
        request: Request<pb::RecordPartyStatusRequest>,
    ) -> Result<Response<pb::RecordPartyStatusResponse>, Status> {
        self.record_party_status_impl(request).await
    }

    async fn erase_person(
        &self,
        request: Request<pb::ErasePersonRequest>,
    ) -> Result<Response<pb::ErasePersonResponse>, Status> {
        self.erase_person_impl(request).await
    }

    async fn get_person(
        &self,
        request: Request<pb::GetPersonRequest>,
    ) -> Result<Response<pb::GetPersonResponse>, Status> {
        self.get_person_impl(request).await
    }

    async fn export_personal_data(
        &self,
        request: Request<pb::ExportPersonalDataRequest>,
    ) -> Result<Response<pb::ExportPersonalDataResponse>, Status> {
        self.export_personal_data_impl(request).await
    }

    async fn check_references(
        &self,
        request: Request<pb::CheckReferencesRequest>,
    ) -> Result<Response<pb::CheckReferencesResponse>, Status> {
        self.check_references_impl(request).await
    }

    async fn find_person_by_id_number(
        &self,
        request: Request<pb::FindPersonByIdNumberRequest>,
    ) -> Result<Response<pb::FindPersonByIdNumberResponse>, Status> {
        self.find_person_by_id_number_impl(request).await
    }

    async fn confirm_union_membership(
        &self,
        request: Request<pb::ConfirmUnionMembershipRequest>,
    ) -> Result<Response<pb::ConfirmUnionMembershipResponse>, Status> {
        self.confirm_union_membership_impl(request).await
    }

    async fn record_employment_registration(
        &self,
        request: Request<pb::RecordEmploymentRegistrationRequest>,
    ) -> Result<Response<pb::RecordEmploymentRegistrationResponse>, Status> {
        self.record_employment_registration_impl(request).await
    }

    async fn record_injury_protection(
        &self,
        request: Request<pb::RecordInjuryProtectionRequest>,
    ) -> Result<Response<pb::RecordInjuryProtectionResponse>, Status> {
        self.record_injury_protection_impl(request).await
    }

    async fn record_injury_claim(
        &self,
        request: Request<pb::RecordInjuryClaimRequest>,
    ) -> Result<Response<pb::RecordInjuryClaimResponse>, Status> {
        self.record_injury_claim_impl(request).await
    }

    async fn record_training_subsidy(
        &self,
        request: Request<pb::RecordTrainingSubsidyRequest>,
    ) -> Result<Response<pb::RecordTrainingSubsidyResponse>, Status> {
        self.record_training_subsidy_impl(request).await
    }

    async fn apply_to_join_union(
        &self,
        request: Request<pb::ApplyToJoinUnionRequest>,
    ) -> Result<Response<pb::ApplyToJoinUnionResponse>, Status> {
        self.apply_to_join_union_impl(request).await
    }

    async fn file_employment_registration(
        &self,
        request: Request<pb::FileEmploymentRegistrationRequest>,
    ) -> Result<Response<pb::FileEmploymentRegistrationResponse>, Status> {
        self.file_employment_registration_impl(request).await
    }

    async fn report_accident(
        &self,
        request: Request<pb::ReportAccidentRequest>,
    ) -> Result<Response<pb::ReportAccidentResponse>, Status> {
        self.report_accident_impl(request).await
    }

    async fn record_vanguard_show(
        &self,
        request: Request<pb::RecordVanguardShowRequest>,
    ) -> Result<Response<pb::RecordVanguardShowResponse>, Status> {
        self.record_vanguard_show_impl(request).await
    }

    async fn issue_policy_item(
        &self,
        request: Request<pb::IssuePolicyItemRequest>,
    ) -> Result<Response<pb::IssuePolicyItemResponse>, Status> {
        self.issue_policy_item_impl(request).await
    }

    async fn retire_policy_item(
        &self,
        request: Request<pb::RetirePolicyItemRequest>,
    ) -> Result<Response<pb::RetirePolicyItemResponse>, Status> {
        self.retire_policy_item_impl(request).await
    }

    async fn get_policy_item(
        &self,
        request: Request<pb::GetPolicyItemRequest>,
    ) -> Result<Response<pb::GetPolicyItemResponse>, Status> {
        self.get_policy_item_impl(request).await
    }

    async fn assign_party_building_instructor(
        &self,
        request: Request<pb::AssignPartyBuildingInstructorRequest>,
    ) -> Result<Response<pb::AssignPartyBuildingInstructorResponse>, Status> {
        self.assign_instructor_impl(request).await
    }

    async fn register_industry_committee(
        &self,
        request: Request<pb::RegisterIndustryCommitteeRequest>,
    ) -> Result<Response<pb::RegisterIndustryCommitteeResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let id = parse_id("committee_id", &r.committee_id).map_err(status_of)?;
        let industry = Industry::from_wire(r.industry).ok_or_else(|| {
            status_of(CommandError::invalid(
                "industry",
                "must be a known industry",
            ))
        })?;
        let command = Command::Register {
            committee_id: id,
            name: r.name,
            industry,
            lead_department: r.lead_department,
        };
        let stream = CommandHandler::<CommitteeDecider>::stream_id(id);
        let outcome = self
            .committees
            .handle(&stream, &command, &ctx, RetryPolicy::Reload(3))
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::RegisterIndustryCommitteeResponse {
            committee: committee_of(outcome.state, outcome.version),
        }))
    }

    async fn set_committee_responsibilities(
        &self,
        request: Request<pb::SetCommitteeResponsibilitiesRequest>,
    ) -> Result<Response<pb::SetCommitteeResponsibilitiesResponse>, Status> {
        let mut ctx = command_context(&request);
        let r = request.into_inner();
        let id = parse_id("committee_id", &r.committee_id).map_err(status_of)?;
        if r.expected_version > 0 {
            ctx.expected_version = Some(r.expected_version);
        }
        let command = Command::SetResponsibilities {
            responsibilities: r.responsibilities,
        };
        let stream = CommandHandler::<CommitteeDecider>::stream_id(id);
        let outcome = self
            .committees
            .handle(&stream, &command, &ctx, RetryPolicy::Reload(3))
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::SetCommitteeResponsibilitiesResponse {
            committee: committee_of(outcome.state, outcome.version),
        }))
    }

    async fn set_committee_members(
        &self,
        request: Request<pb::SetCommitteeMembersRequest>,
    ) -> Result<Response<pb::SetCommitteeMembersResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.take(parse_id("committee_id", &r.committee_id));
        let mut members = Vec::with_capacity(r.members.len());
        for (i, m) in r.members.into_iter().enumerate() {
            let field = format!("members[{i}].person_id");
            let Some(person_id) = v.take(parse_id(&field, &m.person_id)) else {
                continue;
            };
            if load(&self.people, person_id, |s, _| s.0).await?.is_none() {
                v.0.push(hongxin_domain::FieldViolation::new(field, "no such person"));
                continue;
            }
            members.push(crate::committee::Member {
                person_id,
                role: m.role,
            });
        }
        let Some(id) = id else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        if !v.0.is_empty() {
            return Err(status_of(CommandError::Invalid(v.0)));
        }
        let outcome = run(
            &self.committees,
            id,
            &Command::SetMembers { members },
            ctx,
            r.expected_version,
        )
        .await?;
        Ok(Response::new(pb::SetCommitteeMembersResponse {
            committee: committee_of(outcome.state, outcome.version),
        }))
    }

    async fn get_industry_committee(
        &self,
        request: Request<pb::GetIndustryCommitteeRequest>,
    ) -> Result<Response<pb::GetIndustryCommitteeResponse>, Status> {
        let id = parse_id("committee_id", &request.get_ref().committee_id).map_err(status_of)?;
        let loaded = self
            .committees
            .load(&CommandHandler::<CommitteeDecider>::stream_id(id))
            .await
            .map_err(status_of)?;
        let committee = committee_of(loaded.state, loaded.version)
            .ok_or_else(|| Status::not_found("no such industry committee"))?;
        // An industry committee looks up its own industry's committee;
        // every industry works in each community, so community staff look
        // up any.
        if !caller_has(&request, hongxin_runtime::auth::Role::CommunityStaff) {
            let industry = pb::Industry::try_from(committee.industry)
                .ok()
                .map(industry_scope);
            hongxin_runtime::auth::check_reach(
                &request,
                &hongxin_runtime::auth::Record {
                    industry: industry.as_deref(),
                    ..Default::default()
                },
            )?;
        }
        Ok(Response::new(pb::GetIndustryCommitteeResponse {
            committee: Some(committee),
        }))
    }

    async fn register_community(
        &self,
        request: Request<pb::RegisterCommunityRequest>,
    ) -> Result<Response<pb::RegisterCommunityResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let id = parse_id("community_id", &r.community_id).map_err(status_of)?;
        let command = community::Command::Register {
            community_id: id,
            name: r.name,
            subdistrict: r.subdistrict,
        };
        let outcome = run(&self.communities, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::RegisterCommunityResponse {
            community: community_of(outcome.state, outcome.version),
        }))
    }

    async fn designate_community_member(
        &self,
        request: Request<pb::DesignateCommunityMemberRequest>,
    ) -> Result<Response<pb::DesignateCommunityMemberResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let id = parse_id("community_id", &r.community_id).map_err(status_of)?;
        let person_id = parse_id("person_id", &r.person_id).map_err(status_of)?;
        let command = community::Command::DesignateMember { person_id };
        let outcome = run(&self.communities, id, &command, ctx, r.expected_version).await?;
        Ok(Response::new(pb::DesignateCommunityMemberResponse {
            community: community_of(outcome.state, outcome.version),
        }))
    }

    async fn get_community(
        &self,
        request: Request<pb::GetCommunityRequest>,
    ) -> Result<Response<pb::GetCommunityResponse>, Status> {
        let id = parse_id("community_id", &request.get_ref().community_id).map_err(status_of)?;
        let community = load(&self.communities, id, community_of)
            .await?
            .ok_or_else(|| Status::not_found("no such community"))?;
        // Community staff look up their own community; an industry
        // committee's units lie in any community, so it looks up any.
        if !caller_has(&request, hongxin_runtime::auth::Role::IndustryCommittee) {
            check_community_reach(&request, &community.community_id, None)?;
        }
        Ok(Response::new(pb::GetCommunityResponse {
            community: Some(community),
        }))
    }

    async fn register_enterprise(
        &self,
        request: Request<pb::RegisterEnterpriseRequest>,
    ) -> Result<Response<pb::RegisterEnterpriseResponse>, Status> {
        check_enterprise_reach(
            &request,
            request.get_ref().industry,
            &request.get_ref().community_id,
        )?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.take(parse_id("enterprise_id", &r.enterprise_id));
        let community_id = v.take(parse_id("community_id", &r.community_id));
        let parent = v.take(optional_id("parent_enterprise_id", &r.parent_enterprise_id));
        let industry = v.take(
            Industry::from_wire(r.industry)
                .ok_or_else(|| CommandError::invalid("industry", "must be a known industry")),
        );
        let kind = v
            .take(enterprise::Kind::from_wire(r.kind).ok_or_else(|| {
                CommandError::invalid("kind", "must be a known kind of enterprise")
            }));
        let (Some(id), Some(community_id), Some(parent), Some(industry), Some(kind)) =
            (id, community_id, parent, industry, kind)
        else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        // References must name what exists.
        if load(&self.communities, community_id, |s, _| s.0)
            .await?
            .is_none()
        {
            return Err(status_of(CommandError::invalid(
                "community_id",
                "no such community",
            )));
        }
        if let Some(parent_id) = parent {
            match load(&self.enterprises, parent_id, |s, _| s.0).await? {
                None => {
                    return Err(status_of(CommandError::invalid(
                        "parent_enterprise_id",
                        "no such enterprise",
                    )));
                }
                Some(p) if p.registration.industry != industry => {
                    return Err(status_of(CommandError::invalid(
                        "parent_enterprise_id",
                        "the parent enterprise is in another industry",
                    )));
                }
                Some(_) => {}
            }
        }
        let command = enterprise::Command::Register(enterprise::Registration {
            enterprise_id: id,
            name: r.name,
            industry,
            kind,
            community_id,
            platform_brand: r.platform_brand,
            parent_enterprise_id: parent,
        });
        let outcome = run(&self.enterprises, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::RegisterEnterpriseResponse {
            enterprise: enterprise_of(outcome.state, outcome.version),
        }))
    }

    async fn report_enterprise_headcount(
        &self,
        request: Request<pb::ReportEnterpriseHeadcountRequest>,
    ) -> Result<Response<pb::ReportEnterpriseHeadcountResponse>, Status> {
        let ctx = command_context(&request);
        let id = parse_id("enterprise_id", &request.get_ref().enterprise_id).map_err(status_of)?;
        self.check_enterprise_reach_of(&request, id).await?;
        let r = request.into_inner();
        if r.headcount.is_none() {
            return Err(status_of(CommandError::invalid("headcount", "is required")));
        }
        let command = enterprise::Command::ReportHeadcount(enterprise::headcount_from_wire(
            r.headcount.as_ref(),
        ));
        let outcome = run(&self.enterprises, id, &command, ctx, r.expected_version).await?;
        Ok(Response::new(pb::ReportEnterpriseHeadcountResponse {
            enterprise: enterprise_of(outcome.state, outcome.version),
        }))
    }

    async fn get_enterprise(
        &self,
        request: Request<pb::GetEnterpriseRequest>,
    ) -> Result<Response<pb::GetEnterpriseResponse>, Status> {
        let id = parse_id("enterprise_id", &request.get_ref().enterprise_id).map_err(status_of)?;
        let enterprise = load(&self.enterprises, id, enterprise_of)
            .await?
            .ok_or_else(|| Status::not_found("no such enterprise"))?;
        check_enterprise_reach(&request, enterprise.industry, &enterprise.community_id)?;
        Ok(Response::new(pb::GetEnterpriseResponse {
            enterprise: Some(enterprise),
        }))
    }

    async fn found_party_organization(
        &self,
        request: Request<pb::FoundPartyOrganizationRequest>,
    ) -> Result<Response<pb::FoundPartyOrganizationResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.take(parse_id("organization_id", &r.organization_id));
        let kind = v.take(party::Kind::from_wire(r.kind).ok_or_else(|| {
            CommandError::invalid("kind", "must be a known kind of Party organisation")
        }));
        let parent = v.take(optional_id(
            "parent_organization_id",
            &r.parent_organization_id,
        ));
        let secretary = v.take(optional_id("secretary_person_id", &r.secretary_person_id));
        let founded_on = v.take(
            hongxin_domain::time::parse_day(&r.founded_on)
                .ok_or_else(|| CommandError::invalid("founded_on", "must be a date, YYYY-MM-DD")),
        );
        if r.covered_enterprise_ids.len() > 50 {
            v.0.push(hongxin_domain::FieldViolation::new(
                "covered_enterprise_ids",
                "at most 50 units",
            ));
        }
        let covered: Vec<Option<Uuid>> = r
            .covered_enterprise_ids
            .iter()
            .enumerate()
            .map(|(i, raw)| v.take(parse_id(&format!("covered_enterprise_ids[{i}]"), raw)))
            .collect();
        let (Some(id), Some(kind), Some(parent), Some(secretary), Some(founded_on), Some(covered)) = (
            id,
            kind,
            parent,
            secretary,
            founded_on,
            covered.into_iter().collect::<Option<Vec<_>>>(),
        ) else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        if !v.0.is_empty() {
            return Err(status_of(CommandError::Invalid(v.0)));
        }
        if let Some(parent_id) = parent {
            match load(&self.organizations, parent_id, |s, _| {
                s.0.map(|o| o.founding)
            })
            .await?
            {
                None => {
                    return Err(status_of(CommandError::invalid(
                        "parent_organization_id",
                        "no such Party organisation",
                    )));
                }
                Some(p) if !p.kind.leads_others() => {
                    return Err(status_of(CommandError::invalid(
                        "parent_organization_id",
                        "only a Party committee or general branch has organisations under it",
                    )));
                }
                Some(_) => {}
            }
        }
        // The facts the branch rules need, from the covered units.
        let mut units = Vec::with_capacity(covered.len());
        for (i, enterprise_id) in covered.iter().enumerate() {
            let Some(e) = load(&self.enterprises, *enterprise_id, |s, _| s.0).await? else {
                return Err(status_of(CommandError::invalid(
                    format!("covered_enterprise_ids[{i}]"),
                    "no such enterprise",
                )));
            };
            units.push(party::Unit {
                enterprise_id: *enterprise_id,
                full_members: e.headcount.full_members,
                covered_by: e.covered_by,
            });
        }
        let command = party::Command::Found {
            founding: party::Founding {
                organization_id: id,
                name: r.name,
                kind,
                parent,
                covered: covered.clone(),
                secretary,
                founded_on,
            },
            units,
        };
        let outcome = run(&self.organizations, id, &command, ctx.clone(), 0).await?;
        // Record the coverage on each unit. A retry of the same founding
        // decides nothing new above and completes whatever is missing here.
        // The caller's idempotency key belongs to the founding alone.
        let mut ctx = ctx;
        ctx.idempotency_key = None;
        for enterprise_id in &covered {
            let cover = enterprise::Command::Cover {
                organization_id: id,
                kind,
            };
            run(&self.enterprises, *enterprise_id, &cover, ctx.clone(), 0).await?;
        }
        Ok(Response::new(pb::FoundPartyOrganizationResponse {
            organization: outcome.state.0.map(|o| o.to_wire(outcome.version)),
        }))
    }

    async fn get_party_organization(
        &self,
        request: Request<pb::GetPartyOrganizationRequest>,
    ) -> Result<Response<pb::GetPartyOrganizationResponse>, Status> {
        let id =
            parse_id("organization_id", &request.get_ref().organization_id).map_err(status_of)?;
        let organization = load(&self.organizations, id, |s, version| {
            s.0.map(|o| o.to_wire(version))
        })
        .await?
        .ok_or_else(|| Status::not_found("no such Party organisation"))?;
        Ok(Response::new(pb::GetPartyOrganizationResponse {
            organization: Some(organization),
        }))
    }

    async fn open_report_station(
        &self,
        request: Request<pb::OpenReportStationRequest>,
    ) -> Result<Response<pb::OpenReportStationResponse>, Status> {
        check_community_reach(&request, &request.get_ref().community_id, None)?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let community_id = v.take(parse_id("community_id", &r.community_id));
        let opened_on = v.take(day("opened_on", &r.opened_on));
        if let Some(c) = community_id
            && load(&self.communities, c, |s, _| s.0).await?.is_none()
        {
            v.0.push(hongxin_domain::FieldViolation::new(
                "community_id",
                "no such community",
            ));
        }
        let command = match (
            community_id,
            opened_on,
            parse_id("station_id", &r.station_id),
        ) {
            (Some(community_id), Some(opened_on), Ok(station_id)) if v.0.is_empty() => {
                Ok(station::Command::Open(station::Opening {
                    station_id,
                    name: r.name,
                    community_id,
                    address: r.address,
                    opened_on,
                }))
            }
            _ => Err(CommandError::Invalid(v.0)),
        };
        let station = self.on_station(ctx, &r.station_id, command).await?;
        Ok(Response::new(pb::OpenReportStationResponse { station }))
    }

    async fn check_in_mobile_member(
        &self,
        request: Request<pb::CheckInMobileMemberRequest>,
    ) -> Result<Response<pb::CheckInMobileMemberResponse>, Status> {
        let r = request.get_ref();
        self.check_station_reach_of(&request, &r.station_id, Some(&r.person_id))
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let command = person_and_day(&r.person_id, "checked_in_on", &r.checked_in_on).map(
            |(person_id, on)| station::Command::CheckIn {
                person_id,
                home_organisation: r.home_organisation,
                on,
            },
        );
        let station = self.on_station(ctx, &r.station_id, command).await?;
        Ok(Response::new(pb::CheckInMobileMemberResponse { station }))
    }

    async fn record_report_home(
        &self,
        request: Request<pb::RecordReportHomeRequest>,
    ) -> Result<Response<pb::RecordReportHomeResponse>, Status> {
        let r = request.get_ref();
        self.check_station_reach_of(&request, &r.station_id, Some(&r.person_id))
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let command = person_and_day(&r.person_id, "reported_on", &r.reported_on)
            .map(|(person_id, on)| station::Command::ReportHome { person_id, on });
        let station = self.on_station(ctx, &r.station_id, command).await?;
        Ok(Response::new(pb::RecordReportHomeResponse { station }))
    }

    async fn check_out_mobile_member(
        &self,
        request: Request<pb::CheckOutMobileMemberRequest>,
    ) -> Result<Response<pb::CheckOutMobileMemberResponse>, Status> {
        let r = request.get_ref();
        self.check_station_reach_of(&request, &r.station_id, Some(&r.person_id))
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let command = person_and_day(&r.person_id, "checked_out_on", &r.checked_out_on)
            .map(|(person_id, on)| station::Command::CheckOut { person_id, on });
        let station = self.on_station(ctx, &r.station_id, command).await?;
        Ok(Response::new(pb::CheckOutMobileMemberResponse { station }))
    }

    async fn get_report_station(
        &self,
        request: Request<pb::GetReportStationRequest>,
    ) -> Result<Response<pb::GetReportStationResponse>, Status> {
        let id = parse_id("station_id", &request.get_ref().station_id).map_err(status_of)?;
        let station = load(&self.stations, id, |s, v| self.station_of(s, v))
            .await?
            .ok_or_else(|| Status::not_found("no such report station"))?;
        check_community_reach(&request, &station.community_id, None)?;
        Ok(Response::new(pb::GetReportStationResponse {
            station: Some(station),
        }))
    }

    async fn establish_vanguard_site(
        &self,
        request: Request<pb::EstablishVanguardSiteRequest>,
    ) -> Result<Response<pb::EstablishVanguardSiteResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let site_id = v.take(parse_id("site_id", &r.site_id));
        let kind =
            v.take(vanguard::SiteKind::from_wire(r.kind).ok_or_else(|| {
                CommandError::invalid("kind", "must be a known kind of vanguard site")
            }));
        let community_id = v.take(parse_id("community_id", &r.community_id));
        let enterprise_id = v.take(optional_id("enterprise_id", &r.enterprise_id));
        let established_on = v.take(day("established_on", &r.established_on));
        let (
            Some(site_id),
            Some(kind),
            Some(community_id),
            Some(enterprise_id),
            Some(established_on),
        ) = (site_id, kind, community_id, enterprise_id, established_on)
        else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        if load(&self.communities, community_id, |s, _| s.0)
            .await?
            .is_none()
        {
            return Err(status_of(CommandError::invalid(
                "community_id",
                "no such community",
            )));
        }
        if let Some(e) = enterprise_id
            && load(&self.enterprises, e, |s, _| s.0).await?.is_none()
        {
            return Err(status_of(CommandError::invalid(
                "enterprise_id",
                "no such enterprise",
            )));
        }
        let command = vanguard::Establish(vanguard::Site {
            site_id,
            kind,
            name: r.name,
            community_id,
            enterprise_id,
            established_on,
        });
        let outcome = run(&self.sites, site_id, &command, ctx, 0).await?;
        Ok(Response::new(pb::EstablishVanguardSiteResponse {
            site_id: site_id.to_string(),
            version: outcome.version,
        }))
    }

    async fn sign_convention(
        &self,
        request: Request<pb::SignConventionRequest>,
    ) -> Result<Response<pb::SignConventionResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let convention_id = v.take(parse_id("convention_id", &r.convention_id));
        let person_id = v.take(parse_id("person_id", &r.person_id));
        let on = v.take(day("signed_on", &r.signed_on));
        let (Some(convention_id), Some(person_id), Some(on)) = (convention_id, person_id, on)
        else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        let command = vanguard::Sign {
            convention_id,
            title: r.title,
            person_id,
            on,
        };
        let outcome = run(&self.conventions, convention_id, &command, ctx, 0).await?;
        Ok(Response::new(pb::SignConventionResponse {
            signatures: u32::try_from(outcome.state.signers.len()).unwrap_or(u32::MAX),
            version: outcome.version,
        }))
    }

    async fn record_governance_duty(
        &self,
        request: Request<pb::RecordGovernanceDutyRequest>,
    ) -> Result<Response<pb::RecordGovernanceDutyResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let kind = v.take(
            DutyKind::from_wire(r.kind)
                .ok_or_else(|| CommandError::invalid("kind", "must be a known governance duty")),
        );
        let held_on = v.take(day("held_on", &r.held_on));
        if r.attendee_person_ids.len() > 500 {
            v.0.push(hongxin_domain::FieldViolation::new(
                "attendee_person_ids",
                "at most 500 attendees",
            ));
        }
        let attendees: Vec<Option<Uuid>> = r
            .attendee_person_ids
            .iter()
            .enumerate()
            .map(|(i, raw)| v.take(parse_id(&format!("attendee_person_ids[{i}]"), raw)))
            .collect();
        let (Some(kind), Some(held_on), Some(attendees)) = (
            kind,
            held_on,
            attendees.into_iter().collect::<Option<Vec<_>>>(),
        ) else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        if !v.0.is_empty() {
            return Err(status_of(CommandError::Invalid(v.0)));
        }
        let period = Period::containing(kind, held_on);
        let command = governance::Held {
            kind,
            held_on,
            minutes: r.minutes,
            attendees,
        };
        let outcome = run(&self.duties, period.stream_key(), &command, ctx, 0).await?;
        let today = hongxin_domain::time::beijing_today(self.duties.clock().now());
        Ok(Response::new(pb::RecordGovernanceDutyResponse {
            duty: Some(outcome.state.view(period, today)),
        }))
    }

    async fn list_governance_duties(
        &self,
        request: Request<pb::ListGovernanceDutiesRequest>,
    ) -> Result<Response<pb::ListGovernanceDutiesResponse>, Status> {
        let year = request.get_ref().year;
        if !(2000..=2100).contains(&year) {
            return Err(status_of(CommandError::invalid(
                "year",
                "must be between 2000 and 2100",
            )));
        }
        let today = hongxin_domain::time::beijing_today(self.duties.clock().now());
        let mut duties = Vec::new();
        for kind in DutyKind::ALL {
            for period in Period::of_year(kind, year) {
                let state = load(&self.duties, period.stream_key(), |s, _| Some(s)).await?;
                duties.extend(state.map(|s| s.view(period, today)));
            }
        }
        Ok(Response::new(pb::ListGovernanceDutiesResponse { duties }))
    }
}
