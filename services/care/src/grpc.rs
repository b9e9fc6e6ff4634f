//! The gRPC face of the care service: wire types in, people and
//! enterprises checked with the organization service, commands to the
//! handlers; household figures sealed before they reach a command's event.

use chrono::NaiveDate;
use hongxin_domain::{CommandError, CommandHandler};
use hongxin_organization::client::{Directory, References};
use hongxin_proto::care::v1 as pb;
use hongxin_proto::care::v1::care_service_server::CareService;
use hongxin_runtime::commands::{load, run};
use hongxin_runtime::fields::Fields;
use hongxin_runtime::{command_context, status_of};
use hongxin_vault::{Vault, VaultError};
use prost::Message as _;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::activity::{self, ActivityDecider};
use crate::centre::{self, ItemDecider, RequestDecider};
use crate::enterprise_help::{self, PostingDecider, ProblemDecider};
use crate::hardship::{self, CaseDecider};
use crate::index::CareIndex;
use crate::supplies::{self, CampaignDecider};
use crate::wishes::{self, WishDecider};

pub(crate) struct Api {
    pub(crate) items: CommandHandler<ItemDecider>,
    pub(crate) requests: CommandHandler<RequestDecider>,
    pub(crate) postings: CommandHandler<PostingDecider>,
    pub(crate) problems: CommandHandler<ProblemDecider>,
    pub(crate) activities: CommandHandler<ActivityDecider>,
    pub(crate) cases: CommandHandler<CaseDecider>,
    pub(crate) campaigns: CommandHandler<CampaignDecider>,
    pub(crate) wishes: CommandHandler<WishDecider>,
    pub(crate) directory: Directory,
    pub(crate) vault: Vault,
    pub(crate) index: CareIndex,
    /// The local minimum-living standard, fen per person per month.
    pub(crate) minimum_living_standard_fen: i64,
}

fn vault_status(e: VaultError) -> Status {
    match e {
        VaultError::Store(e) => status_of(CommandError::Unavailable(Box::new(e))),
        other => status_of(CommandError::Internal(Box::new(other))),
    }
}

fn not_found(what: &str) -> Status {
    Status::not_found(format!("no such {what}"))
}

fn outside_scope() -> Status {
    Status::permission_denied("this record is outside your scope")
}

/// Whether the caller reaches `record` once it carries the community and
/// industry the registry has `person` in.
fn place_reached(
    caller: &hongxin_runtime::auth::Caller,
    record: hongxin_runtime::auth::Record<'_>,
    person: &hongxin_proto::organization::v1::Person,
) -> bool {
    let work = person.work.clone().unwrap_or_default();
    let industry = industry_name(work.industry);
    caller.reaches(&hongxin_runtime::auth::Record {
        community: Some(work.community_id.as_str()).filter(|c| !c.is_empty()),
        industry: industry.as_deref(),
        ..record
    })
}

/// An industry as scopes name it ("express", "food_delivery"); `None` when
/// unset.
fn industry_name(industry: i32) -> Option<String> {
    use hongxin_proto::organization::v1::Industry;
    Industry::try_from(industry)
        .ok()
        .filter(|i| *i != Industry::Unspecified)
        .map(|i| {
            i.as_str_name()
                .trim_start_matches("INDUSTRY_")
                .to_ascii_lowercase()
        })
}

impl Api {
    fn today(&self) -> NaiveDate {
        hongxin_domain::time::beijing_today(self.items.clock().now())
    }

    /// Whether the caller's data scope reaches the enterprise, as the
    /// registry has it: an industry committee reaches its industry's
    /// units. Cadres are posted from departments to units anywhere in the
    /// county and a problem is dispatched to no department, so a
    /// department officer is not scoped by the unit. An unknown enterprise
    /// is reached, for the command to answer.
    async fn reaches_enterprise<T>(
        &self,
        request: &Request<T>,
        enterprise: Uuid,
    ) -> Result<bool, Status> {
        use hongxin_runtime::auth::{Record, Role};
        let Some(caller) = hongxin_runtime::auth::caller_of(request) else {
            return Ok(true);
        };
        if [Role::CountyAdmin, Role::Service, Role::DepartmentOfficer]
            .iter()
            .any(|r| caller.has(*r))
        {
            return Ok(true);
        }
        let Some(e) = self
            .directory
            .enterprise(enterprise)
            .await
            .map_err(status_of)?
        else {
            return Ok(true);
        };
        let industry = industry_name(e.industry);
        Ok(caller.reaches(&Record {
            community: Some(&e.community_id),
            industry: industry.as_deref(),
            ..Record::default()
        }))
    }

    /// Refuses with `PermissionDenied` a caller whose scope does not reach
    /// the enterprise.
    async fn check_enterprise_reach<T>(
        &self,
        request: &Request<T>,
        enterprise: Uuid,
    ) -> Result<(), Status> {
        if self.reaches_enterprise(request, enterprise).await? {
            Ok(())
        } else {
            Err(outside_scope())
        }
    }

    /// Whether the caller's data scope reaches the records of `person`:
    /// a worker reaches themselves; community staff the people the
    /// registry has in their community, an industry committee those it has
    /// in its industry; a department officer the records of `department`
    /// (a service request's). The county administrator, services and the
    /// `exempt` roles reach everyone. A person the registry does not know
    /// is reached, for the command to answer.
    async fn reaches_person<T>(
        &self,
        request: &Request<T>,
        person: Uuid,
        department: Option<&str>,
        exempt: &[hongxin_runtime::auth::Role],
    ) -> Result<bool, Status> {
        use hongxin_runtime::auth::{Record, Role};
        let Some(caller) = hongxin_runtime::auth::caller_of(request) else {
            return Ok(true);
        };
        if [Role::CountyAdmin, Role::Service]
            .iter()
            .chain(exempt)
            .any(|r| caller.has(*r))
        {
            return Ok(true);
        }
        let id = person.to_string();
        let record = Record {
            person: Some(&id),
            department,
            ..Record::default()
        };
        if caller.reaches(&record) {
            return Ok(true);
        }
        // Only a community's staff and a committee need the registry.
        if !(caller.has(Role::CommunityStaff) || caller.has(Role::IndustryCommittee)) {
            return Ok(false);
        }
        match self.directory.person(person).await.map_err(status_of)? {
            Some(p) => Ok(place_reached(caller, record, &p)),
            None => Ok(true),
        }
    }

    /// Refuses with `PermissionDenied` a caller whose scope does not reach
    /// the records of `person` (see [`Api::reaches_person`]).
    async fn check_person_reach<T>(
        &self,
        request: &Request<T>,
        person: Uuid,
        department: Option<&str>,
        exempt: &[hongxin_runtime::auth::Role],
    ) -> Result<(), Status> {
        if self
            .reaches_person(request, person, department, exempt)
            .await?
        {
            Ok(())
        } else {
            Err(outside_scope())
        }
    }

    /// Whether the caller's scope reaches a wish's claimant, who may be a
    /// person, an enterprise or a Party organisation: a worker reaches
    /// themselves only; community staff and an industry committee a person
    /// or an enterprise within their scope, and any Party organisation,
    /// which the registry places in no community or industry. An unknown
    /// claimant is reached, for the command to answer.
    async fn reaches_claimant<T>(
        &self,
        request: &Request<T>,
        claimant: Uuid,
    ) -> Result<bool, Status> {
        use hongxin_runtime::auth::{Record, Role};
        let Some(caller) = hongxin_runtime::auth::caller_of(request) else {
            return Ok(true);
        };
        let id = claimant.to_string();
        if caller.reaches(&Record {
            person: Some(&id),
            ..Record::default()
        }) {
            return Ok(true);
        }
        if !(caller.has(Role::CommunityStaff) || caller.has(Role::IndustryCommittee)) {
            return Ok(false);
        }
        match self.directory.person(claimant).await.map_err(status_of)? {
            Some(p) => Ok(place_reached(
                caller,
                Record {
                    person: Some(&id),
                    ..Record::default()
                },
                &p,
            )),
            None => self.reaches_enterprise(request, claimant).await,
        }
    }

    /// Refuses a caller whose scope reaches neither the wisher nor the
    /// claimant of a wish: a worker reads their own wishes and those they
    /// claimed.
    async fn check_wish_reach<T>(
        &self,
        request: &Request<T>,
        wish: &wishes::MicroWish,
    ) -> Result<(), Status> {
        if self
            .reaches_person(request, wish.wish.person_id, None, &[])
            .await?
        {
            return Ok(());
        }
        match wish.claimant {
            Some(c) if self.reaches_claimant(request, c).await? => Ok(()),
            _ => Err(outside_scope()),
        }
    }

    /// Refuses a caller whose scope does not reach the service request:
    /// a worker reaches their own requests, community staff those of their
    /// community's people, a department officer those filed with their
    /// department. An unknown request passes, for the command to answer.
    async fn check_request_reach<T>(&self, request: &Request<T>, id: &str) -> Result<(), Status> {
        let Ok(id) = Uuid::parse_str(id) else {
            return Ok(());
        };
        match load(&self.requests, id).await?.0.0 {
            Some(q) => {
                self.check_person_reach(
                    request,
                    q.filing.person_id,
                    Some(&q.filing.department),
                    &[],
                )
                .await
            }
            None => Ok(()),
        }
    }

    /// Refuses a caller whose scope does not reach the wish's claimant
    /// (who releases or fulfils it); answers the version checked, for the
    /// command to be decided on that version only, since the claimant may
    /// change meanwhile. An unclaimed wish passes (with its version), and
    /// an unknown one with none, for the command to answer.
    async fn check_claim_reach<T>(&self, request: &Request<T>, id: &str) -> Result<u64, Status> {
        let Ok(id) = Uuid::parse_str(id) else {
            return Ok(0);
        };
        let (state, version) = load(&self.wishes, id).await?;
        match state.0.map(|w| w.claimant) {
            Some(Some(c)) if !self.reaches_claimant(request, c).await? => Err(outside_scope()),
            Some(_) => Ok(version),
            None => Ok(0),
        }
    }

    /// Each reference must be known to the organization service.
    async fn known(&self, refs: &[(&str, Uuid, bool)]) -> Result<(), Status> {
        let mut query = References::default();
        for (_, id, enterprise) in refs {
            if *enterprise {
                query.enterprises.push(*id);
            } else {
                query.people.push(*id);
            }
        }
        let unknown = self.directory.unknown(&query).await.map_err(status_of)?;
        let mut f = Fields::default();
        for (field, id, enterprise) in refs {
            let kind = if *enterprise { "enterprise" } else { "person" };
            if unknown
                .iter()
                .any(|u| u.kind == kind && u.id == id.to_string())
            {
                f.push(*field, format!("no such {kind}"));
            }
        }
        f.check()
    }

    async fn case_view(
        &self,
        state: hardship::State,
        version: u64,
    ) -> Result<Option<pb::HardshipCase>, Status> {
        let Some(c) = state.0 else {
            return Ok(None);
        };
        let a = &c.application;
        let household = match self.vault.key(a.person_id).await.map_err(vault_status)? {
            Some(key) => {
                let clear = key.open(&a.sealed_household).map_err(vault_status)?;
                Some(
                    pb::Household::decode(clear.as_slice())
                        .map_err(|e| status_of(CommandError::Internal(Box::new(e))))?,
                )
            }
            None => None,
        };
        let monthly = household.as_ref().map_or(0, |h| {
            hardship::Figures {
                household_size: h.size,
                annual_income_fen: h.annual_disposable_income_fen,
                unavoidable_expenses_fen: h.unavoidable_expenses_fen,
                standard_fen: a.standard_fen,
                accident: false,
            }
            .monthly_per_capita_fen()
        });
        Ok(Some(pb::HardshipCase {
            case_id: a.case_id.to_string(),
            person_id: a.person_id.to_string(),
            category: a.category.to_wire() as i32,
            household,
            monthly_per_capita_fen: monthly,
            steps: c.steps.iter().map(|(s, _, _)| s.to_wire() as i32).collect(),
            support: c.support.iter().map(hardship::support_to_wire).collect(),
            support_total_fen: c.support_total_fen(),
            approved: c.approved(),
            exited: c.steps.iter().any(|(s, _, _)| *s == hardship::Step::Exit),
            version,
            union_status: c
                .union_report
                .as_ref()
                .map_or(pb::UnionHardshipStatus::Unspecified, |r| r.status.to_wire())
                as i32,
        }))
    }
}

#[tonic::async_trait]
impl CareService for Api {
    async fn define_catalogue_item(
        &self,
        request: Request<pb::DefineCatalogueItemRequest>,
    ) -> Result<Response<pb::DefineCatalogueItemResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let Some(id) = f.id("item_id", &r.item_id) else {
            return Err(f.fail());
        };
        let command = centre::ItemCommand::Define(centre::Item {
            item_id: id,
            name: r.name,
            department: r.department,
            function: r.function,
            turnaround_days: r.turnaround_days,
        });
        let o = run(&self.items, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::DefineCatalogueItemResponse {
            item: o.state.to_wire(o.version),
        }))
    }

    async fn retire_catalogue_item(
        &self,
        request: Request<pb::RetireCatalogueItemRequest>,
    ) -> Result<Response<pb::RetireCatalogueItemResponse>, Status> {
        let ctx = command_context(&request);
        let mut f = Fields::default();
        let Some(id) = f.id("item_id", &request.get_ref().item_id) else {
            return Err(f.fail());
        };
        let o = run(&self.items, id, &centre::ItemCommand::Retire, ctx, 0).await?;
        Ok(Response::new(pb::RetireCatalogueItemResponse {
            item: o.state.to_wire(o.version),
        }))
    }

    async fn file_service_request(
        &self,
        request: Request<pb::FileServiceRequestRequest>,
    ) -> Result<Response<pb::FileServiceRequestResponse>, Status> {
        // A worker files for themselves, community staff for their
        // community's people.
        if let Ok(person) = Uuid::parse_str(&request.get_ref().person_id) {
            self.check_person_reach(&request, person, None, &[]).await?;
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("request_id", &r.request_id);
        let item_id = f.id("item_id", &r.item_id);
        let person = f.id("person_id", &r.person_id);
        let on = f.day("filed_on", &r.filed_on);
        let (Some(id), Some(item_id), Some(person_id), Some(filed_on)) = (id, item_id, person, on)
        else {
            return Err(f.fail());
        };
        let (item, _) = load(&self.items, item_id).await?;
        let Some((item, retired)) = item.0 else {
            return Err(Fields(vec![hongxin_domain::FieldViolation::new(
                "item_id",
                "no such catalogue item",
            )])
            .fail());
        };
        if retired {
            return Err(status_of(CommandError::rejected(
                "the catalogue item is retired",
            )));
        }
        self.known(&[("person_id", person_id, false)]).await?;
        let command = centre::RequestCommand::File {
            request_id: id,
            item,
            person_id,
            text: r.text,
            filed_on,
        };
        let o = run(&self.requests, id, &command, ctx, 0).await?;
        let today = self.today();
        Ok(Response::new(pb::FileServiceRequestResponse {
            request: o.state.0.map(|q| q.to_wire(o.version, today)),
        }))
    }

    async fn progress_service_request(
        &self,
        request: Request<pb::ProgressServiceRequestRequest>,
    ) -> Result<Response<pb::ProgressServiceRequestResponse>, Status> {
        self.check_request_reach(&request, &request.get_ref().request_id)
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("request_id", &r.request_id);
        let on = f.day("on", &r.on);
        let to = match pb::RequestState::try_from(r.state) {
            Ok(pb::RequestState::Accepted) => Some(centre::RequestState::Accepted),
            Ok(pb::RequestState::Completed) => Some(centre::RequestState::Completed),
            Ok(pb::RequestState::Declined) => Some(centre::RequestState::Declined),
            _ => {
                f.push("state", "must be accepted, completed or declined");
                None
            }
        };
        let (Some(id), Some(on), Some(to)) = (id, on, to) else {
            return Err(f.fail());
        };
        // Accepted again: a note while the request is in hand.
        let (current, _) = load(&self.requests, id).await?;
        let command = match current.0.as_ref().map(|q| q.state) {
            Some(centre::RequestState::Accepted) if to == centre::RequestState::Accepted => {
                centre::RequestCommand::Note { on, note: r.note }
            }
            _ => centre::RequestCommand::Progress {
                to,
                on,
                note: r.note,
            },
        };
        let o = run(&self.requests, id, &command, ctx, r.expected_version).await?;
        let today = self.today();
        Ok(Response::new(pb::ProgressServiceRequestResponse {
            request: o.state.0.map(|q| q.to_wire(o.version, today)),
        }))
    }

    async fn rate_service_request(
        &self,
        request: Request<pb::RateServiceRequestRequest>,
    ) -> Result<Response<pb::RateServiceRequestResponse>, Status> {
        self.check_request_reach(&request, &request.get_ref().request_id)
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let Some(id) = f.id("request_id", &r.request_id) else {
            return Err(f.fail());
        };
        let command = centre::RequestCommand::Rate {
            rating: r.rating,
            comment: r.comment,
        };
        let o = run(&self.requests, id, &command, ctx, 0).await?;
        let today = self.today();
        Ok(Response::new(pb::RateServiceRequestResponse {
            request: o.state.0.map(|q| q.to_wire(o.version, today)),
        }))
    }

    async fn get_service_request(
        &self,
        request: Request<pb::GetServiceRequestRequest>,
    ) -> Result<Response<pb::GetServiceRequestResponse>, Status> {
        let mut f = Fields::default();
        let Some(id) = f.id("request_id", &request.get_ref().request_id) else {
            return Err(f.fail());
        };
        let (state, version) = load(&self.requests, id).await?;
        let Some(q) = state.0 else {
            return Err(not_found("request"));
        };
        self.check_person_reach(
            &request,
            q.filing.person_id,
            Some(&q.filing.department),
            &[],
        )
        .await?;
        let request = q.to_wire(version, self.today());
        Ok(Response::new(pb::GetServiceRequestResponse {
            request: Some(request),
        }))
    }

    async fn post_cadre(
        &self,
        request: Request<pb::PostCadreRequest>,
    ) -> Result<Response<pb::PostCadreResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("posting_id", &r.posting_id);
        let cadre = f.id("cadre_person_id", &r.cadre_person_id);
        let enterprise = f.id("enterprise_id", &r.enterprise_id);
        let on = f.day("started_on", &r.started_on);
        let (Some(id), Some(cadre), Some(enterprise), Some(started_on)) =
            (id, cadre, enterprise, on)
        else {
            return Err(f.fail());
        };
        self.known(&[
            ("cadre_person_id", cadre, false),
            ("enterprise_id", enterprise, true),
        ])
        .await?;
        let command = enterprise_help::PostingCommand::Post(enterprise_help::Posting {
            posting_id: id,
            cadre,
            enterprise,
            started_on,
        });
        let o = run(&self.postings, id, &command, ctx, 0).await?;
        self.index.posted(id, cadre, enterprise);
        Ok(Response::new(pb::PostCadreResponse {
            posting: o.state.to_wire(o.version),
        }))
    }

    async fn end_cadre_posting(
        &self,
        request: Request<pb::EndCadrePostingRequest>,
    ) -> Result<Response<pb::EndCadrePostingResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let (Some(id), Some(on)) = (
            f.id("posting_id", &r.posting_id),
            f.day("ended_on", &r.ended_on),
        ) else {
            return Err(f.fail());
        };
        let o = run(
            &self.postings,
            id,
            &enterprise_help::PostingCommand::End { on },
            ctx,
            0,
        )
        .await?;
        self.index.ended(id);
        Ok(Response::new(pb::EndCadrePostingResponse {
            posting: o.state.to_wire(o.version),
        }))
    }

    async fn raise_enterprise_problem(
        &self,
        request: Request<pb::RaiseEnterpriseProblemRequest>,
    ) -> Result<Response<pb::RaiseEnterpriseProblemResponse>, Status> {
        if let Ok(enterprise) = Uuid::parse_str(&request.get_ref().enterprise_id) {
            self.check_enterprise_reach(&request, enterprise).await?;
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("problem_id", &r.problem_id);
        let enterprise = f.id("enterprise_id", &r.enterprise_id);
        let kind = f.required(
            "kind",
            enterprise_help::ProblemKind::from_wire(r.kind),
            "must be a known kind of problem",
        );
        let on = f.day("raised_on", &r.raised_on);
        let (Some(id), Some(enterprise), Some(kind), Some(raised_on)) = (id, enterprise, kind, on)
        else {
            return Err(f.fail());
        };
        self.known(&[("enterprise_id", enterprise, true)]).await?;
        let command = enterprise_help::ProblemCommand::Raise(enterprise_help::Raising {
            problem_id: id,
            enterprise,
            kind,
            description: r.description,
            raised_on,
        });
        let o = run(&self.problems, id, &command, ctx, 0).await?;
        self.index.raised(enterprise, id);
        Ok(Response::new(pb::RaiseEnterpriseProblemResponse {
            problem: o.state.0.map(|p| p.to_wire(o.version)),
        }))
    }

    async fn progress_enterprise_problem(
        &self,
        request: Request<pb::ProgressEnterpriseProblemRequest>,
    ) -> Result<Response<pb::ProgressEnterpriseProblemResponse>, Status> {
        if let Ok(id) = Uuid::parse_str(&request.get_ref().problem_id)
            && let (enterprise_help::ProblemStateView(Some(p)), _) =
                load(&self.problems, id).await?
        {
            self.check_enterprise_reach(&request, p.raising.enterprise)
                .await?;
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("problem_id", &r.problem_id);
        let on = f.day("on", &r.on);
        let to = f.required(
            "state",
            enterprise_help::ProblemState::from_wire(r.state),
            "must be in hand, solved or closed unsolved",
        );
        let (Some(id), Some(on), Some(to)) = (id, on, to) else {
            return Err(f.fail());
        };
        let command = enterprise_help::ProblemCommand::Progress {
            to,
            on,
            note: r.note,
        };
        let o = run(&self.problems, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::ProgressEnterpriseProblemResponse {
            problem: o.state.0.map(|p| p.to_wire(o.version)),
        }))
    }

    async fn list_cadre_problems(
        &self,
        request: Request<pb::ListCadreProblemsRequest>,
    ) -> Result<Response<pb::ListCadreProblemsResponse>, Status> {
        let mut f = Fields::default();
        let Some(cadre) = f.id("cadre_person_id", &request.get_ref().cadre_person_id) else {
            return Err(f.fail());
        };
        // Problems of units outside the caller's scope are left out.
        let mut reached = std::collections::HashMap::new();
        let mut problems = Vec::new();
        for id in self.index.problems_of_cadre(cadre) {
            let (state, version) = load(&self.problems, id).await?;
            let Some(p) = state.0.filter(|p| p.state.open()) else {
                continue;
            };
            let enterprise = p.raising.enterprise;
            let reaches = match reached.get(&enterprise) {
                Some(r) => *r,
                None => {
                    let r = self.reaches_enterprise(&request, enterprise).await?;
                    reached.insert(enterprise, r);
                    r
                }
            };
            if reaches {
                problems.push(p.to_wire(version));
            }
        }
        Ok(Response::new(pb::ListCadreProblemsResponse { problems }))
    }

    async fn plan_activity(
        &self,
        request: Request<pb::PlanActivityRequest>,
    ) -> Result<Response<pb::PlanActivityResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("activity_id", &r.activity_id);
        let kind = f.required(
            "kind",
            activity::Kind::from_wire(r.kind),
            "must be a known kind of activity",
        );
        let on = f.day("held_on", &r.held_on);
        let (Some(id), Some(kind), Some(held_on)) = (id, kind, on) else {
            return Err(f.fail());
        };
        let command = activity::Command::Plan(activity::Plan {
            activity_id: id,
            kind,
            title: r.title,
            organiser: r.organiser,
            place: r.place,
            held_on,
            capacity: r.capacity,
        });
        let o = run(&self.activities, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::PlanActivityResponse {
            activity: o.state.0.map(|a| a.to_wire(o.version)),
        }))
    }

    async fn register_for_activity(
        &self,
        request: Request<pb::RegisterForActivityRequest>,
    ) -> Result<Response<pb::RegisterForActivityResponse>, Status> {
        // A worker registers themselves, community staff their
        // community's people.
        if let Ok(person) = Uuid::parse_str(&request.get_ref().person_id) {
            self.check_person_reach(&request, person, None, &[]).await?;
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let (Some(id), Some(person_id)) = (
            f.id("activity_id", &r.activity_id),
            f.id("person_id", &r.person_id),
        ) else {
            return Err(f.fail());
        };
        self.known(&[("person_id", person_id, false)]).await?;
        let o = run(
            &self.activities,
            id,
            &activity::Command::Register { person_id },
            ctx,
            0,
        )
        .await?;
        let has_place = o
            .state
            .0
            .as_ref()
            .is_some_and(|a| a.registered.contains(&person_id));
        Ok(Response::new(pb::RegisterForActivityResponse {
            activity: o.state.0.map(|a| a.to_wire(o.version)),
            has_place,
        }))
    }

    async fn withdraw_from_activity(
        &self,
        request: Request<pb::WithdrawFromActivityRequest>,
    ) -> Result<Response<pb::WithdrawFromActivityResponse>, Status> {
        if let Ok(person) = Uuid::parse_str(&request.get_ref().person_id) {
            self.check_person_reach(&request, person, None, &[]).await?;
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let (Some(id), Some(person_id)) = (
            f.id("activity_id", &r.activity_id),
            f.id("person_id", &r.person_id),
        ) else {
            return Err(f.fail());
        };
        let o = run(
            &self.activities,
            id,
            &activity::Command::Withdraw { person_id },
            ctx,
            0,
        )
        .await?;
        Ok(Response::new(pb::WithdrawFromActivityResponse {
            activity: o.state.0.map(|a| a.to_wire(o.version)),
        }))
    }

    async fn check_in_to_activity(
        &self,
        request: Request<pb::CheckInToActivityRequest>,
    ) -> Result<Response<pb::CheckInToActivityResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let (Some(id), Some(person_id)) = (
            f.id("activity_id", &r.activity_id),
            f.id("person_id", &r.person_id),
        ) else {
            return Err(f.fail());
        };
        let o = run(
            &self.activities,
            id,
            &activity::Command::CheckIn { person_id },
            ctx,
            0,
        )
        .await?;
        Ok(Response::new(pb::CheckInToActivityResponse {
            activity: o.state.0.map(|a| a.to_wire(o.version)),
        }))
    }

    async fn cancel_activity(
        &self,
        request: Request<pb::CancelActivityRequest>,
    ) -> Result<Response<pb::CancelActivityResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let Some(id) = f.id("activity_id", &r.activity_id) else {
            return Err(f.fail());
        };
        let o = run(
            &self.activities,
            id,
            &activity::Command::Cancel { reason: r.reason },
            ctx,
            0,
        )
        .await?;
        Ok(Response::new(pb::CancelActivityResponse {
            activity: o.state.0.map(|a| a.to_wire(o.version)),
        }))
    }

    async fn apply_for_hardship(
        &self,
        request: Request<pb::ApplyForHardshipRequest>,
    ) -> Result<Response<pb::ApplyForHardshipResponse>, Status> {
        // A worker applies for themselves, community staff for their
        // community's people; the union's liaison for anyone. Checked
        // before the person's data key is claimed.
        if let Ok(person) = Uuid::parse_str(&request.get_ref().person_id) {
            self.check_person_reach(
                &request,
                person,
                None,
                &[hongxin_runtime::auth::Role::UnionLiaison],
            )
            .await?;
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("case_id", &r.case_id);
        let person = f.id("person_id", &r.person_id);
        let on = f.day("applied_on", &r.applied_on);
        let household = f.required(
            "household",
            r.household,
            "the household's figures are required",
        );
        let (Some(id), Some(person_id), Some(applied_on), Some(mut household)) =
            (id, person, on, household)
        else {
            return Err(f.fail());
        };
        for (field, text, max) in [
            ("household.health", &mut household.health, 500),
            ("household.housing", &mut household.housing, 500),
            ("household.causes", &mut household.causes, 1000),
        ] {
            *text = text.trim().to_owned();
            if text.chars().count() > max || text.chars().any(char::is_control) {
                f.push(field, format!("at most {max} characters of text"));
            }
        }
        f.check()?;
        self.known(&[("person_id", person_id, false)]).await?;
        let figures = hardship::Figures {
            household_size: household.size,
            annual_income_fen: household.annual_disposable_income_fen,
            unavoidable_expenses_fen: household.unavoidable_expenses_fen,
            standard_fen: self.minimum_living_standard_fen,
            accident: r.accident,
        };
        let key = self
            .vault
            .claim(person_id, None)
            .await
            .map_err(vault_status)?
            .key;
        let command = hardship::Command::Apply {
            case_id: id,
            person_id,
            figures,
            sealed_household: key.seal(&household.encode_to_vec()),
            applied_on,
        };
        let o = run(&self.cases, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::ApplyForHardshipResponse {
            case: self.case_view(o.state, o.version).await?,
        }))
    }

    async fn record_hardship_step(
        &self,
        request: Request<pb::RecordHardshipStepRequest>,
    ) -> Result<Response<pb::RecordHardshipStepResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("case_id", &r.case_id);
        let on = f.day("on", &r.on);
        let step = f.required(
            "step",
            hardship::Step::from_wire(r.step),
            "must be a known step",
        );
        let (Some(id), Some(on), Some(step)) = (id, on, step) else {
            return Err(f.fail());
        };
        let command = hardship::Command::Record {
            step,
            on,
            passed: r.passed,
            note: r.note,
        };
        let o = run(&self.cases, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::RecordHardshipStepResponse {
            case: self.case_view(o.state, o.version).await?,
        }))
    }

    async fn give_hardship_support(
        &self,
        request: Request<pb::GiveHardshipSupportRequest>,
    ) -> Result<Response<pb::GiveHardshipSupportResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("case_id", &r.case_id);
        let s = r.support.unwrap_or_default();
        let support_id = f.id("support.support_id", &s.support_id);
        let on = f.day("support.given_on", &s.given_on);
        let kind = match pb::SupportKind::try_from(s.kind) {
            Ok(pb::SupportKind::Cash) => Some(hardship::SupportKind::Cash),
            Ok(pb::SupportKind::InKind) => Some(hardship::SupportKind::InKind),
            _ => {
                f.push("support.kind", "cash or in kind");
                None
            }
        };
        let (Some(id), Some(support_id), Some(on), Some(kind)) = (id, support_id, on, kind) else {
            return Err(f.fail());
        };
        let command = hardship::Command::Give(hardship::Support {
            support_id,
            kind,
            amount_fen: s.amount_fen,
            description: s.description,
            giver: s.giver,
            on,
        });
        let o = run(&self.cases, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::GiveHardshipSupportResponse {
            case: self.case_view(o.state, o.version).await?,
        }))
    }

    async fn get_hardship_case(
        &self,
        request: Request<pb::GetHardshipCaseRequest>,
    ) -> Result<Response<pb::GetHardshipCaseResponse>, Status> {
        let mut f = Fields::default();
        let Some(id) = f.id("case_id", &request.get_ref().case_id) else {
            return Err(f.fail());
        };
        let (state, version) = load(&self.cases, id).await?;
        let case = self
            .case_view(state, version)
            .await?
            .ok_or_else(|| not_found("hardship case"))?;
        Ok(Response::new(pb::GetHardshipCaseResponse {
            case: Some(case),
        }))
    }

    async fn record_hardship_union_status(
        &self,
        request: Request<pb::RecordHardshipUnionStatusRequest>,
    ) -> Result<Response<pb::RecordHardshipUnionStatusResponse>, Status> {
        let mut ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("case_id", &r.case_id);
        let person_id = f.id("person_id", &r.person_id);
        let on = f.day("on", &r.on);
        let status = f.required(
            "status",
            hardship::UnionStatus::from_wire(r.status),
            "must be a known union status",
        );
        let (Some(id), Some(person_id), Some(on), Some(status)) = (id, person_id, on, status)
        else {
            return Err(f.fail());
        };
        let report = hardship::UnionReport {
            file_number: r.union_file_number.trim().to_owned(),
            status,
            on,
        };
        // Written once per file and status: a second import of the union's
        // export, or a retry, finds the key and writes nothing.
        let key = format!(
            "import:union:hardship:{}:{id}:{:?}:{}",
            report.file_number,
            status,
            hongxin_domain::time::format_day(on)
        );
        let command = hardship::Command::RecordUnionStatus { person_id, report };
        let (state, version, unchanged) = if r.validate_only {
            let (state, version) = load(&self.cases, id).await?;
            let known = self
                .cases
                .store()
                .find_idempotency_key(&key)
                .await
                .map_err(|e| status_of(CommandError::from(e)))?
                .is_some();
            let events = if known {
                Vec::new()
            } else {
                use hongxin_domain::Decider as _;
                self.cases
                    .decider()
                    .decide(&state, &command, self.cases.clock().now())
                    .map_err(status_of)?
            };
            (state, version, events.is_empty())
        } else {
            ctx.idempotency_key = Some(key);
            let o = run(&self.cases, id, &command, ctx, 0).await?;
            (o.state, o.version, o.events.is_empty())
        };
        Ok(Response::new(pb::RecordHardshipUnionStatusResponse {
            case: self.case_view(state, version).await?,
            unchanged,
        }))
    }

    async fn open_campaign(
        &self,
        request: Request<pb::OpenCampaignRequest>,
    ) -> Result<Response<pb::OpenCampaignResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let Some(id) = f.id("campaign_id", &r.campaign_id) else {
            return Err(f.fail());
        };
        let command = supplies::Command::Open(supplies::Opening {
            campaign_id: id,
            name: r.name,
            item: r.item,
            unit_value_fen: r.unit_value_fen,
        });
        let o = run(&self.campaigns, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::OpenCampaignResponse {
            campaign: o.state.0.map(|c| c.to_wire(o.version)),
        }))
    }

    async fn stock_campaign(
        &self,
        request: Request<pb::StockCampaignRequest>,
    ) -> Result<Response<pb::StockCampaignResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let (Some(id), Some(on)) = (f.id("campaign_id", &r.campaign_id), f.day("on", &r.on)) else {
            return Err(f.fail());
        };
        let command = supplies::Command::StockIn {
            quantity: r.quantity,
            on,
        };
        let o = run(&self.campaigns, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::StockCampaignResponse {
            campaign: o.state.0.map(|c| c.to_wire(o.version)),
        }))
    }

    async fn hand_out_supplies(
        &self,
        request: Request<pb::HandOutSuppliesRequest>,
    ) -> Result<Response<pb::HandOutSuppliesResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.get_ref();
        let mut f = Fields::default();
        let id = f.id("campaign_id", &r.campaign_id);
        let recipient = f.id("recipient_id", &r.recipient_id);
        let on = f.day("on", &r.on);
        let (Some(id), Some(recipient), Some(on)) = (id, recipient, on) else {
            return Err(f.fail());
        };
        self.known(&[("recipient_id", recipient, r.to_station)])
            .await?;
        // Community staff hand out to their community's people and
        // stations; the union's liaison county-wide.
        let union = hongxin_runtime::auth::Role::UnionLiaison;
        if r.to_station {
            let liaison = hongxin_runtime::auth::caller_of(&request).is_some_and(|c| c.has(union));
            if !liaison && !self.reaches_enterprise(&request, recipient).await? {
                return Err(outside_scope());
            }
        } else {
            self.check_person_reach(&request, recipient, None, &[union])
                .await?;
        }
        let command = supplies::Command::HandOut {
            recipient,
            to_station: r.to_station,
            quantity: r.quantity,
            on,
        };
        let o = run(&self.campaigns, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::HandOutSuppliesResponse {
            campaign: o.state.0.map(|c| c.to_wire(o.version)),
        }))
    }

    async fn file_micro_wish(
        &self,
        request: Request<pb::FileMicroWishRequest>,
    ) -> Result<Response<pb::FileMicroWishResponse>, Status> {
        // A worker files their own wish, community staff their
        // community's people's.
        if let Ok(person) = Uuid::parse_str(&request.get_ref().person_id) {
            self.check_person_reach(&request, person, None, &[]).await?;
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("wish_id", &r.wish_id);
        let person = f.id("person_id", &r.person_id);
        let on = f.day("filed_on", &r.filed_on);
        let (Some(id), Some(person_id), Some(received_on)) = (id, person, on) else {
            return Err(f.fail());
        };
        self.known(&[("person_id", person_id, false)]).await?;
        let command = wishes::Command::Receive(wishes::Wish {
            wish_id: id,
            person_id,
            title: r.title,
            received_on,
            post_id: None,
        });
        let o = run(&self.wishes, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::FileMicroWishResponse {
            wish: o.state.0.map(|w| w.to_wire(o.version)),
        }))
    }

    async fn claim_micro_wish(
        &self,
        request: Request<pb::ClaimMicroWishRequest>,
    ) -> Result<Response<pb::ClaimMicroWishResponse>, Status> {
        // A worker claims as themselves; staff and committees in the name
        // of a claimant within their scope.
        if let Ok(claimant) = Uuid::parse_str(&request.get_ref().claimant_id)
            && !self.reaches_claimant(&request, claimant).await?
        {
            return Err(outside_scope());
        }
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let id = f.id("wish_id", &r.wish_id);
        let claimant = f.id("claimant_id", &r.claimant_id);
        let on = f.day("on", &r.on);
        let (Some(id), Some(claimant), Some(on)) = (id, claimant, on) else {
            return Err(f.fail());
        };
        // A person, an enterprise or a Party organisation.
        let unknown = self
            .directory
            .unknown(&References {
                people: vec![claimant],
                enterprises: vec![claimant],
                organizations: vec![claimant],
                ..References::default()
            })
            .await
            .map_err(status_of)?;
        if unknown.len() == 3 {
            return Err(Fields(vec![hongxin_domain::FieldViolation::new(
                "claimant_id",
                "no such person, enterprise or Party organisation",
            )])
            .fail());
        }
        let o = run(
            &self.wishes,
            id,
            &wishes::Command::Claim { claimant, on },
            ctx,
            0,
        )
        .await?;
        Ok(Response::new(pb::ClaimMicroWishResponse {
            wish: o.state.0.map(|w| w.to_wire(o.version)),
        }))
    }

    async fn release_micro_wish(
        &self,
        request: Request<pb::ReleaseMicroWishRequest>,
    ) -> Result<Response<pb::ReleaseMicroWishResponse>, Status> {
        let checked = self
            .check_claim_reach(&request, &request.get_ref().wish_id)
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let (Some(id), Some(on)) = (f.id("wish_id", &r.wish_id), f.day("on", &r.on)) else {
            return Err(f.fail());
        };
        let o = run(
            &self.wishes,
            id,
            &wishes::Command::Release { on },
            ctx,
            checked,
        )
        .await?;
        Ok(Response::new(pb::ReleaseMicroWishResponse {
            wish: o.state.0.map(|w| w.to_wire(o.version)),
        }))
    }

    async fn fulfil_micro_wish(
        &self,
        request: Request<pb::FulfilMicroWishRequest>,
    ) -> Result<Response<pb::FulfilMicroWishResponse>, Status> {
        let checked = self
            .check_claim_reach(&request, &request.get_ref().wish_id)
            .await?;
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let (Some(id), Some(on)) = (f.id("wish_id", &r.wish_id), f.day("on", &r.on)) else {
            return Err(f.fail());
        };
        let command = wishes::Command::Fulfil {
            on,
            evidence: r.evidence,
        };
        let o = run(&self.wishes, id, &command, ctx, checked).await?;
        Ok(Response::new(pb::FulfilMicroWishResponse {
            wish: o.state.0.map(|w| w.to_wire(o.version)),
        }))
    }

    async fn get_micro_wish(
        &self,
        request: Request<pb::GetMicroWishRequest>,
    ) -> Result<Response<pb::GetMicroWishResponse>, Status> {
        let mut f = Fields::default();
        let Some(id) = f.id("wish_id", &request.get_ref().wish_id) else {
            return Err(f.fail());
        };
        let (state, version) = load(&self.wishes, id).await?;
        let Some(w) = state.0 else {
            return Err(not_found("micro-wish"));
        };
        self.check_wish_reach(&request, &w).await?;
        let wish = w.to_wire(version);
        Ok(Response::new(pb::GetMicroWishResponse { wish: Some(wish) }))
    }
}
