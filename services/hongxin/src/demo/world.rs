//! The people, places and units of 齐河县 in 2022, as the scenario has them.
//!
//! Built in memory before any call, the same every time: ids are UUID v5 of
//! stable names, so a second run addresses the records the first one made.

use uuid::Uuid;

use super::people::{Identity, identity, mix};

/// The namespace of every id the scenario makes.
fn namespace() -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        b"https://hongxin.example/demo/qihe-2022",
    )
}

/// The id of the record named `name` of kind `kind`.
pub(crate) fn id(kind: &str, name: impl std::fmt::Display) -> Uuid {
    Uuid::new_v5(&namespace(), format!("{kind}/{name}").as_bytes())
}

/// An idempotency key for one command of the scenario.
pub(crate) fn key(parts: impl std::fmt::Display) -> String {
    Uuid::new_v5(&namespace(), format!("key/{parts}").as_bytes()).to_string()
}

/// The four industries, as the organization API numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Industry {
    Express,
    FoodDelivery,
    LiveCommerce,
    Transport,
}

impl Industry {
    pub(crate) const ALL: [Industry; 4] = [
        Industry::Express,
        Industry::FoodDelivery,
        Industry::LiveCommerce,
        Industry::Transport,
    ];

    pub(crate) fn wire(self) -> i32 {
        use hongxin_proto::organization::v1::Industry as W;
        match self {
            Industry::Express => W::Express as i32,
            Industry::FoodDelivery => W::FoodDelivery as i32,
            Industry::LiveCommerce => W::LiveCommerce as i32,
            Industry::Transport => W::Transport as i32,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Industry::Express => 0,
            Industry::FoodDelivery => 1,
            Industry::LiveCommerce => 2,
            Industry::Transport => 3,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Community {
    pub id: Uuid,
    pub name: &'static str,
    pub subdistrict: &'static str,
    /// Its centre, WGS-84.
    pub longitude: f64,
    pub latitude: f64,
}

/// What kind of unit, as the organization API has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    PlatformBranch,
    Station,
    Studio,
    Other,
}

#[derive(Clone, Debug)]
pub(crate) struct Enterprise {
    pub id: Uuid,
    pub name: &'static str,
    pub industry: Industry,
    pub kind: Kind,
    pub brand: &'static str,
    pub community: usize,
    pub parent: Option<usize>,
    /// Reported headcount.
    pub workers: u32,
    /// Full Party members among them (registered as such).
    pub full_members: u32,
    /// Workers of the registry who are not members.
    pub registered_workers: u32,
}

/// Kinds of Party organisation the scenario founds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OrgKind {
    Committee,
    Branch,
    JointBranch,
}

#[derive(Clone, Debug)]
pub(crate) struct Org {
    pub id: Uuid,
    pub name: String,
    pub kind: OrgKind,
    pub parent: Option<usize>,
    pub covered: Vec<usize>,
    pub founded_on: &'static str,
}

/// A person's place in the scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Secretary of the county's work committee 两新组织工委.
    WorkCommitteeSecretary,
    /// A member of an industry committee's leadership 班子成员.
    CommitteeMember { industry: usize },
    /// A cadre of an industry committee, posted as "红色CGO".
    Cadre { industry: usize },
    /// A community's designated full-time member 专职委员.
    CommunityMember { community: usize },
    /// A full Party member working in an enterprise.
    EnterpriseMember { enterprise: usize },
    /// A worker who is not a member.
    Worker { enterprise: usize },
}

#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub index: u32,
    pub id: Uuid,
    pub who: Identity,
    pub role: Role,
    /// Industry of work, for officials the industry they serve.
    pub industry: Option<Industry>,
    pub enterprise: Option<usize>,
    pub community: Option<usize>,
    pub platform: &'static str,
    pub full_member: bool,
    /// The organisation holding a member's affiliation.
    pub affiliation: Option<usize>,
    pub union_member: bool,
    /// A mobile member's home organisation.
    pub home_organisation: Option<String>,
}

/// The whole scenario's cast.
#[derive(Clone, Debug)]
pub(crate) struct World {
    pub communities: Vec<Community>,
    pub enterprises: Vec<Enterprise>,
    pub orgs: Vec<Org>,
    pub people: Vec<Person>,
}

/// Index of the county's work committee in `World::orgs`.
pub(crate) const WORK_COMMITTEE: usize = 0;

/// Index of an industry's committee (a Party committee, which approves
/// members) in `World::orgs`.
pub(crate) fn committee_org(industry: Industry) -> usize {
    1 + industry.index()
}

pub(crate) const COMMITTEES: [(&str, &str); 4] = [
    ("中共齐河县快递行业委员会", "县邮政管理局"),
    ("中共齐河县外卖行业委员会", "县市场监督管理局"),
    ("中共齐河县直播电商行业委员会", "县商务局"),
    ("中共齐河县交通运输行业委员会", "县交通运输局"),
];

const COMMUNITIES: [(&str, &str); 20] = [
    ("府前社区", "晏城街道"),
    ("齐晏社区", "晏城街道"),
    ("迎宾社区", "晏城街道"),
    ("城南社区", "晏城街道"),
    ("城北社区", "晏城街道"),
    ("文昌社区", "晏城街道"),
    ("阳光社区", "晏城街道"),
    ("华店社区", "晏城街道"),
    ("时代社区", "晏城街道"),
    ("黄河社区", "晏城街道"),
    ("晏北社区", "晏北街道"),
    ("齐州社区", "晏北街道"),
    ("腾飞社区", "晏北街道"),
    ("锦绣社区", "晏北街道"),
    ("明珠社区", "晏北街道"),
    ("盛世社区", "晏北街道"),
    ("新城社区", "晏北街道"),
    ("金城社区", "晏北街道"),
    ("乐园社区", "晏北街道"),
    ("开元社区", "晏北街道"),
];

/// name, industry, kind, brand, community, parent, workers, full members,
/// registered non-member workers.
type Unit = (
    &'static str,
    Industry,
    Kind,
    &'static str,
    usize,
    Option<usize>,
    u32,
    u32,
    u32,
);

#[rustfmt::skip]
const ENTERPRISES: [Unit; 21] = {
    use Industry::*;
    use Kind::*;
    [
        ("齐河县顺丰速运网点", Express, Station, "顺丰", 0, None, 48, 5, 30),
        ("中通快递齐河网点", Express, Station, "中通", 3, None, 32, 3, 20),
        ("京东物流齐河营业部", Express, Station, "京东", 11, None, 36, 4, 22),
        ("圆通速递齐河网点", Express, Station, "圆通", 4, None, 22, 1, 14),
        ("韵达快递齐河网点", Express, Station, "韵达", 5, None, 20, 1, 12),
        ("申通快递齐河网点", Express, Station, "申通", 12, None, 16, 1, 10),
        ("极兔速递齐河网点", Express, Station, "极兔", 13, None, 14, 0, 9),
        ("菜鸟驿站齐河晏城服务站", Express, Station, "菜鸟", 6, None, 10, 0, 6),
        ("美团外卖齐河站", FoodDelivery, PlatformBranch, "美团", 1, None, 126, 7, 70),
        ("饿了么齐河站", FoodDelivery, PlatformBranch, "饿了么", 2, None, 64, 2, 40),
        ("美团外卖晏北站点", FoodDelivery, Station, "美团", 10, Some(8), 42, 2, 26),
        ("饿了么晏城配送站", FoodDelivery, Station, "饿了么", 7, Some(9), 30, 0, 18),
        ("齐河县电子商务产业园直播基地", LiveCommerce, Studio, "", 16, None, 45, 3, 24),
        ("齐河黄河农特产品直播间", LiveCommerce, Studio, "抖音", 9, None, 12, 0, 8),
        ("齐河县好丰收电商直播工作室", LiveCommerce, Studio, "快手", 14, None, 8, 0, 6),
        ("齐河县乡村振兴直播带货服务中心", LiveCommerce, Other, "", 17, None, 15, 0, 10),
        ("滴滴出行齐河服务站", Transport, PlatformBranch, "滴滴", 8, None, 58, 2, 34),
        ("曹操出行齐河运营中心", Transport, PlatformBranch, "曹操出行", 15, None, 24, 1, 14),
        ("货拉拉齐河服务站", Transport, Station, "货拉拉", 18, None, 26, 1, 16),
        ("花小猪打车齐河服务站", Transport, Station, "花小猪", 19, None, 18, 0, 10),
        ("齐河县城乡客运网约车服务有限公司", Transport, Other, "", 19, None, 30, 0, 18),
    ]
};

/// Enterprise Party organisations: name, kind, covered units, founding day.
#[rustfmt::skip]
const BRANCHES: [(&str, OrgKind, &[usize], &str); 8] = [
    ("中共齐河县顺丰速运网点支部委员会", OrgKind::Branch, &[0], "2022-03-18"),
    ("中共中通快递齐河网点支部委员会", OrgKind::Branch, &[1], "2022-04-08"),
    ("中共京东物流齐河营业部支部委员会", OrgKind::Branch, &[2], "2022-04-15"),
    ("中共美团外卖齐河站支部委员会", OrgKind::Branch, &[8], "2022-03-11"),
    ("中共齐河县电子商务产业园直播基地支部委员会", OrgKind::Branch, &[12], "2022-05-06"),
    ("中共齐河县快递行业第一联合支部委员会", OrgKind::JointBranch, &[3, 4, 5], "2022-04-22"),
    ("中共齐河县外卖行业联合支部委员会", OrgKind::JointBranch, &[9, 10], "2022-03-25"),
    ("中共齐河县网约车行业联合支部委员会", OrgKind::JointBranch, &[16, 17, 18], "2022-05-20"),
];

/// The enterprises the 18 cadres are posted to, one each.
pub(crate) const CADRE_POSTS: [usize; 18] = [
    0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 20,
];

const HOMES: [&str; 10] = [
    "中共聊城市茌平区贾寨镇前屯村支部委员会",
    "中共禹城市房寺镇刘庄村支部委员会",
    "中共平原县王凤楼镇小屯村支部委员会",
    "中共菏泽市牡丹区皇镇街道办事处张楼村支部委员会",
    "中共临邑县临盘街道东辛村支部委员会",
    "中共济阳区曲堤街道朱家村支部委员会",
    "中共高唐县清平镇后李村支部委员会",
    "中共宁津县柴胡店镇大郭村支部委员会",
    "中共陵城区于集乡后田村支部委员会",
    "中共东阿县刘集镇北赵村支部委员会",
];

impl World {
    pub(crate) fn qihe_2022() -> Self {
        let communities = COMMUNITIES
            .iter()
            .enumerate()
            .map(|(i, (name, subdistrict))| {
                // 晏城 south of the railway, 晏北 north of it: a plausible
                // spread around the county seat.
                let (col, row) = ((i % 5) as f64, (i / 5) as f64);
                Community {
                    id: id("community", name),
                    name,
                    subdistrict,
                    longitude: 116.735 + col * 0.012,
                    latitude: 36.775 + row * 0.012,
                }
            })
            .collect();
        let enterprises: Vec<Enterprise> = ENTERPRISES
            .iter()
            .map(
                |&(name, industry, kind, brand, community, parent, workers, full, registered)| {
                    Enterprise {
                        id: id("enterprise", name),
                        name,
                        industry,
                        kind,
                        brand,
                        community,
                        parent,
                        workers,
                        full_members: full,
                        registered_workers: registered,
                    }
                },
            )
            .collect();
        let mut orgs = vec![Org {
            id: id("organization", "中共齐河县委两新组织工作委员会"),
            name: "中共齐河县委两新组织工作委员会".to_owned(),
            kind: OrgKind::Committee,
            parent: None,
            covered: Vec::new(),
            founded_on: "2022-01-10",
        }];
        for (name, _) in COMMITTEES {
            orgs.push(Org {
                id: id("organization", name),
                name: name.to_owned(),
                kind: OrgKind::Committee,
                parent: Some(WORK_COMMITTEE),
                covered: Vec::new(),
                founded_on: "2022-02-18",
            });
        }
        for (name, kind, covered, founded_on) in BRANCHES {
            let industry = enterprises[covered[0]].industry;
            orgs.push(Org {
                id: id("organization", name),
                name: name.to_owned(),
                kind,
                parent: Some(committee_org(industry)),
                covered: covered.to_vec(),
                founded_on,
            });
        }
        let covering = |e: usize| {
            orgs.iter()
                .position(|o| o.covered.contains(&e))
                .unwrap_or(committee_org(enterprises[e].industry))
        };

        let mut people = Vec::new();
        let mut add = |role: Role,
                       industry: Option<Industry>,
                       enterprise: Option<usize>,
                       community: Option<usize>,
                       full_member: bool,
                       affiliation: Option<usize>| {
            let index = people.len() as u32;
            let (oldest, youngest) = match role {
                Role::Worker { .. } | Role::EnterpriseMember { .. } => (1972, 2002),
                _ => (1968, 1992),
            };
            let platform = enterprise.map_or("", |e: usize| enterprises[e].brand);
            let h = mix(u64::from(index) + 7_919);
            people.push(Person {
                index,
                id: id("person", index),
                who: identity(index, oldest, youngest),
                role,
                industry,
                enterprise,
                community,
                platform,
                full_member,
                affiliation,
                union_member: full_member || !h.is_multiple_of(3),
                home_organisation: None,
            });
        };
        add(
            Role::WorkCommitteeSecretary,
            None,
            None,
            Some(0),
            true,
            Some(WORK_COMMITTEE),
        );
        for industry in Industry::ALL {
            for _ in 0..3 {
                add(
                    Role::CommitteeMember {
                        industry: industry.index(),
                    },
                    Some(industry),
                    None,
                    None,
                    true,
                    Some(committee_org(industry)),
                );
            }
        }
        for e in CADRE_POSTS {
            let industry = enterprises[e].industry;
            add(
                Role::Cadre {
                    industry: industry.index(),
                },
                Some(industry),
                None,
                None,
                true,
                Some(committee_org(industry)),
            );
        }
        for c in 0..COMMUNITIES.len() {
            add(
                Role::CommunityMember { community: c },
                None,
                None,
                Some(c),
                true,
                Some(WORK_COMMITTEE),
            );
        }
        for (e, unit) in enterprises.iter().enumerate() {
            for _ in 0..unit.full_members {
                add(
                    Role::EnterpriseMember { enterprise: e },
                    Some(unit.industry),
                    Some(e),
                    Some(unit.community),
                    true,
                    Some(covering(e)),
                );
            }
        }
        for (e, unit) in enterprises.iter().enumerate() {
            for _ in 0..unit.registered_workers {
                add(
                    Role::Worker { enterprise: e },
                    Some(unit.industry),
                    Some(e),
                    Some(unit.community),
                    false,
                    None,
                );
            }
        }
        // Two in three enterprise members work away from home: the mobile
        // members who report at the stations.
        let mut mobile = 0;
        for p in people.iter_mut() {
            if matches!(p.role, Role::EnterpriseMember { .. }) && !p.index.is_multiple_of(3) {
                p.home_organisation = Some(HOMES[mobile % HOMES.len()].to_owned());
                mobile += 1;
            }
        }
        World {
            communities,
            enterprises,
            orgs,
            people,
        }
    }

    pub(crate) fn with_role(&self, f: impl Fn(&Role) -> bool) -> Vec<&Person> {
        self.people.iter().filter(|p| f(&p.role)).collect()
    }

    /// Non-member workers of enterprise `e`, the first being its head.
    pub(crate) fn workers_of(&self, e: usize) -> Vec<&Person> {
        self.with_role(|r| *r == Role::Worker { enterprise: e })
    }

    pub(crate) fn members_of(&self, e: usize) -> Vec<&Person> {
        self.with_role(|r| *r == Role::EnterpriseMember { enterprise: e })
    }

    /// Every non-member worker, in a fixed shuffled order (by id), so that
    /// selections spread over the enterprises.
    pub(crate) fn shuffled_workers(&self) -> Vec<&Person> {
        let mut all = self.with_role(|r| matches!(r, Role::Worker { .. }));
        all.sort_by_key(|p| p.id);
        all
    }

    /// Everyone who works in an enterprise, member or not, shuffled.
    pub(crate) fn shuffled_staff(&self) -> Vec<&Person> {
        let mut all =
            self.with_role(|r| matches!(r, Role::Worker { .. } | Role::EnterpriseMember { .. }));
        all.sort_by_key(|p| p.id);
        all
    }

    /// The covering organisation of enterprise `e`, if any.
    pub(crate) fn covering(&self, e: usize) -> Option<usize> {
        self.orgs.iter().position(|o| o.covered.contains(&e))
    }

    /// The two workers who became members in 2022: a rider of 美团外卖齐河站
    /// and a courier of the 顺丰 outlet (their heads excluded).
    pub(crate) fn new_members(&self) -> [&Person; 2] {
        let rider = self.workers_of(8);
        let courier = self.workers_of(0);
        [rider[1], courier[1]]
    }

    /// The 23 activists of 2022, from the covered units (heads and the two
    /// new members excluded).
    pub(crate) fn activists(&self) -> Vec<&Person> {
        let plan: [(usize, usize); 11] = [
            (8, 6),
            (0, 3),
            (1, 2),
            (2, 2),
            (12, 2),
            (3, 1),
            (4, 1),
            (9, 2),
            (10, 1),
            (16, 2),
            (18, 1),
        ];
        plan.iter()
            .flat_map(|&(e, n)| self.workers_of(e).into_iter().skip(2).take(n))
            .collect()
    }

    /// The 43 food-delivery riders appointed part-time grid workers.
    pub(crate) fn grid_workers(&self) -> Vec<&Person> {
        let mut riders: Vec<&Person> = [8usize, 9, 10, 11]
            .iter()
            .flat_map(|e| self.workers_of(*e).into_iter().skip(3))
            .collect();
        riders.sort_by_key(|p| p.id);
        riders.truncate(43);
        riders.sort_by_key(|p| p.index);
        riders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cast_fits_the_figures() {
        let w = World::qihe_2022();
        assert_eq!(w.communities.len(), 20);
        assert_eq!(
            w.orgs
                .iter()
                .filter(|o| o.kind != OrgKind::Committee)
                .count(),
            8
        );
        assert_eq!(w.activists().len(), 23);
        assert_eq!(w.grid_workers().len(), 43);
        assert!(
            w.people.len() < 1000,
            "ID numbers take the index as sequence"
        );
        let ids: std::collections::HashSet<_> = w.people.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), w.people.len());
        for (e, unit) in w.enterprises.iter().enumerate() {
            assert_eq!(w.members_of(e).len() as u32, unit.full_members);
            assert!(unit.full_members + unit.registered_workers <= unit.workers);
            // Every unit with members is covered: the 100% of the article.
            assert_eq!(
                unit.full_members > 0,
                w.covering(e).is_some(),
                "{}",
                unit.name
            );
        }
        let new = w.new_members();
        for a in w.activists() {
            assert!(!new.iter().any(|n| n.id == a.id));
        }
        assert!(w.shuffled_workers().len() >= 165);
    }
}
