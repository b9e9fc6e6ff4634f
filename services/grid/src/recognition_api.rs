//! The gRPC face of points and the annual recognition.

use hongxin_domain::CommandHandler;
use hongxin_proto::grid::v1 as pb;
use hongxin_runtime::fields::Fields;
use hongxin_runtime::{command_context, status_of};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::grpc::{Api, run};
use crate::recognition::{self, Kind, PointsDecider, RecognitionDecider};

/// Votes keep a hash of the voter, not who they are.
fn voter_hash(campaign: Uuid, voter: Uuid) -> String {
    Sha256::digest(format!("hongxin vote {campaign} {voter}"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Api {
    pub(crate) async fn get_points_impl(
        &self,
        request: Request<pb::GetPointsRequest>,
    ) -> Result<Response<pb::GetPointsResponse>, Status> {
        let mut f = Fields::default();
        let Some(person) = f.id("person_id", &request.get_ref().person_id) else {
            return Err(f.fail());
        };
        let loaded = self
            .points
            .load(&CommandHandler::<PointsDecider>::stream_id(person))
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::GetPointsResponse {
            points: Some(pb::Points {
                person_id: person.to_string(),
                total: loaded.state.total(),
                by_year: loaded
                    .state
                    .by_year()
                    .into_iter()
                    .map(|(y, p)| (y.to_string(), p))
                    .collect(),
                version: loaded.version,
            }),
        }))
    }

    async fn campaign(
        &self,
        request_ctx: hongxin_domain::CommandContext,
        raw_id: &str,
        command: impl FnOnce(&mut Fields) -> Option<recognition::Command>,
    ) -> Result<pb::Recognition, Status> {
        let mut f = Fields::default();
        let id = f.id("campaign_id", raw_id);
        let command = command(&mut f);
        let (Some(id), Some(command)) = (id, command) else {
            return Err(f.fail());
        };
        f.check()?;
        let o = run(&self.recognitions, id, &command, request_ctx, 0).await?;
        o.state
            .0
            .map(|c| c.to_wire(o.version))
            .ok_or_else(|| Status::not_found("no such campaign"))
    }

    pub(crate) async fn open_recognition_impl(
        &self,
        request: Request<pb::OpenRecognitionRequest>,
    ) -> Result<Response<pb::OpenRecognitionResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let campaign_id = r.campaign_id.clone();
        let recognition = self
            .campaign(ctx, &r.campaign_id, |f| {
                let kind =
                    f.required("kind", Kind::from_wire(r.kind), "courier, rider or driver")?;
                Some(recognition::Command::Open {
                    campaign_id: Uuid::parse_str(&campaign_id).ok()?,
                    year: r.year,
                    kind,
                    winners: r.winners,
                })
            })
            .await?;
        Ok(Response::new(pb::OpenRecognitionResponse {
            recognition: Some(recognition),
        }))
    }

    pub(crate) async fn nominate_impl(
        &self,
        request: Request<pb::NominateCandidateRequest>,
    ) -> Result<Response<pb::NominateCandidateResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        if let Ok(p) = Uuid::parse_str(&r.person_id) {
            self.known_person("person_id", p).await?;
        }
        let recognition = self
            .campaign(ctx, &r.campaign_id, |f| {
                Some(recognition::Command::Nominate {
                    person_id: f.id("person_id", &r.person_id)?,
                    citation: r.citation.clone(),
                })
            })
            .await?;
        Ok(Response::new(pb::NominateCandidateResponse {
            recognition: Some(recognition),
        }))
    }

    pub(crate) async fn review_impl(
        &self,
        request: Request<pb::ReviewCandidateRequest>,
    ) -> Result<Response<pb::ReviewCandidateResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let recognition = self
            .campaign(ctx, &r.campaign_id, |f| {
                Some(recognition::Command::Review {
                    person_id: f.id("person_id", &r.person_id)?,
                    approved: r.approved,
                })
            })
            .await?;
        Ok(Response::new(pb::ReviewCandidateResponse {
            recognition: Some(recognition),
        }))
    }

    pub(crate) async fn open_voting_impl(
        &self,
        request: Request<pb::OpenVotingRequest>,
    ) -> Result<Response<pb::OpenVotingResponse>, Status> {
        let ctx = command_context(&request);
        let id = request.get_ref().campaign_id.clone();
        let recognition = self
            .campaign(ctx, &id, |_| Some(recognition::Command::OpenVoting))
            .await?;
        Ok(Response::new(pb::OpenVotingResponse {
            recognition: Some(recognition),
        }))
    }

    pub(crate) async fn vote_impl(
        &self,
        request: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut f = Fields::default();
        let voter = f.id("voter_person_id", &r.voter_person_id);
        let campaign = f.id("campaign_id", &r.campaign_id);
        let (Some(voter), Some(campaign)) = (voter, campaign) else {
            return Err(f.fail());
        };
        self.known_person("voter_person_id", voter).await?;
        let recognition = self
            .campaign(ctx, &r.campaign_id, |f| {
                Some(recognition::Command::Vote {
                    candidate: f.id("candidate_person_id", &r.candidate_person_id)?,
                    voter: voter_hash(campaign, voter),
                })
            })
            .await?;
        Ok(Response::new(pb::VoteResponse {
            recognition: Some(recognition),
        }))
    }

    pub(crate) async fn close_recognition_impl(
        &self,
        request: Request<pb::CloseRecognitionRequest>,
    ) -> Result<Response<pb::CloseRecognitionResponse>, Status> {
        let ctx = command_context(&request);
        let id = request.get_ref().campaign_id.clone();
        let recognition = self
            .campaign(ctx, &id, |_| Some(recognition::Command::Close))
            .await?;
        Ok(Response::new(pb::CloseRecognitionResponse {
            recognition: Some(recognition),
        }))
    }
}

// The deciders named for `grpc.rs`.
pub(crate) type Points = CommandHandler<PointsDecider>;
pub(crate) type Recognitions = CommandHandler<RecognitionDecider>;
