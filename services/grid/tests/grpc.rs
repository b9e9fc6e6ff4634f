//! The grid service through gRPC beside a real organization service, on
//! SQLite (embedded default) and PostgreSQL, with a manual clock for the
//! SLA.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone as _, Utc};
use hongxin_domain::{ManualClock, SystemClock};
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_grid::geo::{Point, wgs84_to_gcj02};
use hongxin_organization::client::Directory;
use hongxin_proto::grid::v1 as pb;
use hongxin_proto::grid::v1::grid_service_client::GridServiceClient;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_runtime::Shutdown;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

struct System {
    grid_port: u16,
    organization: OrganizationServiceClient<hongxin_runtime::auth::Authed>,
    grid: GridServiceClient<hongxin_runtime::auth::Authed>,
    open311: axum::Router,
    clock: Arc<ManualClock>,
    shutdown: Shutdown,
    /// Distributed: photos in an S3 bucket of the test's own.
    s3: Option<S3Server>,
    /// Distributed: the grid's events published through the relay.
    jetstream: Option<(
        async_nats::jetstream::Context,
        hongxin_testkit::nats::PrivateNats,
    )>,
    _dir: tempfile::TempDir,
}

impl Drop for System {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn channel(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

/// A real S3 server (SigV4-checked, path-style) over a temporary
/// directory, on a free port, until stopped.
struct S3Server {
    root: tempfile::TempDir,
    port: u16,
    tasks: tokio::task::JoinSet<()>,
}

const BUCKET: &str = "hongxin-photos";

impl S3Server {
    async fn start() -> Self {
        let root = tempfile::tempdir().expect("dir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut b = s3s::service::S3ServiceBuilder::new(
            s3s_fs::FileSystem::new(root.path()).expect("s3 root"),
        );
        b.set_auth(s3s::auth::SimpleAuth::from_single(
            "hongxin-test",
            "hongxin-test-secret",
        ));
        let service = b.build();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async move {
            let http =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            // Connections are tasks of the accept loop's set, so stopping
            // the server closes the pooled ones too.
            let mut open = tokio::task::JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                let conn = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                open.spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self { root, port, tasks }
    }

    fn settings(&self) -> hongxin_grid::photos::S3Settings {
        hongxin_grid::photos::S3Settings {
            endpoint: format!("http://127.0.0.1:{}", self.port),
            bucket: BUCKET.to_owned(),
            region: "us-east-1".to_owned(),
            access_key_id: "hongxin-test".to_owned(),
            secret_access_key: "hongxin-test-secret".to_owned().into(),
            prefix: "photos".to_owned(),
        }
    }

    /// Where the server keeps an object.
    fn object(&self, key: &str) -> std::path::PathBuf {
        self.root.path().join(BUCKET).join(key)
    }

    /// Stops serving and drops every open connection.
    fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

async fn start(postgres: bool) -> System {
    let dir = tempfile::tempdir().expect("dir");
    let s3 = if postgres {
        Some(S3Server::start().await)
    } else {
        None
    };
    let photos = match &s3 {
        Some(server) => hongxin_grid::photos::PhotoStore::s3(&server.settings()).expect("s3 store"),
        None => {
            hongxin_grid::photos::PhotoStore::on_disk(dir.path().join("photos")).expect("photo dir")
        }
    };
    let config = |name: &str| {
        if postgres {
            StoreConfig::Postgres {
                url: hongxin_testkit::pg::url(),
                schema: hongxin_testkit::pg::fresh_schema(),
                max_connections: 4,
            }
        } else {
            StoreConfig::Sqlite {
                path: dir.path().join(format!("{name}.db")),
            }
        }
    };
    let org_store = EventStore::open(&config("organization"))
        .await
        .expect("store");
    let grid_store = EventStore::open(&config("grid")).await.expect("store");
    let shutdown = Shutdown::new();
    let organization = hongxin_organization::build(
        "127.0.0.1:0".parse().expect("addr"),
        org_store.clone(),
        hongxin_vault::Vault::new(org_store, Arc::new(hongxin_vault::MasterKey::generate().0)),
        Arc::new(SystemClock),
        Duration::from_secs(1),
    )
    .await
    .expect("organization");
    let org_port = organization.port();
    tokio::spawn(
        organization
            .with_auth(hongxin_runtime::auth::testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    // Friday 20 November 2026, 15:00 in Beijing.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 20, 7, 0, 0)
            .single()
            .expect("time"),
    ));
    let built = hongxin_grid::build(
        "127.0.0.1:0".parse().expect("addr"),
        grid_store.clone(),
        photos,
        &hongxin_grid::Settings::default(),
        Directory::connect_lazy(
            &format!("http://127.0.0.1:{org_port}"),
            Duration::from_secs(3),
        )
        .expect("directory")
        .with_identity(hongxin_runtime::auth::ServiceIdentity::new(
            hongxin_runtime::auth::testing::authenticator(),
            "test",
        )),
        clock.clone(),
        Duration::from_secs(1),
    )
    .await
    .expect("grid");
    let port = built.app.port();
    let open311 = built.open311.clone();
    let jetstream = if postgres {
        let nats = hongxin_testkit::nats::PrivateNats::start()
            .await
            .expect("private nats-server");
        let js =
            async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
        tokio::spawn(
            hongxin_bus::OutboxRelay::new(grid_store.clone(), js.clone(), "grid")
                .run(shutdown.wait()),
        );
        Some((js, nats))
    } else {
        None
    };
    tokio::spawn(built.background(grid_store, Duration::from_secs(3600), shutdown.clone()));
    tokio::spawn(
        built
            .app
            .with_auth(hongxin_runtime::auth::testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    System {
        grid_port: port,
        organization: OrganizationServiceClient::new(hongxin_runtime::auth::testing::admin(
            channel(org_port).await,
        )),
        grid: GridServiceClient::new(hongxin_runtime::auth::testing::admin(channel(port).await)),
        open311,
        clock,
        shutdown,
        s3,
        jetstream,
        _dir: dir,
    }
}

fn id_number(seq: u16) -> String {
    hongxin_testkit::people::id_number("19950505", seq)
}

async fn person(s: &mut System, seq: u16) -> Uuid {
    let id = Uuid::now_v7();
    s.organization
        .register_person(org::RegisterPersonRequest {
            person_id: id.to_string(),
            name: format!("骑手{seq}"),
            id_number: id_number(seq),
            phone: String::new(),
            work: None,
            union_member: false,
            party_status: 0,
            affiliation_organization_id: String::new(),
            mobile_member: false,
            home_organisation: String::new(),
        })
        .await
        .expect("person");
    id
}

fn wire(lng: f64, lat: f64) -> pb::Point {
    pb::Point {
        longitude: lng,
        latitude: lat,
    }
}

fn act(case: &str, action: pb::CaseAction, note: &str) -> pb::ActOnCaseRequest {
    pb::ActOnCaseRequest {
        case_id: case.to_owned(),
        action: action as i32,
        note: note.to_owned(),
        department: String::new(),
        rejection: 0,
        duplicate_of_case_id: String::new(),
        expected_version: 0,
        photo_ids: Vec::new(),
    }
}

/// A small JPEG carrying an EXIF block with a GPS position and a marker
/// text, as a phone camera writes them.
fn photo_with_gps() -> Vec<u8> {
    let image =
        image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 128]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&image)
        .expect("encode");
    let mut tiff: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    // IFD0: one entry, GPSInfo (0x8825) → the GPS IFD at offset 26.
    tiff.extend([1, 0, 0x25, 0x88, 4, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0, 0, 0, 0]);
    // GPS IFD: GPSLatitudeRef = "N".
    tiff.extend([1, 0, 1, 0, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0, 0, 0, 0, 0]);
    tiff.extend(b"HONGXIN-GPS-36.79");
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend(tiff);
    let len = (app1.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(len.to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

async fn upload(s: &mut System, bytes: Vec<u8>) -> Result<pb::UploadPhotoResponse, tonic::Status> {
    let chunks: Vec<pb::UploadPhotoRequest> = bytes
        .chunks(1000)
        .map(|c| pb::UploadPhotoRequest { data: c.to_vec() })
        .collect();
    s.grid
        .upload_photo(tokio_stream::iter(chunks))
        .await
        .map(tonic::Response::into_inner)
}

/// Waits until `check` holds, polling with a deadline.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn download(s: &mut System, id: &str, thumbnail: bool) -> Result<Vec<u8>, tonic::Status> {
    use tokio_stream::StreamExt as _;
    let mut stream = s
        .grid
        .get_photo(pb::GetPhotoRequest {
            photo_id: id.to_owned(),
            thumbnail,
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend(chunk?.data);
    }
    Ok(out)
}

async fn snap_and_report(mut s: System) {
    let community = Uuid::now_v7();
    s.organization
        .register_community(org::RegisterCommunityRequest {
            community_id: community.to_string(),
            name: "晏城社区".to_owned(),
            subdistrict: "晏城街道".to_owned(),
        })
        .await
        .expect("community");
    // The grid drawn on a phone map, in GCJ-02.
    let corners = [
        (116.75, 36.78),
        (116.78, 36.78),
        (116.78, 36.81),
        (116.75, 36.81),
    ];
    let grid_id = Uuid::now_v7();
    let grid = s
        .grid
        .define_grid(pb::DefineGridRequest {
            grid_id: grid_id.to_string(),
            community_id: community.to_string(),
            name: "晏城一网格".to_owned(),
            polygon: corners
                .iter()
                .map(|(lng, lat)| {
                    let g = wgs84_to_gcj02(Point::new(*lng, *lat).expect("point"));
                    wire(g.lng, g.lat)
                })
                .collect(),
            datum: pb::Datum::Gcj02 as i32,
            full_time_worker_person_id: String::new(),
        })
        .await
        .expect("grid")
        .into_inner()
        .grid
        .expect("grid");
    let back = &grid.polygon[0];
    assert!(
        (back.longitude - 116.75).abs() < 1e-6 && (back.latitude - 36.78).abs() < 1e-6,
        "stored in WGS-84"
    );
    s.grid
        .define_case_category(pb::DefineCaseCategoryRequest {
            code: "garbage_pile".to_owned(),
            name: "垃圾堆放".to_owned(),
            sla_hours: 4,
            default_department: "县城市管理局".to_owned(),
        })
        .await
        .expect("category");
    // A rider appointed as a part-time grid worker.
    let rider = person(&mut s, 1).await;
    s.grid
        .apply_as_grid_worker(pb::ApplyAsGridWorkerRequest {
            person_id: rider.to_string(),
            roles: vec!["市容市貌观察员".to_owned()],
            department: "县城市管理局".to_owned(),
            on: "2026-03-01".to_owned(),
        })
        .await
        .expect("apply");
    let early = s
        .grid
        .appoint_grid_worker(pb::AppointGridWorkerRequest {
            person_id: rider.to_string(),
            on: "2026-03-02".to_owned(),
            term_months: 12,
        })
        .await
        .expect_err("not vetted");
    assert_eq!(early.code(), Code::FailedPrecondition);
    s.grid
        .vet_grid_worker(pb::VetGridWorkerRequest {
            person_id: rider.to_string(),
            passed: true,
            on: "2026-03-03".to_owned(),
            note: String::new(),
        })
        .await
        .expect("vet");
    s.grid
        .appoint_grid_worker(pb::AppointGridWorkerRequest {
            person_id: rider.to_string(),
            on: "2026-03-05".to_owned(),
            term_months: 12,
        })
        .await
        .expect("appoint");

    // Photos: checked by content, stored without EXIF and GPS.
    let original = photo_with_gps();
    assert!(original.windows(17).any(|w| w == b"HONGXIN-GPS-36.79"));
    let stored = upload(&mut s, original.clone()).await.expect("upload");
    assert_eq!((stored.width, stored.height), (64, 48));
    // What the store holds, read where it is kept: the directory, or the
    // S3 server's own files.
    let key = format!("{}/{}.jpg", &stored.photo_id[..2], stored.photo_id);
    let path = match &s.s3 {
        Some(server) => server.object(&format!("photos/{key}")),
        None => s._dir.path().join("photos").join(&key),
    };
    let kept = std::fs::read(&path).expect("stored photo");
    assert!(!kept.windows(4).any(|w| w == b"Exif"), "EXIF is gone");
    assert!(!kept.windows(17).any(|w| w == b"HONGXIN-GPS-36.79"));
    assert!(
        path.with_file_name(format!("{}_thumb.jpg", stored.photo_id))
            .exists()
    );
    // And what officers get back is the same clean JPEG.
    assert_eq!(
        download(&mut s, &stored.photo_id, false)
            .await
            .expect("photo"),
        kept
    );
    let thumb = download(&mut s, &stored.photo_id, true)
        .await
        .expect("thumbnail");
    let decoded = image::load_from_memory(&thumb).expect("a JPEG");
    assert_eq!(
        (decoded.width(), decoded.height()),
        (64, 48),
        "small photos stay small"
    );
    let missing = download(&mut s, &"0".repeat(64), false)
        .await
        .expect_err("none");
    assert_eq!(missing.code(), Code::NotFound);
    let bad = download(&mut s, "../../etc/passwd", false)
        .await
        .expect_err("bad id");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let again = upload(&mut s, original).await.expect("same photo");
    assert_eq!(again.photo_id, stored.photo_id, "content-addressed");
    let text = upload(&mut s, b"not an image at all".to_vec())
        .await
        .expect_err("not an image");
    assert_eq!(text.code(), Code::InvalidArgument);
    let huge = upload(&mut s, vec![0xFF; 10 * 1024 * 1024 + 1])
        .await
        .expect_err("too large");
    assert_eq!(huge.code(), Code::InvalidArgument);

    // A report retried over a bad connection: one case.
    let report = |case_id: Uuid, reporter: Uuid, lng: f64| pb::ReportCaseRequest {
        case_id: case_id.to_string(),
        category: "garbage_pile".to_owned(),
        point: Some(wire(lng, 36.79)),
        datum: pb::Datum::Wgs84 as i32,
        description: "路边垃圾堆放".to_owned(),
        reporter_person_id: reporter.to_string(),
        photo_ids: Vec::new(),
    };
    let key = Uuid::now_v7().to_string();
    let mut first_id = None;
    for _ in 0..2 {
        let mut with_photo = report(Uuid::now_v7(), rider, 116.76);
        with_photo.photo_ids = vec![stored.photo_id.clone()];
        let mut request = tonic::Request::new(with_photo);
        request
            .metadata_mut()
            .insert("idempotency-key", key.parse().expect("ascii"));
        let c = s
            .grid
            .report_case(request)
            .await
            .expect("report")
            .into_inner()
            .case
            .expect("case");
        assert!(c.by_grid_worker && c.grid_id == grid_id.to_string());
        first_id.get_or_insert(c.case_id.clone());
        assert_eq!(
            Some(&c.case_id),
            first_id.as_ref(),
            "the retry returns the first case"
        );
    }
    let first = first_id.expect("case");

    // Bad reports: outside the county, an unknown category.
    let outside = s
        .grid
        .report_case(report(Uuid::now_v7(), rider, 120.0))
        .await
        .expect_err("outside");
    assert_eq!(outside.code(), Code::InvalidArgument);
    let mut unknown = report(Uuid::now_v7(), rider, 116.76);
    unknown.category = "ufo".to_owned();
    let unknown = s.grid.report_case(unknown).await.expect_err("category");
    assert_eq!(unknown.code(), Code::InvalidArgument);

    // A citizen reports the same pile 50 m away: offered as a duplicate,
    // merged, and the citizen follows the original.
    let citizen = person(&mut s, 2).await;
    let second_id = Uuid::now_v7();
    let second = s
        .grid
        .report_case(report(second_id, citizen, 116.7605))
        .await
        .expect("second")
        .into_inner();
    assert!(!second.case.as_ref().expect("case").by_grid_worker);
    let offered: Vec<_> = second
        .possible_duplicates
        .iter()
        .map(|c| c.case_id.clone())
        .collect();
    assert_eq!(offered, std::slice::from_ref(&first));
    let mut merge = act(&second_id.to_string(), pb::CaseAction::Merge, "同一垃圾点");
    merge.duplicate_of_case_id = first.clone();
    s.grid.act_on_case(merge).await.expect("merge");
    // The case follower moves the followers, soon after the merge.
    let follows = |s: &mut System| {
        let mut grid = s.grid.clone();
        let (first, citizen) = (first.clone(), citizen.to_string());
        async move {
            grid.get_case(pb::GetCaseRequest { case_id: first })
                .await
                .expect("get")
                .into_inner()
                .case
                .expect("case")
                .follower_person_ids
                .contains(&citizen)
        }
    };
    eventually("the citizen follows the original", || follows(&mut s)).await;

    // Accept and dispatch on Friday 15:00: 4 working hours → Monday 11:00.
    let wrong = s
        .grid
        .act_on_case(act(&first, pb::CaseAction::Resolve, "x"))
        .await
        .expect_err("out of order");
    assert_eq!(wrong.code(), Code::FailedPrecondition);
    s.grid
        .act_on_case(act(&first, pb::CaseAction::Accept, ""))
        .await
        .expect("accept");
    let c = s
        .grid
        .act_on_case(act(&first, pb::CaseAction::Dispatch, ""))
        .await
        .expect("dispatch")
        .into_inner()
        .case
        .expect("case");
    assert_eq!(c.department, "县城市管理局");
    assert_eq!(c.due_at, "2026-11-23T03:00:00Z", "Monday 11:00 in Beijing");
    // Not overdue yet: nothing escalates. Past the due moment: it does, once.
    let none = s
        .grid
        .escalate_overdue(pb::EscalateOverdueRequest {})
        .await
        .expect("sweep")
        .into_inner();
    assert!(none.escalated_case_ids.is_empty());
    s.clock.advance(TimeDelta::days(3) + TimeDelta::hours(1));
    for expected in [vec![first.clone()], vec![]] {
        let swept = s
            .grid
            .escalate_overdue(pb::EscalateOverdueRequest {})
            .await
            .expect("sweep")
            .into_inner();
        assert_eq!(swept.escalated_case_ids, expected);
    }
    s.grid
        .act_on_case(act(&first, pb::CaseAction::Acknowledge, ""))
        .await
        .expect("acknowledge");
    let mut resolve = act(&first, pb::CaseAction::Resolve, "已清运");
    resolve.photo_ids = vec!["0".repeat(64)];
    let missing = s
        .grid
        .act_on_case(resolve.clone())
        .await
        .expect_err("unknown photo");
    assert_eq!(missing.code(), Code::InvalidArgument);
    resolve.photo_ids = vec![stored.photo_id.clone()];
    let resolved = s
        .grid
        .act_on_case(resolve)
        .await
        .expect("resolve")
        .into_inner()
        .case
        .expect("case");
    assert_eq!(
        resolved.evidence_photo_ids,
        std::slice::from_ref(&stored.photo_id)
    );
    assert_eq!(resolved.photo_ids, std::slice::from_ref(&stored.photo_id));
    s.grid
        .act_on_case(act(&first, pb::CaseAction::Verify, "确认已清理"))
        .await
        .expect("verify");
    let rated = s
        .grid
        .rate_case(pb::RateCaseRequest {
            case_id: first.clone(),
            rating: 5,
        })
        .await
        .expect("rate")
        .into_inner()
        .case
        .expect("case");
    assert_eq!(
        (rated.state, rated.rating, rated.escalated),
        (pb::CaseState::Closed as i32, 5, true)
    );

    // The verified report earned the grid worker's points (the follower
    // awards them soon after); the merged duplicate earned the citizen
    // nothing.
    let points = |person: Uuid| pb::GetPointsRequest {
        person_id: person.to_string(),
    };
    let total = |s: &mut System| {
        let mut grid = s.grid.clone();
        async move {
            grid.get_points(points(rider))
                .await
                .expect("points")
                .into_inner()
                .points
                .is_some_and(|p| p.total > 0)
        }
    };
    eventually("points for the verified report", || total(&mut s)).await;
    let p = s
        .grid
        .get_points(points(rider))
        .await
        .expect("points")
        .into_inner()
        .points
        .expect("points");
    assert_eq!((p.total, p.by_year.get("2026").copied()), (10, Some(10)));
    let p = s
        .grid
        .get_points(points(citizen))
        .await
        .expect("points")
        .into_inner()
        .points
        .expect("points");
    assert_eq!(p.total, 0);

    // The annual recognition: one vote per voter per candidate per day.
    let campaign = Uuid::now_v7().to_string();
    s.grid
        .open_recognition(pb::OpenRecognitionRequest {
            campaign_id: campaign.clone(),
            year: 2026,
            kind: pb::RecognitionKind::Rider as i32,
            winners: 1,
        })
        .await
        .expect("open");
    s.grid
        .nominate_candidate(pb::NominateCandidateRequest {
            campaign_id: campaign.clone(),
            person_id: rider.to_string(),
            citation: "随手拍发现并上报问题".to_owned(),
        })
        .await
        .expect("nominate");
    s.grid
        .review_candidate(pb::ReviewCandidateRequest {
            campaign_id: campaign.clone(),
            person_id: rider.to_string(),
            approved: true,
        })
        .await
        .expect("review");
    s.grid
        .open_voting(pb::OpenVotingRequest {
            campaign_id: campaign.clone(),
        })
        .await
        .expect("voting");
    let vote = pb::VoteRequest {
        campaign_id: campaign.clone(),
        candidate_person_id: rider.to_string(),
        voter_person_id: citizen.to_string(),
    };
    s.grid.vote(vote.clone()).await.expect("vote");
    let twice = s.grid.vote(vote.clone()).await.expect_err("same day");
    assert_eq!(twice.code(), Code::FailedPrecondition);
    s.clock.advance(TimeDelta::days(1));
    s.grid.vote(vote).await.expect("the next day");
    let closed = s
        .grid
        .close_recognition(pb::CloseRecognitionRequest {
            campaign_id: campaign.clone(),
        })
        .await
        .expect("close")
        .into_inner()
        .recognition
        .expect("recognition");
    assert_eq!(closed.winner_person_ids, [rider.to_string()]);
    assert_eq!(closed.candidates[0].votes, 2);

    // Distributed: every event reached JetStream on its subject.
    if let Some((js, _nats)) = &s.jetstream {
        let mut reported = false;
        for _ in 0..200 {
            let stream = js.get_stream("HONGXIN_GRID").await.expect("stream");
            if stream
                .get_last_raw_message_by_subject("hongxin.grid.case.CaseReported")
                .await
                .is_ok()
            {
                reported = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(reported, "the grid's events were published");
    }
}

/// One HTTP call to the Open311 routes; status and JSON body.
async fn open311(
    s: &System,
    request: axum::http::Request<axum::body::Body>,
) -> (u16, serde_json::Value) {
    use tower::ServiceExt as _;
    let response = s.open311.clone().oneshot(request).await.expect("response");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).expect("json"))
}

async fn open311_over_the_same_cases(mut s: System) {
    let community = Uuid::now_v7();
    s.organization
        .register_community(org::RegisterCommunityRequest {
            community_id: community.to_string(),
            name: "华店社区".to_owned(),
            subdistrict: "华店镇".to_owned(),
        })
        .await
        .expect("community");
    s.grid
        .define_case_category(pb::DefineCaseCategoryRequest {
            code: "elevator_fault".to_owned(),
            name: "电梯故障".to_owned(),
            sla_hours: 8,
            default_department: "县市场监管局".to_owned(),
        })
        .await
        .expect("category");
    let reporter = person(&mut s, 30).await;
    let get = |uri: &str| {
        axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let (status, services) = open311(&s, get("/open311/v2/services.json")).await;
    assert_eq!(status, 200);
    assert_eq!(services[0]["service_code"], "elevator_fault");
    assert_eq!(services[0]["service_name"], "电梯故障");
    let post = |body: String| {
        axum::http::Request::post("/open311/v2/requests.json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .expect("request")
    };
    let (status, created) = open311(
        &s,
        post(format!(
            "service_code=elevator_fault&lat=36.79&long=116.76&description=elevator+stuck&account_id={reporter}"
        )),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created[0]["service_request_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, found) = open311(&s, get(&format!("/open311/v2/requests/{id}.json"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            found[0]["status"].as_str(),
            found[0]["service_code"].as_str()
        ),
        (Some("open"), Some("elevator_fault"))
    );
    let (_, listed) = open311(&s, get("/open311/v2/requests.json?status=open")).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    // The same case through gRPC.
    let case = s
        .grid
        .get_case(pb::GetCaseRequest { case_id: id })
        .await
        .expect("grpc")
        .into_inner()
        .case
        .expect("case");
    assert_eq!(case.description, "elevator stuck");
    let (status, refused) = open311(
        &s,
        post(format!(
            "service_code=elevator_fault&description=x&account_id={reporter}"
        )),
    )
    .await;
    assert_eq!(status, 400, "no location: {refused}");
    let (status, _) = open311(
        &s,
        get(&format!("/open311/v2/requests/{}.json", Uuid::now_v7())),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn embedded_open311() {
    open311_over_the_same_cases(start(false).await).await;
}

#[tokio::test]
async fn distributed_open311() {
    open311_over_the_same_cases(start(true).await).await;
}

#[tokio::test]
async fn embedded_snap_and_report() {
    snap_and_report(start(false).await).await;
}

#[tokio::test]
async fn distributed_snap_and_report() {
    snap_and_report(start(true).await).await;
}

/// The S3 store away: an upload answers `Unavailable`, and so does reading
/// a stored photo; nothing internal reaches the caller.
#[tokio::test]
async fn distributed_photos_while_the_object_store_is_away() {
    let mut s = start(true).await;
    let stored = upload(&mut s, photo_with_gps()).await.expect("upload");
    s.s3.as_mut().expect("s3").stop();
    let away = upload(&mut s, photo_with_gps())
        .await
        .expect_err("store away");
    assert_eq!(away.code(), Code::Unavailable);
    assert!(
        !away.message().contains("127.0.0.1"),
        "no internals: {}",
        away.message()
    );
    let away = download(&mut s, &stored.photo_id, false)
        .await
        .expect_err("store away");
    assert_eq!(away.code(), Code::Unavailable);
}

/// A worker's reports and votes are limited per minute; the county's
/// administrator is not.
#[tokio::test]
async fn reports_and_votes_are_limited_per_caller() {
    use hongxin_runtime::auth::{Role, Scope, authed, testing::authenticator};
    let s = start(false).await;
    let channel = channel(s.grid_port).await;
    let worker = |n: u32| {
        let token = authenticator()
            .mint(
                &format!("person:p-{n}"),
                &[Role::Worker],
                Scope::person(format!("p-{n}")),
                Duration::from_secs(60),
            )
            .expect("token");
        GridServiceClient::new(authed(channel.clone(), &token))
    };
    let bad_report = || pb::ReportCaseRequest {
        case_id: "not-a-uuid".to_owned(),
        ..Default::default()
    };
    let mut w = worker(1);
    for i in 0..20 {
        let e = w.report_case(bad_report()).await.expect_err("bad report");
        assert_eq!(e.code(), Code::InvalidArgument, "report {i} is judged");
    }
    let limited = w.report_case(bad_report()).await.expect_err("limited");
    assert_eq!(limited.code(), Code::ResourceExhausted);
    // Another caller is not slowed by the first.
    let other = worker(2)
        .report_case(bad_report())
        .await
        .expect_err("bad report");
    assert_eq!(other.code(), Code::InvalidArgument);
    // Votes likewise.
    let vote = || pb::VoteRequest {
        campaign_id: "not-a-uuid".to_owned(),
        ..Default::default()
    };
    let mut v = worker(3);
    for _ in 0..30 {
        assert_eq!(
            v.vote(vote()).await.expect_err("bad vote").code(),
            Code::InvalidArgument
        );
    }
    assert_eq!(
        v.vote(vote()).await.expect_err("limited").code(),
        Code::ResourceExhausted
    );
    // The administrator's bulk work is not limited.
    let mut admin = s.grid.clone();
    for _ in 0..25 {
        let e = admin
            .report_case(bad_report())
            .await
            .expect_err("bad report");
        assert_eq!(e.code(), Code::InvalidArgument);
    }
}

/// Data scope on cases: a department officer reaches the cases dispatched
/// to the department, a worker their own reports, and no others.
#[tokio::test]
async fn officers_and_workers_reach_their_own_cases_only() {
    use hongxin_runtime::auth::{Role, Scope, authed, testing::token_with};
    let mut s = start(false).await;
    s.grid
        .define_case_category(pb::DefineCaseCategoryRequest {
            code: "garbage_pile".to_owned(),
            name: "垃圾堆放".to_owned(),
            sla_hours: 4,
            default_department: "县城市管理局".to_owned(),
        })
        .await
        .expect("category");
    let reporter = person(&mut s, 7).await;
    let case_id = Uuid::now_v7().to_string();
    s.grid
        .report_case(pb::ReportCaseRequest {
            case_id: case_id.clone(),
            category: "garbage_pile".to_owned(),
            point: Some(wire(116.76, 36.79)),
            datum: pb::Datum::Wgs84 as i32,
            description: "路边垃圾".to_owned(),
            reporter_person_id: reporter.to_string(),
            photo_ids: Vec::new(),
        })
        .await
        .expect("report");
    for action in [pb::CaseAction::Accept, pb::CaseAction::Dispatch] {
        s.grid
            .act_on_case(act(&case_id, action, ""))
            .await
            .expect("step");
    }
    let channel = channel(s.grid_port).await;
    let client = |role: Role, scope: Scope| {
        GridServiceClient::new(authed(channel.clone(), &token_with(role, scope)))
    };
    let get = || pb::GetCaseRequest {
        case_id: case_id.clone(),
    };
    let mut officer = client(Role::DepartmentOfficer, Scope::department("县城市管理局"));
    officer
        .get_case(get())
        .await
        .expect("its department's case");
    officer
        .act_on_case(act(&case_id, pb::CaseAction::Acknowledge, "收到"))
        .await
        .expect("and acts on it");
    let mut elsewhere = client(Role::DepartmentOfficer, Scope::department("县住建局"));
    let denied = elsewhere
        .get_case(get())
        .await
        .expect_err("another department");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = elsewhere
        .act_on_case(act(&case_id, pb::CaseAction::Resolve, "x"))
        .await
        .expect_err("another department");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut own = client(Role::Worker, Scope::person(reporter));
    own.get_case(get()).await.expect("their own report");
    let mut other = client(Role::Worker, Scope::person(Uuid::now_v7()));
    let denied = other
        .get_case(get())
        .await
        .expect_err("someone else's report");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = other
        .rate_case(pb::RateCaseRequest {
            case_id: case_id.clone(),
            rating: 1,
        })
        .await
        .expect_err("someone else's report");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

/// Open311 reads cases within the caller's data scope, as `GetCase` does:
/// staff of the community whose grid the case lies in read it, staff of
/// another community are refused it (403, gRPC's `PermissionDenied`) and
/// do not see it listed; the county's administrator reads it.
#[tokio::test]
async fn open311_reads_cases_within_the_callers_scope() {
    use hongxin_runtime::auth::{Role, Scope, testing};
    use tower::ServiceExt as _;
    let mut s = start(false).await;
    let (here, there) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, name) in [(here, "华店社区"), (there, "晏北社区")] {
        s.organization
            .register_community(org::RegisterCommunityRequest {
                community_id: id.to_string(),
                name: name.to_owned(),
                subdistrict: "华店镇".to_owned(),
            })
            .await
            .expect("community");
    }
    s.grid
        .define_grid(pb::DefineGridRequest {
            grid_id: Uuid::now_v7().to_string(),
            community_id: here.to_string(),
            name: "华店一网格".to_owned(),
            polygon: [
                (116.75, 36.78),
                (116.78, 36.78),
                (116.78, 36.81),
                (116.75, 36.81),
            ]
            .iter()
            .map(|(lng, lat)| wire(*lng, *lat))
            .collect(),
            datum: pb::Datum::Wgs84 as i32,
            full_time_worker_person_id: String::new(),
        })
        .await
        .expect("grid");
    s.grid
        .define_case_category(pb::DefineCaseCategoryRequest {
            code: "elevator_fault".to_owned(),
            name: "电梯故障".to_owned(),
            sla_hours: 8,
            default_department: "县市场监管局".to_owned(),
        })
        .await
        .expect("category");
    let reporter = person(&mut s, 31).await;
    let case_id = Uuid::now_v7().to_string();
    s.grid
        .report_case(pb::ReportCaseRequest {
            case_id: case_id.clone(),
            category: "elevator_fault".to_owned(),
            point: Some(wire(116.76, 36.79)),
            datum: pb::Datum::Wgs84 as i32,
            description: "电梯困人".to_owned(),
            reporter_person_id: reporter.to_string(),
            photo_ids: Vec::new(),
        })
        .await
        .expect("report");
    let guarded = hongxin_runtime::http::guard(
        s.open311.clone(),
        testing::authenticator(),
        hongxin_grid::open311_policy,
    );
    let call = |token: String, uri: String| {
        let guarded = guarded.clone();
        async move {
            let request = axum::http::Request::get(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .expect("request");
            let response = guarded.oneshot(request).await.expect("response");
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .expect("body");
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).expect("json"),
            )
        }
    };
    let staff =
        |community: Uuid| testing::token_with(Role::CommunityStaff, Scope::community(community));
    let one = format!("/open311/v2/requests/{case_id}.json");
    let all = "/open311/v2/requests.json".to_owned();

    let (status, found) = call(staff(here), one.clone()).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found[0]["service_request_id"], case_id.as_str());
    let (_, listed) = call(staff(here), all.clone()).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    let (status, refused) = call(staff(there), one.clone()).await;
    assert_eq!(status, 403, "another community's case: {refused}");
    assert!(
        !refused.to_string().contains("电梯困人"),
        "nothing of the case: {refused}"
    );
    let (status, listed) = call(staff(there), all.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(listed, serde_json::json!([]), "not listed elsewhere");

    let admin = testing::token(Role::CountyAdmin);
    let (status, found) = call(admin.clone(), one).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found[0]["description"], "电梯困人");
    let (_, listed) = call(admin, all).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
}

/// Grid workers within the caller's scope: community staff vet, appoint
/// and dismiss the workers the registry has in their community, and no
/// others; what is refused changes nothing.
async fn staff_work_their_own_communitys_grid_workers(mut s: System) {
    use hongxin_runtime::auth::{Role, Scope, authed, testing::token_with};
    let (here, there) = (Uuid::now_v7(), Uuid::now_v7());
    for (c, name) in [(here, "晏城社区"), (there, "华店社区")] {
        s.organization
            .register_community(org::RegisterCommunityRequest {
                community_id: c.to_string(),
                name: name.to_owned(),
                subdistrict: "晏城街道".to_owned(),
            })
            .await
            .expect("community");
    }
    let rider = Uuid::now_v7();
    s.organization
        .register_person(org::RegisterPersonRequest {
            person_id: rider.to_string(),
            name: "骑手".to_owned(),
            id_number: id_number(41),
            phone: String::new(),
            work: Some(org::PersonWork {
                industry: org::Industry::FoodDelivery as i32,
                platform: "美团".to_owned(),
                enterprise_id: String::new(),
                community_id: here.to_string(),
            }),
            union_member: false,
            party_status: 0,
            affiliation_organization_id: String::new(),
            mobile_member: false,
            home_organisation: String::new(),
        })
        .await
        .expect("person");
    s.grid
        .apply_as_grid_worker(pb::ApplyAsGridWorkerRequest {
            person_id: rider.to_string(),
            roles: vec!["市容市貌观察员".to_owned()],
            department: "县城市管理局".to_owned(),
            on: "2026-03-01".to_owned(),
        })
        .await
        .expect("apply");
    let channel = channel(s.grid_port).await;
    let staff = |c: Uuid| {
        GridServiceClient::new(authed(
            channel.clone(),
            &token_with(Role::CommunityStaff, Scope::community(c)),
        ))
    };
    fn denied<T>(result: Result<tonic::Response<T>, tonic::Status>, why: &str) {
        let status = result.map(|_| ()).expect_err(why);
        assert_eq!(status.code(), Code::PermissionDenied, "{why}: {status:?}");
    }
    let vet = || pb::VetGridWorkerRequest {
        person_id: rider.to_string(),
        passed: true,
        on: "2026-03-03".to_owned(),
        note: String::new(),
    };
    let appoint = || pb::AppointGridWorkerRequest {
        person_id: rider.to_string(),
        on: "2026-03-05".to_owned(),
        term_months: 12,
    };
    let dismiss = || pb::DismissGridWorkerRequest {
        person_id: rider.to_string(),
        on: "2026-06-01".to_owned(),
        note: "离开本地".to_owned(),
    };

    denied(
        staff(there).vet_grid_worker(vet()).await,
        "another community's worker",
    );
    // Still only applied: appointing needs vetting first.
    let early = s
        .grid
        .appoint_grid_worker(appoint())
        .await
        .expect_err("the refused vetting changed nothing");
    assert_eq!(early.code(), Code::FailedPrecondition);
    let vetted = staff(here)
        .vet_grid_worker(vet())
        .await
        .expect("their community's worker")
        .into_inner()
        .worker
        .expect("worker");
    assert_eq!(vetted.state, pb::WorkerState::Vetted as i32);
    denied(
        staff(there).appoint_grid_worker(appoint()).await,
        "another community's worker",
    );
    let appointed = staff(here)
        .appoint_grid_worker(appoint())
        .await
        .expect("their community's worker")
        .into_inner()
        .worker
        .expect("worker");
    assert_eq!(
        (appointed.state, appointed.version),
        (pb::WorkerState::Appointed as i32, 3),
        "the refused appointment recorded nothing"
    );
    denied(
        staff(there).dismiss_grid_worker(dismiss()).await,
        "another community's worker",
    );
    // The county's administrator dismisses; the refused dismissal had
    // recorded nothing before.
    let dismissed = s
        .grid
        .dismiss_grid_worker(dismiss())
        .await
        .expect("admin")
        .into_inner()
        .worker
        .expect("worker");
    assert_eq!(
        (dismissed.state, dismissed.version),
        (pb::WorkerState::Dismissed as i32, 4)
    );
}

#[tokio::test]
async fn embedded_grid_worker_scope() {
    staff_work_their_own_communitys_grid_workers(start(false).await).await;
}

#[tokio::test]
async fn distributed_grid_worker_scope() {
    staff_work_their_own_communitys_grid_workers(start(true).await).await;
}

/// Applying to be a grid worker within the caller's scope: a worker
/// applies for themselves, community staff for the people the registry has
/// in their community; what is refused records nothing.
async fn applications_within_the_callers_scope(mut s: System) {
    use hongxin_runtime::auth::{Role, Scope, authed, testing::token_with};
    let (here, there) = (Uuid::now_v7(), Uuid::now_v7());
    for (c, name) in [(here, "晏城社区"), (there, "华店社区")] {
        s.organization
            .register_community(org::RegisterCommunityRequest {
                community_id: c.to_string(),
                name: name.to_owned(),
                subdistrict: "晏城街道".to_owned(),
            })
            .await
            .expect("community");
    }
    let mut people = Vec::new();
    for (seq, community) in [(51, here), (52, there)] {
        let id = Uuid::now_v7();
        s.organization
            .register_person(org::RegisterPersonRequest {
                person_id: id.to_string(),
                name: format!("骑手{seq}"),
                id_number: id_number(seq),
                phone: String::new(),
                work: Some(org::PersonWork {
                    industry: org::Industry::FoodDelivery as i32,
                    platform: "美团".to_owned(),
                    enterprise_id: String::new(),
                    community_id: community.to_string(),
                }),
                union_member: false,
                party_status: 0,
                affiliation_organization_id: String::new(),
                mobile_member: false,
                home_organisation: String::new(),
            })
            .await
            .expect("person");
        people.push(id);
    }
    let (rider, other) = (people[0], people[1]);
    let channel = channel(s.grid_port).await;
    let client = |role: Role, scope: Scope| {
        GridServiceClient::new(authed(channel.clone(), &token_with(role, scope)))
    };
    let staff = |c: Uuid| client(Role::CommunityStaff, Scope::community(c));
    let worker = |p: Uuid| client(Role::Worker, Scope::person(p));
    fn denied<T>(result: Result<tonic::Response<T>, tonic::Status>, why: &str) {
        let status = result.map(|_| ()).expect_err(why);
        assert_eq!(status.code(), Code::PermissionDenied, "{why}: {status:?}");
    }
    let apply = |p: Uuid| pb::ApplyAsGridWorkerRequest {
        person_id: p.to_string(),
        roles: vec!["市容市貌观察员".to_owned()],
        department: "县城市管理局".to_owned(),
        on: "2026-03-01".to_owned(),
    };

    denied(
        staff(there).apply_as_grid_worker(apply(rider)).await,
        "another community's person",
    );
    denied(
        worker(other).apply_as_grid_worker(apply(rider)).await,
        "someone else",
    );
    // Nothing was recorded: there is no application to vet.
    let none = s
        .grid
        .vet_grid_worker(pb::VetGridWorkerRequest {
            person_id: rider.to_string(),
            passed: true,
            on: "2026-03-03".to_owned(),
            note: String::new(),
        })
        .await
        .expect_err("no application");
    assert_eq!(none.code(), Code::NotFound, "{none:?}");
    for (mut client, person, why) in [
        (staff(here), rider, "their community's person"),
        (worker(other), other, "themselves"),
    ] {
        let w = client
            .apply_as_grid_worker(apply(person))
            .await
            .expect(why)
            .into_inner()
            .worker
            .expect("worker");
        assert_eq!(
            (w.state, w.version),
            (pb::WorkerState::Applied as i32, 1),
            "{why}: the refused applications recorded nothing"
        );
    }
    // The county's administrator applies for anyone.
    let third = person(&mut s, 53).await;
    s.grid
        .apply_as_grid_worker(apply(third))
        .await
        .expect("admin");
}

#[tokio::test]
async fn embedded_grid_application_scope() {
    applications_within_the_callers_scope(start(false).await).await;
}

#[tokio::test]
async fn distributed_grid_application_scope() {
    applications_within_the_callers_scope(start(true).await).await;
}
