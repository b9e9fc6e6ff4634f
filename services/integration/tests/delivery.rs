//! The integration service against a real HTTP receiver of the test's own:
//! signed CloudEvents arrive once in effect and in order per stream after
//! failures, a receiver that was down gets its events by replay and by the
//! cursor, keys rotate, bad subscriptions are refused. Embedded (SQLite,
//! in-process feeds) and distributed (PostgreSQL, JetStream).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use hongxin_bus::{EventFeed, OutboxRelay};
use hongxin_domain::{Clock, ManualClock, SystemClock};
use hongxin_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId,
};
use hongxin_integration::signing;
use hongxin_proto::care::v1 as care;
use hongxin_proto::integration::v1 as pb;
use hongxin_proto::integration::v1::integration_service_client::IntegrationServiceClient;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_proto::pipeline::v1 as pipeline;
use hongxin_runtime::Shutdown;
use hongxin_runtime::auth::{Authed, ServiceIdentity, testing};
use hongxin_testkit::people::id_number;
use prost::Message as _;
use serde_json::Value;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(30);

// ---- the partner's receiver ---------------------------------------------

#[derive(Default)]
struct Inbox {
    /// Key id → secret, as the partner was told.
    secrets: HashMap<String, Vec<u8>>,
    /// Subjects whose every event fails its first two attempts.
    flaky: HashSet<String>,
    /// Answer 503 to everything.
    down: bool,
    attempts: HashMap<String, u32>,
    /// Accepted events in order of arrival (duplicates included).
    accepted: Vec<Value>,
    bad_signatures: u32,
    kids: Vec<String>,
    /// How long each answer takes.
    slow: Duration,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    async fn start() -> Self {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inbox }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inbox) -> T) -> T {
        f(&mut self.inbox.lock().expect("inbox"))
    }

    /// The accepted events, each id once, in order of first arrival.
    fn unique(&self) -> Vec<Value> {
        let mut seen = HashSet::new();
        self.with(|i| {
            i.accepted
                .iter()
                .filter(|e| seen.insert(e["id"].as_str().unwrap_or_default().to_owned()))
                .cloned()
                .collect()
        })
    }
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let slow = inbox.lock().expect("inbox").slow;
    tokio::time::sleep(slow).await;
    let mut i = inbox.lock().expect("inbox");
    let sig = headers
        .get(signing::HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(signing::parse);
    let verified = sig.as_ref().is_some_and(|s| {
        i.secrets
            .get(&s.kid)
            .is_some_and(|secret| signing::verify(secret, s, &body))
            && (Utc::now().timestamp() - s.t).abs() < 300
    });
    if !verified {
        i.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if let Some(s) = &sig {
        i.kids.push(s.kid.clone());
    }
    if i.down {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    let subject = event["subject"].as_str().unwrap_or_default().to_owned();
    let n = {
        let n = i.attempts.entry(id).or_default();
        *n += 1;
        *n
    };
    if i.flaky.contains(&subject) && n <= 2 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    i.accepted.push(event);
    StatusCode::NO_CONTENT
}

/// Every event validates against its published schema.
fn assert_valid(events: &[Value]) {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/integration/schemas");
    for e in events {
        let t = e["type"].as_str().expect("a type");
        let raw = std::fs::read_to_string(dir.join(format!("{t}.json")))
            .unwrap_or_else(|_| panic!("a schema for {t}"));
        let schema: Value = serde_json::from_str(&raw).expect("schema JSON");
        let validator = jsonschema::validator_for(&schema).expect("a valid schema");
        let errors: Vec<String> = validator
            .iter_errors(e)
            .map(|err| err.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{t} does not match its schema: {errors:?}\n{e:#}"
        );
    }
}

/// Per subject, versions only rise.
fn assert_in_order(events: &[Value]) {
    let mut last: HashMap<String, u64> = HashMap::new();
    for e in events {
        let subject = e["subject"].as_str().unwrap_or_default().to_owned();
        let version = e["hongxinversion"].as_u64().unwrap_or_default();
        let previous = last.insert(subject.clone(), version).unwrap_or(0);
        assert!(version > previous, "{subject}: {version} after {previous}");
    }
}

async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- the system -----------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Embedded,
    Distributed,
}

struct System {
    organization: OrganizationServiceClient<Authed>,
    integration: IntegrationServiceClient<Authed>,
    care_store: EventStore,
    pipeline_store: EventStore,
    integration_store: EventStore,
    pull_base: String,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
    /// Stops the integration's routing and deliveries only.
    deliverer: Shutdown,
    sources: Sources,
    _dir: tempfile::TempDir,
}

impl Drop for System {
    fn drop(&mut self) {
        self.shutdown.trigger();
        self.deliverer.trigger();
    }
}

async fn channel(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

fn settings(max_attempts: u32) -> hongxin_integration::Settings {
    hongxin_integration::Settings {
        max_attempts,
        initial_backoff_ms: 2,
        max_backoff_ms: 20,
        request_timeout_ms: 2_000,
        key_overlap_seconds: 3_600,
        poll_interval_ms: 50,
    }
}

async fn start(mode: Mode, max_attempts: u32, clock: Arc<dyn Clock>) -> System {
    let dir = tempfile::tempdir().expect("dir");
    let config = |name: &str| match mode {
        Mode::Embedded => StoreConfig::Sqlite {
            path: dir.path().join(format!("{name}.db")),
        },
        Mode::Distributed => StoreConfig::Postgres {
            url: hongxin_testkit::pg::url(),
            schema: hongxin_testkit::pg::fresh_schema(),
            max_connections: 4,
        },
    };
    let org_store = EventStore::open(&config("organization"))
        .await
        .expect("store");
    let care_store = EventStore::open(&config("care")).await.expect("store");
    let pipeline_store = EventStore::open(&config("pipeline")).await.expect("store");
    let integration_store = EventStore::open(&config("integration"))
        .await
        .expect("store");
    let master = Arc::new(hongxin_vault::MasterKey::generate().0);
    let shutdown = Shutdown::new();
    let organization = hongxin_organization::build(
        "127.0.0.1:0".parse().expect("addr"),
        org_store.clone(),
        hongxin_vault::Vault::new(org_store.clone(), master.clone()),
        Arc::new(SystemClock),
        Duration::from_secs(1),
    )
    .await
    .expect("organization");
    let org_port = organization.port();
    tokio::spawn(
        organization
            .with_auth(testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    let sources = Sources {
        mode,
        stores: [
            ("organization", org_store.clone()),
            ("pipeline", pipeline_store.clone()),
            ("care", care_store.clone()),
        ],
        nats: match mode {
            Mode::Embedded => None,
            Mode::Distributed => Some(
                hongxin_testkit::nats::PrivateNats::start()
                    .await
                    .expect("private nats-server"),
            ),
        },
        org_port,
        master,
    };
    if let Some(nats) = &sources.nats {
        let js =
            async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
        for (context, store) in &sources.stores {
            tokio::spawn(
                OutboxRelay::new(store.clone(), js.clone(), *context).run(shutdown.wait()),
            );
        }
    }
    let deliverer = Shutdown::new();
    let built = integration(
        &sources,
        integration_store.clone(),
        max_attempts,
        clock.clone(),
        deliverer.clone(),
    )
    .await;
    let port = built.app.port();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let pull_base = format!("http://{}", listener.local_addr().expect("addr"));
    let routes = built.routes.clone();
    tokio::spawn(async move { axum::serve(listener, routes).await });
    tokio::spawn(
        built
            .app
            .with_auth(testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    System {
        organization: OrganizationServiceClient::new(testing::admin(channel(org_port).await)),
        integration: IntegrationServiceClient::new(testing::admin(channel(port).await)),
        care_store,
        pipeline_store,
        integration_store,
        pull_base,
        clock,
        shutdown,
        deliverer,
        sources,
        _dir: dir,
    }
}

/// What an integration process needs of the rest of the system.
struct Sources {
    mode: Mode,
    stores: [(&'static str, EventStore); 3],
    nats: Option<hongxin_testkit::nats::PrivateNats>,
    org_port: u16,
    master: Arc<hongxin_vault::MasterKey>,
}

/// An integration process on `store`: its API built, its routing and
/// deliveries running (once it leads) until `deliverer` stops them.
async fn integration(
    sources: &Sources,
    store: EventStore,
    max_attempts: u32,
    clock: Arc<dyn Clock>,
    deliverer: Shutdown,
) -> hongxin_integration::Built {
    let registry = hongxin_integration::Registry::connect_lazy(
        &format!("http://127.0.0.1:{}", sources.org_port),
        Duration::from_secs(3),
    )
    .expect("registry")
    .with_identity(ServiceIdentity::new(
        testing::authenticator(),
        "integration",
    ));
    let built = hongxin_integration::build(
        "127.0.0.1:0".parse().expect("addr"),
        store.clone(),
        hongxin_vault::Vault::new(store, sources.master.clone()),
        registry,
        &settings(max_attempts),
        clock,
        Duration::from_secs(1),
    )
    .await
    .expect("integration");
    let (mode, stores) = (sources.mode, sources.stores.clone());
    let nats_url = sources.nats.as_ref().map(|n| n.url().to_owned());
    let feeds = async move || {
        let mut feeds = Vec::new();
        for (context, store) in stores {
            let feed = match (mode, &nats_url) {
                (Mode::Distributed, Some(url)) => {
                    let js = async_nats::jetstream::new(async_nats::connect(url.as_str()).await?);
                    EventFeed::jetstream(
                        &js,
                        context,
                        hongxin_integration::FEED_NAME,
                        &Default::default(),
                    )
                    .await?
                }
                _ => EventFeed::in_process(store, context, hongxin_integration::FEED_NAME).await?,
            };
            feeds.push((context, feed));
        }
        Ok(feeds)
    };
    tokio::spawn(built.background(feeds, deliverer));
    built
}

async fn person(s: &mut System, seq: u16, union_member: bool) -> Uuid {
    let id = Uuid::now_v7();
    s.organization
        .register_person(org::RegisterPersonRequest {
            person_id: id.to_string(),
            name: format!("骑手{seq}"),
            id_number: id_number("19900101", seq),
            phone: format!("1380000{seq:04}"),
            work: Some(org::PersonWork {
                industry: org::Industry::FoodDelivery as i32,
                platform: "美团".to_owned(),
                enterprise_id: String::new(),
                community_id: String::new(),
            }),
            union_member,
            party_status: 0,
            affiliation_organization_id: String::new(),
            mobile_member: false,
            home_organisation: String::new(),
        })
        .await
        .expect("person");
    id
}

/// Appends one event as the producing context would.
async fn record(store: &EventStore, stream: &StreamId, event_type: &str, payload: Vec<u8>) -> Uuid {
    let id = Uuid::now_v7();
    store
        .append(AppendRequest::new(
            stream.clone(),
            ExpectedVersion::Any,
            vec![NewEvent {
                event_id: id,
                event_type: event_type.to_owned(),
                schema_version: 1,
                payload,
                metadata: EventMetadata::new("test", Utc::now()),
            }],
        ))
        .await
        .expect("append");
    id
}

/// A hardship case's application, union review and support: three events
/// of one stream.
async fn hardship_case(s: &System, person: Uuid) -> (String, Vec<Uuid>) {
    hardship_case_of(s, Uuid::now_v7(), person).await
}

async fn hardship_case_of(s: &System, case: Uuid, person: Uuid) -> (String, Vec<Uuid>) {
    let stream = StreamId::new("hardship_case", case);
    let applied = care::HardshipApplied {
        case_id: case.to_string(),
        person_id: person.to_string(),
        category: care::HardshipCategory::Relative as i32,
        sealed_household: vec![1, 2, 3],
        applied_on: "2026-03-02".to_owned(),
        minimum_living_standard_fen: 88_000,
    };
    let step = care::HardshipStepRecorded {
        case_id: case.to_string(),
        step: care::HardshipStep::UnionReview as i32,
        on: "2026-03-05".to_owned(),
        passed: true,
        note: "材料齐全".to_owned(),
    };
    let support = care::HardshipSupportGiven {
        case_id: case.to_string(),
        support: Some(care::Support {
            support_id: Uuid::now_v7().to_string(),
            kind: care::SupportKind::Cash as i32,
            amount_fen: 150_000,
            description: "春节慰问金".to_owned(),
            giver: "县总工会".to_owned(),
            given_on: "2026-03-10".to_owned(),
        }),
    };
    let ids = vec![
        record(
            &s.care_store,
            &stream,
            "HardshipApplied",
            applied.encode_to_vec(),
        )
        .await,
        record(
            &s.care_store,
            &stream,
            "HardshipStepRecorded",
            step.encode_to_vec(),
        )
        .await,
        record(
            &s.care_store,
            &stream,
            "HardshipSupportGiven",
            support.encode_to_vec(),
        )
        .await,
    ];
    (stream.to_string(), ids)
}

const UNION_TYPES: &[&str] = &[
    "cn.hongxin.organization.PersonRegistered.v1",
    "cn.hongxin.organization.PersonFlagsSet.v1",
    "cn.hongxin.care.HardshipApplied.v1",
    "cn.hongxin.care.HardshipStepRecorded.v1",
    "cn.hongxin.care.HardshipSupportGiven.v1",
    "cn.hongxin.organization.UnionMembershipApplied.v1",
];
const HR_TYPES: &[&str] = &[
    "cn.hongxin.pipeline.TrainingSessionScheduled.v1",
    "cn.hongxin.pipeline.TrainingAttended.v1",
    "cn.hongxin.pipeline.TrainingCertificateIssued.v1",
    "cn.hongxin.organization.EmploymentRegistrationFiled.v1",
    "cn.hongxin.organization.AccidentReported.v1",
];

async fn subscribe(
    s: &mut System,
    partner: pb::Partner,
    types: &[&str],
    receiver: &Receiver,
) -> Uuid {
    let id = Uuid::now_v7();
    let created = s
        .integration
        .create_subscription(pb::CreateSubscriptionRequest {
            subscription_id: id.to_string(),
            partner: partner as i32,
            endpoint_url: receiver.url.clone(),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
            industries: Vec::new(),
            community_ids: Vec::new(),
        })
        .await
        .expect("subscription")
        .into_inner();
    assert_eq!(created.signing_secret.len(), 64);
    let secret = created.signing_secret.into_bytes();
    receiver.with(|i| i.secrets.insert("k1".to_owned(), secret));
    id
}

async fn dead_letters(s: &mut System, id: Uuid) -> Vec<pb::DeadLetter> {
    s.integration
        .list_dead_letters(pb::ListDeadLettersRequest {
            subscription_id: id.to_string(),
            include_closed: false,
        })
        .await
        .expect("dead letters")
        .into_inner()
        .dead_letters
}

/// A signed pull of the subscription's events after `after`.
async fn pull(s: &System, id: Uuid, after: u64, kid: &str, secret: &[u8]) -> reqwest::Response {
    let target = format!("/integration/v1/subscriptions/{id}/events?after={after}&limit=50");
    let signature = signing::sign(
        secret,
        kid,
        s.clock.now(),
        format!("GET {target}").as_bytes(),
    );
    reqwest::Client::new()
        .get(format!("{}{target}", s.pull_base))
        .header(signing::HEADER, signature)
        .send()
        .await
        .expect("pull")
}

// ---- the journeys ---------------------------------------------------------

async fn every_event_once_in_order_after_failures(mode: Mode) {
    let mut s = start(mode, 4, Arc::new(SystemClock)).await;
    let union = Receiver::start().await;
    let hr = Receiver::start().await;
    let union_sub = subscribe(&mut s, pb::Partner::Union, UNION_TYPES, &union).await;
    let hr_sub = subscribe(&mut s, pb::Partner::HrBureau, HR_TYPES, &hr).await;

    let member = person(&mut s, 1, true).await;
    let other_member = person(&mut s, 2, true).await;
    let not_member = person(&mut s, 3, false).await;
    let mut union_ids = Vec::new();
    let cases = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    // The first two cases' events each fail twice before they are taken.
    let flaky: Vec<String> = cases[..2]
        .iter()
        .map(|c| StreamId::new("hardship_case", c).to_string())
        .collect();
    union.with(|i| i.flaky.extend(flaky.iter().cloned()));
    for (case, p) in cases.into_iter().zip([member, other_member, not_member]) {
        let (_, ids) = hardship_case_of(&s, case, p).await;
        union_ids.extend(ids);
    }
    let session = Uuid::now_v7();
    let stream = StreamId::new("training_session", session);
    let mut hr_ids = vec![
        record(
            &s.pipeline_store,
            &stream,
            "TrainingSessionScheduled",
            pipeline::TrainingSessionScheduled {
                session_id: session.to_string(),
                course: "电动车安全驾驶".to_owned(),
                kind: pipeline::CourseKind::Skills as i32,
                base: "县党群服务中心".to_owned(),
                lecturer: "王老师".to_owned(),
                held_on: "2026-03-03".to_owned(),
                class_hours: 4,
                counts_as_centralised: false,
            }
            .encode_to_vec(),
        )
        .await,
    ];
    hr_ids.push(
        record(
            &s.pipeline_store,
            &stream,
            "TrainingAttended",
            pipeline::TrainingAttended {
                session_id: session.to_string(),
                person_ids: vec![member.to_string(), not_member.to_string()],
            }
            .encode_to_vec(),
        )
        .await,
    );

    // Two members registered, nine hardship events: eleven for the union.
    let got = eventually("the union's events", async || {
        let u = union.unique();
        (u.len() >= 11).then_some(u)
    })
    .await;
    let hr_got = eventually("the HR bureau's events", async || {
        let u = hr.unique();
        (u.len() >= 2).then_some(u)
    })
    .await;
    assert_eq!(got.len(), 11, "{got:#?}");
    let ids: HashSet<String> = got
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    for id in &union_ids {
        assert!(ids.contains(&id.to_string()), "hardship event {id} arrived");
    }
    assert_in_order(&got);
    assert_valid(&got);
    assert_valid(&hr_got);
    assert_eq!(
        hr_got
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>(),
        hr_ids.iter().map(Uuid::to_string).collect::<Vec<_>>()
    );
    union.with(|i| {
        assert_eq!(i.bad_signatures, 0);
        for stream in &flaky {
            for e in i
                .accepted
                .iter()
                .filter(|e| e["subject"] == stream.as_str())
            {
                assert!(i.attempts[e["id"].as_str().unwrap_or_default()] >= 3);
            }
        }
    });

    // The union gets the real-name record of members, and of no one else.
    let registered: Vec<&Value> = got.iter().filter(|e| e["type"] == UNION_TYPES[0]).collect();
    assert_eq!(registered.len(), 2);
    let first = registered
        .iter()
        .find(|e| e["data"]["personId"] == member.to_string().as_str())
        .expect("the member");
    assert_eq!(first["data"]["member"]["name"], "骑手1");
    assert_eq!(
        first["data"]["member"]["idNumber"],
        id_number("19900101", 1).as_str()
    );
    assert_eq!(first["data"]["member"]["phone"], "13800000001");
    assert_eq!(first["data"]["occupation"]["industry"], "food_delivery");
    assert!(
        !got.iter()
            .any(|e| e["data"]["personId"] == not_member.to_string().as_str()
                && e["type"] == UNION_TYPES[0])
    );
    let support = got
        .iter()
        .find(|e| e["type"] == UNION_TYPES[4])
        .expect("support");
    assert_eq!(support["data"]["amountFen"], 150_000);
    assert_eq!(support["source"], "/hongxin/care");
    // The HR bureau: name and ID number of attendees, never a phone.
    let attended = &hr_got[1]["data"]["attendees"];
    assert_eq!(attended[0]["name"], "骑手1");
    assert_eq!(attended[1]["idNumber"], id_number("19900101", 3).as_str());
    assert!(attended[0].get("phone").is_none());

    // What hongxin files for workers reaches the HR bureau once, with the
    // real-name record it needs: a filing made twice is one filing.
    hr_ids.push(
        record(
            &s.pipeline_store,
            &stream,
            "TrainingCertificateIssued",
            pipeline::TrainingCertificateIssued {
                session_id: session.to_string(),
                person_id: member.to_string(),
                certificate_no: "QH2026-0001".to_owned(),
                issued_on: "2026-03-04".to_owned(),
            }
            .encode_to_vec(),
        )
        .await,
    );
    let mut filing_ids = HashSet::new();
    for _ in 0..2 {
        let filed = s
            .organization
            .file_employment_registration(org::FileEmploymentRegistrationRequest {
                person_id: member.to_string(),
                occupation: "网约配送员".to_owned(),
                validate_only: false,
            })
            .await
            .expect("filing")
            .into_inner();
        filing_ids.insert(filed.filing_id);
        let reported = s
            .organization
            .report_accident(org::ReportAccidentRequest {
                person_id: not_member.to_string(),
                accident_on: "2026-03-05".to_owned(),
                platform: "美团".to_owned(),
                kind: org::AccidentKind::Traffic as i32,
                validate_only: false,
            })
            .await
            .expect("report")
            .into_inner();
        filing_ids.insert(reported.report_id);
    }
    assert_eq!(filing_ids.len(), 2, "a filing made twice keeps its id");
    let hr_got = eventually("the HR bureau's filings", async || {
        let u = hr.unique();
        (u.len() >= 5).then_some(u)
    })
    .await;
    assert_valid(&hr_got);
    let of_type = |t: &str| -> Vec<&Value> { hr_got.iter().filter(|e| e["type"] == t).collect() };
    let certificates = of_type(HR_TYPES[2]);
    assert_eq!(certificates.len(), 1);
    assert_eq!(certificates[0]["data"]["holder"]["name"], "骑手1");
    assert_eq!(certificates[0]["data"]["certificateNo"], "QH2026-0001");
    let filings = of_type(HR_TYPES[3]);
    assert_eq!(filings.len(), 1);
    assert_eq!(filings[0]["data"]["applicant"]["phone"], "13800000001");
    assert_eq!(filings[0]["data"]["occupation"], "网约配送员");
    assert_eq!(filings[0]["data"]["work"]["platform"], "美团");
    let accidents = of_type(HR_TYPES[4]);
    assert_eq!(accidents.len(), 1);
    assert_eq!(
        accidents[0]["data"]["worker"]["idNumber"],
        id_number("19900101", 3).as_str()
    );
    assert_eq!(accidents[0]["data"]["kind"], "traffic");
    assert!(
        filing_ids.contains(
            accidents[0]["data"]["reportId"]
                .as_str()
                .unwrap_or_default()
        )
    );

    // A worker who is no member applies to join, twice: the union hears of
    // it once, with the real-name record it enrols from.
    let mut applications = HashSet::new();
    for _ in 0..2 {
        let applied = s
            .organization
            .apply_to_join_union(org::ApplyToJoinUnionRequest {
                person_id: not_member.to_string(),
                validate_only: false,
            })
            .await
            .expect("application")
            .into_inner();
        applications.insert(applied.application_id);
    }
    assert_eq!(applications.len(), 1);
    let got = eventually("the union's application", async || {
        let u = union.unique();
        (u.len() >= 12).then_some(u)
    })
    .await;
    assert_eq!(got.len(), 12);
    assert_valid(&got);
    let applied: Vec<&Value> = got.iter().filter(|e| e["type"] == UNION_TYPES[5]).collect();
    assert_eq!(applied.len(), 1);
    assert_eq!(
        applied[0]["data"]["applicant"]["idNumber"],
        id_number("19900101", 3).as_str()
    );
    assert_eq!(applied[0]["data"]["occupation"]["platform"], "美团");

    // Nothing was parked, and the log holds what was delivered.
    assert!(dead_letters(&mut s, union_sub).await.is_empty());
    let view = s
        .integration
        .get_subscription(pb::GetSubscriptionRequest {
            subscription_id: hr_sub.to_string(),
        })
        .await
        .expect("get")
        .into_inner()
        .subscription
        .expect("subscription");
    assert_eq!(view.routed, 5);
}

/// Two integration processes on one store: one delivers, the other waits;
/// each event arrives once; when the first stops, the second takes over.
async fn one_process_delivers_at_a_time(mode: Mode) {
    let mut s = start(mode, 4, Arc::new(SystemClock)).await;
    let standby_stop = Shutdown::new();
    let _standby = integration(
        &s.sources,
        s.integration_store.clone(),
        4,
        s.clock.clone(),
        standby_stop.clone(),
    )
    .await;
    let hr = Receiver::start().await;
    // Slow answers keep each post in flight across several of the other
    // process's polls.
    hr.with(|i| i.slow = Duration::from_millis(300));
    let sub = subscribe(&mut s, pb::Partner::HrBureau, HR_TYPES, &hr).await;
    let file = async |s: &mut System, seq: u16| {
        let worker = person(s, seq, false).await;
        s.organization
            .file_employment_registration(org::FileEmploymentRegistrationRequest {
                person_id: worker.to_string(),
                occupation: "网约配送员".to_owned(),
                validate_only: false,
            })
            .await
            .expect("filing");
    };
    for seq in 1..=3 {
        file(&mut s, seq).await;
    }
    let checkpoint = format!("delivery.{sub}");
    let store = s.integration_store.clone();
    eventually("the leader delivers and settles three", async || {
        let done = store.checkpoint(&checkpoint).await.ok()?;
        (done >= 3).then_some(())
    })
    .await;
    hr.with(|i| {
        assert_eq!(i.accepted.len(), 3, "each event was posted once");
        assert!(i.attempts.values().all(|n| *n == 1), "{:?}", i.attempts);
    });

    // The leader stops delivering; the standby takes the lead.
    s.deliverer.trigger();
    for seq in 4..=6 {
        file(&mut s, seq).await;
    }
    let got = eventually("the standby delivers the rest", async || {
        let u = hr.unique();
        (u.len() >= 6).then_some(u)
    })
    .await;
    assert_eq!(got.len(), 6);
    assert_valid(&got);
    eventually("the standby settles all six", async || {
        let done = store.checkpoint(&checkpoint).await.ok()?;
        (done >= 6).then_some(())
    })
    .await;
    hr.with(|i| assert_eq!(i.accepted.len(), 6, "nothing was posted twice"));
    standby_stop.trigger();
}

#[tokio::test]
async fn embedded_one_process_delivers_at_a_time() {
    one_process_delivers_at_a_time(Mode::Embedded).await;
}

#[tokio::test]
async fn distributed_one_process_delivers_at_a_time() {
    one_process_delivers_at_a_time(Mode::Distributed).await;
}

#[tokio::test]
async fn embedded_every_event_arrives_once_in_order_after_failures() {
    every_event_once_in_order_after_failures(Mode::Embedded).await;
}

#[tokio::test]
async fn distributed_every_event_arrives_once_in_order_after_failures() {
    every_event_once_in_order_after_failures(Mode::Distributed).await;
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_its_events_by_replay_and_by_cursor() {
    let mut s = start(Mode::Embedded, 2, Arc::new(SystemClock)).await;
    let union = Receiver::start().await;
    union.with(|i| i.down = true);
    let sub = subscribe(&mut s, pb::Partner::Union, &UNION_TYPES[2..], &union).await;
    let secret = union.with(|i| i.secrets["k1"].clone());
    let (a, a_ids) = hardship_case(&s, Uuid::now_v7()).await;
    let (b, b_ids) = hardship_case(&s, Uuid::now_v7()).await;

    // The first of each stream is parked; the rest wait behind it.
    let letters = eventually("six dead letters", async || {
        let l = dead_letters(&mut s, sub).await;
        (l.len() == 6).then_some(l)
    })
    .await;
    for l in &letters {
        let first = l.event_id == a_ids[0].to_string() || l.event_id == b_ids[0].to_string();
        let want = if first {
            pb::DeadLetterState::Parked
        } else {
            pb::DeadLetterState::Held
        };
        assert_eq!(l.state, want as i32, "{l:?}");
        if first {
            assert_eq!(l.attempts, 2);
            assert_eq!(l.reason, "HTTP 503");
        }
    }
    let a_first = letters
        .iter()
        .find(|l| l.event_id == a_ids[0].to_string())
        .expect("a's first")
        .cursor;
    let a_second = letters
        .iter()
        .find(|l| l.event_id == a_ids[1].to_string())
        .expect("a's second")
        .cursor;

    // The partner, back, catches up through the cursor first.
    let r = pull(&s, sub, 0, "k1", &secret).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let header = r
        .headers()
        .get(signing::HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(signing::parse)
        .expect("a signed answer");
    let body = r.bytes().await.expect("body");
    assert!(signing::verify(&secret, &header, &body));
    let page: Value = serde_json::from_slice(&body).expect("json");
    let events = page["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 6);
    assert_eq!(page["nextCursor"], 6);
    assert_valid(&events);
    assert_in_order(&events);
    let pulled: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    for id in a_ids.iter().chain(&b_ids) {
        assert!(pulled.contains(&id.to_string()));
    }
    let rest: Value = pull(&s, sub, 4, "k1", &secret)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rest["events"].as_array().map(Vec::len), Some(2));
    // Unsigned, wrongly signed or for another subscription: refused.
    let unsigned = reqwest::get(format!(
        "{}/integration/v1/subscriptions/{sub}/events",
        s.pull_base
    ))
    .await
    .expect("get");
    assert_eq!(unsigned.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(
        pull(&s, sub, 0, "k1", b"wrong").await.status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        pull(&s, Uuid::now_v7(), 0, "k1", &secret).await.status(),
        reqwest::StatusCode::UNAUTHORIZED
    );

    // An operator replays: a held one must wait for the parked one.
    union.with(|i| i.down = false);
    let early = s
        .integration
        .replay_dead_letter(pb::ReplayDeadLetterRequest {
            subscription_id: sub.to_string(),
            cursor: a_second,
        })
        .await
        .expect_err("out of order");
    assert_eq!(early.code(), Code::FailedPrecondition);
    let replayed = s
        .integration
        .replay_dead_letter(pb::ReplayDeadLetterRequest {
            subscription_id: sub.to_string(),
            cursor: a_first,
        })
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replayed.delivered.len(), 3);
    assert_eq!(replayed.failed_cursor, 0);
    let remaining = dead_letters(&mut s, sub).await;
    assert_eq!(remaining.len(), 3);
    assert!(remaining.iter().all(|l| l.stream == b));
    // Discarding b's first lets the next of b be replayed.
    let discarded = s
        .integration
        .discard_dead_letter(pb::DiscardDeadLetterRequest {
            subscription_id: sub.to_string(),
            cursor: remaining[0].cursor,
            reason: "对方已通过拉取补齐".to_owned(),
        })
        .await
        .expect("discard")
        .into_inner()
        .dead_letter
        .expect("letter");
    assert_eq!(discarded.state, pb::DeadLetterState::Discarded as i32);
    let replayed = s
        .integration
        .replay_dead_letter(pb::ReplayDeadLetterRequest {
            subscription_id: sub.to_string(),
            cursor: remaining[1].cursor,
        })
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(
        replayed.delivered,
        vec![remaining[1].cursor, remaining[2].cursor]
    );
    assert!(dead_letters(&mut s, sub).await.is_empty());

    // The stream is no longer held: a new event of a goes straight through.
    let next = record(
        &s.care_store,
        &StreamId::parse(&a).expect("stream"),
        "HardshipStepRecorded",
        care::HardshipStepRecorded {
            case_id: a.trim_start_matches("hardship_case-").to_owned(),
            step: care::HardshipStep::HomeVisit as i32,
            on: "2026-03-12".to_owned(),
            passed: true,
            note: String::new(),
        }
        .encode_to_vec(),
    )
    .await;
    let got = eventually("the new event", async || {
        let u = union.unique();
        u.iter()
            .any(|e| e["id"] == next.to_string().as_str())
            .then_some(u)
    })
    .await;
    assert_eq!(got.len(), 6, "a's four and b's last two");
    assert_in_order(&got);
    assert_valid(&got);
}

#[tokio::test]
async fn deliveries_are_signed_with_the_newest_key_and_the_previous_verifies_for_a_while() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut s = start(Mode::Embedded, 3, clock.clone()).await;
    let union = Receiver::start().await;
    let sub = subscribe(&mut s, pb::Partner::Union, &UNION_TYPES[2..], &union).await;
    let k1 = union.with(|i| i.secrets["k1"].clone());
    hardship_case(&s, Uuid::now_v7()).await;
    eventually("three events", async || {
        (union.unique().len() == 3).then_some(())
    })
    .await;

    let rotated = s
        .integration
        .rotate_signing_key(pb::RotateSigningKeyRequest {
            subscription_id: sub.to_string(),
            previous_valid_seconds: 600,
        })
        .await
        .expect("rotate")
        .into_inner();
    assert_eq!(rotated.key_id, "k2");
    let k2 = rotated.signing_secret.clone().into_bytes();
    union.with(|i| i.secrets.insert("k2".to_owned(), k2.clone()));
    let keys = rotated.subscription.expect("subscription").keys;
    assert_eq!(keys[0].key_id, "k2");
    assert!(keys[0].valid_until.is_empty());
    assert!(!keys[1].valid_until.is_empty());

    hardship_case(&s, Uuid::now_v7()).await;
    eventually("six events", async || {
        (union.unique().len() == 6).then_some(())
    })
    .await;
    union.with(|i| {
        assert_eq!(i.kids[..3], ["k1", "k1", "k1"]);
        assert!(i.kids[3..].iter().all(|k| k == "k2"), "{:?}", i.kids);
        assert_eq!(i.bad_signatures, 0);
    });
    // Both keys verify a pull during the overlap; only the new one after.
    assert_eq!(
        pull(&s, sub, 0, "k1", &k1).await.status(),
        reqwest::StatusCode::OK
    );
    assert_eq!(
        pull(&s, sub, 0, "k2", &k2).await.status(),
        reqwest::StatusCode::OK
    );
    clock.advance(chrono::Duration::seconds(601));
    assert_eq!(
        pull(&s, sub, 0, "k1", &k1).await.status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        pull(&s, sub, 0, "k2", &k2).await.status(),
        reqwest::StatusCode::OK
    );
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_field_violations_and_nothing_written() {
    let mut s = start(Mode::Embedded, 3, Arc::new(SystemClock)).await;
    let head = s.integration_store.head_position().await.expect("head");
    let cases: Vec<(pb::CreateSubscriptionRequest, Vec<&str>)> = vec![
        (
            pb::CreateSubscriptionRequest {
                subscription_id: "nope".to_owned(),
                partner: 0,
                endpoint_url: "http://partner.example/hooks".to_owned(),
                event_types: vec![],
                industries: vec![99],
                community_ids: vec!["x".to_owned()],
            },
            vec![
                "subscription_id",
                "partner",
                "endpoint_url",
                "event_types",
                "industries[0]",
                "community_ids[0]",
            ],
        ),
        (
            pb::CreateSubscriptionRequest {
                subscription_id: Uuid::now_v7().to_string(),
                partner: pb::Partner::Union as i32,
                endpoint_url: "ftp://127.0.0.1/hooks".to_owned(),
                event_types: vec![
                    HR_TYPES[1].to_owned(),
                    "cn.hongxin.grid.CaseReported.v1".to_owned(),
                ],
                industries: vec![],
                community_ids: vec![],
            },
            vec!["endpoint_url", "event_types[0]", "event_types[1]"],
        ),
        (
            pb::CreateSubscriptionRequest {
                subscription_id: Uuid::now_v7().to_string(),
                partner: pb::Partner::HrBureau as i32,
                endpoint_url: "https://user:pw@hr.example/hooks".to_owned(),
                event_types: vec![UNION_TYPES[0].to_owned()],
                industries: vec![],
                community_ids: vec![],
            },
            vec!["endpoint_url", "event_types[0]"],
        ),
    ];
    for (request, fields) in cases {
        let status = s
            .integration
            .create_subscription(request)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = tonic_types::StatusExt::get_error_details(&status);
        let named: Vec<String> = details
            .bad_request()
            .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
            .unwrap_or_default();
        assert_eq!(named, fields);
    }
    assert_eq!(
        s.integration_store.head_position().await.expect("head"),
        head
    );
    let none = s
        .integration
        .list_subscriptions(pb::ListSubscriptionsRequest {})
        .await
        .expect("list")
        .into_inner();
    assert!(none.subscriptions.is_empty());
    let missing = s
        .integration
        .get_subscription(pb::GetSubscriptionRequest {
            subscription_id: Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);
}
