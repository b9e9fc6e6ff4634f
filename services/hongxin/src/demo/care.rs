//! 服务引领: the service centre's 43 services, 18 "红色CGO" and the
//! enterprises' problems, care activities, hardship help with the union and
//! the Youth League, the summer-cooling supplies and micro-wishes.

use std::time::{Duration, Instant};

use hongxin_proto::care::v1 as pb;

use super::people::mix;
use super::world::{CADRE_POSTS, Person, Role, World, id, key};
use super::{Api, each, get, rpc, step};

/// name, department, function, turnaround days: the service list 服务清单.
#[rustfmt::skip]
const CATALOGUE: [(&str, &str, &str, u32); 43] = [
    ("入党申请指导", "县委组织部", "党建指导", 7),
    ("流动党员组织关系接转", "县委组织部", "党建指导", 5),
    ("党建指导员上门服务", "县委组织部", "党建指导", 10),
    ("职业技能培训报名", "县人社局", "教育实训", 10),
    ("直播电商实训", "县商务局", "教育实训", 15),
    ("驾驶技能提升培训", "县交通运输局", "教育实训", 15),
    ("学历提升咨询", "县教育和体育局", "教育实训", 7),
    ("灵活就业登记", "县人社局", "就业创业", 3),
    ("创业担保贷款申请", "县人社局", "就业创业", 15),
    ("就业岗位推荐", "县人社局", "就业创业", 5),
    ("个体工商户登记指导", "县市场监督管理局", "就业创业", 5),
    ("电商创业孵化入驻", "县商务局", "就业创业", 20),
    ("劳动争议调解", "县人社局", "法律援助", 15),
    ("法律咨询", "县司法局", "法律援助", 3),
    ("法律援助申请", "县司法局", "法律援助", 10),
    ("交通事故法律服务", "县司法局", "法律援助", 10),
    ("欠薪投诉受理", "县人社局", "权益维护", 10),
    ("工会会员入会", "县总工会", "权益维护", 3),
    ("女职工权益维护", "县妇联", "权益维护", 10),
    ("青年职工权益维护", "团县委", "权益维护", 10),
    ("职业伤害保障参保", "县人社局", "社会保障", 7),
    ("灵活就业人员养老保险参保", "县人社局", "社会保障", 7),
    ("城乡居民医保参保", "县医疗保障局", "社会保障", 5),
    ("医保异地就医备案", "县医疗保障局", "社会保障", 3),
    ("住房公积金个人缴存", "县住房公积金管理中心", "社会保障", 7),
    ("免费健康体检预约", "县卫生健康局", "医疗健康", 7),
    ("职业病防治咨询", "县卫生健康局", "医疗健康", 5),
    ("家庭医生签约", "县卫生健康局", "医疗健康", 5),
    ("心理咨询预约", "县卫生健康局", "心理关爱", 5),
    ("心理健康讲座报名", "团县委", "心理关爱", 7),
    ("子女入学咨询", "县教育和体育局", "子女关爱", 7),
    ("暑期托管服务", "县总工会", "子女关爱", 10),
    ("爱心驿站休息服务", "县总工会", "暖心驿站", 1),
    ("电动车免费充电", "县总工会", "暖心驿站", 1),
    ("饮水热饭服务", "县总工会", "暖心驿站", 1),
    ("困难职工帮扶申请", "县总工会", "帮扶救助", 20),
    ("临时救助申请", "县民政局", "帮扶救助", 15),
    ("大病救助咨询", "县医疗保障局", "帮扶救助", 10),
    ("租房补贴咨询", "县住房和城乡建设局", "安居服务", 10),
    ("公租房申请", "县住房和城乡建设局", "安居服务", 20),
    ("居住证办理", "县公安局", "政务代办", 7),
    ("车辆违章处理咨询", "县公安局", "政务代办", 3),
    ("文体活动场地预约", "县文化和旅游局", "文体活动", 3),
];

#[rustfmt::skip]
const ACTIVITIES: [(pb::ActivityKind, &str, &str, &str); 8] = [
    (pb::ActivityKind::ParentChild, "骑手亲子阅读会", "县妇联", "县新业态新就业群体党建指导服务中心阅览室"),
    (pb::ActivityKind::Sports, "新就业群体趣味运动会", "团县委", "县全民健身中心"),
    (pb::ActivityKind::FreeClinic, "义诊进驿站", "县卫生健康局", "县新业态新就业群体党建指导服务中心"),
    (pb::ActivityKind::LegalAid, "法律援助进站点", "县司法局", "美团外卖齐河站"),
    (pb::ActivityKind::Counselling, "心理减压团体辅导", "县总工会", "县新业态新就业群体党建指导服务中心心理室"),
    (pb::ActivityKind::Other, "快递小哥生日会", "县邮政管理局", "县新业态新就业群体党建指导服务中心"),
    (pb::ActivityKind::Sports, "外卖骑手篮球友谊赛", "团县委", "县体育馆"),
    (pb::ActivityKind::ParentChild, "暑期亲子手工课", "县总工会", "县新业态新就业群体党建指导服务中心"),
];

/// Activities, and check-ins over them: 32 and 1,120.
const ACTIVITY_COUNT: usize = 32;
const PARTICIPANTS_PER_ACTIVITY: usize = 35;

/// Enterprise problems raised, and solved of them.
const PROBLEMS: usize = 112;
const SOLVED: usize = 106;

/// Workers helped.
const HARDSHIP_CASES: usize = 165;

/// The local minimum-living standard the service is configured with by
/// default (¥880 a month), by which the households are sized.
const STANDARD_FEN: i64 = 88_000;

pub(crate) async fn run(api: &Api, w: &World) -> anyhow::Result<()> {
    tokio::try_join!(
        centre(api, w),
        enterprise_help(api, w),
        activities(api, w),
        hardship(api, w),
        supplies(api, w),
    )?;
    Ok(())
}

async fn centre(api: &Api, w: &World) -> anyhow::Result<()> {
    step(
        "服务清单 the service centre's catalogue",
        CATALOGUE.len(),
        async {
            each(
                api,
                CATALOGUE,
                |(name, department, function, days)| async move {
                    rpc!(
                        api,
                        care.define_catalogue_item(pb::DefineCatalogueItemRequest {
                            item_id: id("catalogue-item", name).to_string(),
                            name: name.to_owned(),
                            department: department.to_owned(),
                            function: function.to_owned(),
                            turnaround_days: days,
                        })
                    )?;
                    Ok(())
                },
            )
            .await
        },
    )
    .await?;
    let workers = w.shuffled_workers();
    let requests: Vec<(usize, &Person)> =
        workers.iter().rev().take(40).copied().enumerate().collect();
    step("服务申请 service requests", requests.len(), async {
        each(api, &requests, |(k, p)| async move {
            let (item, _, _, days) = CATALOGUE[(k * 5) % CATALOGUE.len()];
            let request_id = id("service-request", k).to_string();
            let filed =
                chrono::NaiveDate::from_ymd_opt(2022, 3 + (*k as u32 % 9), 2 + *k as u32 % 20)
                    .unwrap_or_default();
            let on = |d: u64| {
                filed
                    .checked_add_days(chrono::Days::new(d))
                    .unwrap_or(filed)
                    .format("%Y-%m-%d")
                    .to_string()
            };
            let mut state = get!(
                api,
                care.get_service_request(pb::GetServiceRequestRequest {
                    request_id: request_id.clone(),
                })
            )?
            .and_then(|r| r.request);
            if state.is_none() {
                state = rpc!(
                    api,
                    care.file_service_request(pb::FileServiceRequestRequest {
                        request_id: request_id.clone(),
                        item_id: id("catalogue-item", item).to_string(),
                        person_id: p.id.to_string(),
                        text: format!("申请办理“{item}”"),
                        filed_on: on(0),
                    })
                )?
                .request;
            }
            for (to, d, note) in [
                (pb::RequestState::Accepted, 1, "已受理"),
                (
                    pb::RequestState::Completed,
                    u64::from(days.max(2) - 1),
                    "已办结",
                ),
            ] {
                let now = state.as_ref().map_or(0, |r| r.state);
                if now >= to as i32 {
                    continue;
                }
                state = rpc!(
                    api,
                    care.progress_service_request(pb::ProgressServiceRequestRequest {
                        request_id: request_id.clone(),
                        state: to as i32,
                        on: on(d),
                        note: note.to_owned(),
                        expected_version: 0,
                    }),
                    key = key(format_args!("service-request/{request_id}/{}", to as i32))
                )?
                .request;
            }
            if state.is_some_and(|r| r.rating == 0) {
                rpc!(
                    api,
                    care.rate_service_request(pb::RateServiceRequestRequest {
                        request_id: request_id.clone(),
                        rating: 5,
                        comment: "办事快，服务好".to_owned(),
                    }),
                    key = key(format_args!("service-request/{request_id}/rating"))
                )?;
            }
            Ok(())
        })
        .await
    })
    .await
}

async fn enterprise_help(api: &Api, w: &World) -> anyhow::Result<()> {
    let cadres = w.with_role(|r| matches!(r, Role::Cadre { .. }));
    step("红色CGO posted cadres", cadres.len(), async {
        each(api, cadres.iter().zip(CADRE_POSTS), |(p, e)| async move {
            rpc!(
                api,
                care.post_cadre(pb::PostCadreRequest {
                    posting_id: id("cadre-posting", p.id).to_string(),
                    cadre_person_id: p.id.to_string(),
                    enterprise_id: w.enterprises[e].id.to_string(),
                    started_on: "2022-03-15".to_owned(),
                })
            )?;
            Ok(())
        })
        .await
    })
    .await?;
    const KINDS: [(pb::ProblemKind, &str); 5] = [
        (
            pb::ProblemKind::Funding,
            "扩大经营资金周转困难，需对接银行信贷",
        ),
        (
            pb::ProblemKind::Sales,
            "农特产品销路不畅，需拓展线上销售渠道",
        ),
        (pb::ProblemKind::Supply, "旺季包装耗材供应紧张"),
        (pb::ProblemKind::Labour, "高峰期骑手、快递员招聘困难"),
        (
            pb::ProblemKind::Policy,
            "对稳岗补贴、职业伤害保障政策不了解",
        ),
    ];
    step(
        "问需帮服 enterprise problems raised, helped, solved",
        PROBLEMS,
        async {
            each(api, 0..PROBLEMS, |k| async move {
                let e = CADRE_POSTS[k % CADRE_POSTS.len()];
                let (kind, description) = KINDS[(k / CADRE_POSTS.len() + k) % KINDS.len()];
                let problem_id = id("enterprise-problem", k).to_string();
                let month = 3 + (k % 8) as u32;
                rpc!(
                    api,
                    care.raise_enterprise_problem(pb::RaiseEnterpriseProblemRequest {
                        problem_id: problem_id.clone(),
                        enterprise_id: w.enterprises[e].id.to_string(),
                        kind: kind as i32,
                        description: description.to_owned(),
                        raised_on: format!("2022-{month:02}-05"),
                    })
                )?;
                let mut steps = vec![(
                    pb::ProblemState::InHand,
                    format!("2022-{month:02}-12"),
                    "红色CGO上门对接，协调相关部门帮办",
                )];
                if k < SOLVED {
                    steps.push((
                        pb::ProblemState::Solved,
                        format!("2022-{month:02}-26"),
                        "问题已解决，企业满意",
                    ));
                }
                for (to, on, note) in steps {
                    rpc!(
                        api,
                        care.progress_enterprise_problem(pb::ProgressEnterpriseProblemRequest {
                            problem_id: problem_id.clone(),
                            state: to as i32,
                            on,
                            note: note.to_owned(),
                        }),
                        key = key(format_args!("problem/{problem_id}/{}", to as i32))
                    )?;
                }
                Ok(())
            })
            .await
        },
    )
    .await
}

async fn activities(api: &Api, w: &World) -> anyhow::Result<()> {
    let staff = w.shuffled_staff();
    step(
        "关心关爱 care activities, registrations, check-ins",
        ACTIVITY_COUNT,
        async {
            each(api, 0..ACTIVITY_COUNT, |k| {
                let staff = &staff;
                async move {
                    let (kind, title, organiser, place) = ACTIVITIES[k % ACTIVITIES.len()];
                    let round = k / ACTIVITIES.len() + 1;
                    let activity_id = id("activity", k).to_string();
                    // Sizes vary in pairs that balance: 1,120 in all.
                    let swing = (k / 2) % 6;
                    let size = if k.is_multiple_of(2) {
                        PARTICIPANTS_PER_ACTIVITY + swing
                    } else {
                        PARTICIPANTS_PER_ACTIVITY - swing
                    };
                    rpc!(
                        api,
                        care.plan_activity(pb::PlanActivityRequest {
                            activity_id: activity_id.clone(),
                            kind: kind as i32,
                            title: format!("{title}（第{round}期）"),
                            organiser: organiser.to_owned(),
                            place: place.to_owned(),
                            held_on: format!("2022-{:02}-{:02}", 3 + k % 10, 6 + k % 20),
                            capacity: size as u32 + 10,
                        })
                    )?;
                    // One activity's people one after another: they share
                    // its record (registering or checking in twice changes
                    // nothing).
                    for p in staff.iter().cycle().skip(k * 29).take(size) {
                        let person_id = p.id.to_string();
                        rpc!(
                            api,
                            care.register_for_activity(pb::RegisterForActivityRequest {
                                activity_id: activity_id.clone(),
                                person_id: person_id.clone(),
                            })
                        )?;
                        rpc!(
                            api,
                            care.check_in_to_activity(pb::CheckInToActivityRequest {
                                activity_id: activity_id.clone(),
                                person_id,
                            })
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

async fn hardship(api: &Api, w: &World) -> anyhow::Result<()> {
    let helped: Vec<&Person> = w
        .shuffled_workers()
        .into_iter()
        .take(HARDSHIP_CASES)
        .collect();
    step(
        "暖心助力 hardship cases approved and helped",
        helped.len(),
        async { each(api, helped.iter().enumerate(), |(k, p)| help(api, k, p)).await },
    )
    .await
}

async fn help(api: &Api, k: usize, p: &Person) -> anyhow::Result<()> {
    let case_id = id("hardship", p.id).to_string();
    let h = mix(p.index as u64 + 31);
    let size = 2 + (h % 4) as u32;
    let line = STANDARD_FEN * 12 * i64::from(size);
    let expenses = 600_000 + (h >> 8) as i64 % 10 * 100_000;
    // Deep, relative and accident cases in turn.
    let (net, accident, health, causes) = match k % 3 {
        0 => (
            line * 6 / 10,
            false,
            "家属患慢性病",
            "家庭成员长期患病，收入低",
        ),
        1 => (line * 3 / 2, false, "健康", "子女上学，家庭负担重"),
        _ => (
            line * 5 / 2,
            true,
            "本人送餐途中受伤",
            "交通事故致伤，暂时无法工作",
        ),
    };
    let start = chrono::NaiveDate::from_ymd_opt(2022, 6, 1).unwrap_or_default();
    let on = |d: u64| {
        start
            .checked_add_days(chrono::Days::new((k % 60) as u64 + d))
            .unwrap_or(start)
            .format("%Y-%m-%d")
            .to_string()
    };
    let found = get!(
        api,
        care.get_hardship_case(pb::GetHardshipCaseRequest {
            case_id: case_id.clone(),
        })
    )?
    .and_then(|r| r.case);
    let case = match found {
        Some(c) => c,
        None => rpc!(
            api,
            care.apply_for_hardship(pb::ApplyForHardshipRequest {
                case_id: case_id.clone(),
                person_id: p.id.to_string(),
                household: Some(pb::Household {
                    size,
                    annual_disposable_income_fen: net + expenses,
                    unavoidable_expenses_fen: expenses,
                    health: health.to_owned(),
                    housing: "租住".to_owned(),
                    causes: causes.to_owned(),
                }),
                accident,
                applied_on: on(0),
            })
        )?
        .case
        .unwrap_or_default(),
    };
    use pb::HardshipStep as S;
    for (s, d, note) in [
        (S::UnionReview, 3, "基层工会审核通过"),
        (S::HomeVisit, 7, "经本人同意入户走访"),
        (S::CrossCheck, 10, "与民政、人社数据比对无异常"),
        (S::Notice, 12, "在服务站点公示"),
        (S::Approval, 18, "县总工会审批同意"),
    ] {
        if case.steps.contains(&(s as i32)) {
            continue;
        }
        rpc!(
            api,
            care.record_hardship_step(pb::RecordHardshipStepRequest {
                case_id: case_id.clone(),
                step: s as i32,
                on: on(d),
                passed: true,
                note: note.to_owned(),
            }),
            key = key(format_args!("hardship/{case_id}/{}", s as i32))
        )?;
    }
    let giver = if k % 4 == 3 {
        "团县委"
    } else {
        "县总工会"
    };
    // The support's own id makes giving it again change nothing.
    rpc!(
        api,
        care.give_hardship_support(pb::GiveHardshipSupportRequest {
            case_id: case_id.clone(),
            support: Some(pb::Support {
                support_id: id("hardship-support", &case_id).to_string(),
                kind: pb::SupportKind::Cash as i32,
                amount_fen: 100_000 + (h % 5) as i64 * 50_000,
                description: "困难职工帮扶金".to_owned(),
                giver: giver.to_owned(),
                given_on: on(20),
            }),
        })
    )?;
    Ok(())
}

async fn supplies(api: &Api, w: &World) -> anyhow::Result<()> {
    // ¥500,000 of cooling packs and ¥200,000 of drinks: about ¥700,000.
    let campaigns = [
        (
            "2022年“夏送清凉”防暑降温慰问",
            "防暑降温礼包（冰袖、风扇帽、藿香正气水、毛巾）",
            8_000i64,
            6_250i64,
        ),
        (
            "2022年“夏送清凉”饮品慰问",
            "矿泉水、绿豆汤饮品箱",
            4_000,
            5_000,
        ),
    ];
    let total_workers: i64 = w.enterprises.iter().map(|e| i64::from(e.workers)).sum();
    step("夏送清凉 summer-cooling supplies", campaigns.len(), async {
        each(
            api,
            campaigns.iter().enumerate(),
            |(c, (name, item, unit, stock))| async move {
                let campaign_id = id("campaign", name).to_string();
                rpc!(
                    api,
                    care.open_campaign(pb::OpenCampaignRequest {
                        campaign_id: campaign_id.clone(),
                        name: (*name).to_owned(),
                        item: (*item).to_owned(),
                        unit_value_fen: *unit,
                    })
                )?;
                rpc!(
                    api,
                    care.stock_campaign(pb::StockCampaignRequest {
                        campaign_id: campaign_id.clone(),
                        quantity: *stock,
                        on: "2022-06-20".to_owned(),
                    }),
                    key = key(format_args!("stock/{campaign_id}"))
                )?;
                // Shares by headcount; the largest unit takes what rounding
                // leaves, so all the stock goes out.
                let mut shares: Vec<i64> = w
                    .enterprises
                    .iter()
                    .map(|e| stock * i64::from(e.workers) / total_workers)
                    .collect();
                let left = stock - shares.iter().sum::<i64>();
                if let Some(biggest) = shares.iter_mut().max() {
                    *biggest += left;
                }
                // One campaign's stock is one record: hand-outs in turn.
                for (e, quantity) in shares.iter().enumerate().filter(|(_, q)| **q > 0) {
                    let unit_id = w.enterprises[e].id.to_string();
                    rpc!(
                        api,
                        care.hand_out_supplies(pb::HandOutSuppliesRequest {
                            campaign_id: campaign_id.clone(),
                            recipient_id: unit_id.clone(),
                            to_station: true,
                            quantity: *quantity,
                            on: format!("2022-07-{:02}", 1 + c * 10 + e % 10),
                        }),
                        key = key(format_args!("hand-out/{campaign_id}/{unit_id}"))
                    )?;
                }
                Ok(())
            },
        )
        .await
    })
    .await
}

/// The micro-wishes posted on the cloud platform arrive here by
/// themselves; a Party organisation claims each and fulfils it.
pub(crate) async fn fulfil_wishes(
    api: &Api,
    w: &World,
    wishes: &[(String, String)],
) -> anyhow::Result<()> {
    step(
        "微心愿 micro-wishes claimed and fulfilled",
        wishes.len(),
        async {
            each(
                api,
                wishes.iter().enumerate(),
                |(k, (wish_id, posted_on))| async move {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let wish = loop {
                        let found = get!(
                            api,
                            care.get_micro_wish(pb::GetMicroWishRequest {
                                wish_id: wish_id.clone(),
                            })
                        )?
                        .and_then(|r| r.wish);
                        if let Some(wish) = found {
                            break wish;
                        }
                        if Instant::now() > deadline {
                            anyhow::bail!("micro-wish {wish_id} did not reach the care service");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    };
                    let posted = chrono::NaiveDate::parse_from_str(posted_on, "%Y-%m-%d")
                        .unwrap_or_default();
                    let later = |d: u64| {
                        posted
                            .checked_add_days(chrono::Days::new(d))
                            .unwrap_or(posted)
                            .format("%Y-%m-%d")
                            .to_string()
                    };
                    let claimant = &w.orgs[5 + k % 8];
                    if wish.state == pb::WishState::Open as i32 {
                        rpc!(
                            api,
                            care.claim_micro_wish(pb::ClaimMicroWishRequest {
                                wish_id: wish_id.clone(),
                                claimant_id: claimant.id.to_string(),
                                on: later(2),
                            }),
                            key = key(format_args!("wish/{wish_id}/claim"))
                        )?;
                    }
                    if wish.state != pb::WishState::Fulfilled as i32 {
                        rpc!(
                            api,
                            care.fulfil_micro_wish(pb::FulfilMicroWishRequest {
                                wish_id: wish_id.clone(),
                                on: later(9),
                                evidence: format!("{}党员上门送达", claimant.name),
                            }),
                            key = key(format_args!("wish/{wish_id}/fulfil"))
                        )?;
                    }
                    Ok(())
                },
            )
            .await
        },
    )
    .await
}
