//! The people registry through the gRPC API on both stores: checked ID
//! numbers, sealed and masked personal data, erasure, references for
//! other services, and the pipeline's membership events moving a person,
//! their enterprise's headcount and the branch roster.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Running, community, unit};
use hongxin_bus::{EventFeed, OutboxRelay};
use hongxin_domain::SystemClock;
use hongxin_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId,
};
use hongxin_organization::membership::MembershipFollower;
use hongxin_proto::organization::v1 as pb;
use hongxin_proto::pipeline::v1 as pipeline;
use hongxin_runtime::Shutdown;
use hongxin_testkit::people::id_number;
use prost::Message as _;
use tonic::Code;
use tonic_types::StatusExt as _;
use uuid::Uuid;

/// The same ID number with a wrong check character.
fn with_wrong_check(id: &str) -> String {
    let last = id.as_bytes()[17];
    let wrong = if last == b'0' { '1' } else { '0' };
    format!("{}{wrong}", &id[..17])
}

fn person(id: Uuid, name: &str, id_number: &str, phone: &str) -> pb::RegisterPersonRequest {
    pb::RegisterPersonRequest {
        person_id: id.to_string(),
        name: name.to_owned(),
        id_number: id_number.to_owned(),
        phone: phone.to_owned(),
        work: Some(pb::PersonWork {
            industry: pb::Industry::FoodDelivery as i32,
            platform: "美团".to_owned(),
            enterprise_id: String::new(),
            community_id: String::new(),
        }),
        union_member: false,
        party_status: pb::PartyStatus::Unspecified as i32,
        affiliation_organization_id: String::new(),
        mobile_member: false,
        home_organisation: String::new(),
    }
}

fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Whether any stored event's payload contains `needle`.
async fn stored_anywhere(store: &EventStore, needle: &str) -> bool {
    let events = store.read_all(0, 10_000).await.expect("read");
    events.iter().any(|e| {
        e.payload
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    })
}

async fn registry(mut app: Running) {
    let c = community(&mut app, "华店社区").await;
    let e = unit(&mut app, c, 0).await;
    let id = Uuid::now_v7();
    let number = id_number("19900307", 123);
    let mut request = person(id, "张明远", &number, "138 0013 8000");
    if let Some(w) = request.work.as_mut() {
        w.enterprise_id = e.to_string();
        w.community_id = c.to_string();
    }
    let p = app
        .client
        .register_person(request.clone())
        .await
        .expect("register")
        .into_inner()
        .person
        .expect("person");
    assert_eq!(p.name, "张明远");
    assert_eq!(
        p.id_number_masked,
        format!("3714**********{}", &number[14..])
    );
    assert_eq!(p.phone_masked, "138****8000");
    assert_eq!(p.birth_date, "1990-03-07");
    assert_eq!((p.erased, p.version), (false, 1));
    assert_eq!(p.party_status, pb::PartyStatus::None as i32);

    // Nothing personal is stored in clear.
    for secret in [number.as_str(), "13800138000", "张明远"] {
        assert!(
            !stored_anywhere(&app.store, secret).await,
            "{secret} must not be stored in clear"
        );
    }

    // A retry registers nothing new; the same ID number under another
    // person is refused.
    let again = app
        .client
        .register_person(request.clone())
        .await
        .expect("retry");
    assert_eq!(again.into_inner().person.expect("person").version, 1);
    let twin = app
        .client
        .register_person(person(Uuid::now_v7(), "张明远", &number, ""))
        .await
        .expect_err("same ID number");
    assert_eq!(twin.code(), Code::FailedPrecondition);
    assert!(
        twin.message().contains("already registered"),
        "{}",
        twin.message()
    );

    // Bad input: every field reported at once, nothing written, the ID
    // number not taken.
    let head = app.store.head_position().await.expect("head");
    let other = Uuid::now_v7();
    let other_number = id_number("19951120", 45);
    let mut bad = person(other, " ", &with_wrong_check(&other_number), "12345");
    if let Some(w) = bad.work.as_mut() {
        w.enterprise_id = Uuid::now_v7().to_string();
    }
    bad.party_status = 42;
    let status = app.client.register_person(bad).await.expect_err("bad");
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut f = fields(&status);
    f.sort();
    assert_eq!(
        f,
        [
            "id_number",
            "name",
            "party_status",
            "phone",
            "work.enterprise_id"
        ]
    );
    assert!(
        !status.message().contains(&other_number[..14]),
        "no ID number in errors"
    );
    // A member needs an affiliation: refused by the rules, nothing kept.
    let mut member = person(other, "李强", &other_number, "");
    member.party_status = pb::PartyStatus::Full as i32;
    let status = app
        .client
        .register_person(member)
        .await
        .expect_err("no affiliation");
    assert_eq!(fields(&status), ["affiliation_organization_id"]);
    assert_eq!(app.store.head_position().await.expect("head"), head);
    app.client
        .register_person(person(other, "李强", &other_number, ""))
        .await
        .expect("the ID number was not taken by the refused calls");

    // A new phone, a move, a step of Party status.
    let p = app
        .client
        .change_person_contact(pb::ChangePersonContactRequest {
            person_id: id.to_string(),
            phone: "13905346789".to_owned(),
            expected_version: 1,
        })
        .await
        .expect("contact")
        .into_inner()
        .person
        .expect("person");
    assert_eq!((p.phone_masked.as_str(), p.version), ("139****6789", 2));
    let stale = app
        .client
        .change_person_contact(pb::ChangePersonContactRequest {
            person_id: id.to_string(),
            phone: "13905346780".to_owned(),
            expected_version: 1,
        })
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Code::Aborted);
    let moved = app
        .client
        .change_person_work(pb::ChangePersonWorkRequest {
            person_id: id.to_string(),
            work: Some(pb::PersonWork {
                industry: pb::Industry::Express as i32,
                platform: "顺丰".to_owned(),
                enterprise_id: String::new(),
                community_id: Uuid::now_v7().to_string(),
            }),
            expected_version: 0,
        })
        .await
        .expect_err("unknown community");
    assert_eq!(fields(&moved), ["work.community_id"]);
    let p = app
        .client
        .record_party_status(pb::RecordPartyStatusRequest {
            person_id: id.to_string(),
            party_status: pb::PartyStatus::Applicant as i32,
            affiliation_organization_id: String::new(),
            effective_on: "2026-03-01".to_owned(),
        })
        .await
        .expect("applicant")
        .into_inner()
        .person
        .expect("person");
    assert_eq!(p.party_status, pb::PartyStatus::Applicant as i32);
    let skipped = app
        .client
        .record_party_status(pb::RecordPartyStatusRequest {
            person_id: id.to_string(),
            party_status: pb::PartyStatus::Activist as i32,
            affiliation_organization_id: String::new(),
            effective_on: "2026-03-01".to_owned(),
        })
        .await
        .expect("activist");
    assert_eq!(
        skipped.into_inner().person.expect("p").party_status,
        pb::PartyStatus::Activist as i32
    );
    let refused = app
        .client
        .record_party_status(pb::RecordPartyStatusRequest {
            person_id: id.to_string(),
            party_status: pb::PartyStatus::Applicant as i32,
            affiliation_organization_id: String::new(),
            effective_on: "2026-04-01".to_owned(),
        })
        .await
        .expect_err("backwards");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // The access right: everything, in clear, with its history.
    let export = app
        .client
        .export_personal_data(pb::ExportPersonalDataRequest {
            person_id: id.to_string(),
        })
        .await
        .expect("export")
        .into_inner();
    assert_eq!(
        (export.id_number.as_str(), export.phone.as_str()),
        (number.as_str(), "13905346789")
    );
    let types: Vec<_> = export
        .history
        .iter()
        .map(|h| h.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "PersonRegistered",
            "PersonContactChanged",
            "PersonPartyStatusChanged",
            "PersonPartyStatusChanged"
        ]
    );

    // References for other services.
    let unknown_person = Uuid::now_v7().to_string();
    let unknown = app
        .client
        .check_references(pb::CheckReferencesRequest {
            person_ids: vec![
                id.to_string(),
                unknown_person.clone(),
                "not-a-uuid".to_owned(),
            ],
            enterprise_ids: vec![e.to_string()],
            community_ids: vec![c.to_string()],
            organization_ids: vec![Uuid::now_v7().to_string()],
        })
        .await
        .expect("check")
        .into_inner()
        .unknown;
    let unknown: Vec<_> = unknown
        .iter()
        .map(|u| (u.kind.as_str(), u.id.as_str()))
        .collect();
    assert_eq!(
        unknown[..2],
        [
            ("person", unknown_person.as_str()),
            ("person", "not-a-uuid")
        ]
    );
    assert_eq!(unknown[2].0, "organization");
    assert_eq!(unknown.len(), 3);

    // Erasure: the data is gone, the categories stay, the ID number is free.
    let erased = app
        .client
        .erase_person(pb::ErasePersonRequest {
            person_id: id.to_string(),
            reason: "本人申请删除".to_owned(),
        })
        .await
        .expect("erase")
        .into_inner()
        .person
        .expect("person");
    assert!(erased.erased);
    let p = app
        .client
        .get_person(pb::GetPersonRequest {
            person_id: id.to_string(),
        })
        .await
        .expect("get")
        .into_inner()
        .person
        .expect("person");
    assert!(p.erased);
    assert_eq!(
        (
            p.name.as_str(),
            p.id_number_masked.as_str(),
            p.phone_masked.as_str(),
            p.birth_date.as_str()
        ),
        ("", "", "", "")
    );
    assert_eq!(
        p.party_status,
        pb::PartyStatus::Activist as i32,
        "categories stay"
    );
    let export = app
        .client
        .export_personal_data(pb::ExportPersonalDataRequest {
            person_id: id.to_string(),
        })
        .await
        .expect("export after erasure")
        .into_inner();
    assert_eq!((export.id_number.as_str(), export.phone.as_str()), ("", ""));
    assert!(
        app.store.data_key(id).await.expect("key").is_none(),
        "the data key is destroyed"
    );
    let after = app
        .client
        .change_person_work(pb::ChangePersonWorkRequest {
            person_id: id.to_string(),
            work: None,
            expected_version: 0,
        })
        .await
        .expect_err("erased");
    assert_eq!(after.code(), Code::FailedPrecondition);
    app.client
        .erase_person(pb::ErasePersonRequest {
            person_id: id.to_string(),
            reason: "重复请求".to_owned(),
        })
        .await
        .expect("erasing twice is a retry");
    app.client
        .register_person(person(Uuid::now_v7(), "张明远", &number, ""))
        .await
        .expect("the ID number is free again");

    let missing = app
        .client
        .get_person(pb::GetPersonRequest {
            person_id: Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);
}

on_both_stores!(registry);

async fn instructors(mut app: Running) {
    let c = community(&mut app, "刘桥社区").await;
    let small = unit(&mut app, c, 1).await;
    let big = unit(&mut app, c, 3).await;
    let instructor = Uuid::now_v7();
    app.client
        .register_person(person(instructor, "王建国", &id_number("19700101", 7), ""))
        .await
        .expect("instructor");
    let assign = |enterprise: Uuid, person: Uuid| pb::AssignPartyBuildingInstructorRequest {
        enterprise_id: enterprise.to_string(),
        person_id: person.to_string(),
        assigned_on: "2022-06-01".to_owned(),
    };
    let e = app
        .client
        .assign_party_building_instructor(assign(small, instructor))
        .await
        .expect("assign")
        .into_inner()
        .enterprise
        .expect("enterprise");
    assert_eq!(e.instructor_person_id, instructor.to_string());
    let nobody = app
        .client
        .assign_party_building_instructor(assign(small, Uuid::now_v7()))
        .await
        .expect_err("unknown person");
    assert_eq!(fields(&nobody), ["person_id"]);

    app.client
        .found_party_organization(pb::FoundPartyOrganizationRequest {
            organization_id: Uuid::now_v7().to_string(),
            name: "某快递网点党支部".to_owned(),
            kind: pb::PartyOrganizationKind::Branch as i32,
            parent_organization_id: String::new(),
            covered_enterprise_ids: vec![big.to_string()],
            secretary_person_id: String::new(),
            founded_on: "2022-05-01".to_owned(),
        })
        .await
        .expect("branch");
    let covered = app
        .client
        .assign_party_building_instructor(assign(big, instructor))
        .await
        .expect_err("covered");
    assert_eq!(covered.code(), Code::FailedPrecondition);
}

on_both_stores!(instructors);

/// Appends one pipeline event to `store`.
async fn pipeline_event(store: &EventStore, candidate: Uuid, event_type: &str, payload: Vec<u8>) {
    let stream = StreamId::new("candidate", candidate);
    store
        .append(AppendRequest::new(
            stream,
            ExpectedVersion::Any,
            vec![NewEvent {
                event_id: Uuid::now_v7(),
                event_type: event_type.to_owned(),
                schema_version: 1,
                payload,
                metadata: EventMetadata::new("service:pipeline", chrono::Utc::now()),
            }],
        ))
        .await
        .expect("append pipeline event");
}

/// Waits until `check` holds of the person, up to 10 s.
async fn eventually(
    app: &mut Running,
    id: Uuid,
    check: impl Fn(&pb::Person) -> bool,
) -> pb::Person {
    for _ in 0..200 {
        let p = app
            .client
            .get_person(pb::GetPersonRequest {
                person_id: id.to_string(),
            })
            .await
            .expect("get")
            .into_inner()
            .person
            .expect("person");
        if check(&p) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the person never reached the expected state");
}

/// A branch with an enterprise and a development target working there.
async fn branch_with_target(app: &mut Running) -> (Uuid, Uuid, Uuid) {
    let c = community(app, "晏城社区").await;
    let enterprise = unit(app, c, 3).await;
    let branch = Uuid::now_v7();
    app.client
        .found_party_organization(pb::FoundPartyOrganizationRequest {
            organization_id: branch.to_string(),
            name: "美团齐河站党支部".to_owned(),
            kind: pb::PartyOrganizationKind::Branch as i32,
            parent_organization_id: String::new(),
            covered_enterprise_ids: vec![enterprise.to_string()],
            secretary_person_id: String::new(),
            founded_on: "2022-05-01".to_owned(),
        })
        .await
        .expect("branch");
    let target = Uuid::now_v7();
    let mut request = person(target, "赵骑手", &id_number("19980808", 88), "");
    request.party_status = pb::PartyStatus::DevelopmentTarget as i32;
    if let Some(w) = request.work.as_mut() {
        w.enterprise_id = enterprise.to_string();
    }
    app.client.register_person(request).await.expect("target");
    (branch, enterprise, target)
}

async fn membership(mut app: Running) {
    let (branch, enterprise, target) = branch_with_target(&mut app).await;
    let dir = tempfile::tempdir().expect("dir");
    let pipeline_store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("pipeline.db"),
    })
    .await
    .expect("pipeline store");
    let shutdown = Shutdown::new();
    let feed = EventFeed::in_process(
        pipeline_store.clone(),
        "pipeline",
        "organization-membership",
    )
    .await
    .expect("feed");
    let follower = MembershipFollower::new(app.store.clone(), Arc::new(SystemClock));
    tokio::spawn(follower.run(feed, shutdown.wait()));

    let candidate = Uuid::now_v7();
    let admitted = pipeline::ProbationaryMemberAdmitted {
        candidate_id: candidate.to_string(),
        person_id: target.to_string(),
        organization_id: branch.to_string(),
        admitted_on: "2026-06-01".to_owned(),
    }
    .encode_to_vec();
    pipeline_event(
        &pipeline_store,
        candidate,
        "ProbationaryMemberAdmitted",
        admitted.clone(),
    )
    .await;
    // The same admission published twice (a new event id) counts once.
    pipeline_event(
        &pipeline_store,
        candidate,
        "ProbationaryMemberAdmitted",
        admitted,
    )
    .await;
    let p = eventually(&mut app, target, |p| {
        p.party_status == pb::PartyStatus::Probationary as i32
    })
    .await;
    assert_eq!(p.affiliation_organization_id, branch.to_string());

    pipeline_event(
        &pipeline_store,
        candidate,
        "FullMembershipConfirmed",
        pipeline::FullMembershipConfirmed {
            candidate_id: candidate.to_string(),
            person_id: target.to_string(),
            organization_id: branch.to_string(),
            confirmed_on: "2027-06-01".to_owned(),
        }
        .encode_to_vec(),
    )
    .await;
    eventually(&mut app, target, |p| {
        p.party_status == pb::PartyStatus::Full as i32
    })
    .await;
    // The follower checkpoints after its last command: wait for it.
    let head = pipeline_store.head_position().await.expect("head");
    for _ in 0..200 {
        if pipeline_store
            .checkpoint("consumer.organization-membership")
            .await
            .expect("checkpoint")
            >= head
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let e = app
        .client
        .get_enterprise(pb::GetEnterpriseRequest {
            enterprise_id: enterprise.to_string(),
        })
        .await
        .expect("enterprise")
        .into_inner()
        .enterprise
        .expect("enterprise");
    let h = e.headcount.expect("headcount");
    assert_eq!(
        (h.full_members, h.probationary_members),
        (4, 0),
        "3 reported + 1 confirmed"
    );
    let o = app
        .client
        .get_party_organization(pb::GetPartyOrganizationRequest {
            organization_id: branch.to_string(),
        })
        .await
        .expect("branch")
        .into_inner()
        .organization
        .expect("organization");
    assert_eq!(
        (o.roster_full_members, o.roster_probationary_members),
        (1, 0)
    );
    assert!(!o.may_approve_members, "a branch does not approve members");

    // A confirmation for someone unknown is refused and skipped, without
    // blocking what follows.
    let stranger = Uuid::now_v7();
    pipeline_event(
        &pipeline_store,
        stranger,
        "FullMembershipConfirmed",
        pipeline::FullMembershipConfirmed {
            candidate_id: stranger.to_string(),
            person_id: Uuid::now_v7().to_string(),
            organization_id: branch.to_string(),
            confirmed_on: "2027-06-01".to_owned(),
        }
        .encode_to_vec(),
    )
    .await;
    let other = Uuid::now_v7();
    let mut request = person(other, "钱主播", &id_number("20000101", 5), "");
    request.party_status = pb::PartyStatus::DevelopmentTarget as i32;
    app.client
        .register_person(request)
        .await
        .expect("second target");
    let second = Uuid::now_v7();
    for (event_type, payload) in [
        (
            "ProbationaryMemberAdmitted",
            pipeline::ProbationaryMemberAdmitted {
                candidate_id: second.to_string(),
                person_id: other.to_string(),
                organization_id: branch.to_string(),
                admitted_on: "2026-07-01".to_owned(),
            }
            .encode_to_vec(),
        ),
        (
            "ProbationCancelled",
            pipeline::ProbationCancelled {
                candidate_id: second.to_string(),
                person_id: other.to_string(),
                organization_id: branch.to_string(),
                cancelled_on: "2026-12-01".to_owned(),
            }
            .encode_to_vec(),
        ),
    ] {
        pipeline_event(&pipeline_store, second, event_type, payload).await;
    }
    let p = eventually(&mut app, other, |p| {
        p.party_status == pb::PartyStatus::None as i32 && p.version == 3
    })
    .await;
    assert_eq!(p.affiliation_organization_id, "");
    shutdown.trigger();
}

on_both_stores!(membership);

/// Distributed: the pipeline's events travel through its outbox relay and
/// JetStream (a private server) to the follower, over PostgreSQL.
#[tokio::test]
async fn membership_over_jetstream() {
    let mut app = common::postgres().await;
    let (branch, enterprise, target) = branch_with_target(&mut app).await;
    let nats = hongxin_testkit::nats::PrivateNats::start()
        .await
        .expect("private nats-server");
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let pipeline_store = EventStore::open(&StoreConfig::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: hongxin_testkit::pg::fresh_schema(),
        max_connections: 4,
    })
    .await
    .expect("pipeline store");
    let shutdown = Shutdown::new();
    tokio::spawn(
        OutboxRelay::new(pipeline_store.clone(), js.clone(), "pipeline").run(shutdown.wait()),
    );
    let feed = EventFeed::jetstream(
        &js,
        "pipeline",
        "organization-membership",
        &Default::default(),
    )
    .await
    .expect("feed");
    tokio::spawn(
        MembershipFollower::new(app.store.clone(), Arc::new(SystemClock))
            .run(feed, shutdown.wait()),
    );
    let candidate = Uuid::now_v7();
    pipeline_event(
        &pipeline_store,
        candidate,
        "ProbationaryMemberAdmitted",
        pipeline::ProbationaryMemberAdmitted {
            candidate_id: candidate.to_string(),
            person_id: target.to_string(),
            organization_id: branch.to_string(),
            admitted_on: "2026-06-01".to_owned(),
        }
        .encode_to_vec(),
    )
    .await;
    eventually(&mut app, target, |p| {
        p.party_status == pb::PartyStatus::Probationary as i32
    })
    .await;
    let mut probationary = 0;
    for _ in 0..200 {
        let e = app
            .client
            .get_enterprise(pb::GetEnterpriseRequest {
                enterprise_id: enterprise.to_string(),
            })
            .await
            .expect("enterprise")
            .into_inner()
            .enterprise
            .expect("enterprise");
        probationary = e.headcount.map_or(0, |h| h.probationary_members);
        if probationary == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(probationary, 1, "the enterprise's headcount follows");
    shutdown.trigger();
}

async fn committee_members(mut app: Running) {
    let committee = Uuid::now_v7();
    app.client
        .register_industry_committee(pb::RegisterIndustryCommitteeRequest {
            committee_id: committee.to_string(),
            name: "交通运输行业党委".to_owned(),
            industry: pb::Industry::Transport as i32,
            lead_department: "县交通运输局".to_owned(),
        })
        .await
        .expect("committee");
    let secretary = Uuid::now_v7();
    app.client
        .register_person(person(secretary, "刘书记", &id_number("19750505", 12), ""))
        .await
        .expect("secretary");
    let member = |id: String, role: &str| pb::CommitteeMember {
        person_id: id,
        role: role.to_owned(),
    };
    let stranger = Uuid::now_v7().to_string();
    let refused = app
        .client
        .set_committee_members(pb::SetCommitteeMembersRequest {
            committee_id: committee.to_string(),
            members: vec![
                member(secretary.to_string(), "书记"),
                member(stranger, "委员"),
                member("nobody".to_owned(), "委员"),
            ],
            expected_version: 0,
        })
        .await
        .expect_err("unknown people");
    assert_eq!(
        fields(&refused),
        ["members[1].person_id", "members[2].person_id"]
    );
    let c = app
        .client
        .set_committee_members(pb::SetCommitteeMembersRequest {
            committee_id: committee.to_string(),
            members: vec![member(secretary.to_string(), "书记")],
            expected_version: 1,
        })
        .await
        .expect("members")
        .into_inner()
        .committee
        .expect("committee");
    assert_eq!(c.members, [member(secretary.to_string(), "书记")]);
    assert_eq!(c.version, 2);
}

on_both_stores!(committee_members);

/// Another service's view: references checked through the client, every
/// call bounded by its deadline even when the server never answers.
#[tokio::test]
async fn other_services_check_references_within_a_deadline() {
    use hongxin_organization::client::{Directory, References};

    let mut app = common::sqlite().await;
    let c = community(&mut app, "开发区社区").await;
    let known = Uuid::now_v7();
    app.client
        .register_person(person(known, "陈骑手", &id_number("19920202", 21), ""))
        .await
        .expect("person");
    let directory = Directory::connect_lazy(&app.url, Duration::from_secs(2))
        .expect("client")
        .with_identity(hongxin_runtime::auth::ServiceIdentity::new(
            hongxin_runtime::auth::testing::authenticator(),
            "test",
        ));
    let missing = Uuid::now_v7();
    let unknown = directory
        .unknown(&References {
            people: vec![known, missing],
            communities: vec![c],
            ..References::default()
        })
        .await
        .expect("check");
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        (unknown[0].kind.as_str(), unknown[0].id.clone()),
        ("person", missing.to_string())
    );
    let p = directory
        .person(known)
        .await
        .expect("person")
        .expect("known");
    assert_eq!(p.name, "陈骑手");
    assert!(directory.person(missing).await.expect("answer").is_none());

    // A server that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let slow = Directory::connect_lazy(&url, Duration::from_millis(300)).expect("client");
    let started = std::time::Instant::now();
    let err = slow.person(known).await.expect_err("no answer");
    assert!(
        matches!(err, hongxin_domain::CommandError::Unavailable(_)),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the deadline"
    );
}

/// Data scope: community staff read the people of their own community and
/// no other; a worker reads and exports their own record only; a dashboard
/// viewer reads no person at all.
async fn data_scope(mut app: Running) {
    use hongxin_runtime::auth::{Role, Scope, authed, testing::token_with};
    let here = community(&mut app, "晏城社区").await;
    let there = community(&mut app, "华店社区").await;
    let mut people = Vec::new();
    for (seq, c) in [(201, here), (202, there)] {
        let id = Uuid::now_v7();
        let mut request = person(id, "骑手", &id_number("19920101", seq), "");
        if let Some(w) = request.work.as_mut() {
            w.community_id = c.to_string();
        }
        app.client.register_person(request).await.expect("register");
        people.push(id);
    }
    let client = |token: String| {
        hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient::new(
            authed(app.channel.clone(), &token),
        )
    };
    let get = |id: Uuid| pb::GetPersonRequest {
        person_id: id.to_string(),
    };
    let staff = token_with(Role::CommunityStaff, Scope::community(here));
    let mut staff = client(staff);
    staff
        .get_person(get(people[0]))
        .await
        .expect("their own community");
    let elsewhere = staff
        .get_person(get(people[1]))
        .await
        .expect_err("another community");
    assert_eq!(elsewhere.code(), Code::PermissionDenied);

    let mut worker = client(token_with(Role::Worker, Scope::person(people[1])));
    worker.get_person(get(people[1])).await.expect("themselves");
    worker
        .export_personal_data(pb::ExportPersonalDataRequest {
            person_id: people[1].to_string(),
        })
        .await
        .expect("their own data");
    let other = worker
        .get_person(get(people[0]))
        .await
        .expect_err("someone else");
    assert_eq!(other.code(), Code::PermissionDenied);
    let export = worker
        .export_personal_data(pb::ExportPersonalDataRequest {
            person_id: people[0].to_string(),
        })
        .await
        .expect_err("someone else's data");
    assert_eq!(export.code(), Code::PermissionDenied);

    let mut viewer = client(hongxin_runtime::auth::testing::token(Role::DashboardViewer));
    let none = viewer
        .get_person(get(people[0]))
        .await
        .expect_err("aggregates only");
    assert_eq!(none.code(), Code::PermissionDenied);
    let anonymous = hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient::new(
        app.channel.clone(),
    )
    .get_person(get(people[0]))
    .await
    .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    // The actor of what a token does is the token's subject.
    let stream =
        hongxin_domain::CommandHandler::<hongxin_organization::person::PersonDecider>::stream_id(
            people[0],
        );
    let events = app.store.load_stream(&stream).await.expect("events");
    assert_eq!(events[0].metadata.actor, "person:test-county_admin");
}

on_both_stores!(data_scope);

/// Writes to the registry within the caller's scope: community staff
/// register and change their community's people only and do not move them
/// to another community; an industry committee likewise for its industry; a
/// worker changes their own contact. What is refused writes nothing, and a
/// refused registration claims no ID number.
async fn person_writes_scope(mut app: Running) {
    use hongxin_runtime::auth::{Role, Scope, authed, testing::token_with};
    let here = community(&mut app, "晏城社区").await;
    let there = community(&mut app, "华店社区").await;
    let client = |role: Role, scope: Scope| {
        pb::organization_service_client::OrganizationServiceClient::new(authed(
            app.channel.clone(),
            &token_with(role, scope),
        ))
    };
    let staff = |c: Uuid| client(Role::CommunityStaff, Scope::community(c));
    let committee = |industry: &str| client(Role::IndustryCommittee, Scope::industry(industry));
    fn denied<T>(result: Result<tonic::Response<T>, tonic::Status>, why: &str) {
        let status = result.map(|_| ()).expect_err(why);
        assert_eq!(status.code(), Code::PermissionDenied, "{why}: {status:?}");
    }
    let in_community = |id: Uuid, seq: u16, c: Uuid| {
        let mut request = person(id, "骑手", &id_number("19930101", seq), "");
        if let Some(w) = request.work.as_mut() {
            w.community_id = c.to_string();
        }
        request
    };

    // Registering: the community's staff, or the industry's committee.
    let refused = Uuid::now_v7();
    denied(
        staff(there)
            .register_person(in_community(refused, 301, here))
            .await,
        "registers in another community",
    );
    denied(
        committee("express")
            .register_person(in_community(refused, 301, here))
            .await,
        "registers in another industry",
    );
    let none = app
        .client
        .get_person(pb::GetPersonRequest {
            person_id: refused.to_string(),
        })
        .await
        .expect_err("nothing was registered");
    assert_eq!(none.code(), Code::NotFound);
    // The refused calls claimed no ID number: another id registers it.
    let rider = Uuid::now_v7();
    staff(here)
        .register_person(in_community(rider, 301, here))
        .await
        .expect("registers in their community");
    let courier = Uuid::now_v7();
    committee("food_delivery")
        .register_person(person(courier, "骑手", &id_number("19930101", 302), ""))
        .await
        .expect("registers in its industry");

    // Changing work: within scope, and staying there.
    let work = |c: Uuid, industry: pb::Industry| pb::ChangePersonWorkRequest {
        person_id: rider.to_string(),
        work: Some(pb::PersonWork {
            industry: industry as i32,
            platform: "饿了么".to_owned(),
            enterprise_id: String::new(),
            community_id: c.to_string(),
        }),
        expected_version: 0,
    };
    denied(
        staff(there)
            .change_person_work(work(there, pb::Industry::FoodDelivery))
            .await,
        "someone of another community",
    );
    denied(
        staff(here)
            .change_person_work(work(there, pb::Industry::FoodDelivery))
            .await,
        "moves them to another community",
    );
    denied(
        committee("express")
            .change_person_work(work(here, pb::Industry::Express))
            .await,
        "someone of another industry",
    );
    denied(
        committee("food_delivery")
            .change_person_work(work(here, pb::Industry::Express))
            .await,
        "moves them to another industry",
    );
    let flags = || pb::SetPersonFlagsRequest {
        person_id: rider.to_string(),
        union_member: true,
        mobile_member: false,
        home_organisation: String::new(),
        expected_version: 0,
    };
    denied(
        staff(there).set_person_flags(flags()).await,
        "someone of another community",
    );
    denied(
        committee("express").set_person_flags(flags()).await,
        "someone of another industry",
    );
    let contact = |phone: &str| pb::ChangePersonContactRequest {
        person_id: rider.to_string(),
        phone: phone.to_owned(),
        expected_version: 0,
    };
    denied(
        staff(there)
            .change_person_contact(contact("13905346789"))
            .await,
        "someone of another community",
    );
    let other_worker = client(Role::Worker, Scope::person(courier));
    denied(
        other_worker
            .clone()
            .change_person_contact(contact("13905346789"))
            .await,
        "someone else",
    );
    let get = || pb::GetPersonRequest {
        person_id: rider.to_string(),
    };
    let untouched = app
        .client
        .get_person(get())
        .await
        .expect("admin")
        .into_inner()
        .person
        .expect("person");
    assert_eq!(untouched.version, 1, "registered, nothing since");
    let w = untouched.work.expect("work");
    assert_eq!(
        (w.community_id, w.platform),
        (here.to_string(), "美团".to_owned())
    );
    assert!(!untouched.union_member);
    assert!(untouched.phone_masked.is_empty());

    staff(here)
        .change_person_work(work(here, pb::Industry::FoodDelivery))
        .await
        .expect("their community's person, staying in it");
    committee("food_delivery")
        .set_person_flags(flags())
        .await
        .expect("its industry's person");
    client(Role::Worker, Scope::person(rider))
        .change_person_contact(contact("13905346789"))
        .await
        .expect("their own contact");
    staff(here)
        .change_person_contact(contact("13905346780"))
        .await
        .expect("their community's person");
    let after = app
        .client
        .get_person(get())
        .await
        .expect("admin")
        .into_inner()
        .person
        .expect("person");
    assert_eq!(after.version, 5);
    assert_eq!(after.work.expect("work").platform, "饿了么");
    assert!(after.union_member);
    assert_eq!(after.phone_masked, "139****6780");
}

on_both_stores!(person_writes_scope);
