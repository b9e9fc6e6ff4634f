//! 机制引领: grids of the 20 communities, 43 food-delivery riders appointed
//! part-time grid workers, and their snap-and-report cases — 86 garbage
//! piles and 37 elevator faults — through the whole workflow.

use hongxin_proto::grid::v1 as pb;

use super::people::mix;
use super::world::{Person, Role, World, id, key};
use super::{Api, each, get, rpc, step};

pub(crate) const GARBAGE: &str = "garbage_pile";
pub(crate) const ELEVATOR: &str = "elevator_fault";

/// code, name, SLA working hours, department.
const CATEGORIES: [(&str, &str, u32, &str); 5] = [
    (GARBAGE, "垃圾堆放", 8, "县综合行政执法局"),
    (ELEVATOR, "电梯故障", 4, "县市场监督管理局"),
    ("road_damage", "道路破损", 24, "县住房和城乡建设局"),
    ("illegal_parking", "车辆乱停乱放", 8, "县综合行政执法局"),
    ("market_order", "占道经营", 8, "县市场监督管理局"),
];

const GARBAGE_SPOTS: [&str; 8] = [
    "小区东门垃圾桶旁",
    "农贸市场北侧空地",
    "沿街商铺后巷",
    "老旧小区楼道口",
    "学校南侧绿化带",
    "建筑工地围挡外",
    "公交站台旁",
    "河堤步道入口",
];

const ELEVATOR_FAULTS: [&str; 5] = [
    "电梯停在两层之间，有人被困",
    "电梯门无法正常关闭",
    "电梯运行时异响、抖动",
    "电梯按键失灵，无法到达高层",
    "电梯长时间停运，老人上下楼困难",
];

pub(crate) async fn run(api: &Api, w: &World) -> anyhow::Result<()> {
    step("案件类别 case categories", CATEGORIES.len(), async {
        each(
            api,
            CATEGORIES,
            |(code, name, sla, department)| async move {
                rpc!(
                    api,
                    grid.define_case_category(pb::DefineCaseCategoryRequest {
                        code: code.to_owned(),
                        name: name.to_owned(),
                        sla_hours: sla,
                        default_department: department.to_owned(),
                    }),
                    key = key(format_args!("category/{code}"))
                )?;
                Ok(())
            },
        )
        .await
    })
    .await?;
    step("网格 grids", w.communities.len(), async {
        each(
            api,
            w.communities.iter().enumerate(),
            |(c, community)| async move {
                let (x, y, r) = (community.longitude, community.latitude, 0.0055);
                let member = w
                    .with_role(|role| *role == Role::CommunityMember { community: c })
                    .first()
                    .map(|p| p.id.to_string())
                    .unwrap_or_default();
                rpc!(
                    api,
                    grid.define_grid(pb::DefineGridRequest {
                        grid_id: id("grid", community.name).to_string(),
                        community_id: community.id.to_string(),
                        name: format!("{}第一网格", community.name),
                        polygon: [(-r, -r), (r, -r), (r, r), (-r, r)]
                            .iter()
                            .map(|(dx, dy)| pb::Point {
                                longitude: x + dx,
                                latitude: y + dy,
                            })
                            .collect(),
                        datum: pb::Datum::Wgs84 as i32,
                        full_time_worker_person_id: member,
                    }),
                    key = key(format_args!("grid/{}", community.id))
                )?;
                Ok(())
            },
        )
        .await
    })
    .await?;
    let workers = w.grid_workers();
    step("兼职网格员 part-time grid workers", workers.len(), async {
        each(api, workers.iter().enumerate(), |(k, p)| appoint(api, k, p)).await
    })
    .await?;
    let cases: Vec<(usize, &str)> = (0..86)
        .map(|i| (i, GARBAGE))
        .chain((0..37).map(|i| (i, ELEVATOR)))
        .collect();
    step(
        "随手拍 cases reported → accepted → dispatched → acknowledged → resolved → verified, closed",
        cases.len(),
        async {
            each(api, &cases, |(i, category)| {
                let workers = &workers;
                async move { case(api, w, workers, *i, category).await }
            })
            .await
        },
    )
    .await?;
    recognition(api, w).await
}

/// The year's "most beautiful" courier, rider and ride-hailing driver:
/// nominations, review, public votes, winners.
async fn recognition(api: &Api, w: &World) -> anyhow::Result<()> {
    use super::world::Industry;
    let campaigns = [
        (
            pb::RecognitionKind::Courier,
            Industry::Express,
            "最美快递员",
            "风雨无阻，投递零差错，热心帮助独居老人",
        ),
        (
            pb::RecognitionKind::Rider,
            Industry::FoodDelivery,
            "最美外卖小哥",
            "随手拍上报隐患，协助解决垃圾堆放、电梯故障问题",
        ),
        (
            pb::RecognitionKind::Driver,
            Industry::Transport,
            "最美网约车驾驶员",
            "拾金不昧，深夜护送急病乘客就医",
        ),
    ];
    let staff = w.shuffled_staff();
    step(
        "榜样激励 the year's most beautiful, nominated and voted",
        campaigns.len(),
        async {
            each(api, campaigns, |(kind, industry, title, citation)| {
                let staff = &staff;
                async move {
                    let campaign_id = id("recognition", title).to_string();
                    let nominees: Vec<&Person> = staff
                        .iter()
                        .filter(|p| p.industry == Some(industry))
                        .take(6)
                        .copied()
                        .collect();
                    let voters: Vec<&Person> = staff.iter().rev().take(40).copied().collect();
                    let k = |what: std::fmt::Arguments<'_>| {
                        key(format_args!("recognition/{campaign_id}/{what}"))
                    };
                    rpc!(
                        api,
                        grid.open_recognition(pb::OpenRecognitionRequest {
                            campaign_id: campaign_id.clone(),
                            year: 2022,
                            kind: kind as i32,
                            winners: 3,
                        }),
                        key = k(format_args!("open"))
                    )?;
                    // One campaign is one record: its steps in turn.
                    for p in &nominees {
                        rpc!(
                            api,
                            grid.nominate_candidate(pb::NominateCandidateRequest {
                                campaign_id: campaign_id.clone(),
                                person_id: p.id.to_string(),
                                citation: citation.to_owned(),
                            }),
                            key = k(format_args!("nominate/{}", p.id))
                        )?;
                        rpc!(
                            api,
                            grid.review_candidate(pb::ReviewCandidateRequest {
                                campaign_id: campaign_id.clone(),
                                person_id: p.id.to_string(),
                                approved: true,
                            }),
                            key = k(format_args!("review/{}", p.id))
                        )?;
                    }
                    rpc!(
                        api,
                        grid.open_voting(pb::OpenVotingRequest {
                            campaign_id: campaign_id.clone(),
                        }),
                        key = k(format_args!("voting"))
                    )?;
                    for (v, voter) in voters.iter().enumerate() {
                        // Each voter backs one or two nominees, the earlier
                        // ones more often.
                        let picks = [v % 3, (v * 5) % nominees.len().max(1)];
                        for n in picks.iter().take(1 + v % 2) {
                            let Some(nominee) = nominees.get(*n) else {
                                continue;
                            };
                            rpc!(
                                api,
                                grid.vote(pb::VoteRequest {
                                    campaign_id: campaign_id.clone(),
                                    candidate_person_id: nominee.id.to_string(),
                                    voter_person_id: voter.id.to_string(),
                                }),
                                key = k(format_args!("vote/{}/{}", voter.id, nominee.id))
                            )?;
                        }
                    }
                    rpc!(
                        api,
                        grid.close_recognition(pb::CloseRecognitionRequest {
                            campaign_id: campaign_id.clone(),
                        }),
                        key = k(format_args!("close"))
                    )?;
                    Ok(())
                }
            })
            .await
        },
    )
    .await
}

async fn appoint(api: &Api, k: usize, p: &Person) -> anyhow::Result<()> {
    let (role, department) = if k.is_multiple_of(2) {
        ("文明市场监督员", "县市场监督管理局")
    } else {
        ("市容市貌观察员", "县住房和城乡建设局")
    };
    let person_id = p.id.to_string();
    let on = |d: usize| format!("2022-06-{:02}", d + k % 10);
    // An application already made changes nothing; vetting and the
    // appointment carry keys, so a second run repeats neither.
    rpc!(
        api,
        grid.apply_as_grid_worker(pb::ApplyAsGridWorkerRequest {
            person_id: person_id.clone(),
            roles: vec![role.to_owned()],
            department: department.to_owned(),
            on: on(1),
        })
    )?;
    rpc!(
        api,
        grid.vet_grid_worker(pb::VetGridWorkerRequest {
            person_id: person_id.clone(),
            passed: true,
            on: on(8),
            note: "政治素质好，熟悉辖区，经审查符合聘任条件".to_owned(),
        }),
        key = key(format_args!("grid-worker/vet/{person_id}"))
    )?;
    rpc!(
        api,
        grid.appoint_grid_worker(pb::AppointGridWorkerRequest {
            person_id: person_id.clone(),
            on: on(15),
            term_months: 60,
        }),
        key = key(format_args!("grid-worker/appoint/{person_id}"))
    )?;
    Ok(())
}

/// One case from report to closing and rating, each step only when the
/// case does not already show it.
async fn case(
    api: &Api,
    w: &World,
    workers: &[&Person],
    i: usize,
    category: &str,
) -> anyhow::Result<()> {
    let case_id = id("case", format_args!("{category}/{i}")).to_string();
    let reporter = workers[(i * 7 + usize::from(category == ELEVATOR) * 3) % workers.len()];
    let community = &w.communities[(i * 3 + 1) % w.communities.len()];
    let h = mix(i as u64 + if category == ELEVATOR { 10_000 } else { 0 });
    let jitter = |bits: u32| ((h >> bits) % 800) as f64 / 100_000.0 - 0.004;
    let (description, resolution) = if category == GARBAGE {
        (
            format!(
                "{}{}垃圾堆放，影响环境和通行",
                community.name,
                GARBAGE_SPOTS[i % GARBAGE_SPOTS.len()]
            ),
            "已组织环卫人员清运，并设置提示牌".to_owned(),
        )
    } else {
        (
            format!(
                "{}{}号楼{}",
                community.name,
                1 + i % 12,
                ELEVATOR_FAULTS[i % ELEVATOR_FAULTS.len()]
            ),
            "维保单位已到场维修，检验合格后恢复运行".to_owned(),
        )
    };
    let found = get!(
        api,
        grid.get_case(pb::GetCaseRequest {
            case_id: case_id.clone(),
        })
    )?
    .and_then(|r| r.case);
    let mut case = match found {
        Some(c) => c,
        None => rpc!(
            api,
            grid.report_case(pb::ReportCaseRequest {
                case_id: case_id.clone(),
                category: category.to_owned(),
                point: Some(pb::Point {
                    longitude: community.longitude + jitter(0),
                    latitude: community.latitude + jitter(16),
                }),
                datum: pb::Datum::Wgs84 as i32,
                description,
                reporter_person_id: reporter.id.to_string(),
                photo_ids: Vec::new(),
            }),
            key = key(format_args!("report/{case_id}"))
        )?
        .case
        .unwrap_or_default(),
    };
    use pb::CaseAction as A;
    use pb::CaseState as S;
    // Five steps at most from a new report to closing.
    for _ in 0..5 {
        let (action, note) = match S::try_from(case.state) {
            Ok(S::Reported) => (A::Accept, "属实，予以受理".to_owned()),
            Ok(S::Accepted) => (A::Dispatch, "派发责任部门办理".to_owned()),
            Ok(S::Dispatched) => (A::Acknowledge, "已签收，安排人员处置".to_owned()),
            Ok(S::Acknowledged) => (A::Resolve, resolution.clone()),
            Ok(S::Resolved) => (A::Verify, "网格员现场核实，已处置到位".to_owned()),
            _ => break,
        };
        case = rpc!(
            api,
            grid.act_on_case(pb::ActOnCaseRequest {
                case_id: case_id.clone(),
                action: action as i32,
                note,
                department: String::new(),
                rejection: 0,
                duplicate_of_case_id: String::new(),
                expected_version: 0,
                photo_ids: Vec::new(),
            }),
            key = key(format_args!("case/{case_id}/{}", action as i32))
        )?
        .case
        .unwrap_or_default();
    }
    if case.state == S::Closed as i32 && case.rating == 0 {
        rpc!(
            api,
            grid.rate_case(pb::RateCaseRequest {
                case_id: case_id.clone(),
                rating: if h.is_multiple_of(9) { 4 } else { 5 },
            }),
            key = key(format_args!("case/{case_id}/rating"))
        )?;
    }
    Ok(())
}
