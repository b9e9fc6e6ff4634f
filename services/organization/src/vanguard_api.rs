//! The gRPC face of the three shows 三亮.

use hongxin_domain::{CommandError, FieldViolation};
use hongxin_proto::organization::v1 as pb;
use hongxin_runtime::{command_context, status_of};
use tonic::{Request, Response, Status};

use crate::grpc::{Api, Violations, day, load, optional_id, run};
use crate::shows::{Record, Show, Shown};

impl Api {
    pub(crate) async fn record_vanguard_show_impl(
        &self,
        request: Request<pb::RecordVanguardShowRequest>,
    ) -> Result<Response<pb::RecordVanguardShowResponse>, Status> {
        let ctx = command_context(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let show = v.take(Show::from_wire(r.show).ok_or_else(|| {
            CommandError::invalid("show", "must be identity, vehicle marking or commitment")
        }));
        let person = v.take(optional_id("person_id", &r.person_id));
        let enterprise = v.take(optional_id("enterprise_id", &r.enterprise_id));
        let on = v.take(day("shown_on", &r.shown_on));
        let (Some(show), Some(person), Some(enterprise), Some(on)) = (show, person, enterprise, on)
        else {
            return Err(status_of(CommandError::Invalid(v.0)));
        };
        // Who shows: a member for identity and marking, an enterprise for
        // its commitment; exactly one of them named.
        let subject_id = match (show.by_person(), person, enterprise) {
            (true, Some(p), None) => {
                let Some(status) = load(&self.people, p, |s, _| {
                    s.0.map(|p| p.registration.party_status)
                })
                .await?
                else {
                    return Err(status_of(CommandError::invalid(
                        "person_id",
                        "no such person",
                    )));
                };
                if !status.is_member() {
                    return Err(status_of(CommandError::rejected(
                        "only Party members show their identity and vehicle marking",
                    )));
                }
                p
            }
            (false, None, Some(e)) => {
                if load(&self.enterprises, e, |s, _| s.0).await?.is_none() {
                    return Err(status_of(CommandError::invalid(
                        "enterprise_id",
                        "no such enterprise",
                    )));
                }
                e
            }
            (true, _, _) => {
                v.0.push(FieldViolation::new(
                    "person_id",
                    "identity and vehicle marking are shown by a person, and only a person",
                ));
                return Err(status_of(CommandError::Invalid(v.0)));
            }
            (false, _, _) => {
                v.0.push(FieldViolation::new(
                    "enterprise_id",
                    "a commitment is shown by an enterprise, and only an enterprise",
                ));
                return Err(status_of(CommandError::Invalid(v.0)));
            }
        };
        let command = Record(Shown {
            subject_id,
            show,
            commitment: r.commitment,
            on,
        });
        let outcome = run(&self.shows, subject_id, &command, ctx, 0).await?;
        Ok(Response::new(pb::RecordVanguardShowResponse {
            shows: outcome.state.0.keys().map(|s| s.to_wire() as i32).collect(),
            version: outcome.version,
        }))
    }
}
