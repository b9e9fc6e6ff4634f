//! What hongxin files with a partner for a worker, through a real
//! server on both stores: a worker files for themselves and nobody else;
//! the same filing twice is one event; bad input is InvalidArgument naming
//! every field and writes nothing, as does `validate_only`; an unknown
//! person is NotFound and an erased one FailedPrecondition.

mod common;

use common::Running;
use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_runtime::auth::{Role, Scope, authed, testing::token_with};
use tonic::Code;
use tonic_types::StatusExt as _;
use uuid::Uuid;

fn accident(person: Uuid) -> pb::ReportAccidentRequest {
    pb::ReportAccidentRequest {
        person_id: person.to_string(),
        accident_on: "2026-05-01".to_owned(),
        platform: "美团".to_owned(),
        kind: pb::AccidentKind::Fall as i32,
        validate_only: false,
    }
}

fn filing(person: Uuid) -> pb::FileEmploymentRegistrationRequest {
    pb::FileEmploymentRegistrationRequest {
        person_id: person.to_string(),
        occupation: "网约配送员".to_owned(),
        validate_only: false,
    }
}

async fn filings(mut app: Running) {
    let me = common::person(&mut app, "赵六", "19950505", 1).await;
    let someone_else = common::person(&mut app, "赵六", "19950505", 2).await;
    let mut worker = OrganizationServiceClient::new(authed(
        app.channel.clone(),
        &token_with(Role::Worker, Scope::person(me)),
    ));
    let head = app.store.head_position().await.expect("head");

    // Every bad field at once, nothing written.
    let status = worker
        .report_accident(pb::ReportAccidentRequest {
            person_id: "nobody".to_owned(),
            accident_on: "2999-01-01".to_owned(),
            platform: " ".to_owned(),
            kind: 99,
            validate_only: false,
        })
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = status
        .get_details_bad_request()
        .expect("details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        ["person_id", "accident_on", "platform", "kind"],
        "{status:?}"
    );
    // A worker files for themselves only; nobody is NotFound.
    let status = worker
        .report_accident(accident(someone_else))
        .await
        .expect_err("someone else");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .client
        .file_employment_registration(filing(Uuid::now_v7()))
        .await
        .expect_err("nobody");
    assert_eq!(status.code(), Code::NotFound);
    // A dry run answers and writes nothing.
    let dry = worker
        .report_accident(pb::ReportAccidentRequest {
            validate_only: true,
            ..accident(me)
        })
        .await
        .expect("dry run")
        .into_inner();
    assert!(!dry.unchanged);
    assert_eq!(app.store.head_position().await.expect("head"), head);

    // Filed twice, written once, under one id.
    let first = worker
        .report_accident(accident(me))
        .await
        .expect("reported")
        .into_inner();
    let again = worker
        .report_accident(accident(me))
        .await
        .expect("again")
        .into_inner();
    assert!(!first.unchanged);
    assert!(again.unchanged);
    assert_eq!(first.report_id, dry.report_id);
    assert_eq!(first.report_id, again.report_id);
    for unchanged in [false, true] {
        let applied = worker
            .apply_to_join_union(pb::ApplyToJoinUnionRequest {
                person_id: me.to_string(),
                validate_only: false,
            })
            .await
            .expect("applied")
            .into_inner();
        assert_eq!(applied.unchanged, unchanged);
    }
    let filed = worker
        .file_employment_registration(filing(me))
        .await
        .expect("filed")
        .into_inner();
    assert!(!filed.unchanged);
    let stream = hongxin_eventstore::StreamId::new("filings", me);
    let events = app
        .store
        .read_stream(&stream, 0, 100)
        .await
        .expect("stream");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "AccidentReported",
            "UnionMembershipApplied",
            "EmploymentRegistrationFiled"
        ]
    );

    // Nothing is filed for an erased person.
    app.client
        .erase_person(pb::ErasePersonRequest {
            person_id: someone_else.to_string(),
            reason: "本人申请".to_owned(),
        })
        .await
        .expect("erased");
    let status = app
        .client
        .file_employment_registration(filing(someone_else))
        .await
        .expect_err("erased");
    assert_eq!(status.code(), Code::FailedPrecondition);
}

on_both_stores!(filings);
