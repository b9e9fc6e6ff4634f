//! 组织引领: the county's policy and calendar, the industry committees,
//! communities, enterprises and their Party organisations, the people
//! registry, report stations and the vanguard.

use hongxin_proto::organization::v1 as pb;

use futures::TryStreamExt as _;

use super::world::{
    COMMITTEES, Industry, Kind, OrgKind, Person, Role, WORK_COMMITTEE, World, id, key,
};
use super::{Api, each, get, rpc, step};

const RESPONSIBILITIES: [&str; 10] = [
    "抓组织覆盖",
    "抓队伍管理",
    "抓党员发展",
    "抓教育培训",
    "抓阵地建设",
    "抓作用发挥",
    "抓关心关爱",
    "抓行业治理",
    "抓制度落实",
    "抓责任考核",
];

const MEASURES: [&str; 10] = [
    "建立新就业群体党员发展绿色通道",
    "设立流动党员报到站",
    "开放党群服务阵地",
    "推行暖新驿站全覆盖",
    "开展职业技能免费培训",
    "落实职业伤害保障",
    "推动新就业群体应入尽入工会",
    "开展困难从业人员帮扶",
    "组织夏送清凉冬送温暖",
    "评选最美新就业群体典型",
];

const ACTIONS: [&str; 5] = [
    "强基铸魂行动",
    "组织覆盖攻坚行动",
    "先锋引领行动",
    "融入治理行动",
    "暖新关爱行动",
];

const SYSTEMS: [&str; 4] = [
    "书记直通车制度",
    "行业党委书记述职评议制度",
    "党建指导员联系企业制度",
    "新业态党建工作例会制度",
];

fn industry_of(p: &Person) -> i32 {
    p.industry.map_or(0, Industry::wire)
}

fn kind_wire(kind: Kind) -> i32 {
    use pb::EnterpriseKind as W;
    match kind {
        Kind::PlatformBranch => W::PlatformBranch as i32,
        Kind::Station => W::Station as i32,
        Kind::Studio => W::Studio as i32,
        Kind::Other => W::Other as i32,
    }
}

fn org_kind_wire(kind: OrgKind) -> i32 {
    use pb::PartyOrganizationKind as W;
    match kind {
        OrgKind::Committee => W::Committee as i32,
        OrgKind::Branch => W::Branch as i32,
        OrgKind::JointBranch => W::JointBranch as i32,
    }
}

pub(crate) async fn run(api: &Api, w: &World) -> anyhow::Result<()> {
    step("社区 communities", w.communities.len(), async {
        each(api, &w.communities, |c| async move {
            rpc!(
                api,
                org.register_community(pb::RegisterCommunityRequest {
                    community_id: c.id.to_string(),
                    name: c.name.to_owned(),
                    subdistrict: c.subdistrict.to_owned(),
                })
            )?;
            Ok(())
        })
        .await
    })
    .await?;
    policy(api).await?;
    step(
        "党组织 (工委、行业党委) county and industry committees",
        5,
        async {
            found(api, w, &[WORK_COMMITTEE]).await?;
            found(api, w, &[1, 2, 3, 4]).await
        },
    )
    .await?;
    step(
        "新业态企业 enterprises and headcounts",
        w.enterprises.len(),
        async {
            // Parents first: an outlet names the enterprise it belongs to.
            let (top, outlets): (Vec<_>, Vec<_>) = w
                .enterprises
                .iter()
                .enumerate()
                .partition(|(_, e)| e.parent.is_none());
            for group in [top, outlets] {
                each(api, group, |(_, e)| async move {
                    rpc!(
                        api,
                        org.register_enterprise(pb::RegisterEnterpriseRequest {
                            enterprise_id: e.id.to_string(),
                            name: e.name.to_owned(),
                            industry: e.industry.wire(),
                            kind: kind_wire(e.kind),
                            community_id: w.communities[e.community].id.to_string(),
                            platform_brand: e.brand.to_owned(),
                            parent_enterprise_id: e
                                .parent
                                .map(|p| w.enterprises[p].id.to_string())
                                .unwrap_or_default(),
                        })
                    )?;
                    Ok(())
                })
                .await?;
            }
            // Reported once: the membership follower moves the count later,
            // and a second report of the first figures would undo that.
            each(api, &w.enterprises, |e| async move {
                rpc!(
                    api,
                    org.report_enterprise_headcount(pb::ReportEnterpriseHeadcountRequest {
                        enterprise_id: e.id.to_string(),
                        headcount: Some(pb::Headcount {
                            workers: e.workers,
                            full_members: e.full_members,
                            probationary_members: 0,
                        }),
                        expected_version: 0,
                    }),
                    key = key(format_args!("headcount/{}", e.id))
                )?;
                Ok(())
            })
            .await
        },
    )
    .await?;
    let branches: Vec<usize> = (5..w.orgs.len()).collect();
    step(
        "企业党组织 enterprise Party organisations",
        branches.len(),
        found(api, w, &branches),
    )
    .await?;
    step("人员 people registry", w.people.len(), async {
        each(api, &w.people, |p| register(api, w, p)).await
    })
    .await?;
    tokio::try_join!(
        committees(api, w),
        communities(api, w),
        stations(api, w),
        vanguard(api, w),
        governance(api, w),
        instructors(api, w),
    )?;
    Ok(())
}

async fn found(api: &Api, w: &World, orgs: &[usize]) -> anyhow::Result<()> {
    each(api, orgs, |&i| async move {
        let o = &w.orgs[i];
        rpc!(
            api,
            org.found_party_organization(pb::FoundPartyOrganizationRequest {
                organization_id: o.id.to_string(),
                name: o.name.clone(),
                kind: org_kind_wire(o.kind),
                parent_organization_id: o
                    .parent
                    .map(|p| w.orgs[p].id.to_string())
                    .unwrap_or_default(),
                covered_enterprise_ids: o
                    .covered
                    .iter()
                    .map(|e| w.enterprises[*e].id.to_string())
                    .collect(),
                secretary_person_id: String::new(),
                founded_on: o.founded_on.to_owned(),
            })
        )?;
        Ok(())
    })
    .await
}

async fn register(api: &Api, w: &World, p: &Person) -> anyhow::Result<()> {
    // A person's Party status moves on with the pipeline; registering them
    // again with the first status would be refused as different, so a
    // person already on the registry is left as they are.
    let known = get!(
        api,
        org.get_person(pb::GetPersonRequest {
            person_id: p.id.to_string(),
        })
    )?;
    if known.is_some_and(|r| r.person.is_some()) {
        return Ok(());
    }
    let status = if p.full_member {
        pb::PartyStatus::Full
    } else {
        pb::PartyStatus::None
    };
    rpc!(
        api,
        org.register_person(pb::RegisterPersonRequest {
            person_id: p.id.to_string(),
            name: p.who.name.clone(),
            id_number: p.who.id_number.clone(),
            phone: p.who.phone.clone(),
            work: Some(pb::PersonWork {
                industry: industry_of(p),
                platform: p.platform.to_owned(),
                enterprise_id: p
                    .enterprise
                    .map(|e| w.enterprises[e].id.to_string())
                    .unwrap_or_default(),
                community_id: p
                    .community
                    .map(|c| w.communities[c].id.to_string())
                    .unwrap_or_default(),
            }),
            union_member: p.union_member,
            party_status: status as i32,
            affiliation_organization_id: p
                .affiliation
                .map(|o| w.orgs[o].id.to_string())
                .unwrap_or_default(),
            mobile_member: p.home_organisation.is_some(),
            home_organisation: p.home_organisation.clone().unwrap_or_default(),
        })
    )?;
    Ok(())
}

async fn policy(api: &Api) -> anyhow::Result<()> {
    let items: Vec<(pb::PolicyKind, &str, &str, &str)> = MEASURES
        .iter()
        .map(|t| {
            (
                pb::PolicyKind::Measure,
                *t,
                "“暖新”十条措施之一",
                "2022-02-25",
            )
        })
        .chain(ACTIONS.iter().map(|t| {
            (
                pb::PolicyKind::Action,
                *t,
                "新业态新就业群体党建五大行动之一",
                "2022-03-01",
            )
        }))
        .chain(SYSTEMS.iter().map(|t| {
            (
                pb::PolicyKind::System,
                *t,
                "两新组织工委四项工作制度之一",
                "2022-03-01",
            )
        }))
        .collect();
    step("政策 measures, actions, systems", items.len(), async {
        each(api, &items, |(kind, title, summary, on)| async move {
            rpc!(
                api,
                org.issue_policy_item(pb::IssuePolicyItemRequest {
                    policy_id: id("policy", title).to_string(),
                    kind: *kind as i32,
                    title: (*title).to_owned(),
                    summary: (*summary).to_owned(),
                    issued_on: (*on).to_owned(),
                })
            )?;
            Ok(())
        })
        .await
    })
    .await
}

async fn committees(api: &Api, w: &World) -> anyhow::Result<()> {
    step("行业党委 industry committees", 4, async {
        each(api, Industry::ALL, |industry| async move {
            let (name, department) = COMMITTEES[industry.index()];
            let committee_id = id("committee", name).to_string();
            rpc!(
                api,
                org.register_industry_committee(pb::RegisterIndustryCommitteeRequest {
                    committee_id: committee_id.clone(),
                    name: name.to_owned(),
                    industry: industry.wire(),
                    lead_department: department.to_owned(),
                })
            )?;
            rpc!(
                api,
                org.set_committee_responsibilities(pb::SetCommitteeResponsibilitiesRequest {
                    committee_id: committee_id.clone(),
                    responsibilities: RESPONSIBILITIES.iter().map(|r| (*r).to_owned()).collect(),
                    expected_version: 0,
                }),
                key = key(format_args!("committee-responsibilities/{committee_id}"))
            )?;
            let members = w.with_role(|r| {
                *r == Role::CommitteeMember {
                    industry: industry.index(),
                }
            });
            rpc!(
                api,
                org.set_committee_members(pb::SetCommitteeMembersRequest {
                    committee_id: committee_id.clone(),
                    members: members
                        .iter()
                        .zip(["书记", "副书记", "委员"])
                        .map(|(p, role)| pb::CommitteeMember {
                            person_id: p.id.to_string(),
                            role: role.to_owned(),
                        })
                        .collect(),
                    expected_version: 0,
                }),
                key = key(format_args!("committee-members/{committee_id}"))
            )?;
            Ok(())
        })
        .await
    })
    .await
}

async fn communities(api: &Api, w: &World) -> anyhow::Result<()> {
    let members = w.with_role(|r| matches!(r, Role::CommunityMember { .. }));
    step(
        "社区专职委员 full-time community members",
        members.len(),
        async {
            each(api, members, |p| async move {
                let Role::CommunityMember { community } = p.role else {
                    return Ok(());
                };
                let c = &w.communities[community];
                rpc!(
                    api,
                    org.designate_community_member(pb::DesignateCommunityMemberRequest {
                        community_id: c.id.to_string(),
                        person_id: p.id.to_string(),
                        expected_version: 0,
                    }),
                    key = key(format_args!("designate/{}", c.id))
                )?;
                Ok(())
            })
            .await
        },
    )
    .await
}

async fn stations(api: &Api, w: &World) -> anyhow::Result<()> {
    let mobile: Vec<&Person> = w
        .people
        .iter()
        .filter(|p| p.home_organisation.is_some())
        .collect();
    step(
        "流动党员报到站 report stations, check-ins, reports home",
        w.communities.len(),
        async {
            each(api, w.communities.iter().enumerate(), |(i, c)| {
                let mobile = &mobile;
                async move {
                    let station_id = id("station", c.name).to_string();
                    let opened_on = format!("2022-03-{:02}", 1 + i);
                    rpc!(
                        api,
                        org.open_report_station(pb::OpenReportStationRequest {
                            station_id: station_id.clone(),
                            name: format!("{}流动党员报到站", c.name),
                            community_id: c.id.to_string(),
                            address: format!("齐河县{}{}党群服务中心一楼", c.subdistrict, c.name),
                            opened_on: opened_on.clone(),
                        })
                    )?;
                    // One station's members one after another: they share
                    // its record.
                    for (k, p) in mobile.iter().enumerate().filter(|(k, _)| k % 20 == i) {
                        let checked_in_on = format!("2022-04-{:02}", 1 + k % 28);
                        rpc!(
                            api,
                            org.check_in_mobile_member(pb::CheckInMobileMemberRequest {
                                station_id: station_id.clone(),
                                person_id: p.id.to_string(),
                                home_organisation: p.home_organisation.clone().unwrap_or_default(),
                                checked_in_on,
                            }),
                            key = key(format_args!("check-in/{station_id}/{}", p.id))
                        )?;
                        rpc!(
                            api,
                            org.record_report_home(pb::RecordReportHomeRequest {
                                station_id: station_id.clone(),
                                person_id: p.id.to_string(),
                                reported_on: "2022-07-01".to_owned(),
                            }),
                            key = key(format_args!("report-home/{station_id}/{}", p.id))
                        )?;
                    }
                    Ok(())
                }
            })
            .await
        },
    )
    .await
}

async fn vanguard(api: &Api, w: &World) -> anyhow::Result<()> {
    const PLACES: [&str; 5] = [
        "商圈取餐点",
        "小区快递驿站",
        "学校门口",
        "医院东门",
        "农贸市场",
    ];
    // name, kind, community, enterprise, established on
    let mut sites: Vec<(String, pb::VanguardSiteKind, usize, Option<usize>, String)> =
        [8, 0, 2, 9, 16]
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let unit = &w.enterprises[*e];
                (
                    format!("{}党员示范站点", unit.name),
                    pb::VanguardSiteKind::DemonstrationStation,
                    unit.community,
                    Some(*e),
                    format!("2022-05-{:02}", 10 + k),
                )
            })
            .collect();
    let hosts: Vec<usize> = (0..w.enterprises.len())
        .filter(|e| w.covering(*e).is_some())
        .collect();
    for n in 0..102 {
        let (c, place) = (n % 20, n / 20);
        let community = &w.communities[c];
        let name = match PLACES.get(place) {
            Some(p) => format!("红齐先锋岗·{}{}", community.name, p),
            None => format!("红齐先锋岗·{}党群服务中心", community.name),
        };
        sites.push((
            name,
            pb::VanguardSiteKind::VanguardPost,
            c,
            Some(hosts[n % hosts.len()]),
            format!("2022-{:02}-{:02}", 5 + n % 4, 1 + n % 28),
        ));
    }
    step("示范站点、先锋岗 vanguard sites", sites.len(), async {
        each(api, &sites, |(name, kind, c, e, on)| async move {
            rpc!(
                api,
                org.establish_vanguard_site(pb::EstablishVanguardSiteRequest {
                    site_id: id("vanguard-site", name).to_string(),
                    kind: *kind as i32,
                    name: name.clone(),
                    community_id: w.communities[*c].id.to_string(),
                    enterprise_id: e
                        .map(|e| w.enterprises[e].id.to_string())
                        .unwrap_or_default(),
                    established_on: on.clone(),
                })
            )?;
            Ok(())
        })
        .await
    })
    .await?;

    // The members show identity, and those on the road their vehicle's
    // marking; the covered enterprises show their commitment.
    let members = w.with_role(|r| matches!(r, Role::EnterpriseMember { .. }));
    let shows = step("三亮 identity, marking, commitment", members.len(), async {
        each(api, &members, |p| async move {
            let on_the_road = p.industry != Some(Industry::LiveCommerce);
            let mine = [pb::VanguardShow::Identity, pb::VanguardShow::VehicleMarking];
            for show in mine.iter().take(if on_the_road { 2 } else { 1 }) {
                rpc!(
                    api,
                    org.record_vanguard_show(pb::RecordVanguardShowRequest {
                        show: *show as i32,
                        person_id: p.id.to_string(),
                        enterprise_id: String::new(),
                        commitment: String::new(),
                        shown_on: "2022-05-04".to_owned(),
                    }),
                    key = key(format_args!("show/{}/{}", p.id, *show as i32))
                )?;
            }
            Ok(())
        })
        .await?;
        each(api, &hosts, |&e| async move {
            let unit = &w.enterprises[e];
            rpc!(
                api,
                org.record_vanguard_show(pb::RecordVanguardShowRequest {
                    show: pb::VanguardShow::Commitment as i32,
                    person_id: String::new(),
                    enterprise_id: unit.id.to_string(),
                    commitment: "诚信经营、安全配送、文明出行，党员带头当先锋".to_owned(),
                    shown_on: "2022-05-04".to_owned(),
                }),
                key = key(format_args!("show/{}/commitment", unit.id))
            )?;
            Ok(())
        })
        .await
    });
    // The riders', couriers' and drivers' convention, signed by the
    // members and by many who are not.
    let signers: Vec<&Person> = w
        .shuffled_staff()
        .into_iter()
        .filter(|p| p.industry != Some(Industry::LiveCommerce))
        .take(160)
        .collect();
    let convention = id("convention", "先锋骑士十条公约").to_string();
    let sign = step("《先锋骑士十条公约》 signatures", signers.len(), async {
        // One record takes every signature: a few at a time.
        futures::stream::iter(signers.iter().map(Ok::<_, anyhow::Error>))
            .try_for_each_concurrent(4, |p| {
                let convention = &convention;
                async move {
                    rpc!(
                        api,
                        org.sign_convention(pb::SignConventionRequest {
                            convention_id: convention.clone(),
                            title: "“先锋骑士”十条公约".to_owned(),
                            person_id: p.id.to_string(),
                            signed_on: format!("2022-06-{:02}", 1 + p.index % 28),
                        }),
                        key = key(format_args!("sign/{convention}/{}", p.id))
                    )?;
                    Ok(())
                }
            })
            .await
    });
    tokio::try_join!(shows, sign)?;
    Ok(())
}

async fn governance(api: &Api, w: &World) -> anyhow::Result<()> {
    let attendees: Vec<String> = w
        .with_role(|r| {
            matches!(
                r,
                Role::WorkCommitteeSecretary | Role::CommitteeMember { .. }
            )
        })
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    let mut duties: Vec<(pb::GovernanceDutyKind, String, String)> = (1..=12)
        .map(|m| {
            (
                pb::GovernanceDutyKind::JointMeeting,
                format!("2022-{m:02}-{:02}", 10 + m % 5),
                format!("{m}月联席会议：研究新业态新就业群体党建重点任务"),
            )
        })
        .collect();
    for q in 0..4 {
        duties.push((
            pb::GovernanceDutyKind::FieldResearch,
            format!("2022-{:02}-20", 3 * q + 2),
            format!("第{}季度到快递、外卖、直播电商、交通运输一线调研", q + 1),
        ));
    }
    for (h, month) in [(1, 6), (2, 12)] {
        duties.push((
            pb::GovernanceDutyKind::DepartmentReport,
            format!("2022-{month:02}-28"),
            format!(
                "{}半年行业部门党建工作述职",
                if h == 1 { "上" } else { "下" }
            ),
        ));
    }
    step(
        "工委联席会议、调研、述职 governance duties",
        duties.len(),
        async {
            each(api, &duties, |(kind, held_on, minutes)| {
                let attendees = &attendees;
                async move {
                    rpc!(
                        api,
                        org.record_governance_duty(pb::RecordGovernanceDutyRequest {
                            kind: *kind as i32,
                            held_on: held_on.clone(),
                            minutes: minutes.clone(),
                            attendee_person_ids: attendees.clone(),
                        }),
                        key = key(format_args!("duty/{}/{held_on}", *kind as i32))
                    )?;
                    Ok(())
                }
            })
            .await
        },
    )
    .await
}

async fn instructors(api: &Api, w: &World) -> anyhow::Result<()> {
    // The units with no member and no organisation: a committee member of
    // their industry instructs each.
    let uncovered: Vec<usize> = (0..w.enterprises.len())
        .filter(|e| w.covering(*e).is_none())
        .collect();
    step("党建指导员 instructors", uncovered.len(), async {
        each(api, uncovered.iter().enumerate(), |(k, &e)| async move {
            let unit = &w.enterprises[e];
            let members = w.with_role(|r| {
                *r == Role::CommitteeMember {
                    industry: unit.industry.index(),
                }
            });
            let instructor = members[k % members.len()];
            rpc!(
                api,
                org.assign_party_building_instructor(pb::AssignPartyBuildingInstructorRequest {
                    enterprise_id: unit.id.to_string(),
                    person_id: instructor.id.to_string(),
                    assigned_on: "2022-05-16".to_owned(),
                }),
                key = key(format_args!("instructor/{}", unit.id))
            )?;
            Ok(())
        })
        .await
    })
    .await
}
