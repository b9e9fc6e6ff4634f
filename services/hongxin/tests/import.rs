//! `hongxin import` through the real binary against a running `hongxin up`:
//! a GBK-encoded file from the HR bureau with a good row, a bad ID check
//! digit, a person nobody registered and a repeated row. The dry run writes
//! nothing, the import writes the good row once, a second import changes
//! nothing, the per-row report says why each row was rejected, and the
//! dashboard counts the one registration.

mod common;

use common::{LOCAL_KEY, admin_token, get, hongxin};

use std::time::Duration;

use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_testkit::people::id_number;
use hongxin_testkit::{free_port, nats::wait_for_port};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// The ports of one `hongxin up`, as its environment and the importer's.
fn ports() -> Vec<(&'static str, String)> {
    [
        "HONGXIN_PORTS__ORGANIZATION",
        "HONGXIN_PORTS__HTTP",
        "HONGXIN_PORTS__PIPELINE",
        "HONGXIN_PORTS__CARE",
        "HONGXIN_PORTS__GRID",
        "HONGXIN_PORTS__PROJECTION",
        "HONGXIN_PORTS__INTEGRATION",
    ]
    .into_iter()
    .map(|k| (k, free_port().to_string()))
    .collect()
}

fn port(envs: &[(&str, String)], key: &str) -> u16 {
    envs.iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .expect("port")
}

/// `hongxin import hr-employment <file> <extra>`: its exit status and output.
fn import(
    dir: &std::path::Path,
    envs: &[(&str, String)],
    file: &std::path::Path,
    extra: &[&str],
) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hongxin"))
        .arg("import")
        .arg("hr-employment")
        .arg(file)
        .args(extra)
        .current_dir(dir)
        .env("HONGXIN_TELEMETRY__LOG_FILTER", "warn")
        .env("HONGXIN_AUTH__LOCAL_KEY", LOCAL_KEY)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run hongxin import");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The dashboard's overview once `pointer` reads `want`.
async fn dashboard_shows(http: u16, pointer: &str, want: i64) {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let body = tokio::time::timeout(Duration::from_secs(5), get(http, "/api/v1/overview"))
            .await
            .unwrap_or_default();
        let shown = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.pointer(pointer).and_then(serde_json::Value::as_i64));
        if shown == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{pointer} shows {shown:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_hr_file_in_gbk_imports_once_and_reports_every_rejected_row() {
    let dir = tempfile::tempdir().expect("dir");
    let envs = ports();
    let _up = hongxin(dir.path(), &envs, &["up"]);
    let org = port(&envs, "HONGXIN_PORTS__ORGANIZATION");
    wait_for_port(org).await.expect("organization port");
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{org}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client =
        OrganizationServiceClient::new(hongxin_runtime::auth::authed(channel, &admin_token()));
    let registered = id_number("19930303", 11);
    client
        .register_person(pb::RegisterPersonRequest {
            person_id: Uuid::now_v7().to_string(),
            name: "孙七".to_owned(),
            id_number: registered.clone(),
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
    let mut bad_digit = registered.clone();
    let last = if registered.ends_with('0') { "1" } else { "0" };
    bad_digit.replace_range(17.., last);
    let nobody = id_number("19930303", 12);
    let csv = format!(
        "身份证号,姓名,登记编号,登记状态,登记日期,职业\r\n\
         {registered},孙七,LJ-2026-001,已登记,2026-03-01,网约配送员\r\n\
         {bad_digit},孙七,LJ-2026-002,已登记,2026-03-01,网约配送员\r\n\
         {nobody},周八,LJ-2026-003,已登记,2026-03-01,网约配送员\r\n\
         {registered},孙七,LJ-2026-001,已登记,2026-03-01,网约配送员\r\n"
    );
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&csv);
    assert!(!unmappable);
    let file = dir.path().join("灵活就业登记.csv");
    std::fs::write(&file, &gbk).expect("file");
    let report = dir.path().join("report.csv");
    let report_arg = report.to_string_lossy().into_owned();

    let (ok, out) = import(dir.path(), &envs, &file, &["--dry-run"]);
    assert!(ok, "{out}");
    assert!(out.contains("GBK/GB18030"), "{out}");
    assert!(out.contains("nothing written"), "{out}");
    assert!(out.contains("1 would be accepted"), "{out}");

    let (ok, out) = import(dir.path(), &envs, &file, &["--report", &report_arg]);
    assert!(ok, "{out}");
    assert!(
        out.contains("1 accepted, 0 unchanged (already imported), 3 rejected, 4 rows"),
        "{out}"
    );
    let written = std::fs::read(&report).expect("report");
    assert!(
        written.starts_with(b"\xEF\xBB\xBF"),
        "a BOM for office software"
    );
    let text = String::from_utf8_lossy(&written[3..]).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[1].contains("已导入"), "{text}");
    assert!(lines[2].contains("拒绝"), "{text}");
    assert!(lines[3].contains("拒绝"), "{text}");
    assert!(lines[4].contains("重复"), "{text}");
    assert!(!text.contains(&registered), "ID numbers are masked: {text}");

    let (ok, out) = import(dir.path(), &envs, &file, &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("0 accepted, 1 unchanged (already imported), 3 rejected"),
        "{out}"
    );

    let http = port(&envs, "HONGXIN_PORTS__HTTP");
    wait_for_port(http).await.expect("dashboard port");
    dashboard_shows(http, "/hr/employment_registered", 1).await;
}
