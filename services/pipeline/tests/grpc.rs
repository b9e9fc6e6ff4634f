//! The pipeline through gRPC beside a real organization service: the
//! embedded default (SQLite, in-process events) and the distributed mode
//! (PostgreSQL, outbox relay, JetStream), a candidate walked from
//! application to full member and the organization service following.

use std::sync::Arc;
use std::time::Duration;

use hongxin_bus::{EventFeed, OutboxRelay};
use hongxin_domain::SystemClock;
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_organization::client::Directory;
use hongxin_organization::membership::MembershipFollower;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_proto::pipeline::v1 as pb;
use hongxin_proto::pipeline::v1::pipeline_service_client::PipelineServiceClient;
use hongxin_runtime::Shutdown;
use hongxin_testkit::people::id_number;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

struct System {
    organization: OrganizationServiceClient<hongxin_runtime::auth::Authed>,
    pipeline: PipelineServiceClient<hongxin_runtime::auth::Authed>,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
    _nats: Option<hongxin_testkit::nats::PrivateNats>,
}

impl Drop for System {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn channel(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

enum Mode {
    Embedded,
    Distributed,
}

async fn start(mode: Mode) -> System {
    let dir = tempfile::tempdir().expect("dir");
    let open = |name: &str| match mode {
        Mode::Embedded => StoreConfig::Sqlite {
            path: dir.path().join(format!("{name}.db")),
        },
        Mode::Distributed => StoreConfig::Postgres {
            url: hongxin_testkit::pg::url(),
            schema: hongxin_testkit::pg::fresh_schema(),
            max_connections: 4,
        },
    };
    let org_store = EventStore::open(&open("organization"))
        .await
        .expect("store");
    let pipeline_store = EventStore::open(&open("pipeline")).await.expect("store");
    let shutdown = Shutdown::new();
    let vault = hongxin_vault::Vault::new(
        org_store.clone(),
        Arc::new(hongxin_vault::MasterKey::generate().0),
    );
    let organization = hongxin_organization::build(
        "127.0.0.1:0".parse().expect("addr"),
        org_store.clone(),
        vault,
        Arc::new(SystemClock),
        Duration::from_secs(1),
    )
    .await
    .expect("organization");
    let org_port = organization.port();
    tokio::spawn(
        organization
            .with_auth(hongxin_runtime::auth::testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    let directory = Directory::connect_lazy(
        &format!("http://127.0.0.1:{org_port}"),
        Duration::from_secs(3),
    )
    .expect("directory")
    .with_identity(hongxin_runtime::auth::ServiceIdentity::new(
        hongxin_runtime::auth::testing::authenticator(),
        "test",
    ));
    let built = hongxin_pipeline::build(
        "127.0.0.1:0".parse().expect("addr"),
        pipeline_store.clone(),
        &hongxin_pipeline::Settings::default(),
        directory,
        Arc::new(SystemClock),
        Duration::from_secs(1),
    )
    .await
    .expect("pipeline");
    let pipeline_port = built.app.port();
    tokio::spawn(
        built
            .index
            .clone()
            .follow(pipeline_store.clone(), shutdown.wait()),
    );
    tokio::spawn(
        built
            .app
            .with_auth(hongxin_runtime::auth::testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );

    let (feed, nats) = match mode {
        Mode::Embedded => (
            EventFeed::in_process(
                pipeline_store.clone(),
                "pipeline",
                "organization-membership",
            )
            .await
            .expect("feed"),
            None,
        ),
        Mode::Distributed => {
            let nats = hongxin_testkit::nats::PrivateNats::start()
                .await
                .expect("private nats-server");
            let js =
                async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
            tokio::spawn(
                OutboxRelay::new(pipeline_store.clone(), js.clone(), "pipeline")
                    .run(shutdown.wait()),
            );
            let feed = EventFeed::jetstream(
                &js,
                "pipeline",
                "organization-membership",
                &Default::default(),
            )
            .await
            .expect("feed");
            (feed, Some(nats))
        }
    };
    tokio::spawn(
        MembershipFollower::new(org_store.clone(), Arc::new(SystemClock))
            .run(feed, shutdown.wait()),
    );
    System {
        organization: OrganizationServiceClient::new(hongxin_runtime::auth::testing::admin(
            channel(org_port).await,
        )),
        pipeline: PipelineServiceClient::new(hongxin_runtime::auth::testing::admin(
            channel(pipeline_port).await,
        )),
        shutdown,
        _dir: dir,
        _nats: nats,
    }
}

async fn person(
    s: &mut System,
    birth: &str,
    seq: u16,
    status: org::PartyStatus,
    branch: Option<Uuid>,
    enterprise: Option<Uuid>,
) -> Uuid {
    let id = Uuid::now_v7();
    s.organization
        .register_person(org::RegisterPersonRequest {
            person_id: id.to_string(),
            name: format!("骑手{seq}"),
            id_number: id_number(birth, seq),
            phone: String::new(),
            work: Some(org::PersonWork {
                industry: org::Industry::FoodDelivery as i32,
                platform: "美团".to_owned(),
                enterprise_id: enterprise.map(|e| e.to_string()).unwrap_or_default(),
                community_id: String::new(),
            }),
            union_member: true,
            party_status: status as i32,
            affiliation_organization_id: branch.map(|b| b.to_string()).unwrap_or_default(),
            mobile_member: false,
            home_organisation: String::new(),
        })
        .await
        .expect("person");
    id
}

/// A committee, a station with its branch, members to act as contacts and
/// introducers; returns (committee, branch, enterprise, members).
async fn county(s: &mut System) -> (Uuid, Uuid, Uuid, Vec<Uuid>) {
    let community = Uuid::now_v7();
    s.organization
        .register_community(org::RegisterCommunityRequest {
            community_id: community.to_string(),
            name: "晏城社区".to_owned(),
            subdistrict: "晏城街道".to_owned(),
        })
        .await
        .expect("community");
    let enterprise = Uuid::now_v7();
    s.organization
        .register_enterprise(org::RegisterEnterpriseRequest {
            enterprise_id: enterprise.to_string(),
            name: "美团齐河站".to_owned(),
            industry: org::Industry::FoodDelivery as i32,
            kind: org::EnterpriseKind::Station as i32,
            community_id: community.to_string(),
            platform_brand: "美团".to_owned(),
            parent_enterprise_id: String::new(),
        })
        .await
        .expect("enterprise");
    s.organization
        .report_enterprise_headcount(org::ReportEnterpriseHeadcountRequest {
            enterprise_id: enterprise.to_string(),
            headcount: Some(org::Headcount {
                workers: 40,
                full_members: 3,
                probationary_members: 0,
            }),
            expected_version: 0,
        })
        .await
        .expect("headcount");
    let committee = Uuid::now_v7();
    s.organization
        .found_party_organization(org::FoundPartyOrganizationRequest {
            organization_id: committee.to_string(),
            name: "外卖行业党委".to_owned(),
            kind: org::PartyOrganizationKind::Committee as i32,
            parent_organization_id: String::new(),
            covered_enterprise_ids: vec![],
            secretary_person_id: String::new(),
            founded_on: "2022-05-01".to_owned(),
        })
        .await
        .expect("committee");
    let branch = Uuid::now_v7();
    s.organization
        .found_party_organization(org::FoundPartyOrganizationRequest {
            organization_id: branch.to_string(),
            name: "美团齐河站党支部".to_owned(),
            kind: org::PartyOrganizationKind::Branch as i32,
            parent_organization_id: committee.to_string(),
            covered_enterprise_ids: vec![enterprise.to_string()],
            secretary_person_id: String::new(),
            founded_on: "2022-06-01".to_owned(),
        })
        .await
        .expect("branch");
    let mut members = Vec::new();
    for seq in 1..=3 {
        members.push(
            person(
                s,
                "19800101",
                seq,
                org::PartyStatus::Full,
                Some(branch),
                Some(enterprise),
            )
            .await,
        );
    }
    (committee, branch, enterprise, members)
}

fn record(
    candidate: Uuid,
    step: pb::Step,
    on: &str,
    details: pb::StepDetails,
) -> pb::RecordStepRequest {
    pb::RecordStepRequest {
        candidate_id: candidate.to_string(),
        step: step as i32,
        on: on.to_owned(),
        details: Some(details),
        expected_version: 0,
    }
}

fn people(ids: &[Uuid]) -> pb::StepDetails {
    pb::StepDetails {
        person_ids: ids.iter().map(Uuid::to_string).collect(),
        ..Default::default()
    }
}

async fn org_person(s: &mut System, id: Uuid) -> org::Person {
    s.organization
        .get_person(org::GetPersonRequest {
            person_id: id.to_string(),
        })
        .await
        .expect("person")
        .into_inner()
        .person
        .expect("person")
}

async fn wait_for_status(s: &mut System, id: Uuid, status: org::PartyStatus) -> org::Person {
    for _ in 0..300 {
        let p = org_person(s, id).await;
        if p.party_status == status as i32 {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the organization service never recorded {status:?}");
}

async fn from_application_to_full_member(mut s: System) {
    let (committee, branch, enterprise, members) = county(&mut s).await;
    let worker = person(
        &mut s,
        "19960606",
        50,
        org::PartyStatus::None,
        None,
        Some(enterprise),
    )
    .await;
    let candidate = Uuid::now_v7();
    let apply = pb::ApplyRequest {
        candidate_id: candidate.to_string(),
        person_id: worker.to_string(),
        organization_id: branch.to_string(),
        applied_on: "2023-01-02".to_owned(),
        rule_set_id: String::new(),
    };
    let c = s
        .pipeline
        .apply(apply.clone())
        .await
        .expect("apply")
        .into_inner()
        .candidate
        .expect("candidate");
    assert_eq!(c.stage, pb::Stage::Applicant as i32);
    assert_eq!(c.rules.as_ref().map(|r| r.id.as_str()), Some("cpc-2014"));
    assert_eq!(c.next[0].step, pb::Step::Talk as i32);
    assert!(c.next[0].overdue, "the talk was due in February 2023");

    // Refusals: an unknown person, a minor, an unknown rule set.
    let nobody = s
        .pipeline
        .apply(pb::ApplyRequest {
            candidate_id: Uuid::now_v7().to_string(),
            person_id: Uuid::now_v7().to_string(),
            rule_set_id: "nope".to_owned(),
            ..apply.clone()
        })
        .await
        .expect_err("unknown");
    assert_eq!(nobody.code(), Code::InvalidArgument);
    let minor = person(&mut s, "20100101", 60, org::PartyStatus::None, None, None).await;
    let young = s
        .pipeline
        .apply(pb::ApplyRequest {
            candidate_id: Uuid::now_v7().to_string(),
            person_id: minor.to_string(),
            ..apply.clone()
        })
        .await
        .expect_err("minor");
    assert_eq!(young.code(), Code::FailedPrecondition);
    assert!(young.message().contains("18"), "{}", young.message());

    let due = s
        .pipeline
        .list_due(pb::ListDueRequest {
            organization_id: branch.to_string(),
            within_days: 30,
        })
        .await
        .expect("due")
        .into_inner()
        .candidates;
    assert_eq!(due.len(), 1, "the overdue talk is listed");

    // Centralised training: a 24-hour Party-knowledge session the worker
    // attended counts; a skills session does not.
    let session = |course: &str, kind: pb::CourseKind, counts: bool| {
        let id = Uuid::now_v7();
        (
            id,
            pb::ScheduleTrainingSessionRequest {
                session_id: id.to_string(),
                course: course.to_owned(),
                kind: kind as i32,
                base: "县委党校".to_owned(),
                lecturer: "党校教师".to_owned(),
                held_on: "2024-03-12".to_owned(),
                class_hours: 24,
                counts_as_centralised: counts,
            },
        )
    };
    let (party_school, school) = session("发展对象集中培训", pb::CourseKind::PartyKnowledge, true);
    let (skills, skills_request) = session("外卖配送技能", pb::CourseKind::Skills, false);
    for (id, request) in [(party_school, school), (skills, skills_request)] {
        s.pipeline
            .schedule_training_session(request)
            .await
            .expect("session");
        s.pipeline
            .record_training_attendance(pb::RecordTrainingAttendanceRequest {
                session_id: id.to_string(),
                person_ids: vec![worker.to_string()],
            })
            .await
            .expect("attended");
    }

    let steps: Vec<(pb::Step, &str, pb::StepDetails)> = vec![
        (pb::Step::Talk, "2023-01-20", Default::default()),
        (
            pb::Step::ActivistConfirmed,
            "2023-03-01",
            pb::StepDetails {
                recommended_by: pb::Recommender::Union as i32,
                ..Default::default()
            },
        ),
        (pb::Step::ActivistFiled, "2023-03-05", Default::default()),
        (
            pb::Step::ContactsAssigned,
            "2023-03-06",
            people(&members[..1]),
        ),
        (pb::Step::Assessment, "2023-08-30", Default::default()),
        (pb::Step::Assessment, "2024-02-28", Default::default()),
        (pb::Step::TargetConfirmed, "2024-03-01", Default::default()),
        (pb::Step::TargetFiled, "2024-03-05", Default::default()),
        (
            pb::Step::IntroducersAssigned,
            "2024-03-06",
            people(&members[1..3]),
        ),
        (
            pb::Step::PoliticalReview,
            "2024-03-10",
            pb::StepDetails {
                passed: true,
                ..Default::default()
            },
        ),
        (
            pb::Step::Training,
            "2024-03-15",
            pb::StepDetails {
                training_session_ids: vec![party_school.to_string()],
                ..Default::default()
            },
        ),
        (pb::Step::BranchReview, "2024-04-01", Default::default()),
        (pb::Step::PreReview, "2024-04-08", Default::default()),
        (pb::Step::PublicNotice, "2024-04-15", Default::default()),
        (pb::Step::ApplicationForm, "2024-04-22", Default::default()),
        (
            pb::Step::BranchMeeting,
            "2024-04-23",
            pb::StepDetails {
                votes: Some(pb::Votes {
                    voting_members: 3,
                    present: 3,
                    yes_votes: 3,
                }),
                ..Default::default()
            },
        ),
        (pb::Step::CommitteeTalk, "2024-05-06", Default::default()),
    ];
    for (step, on, details) in steps {
        s.pipeline
            .record_step(record(candidate, step, on, details))
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e}"));
    }
    let c = s
        .pipeline
        .get_candidate(pb::GetCandidateRequest {
            candidate_id: candidate.to_string(),
        })
        .await
        .expect("get")
        .into_inner()
        .candidate
        .expect("candidate");
    let training = c
        .steps
        .iter()
        .find(|r| r.step == pb::Step::Training as i32)
        .and_then(|r| r.details.clone())
        .expect("training");
    assert_eq!(training.hours, 24, "the session's hours count");
    // A session that does not count is refused.
    let refused = s
        .pipeline
        .record_step(record(
            candidate,
            pb::Step::Training,
            "2024-03-16",
            pb::StepDetails {
                training_session_ids: vec![skills.to_string()],
                ..Default::default()
            },
        ))
        .await
        .expect_err("skills do not count");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    // The registry follows the stages before membership too.
    let p = wait_for_status(&mut s, worker, org::PartyStatus::DevelopmentTarget).await;
    assert_eq!(p.affiliation_organization_id, branch.to_string());
    // Only a Party committee approves: the branch cannot.
    let by_branch = s
        .pipeline
        .record_step(record(
            candidate,
            pb::Step::Approval,
            "2024-06-01",
            pb::StepDetails {
                approving_organization_id: branch.to_string(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("a branch approves");
    assert_eq!(by_branch.code(), Code::FailedPrecondition);
    let c = s
        .pipeline
        .record_step(record(
            candidate,
            pb::Step::Approval,
            "2024-06-01",
            pb::StepDetails {
                approving_organization_id: committee.to_string(),
                ..Default::default()
            },
        ))
        .await
        .expect("approval")
        .into_inner()
        .candidate
        .expect("candidate");
    assert_eq!(c.stage, pb::Stage::Probationary as i32);
    assert_eq!(
        (c.admitted_on.as_str(), c.probation_ends_on.as_str()),
        ("2024-04-23", "2025-04-23")
    );
    // The organization service follows: the person and the unit.
    let p = wait_for_status(&mut s, worker, org::PartyStatus::Probationary).await;
    assert_eq!(p.affiliation_organization_id, branch.to_string());

    for (step, on, details) in [
        (pb::Step::Oath, "2024-06-10", pb::StepDetails::default()),
        (pb::Step::FullApplication, "2025-04-01", Default::default()),
        (
            pb::Step::FullMeeting,
            "2025-04-23",
            pb::StepDetails {
                votes: Some(pb::Votes {
                    voting_members: 3,
                    present: 2,
                    yes_votes: 2,
                }),
                ..Default::default()
            },
        ),
        (
            pb::Step::FullApproval,
            "2025-05-10",
            pb::StepDetails {
                approving_organization_id: committee.to_string(),
                ..Default::default()
            },
        ),
    ] {
        s.pipeline
            .record_step(record(candidate, step, on, details))
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e}"));
    }
    wait_for_status(&mut s, worker, org::PartyStatus::Full).await;
    let mut full_members = 0;
    for _ in 0..300 {
        let e = s
            .organization
            .get_enterprise(org::GetEnterpriseRequest {
                enterprise_id: enterprise.to_string(),
            })
            .await
            .expect("enterprise")
            .into_inner()
            .enterprise
            .expect("enterprise");
        let h = e.headcount.expect("headcount");
        full_members = h.full_members;
        if full_members == 4 && h.probationary_members == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(full_members, 4, "3 reported + the new full member");
    let c = s
        .pipeline
        .get_candidate(pb::GetCandidateRequest {
            candidate_id: candidate.to_string(),
        })
        .await
        .expect("get")
        .into_inner()
        .candidate
        .expect("candidate");
    assert_eq!(c.stage, pb::Stage::Full as i32);
    assert_eq!(c.next.len(), 1, "archiving remains");
}

async fn contacts_must_be_full_members(mut s: System) {
    let (_, branch, enterprise, members) = county(&mut s).await;
    let worker = person(
        &mut s,
        "19960606",
        70,
        org::PartyStatus::None,
        None,
        Some(enterprise),
    )
    .await;
    let probationary = person(
        &mut s,
        "19900101",
        71,
        org::PartyStatus::Probationary,
        Some(branch),
        None,
    )
    .await;
    let candidate = Uuid::now_v7();
    s.pipeline
        .apply(pb::ApplyRequest {
            candidate_id: candidate.to_string(),
            person_id: worker.to_string(),
            organization_id: branch.to_string(),
            applied_on: "2023-01-02".to_owned(),
            rule_set_id: String::new(),
        })
        .await
        .expect("apply");
    for (step, on, details) in [
        (pb::Step::Talk, "2023-01-20", pb::StepDetails::default()),
        (
            pb::Step::ActivistConfirmed,
            "2023-03-01",
            pb::StepDetails {
                recommended_by: pb::Recommender::Members as i32,
                ..Default::default()
            },
        ),
    ] {
        s.pipeline
            .record_step(record(candidate, step, on, details))
            .await
            .expect("step");
    }
    let refused = s
        .pipeline
        .record_step(record(
            candidate,
            pb::Step::ContactsAssigned,
            "2023-03-06",
            people(&[members[0], probationary]),
        ))
        .await
        .expect_err("a probationary contact");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("full Party members"));
    let unknown = s
        .pipeline
        .record_step(record(
            candidate,
            pb::Step::ContactsAssigned,
            "2023-03-06",
            people(&[Uuid::now_v7()]),
        ))
        .await
        .expect_err("unknown contact");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    let out_of_order = s
        .pipeline
        .record_step(record(
            candidate,
            pb::Step::BranchMeeting,
            "2023-03-06",
            Default::default(),
        ))
        .await
        .expect_err("out of order");
    assert_eq!(out_of_order.code(), Code::FailedPrecondition);
    assert!(
        out_of_order.message().contains("needs first"),
        "{}",
        out_of_order.message()
    );
    let bad = s
        .pipeline
        .record_step(pb::RecordStepRequest {
            candidate_id: "x".to_owned(),
            step: 99,
            on: "someday".to_owned(),
            details: None,
            expected_version: 0,
        })
        .await
        .expect_err("bad");
    assert_eq!(bad.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn embedded_from_application_to_full_member() {
    from_application_to_full_member(start(Mode::Embedded).await).await;
}

#[tokio::test]
async fn distributed_from_application_to_full_member() {
    from_application_to_full_member(start(Mode::Distributed).await).await;
}

#[tokio::test]
async fn embedded_contacts_must_be_full_members() {
    contacts_must_be_full_members(start(Mode::Embedded).await).await;
}

#[tokio::test]
async fn distributed_contacts_must_be_full_members() {
    contacts_must_be_full_members(start(Mode::Distributed).await).await;
}

async fn pairing_training_party_days_and_posts(mut s: System) {
    let (_, branch, enterprise, members) = county(&mut s).await;
    let head = person(
        &mut s,
        "19780808",
        80,
        org::PartyStatus::None,
        None,
        Some(enterprise),
    )
    .await;
    let target = person(
        &mut s,
        "19990909",
        81,
        org::PartyStatus::DevelopmentTarget,
        Some(branch),
        Some(enterprise),
    )
    .await;

    // Double pairing.
    let pair = |kind: pb::PairKind, member: Uuid, partner: Uuid, enterprise: String| {
        pb::StartPairRequest {
            pair_id: Uuid::now_v7().to_string(),
            kind: kind as i32,
            member_person_id: member.to_string(),
            partner_person_id: partner.to_string(),
            enterprise_id: enterprise,
            started_on: "2022-03-01".to_owned(),
        }
    };
    let development = s
        .pipeline
        .start_pair(pair(
            pb::PairKind::Development,
            members[0],
            head,
            enterprise.to_string(),
        ))
        .await
        .expect("development pair")
        .into_inner()
        .pair
        .expect("pair");
    s.pipeline
        .start_pair(pair(
            pb::PairKind::Cultivation,
            members[1],
            target,
            String::new(),
        ))
        .await
        .expect("cultivation pair");
    for (kind, member, partner, expected) in [
        // The partner of a cultivation pair is a development target.
        (
            pb::PairKind::Cultivation,
            members[1],
            head,
            Code::FailedPrecondition,
        ),
        // The member is a full member.
        (
            pb::PairKind::Cultivation,
            head,
            target,
            Code::FailedPrecondition,
        ),
        // An enterprise head who is a member is no development partner.
        (
            pb::PairKind::Development,
            members[0],
            members[2],
            Code::FailedPrecondition,
        ),
        (
            pb::PairKind::Development,
            members[0],
            Uuid::now_v7(),
            Code::InvalidArgument,
        ),
    ] {
        let refused = s
            .pipeline
            .start_pair(pair(kind, member, partner, enterprise.to_string()))
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), expected, "{kind:?}: {}", refused.message());
    }
    let noted = s
        .pipeline
        .note_pair(pb::NotePairRequest {
            pair_id: development.pair_id.clone(),
            on: "2022-04-01".to_owned(),
            text: "协调解决站点用电问题".to_owned(),
        })
        .await
        .expect("note")
        .into_inner()
        .pair
        .expect("pair");
    assert_eq!(noted.notes.len(), 1);
    let ended = s
        .pipeline
        .end_pair(pb::EndPairRequest {
            pair_id: development.pair_id.clone(),
            ended_on: "2022-12-31".to_owned(),
        })
        .await
        .expect("end")
        .into_inner()
        .pair
        .expect("pair");
    assert_eq!(ended.ended_on, "2022-12-31");

    // Training: attendance counted once per person.
    let session = Uuid::now_v7();
    s.pipeline
        .schedule_training_session(pb::ScheduleTrainingSessionRequest {
            session_id: session.to_string(),
            course: "红色直播".to_owned(),
            kind: pb::CourseKind::RedLiveStreaming as i32,
            base: "齐河县新就业群体培训基地".to_owned(),
            lecturer: "县融媒体中心主播".to_owned(),
            held_on: "2022-05-20".to_owned(),
            class_hours: 4,
            counts_as_centralised: false,
        })
        .await
        .expect("session");
    for people in [vec![head, target], vec![target, members[0]]] {
        s.pipeline
            .record_training_attendance(pb::RecordTrainingAttendanceRequest {
                session_id: session.to_string(),
                person_ids: people.iter().map(Uuid::to_string).collect(),
            })
            .await
            .expect("attendance");
    }
    let unknown = s
        .pipeline
        .record_training_attendance(pb::RecordTrainingAttendanceRequest {
            session_id: session.to_string(),
            person_ids: vec![head.to_string(), Uuid::now_v7().to_string()],
        })
        .await
        .expect_err("unknown attendee");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    let t = s
        .pipeline
        .record_training_attendance(pb::RecordTrainingAttendanceRequest {
            session_id: session.to_string(),
            person_ids: vec![head.to_string()],
        })
        .await
        .expect("again")
        .into_inner()
        .session
        .expect("session");
    assert_eq!((t.attendee_person_ids.len(), t.version), (3, 3));
    // A certificate for an attendee, once; none for someone who was not there.
    let certify = |person: Uuid, number: &str| pb::IssueTrainingCertificateRequest {
        session_id: session.to_string(),
        person_id: person.to_string(),
        certificate_no: number.to_owned(),
    };
    let issued = s
        .pipeline
        .issue_training_certificate(certify(target, "QH2022-0520-01"))
        .await
        .expect("certificate")
        .into_inner();
    assert!(!issued.unchanged);
    let again = s
        .pipeline
        .issue_training_certificate(certify(target, "QH2022-0520-01"))
        .await
        .expect("again")
        .into_inner();
    assert!(again.unchanged);
    let certificates = again.session.expect("session").certificates;
    assert_eq!(certificates.len(), 1);
    assert_eq!(certificates[0].person_id, target.to_string());
    let absent = s
        .pipeline
        .issue_training_certificate(certify(Uuid::now_v7(), "QH2022-0520-02"))
        .await
        .expect_err("not an attendee");
    assert_eq!(absent.code(), Code::FailedPrecondition);
    let bad = s
        .pipeline
        .issue_training_certificate(certify(head, ""))
        .await
        .expect_err("no number");
    assert_eq!(bad.code(), Code::InvalidArgument);

    // Theme Party days, hosted in turn.
    let day = |month: &str, host: Uuid, on: &str| pb::SchedulePartyDayRequest {
        month: month.to_owned(),
        theme: "火炬接力·主题党日".to_owned(),
        host_organization_id: host.to_string(),
        scheduled_on: on.to_owned(),
    };
    s.pipeline
        .schedule_party_day(day("2022-05", branch, "2022-05-20"))
        .await
        .expect("may");
    let again = s
        .pipeline
        .schedule_party_day(day("2022-06", branch, "2022-06-20"))
        .await
        .expect_err("same host two months running");
    assert_eq!(again.code(), Code::FailedPrecondition);
    let held = s
        .pipeline
        .record_party_day(pb::RecordPartyDayRequest {
            month: "2022-05".to_owned(),
            held_on: "2022-05-20".to_owned(),
            attendee_person_ids: vec![head.to_string(), members[0].to_string()],
        })
        .await
        .expect("held")
        .into_inner()
        .party_day
        .expect("day");
    assert_eq!(
        (held.held_on.as_str(), held.attendee_person_ids.len()),
        ("2022-05-20", 2)
    );

    // Posts: a worker's micro-wish; news comes from the platform.
    let wish = s
        .pipeline
        .publish_post(pb::PublishPostRequest {
            post_id: Uuid::now_v7().to_string(),
            kind: pb::PostKind::MicroWish as i32,
            author_person_id: head.to_string(),
            title: "希望暑期有托管班".to_owned(),
            body: "跑单时孩子无人照看".to_owned(),
            published_on: "2022-06-01".to_owned(),
        })
        .await
        .expect("wish")
        .into_inner()
        .post
        .expect("post");
    assert_eq!(wish.kind, pb::PostKind::MicroWish as i32);
    let anonymous = s
        .pipeline
        .publish_post(pb::PublishPostRequest {
            post_id: Uuid::now_v7().to_string(),
            kind: pb::PostKind::Reflection as i32,
            author_person_id: String::new(),
            title: "感悟".to_owned(),
            body: "……".to_owned(),
            published_on: "2022-06-01".to_owned(),
        })
        .await
        .expect_err("a reflection without its worker");
    assert_eq!(anonymous.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn embedded_pairing_training_party_days_and_posts() {
    pairing_training_party_days_and_posts(start(Mode::Embedded).await).await;
}

#[tokio::test]
async fn distributed_pairing_training_party_days_and_posts() {
    pairing_training_party_days_and_posts(start(Mode::Distributed).await).await;
}
