//! The gRPC face of the organization service: wire types in, commands to
//! the handlers, wire types out.

use hongxin_domain::{CommandError, CommandHandler, RetryPolicy};
use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_server::OrganizationService;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::committee::{Command, CommitteeDecider, Industry, State};

pub(crate) struct Api {
    pub(crate) committees: CommandHandler<CommitteeDecider>,
}

fn parse_id(field: &str, raw: &str) -> Result<Uuid, CommandError> {
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
        version,
    })
}

#[tonic::async_trait]
impl OrganizationService for Api {
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
        Ok(Response::new(pb::GetIndustryCommitteeResponse {
            committee: Some(committee),
        }))
    }
}
