//! The projection end to end: commands through the organization service's
//! handler, events through the in-process feed (embedded default) or the
//! outbox relay and JetStream (distributed), figures out of the dashboard's
//! JSON.

use std::time::Duration;

use axum::body::Body;
use hongxin_bus::{EventFeed, JetStreamSettings, OutboxRelay};
use hongxin_domain::{CommandContext, CommandHandler, RetryPolicy};
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_organization::committee::{Command, CommitteeDecider, Industry};
use hongxin_projection::{Applied, Projection, ProjectionDb};
use hongxin_runtime::Shutdown;
use tower::ServiceExt as _;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

pub(crate) async fn register(
    handler: &CommandHandler<CommitteeDecider>,
    industry: Industry,
    n: usize,
) {
    for i in 0..n {
        let id = Uuid::now_v7();
        let command = Command::Register {
            committee_id: id,
            name: format!("行业党委{i}"),
            industry,
            lead_department: "县委组织部".to_owned(),
        };
        handler
            .handle(
                &CommandHandler::<CommitteeDecider>::stream_id(id),
                &command,
                &CommandContext::new("test"),
                RetryPolicy::Never,
            )
            .await
            .expect("register");
    }
}

async fn overview(p: &Projection) -> serde_json::Value {
    let response = hongxin_projection::routes(p.clone(), Shutdown::new())
        .oneshot(
            axum::http::Request::get("/api/v1/overview")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("json")
}

fn committees(o: &serde_json::Value, industry: &str) -> i64 {
    o["committees_by_industry"]
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["industry"] == industry)
        .map_or(0, |r| r["committees"].as_i64().expect("number"))
}

/// Waits until the projection has applied `n` organization events.
pub(crate) async fn wait_applied(p: &Projection, n: u64) {
    tokio::time::timeout(WAIT, async {
        loop {
            if p.freshness()
                .get("organization")
                .is_some_and(|f| f.position >= n)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the projection did not catch up in time");
}

/// The embedded default's wiring: an organization store, the projection and
/// the in-process feed between them, running until dropped.
pub(crate) struct Embedded {
    pub(crate) store: EventStore,
    pub(crate) projection: Projection,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

impl Embedded {
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let store = EventStore::open(&StoreConfig::Sqlite {
            path: dir.path().join("organization.db"),
        })
        .await
        .expect("store");
        let projection = Projection::open(&ProjectionDb::Sqlite {
            path: dir.path().join("projection.db"),
        })
        .await
        .expect("projection");
        let feed = EventFeed::in_process(store.clone(), "organization", "projection")
            .await
            .expect("feed");
        let shutdown = Shutdown::new();
        {
            let p = projection.clone();
            let s = shutdown.clone();
            tokio::spawn(async move { p.run("organization", feed, s).await });
        }
        Self {
            store,
            projection,
            shutdown,
            _dir: dir,
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

#[tokio::test]
async fn embedded_default_commands_reach_the_dashboard() {
    let system = Embedded::start().await;
    let (store, projection) = (&system.store, &system.projection);
    let handler = CommandHandler::new(store.clone(), CommitteeDecider);
    register(&handler, Industry::Express, 3).await;
    register(&handler, Industry::FoodDelivery, 2).await;
    wait_applied(projection, 5).await;
    let o = overview(projection).await;
    assert_eq!(committees(&o, "express"), 3);
    assert_eq!(committees(&o, "food_delivery"), 2);
    assert_eq!(o["events"][0]["events"], 5);
}

#[tokio::test]
async fn distributed_commands_reach_the_dashboard_through_jetstream() {
    let context_suffix = &Uuid::new_v4().simple().to_string()[..8];
    let schema = hongxin_testkit::pg::fresh_schema();
    let store = EventStore::open(&StoreConfig::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: schema.clone(),
        max_connections: 4,
    })
    .await
    .expect("store");
    let handler = CommandHandler::new(store.clone(), CommitteeDecider);
    // The relay publishes on the real subjects and stream, so this test has
    // a server of its own.
    let nats = hongxin_testkit::nats::PrivateNats::start()
        .await
        .expect("private nats-server");
    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let shutdown = Shutdown::new();
    let relay = OutboxRelay::new(store.clone(), js.clone(), "organization");
    tokio::spawn(relay.run(shutdown.wait()));
    let projection = Projection::open(&ProjectionDb::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: format!("{schema}_p"),
    })
    .await
    .expect("projection");
    let durable = format!("projection_{context_suffix}");
    let feed = EventFeed::jetstream(&js, "organization", &durable, &JetStreamSettings::default())
        .await
        .expect("feed");
    {
        let p = projection.clone();
        let s = shutdown.clone();
        tokio::spawn(async move { p.run("organization", feed, s).await });
    }
    register(&handler, Industry::Transport, 4).await;
    wait_applied(&projection, 4).await;
    assert_eq!(committees(&overview(&projection).await, "transport"), 4);
    shutdown.trigger();
}

#[tokio::test]
async fn a_killed_projection_resumes_with_the_same_figures_as_a_clean_rebuild() {
    let dir = tempfile::tempdir().expect("dir");
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("organization.db"),
    })
    .await
    .expect("store");
    let handler = CommandHandler::new(store.clone(), CommitteeDecider);
    let db = ProjectionDb::Sqlite {
        path: dir.path().join("projection.db"),
    };

    // Kill the projection (abort its task) again and again while commands flow.
    let writer = {
        let handler = CommandHandler::new(store.clone(), CommitteeDecider);
        tokio::spawn(async move { register(&handler, Industry::LiveCommerce, 60).await })
    };
    for _ in 0..6 {
        let p = Projection::open(&db).await.expect("projection");
        let feed = EventFeed::in_process(store.clone(), "organization", "projection")
            .await
            .expect("feed");
        let task = tokio::spawn(async move { p.run("organization", feed, Shutdown::new()).await });
        tokio::time::sleep(Duration::from_millis(15)).await;
        task.abort();
        let _ = task.await;
    }
    writer.await.expect("writer");
    register(&handler, Industry::Express, 1).await;
    let p = Projection::open(&db).await.expect("projection");
    let feed = EventFeed::in_process(store.clone(), "organization", "projection")
        .await
        .expect("feed");
    let shutdown = Shutdown::new();
    {
        let p = p.clone();
        let s = shutdown.clone();
        tokio::spawn(async move { p.run("organization", feed, s).await });
    }
    wait_applied(&p, 61).await;
    let resumed = overview(&p).await;

    let clean = Projection::open(&ProjectionDb::Sqlite {
        path: dir.path().join("rebuild.db"),
    })
    .await
    .expect("clean");
    let feed = EventFeed::in_process(store.clone(), "organization", "rebuild")
        .await
        .expect("feed");
    {
        let c = clean.clone();
        let s = shutdown.clone();
        tokio::spawn(async move { c.run("organization", feed, s).await });
    }
    wait_applied(&clean, 61).await;
    let rebuilt = overview(&clean).await;
    assert_eq!(
        resumed["committees_by_industry"],
        rebuilt["committees_by_industry"]
    );
    assert_eq!(resumed["events"], rebuilt["events"]);
    assert_eq!(committees(&resumed, "live_commerce"), 60);
    shutdown.trigger();
}

#[tokio::test]
async fn a_redelivered_event_changes_nothing_and_a_gap_is_held_back() {
    let dir = tempfile::tempdir().expect("dir");
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("organization.db"),
    })
    .await
    .expect("store");
    register(
        &CommandHandler::new(store.clone(), CommitteeDecider),
        Industry::Express,
        3,
    )
    .await;
    let envelopes: Vec<_> = store
        .read_all(0, 10)
        .await
        .expect("read")
        .iter()
        .map(|e| hongxin_bus::envelope_of("organization", e))
        .collect();
    for db in [
        ProjectionDb::Sqlite {
            path: dir.path().join("p.db"),
        },
        ProjectionDb::Postgres {
            url: hongxin_testkit::pg::url(),
            schema: hongxin_testkit::pg::fresh_schema(),
        },
    ] {
        let p = Projection::open(&db).await.expect("projection");
        // A redelivery, then the third event before the second.
        let steps = [
            (0, Applied::Applied),
            (0, Applied::Duplicate),
            (2, Applied::Gap),
            (1, Applied::Applied),
            (2, Applied::Applied),
        ];
        for (i, expected) in steps {
            let applied = hongxin_projection::apply(&p, &envelopes[i])
                .await
                .expect("apply");
            assert_eq!(applied, expected, "event {i}");
        }
        let o = overview(&p).await;
        assert_eq!(committees(&o, "express"), 3);
        assert_eq!(o["events"][0]["events"], 3);
    }
}

#[tokio::test]
async fn enterprises_and_their_members_reach_the_dashboard_by_industry_and_community() {
    use hongxin_organization::community::{self, CommunityDecider};
    use hongxin_organization::enterprise::{
        self, EnterpriseDecider, Headcount, Kind, Registration,
    };

    let system = Embedded::start().await;
    let (store, projection) = (&system.store, &system.projection);
    let ctx = CommandContext::new("test");
    let communities = CommandHandler::new(store.clone(), CommunityDecider);
    let enterprises = CommandHandler::new(store.clone(), EnterpriseDecider);
    let community_id = Uuid::now_v7();
    communities
        .handle(
            &CommandHandler::<CommunityDecider>::stream_id(community_id),
            &community::Command::Register {
                community_id,
                name: "西关社区".into(),
                subdistrict: "晏城街道".into(),
            },
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("community");
    for (i, (industry, workers, members)) in [
        (Industry::Express, 30, 3),
        (Industry::Express, 12, 0),
        (Industry::FoodDelivery, 80, 5),
    ]
    .into_iter()
    .enumerate()
    {
        let id = Uuid::now_v7();
        let stream = CommandHandler::<EnterpriseDecider>::stream_id(id);
        let registration = Registration {
            enterprise_id: id,
            name: format!("站点{i}"),
            industry,
            kind: Kind::Station,
            community_id,
            platform_brand: String::new(),
            parent_enterprise_id: None,
        };
        enterprises
            .handle(
                &stream,
                &enterprise::Command::Register(registration),
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("enterprise");
        let headcount = Headcount {
            workers,
            full_members: members,
            probationary_members: 0,
        };
        enterprises
            .handle(
                &stream,
                &enterprise::Command::ReportHeadcount(headcount),
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("headcount");
    }
    wait_applied(projection, 7).await;
    let o = overview(projection).await;
    let express = o["enterprises_by_industry"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["industry"] == "express")
        .expect("express")
        .clone();
    assert_eq!(
        (express["enterprises"].as_i64(), express["workers"].as_i64()),
        (Some(2), Some(42))
    );
    assert_eq!(
        (
            express["full_members"].as_i64(),
            express["with_members"].as_i64()
        ),
        (Some(3), Some(1))
    );
    let by_community = &o["enterprises_by_community"][0];
    assert_eq!(by_community["community"], "西关社区");
    assert_eq!(by_community["enterprises"], 3);
    assert_eq!(by_community["workers"], 122);
}

#[tokio::test]
async fn coverage_rates_come_from_founded_organisations() {
    use hongxin_organization::community::{self, CommunityDecider};
    use hongxin_organization::enterprise::{
        self, EnterpriseDecider, Headcount, Kind, Registration,
    };
    use hongxin_organization::party;

    let system = Embedded::start().await;
    let (store, projection) = (&system.store, &system.projection);
    let ctx = CommandContext::new("test");
    let community_id = Uuid::now_v7();
    CommandHandler::new(store.clone(), CommunityDecider)
        .handle(
            &CommandHandler::<CommunityDecider>::stream_id(community_id),
            &community::Command::Register {
                community_id,
                name: "南关社区".into(),
                subdistrict: "晏城街道".into(),
            },
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("community");
    let enterprises = CommandHandler::new(store.clone(), EnterpriseDecider);
    let organizations = CommandHandler::new(store.clone(), party::PartyOrganizationDecider);
    // Five units: one with 3 members (own branch), two with 1 and 2 members
    // (a joint branch), one with 1 member left uncovered, one with none.
    let mut ids = Vec::new();
    for members in [3, 1, 2, 1, 0] {
        let id = Uuid::now_v7();
        let stream = CommandHandler::<EnterpriseDecider>::stream_id(id);
        let registration = Registration {
            enterprise_id: id,
            name: format!("网点{members}"),
            industry: Industry::Express,
            kind: Kind::Station,
            community_id,
            platform_brand: String::new(),
            parent_enterprise_id: None,
        };
        enterprises
            .handle(
                &stream,
                &enterprise::Command::Register(registration),
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("register");
        let headcount = Headcount {
            workers: 10,
            full_members: members,
            probationary_members: 0,
        };
        enterprises
            .handle(
                &stream,
                &enterprise::Command::ReportHeadcount(headcount),
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("headcount");
        ids.push((id, members));
    }
    for (kind, covered) in [
        (party::Kind::Branch, vec![ids[0]]),
        (party::Kind::JointBranch, vec![ids[1], ids[2]]),
    ] {
        let org = Uuid::now_v7();
        let founding = party::Founding {
            organization_id: org,
            name: "快递党支部".into(),
            kind,
            parent: None,
            covered: covered.iter().map(|(id, _)| *id).collect(),
            secretary: None,
            founded_on: chrono::NaiveDate::from_ymd_opt(2022, 6, 1).expect("date"),
        };
        let units = covered
            .iter()
            .map(|(id, m)| party::Unit {
                enterprise_id: *id,
                full_members: *m,
                covered_by: None,
            })
            .collect();
        organizations
            .handle(
                &CommandHandler::<party::PartyOrganizationDecider>::stream_id(org),
                &party::Command::Found { founding, units },
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("found");
        for (id, _) in covered {
            enterprises
                .handle(
                    &CommandHandler::<EnterpriseDecider>::stream_id(id),
                    &enterprise::Command::Cover {
                        organization_id: org,
                        kind,
                    },
                    &ctx,
                    RetryPolicy::Never,
                )
                .await
                .expect("cover");
        }
    }
    // 1 community + 10 enterprise events + 2 foundings + 3 coverings.
    wait_applied(projection, 16).await;
    let c = overview(projection).await["coverage"].clone();
    assert_eq!(
        (
            c["enterprises"].as_i64(),
            c["covered"].as_i64(),
            c["own_branch"].as_i64()
        ),
        (Some(5), Some(3), Some(1))
    );
    assert_eq!(
        (
            c["with_members"].as_i64(),
            c["with_members_covered"].as_i64()
        ),
        (Some(4), Some(3))
    );
    assert_eq!(c["organization_rate"].as_f64(), Some(60.0));
    assert_eq!(c["own_branch_rate"].as_f64(), Some(20.0));
    assert_eq!(c["member_units_rate"].as_f64(), Some(75.0));
    assert_eq!(c["work_coverage_rate"].as_f64(), Some(60.0));

    // An instructor for the uncovered unit with a member: work coverage
    // reaches it, organisation coverage does not.
    enterprises
        .handle(
            &CommandHandler::<EnterpriseDecider>::stream_id(ids[3].0),
            &enterprise::Command::AssignInstructor {
                person_id: Uuid::now_v7(),
                on: chrono::NaiveDate::from_ymd_opt(2022, 7, 1).expect("date"),
            },
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("instructor");
    wait_applied(projection, 17).await;
    let c = overview(projection).await["coverage"].clone();
    assert_eq!(c["instructed"].as_i64(), Some(1));
    assert_eq!(c["work_coverage_rate"].as_f64(), Some(80.0));
    assert_eq!(c["organization_rate"].as_f64(), Some(60.0));
}

#[tokio::test]
async fn people_figures_count_categories_and_survive_erasure() {
    use hongxin_organization::person::{
        Command, Flags, PartyStatus, PersonDecider, Registration, StatusChange, Work,
    };

    let system = Embedded::start().await;
    let people = CommandHandler::new(system.store.clone(), PersonDecider);
    let ctx = CommandContext::new("test");
    let branch = Uuid::now_v7();
    // Four riders and a courier: a full member, a probationary member, an
    // activist, two not in the pipeline; three in the union.
    let mut ids = Vec::new();
    for (n, (industry, status, union_member)) in [
        (Industry::FoodDelivery, PartyStatus::Full, true),
        (Industry::FoodDelivery, PartyStatus::Probationary, true),
        (Industry::FoodDelivery, PartyStatus::Activist, false),
        (Industry::FoodDelivery, PartyStatus::None, false),
        (Industry::Express, PartyStatus::None, true),
    ]
    .into_iter()
    .enumerate()
    {
        let person_id = Uuid::now_v7();
        let registration = Registration {
            person_id,
            // The projection never sees inside; any sealed bytes will do.
            sealed_details: vec![1, n as u8],
            work: Work {
                industry: Some(industry),
                platform: String::new(),
                enterprise: None,
                community: None,
            },
            flags: Flags {
                union_member,
                mobile_member: false,
                home_organisation: String::new(),
            },
            party_status: status,
            affiliation: status.is_member().then_some(branch),
        };
        people
            .handle(
                &CommandHandler::<PersonDecider>::stream_id(person_id),
                &Command::Register(registration),
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("register");
        ids.push(person_id);
    }
    // The probationary member is confirmed; the courier is erased.
    people
        .handle(
            &CommandHandler::<PersonDecider>::stream_id(ids[1]),
            &Command::RecordPartyStatus(StatusChange {
                status: PartyStatus::Full,
                affiliation: Some(branch),
                on: chrono::NaiveDate::from_ymd_opt(2023, 6, 1).expect("date"),
                source_event: None,
            }),
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("confirm");
    people
        .handle(
            &CommandHandler::<PersonDecider>::stream_id(ids[4]),
            &Command::Erase {
                reason: "本人申请".into(),
            },
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("erase");
    wait_applied(&system.projection, 7).await;
    let o = overview(&system.projection).await;
    let p = &o["people"];
    assert_eq!(
        [
            p["registered"].as_i64(),
            p["full_members"].as_i64(),
            p["probationary_members"].as_i64(),
            p["in_pipeline"].as_i64(),
            p["union_members"].as_i64(),
        ],
        [Some(5), Some(2), Some(0), Some(1), Some(3)]
    );
    let by_industry: Vec<(String, i64, i64)> = o["people_by_industry"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["industry"].as_str().expect("industry").to_owned(),
                r["people"].as_i64().expect("people"),
                r["members"].as_i64().expect("members"),
            )
        })
        .collect();
    assert_eq!(
        by_industry,
        [
            ("express".to_owned(), 1, 0),
            ("food_delivery".to_owned(), 4, 2)
        ]
    );

    // After the shredding, read models rebuilt from the events give the
    // same totals: the figures never needed the erased person's data.
    let dir = tempfile::tempdir().expect("dir");
    let rebuilt = ProjectionDb::Sqlite {
        path: dir.path().join("rebuilt.db"),
    };
    hongxin_projection::rebuild_into(
        &rebuilt,
        vec![hongxin_projection::RebuildSource::Store {
            context: "organization".into(),
            store: system.store.clone(),
        }],
    )
    .await
    .expect("rebuild");
    let again = overview(&Projection::open(&rebuilt).await.expect("rebuilt")).await;
    assert_eq!(again["people"], o["people"]);
    assert_eq!(again["people_by_industry"], o["people_by_industry"]);
}

#[tokio::test]
async fn report_stations_and_checked_in_members_reach_the_dashboard() {
    use hongxin_organization::station::{Command, Opening, StationDecider};

    let system = Embedded::start().await;
    let stations = CommandHandler::new(system.store.clone(), StationDecider);
    let ctx = CommandContext::new("test");
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(2022, m, d).expect("day");
    let mut ids = Vec::new();
    for n in 0..2 {
        let station_id = Uuid::now_v7();
        let opening = Opening {
            station_id,
            name: format!("报到站{n}"),
            community_id: Uuid::now_v7(),
            address: "齐河县".into(),
            opened_on: day(3, 1),
        };
        let stream = CommandHandler::<StationDecider>::stream_id(station_id);
        stations
            .handle(&stream, &Command::Open(opening), &ctx, RetryPolicy::Never)
            .await
            .expect("open");
        ids.push(stream);
    }
    let people: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for (i, person) in people.iter().enumerate() {
        let check_in = Command::CheckIn {
            person_id: *person,
            home_organisation: "外地党支部".into(),
            on: day(4, 1),
        };
        stations
            .handle(&ids[i % 2], &check_in, &ctx, RetryPolicy::Never)
            .await
            .expect("check in");
    }
    let check_out = Command::CheckOut {
        person_id: people[0],
        on: day(5, 1),
    };
    stations
        .handle(&ids[0], &check_out, &ctx, RetryPolicy::Never)
        .await
        .expect("check out");
    wait_applied(&system.projection, 6).await;
    let r = overview(&system.projection).await["report_stations"].clone();
    assert_eq!(
        (r["stations"].as_i64(), r["members"].as_i64()),
        (Some(2), Some(2))
    );
}

#[tokio::test]
async fn vanguard_sites_and_signatures_reach_the_dashboard() {
    use hongxin_organization::vanguard::{
        ConventionDecider, Establish, Sign, Site, SiteDecider, SiteKind,
    };

    let system = Embedded::start().await;
    let sites = CommandHandler::new(system.store.clone(), SiteDecider);
    let conventions = CommandHandler::new(system.store.clone(), ConventionDecider);
    let ctx = CommandContext::new("test");
    let day = chrono::NaiveDate::from_ymd_opt(2022, 5, 1).expect("day");
    for kind in [
        SiteKind::DemonstrationStation,
        SiteKind::VanguardPost,
        SiteKind::VanguardPost,
    ] {
        let site_id = Uuid::now_v7();
        let site = Site {
            site_id,
            kind,
            name: "先锋岗".into(),
            community_id: Uuid::now_v7(),
            enterprise_id: None,
            established_on: day,
        };
        sites
            .handle(
                &CommandHandler::<SiteDecider>::stream_id(site_id),
                &Establish(site),
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("site");
    }
    let convention_id = Uuid::now_v7();
    for _ in 0..4 {
        let sign = Sign {
            convention_id,
            title: "先锋骑士十条公约".into(),
            person_id: Uuid::now_v7(),
            on: day,
        };
        conventions
            .handle(
                &CommandHandler::<ConventionDecider>::stream_id(convention_id),
                &sign,
                &ctx,
                RetryPolicy::Reload(3),
            )
            .await
            .expect("sign");
    }
    wait_applied(&system.projection, 7).await;
    let v = overview(&system.projection).await["vanguard"].clone();
    assert_eq!(v["demonstration_stations"], 1);
    assert_eq!(v["vanguard_posts"], 2);
    assert_eq!(v["convention_signatures"], 4);
}

#[tokio::test]
async fn shows_policy_and_the_governance_calendar_reach_the_dashboard() {
    use chrono::Datelike as _;
    use hongxin_organization::governance::{DutyDecider, DutyKind, Held, Period};
    use hongxin_organization::policy::{self, PolicyDecider};
    use hongxin_organization::shows::{Record, Show, ShowDecider, Shown};

    let system = Embedded::start().await;
    let ctx = CommandContext::new("test");
    let today = hongxin_domain::time::beijing_today(chrono::Utc::now());
    let shows = CommandHandler::new(system.store.clone(), ShowDecider);
    let member = Uuid::now_v7();
    let enterprise = Uuid::now_v7();
    for (subject, show, commitment) in [
        (member, Show::Identity, ""),
        (member, Show::VehicleMarking, ""),
        (member, Show::Identity, ""), // shown again: nothing new
        (enterprise, Show::Commitment, "文明骑行"),
    ] {
        shows
            .handle(
                &CommandHandler::<ShowDecider>::stream_id(subject),
                &Record(Shown {
                    subject_id: subject,
                    show,
                    commitment: commitment.to_owned(),
                    on: today,
                }),
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("show");
    }
    let policies = CommandHandler::new(system.store.clone(), PolicyDecider);
    let mut retired = None;
    for (kind, title) in [
        (policy::Kind::Measure, "暖新措施一"),
        (policy::Kind::Measure, "暖新措施二"),
        (policy::Kind::Action, "强基铸魂"),
        (policy::Kind::System, "书记直通车"),
    ] {
        let policy_id = Uuid::now_v7();
        policies
            .handle(
                &CommandHandler::<PolicyDecider>::stream_id(policy_id),
                &policy::Command::Issue(policy::Issue {
                    policy_id,
                    kind,
                    title: title.to_owned(),
                    summary: String::new(),
                    issued_on: today,
                }),
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("issue");
        retired = Some(policy_id);
    }
    let system_item = retired.expect("an item");
    policies
        .handle(
            &CommandHandler::<PolicyDecider>::stream_id(system_item),
            &policy::Command::Retire { on: today },
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("retire");
    // The joint meeting of January of this year was held.
    let first_day = chrono::NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("day");
    let duties = CommandHandler::new(system.store.clone(), DutyDecider);
    duties
        .handle(
            &CommandHandler::<DutyDecider>::stream_id(
                Period::containing(DutyKind::JointMeeting, first_day).stream_key(),
            ),
            &Held {
                kind: DutyKind::JointMeeting,
                held_on: first_day,
                minutes: "研究暖新措施落实".to_owned(),
                attendees: vec![Uuid::now_v7(), Uuid::now_v7()],
            },
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("held");
    // And a field research of the third quarter of 2022.
    let researched = chrono::NaiveDate::from_ymd_opt(2022, 8, 10).expect("day");
    duties
        .handle(
            &CommandHandler::<DutyDecider>::stream_id(
                Period::containing(DutyKind::FieldResearch, researched).stream_key(),
            ),
            &Held {
                kind: DutyKind::FieldResearch,
                held_on: researched,
                minutes: "走访快递网点".to_owned(),
                attendees: vec![Uuid::now_v7()],
            },
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("held in 2022");
    // 3 shows + 4 issues + 1 retirement + 2 duties.
    wait_applied(&system.projection, 10).await;
    let o = overview(&system.projection).await;
    let v = &o["vanguard"];
    assert_eq!(
        [
            v["identity_shows"].as_i64(),
            v["vehicle_markings"].as_i64(),
            v["enterprise_commitments"].as_i64()
        ],
        [Some(1), Some(1), Some(1)]
    );
    let in_force: Vec<(String, i64)> = o["policy"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().expect("kind").to_owned(),
                r["in_force"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(
        in_force,
        [("action".to_owned(), 1), ("measure".to_owned(), 2)],
        "the retired system is no longer in force"
    );
    let g = &o["governance"];
    assert_eq!(g["year"].as_i64(), Some(i64::from(today.year())));
    let joint = g["duties"]
        .as_array()
        .expect("duties")
        .iter()
        .find(|d| d["kind"] == "joint_meeting")
        .expect("joint meeting");
    // Every month before this one has ended; January's meeting was held.
    let ended = i64::from(today.month0());
    assert_eq!(joint["held"].as_i64(), Some(1));
    assert_eq!(joint["due"].as_i64(), Some(ended));
    assert_eq!(joint["overdue"].as_i64(), Some((ended - 1).max(0)));
    // 2022 is an earlier year: all four quarters ended, one researched.
    let earlier = g["earlier"].as_array().expect("earlier years");
    let years: std::collections::BTreeSet<i64> =
        earlier.iter().filter_map(|d| d["year"].as_i64()).collect();
    assert_eq!(years, [2022].into());
    let research = earlier
        .iter()
        .find(|d| d["kind"] == "field_research")
        .expect("field research");
    assert_eq!(
        [
            research["held"].as_i64(),
            research["due"].as_i64(),
            research["overdue"].as_i64()
        ],
        [Some(1), Some(4), Some(3)]
    );
}

#[tokio::test]
async fn the_development_funnel_and_the_capability_figures_reach_the_dashboard() {
    use hongxin_pipeline::candidate::{Application, CandidateDecider, Command as Step};
    use hongxin_pipeline::pairing::{self, PairDecider};
    use hongxin_pipeline::posts::{self, PostDecider};
    use hongxin_pipeline::rules::RuleSet;
    use hongxin_pipeline::training::{self, SessionDecider};

    let (store, projection, shutdown, _dir) = single_context("pipeline").await;
    let ctx = CommandContext::new("test");
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).expect("day");
    // Three applicants; one talked to and confirmed as activist.
    let candidates = CommandHandler::new(store.clone(), CandidateDecider::default());
    let mut ids = Vec::new();
    for n in 0..3 {
        let candidate_id = Uuid::now_v7();
        candidates
            .handle(
                &CommandHandler::<CandidateDecider>::stream_id(candidate_id),
                &Step::Apply {
                    application: Application {
                        candidate_id,
                        person_id: Uuid::now_v7(),
                        organization_id: Uuid::now_v7(),
                        applied_on: day(2023, 1, 2 + n),
                        rules: RuleSet::cpc_2014(),
                    },
                    birth_date: day(1990, 1, 1),
                },
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("apply");
        ids.push(candidate_id);
    }
    let stream = CommandHandler::<CandidateDecider>::stream_id(ids[0]);
    for command in [
        Step::Record {
            step: hongxin_pipeline::candidate::Step::Talk,
            on: day(2023, 1, 20),
            details: Default::default(),
        },
        Step::Record {
            step: hongxin_pipeline::candidate::Step::ActivistConfirmed,
            on: day(2023, 3, 1),
            details: hongxin_pipeline::candidate::Details {
                recommended_by: Some(hongxin_pipeline::candidate::Recommender::Union),
                ..Default::default()
            },
        },
    ] {
        candidates
            .handle(&stream, &command, &ctx, RetryPolicy::Never)
            .await
            .expect("step");
    }
    let pair_id = Uuid::now_v7();
    CommandHandler::new(store.clone(), PairDecider)
        .handle(
            &CommandHandler::<PairDecider>::stream_id(pair_id),
            &pairing::Command::Start(pairing::Start {
                pair_id,
                kind: pairing::Kind::Cultivation,
                member: Uuid::now_v7(),
                partner: Uuid::now_v7(),
                enterprise: None,
                started_on: day(2022, 3, 1),
            }),
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("pair");
    let sessions = CommandHandler::new(store.clone(), SessionDecider);
    let session_id = Uuid::now_v7();
    let stream = CommandHandler::<SessionDecider>::stream_id(session_id);
    sessions
        .handle(
            &stream,
            &training::Command::Schedule(training::Session {
                session_id,
                course: "技能教学".into(),
                kind: training::CourseKind::Skills,
                base: "培训基地".into(),
                lecturer: "县人社局".into(),
                held_on: day(2022, 5, 1),
                class_hours: 3,
                counts_as_centralised: false,
            }),
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("session");
    for people in [
        vec![Uuid::from_u128(1), Uuid::from_u128(2)],
        vec![Uuid::from_u128(2), Uuid::from_u128(3)],
    ] {
        sessions
            .handle(
                &stream,
                &training::Command::Attend { people },
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("attend");
    }
    let post_id = Uuid::now_v7();
    CommandHandler::new(store.clone(), PostDecider)
        .handle(
            &CommandHandler::<PostDecider>::stream_id(post_id),
            &posts::Publish(posts::Post {
                post_id,
                kind: posts::Kind::MicroWish,
                author: Some(Uuid::now_v7()),
                title: "心愿".into(),
                body: "一台电风扇".into(),
                published_on: day(2022, 6, 1),
            }),
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("post");
    // 3 applications, 2 steps, 1 pair, 1 session, 2 attendances, 1 post.
    wait_context(&projection, "pipeline", 10).await;
    let o = overview(&projection).await;
    let d = &o["development"];
    assert_eq!(
        [
            d["applicants"].as_i64(),
            d["activists"].as_i64(),
            d["full"].as_i64()
        ],
        [Some(2), Some(1), Some(0)]
    );
    // The pipeline's rules: the two applicants were owed a talk within a
    // month of applying in January 2023, and the activist an assessment
    // six months after March 2023 — all long overdue.
    let talk = d["due_by_step"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == "talk")
        .expect("talk");
    assert_eq!(
        [talk["due"].as_i64(), talk["overdue"].as_i64()],
        [Some(0), Some(2)]
    );
    assert_eq!(d["steps_due"], 0);
    assert!(d["steps_overdue"].as_i64() >= Some(3), "{d}");
    let k = &o["capability"];
    assert_eq!(
        [
            k["cultivation_pairs"].as_i64(),
            k["training_sessions"].as_i64(),
            k["training_attendances"].as_i64(),
            k["micro_wishes"].as_i64(),
        ],
        [Some(1), Some(1), Some(3), Some(1)]
    );
    shutdown.trigger();
}

/// One context's SQLite store with a projection following it in process.
async fn single_context(
    context: &'static str,
) -> (EventStore, Projection, Shutdown, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join(format!("{context}.db")),
    })
    .await
    .expect("store");
    let projection = Projection::open(&ProjectionDb::Sqlite {
        path: dir.path().join("projection.db"),
    })
    .await
    .expect("projection");
    let shutdown = Shutdown::new();
    let feed = EventFeed::in_process(store.clone(), context, "projection")
        .await
        .expect("feed");
    let (p, s) = (projection.clone(), shutdown.clone());
    tokio::spawn(async move { p.run(context, feed, s).await });
    (store, projection, shutdown, dir)
}

/// Waits until the projection has applied `n` events of `context`.
async fn wait_context(p: &Projection, context: &str, n: u64) {
    tokio::time::timeout(WAIT, async {
        loop {
            if p.freshness().get(context).is_some_and(|f| f.position >= n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the projection did not catch up in time");
}

#[tokio::test]
async fn the_service_figures_reach_the_dashboard() {
    use hongxin_care::{activity, centre, hardship, supplies, wishes};

    let (store, projection, shutdown, _dir) = single_context("care").await;
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(2022, m, d).expect("day");
    async fn run<D: hongxin_domain::Decider>(
        store: &EventStore,
        decider: D,
        id: Uuid,
        commands: Vec<D::Command>,
    ) {
        let handler = CommandHandler::new(store.clone(), decider);
        for c in commands {
            handler
                .handle(
                    &CommandHandler::<D>::stream_id(id),
                    &c,
                    &CommandContext::new("test"),
                    RetryPolicy::Never,
                )
                .await
                .expect("command");
        }
    }
    // Two requests: one completed on time and one late.
    let item = centre::Item {
        item_id: Uuid::now_v7(),
        name: "法律咨询".into(),
        department: "县司法局".into(),
        function: "法律援助".into(),
        turnaround_days: 3,
    };
    for completed_on in [day(5, 4), day(5, 9)] {
        let request_id = Uuid::now_v7();
        run(
            &store,
            centre::RequestDecider,
            request_id,
            vec![
                centre::RequestCommand::File {
                    request_id,
                    item: item.clone(),
                    person_id: Uuid::now_v7(),
                    text: "欠薪咨询".into(),
                    filed_on: day(5, 2),
                },
                centre::RequestCommand::Progress {
                    to: centre::RequestState::Accepted,
                    on: day(5, 3),
                    note: String::new(),
                },
                centre::RequestCommand::Progress {
                    to: centre::RequestState::Completed,
                    on: completed_on,
                    note: String::new(),
                },
            ],
        )
        .await;
    }
    // An activity with two check-ins (one person checking in twice).
    let activity_id = Uuid::now_v7();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    run(
        &store,
        activity::ActivityDecider,
        activity_id,
        vec![
            activity::Command::Plan(activity::Plan {
                activity_id,
                kind: activity::Kind::Sports,
                title: "骑手运动会".into(),
                organiser: "县总工会".into(),
                place: "体育馆".into(),
                held_on: day(6, 1),
                capacity: 10,
            }),
            activity::Command::Register { person_id: a },
            activity::Command::Register { person_id: b },
            activity::Command::CheckIn { person_id: a },
            activity::Command::CheckIn { person_id: a },
            activity::Command::CheckIn { person_id: b },
        ],
    )
    .await;
    // An approved hardship case with ¥2,350.50 of support.
    let case_id = Uuid::now_v7();
    let mut commands = vec![hardship::Command::Apply {
        case_id,
        person_id: Uuid::now_v7(),
        figures: hardship::Figures {
            household_size: 2,
            annual_income_fen: 1_000_000,
            unavoidable_expenses_fen: 0,
            standard_fen: 80_000,
            accident: false,
        },
        sealed_household: vec![1, 2, 3],
        applied_on: day(3, 1),
    }];
    for (step, d) in [
        (hardship::Step::UnionReview, 2),
        (hardship::Step::HomeVisit, 3),
        (hardship::Step::CrossCheck, 4),
        (hardship::Step::Notice, 5),
        (hardship::Step::Approval, 10),
    ] {
        commands.push(hardship::Command::Record {
            step,
            on: day(3, d),
            passed: true,
            note: String::new(),
        });
    }
    commands.push(hardship::Command::Give(hardship::Support {
        support_id: Uuid::now_v7(),
        kind: hardship::SupportKind::Cash,
        amount_fen: 235_050,
        description: String::new(),
        giver: "县总工会".into(),
        on: day(3, 20),
    }));
    run(&store, hardship::CaseDecider, case_id, commands).await;
    // Supplies: 7 packs of ¥35.50.
    let campaign_id = Uuid::now_v7();
    run(
        &store,
        supplies::CampaignDecider,
        campaign_id,
        vec![
            supplies::Command::Open(supplies::Opening {
                campaign_id,
                name: "夏送清凉".into(),
                item: "防暑包".into(),
                unit_value_fen: 3_550,
            }),
            supplies::Command::StockIn {
                quantity: 10,
                on: day(7, 1),
            },
            supplies::Command::HandOut {
                recipient: Uuid::now_v7(),
                to_station: false,
                quantity: 7,
                on: day(7, 2),
            },
        ],
    )
    .await;
    // A wish received, claimed and fulfilled.
    let wish_id = Uuid::now_v7();
    run(
        &store,
        wishes::WishDecider,
        wish_id,
        vec![
            wishes::Command::Receive(wishes::Wish {
                wish_id,
                person_id: Uuid::now_v7(),
                title: "电风扇".into(),
                received_on: day(6, 1),
                post_id: None,
            }),
            wishes::Command::Claim {
                claimant: Uuid::now_v7(),
                on: day(6, 2),
            },
            wishes::Command::Fulfil {
                on: day(6, 3),
                evidence: "已送达".into(),
            },
        ],
    )
    .await;
    let head = store.head_position().await.expect("head");
    wait_context(&projection, "care", head).await;
    let o = overview(&projection).await;
    let v = &o["service"];
    let n = |k: &str| v[k].as_i64();
    assert_eq!(
        [
            n("requests"),
            n("requests_completed"),
            n("requests_on_time"),
            n("requests_overdue")
        ],
        [Some(2), Some(2), Some(1), Some(1)]
    );
    assert_eq!(
        [n("activities_held"), n("activity_participants")],
        [Some(1), Some(2)]
    );
    assert_eq!(
        [
            n("hardship_cases_approved"),
            n("hardship_support_fen"),
            n("supplies_value_fen")
        ],
        [Some(1), Some(235_050), Some(24_850)]
    );
    assert_eq!([n("wishes"), n("wishes_fulfilled")], [Some(1), Some(1)]);
    shutdown.trigger();
}

#[tokio::test]
async fn the_case_figures_reach_the_dashboard() {
    use chrono::TimeZone as _;
    use hongxin_domain::Clock as _;
    use hongxin_grid::case::{Action, CaseDecider, Command as Case, Report};
    use hongxin_grid::geo::Point;
    use hongxin_grid::grid::Category;

    let (store, projection, shutdown, _dir) = single_context("grid").await;
    // Friday 20 November 2026, 15:00 in Beijing.
    let clock = std::sync::Arc::new(hongxin_domain::ManualClock::new(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 20, 7, 0, 0)
            .single()
            .expect("time"),
    ));
    let cases = CommandHandler::with_clock(store.clone(), CaseDecider::default(), clock.clone());
    let category = |code: &str| Category {
        code: code.into(),
        name: code.into(),
        sla_hours: 4,
        default_department: "县城市管理局".into(),
    };
    let act = |action| Case::Act {
        action,
        note: "处理".into(),
        photos: Vec::new(),
    };
    // Three cases: one resolved in time, one late, one rejected.
    let mut ids = Vec::new();
    for code in ["garbage_pile", "garbage_pile", "elevator_fault"] {
        let case_id = Uuid::now_v7();
        cases
            .handle(
                &CommandHandler::<CaseDecider>::stream_id(case_id),
                &Case::Report(Report {
                    case_id,
                    category: category(code),
                    point: Point::new(116.76, 36.79).expect("point"),
                    grid: None,
                    description: "随手拍".into(),
                    reporter: Uuid::now_v7(),
                    by_grid_worker: true,
                    at: clock.now(),
                    photos: Vec::new(),
                }),
                &CommandContext::new("test"),
                RetryPolicy::Never,
            )
            .await
            .expect("report");
        ids.push(case_id);
    }
    let run = |id: Uuid, command| {
        let cases = &cases;
        async move {
            cases
                .handle(
                    &CommandHandler::<CaseDecider>::stream_id(id),
                    &command,
                    &CommandContext::new("test"),
                    RetryPolicy::Never,
                )
                .await
                .expect("step");
        }
    };
    for id in &ids[..2] {
        run(*id, act(Action::Accept)).await;
        run(*id, act(Action::Dispatch { department: None })).await;
        run(*id, act(Action::Acknowledge)).await;
    }
    // Due Monday 11:00: the first is resolved on Monday at 10:00.
    clock.advance(chrono::TimeDelta::days(2) + chrono::TimeDelta::hours(19));
    run(ids[0], act(Action::Resolve)).await;
    clock.advance(chrono::TimeDelta::hours(3));
    run(ids[1], act(Action::Resolve)).await;
    run(
        ids[2],
        act(Action::Reject(hongxin_grid::case::Rejection::NotOurs)),
    )
    .await;
    let head = store.head_position().await.expect("head");
    wait_context(&projection, "grid", head).await;
    let o = overview(&projection).await;
    let m = &o["mechanism"];
    assert_eq!(
        [
            m["cases"].as_i64(),
            m["cases_resolved"].as_i64(),
            m["cases_within_sla"].as_i64()
        ],
        [Some(2), Some(2), Some(1)]
    );
    assert_eq!(m["sla_attainment"].as_f64(), Some(50.0));
    assert_eq!(o["cases_by_category"][0]["category"], "garbage_pile");
    let metrics = &o["case_metrics"][0];
    assert_eq!(metrics["category"], "garbage_pile");
    assert_eq!(metrics["department"], "县城市管理局");
    assert_eq!(
        [
            metrics["cases"].as_f64(),
            metrics["response_rate"].as_f64(),
            metrics["resolution_rate"].as_f64(),
            metrics["sla_attainment"].as_f64(),
            metrics["hours_to_acknowledge_median"].as_f64(),
        ],
        [Some(2.0), Some(100.0), Some(100.0), Some(50.0), Some(0.0)]
    );
    assert!(
        metrics["hours_to_close_median"].is_null(),
        "none verified yet"
    );
    // The month is Beijing's; the rejected report is not counted.
    assert_eq!(o["by_month"][0]["month"], "2026-11");
    assert_eq!(o["by_month"][0]["cases_reported"], 2);
    assert_eq!(o["by_month"][0]["cases_solved"], 2);
    assert_eq!(o["by_month"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        o["cases_by_grid"].as_array().map(Vec::len),
        Some(0),
        "cases outside every grid are not listed by grid"
    );
    shutdown.trigger();
}

/// Membership from the pipeline moves an enterprise's member count, and
/// the coverage figures follow: a unit with no members gains one and now
/// counts among the units with members.
#[tokio::test]
async fn membership_from_the_pipeline_moves_the_coverage_figures() {
    use hongxin_organization::enterprise::{self, EnterpriseDecider, Kind, Registration};
    use hongxin_organization::person::PartyStatus;

    let system = Embedded::start().await;
    let (store, projection) = (&system.store, &system.projection);
    let ctx = CommandContext::new("test");
    let enterprises = CommandHandler::new(store.clone(), EnterpriseDecider);
    let id = Uuid::now_v7();
    let stream = CommandHandler::<EnterpriseDecider>::stream_id(id);
    let member = Uuid::now_v7();
    for command in [
        enterprise::Command::Register(Registration {
            enterprise_id: id,
            name: "闪送齐河站".into(),
            industry: Industry::Express,
            kind: Kind::Station,
            community_id: Uuid::now_v7(),
            platform_brand: String::new(),
            parent_enterprise_id: None,
        }),
        // What the membership follower records for an admission and then
        // for the confirmation.
        enterprise::Command::RecordMember {
            person_id: member,
            status: PartyStatus::Probationary,
        },
    ] {
        enterprises
            .handle(&stream, &command, &ctx, RetryPolicy::Never)
            .await
            .expect("enterprise");
    }
    wait_applied(projection, 2).await;
    let c = overview(projection).await["coverage"].clone();
    assert_eq!(
        (c["enterprises"].as_i64(), c["with_members"].as_i64()),
        (Some(1), Some(1)),
        "a probationary member makes a unit with members"
    );
    assert_eq!(
        c["member_units_rate"].as_f64(),
        Some(0.0),
        "not yet covered"
    );
    enterprises
        .handle(
            &stream,
            &enterprise::Command::RecordMember {
                person_id: member,
                status: PartyStatus::None,
            },
            &ctx,
            RetryPolicy::Never,
        )
        .await
        .expect("cancelled");
    wait_applied(projection, 3).await;
    let c = overview(projection).await["coverage"].clone();
    assert_eq!(
        c["with_members"].as_i64(),
        Some(0),
        "a cancelled probation takes it away"
    );
}
