//! Reads the dashboard's overview once it has caught up with every
//! context, and prints the article's figures from it.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::grid::{ELEVATOR, GARBAGE};

/// `GET <base>/api/v1/overview` as JSON (plain HTTP/1.0, enough for the
/// dashboard).
async fn overview(base: &str) -> anyhow::Result<Value> {
    let rest = base
        .strip_prefix("http://")
        .with_context(|| format!("{base}: only http:// dashboards"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut s = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to the dashboard at {authority}"))?;
    s.write_all(format!("GET /api/v1/overview HTTP/1.0\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the dashboard's answer has no body")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        anyhow::bail!(
            "the dashboard answered {}",
            head.lines().next().unwrap_or("")
        );
    }
    Ok(serde_json::from_str(body)?)
}

/// Events the projection has still to apply, over every context; `None`
/// when it lists no context yet.
fn pending(v: &Value) -> Option<u64> {
    let contexts = v["contexts"].as_array().filter(|c| !c.is_empty())?;
    Some(
        contexts
            .iter()
            .map(|c| c["pending"].as_u64().unwrap_or(u64::MAX))
            .fold(0, u64::saturating_add),
    )
}

/// Polls the overview until nothing is pending and two answers in a row
/// show the same figures, or `patience` runs out.
pub(crate) async fn wait_caught_up(base: &str, patience: Duration) -> anyhow::Result<Value> {
    let deadline = Instant::now() + patience;
    let mut last: Option<Vec<(String, String)>> = None;
    loop {
        match overview(base).await {
            Ok(v) if pending(&v) == Some(0) => {
                let now = figures(&v);
                if last.as_ref() == Some(&now) {
                    return Ok(v);
                }
                last = Some(now);
            }
            Ok(_) => last = None,
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => {}
        }
        if Instant::now() > deadline {
            anyhow::bail!("the dashboard did not catch up within {patience:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn count(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn resolved(v: &Value, category: &str) -> i64 {
    v["cases_by_category"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["category"] == category)
        .map_or(0, |c| c["resolved"].as_i64().unwrap_or(0))
}

/// The article's figures as the overview shows them: label, value.
pub(crate) fn figures(v: &Value) -> Vec<(String, String)> {
    let enterprise_orgs: i64 = v["party_organizations_by_kind"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["kind"] == "branch" || k["kind"] == "joint_branch")
        .map(|k| k["organizations"].as_i64().unwrap_or(0))
        .sum();
    let n = |x: i64| x.to_string();
    vec![
        (
            "流动党员报到站 report stations",
            n(count(v, "/report_stations/stations")),
        ),
        (
            "企业党组织 enterprise Party organisations",
            n(enterprise_orgs),
        ),
        (
            "有党员企业覆盖率 units with members covered (%)",
            format!(
                "{}",
                v.pointer("/coverage/member_units_rate")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
            ),
        ),
        (
            "新发展党员 new members",
            n(count(v, "/development/probationary") + count(v, "/development/full")),
        ),
        (
            "入党积极分子 activists",
            n(count(v, "/development/activists")),
        ),
        (
            "培训场次 training sessions",
            n(count(v, "/capability/training_sessions")),
        ),
        (
            "培训人次 training attendances",
            n(count(v, "/capability/training_attendances")),
        ),
        (
            "党员示范站点 demonstration stations",
            n(count(v, "/vanguard/demonstration_stations")),
        ),
        (
            "红齐先锋岗 vanguard posts",
            n(count(v, "/vanguard/vanguard_posts")),
        ),
        (
            "兼职网格员 part-time grid workers",
            n(count(v, "/mechanism/grid_workers")),
        ),
        ("垃圾堆放 garbage piles solved", n(resolved(v, GARBAGE))),
        ("电梯故障 elevator faults solved", n(resolved(v, ELEVATOR))),
        (
            "红色CGO posted cadres",
            n(count(v, "/service/posted_cadres")),
        ),
        (
            "企业问题解决 enterprise problems solved",
            n(count(v, "/service/problems_solved")),
        ),
        (
            "关爱活动 care activities",
            n(count(v, "/service/activities_held")),
        ),
        (
            "活动人次 activity participants",
            n(count(v, "/service/activity_participants")),
        ),
        (
            "帮扶困难职工 hardship workers helped",
            n(count(v, "/service/hardship_cases_approved")),
        ),
        (
            "防暑降温物资 supplies (¥)",
            format!(
                "{:.2}",
                count(v, "/service/supplies_value_fen") as f64 / 100.0
            ),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub(crate) fn print(v: &Value) {
    println!("dashboard /api/v1/overview:");
    for (label, value) in figures(v) {
        println!("  {label:<48} {value}");
    }
}
