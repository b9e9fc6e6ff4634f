//! Partners' files imported into real organization and care services,
//! started in the test on port 0, on SQLite and on PostgreSQL: good and
//! bad rows, Chinese text, a UTF-8 byte-order mark, GBK bytes, an Excel
//! workbook, a dry run that writes nothing, and the same file twice
//! writing nothing the second time.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use hongxin_domain::SystemClock;
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_imports::{Kind, Outcome, Report, Services, import};
use hongxin_organization::client::Directory;
use hongxin_proto::care::v1 as care;
use hongxin_proto::organization::v1 as org;
use hongxin_runtime::Shutdown;
use hongxin_runtime::auth::{Role, ServiceIdentity, testing};
use hongxin_testkit::people::id_number;
use uuid::Uuid;

struct System {
    services: Services,
    org_store: EventStore,
    care_store: EventStore,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

impl Drop for System {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Sqlite,
    Postgres,
}

async fn start(mode: Mode) -> System {
    let dir = tempfile::tempdir().expect("dir");
    let config = |name: &str| match mode {
        Mode::Sqlite => StoreConfig::Sqlite {
            path: dir.path().join(format!("{name}.db")),
        },
        Mode::Postgres => StoreConfig::Postgres {
            url: hongxin_testkit::pg::url(),
            schema: hongxin_testkit::pg::fresh_schema(),
            max_connections: 4,
        },
    };
    let org_store = EventStore::open(&config("organization"))
        .await
        .expect("store");
    let care_store = EventStore::open(&config("care")).await.expect("store");
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
    let org_url = format!("http://127.0.0.1:{}", organization.port());
    tokio::spawn(
        organization
            .with_auth(testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    let built = hongxin_care::build(
        "127.0.0.1:0".parse().expect("addr"),
        care_store.clone(),
        hongxin_vault::Vault::new(care_store.clone(), master),
        &hongxin_care::Settings::default(),
        Directory::connect_lazy(&org_url, Duration::from_secs(3))
            .expect("directory")
            .with_identity(ServiceIdentity::new(testing::authenticator(), "test")),
        Arc::new(SystemClock),
        Duration::from_secs(1),
    )
    .await
    .expect("care");
    let care_url = format!("http://127.0.0.1:{}", built.app.port());
    tokio::spawn(
        built
            .app
            .with_auth(testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    let services = Services::connect_lazy(
        &org_url,
        Some(&care_url),
        Some(testing::token(Role::CountyAdmin)),
    )
    .expect("clients");
    System {
        services,
        org_store,
        care_store,
        shutdown,
        _dir: dir,
    }
}

fn today() -> NaiveDate {
    hongxin_domain::time::beijing_today(chrono::Utc::now())
}

async fn register(s: &System, seq: u16, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    s.services
        .organization
        .clone()
        .register_person(s.services.request(org::RegisterPersonRequest {
            person_id: id.to_string(),
            name: name.to_owned(),
            id_number: id_number("19900101", seq),
            phone: String::new(),
            work: None,
            union_member: false,
            party_status: 0,
            affiliation_organization_id: String::new(),
            mobile_member: false,
            home_organisation: String::new(),
        }))
        .await
        .expect("person");
    id
}

async fn person(s: &System, id: Uuid) -> org::Person {
    s.services
        .organization
        .clone()
        .get_person(s.services.request(org::GetPersonRequest {
            person_id: id.to_string(),
        }))
        .await
        .expect("person")
        .into_inner()
        .person
        .expect("person")
}

async fn heads(s: &System) -> (u64, u64) {
    (
        s.org_store.head_position().await.expect("head"),
        s.care_store.head_position().await.expect("head"),
    )
}

fn with_bom(text: &str) -> Vec<u8> {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable, "every character has a GBK code");
    bytes.into_owned()
}

async fn run(s: &System, kind: Kind, bytes: &[u8], dry_run: bool) -> Report {
    import(kind, bytes, &s.services, dry_run, today())
        .await
        .expect("import")
}

fn outcomes(report: &Report) -> Vec<(usize, Outcome)> {
    report
        .rows
        .iter()
        .map(|r| (r.line, r.outcome.clone()))
        .collect()
}

fn rejected_because(report: &Report, line: usize, needle: &str) {
    let row = report
        .rows
        .iter()
        .find(|r| r.line == line)
        .expect("row reported");
    match &row.outcome {
        Outcome::Rejected(why) => assert!(why.contains(needle), "line {line}: {why}"),
        other => panic!("line {line} should be rejected ({needle}), was {other:?}"),
    }
}

/// A valid ID number with its check character changed.
fn wrong_check(id: &str) -> String {
    let last = if id.ends_with('1') { "2" } else { "1" };
    format!("{}{last}", &id[..17])
}

/// The union's membership file, UTF-8 with a byte-order mark and Chinese
/// headers: two good rows, a bad check digit, an unknown person, a row
/// repeated, a name that is not the registry's.
async fn union_members_twice(s: &System) {
    let zhang = register(s, 11, "张三").await;
    let li = register(s, 12, "李四").await;
    let file = format!(
        "姓名,身份证号,手机号,会员编号,入会日期\n\
         张三,{a},13800138000,GH-0001,2026年3月1日\n\
         李四,{b},,GH-0002,2026/3/2\n\
         王五,{bad},,GH-0003,2026-03-03\n\
         赵六,{unknown},,GH-0004,2026-03-04\n\
         张三,{a},13800138000,GH-0001,2026年3月1日\n\
         钱七,{b},,GH-0005,2026-03-05\n",
        a = id_number("19900101", 11),
        b = id_number("19900101", 12),
        bad = wrong_check(&id_number("19900101", 13)),
        unknown = id_number("19900101", 14),
    );
    let bytes = with_bom(&file);

    let before = heads(s).await;
    let dry = run(s, Kind::UnionMembers, &bytes, true).await;
    assert_eq!(heads(s).await, before, "a dry run writes nothing");
    assert_eq!((dry.accepted(), dry.rejected()), (2, 4), "{dry:?}");
    assert!(!person(s, zhang).await.union_member);

    let first = run(s, Kind::UnionMembers, &bytes, false).await;
    assert_eq!(
        (first.accepted(), first.unchanged(), first.rejected()),
        (2, 0, 4),
        "{:?}",
        outcomes(&first)
    );
    rejected_because(&first, 4, "bad ID check digit");
    rejected_because(&first, 5, "unknown person");
    rejected_because(&first, 6, "duplicate row in the file, as line 2");
    rejected_because(&first, 7, "record.name");
    assert!(person(s, zhang).await.union_member);
    assert!(person(s, li).await.union_member);
    let after_first = heads(s).await;
    assert_eq!(after_first.0, before.0 + 2, "one event per accepted row");

    let second = run(s, Kind::UnionMembers, &bytes, false).await;
    assert_eq!(
        (second.accepted(), second.unchanged(), second.rejected()),
        (0, 2, 4)
    );
    assert_eq!(
        heads(s).await,
        after_first,
        "the second import writes nothing"
    );

    // The report: UTF-8 with a byte-order mark, Chinese headers, ID
    // numbers masked.
    let csv = String::from_utf8(first.to_csv().expect("report")).expect("utf-8");
    let csv = csv.strip_prefix('\u{feff}').expect("byte-order mark");
    assert!(
        csv.starts_with("行号,编号,身份证号（脱敏）,结果,原因"),
        "{csv}"
    );
    assert!(csv.contains("3714**********"), "{csv}");
    assert!(
        !csv.contains(&id_number("19900101", 11)),
        "no ID number in clear"
    );
    assert!(!csv.contains("张三"), "no names in the report");
}

/// The HR bureau's training subsidies, in GBK as office software writes
/// them: a dry run, an import, the same file again, then a newer status
/// and an older one.
async fn subsidies_in_gbk(s: &System) {
    let wang = register(s, 21, "王小二").await;
    let file = |status: &str, on: &str, amount: &str| {
        format!(
            "申请编号,姓名,身份证号,培训项目,补贴状态,状态日期,补贴金额（元）\n\
             BT-2026-001,王小二,{id},网约配送员职业技能培训,{status},{on},{amount}\n\
             BT-2026-002,王小二,{id},电工,已申请,2026-03-01,1500.555\n",
            id = id_number("19900101", 21),
        )
    };
    let applied = gbk(&file("已申请", "2026-03-01", "\"1,200.50\""));
    let unquoted = run(
        s,
        Kind::HrSubsidy,
        &gbk(&file("已申请", "2026-03-01", "1,200.50")),
        true,
    )
    .await;
    rejected_because(&unquoted, 2, "more cells than headers");
    assert!(std::str::from_utf8(&applied).is_err(), "GBK is not UTF-8");

    let before = heads(s).await;
    let dry = run(s, Kind::HrSubsidy, &applied, true).await;
    assert_eq!(
        outcomes(&dry)[0],
        (2, Outcome::Accepted),
        "valid, and would be written"
    );
    rejected_because(&dry, 3, "at most two decimals");
    assert_eq!(heads(s).await, before, "a dry run writes nothing");

    let first = run(s, Kind::HrSubsidy, &applied, false).await;
    assert_eq!((first.accepted(), first.rejected()), (1, 1));
    let events = s
        .org_store
        .load_stream(&hongxin_eventstore::StreamId::new("hr_records", wang))
        .await
        .expect("stream");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "TrainingSubsidyRecorded");
    let recorded =
        <org::TrainingSubsidyRecorded as prost::Message>::decode(events[0].payload.as_slice())
            .expect("payload");
    assert_eq!(recorded.amount_fen, 120_050, "¥1,200.50 is 120050 fen");
    assert_eq!(recorded.course, "网约配送员职业技能培训");

    let head = heads(s).await;
    let again = run(s, Kind::HrSubsidy, &applied, false).await;
    assert_eq!((again.accepted(), again.unchanged()), (0, 1));
    assert_eq!(heads(s).await, head, "the second import writes nothing");
    // A dry run of a file already imported says so.
    let dry_again = run(s, Kind::HrSubsidy, &applied, true).await;
    assert_eq!(outcomes(&dry_again)[0], (2, Outcome::Unchanged));

    // The record's newer status is a new fact; an older one is refused.
    let paid = gbk(&file("已发放", "2026-04-01", "1200.50"));
    let newer = run(s, Kind::HrSubsidy, &paid, false).await;
    assert_eq!(outcomes(&newer)[0], (2, Outcome::Accepted));
    let approved = gbk(&file("已审核", "2026-03-15", "1200.50"));
    let older = run(s, Kind::HrSubsidy, &approved, false).await;
    rejected_because(&older, 2, "this status is older");
    // The old file itself was imported once: it stays "already imported".
    let old_file = run(s, Kind::HrSubsidy, &applied, false).await;
    assert_eq!(outcomes(&old_file)[0], (2, Outcome::Unchanged));
}

/// The HR bureau's injury-protection enrolments as an Excel workbook, one
/// ID number typed as a number (its last digits lost), English headers.
async fn injury_protection_from_excel(s: &System) {
    register(s, 31, "孙八").await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, header) in ["record_id", "name", "id_number", "platform", "enrolled_on"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *header).expect("cell");
    }
    let id = id_number("19900101", 31);
    sheet.write_string(1, 0, "ZS-1").expect("cell");
    sheet.write_string(1, 1, "孙八").expect("cell");
    sheet.write_string(1, 2, &id).expect("cell");
    sheet.write_string(1, 3, "美团").expect("cell");
    let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 5, 6).expect("date");
    sheet
        .write_datetime_with_format(1, 4, &day, &format)
        .expect("cell");
    sheet.write_string(2, 0, "ZS-2").expect("cell");
    sheet
        .write_number(2, 2, 371_425_199_001_010_310.0)
        .expect("cell");
    sheet.write_string(2, 3, "饿了么").expect("cell");
    sheet.write_string(2, 4, "2026-05-07").expect("cell");
    let bytes = book.save_to_buffer().expect("workbook");

    let first = run(s, Kind::HrInjury, &bytes, false).await;
    assert!(first.encoding.is_none(), "read as a workbook");
    assert_eq!(outcomes(&first)[0], (2, Outcome::Accepted), "{first:?}");
    rejected_because(&first, 3, "digits lost");
    let head = heads(s).await;
    let again = run(s, Kind::HrInjury, &bytes, false).await;
    assert_eq!(outcomes(&again)[0], (2, Outcome::Unchanged));
    assert_eq!(heads(s).await, head);
}

/// Employment registrations and injury claims, English statuses and
/// Chinese ones, amounts in yuan with and without decimals.
async fn employment_and_claims(s: &System) {
    let wu = register(s, 51, "吴十").await;
    let id = id_number("19900101", 51);
    let employment = format!(
        "登记编号,身份证号,登记状态,登记日期,职业\n\
         DJ-51,{id},registered,20260110,网约配送员\n\
         DJ-52,{id},已注销,2026-13-01,\n"
    );
    let report = run(s, Kind::HrEmployment, employment.as_bytes(), false).await;
    assert_eq!(outcomes(&report)[0], (2, Outcome::Accepted), "{report:?}");
    rejected_because(&report, 3, "malformed date");
    let claims = format!(
        "报案编号,身份证号,事故日期,案件状态,状态日期,支付金额（元）\n\
         GS-51,{id},2026-06-01,已支付,2026-07-01,8800\n\
         GS-52,{id},2026-06-01,已报案,2026-06-02,\n\
         GS-53,{id},2026-06-01,已报案,2026-06-02,100\n"
    );
    let report = run(s, Kind::HrInjuryClaims, claims.as_bytes(), false).await;
    assert_eq!(
        outcomes(&report)[..2],
        [(2, Outcome::Accepted), (3, Outcome::Accepted)],
        "{report:?}"
    );
    rejected_because(&report, 4, "paid_fen");
    let events = s
        .org_store
        .load_stream(&hongxin_eventstore::StreamId::new("hr_records", wu))
        .await
        .expect("stream");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "EmploymentRegistrationRecorded",
            "InjuryClaimRecorded",
            "InjuryClaimRecorded"
        ]
    );
    let paid = <org::InjuryClaimRecorded as prost::Message>::decode(events[1].payload.as_slice())
        .expect("payload");
    assert_eq!(paid.paid_fen, 880_000);
}

/// The union's status of a hardship file reaches the care service's case.
async fn hardship_file_status(s: &System) {
    let zhou = register(s, 41, "周九").await;
    let case_id = Uuid::now_v7();
    s.services
        .care
        .clone()
        .expect("care")
        .apply_for_hardship(s.services.request(care::ApplyForHardshipRequest {
            case_id: case_id.to_string(),
            person_id: zhou.to_string(),
            household: Some(care::Household {
                size: 3,
                annual_disposable_income_fen: 1_800_000,
                unavoidable_expenses_fen: 0,
                ..Default::default()
            }),
            accident: false,
            applied_on: "2026-02-01".to_owned(),
        }))
        .await
        .expect("case");
    let file = format!(
        "档案编号,姓名,身份证号,红新案件编号,档案状态,状态日期\n\
         GH-K-7,周九,{id},{case_id},已审核,2026-03-01\n\
         GH-K-8,周九,{id},{other},已建档,2026-03-01\n\
         GH-K-9,周九,{id},{case_id},已办结,2026-03-01\n",
        id = id_number("19900101", 41),
        other = Uuid::now_v7(),
    );
    let bytes = gbk(&file);
    let first = run(s, Kind::UnionHardship, &bytes, false).await;
    assert_eq!(outcomes(&first)[0], (2, Outcome::Accepted), "{first:?}");
    rejected_because(&first, 3, "unknown hardship case");
    rejected_because(&first, 4, "unknown status");
    let case = s
        .services
        .care
        .clone()
        .expect("care")
        .get_hardship_case(s.services.request(care::GetHardshipCaseRequest {
            case_id: case_id.to_string(),
        }))
        .await
        .expect("case")
        .into_inner()
        .case
        .expect("case");
    assert_eq!(
        case.union_status,
        care::UnionHardshipStatus::Approved as i32
    );
    let head = heads(s).await;
    let again = run(s, Kind::UnionHardship, &bytes, false).await;
    assert_eq!(outcomes(&again)[0], (2, Outcome::Unchanged));
    assert_eq!(heads(s).await, head);
}

/// The dashboard's read models follow the imported facts: union members,
/// injury-protection enrolments, subsidies paid in fen.
async fn dashboard_figures(s: &System) {
    let projection =
        hongxin_projection::Projection::open(&hongxin_projection::ProjectionDb::Sqlite {
            path: s._dir.path().join("projection.db"),
        })
        .await
        .expect("projection");
    let feed =
        hongxin_bus::EventFeed::in_process(s.org_store.clone(), "organization", "projection")
            .await
            .expect("feed");
    {
        let p = projection.clone();
        let shutdown = s.shutdown.clone();
        tokio::spawn(async move { p.run("organization", feed, shutdown).await });
    }
    let pool = projection.pool();
    let figures = || async {
        sqlx::query_as::<_, (i64, i64, i64, i64)>(
            "SELECT \
             (SELECT CAST(COALESCE(SUM(union_member), 0) AS BIGINT) FROM people), \
             (SELECT COUNT(*) FROM hr_records WHERE kind = 'injury_protection'), \
             (SELECT COUNT(*) FROM hr_records WHERE kind = 'training_subsidy' AND status = 'paid'), \
             (SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM hr_records \
              WHERE kind = 'training_subsidy' AND status = 'paid')",
        )
        .fetch_one(&pool)
        .await
        .expect("figures")
    };
    let wanted = (2, 1, 1, 120_050);
    for _ in 0..100 {
        if figures().await == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(figures().await, wanted);
}

#[tokio::test]
async fn imports_on_sqlite() {
    let s = start(Mode::Sqlite).await;
    union_members_twice(&s).await;
    subsidies_in_gbk(&s).await;
    injury_protection_from_excel(&s).await;
    hardship_file_status(&s).await;
    employment_and_claims(&s).await;
    dashboard_figures(&s).await;
}

#[tokio::test]
async fn imports_on_postgres() {
    let s = start(Mode::Postgres).await;
    union_members_twice(&s).await;
    subsidies_in_gbk(&s).await;
    hardship_file_status(&s).await;
}

#[tokio::test]
async fn a_file_that_is_not_text_nor_a_workbook_is_refused_whole() {
    let s = start(Mode::Sqlite).await;
    let err = import(
        Kind::UnionMembers,
        b"\xFF\xFF\x00",
        &s.services,
        false,
        today(),
    )
    .await
    .expect_err("refused");
    assert!(err.to_string().contains("neither UTF-8 nor GBK"), "{err}");
    let err = import(
        Kind::UnionMembers,
        "姓名,身份证号\n".as_bytes(),
        &s.services,
        false,
        today(),
    )
    .await
    .expect_err("refused");
    assert!(err.to_string().contains("会员编号"), "{err}");
}
