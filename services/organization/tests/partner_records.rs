//! Records from the union and the HR bureau, one call per record, through
//! a real server on both stores: bad input is InvalidArgument naming every
//! field and writes nothing; an unknown ID number is NotFound; the same
//! record twice writes once; `validate_only` writes nothing.

mod common;

use common::Running;
use hongxin_proto::organization::v1 as pb;
use hongxin_testkit::people::id_number;
use tonic::Code;
use tonic_types::StatusExt as _;

fn claim(seq: u16, status: pb::InjuryClaimStatus, paid_fen: i64) -> pb::RecordInjuryClaimRequest {
    pb::RecordInjuryClaimRequest {
        record: Some(pb::PartnerRecord {
            id_number: id_number("19880808", seq),
            name: "刘一".to_owned(),
            record_id: "GS-2026-0001".to_owned(),
        }),
        status: status as i32,
        accident_on: "2026-04-01".to_owned(),
        status_on: "2026-04-02".to_owned(),
        paid_fen,
        validate_only: false,
    }
}

async fn partner_records(mut app: Running) {
    let person = common::person(&mut app, "刘一", "19880808", 1).await;
    let head = app.store.head_position().await.expect("head");

    // Every bad field at once, nothing written.
    let mut bad = claim(1, pb::InjuryClaimStatus::Reported, 500);
    bad.status_on = "2999-01-01".to_owned();
    if let Some(r) = bad.record.as_mut() {
        r.record_id = "has spaces".to_owned();
    }
    let status = app
        .client
        .record_injury_claim(bad)
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
    assert_eq!(fields, ["record.record_id", "status_on"], "{status:?}");
    let mut bad_id = claim(1, pb::InjuryClaimStatus::Reported, 0);
    if let Some(r) = bad_id.record.as_mut() {
        r.id_number = format!("{}0", &r.id_number[..17]);
        if r.id_number == id_number("19880808", 1) {
            r.id_number = format!("{}1", &r.id_number[..17]);
        }
    }
    let status = app
        .client
        .record_injury_claim(bad_id)
        .await
        .expect_err("check digit");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        !status.message().contains("19880808"),
        "no ID number in answers"
    );
    let status = app
        .client
        .record_injury_claim(claim(1, pb::InjuryClaimStatus::Paid, 0))
        .await
        .expect_err("a paid claim pays something");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(app.store.head_position().await.expect("head"), head);

    // Nobody has this ID number.
    let status = app
        .client
        .record_injury_claim(claim(2, pb::InjuryClaimStatus::Reported, 0))
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);

    // validate_only checks and writes nothing.
    let mut check = claim(1, pb::InjuryClaimStatus::Reported, 0);
    check.validate_only = true;
    let answer = app
        .client
        .record_injury_claim(check)
        .await
        .expect("valid")
        .into_inner();
    assert_eq!(
        (answer.person_id.as_str(), answer.unchanged),
        (person.to_string().as_str(), false)
    );
    assert_eq!(app.store.head_position().await.expect("head"), head);

    // Written once, whatever idempotency key the caller sends.
    let first = app
        .client
        .record_injury_claim(claim(1, pb::InjuryClaimStatus::Reported, 0))
        .await
        .expect("recorded")
        .into_inner();
    assert!(!first.unchanged);
    let after = app.store.head_position().await.expect("head");
    assert_eq!(after, head + 1);
    let mut again = tonic::Request::new(claim(1, pb::InjuryClaimStatus::Reported, 0));
    again
        .metadata_mut()
        .insert("idempotency-key", "another-key".parse().expect("ascii"));
    let second = app
        .client
        .record_injury_claim(again)
        .await
        .expect("again")
        .into_inner();
    assert!(second.unchanged);
    assert_eq!(app.store.head_position().await.expect("head"), after);

    // The claim's newer status is a new fact; an older one is refused.
    let paid = app
        .client
        .record_injury_claim(claim(1, pb::InjuryClaimStatus::Paid, 880_000))
        .await
        .expect("paid")
        .into_inner();
    assert!(!paid.unchanged);
    let mut older = claim(1, pb::InjuryClaimStatus::Confirmed, 0);
    older.status_on = "2026-04-03".to_owned();
    let status = app
        .client
        .record_injury_claim(older)
        .await
        .expect_err("older");
    assert_eq!(status.code(), Code::FailedPrecondition);

    // The union's confirmation sets the flag once.
    let confirm = || pb::ConfirmUnionMembershipRequest {
        record: Some(pb::PartnerRecord {
            id_number: id_number("19880808", 1),
            name: String::new(),
            record_id: "HY-77".to_owned(),
        }),
        joined_on: "2026-01-05".to_owned(),
        validate_only: false,
    };
    let first = app
        .client
        .confirm_union_membership(confirm())
        .await
        .expect("confirmed")
        .into_inner();
    assert!(!first.unchanged);
    let second = app
        .client
        .confirm_union_membership(confirm())
        .await
        .expect("again")
        .into_inner();
    assert!(second.unchanged);
    let found = app
        .client
        .find_person_by_id_number(pb::FindPersonByIdNumberRequest {
            id_number: id_number("19880808", 1),
        })
        .await
        .expect("found")
        .into_inner()
        .person
        .expect("person");
    assert!(found.union_member);
    assert_eq!(found.person_id, person.to_string());

    // An erased person's ID number names nobody any more.
    app.client
        .erase_person(pb::ErasePersonRequest {
            person_id: person.to_string(),
            reason: "本人申请".to_owned(),
        })
        .await
        .expect("erased");
    let status = app
        .client
        .find_person_by_id_number(pb::FindPersonByIdNumberRequest {
            id_number: id_number("19880808", 1),
        })
        .await
        .expect_err("erased");
    assert_eq!(status.code(), Code::NotFound);
}

on_both_stores!(partner_records);
