//! The gRPC face of what hongxin files with a partner for a worker
//! (`crate::filings`): the person must be registered, not erased, and
//! within the caller's scope (a worker files for themselves, community
//! staff for their community's workers).

use hongxin_domain::text::text_violations;
use hongxin_domain::time::beijing_today;
use hongxin_domain::{CommandError, Decider as _};
use hongxin_proto::organization::v1 as pb;
use hongxin_runtime::fields::Fields;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};

use crate::filings::{AccidentKind, Command};
use crate::grpc::Api;

impl Api {
    /// Files `command` for the registered, unerased person it names, whom
    /// the caller's scope must reach; true when it was on file already.
    async fn file<T>(
        &self,
        request: &Request<T>,
        command: Command,
        validate_only: bool,
    ) -> Result<bool, Status> {
        let person_id = command.person_id();
        let (p, _, details) = self
            .person_with_details(person_id)
            .await?
            .ok_or_else(|| Status::not_found("no such person"))?;
        self.check_reach(request, &p, "filing")?;
        if details.is_none() {
            return Err(status_of(CommandError::rejected(format!(
                "person {person_id} was erased"
            ))));
        }
        let ctx = command_context(request);
        if validate_only {
            let (state, _) = hongxin_runtime::commands::load(&self.filings, person_id).await?;
            let events = self
                .filings
                .decider()
                .decide(&state, &command, self.filings.clock().now())
                .map_err(status_of)?;
            return Ok(events.is_empty());
        }
        let outcome = crate::grpc::run(&self.filings, person_id, &command, ctx, 0).await?;
        Ok(outcome.events.is_empty())
    }

    pub(crate) async fn apply_to_join_union_impl(
        &self,
        request: Request<pb::ApplyToJoinUnionRequest>,
    ) -> Result<Response<pb::ApplyToJoinUnionResponse>, Status> {
        let r = request.get_ref();
        let mut f = Fields::default();
        let Some(person_id) = f.id("person_id", &r.person_id) else {
            return Err(f.fail());
        };
        let command = Command::JoinUnion { person_id };
        let application_id = command.filing_id();
        let validate_only = r.validate_only;
        let unchanged = self.file(&request, command, validate_only).await?;
        Ok(Response::new(pb::ApplyToJoinUnionResponse {
            application_id: application_id.to_string(),
            unchanged,
        }))
    }

    pub(crate) async fn file_employment_registration_impl(
        &self,
        request: Request<pb::FileEmploymentRegistrationRequest>,
    ) -> Result<Response<pb::FileEmploymentRegistrationResponse>, Status> {
        let r = request.get_ref();
        let mut f = Fields::default();
        let person_id = f.id("person_id", &r.person_id);
        f.0.extend(text_violations("occupation", &r.occupation, 50));
        let Some(person_id) = person_id.filter(|_| f.is_empty()) else {
            return Err(f.fail());
        };
        let command = Command::FileEmployment {
            person_id,
            occupation: r.occupation.trim().to_owned(),
        };
        let filing_id = command.filing_id();
        let validate_only = r.validate_only;
        let unchanged = self.file(&request, command, validate_only).await?;
        Ok(Response::new(pb::FileEmploymentRegistrationResponse {
            filing_id: filing_id.to_string(),
            unchanged,
        }))
    }

    pub(crate) async fn report_accident_impl(
        &self,
        request: Request<pb::ReportAccidentRequest>,
    ) -> Result<Response<pb::ReportAccidentResponse>, Status> {
        let r = request.get_ref();
        let mut f = Fields::default();
        let person_id = f.id("person_id", &r.person_id);
        let accident_on = f.day("accident_on", &r.accident_on);
        if accident_on.is_some_and(|d| d > beijing_today(self.filings.clock().now())) {
            f.push("accident_on", "must not be in the future");
        }
        f.0.extend(text_violations("platform", &r.platform, 50));
        let kind = f.required(
            "kind",
            AccidentKind::from_wire(r.kind),
            "must be traffic, fall or other",
        );
        let (Some(person_id), Some(accident_on), Some(kind), true) =
            (person_id, accident_on, kind, f.is_empty())
        else {
            return Err(f.fail());
        };
        let command = Command::ReportAccident {
            person_id,
            accident_on,
            platform: r.platform.trim().to_owned(),
            kind,
        };
        let report_id = command.filing_id();
        let validate_only = r.validate_only;
        let unchanged = self.file(&request, command, validate_only).await?;
        Ok(Response::new(pb::ReportAccidentResponse {
            report_id: report_id.to_string(),
            unchanged,
        }))
    }
}
