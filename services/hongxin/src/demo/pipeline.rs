//! 能力引领: member development through the 25 steps (the 2 new members
//! applied in 2020 and became activists in 2021; the 23 activists of 2022),
//! the double pairing, training at the base, the monthly theme Party day
//! and the cloud platform's posts.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::pipeline::v1 as pb;

use super::world::{Person, Role, World, committee_org, id, key};
use super::{Api, each, get, rpc, step};

fn day(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap_or_default()
}

fn fmt(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn plus(d: NaiveDate, days: u64) -> NaiveDate {
    d.checked_add_days(chrono::Days::new(days)).unwrap_or(d)
}

/// The three Party-knowledge sessions whose hours count towards the
/// development targets' centralised training.
const PARTY_SESSIONS: [usize; 3] = [7, 8, 9];

/// course, kind, lecturer, held on, class hours, attendees.
#[rustfmt::skip]
const SESSIONS: [(&str, pb::CourseKind, &str, &str, u32, usize); 22] = {
    use pb::CourseKind::*;
    [
        ("红色直播：主播的责任与担当", RedLiveStreaming, "县商务局 电商科骨干", "2022-03-05", 3, 32),
        ("技能教学：电动车安全驾驶与保养", Skills, "县交警大队 宣传民警", "2022-03-12", 2, 30),
        ("技能教学：快递分拣与规范收派", Skills, "顺丰速运齐河网点 培训主管", "2022-03-19", 3, 28),
        ("红色直播：短视频拍摄与剪辑", RedLiveStreaming, "本地知名主播“黄河小妹”", "2022-03-26", 4, 26),
        ("法律讲堂：劳动合同与权益保护", Other, "山东齐鲁律师事务所 王律师", "2022-04-02", 2, 28),
        ("健康讲座：颈腰椎劳损的预防", Other, "县人民医院 康复科医生", "2022-04-06", 2, 30),
        ("技能教学：网约车服务礼仪", Skills, "县交通运输局 运管骨干", "2022-04-09", 2, 25),
        ("党的基本知识（一）：党章学习", PartyKnowledge, "县委党校 讲师", "2022-04-11", 8, 35),
        ("党的基本知识（二）：党史学习", PartyKnowledge, "县委党校 讲师", "2022-04-12", 8, 30),
        ("党的基本知识（三）：入党程序与党员义务", PartyKnowledge, "县委组织部 组织科", "2022-04-13", 8, 27),
        ("红色直播：农特产品直播带货", RedLiveStreaming, "齐河县电子商务产业园 运营总监", "2022-04-23", 4, 26),
        ("安全生产：夏季高温作业防护", Other, "县应急管理局 安全科", "2022-05-07", 2, 29),
        ("技能教学：智能手机办事指南", Skills, "县行政审批服务局 骨干", "2022-05-21", 2, 31),
        ("心理健康：压力调适与情绪管理", Other, "县心理咨询中心 咨询师", "2022-06-11", 2, 24),
        ("红色直播：直播间合规经营", RedLiveStreaming, "县市场监管局 网监科", "2022-06-25", 3, 28),
        ("急救培训：心肺复苏与AED使用", Other, "县红十字会 急救教官", "2022-07-09", 3, 27),
        ("技能教学：外卖配送高峰期路线规划", Skills, "美团外卖齐河站 站长", "2022-07-23", 2, 30),
        ("法律讲堂：交通事故处理与保险理赔", Other, "县司法局 法律援助中心", "2022-08-13", 2, 29),
        ("技能教学：新能源汽车驾驶与充电安全", Skills, "县交通运输局 技术骨干", "2022-09-03", 2, 26),
        ("红色直播：讲好齐河故事", RedLiveStreaming, "县融媒体中心 主持人", "2022-09-24", 3, 28),
        ("职业伤害保障政策解读", Other, "县人社局 社保科", "2022-10-15", 2, 25),
        ("反诈宣传：识别网络诈骗", Other, "县公安局 反诈中心", "2022-11-05", 2, 26),
    ]
};

pub(crate) async fn run(api: &Api, w: &World) -> anyhow::Result<Vec<(String, String)>> {
    training(api, w).await?;
    let (_, _, _, wishes) = tokio::try_join!(
        candidates(api, w),
        pairs(api, w),
        party_days(api, w),
        posts(api, w),
    )?;
    Ok(wishes)
}

async fn training(api: &Api, w: &World) -> anyhow::Result<()> {
    let staff = w.shuffled_staff();
    let mut targets: Vec<&Person> = w.new_members().to_vec();
    targets.extend(w.activists());
    let mut offset = 0;
    let mut rosters = Vec::new();
    for (i, s) in SESSIONS.iter().enumerate() {
        let mut who: BTreeSet<uuid::Uuid> = BTreeSet::new();
        if PARTY_SESSIONS.contains(&i) {
            who.extend(targets.iter().map(|p| p.id));
        }
        while who.len() < s.5 {
            who.insert(staff[offset % staff.len()].id);
            offset += 1;
        }
        rosters.push(who);
    }
    step(
        "成长赋能 training sessions and attendance",
        SESSIONS.len(),
        async {
            each(api, SESSIONS.iter().zip(&rosters), |(s, who)| async move {
                let (course, kind, lecturer, held_on, hours, _) = *s;
                let session_id = id("training-session", course).to_string();
                rpc!(
                    api,
                    pipeline.schedule_training_session(pb::ScheduleTrainingSessionRequest {
                        session_id: session_id.clone(),
                        course: course.to_owned(),
                        kind: kind as i32,
                        base: "齐河县新业态新就业群体实训基地".to_owned(),
                        lecturer: lecturer.to_owned(),
                        held_on: held_on.to_owned(),
                        class_hours: hours,
                        counts_as_centralised: kind == pb::CourseKind::PartyKnowledge,
                    })
                )?;
                // Someone recorded twice counts once: safe to repeat.
                rpc!(
                    api,
                    pipeline.record_training_attendance(pb::RecordTrainingAttendanceRequest {
                        session_id: session_id.clone(),
                        person_ids: who.iter().map(ToString::to_string).collect(),
                    })
                )?;
                // A skills course ends with a certificate 结业证书 for each
                // attendee, numbered by day (the same number again changes
                // nothing).
                if kind == pb::CourseKind::Skills {
                    for (n, person) in who.iter().enumerate() {
                        rpc!(
                            api,
                            pipeline.issue_training_certificate(
                                pb::IssueTrainingCertificateRequest {
                                    session_id: session_id.clone(),
                                    person_id: person.to_string(),
                                    certificate_no: format!(
                                        "QH{}-{:03}",
                                        held_on.replace('-', ""),
                                        n + 1
                                    ),
                                }
                            )
                        )?;
                    }
                }
                Ok(())
            })
            .await
        },
    )
    .await
}

/// One recorded step of a candidate's plan.
struct Planned {
    step: pb::Step,
    on: NaiveDate,
    details: pb::StepDetails,
}

fn planned(step: pb::Step, on: NaiveDate) -> Planned {
    Planned {
        step,
        on,
        details: pb::StepDetails::default(),
    }
}

fn people(ps: &[&Person]) -> Vec<String> {
    ps.iter().map(|p| p.id.to_string()).collect()
}

/// Application to activist: the first steps every candidate takes.
fn activist_steps(
    activist_on: NaiveDate,
    recommended_by: pb::Recommender,
    contacts: &[&Person],
) -> Vec<Planned> {
    vec![
        Planned {
            details: pb::StepDetails {
                recommended_by: recommended_by as i32,
                ..Default::default()
            },
            ..planned(pb::Step::ActivistConfirmed, activist_on)
        },
        planned(pb::Step::ActivistFiled, plus(activist_on, 7)),
        Planned {
            details: pb::StepDetails {
                person_ids: people(contacts),
                ..Default::default()
            },
            ..planned(pb::Step::ContactsAssigned, plus(activist_on, 7))
        },
    ]
}

struct Plan<'a> {
    candidate: &'a Person,
    branch: usize,
    applied_on: NaiveDate,
    steps: Vec<Planned>,
    /// The member paired with the candidate once a development target.
    cultivator: Option<&'a Person>,
}

fn plans(w: &World) -> Vec<Plan<'_>> {
    let recommenders = [
        pb::Recommender::Members,
        pb::Recommender::Union,
        pb::Recommender::YouthLeague,
    ];
    let mut out = Vec::new();
    for (k, p) in w.activists().into_iter().enumerate() {
        let Some(e) = p.enterprise else { continue };
        let Some(branch) = w.covering(e) else {
            continue;
        };
        let members = w.members_of(e);
        let applied_on = plus(day("2021-09-06"), (k as u64) * 7);
        let mut steps = vec![planned(pb::Step::Talk, plus(applied_on, 18))];
        let activist_on = plus(day("2022-03-15"), (k as u64) * 5);
        steps.extend(activist_steps(
            activist_on,
            recommenders[k % 3],
            &members[..members.len().min(1 + k % 2)],
        ));
        steps.push(planned(pb::Step::Assessment, plus(activist_on, 170)));
        out.push(Plan {
            candidate: p,
            branch,
            applied_on,
            steps,
            cultivator: None,
        });
    }
    let schedules = [
        (
            "2020-09-10",
            "2021-03-05",
            "2021-08-25",
            "2022-02-20",
            "2022-03-10",
        ),
        (
            "2020-10-15",
            "2021-03-20",
            "2021-09-10",
            "2022-03-01",
            "2022-03-25",
        ),
    ];
    for (p, (applied, activist, first, second, target)) in
        w.new_members().into_iter().zip(schedules)
    {
        let Some(e) = p.enterprise else { continue };
        let Some(branch) = w.covering(e) else {
            continue;
        };
        let members = w.members_of(e);
        let committee = w.orgs[committee_org(w.enterprises[e].industry)]
            .id
            .to_string();
        let voting = members.len() as u32;
        let sessions: Vec<String> = PARTY_SESSIONS
            .iter()
            .map(|i| id("training-session", SESSIONS[*i].0).to_string())
            .collect();
        let applied_on = day(applied);
        let mut steps = vec![planned(pb::Step::Talk, plus(applied_on, 15))];
        steps.extend(activist_steps(
            day(activist),
            pb::Recommender::Union,
            &members[..1],
        ));
        steps.push(planned(pb::Step::Assessment, day(first)));
        steps.push(planned(pb::Step::Assessment, day(second)));
        steps.push(planned(pb::Step::TargetConfirmed, day(target)));
        steps.push(planned(pb::Step::TargetFiled, day("2022-03-28")));
        steps.push(Planned {
            details: pb::StepDetails {
                person_ids: people(&members[1..3]),
                ..Default::default()
            },
            ..planned(pb::Step::IntroducersAssigned, day("2022-03-30"))
        });
        steps.push(Planned {
            details: pb::StepDetails {
                passed: true,
                note: "经函调和外调，政治审查合格".to_owned(),
                ..Default::default()
            },
            ..planned(pb::Step::PoliticalReview, day("2022-04-08"))
        });
        steps.push(Planned {
            details: pb::StepDetails {
                days: 3,
                training_session_ids: sessions,
                ..Default::default()
            },
            ..planned(pb::Step::Training, day("2022-04-15"))
        });
        steps.push(planned(pb::Step::BranchReview, day("2022-04-25")));
        steps.push(Planned {
            details: pb::StepDetails {
                approving_organization_id: committee.clone(),
                ..Default::default()
            },
            ..planned(pb::Step::PreReview, day("2022-05-05"))
        });
        steps.push(planned(pb::Step::PublicNotice, day("2022-05-09")));
        steps.push(planned(pb::Step::ApplicationForm, day("2022-05-16")));
        steps.push(Planned {
            details: pb::StepDetails {
                votes: Some(pb::Votes {
                    voting_members: voting,
                    present: voting,
                    yes_votes: voting,
                }),
                ..Default::default()
            },
            ..planned(pb::Step::BranchMeeting, day("2022-05-20"))
        });
        steps.push(planned(pb::Step::CommitteeTalk, day("2022-05-27")));
        steps.push(Planned {
            details: pb::StepDetails {
                approving_organization_id: committee,
                ..Default::default()
            },
            ..planned(pb::Step::Approval, day("2022-06-24"))
        });
        steps.push(planned(pb::Step::ApprovalFiled, day("2022-06-30")));
        steps.push(planned(pb::Step::Oath, day("2022-07-01")));
        steps.push(planned(pb::Step::ProbationAssessment, day("2022-10-10")));
        out.push(Plan {
            candidate: p,
            branch,
            applied_on,
            steps,
            cultivator: members.first().copied(),
        });
    }
    out
}

async fn candidates(api: &Api, w: &World) -> anyhow::Result<()> {
    let plans = plans(w);
    step(
        "发展党员 candidates (23 activists, 2 new members)",
        plans.len(),
        async { each(api, &plans, |plan| develop(api, w, plan)).await },
    )
    .await
}

/// Takes one candidate through their plan, skipping what their record
/// already shows.
async fn develop(api: &Api, w: &World, plan: &Plan<'_>) -> anyhow::Result<()> {
    let candidate_id = id("candidate", plan.candidate.id).to_string();
    let existing = get!(
        api,
        pipeline.get_candidate(pb::GetCandidateRequest {
            candidate_id: candidate_id.clone(),
        })
    )?
    .and_then(|r| r.candidate);
    let candidate = match existing {
        Some(c) => c,
        None => rpc!(
            api,
            pipeline.apply(pb::ApplyRequest {
                candidate_id: candidate_id.clone(),
                person_id: plan.candidate.id.to_string(),
                organization_id: w.orgs[plan.branch].id.to_string(),
                applied_on: fmt(plan.applied_on),
                rule_set_id: String::new(),
            })
        )?
        .candidate
        .unwrap_or_default(),
    };
    let done: BTreeSet<(i32, String)> = candidate
        .steps
        .iter()
        .map(|s| (s.step, s.on.clone()))
        .collect();
    for s in &plan.steps {
        let on = fmt(s.on);
        if done.contains(&(s.step as i32, on.clone())) {
            continue;
        }
        if s.step == pb::Step::TargetFiled
            && let Some(member) = plan.cultivator
        {
            // The cultivation pair is made while the candidate is a
            // development target, which the registry learns from the
            // pipeline's events.
            await_status(api, plan.candidate, org::PartyStatus::DevelopmentTarget).await?;
            rpc!(
                api,
                pipeline.start_pair(pb::StartPairRequest {
                    pair_id: id("pair", format_args!("cultivation/{}", plan.candidate.id))
                        .to_string(),
                    kind: pb::PairKind::Cultivation as i32,
                    member_person_id: member.id.to_string(),
                    partner_person_id: plan.candidate.id.to_string(),
                    enterprise_id: String::new(),
                    started_on: fmt(plus(s.on, 1)),
                })
            )?;
        }
        rpc!(
            api,
            pipeline.record_step(pb::RecordStepRequest {
                candidate_id: candidate_id.clone(),
                step: s.step as i32,
                on: on.clone(),
                details: Some(s.details.clone()),
                expected_version: 0,
            }),
            key = key(format_args!("step/{candidate_id}/{}/{on}", s.step as i32))
        )?;
    }
    Ok(())
}

/// Waits until the registry shows the person at `status` (the membership
/// follower is asynchronous).
async fn await_status(api: &Api, p: &Person, status: org::PartyStatus) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let person = get!(
            api,
            org.get_person(org::GetPersonRequest {
                person_id: p.id.to_string(),
            })
        )?
        .and_then(|r| r.person);
        if person.is_some_and(|x| x.party_status == status as i32) {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the registry did not show person {} as {status:?} within a minute",
                p.id
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn pairs(api: &Api, w: &World) -> anyhow::Result<()> {
    // An industry committee's leadership member with the non-member head
    // of a unit that has no Party organisation yet.
    let uncovered: Vec<usize> = (0..w.enterprises.len())
        .filter(|e| w.covering(*e).is_none())
        .collect();
    step("双结对 development pairs", uncovered.len(), async {
        each(api, uncovered.iter().enumerate(), |(k, &e)| async move {
            let unit = &w.enterprises[e];
            let leaders = w.with_role(|r| {
                *r == Role::CommitteeMember {
                    industry: unit.industry.index(),
                }
            });
            let member = leaders[k % leaders.len()];
            let Some(head) = w.workers_of(e).first().copied() else {
                return Ok(());
            };
            let pair_id = id("pair", format_args!("development/{}", unit.id)).to_string();
            rpc!(
                api,
                pipeline.start_pair(pb::StartPairRequest {
                    pair_id: pair_id.clone(),
                    kind: pb::PairKind::Development as i32,
                    member_person_id: member.id.to_string(),
                    partner_person_id: head.id.to_string(),
                    enterprise_id: unit.id.to_string(),
                    started_on: "2022-04-18".to_owned(),
                })
            )?;
            for (on, text) in [
                ("2022-06-20", "走访企业，了解从业人员思想动态和党建需求"),
                ("2022-09-15", "宣讲党的政策，推动负责人递交入党申请书"),
            ] {
                rpc!(
                    api,
                    pipeline.note_pair(pb::NotePairRequest {
                        pair_id: pair_id.clone(),
                        on: on.to_owned(),
                        text: text.to_owned(),
                    }),
                    key = key(format_args!("pair-note/{pair_id}/{on}"))
                )?;
            }
            Ok(())
        })
        .await
    })
    .await
}

async fn party_days(api: &Api, w: &World) -> anyhow::Result<()> {
    const THEMES: [&str; 12] = [
        "新春送温暖 党员在身边",
        "学习贯彻全国两会精神",
        "学雷锋 志愿服务进社区",
        "缅怀革命先烈 传承红色基因",
        "劳动创造幸福 奋斗成就梦想",
        "安全生产 党员带头",
        "庆祝建党101周年 重温入党誓词",
        "夏送清凉 关爱骑手",
        "诚信经营 亮承诺",
        "喜迎二十大 永远跟党走",
        "学习宣传贯彻党的二十大精神",
        "冬季安全出行 党员先锋行",
    ];
    let branches: Vec<usize> = (5..w.orgs.len()).collect();
    let staff = w.shuffled_staff();
    step("主题党日 theme Party days", 12, async {
        each(api, 1..=12u32, |m| {
            let (branches, staff) = (&branches, &staff);
            async move {
                // In turn: the next branch each month, never last month's.
                let host = branches[(m as usize - 1) % branches.len()];
                let month = format!("2022-{m:02}");
                let on = format!("{month}-{:02}", 8 + m % 10);
                let mut attendees: BTreeSet<String> = w.orgs[host]
                    .covered
                    .iter()
                    .flat_map(|e| w.members_of(*e))
                    .map(|p| p.id.to_string())
                    .collect();
                // Open to non-members: workers come too.
                for p in staff.iter().skip(m as usize * 17).take(24) {
                    attendees.insert(p.id.to_string());
                }
                rpc!(
                    api,
                    pipeline.schedule_party_day(pb::SchedulePartyDayRequest {
                        month: month.clone(),
                        theme: THEMES[m as usize - 1].to_owned(),
                        host_organization_id: w.orgs[host].id.to_string(),
                        scheduled_on: on.clone(),
                    }),
                    key = key(format_args!("party-day/{month}"))
                )?;
                rpc!(
                    api,
                    pipeline.record_party_day(pb::RecordPartyDayRequest {
                        month,
                        held_on: on,
                        attendee_person_ids: attendees.into_iter().collect(),
                    })
                )?;
                Ok(())
            }
        })
        .await
    })
    .await
}

/// Publishes the cloud platform's posts; answers the micro-wishes (post id,
/// title) for the care service to see fulfilled.
async fn posts(api: &Api, w: &World) -> anyhow::Result<Vec<(String, String)>> {
    const NEWS: [&str; 6] = [
        "县委两新组织工委召开新业态新就业群体党建工作联席会议",
        "全县20处流动党员报到站全部启用",
        "外卖行业党委开展“夏送清凉”活动",
        "“红齐先锋岗”服务群众见实效",
        "新就业群体兼职网格员上岗",
        "我县评选“最美快递员”“最美外卖小哥”",
    ];
    const HISTORY: [&str; 6] = [
        "党史上的今天：中国共产党第一次全国代表大会召开",
        "红色齐鲁：鲁西北抗日根据地",
        "党史故事：半条被子",
        "党史知识：遵义会议",
        "红色家书：方志敏《可爱的中国》",
        "党史故事：焦裕禄的一把藤椅",
    ];
    const REFLECTIONS: [&str; 6] = [
        "送餐路上帮老人找到了家",
        "成为兼职网格员的第一个月",
        "在报到站找到了组织",
        "第一次在直播间讲家乡",
        "雨夜里的一单外卖",
        "佩戴党徽上岗的感受",
    ];
    const WISHES: [&str; 8] = [
        "希望给孩子买一套课外书",
        "想要一个电动车防雨棚",
        "希望给老母亲买一台血压计",
        "想为孩子报一个暑期篮球班",
        "希望得到一件冬季防寒骑行服",
        "想学习一门手机修理技能",
        "希望给孩子买一个新书包",
        "想要一个车载手机支架和充电宝",
    ];
    let mut all: Vec<(String, pb::PostKind, String, String, String)> = Vec::new();
    let workers = w.shuffled_workers();
    for m in 1..=12u32 {
        for (n, (kind, titles)) in [
            (pb::PostKind::News, &NEWS[..]),
            (pb::PostKind::History, &HISTORY[..]),
        ]
        .into_iter()
        .enumerate()
        {
            let title = titles[(m as usize + n) % titles.len()];
            all.push((
                format!("{kind:?}/{m}"),
                kind,
                String::new(),
                title.to_owned(),
                format!("2022-{m:02}-{:02}", 3 + n * 10),
            ));
        }
        let author = workers[m as usize * 3];
        all.push((
            format!("reflection/{m}"),
            pb::PostKind::Reflection,
            author.id.to_string(),
            REFLECTIONS[m as usize % REFLECTIONS.len()].to_owned(),
            format!("2022-{m:02}-20"),
        ));
    }
    for (k, title) in WISHES.iter().enumerate() {
        let author = workers[40 + k * 5];
        all.push((
            format!("wish/{k}"),
            pb::PostKind::MicroWish,
            author.id.to_string(),
            (*title).to_owned(),
            format!("2022-{:02}-12", 5 + k),
        ));
    }
    step("流动党员云平台 cloud platform posts", all.len(), async {
        each(api, &all, |(name, kind, author, title, on)| async move {
            rpc!(
                api,
                pipeline.publish_post(pb::PublishPostRequest {
                    post_id: id("post", name).to_string(),
                    kind: *kind as i32,
                    author_person_id: author.clone(),
                    title: title.clone(),
                    body: format!("{title}。"),
                    published_on: on.clone(),
                })
            )?;
            Ok(())
        })
        .await
    })
    .await?;
    Ok(all
        .iter()
        .filter(|p| p.1 == pb::PostKind::MicroWish)
        .map(|p| (id("post", &p.0).to_string(), p.4.clone()))
        .collect())
}
