//! The care service through gRPC beside a real organization service, in the
//! embedded default (SQLite, in-process events) and the distributed mode
//! (PostgreSQL, outbox relays, JetStream).

use std::sync::Arc;
use std::time::Duration;

use hongxin_bus::{EventFeed, OutboxRelay};
use hongxin_domain::SystemClock;
use hongxin_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId,
};
use hongxin_organization::client::Directory;
use hongxin_proto::care::v1 as pb;
use hongxin_proto::care::v1::care_service_client::CareServiceClient;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_proto::pipeline::v1 as pipeline;
use hongxin_runtime::Shutdown;
use hongxin_testkit::people::id_number;
use prost::Message as _;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

struct System {
    organization: OrganizationServiceClient<hongxin_runtime::auth::Authed>,
    care: CareServiceClient<hongxin_runtime::auth::Authed>,
    /// For clients with tokens of other roles.
    care_channel: Channel,
    care_store: EventStore,
    pipeline_store: EventStore,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
    _nats: Option<hongxin_testkit::nats::PrivateNats>,
}

impl Drop for System {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Embedded,
    Distributed,
}

async fn channel(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

async fn start(mode: Mode) -> System {
    let dir = tempfile::tempdir().expect("dir");
    let config = |name: &str| match mode {
        Mode::Embedded => StoreConfig::Sqlite {
            path: dir.path().join(format!("{name}.db")),
        },
        Mode::Distributed => StoreConfig::Postgres {
            url: hongxin_testkit::pg::url(),
            schema: hongxin_testkit::pg::fresh_schema(),
            max_connections: 4,
        },
    };
    let org_store = EventStore::open(&config("organization"))
        .await
        .expect("store");
    let care_store = EventStore::open(&config("care")).await.expect("store");
    let pipeline_store = EventStore::open(&config("pipeline")).await.expect("store");
    let master = Arc::new(hongxin_vault::MasterKey::generate().0);
    let shutdown = Shutdown::new();
    let organization = hongxin_organization::build(
        "127.0.0.1:0".parse().expect("addr"),
        org_store.clone(),
        hongxin_vault::Vault::new(org_store.clone(), master.clone()),
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
    let care_vault = hongxin_vault::Vault::new(care_store.clone(), master);
    let built = hongxin_care::build(
        "127.0.0.1:0".parse().expect("addr"),
        care_store.clone(),
        care_vault.clone(),
        &hongxin_care::Settings {
            minimum_living_standard_fen: 80_000,
        },
        Directory::connect_lazy(
            &format!("http://127.0.0.1:{org_port}"),
            Duration::from_secs(3),
        )
        .expect("directory")
        .with_identity(hongxin_runtime::auth::ServiceIdentity::new(
            hongxin_runtime::auth::testing::authenticator(),
            "test",
        )),
        Arc::new(SystemClock),
        Duration::from_secs(1),
    )
    .await
    .expect("care");
    let care_port = built.app.port();
    tokio::spawn(
        built
            .index
            .clone()
            .follow(care_store.clone(), shutdown.wait()),
    );
    tokio::spawn(
        built
            .app
            .with_auth(hongxin_runtime::auth::testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );

    let (wishes, erasures, nats) = match mode {
        Mode::Embedded => (
            EventFeed::in_process(pipeline_store.clone(), "pipeline", "care-wishes")
                .await
                .expect("feed"),
            EventFeed::in_process(org_store.clone(), "organization", "care-erasures")
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
            for (store, context) in [(&pipeline_store, "pipeline"), (&org_store, "organization")] {
                tokio::spawn(
                    OutboxRelay::new(store.clone(), js.clone(), context).run(shutdown.wait()),
                );
            }
            let settings = Default::default();
            (
                EventFeed::jetstream(&js, "pipeline", "care-wishes", &settings)
                    .await
                    .expect("feed"),
                EventFeed::jetstream(&js, "organization", "care-erasures", &settings)
                    .await
                    .expect("feed"),
                Some(nats),
            )
        }
    };
    tokio::spawn(hongxin_care::follow_wishes(
        care_store.clone(),
        Arc::new(SystemClock),
        wishes,
        shutdown.wait(),
    ));
    tokio::spawn(hongxin_care::follow_erasures(
        care_vault,
        erasures,
        shutdown.wait(),
    ));
    System {
        organization: OrganizationServiceClient::new(hongxin_runtime::auth::testing::admin(
            channel(org_port).await,
        )),
        care: CareServiceClient::new(hongxin_runtime::auth::testing::admin(
            channel(care_port).await,
        )),
        care_channel: channel(care_port).await,
        care_store,
        pipeline_store,
        shutdown,
        _dir: dir,
        _nats: nats,
    }
}

async fn person(s: &mut System, seq: u16) -> Uuid {
    let id = Uuid::now_v7();
    s.organization
        .register_person(org::RegisterPersonRequest {
            person_id: id.to_string(),
            name: format!("骑手{seq}"),
            id_number: id_number("19900101", seq),
            phone: String::new(),
            work: None,
            union_member: true,
            party_status: 0,
            affiliation_organization_id: String::new(),
            mobile_member: false,
            home_organisation: String::new(),
        })
        .await
        .expect("person");
    id
}

async fn enterprise(s: &mut System) -> Uuid {
    let community = Uuid::now_v7();
    s.organization
        .register_community(org::RegisterCommunityRequest {
            community_id: community.to_string(),
            name: "开发区社区".to_owned(),
            subdistrict: "晏城街道".to_owned(),
        })
        .await
        .expect("community");
    let id = Uuid::now_v7();
    s.organization
        .register_enterprise(org::RegisterEnterpriseRequest {
            enterprise_id: id.to_string(),
            name: "顺丰齐河营业部".to_owned(),
            industry: org::Industry::Express as i32,
            kind: org::EnterpriseKind::Station as i32,
            community_id: community.to_string(),
            platform_brand: "顺丰".to_owned(),
            parent_enterprise_id: String::new(),
        })
        .await
        .expect("enterprise");
    id
}

async fn service_centre_and_enterprises(mut s: System) {
    let worker = person(&mut s, 1).await;
    let item = Uuid::now_v7();
    s.care
        .define_catalogue_item(pb::DefineCatalogueItemRequest {
            item_id: item.to_string(),
            name: "灵活就业登记".to_owned(),
            department: "县人社局".to_owned(),
            function: "就业服务".to_owned(),
            turnaround_days: 5,
        })
        .await
        .expect("item");
    let file = |person: Uuid| pb::FileServiceRequestRequest {
        request_id: Uuid::now_v7().to_string(),
        item_id: item.to_string(),
        person_id: person.to_string(),
        text: "想办理灵活就业登记".to_owned(),
        filed_on: "2022-05-02".to_owned(),
    };
    let unknown = s
        .care
        .file_service_request(file(Uuid::now_v7()))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    let request = file(worker);
    let r = s
        .care
        .file_service_request(request.clone())
        .await
        .expect("file")
        .into_inner()
        .request
        .expect("request");
    assert_eq!(
        (r.due_on.as_str(), r.department.as_str()),
        ("2022-05-07", "县人社局")
    );
    let progress =
        |state: pb::RequestState, on: &str, note: &str| pb::ProgressServiceRequestRequest {
            request_id: request.request_id.clone(),
            state: state as i32,
            on: on.to_owned(),
            note: note.to_owned(),
            expected_version: 0,
        };
    let early = s
        .care
        .progress_service_request(progress(pb::RequestState::Completed, "2022-05-03", ""))
        .await
        .expect_err("not accepted yet");
    assert_eq!(early.code(), Code::FailedPrecondition);
    for (state, on, note) in [
        (pb::RequestState::Accepted, "2022-05-03", ""),
        (pb::RequestState::Accepted, "2022-05-04", "材料已收"),
        (pb::RequestState::Completed, "2022-05-06", "已登记"),
    ] {
        s.care
            .progress_service_request(progress(state, on, note))
            .await
            .expect("progress");
    }
    let rated = s
        .care
        .rate_service_request(pb::RateServiceRequestRequest {
            request_id: request.request_id.clone(),
            rating: 5,
            comment: "办得快".to_owned(),
        })
        .await
        .expect("rate")
        .into_inner()
        .request
        .expect("request");
    assert_eq!(
        (rated.rating, rated.overdue, rated.notes.len()),
        (5, false, 2),
        "completed within the turnaround"
    );

    // A cadre sees the open problems of the enterprises posted to.
    let cadre = person(&mut s, 2).await;
    let firm = enterprise(&mut s).await;
    s.care
        .post_cadre(pb::PostCadreRequest {
            posting_id: Uuid::now_v7().to_string(),
            cadre_person_id: cadre.to_string(),
            enterprise_id: firm.to_string(),
            started_on: "2022-03-01".to_owned(),
        })
        .await
        .expect("posting");
    let mut problems = Vec::new();
    for kind in [pb::ProblemKind::Funding, pb::ProblemKind::Sales] {
        let id = Uuid::now_v7();
        s.care
            .raise_enterprise_problem(pb::RaiseEnterpriseProblemRequest {
                problem_id: id.to_string(),
                enterprise_id: firm.to_string(),
                kind: kind as i32,
                description: "问需".to_owned(),
                raised_on: "2022-04-01".to_owned(),
            })
            .await
            .expect("problem");
        problems.push(id);
    }
    for (state, on) in [
        (pb::ProblemState::InHand, "2022-04-02"),
        (pb::ProblemState::Solved, "2022-04-20"),
    ] {
        s.care
            .progress_enterprise_problem(pb::ProgressEnterpriseProblemRequest {
                problem_id: problems[0].to_string(),
                state: state as i32,
                on: on.to_owned(),
                note: "对接金融机构".to_owned(),
            })
            .await
            .expect("progress");
    }
    let open = s
        .care
        .list_cadre_problems(pb::ListCadreProblemsRequest {
            cadre_person_id: cadre.to_string(),
        })
        .await
        .expect("list")
        .into_inner()
        .problems;
    assert_eq!(open.len(), 1, "the solved one is no longer open");
    assert_eq!(open[0].problem_id, problems[1].to_string());
}

async fn activities_supplies_and_wishes(mut s: System) {
    let (a, b, c) = (
        person(&mut s, 11).await,
        person(&mut s, 12).await,
        person(&mut s, 13).await,
    );
    let activity = Uuid::now_v7();
    s.care
        .plan_activity(pb::PlanActivityRequest {
            activity_id: activity.to_string(),
            kind: pb::ActivityKind::FreeClinic as i32,
            title: "骑手义诊".to_owned(),
            organiser: "县卫健局".to_owned(),
            place: "党群服务中心".to_owned(),
            held_on: "2022-06-01".to_owned(),
            capacity: 1,
        })
        .await
        .expect("plan");
    // Six people race for the last place: exactly one gets it.
    let mut racers = vec![a, b];
    for seq in 14..18 {
        racers.push(person(&mut s, seq).await);
    }
    let register = |person: Uuid| {
        let mut client = s.care.clone();
        tokio::spawn(async move {
            client
                .register_for_activity(pb::RegisterForActivityRequest {
                    activity_id: activity.to_string(),
                    person_id: person.to_string(),
                })
                .await
                .expect("register")
                .into_inner()
                .has_place
        })
    };
    let tasks: Vec<_> = racers.iter().map(|p| register(*p)).collect();
    let mut places = Vec::new();
    for t in tasks {
        places.push(t.await.expect("join"));
    }
    assert_eq!(places.iter().filter(|p| **p).count(), 1, "{places:?}");
    let holder = racers[places.iter().position(|p| *p).expect("a holder")];
    s.care
        .register_for_activity(pb::RegisterForActivityRequest {
            activity_id: activity.to_string(),
            person_id: c.to_string(),
        })
        .await
        .expect("third waits");
    let after = s
        .care
        .withdraw_from_activity(pb::WithdrawFromActivityRequest {
            activity_id: activity.to_string(),
            person_id: holder.to_string(),
        })
        .await
        .expect("withdraw")
        .into_inner()
        .activity
        .expect("activity");
    assert_eq!(after.registered_person_ids.len(), 1, "the first who waited");
    assert!(!after.registered_person_ids.contains(&holder.to_string()));
    assert_eq!(after.waiting_person_ids.len(), racers.len() - 1);
    assert_eq!(after.waiting_person_ids.last(), Some(&c.to_string()));
    let refused = s
        .care
        .check_in_to_activity(pb::CheckInToActivityRequest {
            activity_id: activity.to_string(),
            person_id: c.to_string(),
        })
        .await
        .expect_err("no place");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // Supplies: never beyond stock; values exact.
    let campaign = Uuid::now_v7();
    s.care
        .open_campaign(pb::OpenCampaignRequest {
            campaign_id: campaign.to_string(),
            name: "夏送清凉".to_owned(),
            item: "防暑降温包".to_owned(),
            unit_value_fen: 3_550,
        })
        .await
        .expect("open");
    s.care
        .stock_campaign(pb::StockCampaignRequest {
            campaign_id: campaign.to_string(),
            quantity: 100,
            on: "2022-07-01".to_owned(),
        })
        .await
        .expect("stock");
    let station = enterprise(&mut s).await;
    let hand = |quantity: i64| pb::HandOutSuppliesRequest {
        campaign_id: campaign.to_string(),
        recipient_id: station.to_string(),
        to_station: true,
        quantity,
        on: "2022-07-02".to_owned(),
    };
    let beyond = s
        .care
        .hand_out_supplies(hand(101))
        .await
        .expect_err("beyond stock");
    assert_eq!(beyond.code(), Code::FailedPrecondition);
    let negative = s
        .care
        .hand_out_supplies(hand(-1))
        .await
        .expect_err("negative");
    assert_eq!(negative.code(), Code::InvalidArgument);
    let c = s
        .care
        .hand_out_supplies(hand(40))
        .await
        .expect("hand out")
        .into_inner()
        .campaign
        .expect("campaign");
    assert_eq!((c.stock, c.value_handed_out_fen), (60, 142_000));

    // A micro-wish posted on the cloud platform arrives here by itself.
    let post = Uuid::now_v7();
    s.pipeline_store
        .append(AppendRequest::new(
            StreamId::new("post", post),
            ExpectedVersion::NoStream,
            vec![NewEvent {
                event_id: Uuid::now_v7(),
                event_type: "PostPublished".to_owned(),
                schema_version: 1,
                payload: pipeline::PostPublished {
                    post_id: post.to_string(),
                    kind: pipeline::PostKind::MicroWish as i32,
                    author_person_id: a.to_string(),
                    title: "一台电风扇".to_owned(),
                    body: "宿舍太热".to_owned(),
                    published_on: "2022-06-10".to_owned(),
                }
                .encode_to_vec(),
                metadata: EventMetadata::new("service:pipeline", chrono::Utc::now()),
            }],
        ))
        .await
        .expect("post");
    let mut wish = None;
    for _ in 0..300 {
        if let Ok(w) = s
            .care
            .get_micro_wish(pb::GetMicroWishRequest {
                wish_id: post.to_string(),
            })
            .await
        {
            wish = w.into_inner().wish;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wish = wish.expect("the wish arrived");
    assert_eq!(wish.title, "一台电风扇");
    let claim = |claimant: Uuid| pb::ClaimMicroWishRequest {
        wish_id: post.to_string(),
        claimant_id: claimant.to_string(),
        on: "2022-06-11".to_owned(),
    };
    s.care
        .claim_micro_wish(claim(station))
        .await
        .expect("claimed by a unit");
    let twice = s
        .care
        .claim_micro_wish(claim(b))
        .await
        .expect_err("second claimant");
    assert_eq!(twice.code(), Code::FailedPrecondition);
    let w = s
        .care
        .fulfil_micro_wish(pb::FulfilMicroWishRequest {
            wish_id: post.to_string(),
            on: "2022-06-15".to_owned(),
            evidence: "已送达，附照片".to_owned(),
        })
        .await
        .expect("fulfil")
        .into_inner()
        .wish
        .expect("wish");
    assert_eq!(w.state, pb::WishState::Fulfilled as i32);
}

async fn hardship(mut s: System) {
    let worker = person(&mut s, 21).await;
    let case = Uuid::now_v7();
    // 3 people, ¥20,000 income, ¥2,000 unavoidable expenses a year, under a
    // standard of ¥800 a month: ¥500 per person per month, deep.
    let household = pb::Household {
        size: 3,
        annual_disposable_income_fen: 2_000_000,
        unavoidable_expenses_fen: 200_000,
        health: "配偶慢性病".to_owned(),
        housing: "租房".to_owned(),
        causes: "家庭成员患病".to_owned(),
    };
    let apply = pb::ApplyForHardshipRequest {
        case_id: case.to_string(),
        person_id: worker.to_string(),
        household: Some(household.clone()),
        accident: false,
        applied_on: "2022-03-01".to_owned(),
    };
    let c = s
        .care
        .apply_for_hardship(apply.clone())
        .await
        .expect("apply")
        .into_inner()
        .case
        .expect("case");
    assert_eq!(c.category, pb::HardshipCategory::Deep as i32);
    assert_eq!(c.monthly_per_capita_fen, 50_000);
    assert_eq!(
        c.household.as_ref().map(|h| h.health.as_str()),
        Some("配偶慢性病")
    );
    // What is stored (and published) carries the category, not the figures.
    let events = s.care_store.read_all(0, 1000).await.expect("read");
    let applied = events
        .iter()
        .find(|e| e.event_type == "HardshipApplied")
        .expect("applied");
    let stored = pb::HardshipApplied::decode(applied.payload.as_slice()).expect("decode");
    assert_ne!(stored.sealed_household, household.encode_to_vec());
    assert!(
        !applied
            .payload
            .windows("配偶慢性病".len())
            .any(|w| w == "配偶慢性病".as_bytes()),
        "health stays sealed"
    );
    let rich = s
        .care
        .apply_for_hardship(pb::ApplyForHardshipRequest {
            case_id: Uuid::now_v7().to_string(),
            household: Some(pb::Household {
                annual_disposable_income_fen: 5_760_000,
                unavoidable_expenses_fen: 0,
                ..household.clone()
            }),
            ..apply.clone()
        })
        .await
        .expect_err("exactly twice the standard");
    assert_eq!(rich.code(), Code::FailedPrecondition);
    let absurd = s
        .care
        .apply_for_hardship(pb::ApplyForHardshipRequest {
            case_id: Uuid::now_v7().to_string(),
            household: Some(pb::Household {
                annual_disposable_income_fen: -5,
                ..household
            }),
            ..apply
        })
        .await
        .expect_err("negative income");
    assert_eq!(absurd.code(), Code::InvalidArgument);

    let step = |step: pb::HardshipStep, on: &str| pb::RecordHardshipStepRequest {
        case_id: case.to_string(),
        step: step as i32,
        on: on.to_owned(),
        passed: true,
        note: String::new(),
    };
    let skipped = s
        .care
        .record_hardship_step(step(pb::HardshipStep::Approval, "2022-03-20"))
        .await
        .expect_err("out of order");
    assert_eq!(skipped.code(), Code::FailedPrecondition);
    for (st, on) in [
        (pb::HardshipStep::UnionReview, "2022-03-05"),
        (pb::HardshipStep::HomeVisit, "2022-03-08"),
        (pb::HardshipStep::CrossCheck, "2022-03-10"),
        (pb::HardshipStep::Notice, "2022-03-11"),
        (pb::HardshipStep::Approval, "2022-03-16"),
    ] {
        s.care
            .record_hardship_step(step(st, on))
            .await
            .expect("step");
    }
    let mut total = 0;
    for (kind, fen) in [
        (pb::SupportKind::Cash, 200_000),
        (pb::SupportKind::InKind, 35_050),
    ] {
        total = s
            .care
            .give_hardship_support(pb::GiveHardshipSupportRequest {
                case_id: case.to_string(),
                support: Some(pb::Support {
                    support_id: Uuid::now_v7().to_string(),
                    kind: kind as i32,
                    amount_fen: fen,
                    description: "米面油".to_owned(),
                    giver: "县总工会".to_owned(),
                    given_on: "2022-03-20".to_owned(),
                }),
            })
            .await
            .expect("support")
            .into_inner()
            .case
            .expect("case")
            .support_total_fen;
    }
    assert_eq!(total, 235_050, "exact to the fen");

    // Erasing the person in the registry destroys the key here as well.
    s.organization
        .erase_person(org::ErasePersonRequest {
            person_id: worker.to_string(),
            reason: "本人申请删除".to_owned(),
        })
        .await
        .expect("erase");
    let mut household_gone = false;
    for _ in 0..300 {
        let c = s
            .care
            .get_hardship_case(pb::GetHardshipCaseRequest {
                case_id: case.to_string(),
            })
            .await
            .expect("case")
            .into_inner()
            .case
            .expect("case");
        if c.household.is_none() {
            household_gone = true;
            assert_eq!(
                c.category,
                pb::HardshipCategory::Deep as i32,
                "the category stays"
            );
            assert_eq!(c.support_total_fen, 235_050, "the amounts stay");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(household_gone, "the household figures became unreadable");
}

/// Enterprise problems within the caller's scope, judged by the unit's
/// industry in the registry: an industry committee raises, progresses and
/// lists its own industry's units' problems only; what is refused writes
/// nothing. A department officer's cadres work county-wide.
async fn enterprise_problems_within_scope(mut s: System) {
    use hongxin_runtime::auth::{Role, Scope, authed, testing::token_with};
    let cadre = person(&mut s, 3).await;
    // An express unit.
    let firm = enterprise(&mut s).await;
    s.care
        .post_cadre(pb::PostCadreRequest {
            posting_id: Uuid::now_v7().to_string(),
            cadre_person_id: cadre.to_string(),
            enterprise_id: firm.to_string(),
            started_on: "2022-03-01".to_owned(),
        })
        .await
        .expect("posting");
    let client = |role: Role, scope: Scope| {
        CareServiceClient::new(authed(s.care_channel.clone(), &token_with(role, scope)))
    };
    let committee = |industry: &str| client(Role::IndustryCommittee, Scope::industry(industry));
    fn denied<T>(result: Result<tonic::Response<T>, tonic::Status>, why: &str) {
        let status = result.map(|_| ()).expect_err(why);
        assert_eq!(status.code(), Code::PermissionDenied, "{why}: {status:?}");
    }
    let raise = |id: Uuid| pb::RaiseEnterpriseProblemRequest {
        problem_id: id.to_string(),
        enterprise_id: firm.to_string(),
        kind: pb::ProblemKind::Funding as i32,
        description: "问需".to_owned(),
        raised_on: "2022-04-01".to_owned(),
    };
    let progress = |id: Uuid, note: &str| pb::ProgressEnterpriseProblemRequest {
        problem_id: id.to_string(),
        state: pb::ProblemState::InHand as i32,
        on: "2022-04-02".to_owned(),
        note: note.to_owned(),
    };
    let list = || pb::ListCadreProblemsRequest {
        cadre_person_id: cadre.to_string(),
    };

    let (refused, own, county) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    denied(
        committee("food_delivery")
            .raise_enterprise_problem(raise(refused))
            .await,
        "another industry's unit",
    );
    committee("express")
        .raise_enterprise_problem(raise(own))
        .await
        .expect("its own industry's unit");
    s.care
        .raise_enterprise_problem(raise(county))
        .await
        .expect("the county's administrator");
    denied(
        committee("food_delivery")
            .progress_enterprise_problem(progress(own, "越权"))
            .await,
        "another industry's unit",
    );
    let in_hand = committee("express")
        .progress_enterprise_problem(progress(own, "对接金融机构"))
        .await
        .expect("its own industry's unit")
        .into_inner()
        .problem
        .expect("problem");
    assert_eq!(
        in_hand.notes,
        ["对接金融机构"],
        "the refused note is not there"
    );
    let gone = s
        .care
        .progress_enterprise_problem(progress(refused, "x"))
        .await
        .expect_err("the refused problem was never raised");
    assert_eq!(gone.code(), Code::NotFound);

    let ids = |problems: Vec<pb::EnterpriseProblem>| {
        let mut ids: Vec<String> = problems.into_iter().map(|p| p.problem_id).collect();
        ids.sort();
        ids
    };
    let mut both = vec![own.to_string(), county.to_string()];
    both.sort();
    let all = s.care.list_cadre_problems(list()).await.expect("admin");
    assert_eq!(ids(all.into_inner().problems), both);
    let mine = committee("express")
        .list_cadre_problems(list())
        .await
        .expect("its own industry");
    assert_eq!(ids(mine.into_inner().problems), both);
    let none = committee("food_delivery")
        .list_cadre_problems(list())
        .await
        .expect("listed, with another industry's units left out");
    assert!(none.into_inner().problems.is_empty());
    let officer = client(Role::DepartmentOfficer, Scope::department("县商务局"))
        .list_cadre_problems(list())
        .await
        .expect("a department's cadres work county-wide");
    assert_eq!(ids(officer.into_inner().problems), both);
}

#[tokio::test]
async fn embedded_enterprise_problems_within_scope() {
    enterprise_problems_within_scope(start(Mode::Embedded).await).await;
}

#[tokio::test]
async fn distributed_enterprise_problems_within_scope() {
    enterprise_problems_within_scope(start(Mode::Distributed).await).await;
}

#[tokio::test]
async fn embedded_service_centre_and_enterprises() {
    service_centre_and_enterprises(start(Mode::Embedded).await).await;
}

#[tokio::test]
async fn distributed_service_centre_and_enterprises() {
    service_centre_and_enterprises(start(Mode::Distributed).await).await;
}

#[tokio::test]
async fn embedded_activities_supplies_and_wishes() {
    activities_supplies_and_wishes(start(Mode::Embedded).await).await;
}

#[tokio::test]
async fn distributed_activities_supplies_and_wishes() {
    activities_supplies_and_wishes(start(Mode::Distributed).await).await;
}

#[tokio::test]
async fn embedded_hardship() {
    hardship(start(Mode::Embedded).await).await;
}

#[tokio::test]
async fn distributed_hardship() {
    hardship(start(Mode::Distributed).await).await;
}

/// A community of the registry.
async fn community(s: &mut System, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    s.organization
        .register_community(org::RegisterCommunityRequest {
            community_id: id.to_string(),
            name: name.to_owned(),
            subdistrict: "晏城街道".to_owned(),
        })
        .await
        .expect("community");
    id
}

/// A food-delivery rider the registry has in `community`.
async fn person_in(s: &mut System, seq: u16, community: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    s.organization
        .register_person(org::RegisterPersonRequest {
            person_id: id.to_string(),
            name: format!("骑手{seq}"),
            id_number: id_number("19920202", seq),
            phone: String::new(),
            work: Some(org::PersonWork {
                industry: org::Industry::FoodDelivery as i32,
                platform: "美团".to_owned(),
                enterprise_id: String::new(),
                community_id: community.to_string(),
            }),
            union_member: true,
            party_status: 0,
            affiliation_organization_id: String::new(),
            mobile_member: false,
            home_organisation: String::new(),
        })
        .await
        .expect("person");
    id
}

/// How many events the care store holds: a refusal adds none.
async fn events(s: &System) -> usize {
    s.care_store.read_all(0, 100_000).await.expect("read").len()
}

fn denied<T>(result: Result<tonic::Response<T>, tonic::Status>, why: &str) {
    let status = result.map(|_| ()).expect_err(why);
    assert_eq!(status.code(), Code::PermissionDenied, "{why}: {status:?}");
}

/// Clients of the care service with tokens of the roles whose scope is a
/// person, a community, a department or an industry.
struct Callers(Channel);

impl Callers {
    fn client(
        &self,
        role: hongxin_runtime::auth::Role,
        scope: hongxin_runtime::auth::Scope,
    ) -> CareServiceClient<hongxin_runtime::auth::Authed> {
        use hongxin_runtime::auth::{authed, testing::token_with};
        CareServiceClient::new(authed(self.0.clone(), &token_with(role, scope)))
    }

    fn worker(&self, person: Uuid) -> CareServiceClient<hongxin_runtime::auth::Authed> {
        self.client(
            hongxin_runtime::auth::Role::Worker,
            hongxin_runtime::auth::Scope::person(person),
        )
    }

    fn staff(&self, community: Uuid) -> CareServiceClient<hongxin_runtime::auth::Authed> {
        self.client(
            hongxin_runtime::auth::Role::CommunityStaff,
            hongxin_runtime::auth::Scope::community(community),
        )
    }

    fn officer(&self, department: &str) -> CareServiceClient<hongxin_runtime::auth::Authed> {
        self.client(
            hongxin_runtime::auth::Role::DepartmentOfficer,
            hongxin_runtime::auth::Scope::department(department),
        )
    }

    fn committee(&self, industry: &str) -> CareServiceClient<hongxin_runtime::auth::Authed> {
        self.client(
            hongxin_runtime::auth::Role::IndustryCommittee,
            hongxin_runtime::auth::Scope::industry(industry),
        )
    }
}

/// Service requests within the caller's scope: a worker files, reads and
/// rates their own; community staff file and read their community's
/// people's; a department officer reads and progresses what was filed
/// with their department. What is refused writes nothing.
async fn service_requests_within_scope(mut s: System) {
    let (here, there) = (
        community(&mut s, "晏城社区").await,
        community(&mut s, "华店社区").await,
    );
    let rider = person_in(&mut s, 1, here).await;
    let other = person_in(&mut s, 2, there).await;
    let item = Uuid::now_v7();
    s.care
        .define_catalogue_item(pb::DefineCatalogueItemRequest {
            item_id: item.to_string(),
            name: "灵活就业登记".to_owned(),
            department: "县人社局".to_owned(),
            function: "就业服务".to_owned(),
            turnaround_days: 5,
        })
        .await
        .expect("item");
    let callers = Callers(s.care_channel.clone());
    let file = |id: Uuid, person: Uuid| pb::FileServiceRequestRequest {
        request_id: id.to_string(),
        item_id: item.to_string(),
        person_id: person.to_string(),
        text: "想办理灵活就业登记".to_owned(),
        filed_on: "2022-05-02".to_owned(),
    };
    let get = |id: Uuid| pb::GetServiceRequestRequest {
        request_id: id.to_string(),
    };

    let before = events(&s).await;
    let refused = Uuid::now_v7();
    denied(
        callers
            .worker(other)
            .file_service_request(file(refused, rider))
            .await,
        "a worker for someone else",
    );
    denied(
        callers
            .staff(there)
            .file_service_request(file(refused, rider))
            .await,
        "staff for another community's person",
    );
    assert_eq!(events(&s).await, before, "the refusals wrote nothing");
    let gone = s
        .care
        .get_service_request(get(refused))
        .await
        .expect_err("never filed");
    assert_eq!(gone.code(), Code::NotFound);

    let (own, filed_by_staff) = (Uuid::now_v7(), Uuid::now_v7());
    callers
        .worker(rider)
        .file_service_request(file(own, rider))
        .await
        .expect("a worker for themselves");
    callers
        .staff(here)
        .file_service_request(file(filed_by_staff, rider))
        .await
        .expect("staff for their community's person");
    s.care
        .file_service_request(file(Uuid::now_v7(), other))
        .await
        .expect("the county's administrator for anyone");

    for (mut client, why) in [
        (callers.worker(rider), "their own"),
        (callers.staff(here), "their community's person's"),
        (callers.officer("县人社局"), "filed with their department"),
    ] {
        client.get_service_request(get(own)).await.expect(why);
    }
    for (mut client, why) in [
        (callers.worker(other), "someone else's"),
        (callers.staff(there), "another community's person's"),
        (callers.officer("县民政局"), "another department's"),
    ] {
        denied(client.get_service_request(get(own)).await, why);
    }

    let progress = |state: pb::RequestState, on: &str| pb::ProgressServiceRequestRequest {
        request_id: own.to_string(),
        state: state as i32,
        on: on.to_owned(),
        note: String::new(),
        expected_version: 0,
    };
    let before = events(&s).await;
    denied(
        callers
            .officer("县民政局")
            .progress_service_request(progress(pb::RequestState::Accepted, "2022-05-03"))
            .await,
        "another department's request",
    );
    assert_eq!(events(&s).await, before, "the refusal wrote nothing");
    for (state, on) in [
        (pb::RequestState::Accepted, "2022-05-03"),
        (pb::RequestState::Completed, "2022-05-04"),
    ] {
        callers
            .officer("县人社局")
            .progress_service_request(progress(state, on))
            .await
            .expect("their department's request");
    }

    let rate = |rating: u32| pb::RateServiceRequestRequest {
        request_id: own.to_string(),
        rating,
        comment: String::new(),
    };
    let before = events(&s).await;
    denied(
        callers.worker(other).rate_service_request(rate(1)).await,
        "someone else's request",
    );
    assert_eq!(events(&s).await, before, "the refusal wrote nothing");
    let rated = callers
        .worker(rider)
        .rate_service_request(rate(5))
        .await
        .expect("their own request")
        .into_inner()
        .request
        .expect("request");
    assert_eq!(rated.rating, 5);
}

/// Hardship applications, activities and micro-wishes within the caller's
/// scope: a worker acts for themselves, community staff for their
/// community's people, the union's liaison applies for anyone; a wish is
/// claimed, released and fulfilled by a claimant within the caller's
/// scope, and read by callers who reach its wisher or its claimant. What
/// is refused writes nothing.
async fn peoples_care_within_scope(mut s: System) {
    let (here, there) = (
        community(&mut s, "晏城社区").await,
        community(&mut s, "华店社区").await,
    );
    let rider = person_in(&mut s, 11, here).await;
    let neighbour = person_in(&mut s, 12, here).await;
    let other = person_in(&mut s, 13, there).await;
    // An express unit in a community of its own.
    let unit = enterprise(&mut s).await;
    let callers = Callers(s.care_channel.clone());

    // Hardship.
    let apply = |person: Uuid| pb::ApplyForHardshipRequest {
        case_id: Uuid::now_v7().to_string(),
        person_id: person.to_string(),
        household: Some(pb::Household {
            size: 3,
            annual_disposable_income_fen: 2_000_000,
            unavoidable_expenses_fen: 200_000,
            health: "配偶慢性病".to_owned(),
            housing: "租房".to_owned(),
            causes: "家庭成员患病".to_owned(),
        }),
        accident: false,
        applied_on: "2022-03-01".to_owned(),
    };
    let before = events(&s).await;
    denied(
        callers.worker(other).apply_for_hardship(apply(rider)).await,
        "a worker for someone else",
    );
    denied(
        callers.staff(there).apply_for_hardship(apply(rider)).await,
        "staff for another community's person",
    );
    assert_eq!(events(&s).await, before, "the refusals wrote nothing");
    assert!(
        s.care_store.data_key(rider).await.expect("key").is_none(),
        "the refusals claimed no data key"
    );
    callers
        .worker(rider)
        .apply_for_hardship(apply(rider))
        .await
        .expect("a worker for themselves");
    callers
        .staff(here)
        .apply_for_hardship(apply(neighbour))
        .await
        .expect("staff for their community's person");
    callers
        .client(
            hongxin_runtime::auth::Role::UnionLiaison,
            hongxin_runtime::auth::Scope::default(),
        )
        .apply_for_hardship(apply(other))
        .await
        .expect("the union's liaison for anyone");

    // Activities.
    let activity = Uuid::now_v7();
    s.care
        .plan_activity(pb::PlanActivityRequest {
            activity_id: activity.to_string(),
            kind: pb::ActivityKind::FreeClinic as i32,
            title: "骑手义诊".to_owned(),
            organiser: "县卫健局".to_owned(),
            place: "党群服务中心".to_owned(),
            held_on: "2022-06-01".to_owned(),
            capacity: 10,
        })
        .await
        .expect("plan");
    let register = |person: Uuid| pb::RegisterForActivityRequest {
        activity_id: activity.to_string(),
        person_id: person.to_string(),
    };
    let withdraw = |person: Uuid| pb::WithdrawFromActivityRequest {
        activity_id: activity.to_string(),
        person_id: person.to_string(),
    };
    let before = events(&s).await;
    denied(
        callers
            .worker(other)
            .register_for_activity(register(rider))
            .await,
        "a worker registers someone else",
    );
    denied(
        callers
            .staff(there)
            .register_for_activity(register(rider))
            .await,
        "staff register another community's person",
    );
    assert_eq!(events(&s).await, before, "the refusals wrote nothing");
    callers
        .worker(rider)
        .register_for_activity(register(rider))
        .await
        .expect("a worker registers themselves");
    let registered = callers
        .staff(here)
        .register_for_activity(register(neighbour))
        .await
        .expect("staff register their community's person")
        .into_inner()
        .activity
        .expect("activity");
    let mut both = vec![rider.to_string(), neighbour.to_string()];
    both.sort();
    let mut ids = registered.registered_person_ids.clone();
    ids.sort();
    assert_eq!(ids, both);
    let before = events(&s).await;
    denied(
        callers
            .worker(other)
            .withdraw_from_activity(withdraw(rider))
            .await,
        "a worker withdraws someone else",
    );
    denied(
        callers
            .staff(there)
            .withdraw_from_activity(withdraw(neighbour))
            .await,
        "staff withdraw another community's person",
    );
    assert_eq!(events(&s).await, before, "the refusals wrote nothing");
    callers
        .worker(rider)
        .withdraw_from_activity(withdraw(rider))
        .await
        .expect("a worker withdraws themselves");
    let left = callers
        .staff(here)
        .withdraw_from_activity(withdraw(neighbour))
        .await
        .expect("staff withdraw their community's person")
        .into_inner()
        .activity
        .expect("activity");
    assert!(left.registered_person_ids.is_empty());

    // Micro-wishes.
    let file = |id: Uuid, person: Uuid| pb::FileMicroWishRequest {
        wish_id: id.to_string(),
        person_id: person.to_string(),
        title: "一台电风扇".to_owned(),
        filed_on: "2022-06-10".to_owned(),
    };
    let (wish, second) = (Uuid::now_v7(), Uuid::now_v7());
    let before = events(&s).await;
    denied(
        callers
            .worker(other)
            .file_micro_wish(file(wish, rider))
            .await,
        "a worker files someone else's wish",
    );
    denied(
        callers
            .staff(there)
            .file_micro_wish(file(wish, rider))
            .await,
        "staff file another community's person's wish",
    );
    assert_eq!(events(&s).await, before, "the refusals wrote nothing");
    callers
        .worker(rider)
        .file_micro_wish(file(wish, rider))
        .await
        .expect("a worker files their own wish");
    callers
        .staff(here)
        .file_micro_wish(file(second, neighbour))
        .await
        .expect("staff file their community's person's wish");

    let get = |id: Uuid| pb::GetMicroWishRequest {
        wish_id: id.to_string(),
    };
    callers
        .worker(rider)
        .get_micro_wish(get(wish))
        .await
        .expect("their own wish");
    callers
        .staff(here)
        .get_micro_wish(get(wish))
        .await
        .expect("their community's person's wish");
    denied(
        callers.worker(other).get_micro_wish(get(wish)).await,
        "someone else's wish",
    );
    denied(
        callers.staff(there).get_micro_wish(get(wish)).await,
        "another community's person's wish",
    );

    let claim = |id: Uuid, claimant: Uuid| pb::ClaimMicroWishRequest {
        wish_id: id.to_string(),
        claimant_id: claimant.to_string(),
        on: "2022-06-11".to_owned(),
    };
    let release = |id: Uuid| pb::ReleaseMicroWishRequest {
        wish_id: id.to_string(),
        on: "2022-06-12".to_owned(),
    };
    let before = events(&s).await;
    denied(
        callers
            .worker(other)
            .claim_micro_wish(claim(wish, neighbour))
            .await,
        "a worker claims in someone else's name",
    );
    denied(
        callers
            .staff(here)
            .claim_micro_wish(claim(wish, other))
            .await,
        "staff claim in the name of another community's person",
    );
    denied(
        callers
            .staff(here)
            .claim_micro_wish(claim(wish, unit))
            .await,
        "staff claim in the name of another community's unit",
    );
    assert_eq!(events(&s).await, before, "the refusals wrote nothing");
    let claimed = callers
        .worker(other)
        .claim_micro_wish(claim(wish, other))
        .await
        .expect("a worker claims as themselves")
        .into_inner()
        .wish
        .expect("wish");
    assert_eq!(
        (claimed.state, claimed.claimant_id.as_str()),
        (pb::WishState::Claimed as i32, other.to_string().as_str())
    );
    // The claimant, and staff of the claimant's community, now read it.
    callers
        .worker(other)
        .get_micro_wish(get(wish))
        .await
        .expect("a wish they claimed");
    callers
        .staff(there)
        .get_micro_wish(get(wish))
        .await
        .expect("a wish their community's person claimed");
    let before = events(&s).await;
    denied(
        callers
            .worker(rider)
            .release_micro_wish(release(wish))
            .await,
        "the wisher is not the claimant",
    );
    denied(
        callers.staff(here).release_micro_wish(release(wish)).await,
        "another community's claimant",
    );
    denied(
        callers
            .worker(rider)
            .fulfil_micro_wish(pb::FulfilMicroWishRequest {
                wish_id: wish.to_string(),
                on: "2022-06-15".to_owned(),
                evidence: "已送达".to_owned(),
            })
            .await,
        "the wisher is not the claimant",
    );
    assert_eq!(events(&s).await, before, "the refusals wrote nothing");
    let fulfilled = callers
        .worker(other)
        .fulfil_micro_wish(pb::FulfilMicroWishRequest {
            wish_id: wish.to_string(),
            on: "2022-06-15".to_owned(),
            evidence: "已送达，附照片".to_owned(),
        })
        .await
        .expect("the claimant fulfils")
        .into_inner()
        .wish
        .expect("wish");
    assert_eq!(fulfilled.state, pb::WishState::Fulfilled as i32);

    // A unit claims through the committee of its industry.
    callers
        .committee("express")
        .claim_micro_wish(claim(second, unit))
        .await
        .expect("the committee of the unit's industry");
    let before = events(&s).await;
    denied(
        callers
            .committee("food_delivery")
            .release_micro_wish(release(second))
            .await,
        "another industry's unit",
    );
    assert_eq!(events(&s).await, before, "the refusal wrote nothing");
    let released = callers
        .committee("express")
        .release_micro_wish(release(second))
        .await
        .expect("the committee of the unit's industry")
        .into_inner()
        .wish
        .expect("wish");
    assert_eq!(released.state, pb::WishState::Open as i32);

    // Supplies: community staff hand out to their community's people and
    // stations, the union's liaison to anyone.
    let campaign = Uuid::now_v7();
    s.care
        .open_campaign(pb::OpenCampaignRequest {
            campaign_id: campaign.to_string(),
            name: "冬送温暖".to_owned(),
            item: "保暖手套".to_owned(),
            unit_value_fen: 2_000,
        })
        .await
        .expect("open");
    s.care
        .stock_campaign(pb::StockCampaignRequest {
            campaign_id: campaign.to_string(),
            quantity: 10,
            on: "2022-12-01".to_owned(),
        })
        .await
        .expect("stock");
    let hand = |recipient: Uuid, to_station: bool| pb::HandOutSuppliesRequest {
        campaign_id: campaign.to_string(),
        recipient_id: recipient.to_string(),
        to_station,
        quantity: 1,
        on: "2022-12-02".to_owned(),
    };
    let before = events(&s).await;
    denied(
        callers
            .staff(there)
            .hand_out_supplies(hand(rider, false))
            .await,
        "staff to another community's person",
    );
    denied(
        callers
            .staff(there)
            .hand_out_supplies(hand(unit, true))
            .await,
        "staff to another community's station",
    );
    assert_eq!(events(&s).await, before, "the refusals wrote nothing");
    callers
        .staff(here)
        .hand_out_supplies(hand(rider, false))
        .await
        .expect("staff to their community's person");
    let c = callers
        .client(
            hongxin_runtime::auth::Role::UnionLiaison,
            hongxin_runtime::auth::Scope::default(),
        )
        .hand_out_supplies(hand(unit, true))
        .await
        .expect("the union's liaison to any station")
        .into_inner()
        .campaign
        .expect("campaign");
    assert_eq!(c.stock, 8);
}

#[tokio::test]
async fn embedded_service_requests_within_scope() {
    service_requests_within_scope(start(Mode::Embedded).await).await;
}

#[tokio::test]
async fn distributed_service_requests_within_scope() {
    service_requests_within_scope(start(Mode::Distributed).await).await;
}

#[tokio::test]
async fn embedded_peoples_care_within_scope() {
    peoples_care_within_scope(start(Mode::Embedded).await).await;
}

#[tokio::test]
async fn distributed_peoples_care_within_scope() {
    peoples_care_within_scope(start(Mode::Distributed).await).await;
}
