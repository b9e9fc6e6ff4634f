//! The gRPC face of the county's measures, actions and standing systems.

use hongxin_domain::CommandError;
use hongxin_proto::organization::v1 as pb;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};

use crate::grpc::{Api, Violations, day, load, parse_id, run};
use crate::policy::{Command, Issue, Kind};

impl Api {
    pub(crate) async fn issue_policy_item_impl(
        &self,
        request: Request<pb::IssuePolicyItemRequest>,
    ) -> Result<Response<pb::IssuePolicyItemResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.take(parse_id("policy_id", &r.policy_id));
        let kind = v.take(Kind::from_wire(r.kind).ok_or_else(|| {
            CommandError::invalid("kind", "must be a measure, an action or a system")
        }));
        let issued_on = v.take(day("issued_on", &r.issued_on));
        let (Some(id), Some(kind), Some(issued_on)) = (id, kind, issued_on) else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        let command = Command::Issue(Issue {
            policy_id: id,
            kind,
            title: r.title,
            summary: r.summary,
            issued_on,
        });
        let outcome = run(&self.policy, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::IssuePolicyItemResponse {
            item: outcome.state.0.map(|i| i.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn retire_policy_item_impl(
        &self,
        request: Request<pb::RetirePolicyItemRequest>,
    ) -> Result<Response<pb::RetirePolicyItemResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.take(parse_id("policy_id", &r.policy_id));
        let on = v.take(day("retired_on", &r.retired_on));
        let (Some(id), Some(on)) = (id, on) else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        let outcome = run(&self.policy, id, &Command::Retire { on }, ctx, 0).await?;
        Ok(Response::new(pb::RetirePolicyItemResponse {
            item: outcome.state.0.map(|i| i.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn get_policy_item_impl(
        &self,
        request: Request<pb::GetPolicyItemRequest>,
    ) -> Result<Response<pb::GetPolicyItemResponse>, Status> {
        let id = parse_id("policy_id", &request.get_ref().policy_id).map_err(status_of)?;
        let item = load(&self.policy, id, |s, version| {
            s.0.map(|i| i.to_wire(version))
        })
        .await?
        .ok_or_else(|| Status::not_found("no such policy item"))?;
        Ok(Response::new(pb::GetPolicyItemResponse {
            item: Some(item),
        }))
    }
}
