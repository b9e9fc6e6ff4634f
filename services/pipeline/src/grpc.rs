//! The gRPC face of the pipeline: wire types in, references checked with
//! the organization service (within a deadline), commands to the handler.

use chrono::NaiveDate;
use hongxin_domain::{CommandContext, CommandError, CommandHandler, FieldViolation, RetryPolicy};
use hongxin_organization::client::Directory;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::pipeline::v1 as pb;
use hongxin_proto::pipeline::v1::pipeline_service_server::PipelineService;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::candidate::{
    Application, Candidate, CandidateDecider, Command, Details, State, Step, details_from_wire,
};
use crate::index::CandidateIndex;
use crate::rules::RuleBook;

pub(crate) struct Api {
    pub(crate) candidates: CommandHandler<CandidateDecider>,
    pub(crate) rules: RuleBook,
    pub(crate) directory: Directory,
    pub(crate) index: CandidateIndex,
    pub(crate) pairs: crate::activities_api::Pairs,
    pub(crate) sessions: crate::activities_api::Sessions,
    pub(crate) party_days: crate::activities_api::PartyDays,
    pub(crate) posts: crate::activities_api::Posts,
}

fn parse_id(field: &str, raw: &str) -> Result<Uuid, FieldViolation> {
    Uuid::parse_str(raw)
        .ok()
        .filter(|u| !u.is_nil())
        .ok_or_else(|| FieldViolation::new(field, "must be a UUID"))
}

fn parse_day(field: &str, raw: &str) -> Result<NaiveDate, FieldViolation> {
    hongxin_domain::time::parse_day(raw)
        .ok_or_else(|| FieldViolation::new(field, "must be a date, YYYY-MM-DD"))
}

fn invalid(v: Vec<FieldViolation>) -> Status {
    status_of(CommandError::Invalid(v))
}

impl Api {
    fn today(&self) -> NaiveDate {
        hongxin_domain::time::beijing_today(self.candidates.clock().now())
    }

    async fn run(
        &self,
        id: Uuid,
        command: &Command,
        mut ctx: CommandContext,
        expected_version: u64,
    ) -> Result<pb::Candidate, Status> {
        if expected_version > 0 {
            ctx.expected_version = Some(expected_version);
        }
        let outcome = self
            .candidates
            .handle(
                &CommandHandler::<CandidateDecider>::stream_id(id),
                command,
                &ctx,
                RetryPolicy::Reload(3),
            )
            .await
            .map_err(status_of)?;
        self.view(outcome.state, outcome.version)
            .ok_or_else(|| Status::not_found("no such candidate"))
    }

    fn view(&self, state: State, version: u64) -> Option<pb::Candidate> {
        state.0.map(|c| c.to_wire(version, self.today()))
    }

    async fn load(&self, id: Uuid) -> Result<Option<(Candidate, u64)>, Status> {
        let loaded = self
            .candidates
            .load(&CommandHandler::<CandidateDecider>::stream_id(id))
            .await
            .map_err(status_of)?;
        Ok(loaded.state.0.map(|c| (c, loaded.version)))
    }

    /// The people named must be full Party members of the registry.
    async fn check_full_members(&self, people: &[Uuid], what: &str) -> Result<(), Status> {
        for (i, p) in people.iter().enumerate() {
            let Some(person) = self.directory.person(*p).await.map_err(status_of)? else {
                return Err(invalid(vec![FieldViolation::new(
                    format!("details.person_ids[{i}]"),
                    "no such person",
                )]));
            };
            if person.party_status != org::PartyStatus::Full as i32 {
                return Err(status_of(CommandError::rejected(format!(
                    "{what} must be full Party members; person {p} is not"
                ))));
            }
        }
        Ok(())
    }

    /// Class hours of `sessions` that count towards the candidate's
    /// centralised training: each must exist, count, and have the
    /// candidate's person among its attendees.
    async fn centralised_hours(&self, candidate: Uuid, sessions: &[Uuid]) -> Result<u32, Status> {
        let Some((c, _)) = self.load(candidate).await? else {
            return Err(Status::not_found("no such candidate"));
        };
        let mut hours = 0;
        for (i, id) in sessions.iter().enumerate() {
            let field = format!("details.training_session_ids[{i}]");
            if sessions[..i].contains(id) {
                return Err(invalid(vec![FieldViolation::new(field, "is listed twice")]));
            }
            let loaded = self
                .sessions
                .load(&CommandHandler::<crate::training::SessionDecider>::stream_id(id))
                .await
                .map_err(status_of)?;
            let Some(t) = loaded.state.0 else {
                return Err(invalid(vec![FieldViolation::new(
                    field,
                    "no such training session",
                )]));
            };
            if !t.session.counts_as_centralised {
                return Err(status_of(CommandError::rejected(format!(
                    "session “{}” does not count towards centralised training",
                    t.session.course
                ))));
            }
            if !t.attendees.contains(&c.application.person_id) {
                return Err(status_of(CommandError::rejected(format!(
                    "the candidate did not attend session “{}”",
                    t.session.course
                ))));
            }
            hours += t.session.class_hours;
        }
        Ok(hours)
    }

    /// The approving organisation must be a Party committee.
    async fn check_approver(&self, details: &Details) -> Result<(), Status> {
        let Some(o) = details.approving_organization else {
            return Ok(());
        };
        match self.directory.organization(o).await.map_err(status_of)? {
            None => Err(invalid(vec![FieldViolation::new(
                "details.approving_organization_id",
                "no such Party organisation",
            )])),
            Some(org) if !org.may_approve_members => Err(status_of(CommandError::rejected(
                "only a Party committee approves members; a general branch or a branch cannot",
            ))),
            Some(_) => Ok(()),
        }
    }
}

#[tonic::async_trait]
impl PipelineService for Api {
    async fn apply(
        &self,
        request: Request<pb::ApplyRequest>,
    ) -> Result<Response<pb::ApplyResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Vec::new();
        let id = parse_id("candidate_id", &r.candidate_id)
            .map_err(|e| v.push(e))
            .ok();
        let person = parse_id("person_id", &r.person_id)
            .map_err(|e| v.push(e))
            .ok();
        let organization = parse_id("organization_id", &r.organization_id)
            .map_err(|e| v.push(e))
            .ok();
        let applied_on = parse_day("applied_on", &r.applied_on)
            .map_err(|e| v.push(e))
            .ok();
        let rules = self.rules.get(&r.rule_set_id).cloned();
        if rules.is_none() {
            v.push(FieldViolation::new("rule_set_id", "no such rule set"));
        }
        let (Some(id), Some(person_id), Some(organization_id), Some(applied_on), Some(rules)) =
            (id, person, organization, applied_on, rules)
        else {
            return Err(invalid(v));
        };
        let person = self.directory.person(person_id).await.map_err(status_of)?;
        let branch = self
            .directory
            .organization(organization_id)
            .await
            .map_err(status_of)?;
        if person.is_none() {
            v.push(FieldViolation::new("person_id", "no such person"));
        }
        if branch.is_none() {
            v.push(FieldViolation::new(
                "organization_id",
                "no such Party organisation",
            ));
        }
        let (Some(person), Some(_)) = (person, branch) else {
            return Err(invalid(v));
        };
        let Some(birth_date) = hongxin_domain::time::parse_day(&person.birth_date) else {
            return Err(status_of(CommandError::rejected(
                "the person's birth date is not on record (their data was erased)",
            )));
        };
        let command = Command::Apply {
            application: Application {
                candidate_id: id,
                person_id,
                organization_id,
                applied_on,
                rules,
            },
            birth_date,
        };
        let candidate = self.run(id, &command, ctx, 0).await?;
        self.index.insert(organization_id, id);
        Ok(Response::new(pb::ApplyResponse {
            candidate: Some(candidate),
        }))
    }

    async fn record_step(
        &self,
        request: Request<pb::RecordStepRequest>,
    ) -> Result<Response<pb::RecordStepResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Vec::new();
        let id = parse_id("candidate_id", &r.candidate_id)
            .map_err(|e| v.push(e))
            .ok();
        let step = Step::from_wire(r.step);
        if step.is_none() {
            v.push(FieldViolation::new("step", "must be a known step"));
        }
        let on = parse_day("on", &r.on).map_err(|e| v.push(e)).ok();
        let details = match details_from_wire(r.details.unwrap_or_default()) {
            Ok(d) => Some(d),
            Err(problems) => {
                v.extend(problems);
                None
            }
        };
        let (Some(id), Some(step), Some(on), Some(details)) = (id, step, on, details) else {
            return Err(invalid(v));
        };
        match step {
            Step::ContactsAssigned => {
                self.check_full_members(&details.people, "cultivation contacts")
                    .await?;
            }
            Step::IntroducersAssigned => {
                self.check_full_members(&details.people, "introducers")
                    .await?;
            }
            _ => {}
        }
        self.check_approver(&details).await?;
        let mut details = details;
        if !details.training_sessions.is_empty() {
            if step != Step::Training {
                return Err(invalid(vec![FieldViolation::new(
                    "details.training_session_ids",
                    "only a training step names sessions",
                )]));
            }
            details.hours += self
                .centralised_hours(id, &details.training_sessions)
                .await?;
        }
        let command = Command::Record { step, on, details };
        let candidate = self.run(id, &command, ctx, r.expected_version).await?;
        Ok(Response::new(pb::RecordStepResponse {
            candidate: Some(candidate),
        }))
    }

    async fn get_candidate(
        &self,
        request: Request<pb::GetCandidateRequest>,
    ) -> Result<Response<pb::GetCandidateResponse>, Status> {
        let id = parse_id("candidate_id", &request.get_ref().candidate_id)
            .map_err(|e| invalid(vec![e]))?;
        let (c, version) = self
            .load(id)
            .await?
            .ok_or_else(|| Status::not_found("no such candidate"))?;
        Ok(Response::new(pb::GetCandidateResponse {
            candidate: Some(c.to_wire(version, self.today())),
        }))
    }

    async fn list_due(
        &self,
        request: Request<pb::ListDueRequest>,
    ) -> Result<Response<pb::ListDueResponse>, Status> {
        let r = request.into_inner();
        let organization =
            parse_id("organization_id", &r.organization_id).map_err(|e| invalid(vec![e]))?;
        if r.within_days > 3660 {
            return Err(invalid(vec![FieldViolation::new(
                "within_days",
                "at most 3660 days",
            )]));
        }
        let today = self.today();
        let horizon = today + chrono::Days::new(u64::from(r.within_days));
        let mut candidates = Vec::new();
        for id in self.index.of(organization) {
            let Some((c, version)) = self.load(id).await? else {
                continue;
            };
            let next = c.next(today);
            if next.is_empty() {
                continue;
            }
            let soon = r.within_days == 0
                || next
                    .iter()
                    .any(|d| d.overdue || d.due.is_some_and(|due| due <= horizon));
            if soon {
                candidates.push(c.to_wire(version, today));
            }
        }
        Ok(Response::new(pb::ListDueResponse { candidates }))
    }

    async fn start_pair(
        &self,
        request: Request<pb::StartPairRequest>,
    ) -> Result<Response<pb::StartPairResponse>, Status> {
        self.start_pair_impl(request).await
    }

    async fn note_pair(
        &self,
        request: Request<pb::NotePairRequest>,
    ) -> Result<Response<pb::NotePairResponse>, Status> {
        self.note_pair_impl(request).await
    }

    async fn end_pair(
        &self,
        request: Request<pb::EndPairRequest>,
    ) -> Result<Response<pb::EndPairResponse>, Status> {
        self.end_pair_impl(request).await
    }

    async fn schedule_training_session(
        &self,
        request: Request<pb::ScheduleTrainingSessionRequest>,
    ) -> Result<Response<pb::ScheduleTrainingSessionResponse>, Status> {
        self.schedule_training_impl(request).await
    }

    async fn record_training_attendance(
        &self,
        request: Request<pb::RecordTrainingAttendanceRequest>,
    ) -> Result<Response<pb::RecordTrainingAttendanceResponse>, Status> {
        self.record_training_attendance_impl(request).await
    }

    async fn issue_training_certificate(
        &self,
        request: Request<pb::IssueTrainingCertificateRequest>,
    ) -> Result<Response<pb::IssueTrainingCertificateResponse>, Status> {
        self.issue_training_certificate_impl(request).await
    }

    async fn schedule_party_day(
        &self,
        request: Request<pb::SchedulePartyDayRequest>,
    ) -> Result<Response<pb::SchedulePartyDayResponse>, Status> {
        self.schedule_party_day_impl(request).await
    }

    async fn record_party_day(
        &self,
        request: Request<pb::RecordPartyDayRequest>,
    ) -> Result<Response<pb::RecordPartyDayResponse>, Status> {
        self.record_party_day_impl(request).await
    }

    async fn publish_post(
        &self,
        request: Request<pb::PublishPostRequest>,
    ) -> Result<Response<pb::PublishPostResponse>, Status> {
        self.publish_post_impl(request).await
    }

    async fn list_rule_sets(
        &self,
        _request: Request<pb::ListRuleSetsRequest>,
    ) -> Result<Response<pb::ListRuleSetsResponse>, Status> {
        Ok(Response::new(pb::ListRuleSetsResponse {
            rule_sets: self
                .rules
                .ids()
                .filter_map(|id| self.rules.get(id))
                .map(|r| r.to_wire())
                .collect(),
            default_id: self.rules.get("").map(|r| r.id.clone()).unwrap_or_default(),
        }))
    }
}
