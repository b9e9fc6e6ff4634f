//! The dashboard's tables for download, as CSV or Excel, with Chinese
//! headers (English with `?lang=en`). Each table is a view of the same
//! overview the page shows, so a download never disagrees with the screen.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::web::{Web, compute};

/// One column: the overview's key and its headers.
struct Column {
    key: &'static str,
    zh: &'static str,
    en: &'static str,
}

const fn col(key: &'static str, zh: &'static str, en: &'static str) -> Column {
    Column { key, zh, en }
}

/// Where a table's rows come from in the overview.
enum Rows {
    /// An array of objects at this JSON pointer, one row each.
    Array(&'static str, &'static [Column]),
    /// One row per figure: its name and the number at a JSON pointer.
    Figures(&'static [Column]),
}

pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) zh: &'static str,
    pub(crate) en: &'static str,
    rows: Rows,
}

/// The county's headline figures (the article's), each a pointer into the
/// overview.
const HEADLINE: &[Column] = &[
    col(
        "/report_stations/stations",
        "流动党员报到站",
        "mobile-member report stations",
    ),
    col(
        "/coverage/covered",
        "已覆盖企业",
        "units covered by a Party organisation",
    ),
    col(
        "/coverage/organization_rate",
        "组织覆盖率(%)",
        "organisation coverage (%)",
    ),
    col(
        "/coverage/own_branch_rate",
        "单独组建率(%)",
        "own-branch rate (%)",
    ),
    col(
        "/coverage/member_units_rate",
        "有党员企业覆盖率(%)",
        "coverage of units with members (%)",
    ),
    col(
        "/development/probationary",
        "新发展党员(预备)",
        "new members (probationary)",
    ),
    col(
        "/development/full",
        "转为正式党员",
        "confirmed full members",
    ),
    col("/development/activists", "入党积极分子", "activists"),
    col(
        "/capability/training_sessions",
        "培训场次",
        "training sessions",
    ),
    col(
        "/capability/training_attendances",
        "培训人次",
        "training attendances",
    ),
    col(
        "/vanguard/demonstration_stations",
        "党员示范站点",
        "demonstration stations",
    ),
    col("/vanguard/vanguard_posts", "红齐先锋岗", "vanguard posts"),
    col(
        "/mechanism/grid_workers",
        "兼职网格员",
        "part-time grid workers",
    ),
    col("/mechanism/cases", "随手拍案件", "snap-and-report cases"),
    col("/mechanism/cases_resolved", "已解决案件", "cases solved"),
    col(
        "/service/posted_cadres",
        "红色CGO",
        "cadres posted to enterprises",
    ),
    col(
        "/service/problems_solved",
        "解决企业难题",
        "enterprise problems solved",
    ),
    col("/service/activities_held", "关爱活动", "care activities"),
    col(
        "/service/activity_participants",
        "活动参与人次",
        "activity participants",
    ),
    col(
        "/service/hardship_cases_approved",
        "帮扶困难职工",
        "hardship cases approved",
    ),
    col(
        "/service/hardship_support_fen",
        "帮扶金额(分)",
        "hardship support (fen)",
    ),
    col(
        "/hr/employment_registered",
        "灵活就业登记",
        "flexible-employment registrations",
    ),
    col(
        "/hr/injury_protection_enrolled",
        "职业伤害保障参保",
        "injury-protection enrolments",
    ),
    col(
        "/hr/injury_claims_paid_fen",
        "职业伤害赔付(分)",
        "injury claims paid (fen)",
    ),
    col(
        "/hr/training_subsidies_paid_fen",
        "培训补贴(分)",
        "training subsidies paid (fen)",
    ),
    col(
        "/hr/employment_filings",
        "代办灵活就业登记",
        "flexible-employment applications filed",
    ),
    col(
        "/hr/accidents_reported",
        "职业伤害报案",
        "accidents reported",
    ),
    col(
        "/hr/training_certificates",
        "培训结业证书",
        "training certificates issued",
    ),
    col(
        "/service/supplies_value_fen",
        "发放物资价值(分)",
        "supplies handed out (fen)",
    ),
];

pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "headline",
        zh: "主要指标",
        en: "Headline figures",
        rows: Rows::Figures(HEADLINE),
    },
    Table {
        name: "enterprises_by_industry",
        zh: "分行业企业",
        en: "Units by industry",
        rows: Rows::Array(
            "/enterprises_by_industry",
            &[
                col("industry", "行业", "industry"),
                col("enterprises", "企业数", "units"),
                col("workers", "从业人员", "workers"),
                col("full_members", "正式党员", "full members"),
                col("with_members", "有党员企业", "units with members"),
            ],
        ),
    },
    Table {
        name: "enterprises_by_community",
        zh: "分社区企业",
        en: "Units by community",
        rows: Rows::Array(
            "/enterprises_by_community",
            &[
                col("community", "社区", "community"),
                col("enterprises", "企业数", "units"),
                col("workers", "从业人员", "workers"),
            ],
        ),
    },
    Table {
        name: "people_by_industry",
        zh: "分行业人员",
        en: "People by industry",
        rows: Rows::Array(
            "/people_by_industry",
            &[
                col("industry", "行业", "industry"),
                col("people", "登记人员", "registered"),
                col("members", "党员", "Party members"),
                col("union_members", "工会会员", "union members"),
            ],
        ),
    },
    Table {
        name: "party_organizations",
        zh: "党组织",
        en: "Party organisations",
        rows: Rows::Array(
            "/party_organizations_by_kind",
            &[
                col("kind", "类型", "kind"),
                col("organizations", "数量", "organisations"),
            ],
        ),
    },
    Table {
        name: "governance",
        zh: "工作制度落实",
        en: "Governance calendar",
        rows: Rows::Array(
            "/governance/duties",
            &[
                col("kind", "事项", "duty"),
                col("held", "已开展", "held"),
                col("due", "应开展", "due"),
                col("overdue", "逾期", "overdue"),
            ],
        ),
    },
    Table {
        name: "governance_earlier",
        zh: "往年工作制度落实",
        en: "Governance calendar, earlier years",
        rows: Rows::Array(
            "/governance/earlier",
            &[
                col("year", "年度", "year"),
                col("kind", "事项", "duty"),
                col("held", "已开展", "held"),
                col("due", "应开展", "due"),
                col("overdue", "逾期", "overdue"),
            ],
        ),
    },
    Table {
        name: "cases_by_category",
        zh: "分类别案件",
        en: "Cases by category",
        rows: Rows::Array(
            "/cases_by_category",
            &[
                col("category", "类别", "category"),
                col("cases", "案件数", "cases"),
                col("resolved", "已解决", "solved"),
            ],
        ),
    },
    Table {
        name: "case_metrics",
        zh: "案件办理指标",
        en: "Case metrics",
        rows: Rows::Array(
            "/case_metrics",
            &[
                col("category", "类别", "category"),
                col("department", "部门", "department"),
                col("cases", "派遣案件", "dispatched"),
                col("response_rate", "响应率(%)", "response rate (%)"),
                col("resolution_rate", "解决率(%)", "resolution rate (%)"),
                col("satisfaction_rate", "满意率(%)", "satisfaction rate (%)"),
                col("sla_attainment", "按期办结率(%)", "SLA attainment (%)"),
                col("reopen_rate", "重办率(%)", "reopen rate (%)"),
                col(
                    "hours_to_acknowledge_median",
                    "响应时长中位数(小时)",
                    "hours to acknowledge, median",
                ),
                col(
                    "hours_to_acknowledge_p90",
                    "响应时长P90(小时)",
                    "hours to acknowledge, p90",
                ),
                col(
                    "hours_to_close_median",
                    "办结时长中位数(小时)",
                    "hours to close, median",
                ),
                col(
                    "hours_to_close_p90",
                    "办结时长P90(小时)",
                    "hours to close, p90",
                ),
            ],
        ),
    },
    Table {
        name: "cases_by_grid",
        zh: "分网格案件",
        en: "Cases by grid",
        rows: Rows::Array(
            "/cases_by_grid",
            &[
                col("grid", "网格", "grid"),
                col("community", "社区", "community"),
                col("cases", "案件数", "cases"),
                col("solved", "已解决", "solved"),
            ],
        ),
    },
    Table {
        name: "by_month",
        zh: "月度趋势",
        en: "By month",
        rows: Rows::Array(
            "/by_month",
            &[
                col("month", "月份", "month"),
                col("cases_reported", "随手拍上报", "cases reported"),
                col("cases_solved", "随手拍解决", "cases solved"),
                col("training_attendances", "培训人次", "training attendances"),
                col(
                    "activity_participants",
                    "活动参与人次",
                    "activity participants",
                ),
                col("service_requests", "服务申请", "service requests"),
                col("members_admitted", "新发展党员", "members admitted"),
            ],
        ),
    },
    Table {
        name: "freshness",
        zh: "数据时效",
        en: "Freshness",
        rows: Rows::Array(
            "/contexts",
            &[
                col("context", "业务域", "context"),
                col("position", "已处理位置", "position"),
                col("pending", "待处理事件", "pending events"),
                col("lag_seconds", "延迟(秒)", "lag (seconds)"),
            ],
        ),
    },
];

/// Values of the enumerations that people read in Chinese.
fn zh_value(value: &str) -> Option<&'static str> {
    Some(match value {
        "express" => "快递",
        "food_delivery" => "外卖",
        "live_commerce" => "直播电商",
        "transport" => "交通运输",
        "committee" => "党委",
        "general_branch" => "党总支",
        "branch" => "党支部",
        "joint_branch" => "联合党支部",
        "joint_meeting" => "联席会议",
        "field_research" => "调研",
        "department_report" => "述职",
        "organization" => "组织引领",
        "pipeline" => "能力引领",
        "grid" => "机制引领",
        "care" => "服务引领",
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Zh,
    En,
}

/// A table as headers and cells.
pub(crate) struct Sheet {
    pub(crate) title: &'static str,
    pub(crate) headers: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<Value>>,
}

/// A cell as text: strings as they are, numbers in decimal, none empty.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

pub(crate) fn sheet(table: &Table, overview: &Value, lang: Lang) -> Sheet {
    let header = |c: &Column| if lang == Lang::Zh { c.zh } else { c.en };
    let cell = |v: Option<&Value>| match v {
        Some(Value::String(s)) if lang == Lang::Zh => {
            Value::String(zh_value(s).map_or_else(|| s.clone(), str::to_owned))
        }
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let title = if lang == Lang::Zh { table.zh } else { table.en };
    match &table.rows {
        Rows::Array(pointer, columns) => Sheet {
            title,
            headers: columns.iter().map(header).collect(),
            rows: overview
                .pointer(pointer)
                .and_then(Value::as_array)
                .map(|rows| {
                    rows.iter()
                        .map(|r| columns.iter().map(|c| cell(r.get(c.key))).collect())
                        .collect()
                })
                .unwrap_or_default(),
        },
        Rows::Figures(figures) => Sheet {
            title,
            headers: if lang == Lang::Zh {
                vec!["指标", "数值"]
            } else {
                vec!["figure", "value"]
            },
            rows: figures
                .iter()
                .map(|f| {
                    vec![
                        Value::String(header(f).to_owned()),
                        cell(overview.pointer(f.key)),
                    ]
                })
                .collect(),
        },
    }
}

fn to_csv(sheet: &Sheet) -> Result<Vec<u8>, csv::Error> {
    // A UTF-8 byte-order mark first: spreadsheet programs of Chinese
    // offices read a CSV without one as GBK and garble the headers.
    let mut out = vec![0xEF, 0xBB, 0xBF];
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(&sheet.headers)?;
        for row in &sheet.rows {
            w.write_record(row.iter().map(text))?;
        }
        w.flush()?;
    }
    Ok(out)
}

fn to_xlsx(sheet: &Sheet) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    // Sheet names may not hold some characters; the titles have none.
    ws.set_name(sheet.title)?;
    let bold = Format::new().set_bold();
    for (c, h) in sheet.headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, row) in sheet.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, v) in row.iter().enumerate() {
            let c = c as u16;
            match v {
                Value::Number(n) => {
                    ws.write_number(r, c, n.as_f64().unwrap_or_default())?;
                }
                Value::String(s) => {
                    ws.write_string(r, c, s)?;
                }
                Value::Bool(b) => {
                    ws.write_boolean(r, c, *b)?;
                }
                Value::Null => {}
                v => {
                    ws.write_string(r, c, v.to_string())?;
                }
            }
        }
    }
    ws.autofit();
    book.save_to_buffer()
}

#[derive(Serialize)]
pub(crate) struct Listed {
    name: &'static str,
    title_zh: &'static str,
    title_en: &'static str,
}

/// `GET /api/v1/tables`: what can be downloaded.
pub(crate) async fn list() -> Json<Vec<Listed>> {
    Json(
        TABLES
            .iter()
            .map(|t| Listed {
                name: t.name,
                title_zh: t.zh,
                title_en: t.en,
            })
            .collect(),
    )
}

#[derive(Deserialize)]
pub(crate) struct Options {
    lang: Option<String>,
}

/// `GET /api/v1/tables/{name}.csv` or `.xlsx`.
pub(crate) async fn download(
    State(web): State<Web>,
    Path(file): Path<String>,
    Query(options): Query<Options>,
) -> Response {
    let Some((name, ext)) = file.rsplit_once('.') else {
        return (StatusCode::NOT_FOUND, "no such table").into_response();
    };
    let Some(table) = TABLES.iter().find(|t| t.name == name) else {
        return (StatusCode::NOT_FOUND, "no such table").into_response();
    };
    let lang = match options.lang.as_deref() {
        None | Some("zh" | "zh-CN") => Lang::Zh,
        Some("en") => Lang::En,
        Some(_) => return (StatusCode::BAD_REQUEST, "lang is zh or en").into_response(),
    };
    let overview = match compute(&web.projection).await {
        Ok(o) => serde_json::to_value(o).unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "table query failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let sheet = sheet(table, &overview, lang);
    let (bytes, content_type) = match ext {
        "csv" => (to_csv(&sheet).ok(), "text/csv; charset=utf-8"),
        "xlsx" => (
            to_xlsx(&sheet).ok(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        _ => return (StatusCode::NOT_FOUND, "tables come as .csv or .xlsx").into_response(),
    };
    let Some(bytes) = bytes else {
        tracing::warn!(table = name, ext, "writing a table failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let disposition = format!("attachment; filename=\"hongxin-{name}.{ext}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overview() -> Value {
        serde_json::json!({
            "enterprises_by_industry": [
                {"industry": "express", "enterprises": 3, "workers": 120, "full_members": 7, "with_members": 2},
                {"industry": "food_delivery", "enterprises": 1, "workers": 40, "full_members": 0, "with_members": 0}
            ],
            "report_stations": {"stations": 20, "members": 4},
            "coverage": {"covered": 8, "organization_rate": 72.5}
        })
    }

    fn table(name: &str) -> &'static Table {
        TABLES.iter().find(|t| t.name == name).expect("table")
    }

    #[test]
    fn rows_follow_the_overview_with_chinese_headers_and_values() {
        let s = sheet(table("enterprises_by_industry"), &overview(), Lang::Zh);
        assert_eq!(
            s.headers,
            ["行业", "企业数", "从业人员", "正式党员", "有党员企业"]
        );
        assert_eq!(s.rows.len(), 2);
        assert_eq!(s.rows[0][0], "快递");
        assert_eq!(s.rows[0][2], 120);
        let en = sheet(table("enterprises_by_industry"), &overview(), Lang::En);
        assert_eq!(en.headers[0], "industry");
        assert_eq!(en.rows[1][0], "food_delivery");
    }

    #[test]
    fn headline_figures_are_read_from_their_pointers() {
        let s = sheet(table("headline"), &overview(), Lang::Zh);
        assert_eq!(s.rows[0], [Value::from("流动党员报到站"), Value::from(20)]);
        let missing = s.rows.iter().find(|r| r[0] == "培训场次").expect("row");
        assert_eq!(missing[1], Value::Null);
    }

    #[test]
    fn csv_starts_with_a_bom_and_quotes_what_needs_it() {
        let s = Sheet {
            title: "t",
            headers: vec!["社区", "企业数"],
            rows: vec![
                vec![Value::from("城区,东"), Value::from(3)],
                vec![Value::Null, Value::from(1.5)],
            ],
        };
        let bytes = to_csv(&s).expect("csv");
        assert_eq!(&bytes[..3], [0xEF, 0xBB, 0xBF]);
        let text = std::str::from_utf8(&bytes[3..]).expect("utf-8");
        assert_eq!(text, "社区,企业数\n\"城区,东\",3\n,1.5\n");
    }

    #[test]
    fn xlsx_is_a_zip_workbook_for_every_table() {
        for t in TABLES {
            let bytes = to_xlsx(&sheet(t, &overview(), Lang::Zh)).expect("xlsx");
            assert_eq!(&bytes[..2], b"PK", "{}", t.name);
        }
    }
}
