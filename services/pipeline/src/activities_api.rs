//! The gRPC face of the pipeline's other work: double pairing, training,
//! the theme Party day and the cloud platform's posts.

use hongxin_domain::{CommandError, CommandHandler, FieldViolation};
use hongxin_organization::client::References;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::pipeline::v1 as pb;
use hongxin_runtime::commands::run;
use hongxin_runtime::fields::Fields;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::grpc::Api;
use crate::pairing::{self, PairDecider};
use crate::party_day::{self, Month, PartyDayDecider};
use crate::posts::{self, PostDecider};
use crate::training::{self, CourseKind, SessionDecider};

impl Api {
    /// Every person named must be in the registry.
    async fn known_people(&self, field: &str, people: &[Uuid]) -> Result<(), Status> {
        if people.is_empty() {
            return Ok(());
        }
        let unknown = self
            .directory
            .unknown(&References {
                people: people.to_vec(),
                ..References::default()
            })
            .await
            .map_err(status_of)?;
        if unknown.is_empty() {
            return Ok(());
        }
        let problems = people
            .iter()
            .enumerate()
            .filter(|(_, p)| unknown.iter().any(|u| u.id == p.to_string()))
            .map(|(i, _)| FieldViolation::new(format!("{field}[{i}]"), "no such person"))
            .collect();
        Err(status_of(CommandError::Invalid(problems)))
    }

    async fn status_of_person(&self, field: &str, id: Uuid) -> Result<i32, Status> {
        match self.directory.person(id).await.map_err(status_of)? {
            Some(p) => Ok(p.party_status),
            None => Err(status_of(CommandError::invalid(field, "no such person"))),
        }
    }

    pub(crate) async fn start_pair_impl(
        &self,
        request: Request<pb::StartPairRequest>,
    ) -> Result<Response<pb::StartPairResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut p = Fields::default();
        let pair_id = p.id("pair_id", &r.pair_id);
        let kind = pairing::Kind::from_wire(r.kind);
        if kind.is_none() {
            p.push("kind", "must be development or cultivation");
        }
        let member = p.id("member_person_id", &r.member_person_id);
        let partner = p.id("partner_person_id", &r.partner_person_id);
        let enterprise = if r.enterprise_id.is_empty() {
            Some(None)
        } else {
            p.id("enterprise_id", &r.enterprise_id).map(Some)
        };
        let started_on = p.day("started_on", &r.started_on);
        let (
            Some(pair_id),
            Some(kind),
            Some(member),
            Some(partner),
            Some(enterprise),
            Some(started_on),
        ) = (pair_id, kind, member, partner, enterprise, started_on)
        else {
            return Err(p.fail());
        };
        if self.status_of_person("member_person_id", member).await? != org::PartyStatus::Full as i32
        {
            return Err(status_of(CommandError::rejected(
                "the member of a pair is a full Party member",
            )));
        }
        let partner_status = self.status_of_person("partner_person_id", partner).await?;
        match kind {
            pairing::Kind::Development => {
                if partner_status == org::PartyStatus::Full as i32
                    || partner_status == org::PartyStatus::Probationary as i32
                {
                    return Err(status_of(CommandError::rejected(
                        "a development pair is with an enterprise head who is not a Party member",
                    )));
                }
                if let Some(e) = enterprise {
                    let unknown = self
                        .directory
                        .unknown(&References {
                            enterprises: vec![e],
                            ..References::default()
                        })
                        .await
                        .map_err(status_of)?;
                    if !unknown.is_empty() {
                        return Err(status_of(CommandError::invalid(
                            "enterprise_id",
                            "no such enterprise",
                        )));
                    }
                }
            }
            pairing::Kind::Cultivation => {
                if partner_status != org::PartyStatus::DevelopmentTarget as i32 {
                    return Err(status_of(CommandError::rejected(
                        "a cultivation pair is with a development target",
                    )));
                }
            }
        }
        let command = pairing::Command::Start(pairing::Start {
            pair_id,
            kind,
            member,
            partner,
            enterprise,
            started_on,
        });
        let outcome = run(&self.pairs, pair_id, &command, ctx, 0).await?;
        Ok(Response::new(pb::StartPairResponse {
            pair: outcome.state.0.map(|p| p.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn note_pair_impl(
        &self,
        request: Request<pb::NotePairRequest>,
    ) -> Result<Response<pb::NotePairResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut p = Fields::default();
        let (Some(id), Some(on)) = (p.id("pair_id", &r.pair_id), p.day("on", &r.on)) else {
            return Err(p.fail());
        };
        let command = pairing::Command::Note { on, text: r.text };
        let outcome = run(&self.pairs, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::NotePairResponse {
            pair: outcome.state.0.map(|p| p.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn end_pair_impl(
        &self,
        request: Request<pb::EndPairRequest>,
    ) -> Result<Response<pb::EndPairResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut p = Fields::default();
        let (Some(id), Some(on)) = (p.id("pair_id", &r.pair_id), p.day("ended_on", &r.ended_on))
        else {
            return Err(p.fail());
        };
        let outcome = run(&self.pairs, id, &pairing::Command::End { on }, ctx, 0).await?;
        Ok(Response::new(pb::EndPairResponse {
            pair: outcome.state.0.map(|p| p.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn schedule_training_impl(
        &self,
        request: Request<pb::ScheduleTrainingSessionRequest>,
    ) -> Result<Response<pb::ScheduleTrainingSessionResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut p = Fields::default();
        let id = p.id("session_id", &r.session_id);
        let kind = CourseKind::from_wire(r.kind);
        if kind.is_none() {
            p.push("kind", "must be a known kind of course");
        }
        let held_on = p.day("held_on", &r.held_on);
        let (Some(id), Some(kind), Some(held_on)) = (id, kind, held_on) else {
            return Err(p.fail());
        };
        let command = training::Command::Schedule(training::Session {
            session_id: id,
            course: r.course,
            kind,
            base: r.base,
            lecturer: r.lecturer,
            held_on,
            class_hours: r.class_hours,
            counts_as_centralised: r.counts_as_centralised,
        });
        let outcome = run(&self.sessions, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::ScheduleTrainingSessionResponse {
            session: outcome.state.0.map(|t| t.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn record_training_attendance_impl(
        &self,
        request: Request<pb::RecordTrainingAttendanceRequest>,
    ) -> Result<Response<pb::RecordTrainingAttendanceResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut p = Fields::default();
        let id = p.id("session_id", &r.session_id);
        let people = p.ids("person_ids", &r.person_ids);
        let Some(id) = id.filter(|_| p.is_empty()) else {
            return Err(p.fail());
        };
        self.known_people("person_ids", &people).await?;
        let outcome = run(
            &self.sessions,
            id,
            &training::Command::Attend { people },
            ctx,
            0,
        )
        .await?;
        Ok(Response::new(pb::RecordTrainingAttendanceResponse {
            session: outcome.state.0.map(|t| t.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn issue_training_certificate_impl(
        &self,
        request: Request<pb::IssueTrainingCertificateRequest>,
    ) -> Result<Response<pb::IssueTrainingCertificateResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut p = Fields::default();
        let id = p.id("session_id", &r.session_id);
        let person = p.id("person_id", &r.person_id);
        let (Some(id), Some(person_id)) = (id, person) else {
            return Err(p.fail());
        };
        let command = training::Command::Certify {
            person_id,
            certificate_no: r.certificate_no,
        };
        let outcome = run(&self.sessions, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::IssueTrainingCertificateResponse {
            unchanged: outcome.events.is_empty(),
            session: outcome.state.0.map(|t| t.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn schedule_party_day_impl(
        &self,
        request: Request<pb::SchedulePartyDayRequest>,
    ) -> Result<Response<pb::SchedulePartyDayResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut p = Fields::default();
        let month = Month::parse(&r.month);
        if month.is_none() {
            p.push("month", "must be YYYY-MM");
        }
        let host = p.id("host_organization_id", &r.host_organization_id);
        let on = p.day("scheduled_on", &r.scheduled_on);
        let (Some(month), Some(host), Some(on)) = (month, host, on) else {
            return Err(p.fail());
        };
        if self
            .directory
            .organization(host)
            .await
            .map_err(status_of)?
            .is_none()
        {
            return Err(status_of(CommandError::invalid(
                "host_organization_id",
                "no such Party organisation",
            )));
        }
        let previous_host = self
            .party_days
            .load(&CommandHandler::<PartyDayDecider>::stream_id(
                month.previous().label(),
            ))
            .await
            .map_err(status_of)?
            .state
            .0
            .map(|d| d.schedule.host);
        let command = party_day::Command::Schedule {
            schedule: party_day::Schedule {
                month,
                theme: r.theme,
                host,
                on,
            },
            previous_host,
        };
        let outcome = run(&self.party_days, month.label(), &command, ctx, 0).await?;
        Ok(Response::new(pb::SchedulePartyDayResponse {
            party_day: outcome.state.0.map(|d| d.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn record_party_day_impl(
        &self,
        request: Request<pb::RecordPartyDayRequest>,
    ) -> Result<Response<pb::RecordPartyDayResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut p = Fields::default();
        let month = Month::parse(&r.month);
        if month.is_none() {
            p.push("month", "must be YYYY-MM");
        }
        let on = p.day("held_on", &r.held_on);
        let attendees = p.ids("attendee_person_ids", &r.attendee_person_ids);
        let (Some(month), Some(on)) = (month, on) else {
            return Err(p.fail());
        };
        if !p.is_empty() {
            return Err(p.fail());
        }
        self.known_people("attendee_person_ids", &attendees).await?;
        let command = party_day::Command::Hold { on, attendees };
        let outcome = run(&self.party_days, month.label(), &command, ctx, 0).await?;
        Ok(Response::new(pb::RecordPartyDayResponse {
            party_day: outcome.state.0.map(|d| d.to_wire(outcome.version)),
        }))
    }

    pub(crate) async fn publish_post_impl(
        &self,
        request: Request<pb::PublishPostRequest>,
    ) -> Result<Response<pb::PublishPostResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut p = Fields::default();
        let id = p.id("post_id", &r.post_id);
        let kind = posts::Kind::from_wire(r.kind);
        if kind.is_none() {
            p.push("kind", "must be a known kind of post");
        }
        let author = if r.author_person_id.is_empty() {
            Some(None)
        } else {
            p.id("author_person_id", &r.author_person_id).map(Some)
        };
        let on = p.day("published_on", &r.published_on);
        let (Some(id), Some(kind), Some(author), Some(on)) = (id, kind, author, on) else {
            return Err(p.fail());
        };
        if let Some(a) = author {
            self.status_of_person("author_person_id", a).await?;
        }
        let command = posts::Publish(posts::Post {
            post_id: id,
            kind,
            author,
            title: r.title,
            body: r.body,
            published_on: on,
        });
        let outcome = run(&self.posts, id, &command, ctx, 0).await?;
        Ok(Response::new(pb::PublishPostResponse {
            post: outcome.state.0.map(|p| p.to_wire(outcome.version)),
        }))
    }
}

// The deciders the handlers above use, named for `grpc.rs`.
pub(crate) type Pairs = CommandHandler<PairDecider>;
pub(crate) type Sessions = CommandHandler<SessionDecider>;
pub(crate) type PartyDays = CommandHandler<PartyDayDecider>;
pub(crate) type Posts = CommandHandler<PostDecider>;
