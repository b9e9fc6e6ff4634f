//! The organization service through a real tonic server on port 0, with
//! health and reflection, on SQLite (embedded default) and PostgreSQL.

mod common;

use common::{Running, community, unit};
use hongxin_proto::organization::v1 as pb;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;
use uuid::Uuid;

fn register(id: Uuid) -> pb::RegisterIndustryCommitteeRequest {
    pb::RegisterIndustryCommitteeRequest {
        committee_id: id.to_string(),
        name: "外卖行业党委".to_owned(),
        industry: pb::Industry::FoodDelivery as i32,
        lead_department: "县市场监管局".to_owned(),
    }
}

async fn round_trip(mut app: Running) {
    let id = Uuid::now_v7();
    let mut request = tonic::Request::new(register(id));
    let correlation = Uuid::now_v7().to_string();
    request
        .metadata_mut()
        .insert("x-correlation-id", correlation.parse().expect("ascii"));
    let response = app
        .client
        .register_industry_committee(request)
        .await
        .expect("register");
    assert_eq!(
        response
            .metadata()
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok()),
        Some(correlation.as_str()),
        "the correlation id comes back"
    );
    let c = response.into_inner().committee.expect("committee");
    assert_eq!((c.name.as_str(), c.version), ("外卖行业党委", 1));

    // A retry registers nothing new.
    let again = app
        .client
        .register_industry_committee(register(id))
        .await
        .expect("retry");
    assert_eq!(again.into_inner().committee.expect("committee").version, 1);

    let set = app
        .client
        .set_committee_responsibilities(pb::SetCommitteeResponsibilitiesRequest {
            committee_id: id.to_string(),
            responsibilities: vec!["组织覆盖".into(), "发展党员".into()],
            expected_version: 1,
        })
        .await
        .expect("set")
        .into_inner()
        .committee
        .expect("committee");
    assert_eq!(set.version, 2);

    let got = app
        .client
        .get_industry_committee(pb::GetIndustryCommitteeRequest {
            committee_id: id.to_string(),
        })
        .await
        .expect("get")
        .into_inner()
        .committee
        .expect("committee");
    assert_eq!(got.responsibilities, ["组织覆盖", "发展党员"]);
    assert_eq!(got.industry, pb::Industry::FoodDelivery as i32);

    // The event carries the call's correlation id.
    let events = app.store.read_all(0, 10).await.expect("read");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].metadata.correlation_id.to_string(), correlation);
    assert_eq!(events[0].event_type, "IndustryCommitteeRegistered");

    // Health and reflection answer.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "hongxin.organization.v1.OrganizationService".to_owned(),
        })
        .await
        .expect("health")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let services = list_services(app.channel.clone()).await;
    assert!(
        services
            .iter()
            .any(|s| s == "hongxin.organization.v1.OrganizationService"),
        "{services:?}"
    );
    assert!(
        services.iter().any(|s| s == "grpc.health.v1.Health"),
        "{services:?}"
    );

    app.shutdown.trigger();
    app.server.await.expect("join").expect("clean stop");
}

async fn list_services(channel: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let message = responses
        .message()
        .await
        .expect("stream")
        .expect("one response");
    match message.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

async fn bad_input(mut app: Running) {
    // Malformed id: InvalidArgument with a field violation, nothing written.
    let mut bad = register(Uuid::now_v7());
    bad.committee_id = "not-a-uuid".to_owned();
    bad.name = " ".to_owned();
    let status = app
        .client
        .register_industry_committee(bad)
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status
        .get_details_bad_request()
        .expect("details")
        .field_violations;
    assert_eq!(violations[0].field, "committee_id");

    let mut bad = register(Uuid::now_v7());
    bad.industry = 99;
    let status = app
        .client
        .register_industry_committee(bad)
        .await
        .expect_err("industry");
    assert_eq!(status.code(), Code::InvalidArgument);

    let mut bad = register(Uuid::now_v7());
    bad.name = "党".repeat(101);
    let status = app
        .client
        .register_industry_committee(bad)
        .await
        .expect_err("long name");
    assert_eq!(
        status
            .get_details_bad_request()
            .expect("details")
            .field_violations[0]
            .field,
        "name"
    );

    // Unknown committee: NotFound.
    let status = app
        .client
        .get_industry_committee(pb::GetIndustryCommitteeRequest {
            committee_id: Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("missing");
    assert_eq!(status.code(), Code::NotFound);

    // Another registration under the same id: FailedPrecondition.
    let id = Uuid::now_v7();
    app.client
        .register_industry_committee(register(id))
        .await
        .expect("register");
    let mut other = register(id);
    other.name = "快递行业党委".to_owned();
    let status = app
        .client
        .register_industry_committee(other)
        .await
        .expect_err("taken");
    assert_eq!(status.code(), Code::FailedPrecondition);

    // A stale expected version: Aborted.
    let status = app
        .client
        .set_committee_responsibilities(pb::SetCommitteeResponsibilitiesRequest {
            committee_id: id.to_string(),
            responsibilities: vec!["组织覆盖".into()],
            expected_version: 7,
        })
        .await
        .expect_err("stale");
    assert_eq!(status.code(), Code::Aborted);

    assert_eq!(
        app.store.head_position().await.expect("head"),
        1,
        "only the one good registration was written"
    );
}

on_both_stores!(round_trip);

on_both_stores!(bad_input);

async fn communities_and_enterprises(mut app: Running) {
    let community_id = Uuid::now_v7();
    let community = app
        .client
        .register_community(pb::RegisterCommunityRequest {
            community_id: community_id.to_string(),
            name: "西关社区".to_owned(),
            subdistrict: "晏城街道".to_owned(),
        })
        .await
        .expect("community")
        .into_inner()
        .community
        .expect("community");
    assert_eq!(community.version, 1);
    let member = Uuid::now_v7();
    let designated = app
        .client
        .designate_community_member(pb::DesignateCommunityMemberRequest {
            community_id: community_id.to_string(),
            person_id: member.to_string(),
            expected_version: 1,
        })
        .await
        .expect("designate")
        .into_inner()
        .community
        .expect("community");
    assert_eq!(designated.member_person_id, member.to_string());

    let parent_id = Uuid::now_v7();
    let register = |id: Uuid, parent: Option<Uuid>, industry: pb::Industry, community: Uuid| {
        pb::RegisterEnterpriseRequest {
            enterprise_id: id.to_string(),
            name: "顺丰速运齐河营业部".to_owned(),
            industry: industry as i32,
            kind: pb::EnterpriseKind::Station as i32,
            community_id: community.to_string(),
            platform_brand: "顺丰".to_owned(),
            parent_enterprise_id: parent.map(|p| p.to_string()).unwrap_or_default(),
        }
    };
    app.client
        .register_enterprise(register(
            parent_id,
            None,
            pb::Industry::Express,
            community_id,
        ))
        .await
        .expect("parent");
    let branch_id = Uuid::now_v7();
    let branch = app
        .client
        .register_enterprise(register(
            branch_id,
            Some(parent_id),
            pb::Industry::Express,
            community_id,
        ))
        .await
        .expect("branch")
        .into_inner()
        .enterprise
        .expect("enterprise");
    assert_eq!(branch.parent_enterprise_id, parent_id.to_string());

    // References must name what exists, in the same industry.
    let fields = |s: tonic::Status| {
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        s.get_details_bad_request()
            .expect("details")
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect::<Vec<_>>()
    };
    let unknown_community = register(Uuid::now_v7(), None, pb::Industry::Express, Uuid::now_v7());
    assert_eq!(
        fields(
            app.client
                .register_enterprise(unknown_community)
                .await
                .expect_err("community")
        ),
        ["community_id"]
    );
    let other_industry = register(
        Uuid::now_v7(),
        Some(parent_id),
        pb::Industry::FoodDelivery,
        community_id,
    );
    assert_eq!(
        fields(
            app.client
                .register_enterprise(other_industry)
                .await
                .expect_err("industry")
        ),
        ["parent_enterprise_id"]
    );
    let mut garbled = register(
        Uuid::now_v7(),
        None,
        pb::Industry::Unspecified,
        community_id,
    );
    garbled.enterprise_id = "x".to_owned();
    garbled.kind = 42;
    assert_eq!(
        fields(
            app.client
                .register_enterprise(garbled)
                .await
                .expect_err("garbled")
        ),
        ["enterprise_id", "industry", "kind"]
    );

    let reported = app
        .client
        .report_enterprise_headcount(pb::ReportEnterpriseHeadcountRequest {
            enterprise_id: branch_id.to_string(),
            headcount: Some(pb::Headcount {
                workers: 35,
                full_members: 3,
                probationary_members: 1,
            }),
            expected_version: 0,
        })
        .await
        .expect("headcount")
        .into_inner()
        .enterprise
        .expect("enterprise");
    assert_eq!(reported.headcount.map(|h| h.full_members), Some(3));
    let absurd = app
        .client
        .report_enterprise_headcount(pb::ReportEnterpriseHeadcountRequest {
            enterprise_id: branch_id.to_string(),
            headcount: Some(pb::Headcount {
                workers: 2,
                full_members: 3,
                probationary_members: 0,
            }),
            expected_version: 0,
        })
        .await
        .expect_err("absurd");
    assert_eq!(fields(absurd), ["headcount.full_members"]);
    let missing = app
        .client
        .get_enterprise(pb::GetEnterpriseRequest {
            enterprise_id: Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);
    // Community, designation, two enterprises, one headcount.
    assert_eq!(app.store.head_position().await.expect("head"), 5);
}

on_both_stores!(communities_and_enterprises);

async fn party_organisations(mut app: Running) {
    let community_id = community(&mut app, "东关社区").await;
    let big = unit(&mut app, community_id, 4).await;
    let mut small = Vec::new();
    for _ in 0..3 {
        small.push(unit(&mut app, community_id, 1).await);
    }
    let committee_id = Uuid::now_v7();
    let found = |id: Uuid,
                 kind: pb::PartyOrganizationKind,
                 covered: &[Uuid],
                 parent: Option<Uuid>| pb::FoundPartyOrganizationRequest {
        organization_id: id.to_string(),
        name: "外卖行业党委".to_owned(),
        kind: kind as i32,
        parent_organization_id: parent.map(|p| p.to_string()).unwrap_or_default(),
        covered_enterprise_ids: covered.iter().map(Uuid::to_string).collect(),
        secretary_person_id: String::new(),
        founded_on: "2022-05-20".to_owned(),
    };
    app.client
        .found_party_organization(found(
            committee_id,
            pb::PartyOrganizationKind::Committee,
            &[],
            None,
        ))
        .await
        .expect("committee");

    // A unit with four full members forms its own branch; a small one cannot.
    let branch_id = Uuid::now_v7();
    let branch = app
        .client
        .found_party_organization(found(
            branch_id,
            pb::PartyOrganizationKind::Branch,
            &[big],
            Some(committee_id),
        ))
        .await
        .expect("branch")
        .into_inner()
        .organization
        .expect("organization");
    assert_eq!(branch.covered_enterprise_ids, [big.to_string()]);
    let refused = app
        .client
        .found_party_organization(found(
            Uuid::now_v7(),
            pb::PartyOrganizationKind::Branch,
            &[small[0]],
            Some(committee_id),
        ))
        .await
        .expect_err("too few members");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("at least 3"),
        "{}",
        refused.message()
    );

    // The three small units form a joint branch; a retry changes nothing.
    let joint_id = Uuid::now_v7();
    let joint = found(
        joint_id,
        pb::PartyOrganizationKind::JointBranch,
        &small,
        Some(committee_id),
    );
    app.client
        .found_party_organization(joint.clone())
        .await
        .expect("joint branch");
    app.client
        .found_party_organization(joint)
        .await
        .expect("retry");
    let covered_by = app
        .client
        .get_enterprise(pb::GetEnterpriseRequest {
            enterprise_id: small[2].to_string(),
        })
        .await
        .expect("enterprise")
        .into_inner()
        .enterprise
        .expect("enterprise")
        .covered_by_organization_id;
    assert_eq!(covered_by, joint_id.to_string());

    // A covered unit cannot be covered again; a branch cannot lead others.
    let again = app
        .client
        .found_party_organization(found(
            Uuid::now_v7(),
            pb::PartyOrganizationKind::Branch,
            &[big],
            Some(committee_id),
        ))
        .await
        .expect_err("covered");
    assert!(
        again.message().contains("already covered"),
        "{}",
        again.message()
    );
    let under_branch = app
        .client
        .found_party_organization(found(
            Uuid::now_v7(),
            pb::PartyOrganizationKind::Committee,
            &[],
            Some(branch_id),
        ))
        .await
        .expect_err("parent");
    assert_eq!(under_branch.code(), Code::InvalidArgument);
    let mut bad = found(
        Uuid::now_v7(),
        pb::PartyOrganizationKind::Unspecified,
        &[],
        None,
    );
    bad.founded_on = "2022-13-40".to_owned();
    bad.covered_enterprise_ids = vec!["nope".to_owned()];
    let status = app
        .client
        .found_party_organization(bad)
        .await
        .expect_err("bad");
    let fields: Vec<String> = status
        .get_details_bad_request()
        .expect("details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["kind", "founded_on", "covered_enterprise_ids[0]"]);
}

on_both_stores!(party_organisations);

async fn report_stations(mut app: Running) {
    let community_id = community(&mut app, "北关社区").await;
    let station_id = Uuid::now_v7();
    let open = |community: Uuid| pb::OpenReportStationRequest {
        station_id: station_id.to_string(),
        name: "北关社区流动党员报到站".to_owned(),
        community_id: community.to_string(),
        address: "齐河县北关街8号".to_owned(),
        opened_on: "2022-03-01".to_owned(),
    };
    let unknown = app
        .client
        .open_report_station(open(Uuid::now_v7()))
        .await
        .expect_err("unknown community");
    assert_eq!(
        unknown
            .get_details_bad_request()
            .expect("details")
            .field_violations[0]
            .field,
        "community_id"
    );
    app.client
        .open_report_station(open(community_id))
        .await
        .expect("open");

    let (rider, driver) = (Uuid::now_v7(), Uuid::now_v7());
    for (person, on) in [(rider, "2022-04-10"), (driver, "2022-05-01")] {
        app.client
            .check_in_mobile_member(pb::CheckInMobileMemberRequest {
                station_id: station_id.to_string(),
                person_id: person.to_string(),
                home_organisation: "聊城市某村党支部".to_owned(),
                checked_in_on: on.to_owned(),
            })
            .await
            .expect("check in");
    }
    let today =
        hongxin_domain::time::format_day(hongxin_domain::time::beijing_today(chrono::Utc::now()));
    let station = app
        .client
        .record_report_home(pb::RecordReportHomeRequest {
            station_id: station_id.to_string(),
            person_id: driver.to_string(),
            reported_on: today.clone(),
        })
        .await
        .expect("report home")
        .into_inner()
        .station
        .expect("station");
    let member = |p: Uuid| {
        station
            .members
            .iter()
            .find(|m| m.person_id == p.to_string())
            .expect("member")
            .clone()
    };
    assert_eq!(member(rider).report_home_due_on, "2023-04-10");
    assert!(
        member(rider).report_home_overdue,
        "a year without a report home is overdue"
    );
    assert_eq!(member(driver).last_reported_home_on, today);
    assert!(!member(driver).report_home_overdue);

    let bad = app
        .client
        .check_in_mobile_member(pb::CheckInMobileMemberRequest {
            station_id: "nope".to_owned(),
            person_id: "nobody".to_owned(),
            home_organisation: String::new(),
            checked_in_on: "yesterday".to_owned(),
        })
        .await
        .expect_err("bad");
    let fields: Vec<String> = bad
        .get_details_bad_request()
        .expect("details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["station_id", "person_id", "checked_in_on"]);
    let out = app
        .client
        .check_out_mobile_member(pb::CheckOutMobileMemberRequest {
            station_id: station_id.to_string(),
            person_id: rider.to_string(),
            checked_out_on: "2022-04-01".to_owned(),
        })
        .await
        .expect_err("before check-in");
    assert_eq!(out.code(), Code::FailedPrecondition);
    let left = app
        .client
        .check_out_mobile_member(pb::CheckOutMobileMemberRequest {
            station_id: station_id.to_string(),
            person_id: rider.to_string(),
            checked_out_on: "2022-09-01".to_owned(),
        })
        .await
        .expect("check out")
        .into_inner()
        .station
        .expect("station");
    assert_eq!(left.members.len(), 1);
}

on_both_stores!(report_stations);

async fn vanguard(mut app: Running) {
    let community_id = community(&mut app, "南关社区").await;
    let site = |community: Uuid, enterprise: &str| pb::EstablishVanguardSiteRequest {
        site_id: Uuid::now_v7().to_string(),
        kind: pb::VanguardSiteKind::VanguardPost as i32,
        name: "红齐先锋岗".to_owned(),
        community_id: community.to_string(),
        enterprise_id: enterprise.to_owned(),
        established_on: "2022-05-01".to_owned(),
    };
    let made = app
        .client
        .establish_vanguard_site(site(community_id, ""))
        .await
        .expect("site")
        .into_inner();
    assert_eq!(made.version, 1);
    let unknown = app
        .client
        .establish_vanguard_site(site(community_id, &Uuid::now_v7().to_string()))
        .await
        .expect_err("enterprise");
    assert_eq!(
        unknown
            .get_details_bad_request()
            .expect("details")
            .field_violations[0]
            .field,
        "enterprise_id"
    );

    let convention = Uuid::now_v7();
    let sign = |person: Uuid| pb::SignConventionRequest {
        convention_id: convention.to_string(),
        title: "先锋骑士十条公约".to_owned(),
        person_id: person.to_string(),
        signed_on: "2022-05-04".to_owned(),
    };
    let rider = Uuid::now_v7();
    app.client.sign_convention(sign(rider)).await.expect("sign");
    let again = app
        .client
        .sign_convention(sign(rider))
        .await
        .expect("again")
        .into_inner();
    assert_eq!(again.signatures, 1, "signing twice counts once");
    let second = app
        .client
        .sign_convention(sign(Uuid::now_v7()))
        .await
        .expect("second")
        .into_inner();
    assert_eq!(second.signatures, 2);
    // Community, site, two signatures.
    assert_eq!(app.store.head_position().await.expect("head"), 4);
}

on_both_stores!(vanguard);

async fn governance_calendar(mut app: Running) {
    let record = |kind: pb::GovernanceDutyKind, on: &str| pb::RecordGovernanceDutyRequest {
        kind: kind as i32,
        held_on: on.to_owned(),
        minutes: "听取行业党委工作汇报".to_owned(),
        attendee_person_ids: vec![Uuid::now_v7().to_string(), Uuid::now_v7().to_string()],
    };
    let duty = app
        .client
        .record_governance_duty(record(pb::GovernanceDutyKind::JointMeeting, "2022-05-20"))
        .await
        .expect("joint meeting")
        .into_inner()
        .duty
        .expect("duty");
    assert_eq!(
        (duty.period.as_str(), duty.attendees, duty.overdue),
        ("2022-05", 2, false)
    );
    app.client
        .record_governance_duty(record(pb::GovernanceDutyKind::FieldResearch, "2022-06-15"))
        .await
        .expect("research");
    let twice = app
        .client
        .record_governance_duty(record(pb::GovernanceDutyKind::JointMeeting, "2022-05-27"))
        .await
        .expect_err("second meeting in May");
    assert_eq!(twice.code(), Code::FailedPrecondition);

    let duties = app
        .client
        .list_governance_duties(pb::ListGovernanceDutiesRequest { year: 2022 })
        .await
        .expect("list")
        .into_inner()
        .duties;
    assert_eq!(duties.len(), 12 + 4 + 2);
    let find = |period: &str| {
        duties
            .iter()
            .find(|d| d.period == period)
            .expect("period")
            .clone()
    };
    assert!(!find("2022-05").overdue && find("2022-05").held_on == "2022-05-20");
    assert!(
        find("2022-04").overdue,
        "April passed without a joint meeting"
    );
    assert!(!find("2022-Q2").overdue);
    assert!(
        find("2022-H1").overdue,
        "no department report in the first half of 2022"
    );

    let bad = app
        .client
        .record_governance_duty(pb::RecordGovernanceDutyRequest {
            kind: 0,
            held_on: "soon".to_owned(),
            minutes: String::new(),
            attendee_person_ids: vec!["x".to_owned()],
        })
        .await
        .expect_err("bad");
    let fields: Vec<String> = bad
        .get_details_bad_request()
        .expect("details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["kind", "held_on", "attendee_person_ids[0]"]);
    let year = app
        .client
        .list_governance_duties(pb::ListGovernanceDutiesRequest { year: 1900 })
        .await
        .expect_err("year");
    assert_eq!(year.code(), Code::InvalidArgument);
}

on_both_stores!(governance_calendar);

async fn shows_and_policy(mut app: Running) {
    let c = community(&mut app, "城区社区").await;
    let enterprise = unit(&mut app, c, 3).await;
    let member = Uuid::now_v7();
    let mut request = pb::RegisterPersonRequest {
        person_id: member.to_string(),
        name: "孙先锋".to_owned(),
        // GB 11643's own example number.
        id_number: "11010519491231002X".to_owned(),
        phone: String::new(),
        work: None,
        union_member: true,
        party_status: pb::PartyStatus::Full as i32,
        affiliation_organization_id: String::new(),
        mobile_member: false,
        home_organisation: String::new(),
    };
    // A member without an affiliation is refused; with an unknown one too.
    let refused = app
        .client
        .register_person(request.clone())
        .await
        .expect_err("no affiliation");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let branch = Uuid::now_v7();
    app.client
        .found_party_organization(pb::FoundPartyOrganizationRequest {
            organization_id: branch.to_string(),
            name: "城区快递党支部".to_owned(),
            kind: pb::PartyOrganizationKind::Branch as i32,
            parent_organization_id: String::new(),
            covered_enterprise_ids: vec![enterprise.to_string()],
            secretary_person_id: String::new(),
            founded_on: "2022-05-01".to_owned(),
        })
        .await
        .expect("branch");
    request.affiliation_organization_id = branch.to_string();
    app.client.register_person(request).await.expect("member");

    let show = |show: pb::VanguardShow, person: &str, enterprise: &str, commitment: &str| {
        pb::RecordVanguardShowRequest {
            show: show as i32,
            person_id: person.to_owned(),
            enterprise_id: enterprise.to_owned(),
            commitment: commitment.to_owned(),
            shown_on: "2022-07-01".to_owned(),
        }
    };
    let m = member.to_string();
    let e = enterprise.to_string();
    app.client
        .record_vanguard_show(show(pb::VanguardShow::Identity, &m, "", ""))
        .await
        .expect("identity");
    let shows = app
        .client
        .record_vanguard_show(show(pb::VanguardShow::VehicleMarking, &m, "", ""))
        .await
        .expect("marking")
        .into_inner();
    assert_eq!(
        (shows.shows.len(), shows.version),
        (2, 2),
        "both shows, once each"
    );
    app.client
        .record_vanguard_show(show(
            pb::VanguardShow::Commitment,
            "",
            &e,
            "文明骑行，守法经营",
        ))
        .await
        .expect("commitment");
    let wrong = app
        .client
        .record_vanguard_show(show(pb::VanguardShow::Commitment, &m, "", "承诺"))
        .await
        .expect_err("a person's commitment");
    assert_eq!(wrong.code(), Code::InvalidArgument);
    let outsider = Uuid::now_v7();
    app.client
        .register_person(pb::RegisterPersonRequest {
            person_id: outsider.to_string(),
            name: "周群众".to_owned(),
            id_number: "110105194912310029".to_owned(),
            phone: String::new(),
            work: None,
            union_member: false,
            party_status: pb::PartyStatus::None as i32,
            affiliation_organization_id: String::new(),
            mobile_member: false,
            home_organisation: String::new(),
        })
        .await
        .expect_err("a wrong check digit");
    let outsider_id = "370102198001010015";
    app.client
        .register_person(pb::RegisterPersonRequest {
            person_id: outsider.to_string(),
            name: "周群众".to_owned(),
            id_number: outsider_id.to_owned(),
            phone: String::new(),
            work: None,
            union_member: false,
            party_status: pb::PartyStatus::None as i32,
            affiliation_organization_id: String::new(),
            mobile_member: false,
            home_organisation: String::new(),
        })
        .await
        .expect("a non-member");
    let not_member = app
        .client
        .record_vanguard_show(show(
            pb::VanguardShow::Identity,
            &outsider.to_string(),
            "",
            "",
        ))
        .await
        .expect_err("not a member");
    assert_eq!(not_member.code(), Code::FailedPrecondition);

    let policy = Uuid::now_v7();
    let item = app
        .client
        .issue_policy_item(pb::IssuePolicyItemRequest {
            policy_id: policy.to_string(),
            kind: pb::PolicyKind::System as i32,
            title: "书记直通车".to_owned(),
            summary: "新就业群体直接向党组织书记反映诉求".to_owned(),
            issued_on: "2022-03-01".to_owned(),
        })
        .await
        .expect("issue")
        .into_inner()
        .item
        .expect("item");
    assert_eq!(
        (item.title.as_str(), item.retired_on.as_str()),
        ("书记直通车", "")
    );
    let retired = app
        .client
        .retire_policy_item(pb::RetirePolicyItemRequest {
            policy_id: policy.to_string(),
            retired_on: "2024-12-31".to_owned(),
        })
        .await
        .expect("retire")
        .into_inner()
        .item
        .expect("item");
    assert_eq!(
        (retired.retired_on.as_str(), retired.version),
        ("2024-12-31", 2)
    );
    let bad = app
        .client
        .issue_policy_item(pb::IssuePolicyItemRequest {
            policy_id: "x".to_owned(),
            kind: 9,
            title: String::new(),
            summary: String::new(),
            issued_on: "2022-13-01".to_owned(),
        })
        .await
        .expect_err("bad");
    let mut fields: Vec<String> = bad
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    fields.sort();
    assert_eq!(fields, ["issued_on", "kind", "policy_id"]);
}

on_both_stores!(shows_and_policy);

/// Enterprises within the caller's scope: an industry committee registers,
/// reports on, assigns instructors to and reads its industry's units only;
/// community staff read their community's units only.
async fn enterprise_scope(mut app: Running) {
    use hongxin_runtime::auth::{Role, Scope, authed, testing::token_with};
    let here = community(&mut app, "晏城社区").await;
    let there = community(&mut app, "华店社区").await;
    // A food-delivery station in `here` (the county's administrator).
    let station = unit(&mut app, here, 3).await;
    let client = |role: Role, scope: Scope| {
        pb::organization_service_client::OrganizationServiceClient::new(authed(
            app.channel.clone(),
            &token_with(role, scope),
        ))
    };
    let committee = |industry: &str| client(Role::IndustryCommittee, Scope::industry(industry));
    let get = || pb::GetEnterpriseRequest {
        enterprise_id: station.to_string(),
    };
    let headcount = || pb::ReportEnterpriseHeadcountRequest {
        enterprise_id: station.to_string(),
        headcount: Some(pb::Headcount {
            workers: 25,
            full_members: 3,
            probationary_members: 0,
        }),
        expected_version: 0,
    };
    let new_unit = |industry: pb::Industry| pb::RegisterEnterpriseRequest {
        enterprise_id: Uuid::now_v7().to_string(),
        name: "快递网点".to_owned(),
        industry: industry as i32,
        kind: pb::EnterpriseKind::Station as i32,
        community_id: here.to_string(),
        platform_brand: String::new(),
        parent_enterprise_id: String::new(),
    };

    let mut food = committee("food_delivery");
    food.get_enterprise(get())
        .await
        .expect("its industry's unit");
    food.report_enterprise_headcount(headcount())
        .await
        .expect("reports on it");
    food.register_enterprise(new_unit(pb::Industry::FoodDelivery))
        .await
        .expect("registers in its industry");

    let mut express = committee("express");
    let denied = express
        .get_enterprise(get())
        .await
        .expect_err("another industry");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = express
        .report_enterprise_headcount(headcount())
        .await
        .expect_err("another industry");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = express
        .assign_party_building_instructor(pb::AssignPartyBuildingInstructorRequest {
            enterprise_id: station.to_string(),
            person_id: Uuid::now_v7().to_string(),
            assigned_on: "2026-11-20".to_owned(),
        })
        .await
        .expect_err("another industry");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = express
        .register_enterprise(new_unit(pb::Industry::FoodDelivery))
        .await
        .expect_err("registers in another industry");
    assert_eq!(denied.code(), Code::PermissionDenied);
    express
        .register_enterprise(new_unit(pb::Industry::Express))
        .await
        .expect("registers in its own");

    let staff = |c: Uuid| client(Role::CommunityStaff, Scope::community(c));
    staff(here)
        .get_enterprise(get())
        .await
        .expect("their community's unit");
    let denied = staff(there)
        .get_enterprise(get())
        .await
        .expect_err("another community's unit");
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Nothing was changed by the refused calls.
    let e = app
        .client
        .get_enterprise(get())
        .await
        .expect("admin")
        .into_inner()
        .enterprise
        .expect("enterprise");
    assert_eq!(e.headcount.map(|h| h.workers), Some(25));
    assert!(e.instructor_person_id.is_empty());
}

on_both_stores!(enterprise_scope);

/// Communities, industry committees and report stations within the
/// caller's scope: community staff look up their own community and work
/// their own community's stations only; an industry committee looks up its
/// own industry's committee; a worker checks themselves in and no one else.
/// What is refused writes nothing.
async fn community_and_station_scope(mut app: Running) {
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
    let worker = |p: Uuid| client(Role::Worker, Scope::person(p));
    fn denied<T>(result: Result<tonic::Response<T>, tonic::Status>, why: &str) {
        let status = result.map(|_| ()).expect_err(why);
        assert_eq!(status.code(), Code::PermissionDenied, "{why}: {status:?}");
    }

    // Communities: staff their own; an industry committee any.
    let get_community = |c: Uuid| pb::GetCommunityRequest {
        community_id: c.to_string(),
    };
    let own = staff(here)
        .get_community(get_community(here))
        .await
        .expect("their own community")
        .into_inner()
        .community
        .expect("community");
    assert_eq!(own.name, "晏城社区");
    denied(
        staff(there).get_community(get_community(here)).await,
        "another community",
    );
    committee("express")
        .get_community(get_community(here))
        .await
        .expect("an industry committee's units lie in any community");

    // Industry committees: a committee its own industry's; staff any.
    let committee_id = Uuid::now_v7();
    app.client
        .register_industry_committee(register(committee_id))
        .await
        .expect("admin registers");
    let get_committee = || pb::GetIndustryCommitteeRequest {
        committee_id: committee_id.to_string(),
    };
    let got = committee("food_delivery")
        .get_industry_committee(get_committee())
        .await
        .expect("its own industry")
        .into_inner()
        .committee
        .expect("committee");
    assert_eq!(got.industry, pb::Industry::FoodDelivery as i32);
    denied(
        committee("express")
            .get_industry_committee(get_committee())
            .await,
        "another industry's committee",
    );
    staff(there)
        .get_industry_committee(get_committee())
        .await
        .expect("community staff look up any committee");

    // Report stations belong to their community.
    let station_id = Uuid::now_v7();
    let open = || pb::OpenReportStationRequest {
        station_id: station_id.to_string(),
        name: "晏城社区流动党员报到站".to_owned(),
        community_id: here.to_string(),
        address: "齐河县晏城街道".to_owned(),
        opened_on: "2026-03-01".to_owned(),
    };
    let get_station = || pb::GetReportStationRequest {
        station_id: station_id.to_string(),
    };
    denied(
        staff(there).open_report_station(open()).await,
        "a station in another community",
    );
    let none = app
        .client
        .get_report_station(get_station())
        .await
        .expect_err("nothing was opened");
    assert_eq!(none.code(), Code::NotFound);
    staff(here)
        .open_report_station(open())
        .await
        .expect("a station in their community");
    let (rider, driver) = (Uuid::now_v7(), Uuid::now_v7());
    let check_in = |p: Uuid| pb::CheckInMobileMemberRequest {
        station_id: station_id.to_string(),
        person_id: p.to_string(),
        home_organisation: "聊城市某村党支部".to_owned(),
        checked_in_on: "2026-04-10".to_owned(),
    };
    let report_home = |p: Uuid| pb::RecordReportHomeRequest {
        station_id: station_id.to_string(),
        person_id: p.to_string(),
        reported_on: "2026-05-01".to_owned(),
    };
    let check_out = |p: Uuid| pb::CheckOutMobileMemberRequest {
        station_id: station_id.to_string(),
        person_id: p.to_string(),
        checked_out_on: "2026-06-01".to_owned(),
    };
    app.client
        .check_in_mobile_member(check_in(rider))
        .await
        .expect("admin checks a member in");

    denied(
        staff(there).check_in_mobile_member(check_in(driver)).await,
        "another community's station",
    );
    denied(
        staff(there).record_report_home(report_home(rider)).await,
        "another community's station",
    );
    denied(
        staff(there).check_out_mobile_member(check_out(rider)).await,
        "another community's station",
    );
    denied(
        staff(there).get_report_station(get_station()).await,
        "another community's station",
    );
    denied(
        worker(driver).check_in_mobile_member(check_in(rider)).await,
        "someone else",
    );
    denied(
        worker(driver)
            .check_out_mobile_member(check_out(rider))
            .await,
        "someone else",
    );
    denied(
        committee("food_delivery")
            .get_report_station(get_station())
            .await,
        "a station is in no industry",
    );
    let untouched = app
        .client
        .get_report_station(get_station())
        .await
        .expect("admin")
        .into_inner()
        .station
        .expect("station");
    assert_eq!(untouched.version, 2, "opened, one check-in");
    let members: Vec<&str> = untouched
        .members
        .iter()
        .map(|m| m.person_id.as_str())
        .collect();
    assert_eq!(members, [rider.to_string()]);
    assert!(untouched.members[0].last_reported_home_on.is_empty());

    worker(driver)
        .check_in_mobile_member(check_in(driver))
        .await
        .expect("checks themselves in");
    staff(here)
        .record_report_home(report_home(rider))
        .await
        .expect("their community's station");
    let seen = staff(here)
        .get_report_station(get_station())
        .await
        .expect("their community's station")
        .into_inner()
        .station
        .expect("station");
    assert_eq!(seen.members.len(), 2);
    staff(here)
        .check_out_mobile_member(check_out(rider))
        .await
        .expect("their community's station");
    let after = app
        .client
        .get_report_station(get_station())
        .await
        .expect("admin")
        .into_inner()
        .station
        .expect("station");
    let members: Vec<&str> = after.members.iter().map(|m| m.person_id.as_str()).collect();
    assert_eq!(members, [driver.to_string()]);
    assert_eq!(after.version, 5);
}

on_both_stores!(community_and_station_scope);
