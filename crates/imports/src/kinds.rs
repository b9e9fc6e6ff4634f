//! The kinds of file partners send, their columns (Chinese or English
//! headers), and each row checked into a record.

use chrono::NaiveDate;
use hongxin_organization::person::{IdNumber, mask_id_number, parse_phone};

use crate::table::{FileError, LOST_DIGITS, Table};
use crate::values::{normalise, parse_date, parse_status, yuan_to_fen};

/// What a file holds, and so where its rows go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The union's membership confirmations 入会 (organization service).
    UnionMembers,
    /// The union's status of hardship files (care service).
    UnionHardship,
    /// The HR bureau's flexible-employment registrations.
    HrEmployment,
    /// The HR bureau's occupational-injury protection enrolments.
    HrInjury,
    /// The HR bureau's occupational-injury claims.
    HrInjuryClaims,
    /// The HR bureau's training subsidy claims.
    HrSubsidy,
}

impl Kind {
    pub const ALL: [Self; 6] = [
        Self::UnionMembers,
        Self::UnionHardship,
        Self::HrEmployment,
        Self::HrInjury,
        Self::HrInjuryClaims,
        Self::HrSubsidy,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::UnionMembers => "union-members",
            Self::UnionHardship => "union-hardship",
            Self::HrEmployment => "hr-employment",
            Self::HrInjury => "hr-injury",
            Self::HrInjuryClaims => "hr-injury-claims",
            Self::HrSubsidy => "hr-subsidy",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The columns of this kind of file.
    pub fn columns(self) -> &'static [Column] {
        use Field::*;
        const PERSON: [Column; 3] = [
            Column::required(
                IdNumber,
                &["身份证号", "公民身份号码", "身份证号码", "id_number"],
            ),
            Column::optional(Name, &["姓名", "name"]),
            Column::optional(Phone, &["手机号", "手机号码", "联系电话", "phone"]),
        ];
        const UNION_MEMBERS: [Column; 5] = [
            PERSON[0],
            PERSON[1],
            PERSON[2],
            Column::required(
                RecordId,
                &["会员编号", "会籍编号", "member_number", "record_id"],
            ),
            Column::required(Day, &["入会日期", "joined_on"]),
        ];
        const UNION_HARDSHIP: [Column; 7] = [
            PERSON[0],
            PERSON[1],
            PERSON[2],
            Column::required(RecordId, &["档案编号", "file_number", "record_id"]),
            Column::required(CaseId, &["红新案件编号", "案件编号", "case_id"]),
            Column::required(Status, &["档案状态", "状态", "status"]),
            Column::required(Day, &["状态日期", "status_on"]),
        ];
        const HR_EMPLOYMENT: [Column; 7] = [
            PERSON[0],
            PERSON[1],
            PERSON[2],
            Column::required(RecordId, &["登记编号", "registration_number", "record_id"]),
            Column::required(Status, &["登记状态", "状态", "status"]),
            Column::required(Day, &["登记日期", "on", "registered_on"]),
            Column::optional(Text, &["职业", "从业类型", "occupation"]),
        ];
        const HR_INJURY: [Column; 6] = [
            PERSON[0],
            PERSON[1],
            PERSON[2],
            Column::required(RecordId, &["参保编号", "enrolment_number", "record_id"]),
            Column::required(Text, &["平台", "参保平台", "platform"]),
            Column::required(Day, &["参保日期", "enrolled_on"]),
        ];
        const HR_INJURY_CLAIMS: [Column; 8] = [
            PERSON[0],
            PERSON[1],
            PERSON[2],
            Column::required(RecordId, &["报案编号", "claim_number", "record_id"]),
            Column::required(AccidentDay, &["事故日期", "accident_on"]),
            Column::required(Status, &["案件状态", "状态", "status"]),
            Column::required(Day, &["状态日期", "status_on"]),
            Column::optional(Yuan, &["支付金额(元)", "支付金额", "paid_yuan"]),
        ];
        const HR_SUBSIDY: [Column; 8] = [
            PERSON[0],
            PERSON[1],
            PERSON[2],
            Column::required(RecordId, &["申请编号", "application_number", "record_id"]),
            Column::required(Text, &["培训项目", "培训工种", "course"]),
            Column::required(Status, &["补贴状态", "状态", "status"]),
            Column::required(Day, &["状态日期", "status_on"]),
            Column::required(Yuan, &["补贴金额(元)", "补贴金额", "amount_yuan"]),
        ];
        match self {
            Self::UnionMembers => &UNION_MEMBERS,
            Self::UnionHardship => &UNION_HARDSHIP,
            Self::HrEmployment => &HR_EMPLOYMENT,
            Self::HrInjury => &HR_INJURY,
            Self::HrInjuryClaims => &HR_INJURY_CLAIMS,
            Self::HrSubsidy => &HR_SUBSIDY,
        }
    }
}

/// What a column means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    IdNumber,
    Name,
    Phone,
    RecordId,
    CaseId,
    Status,
    Day,
    AccidentDay,
    Text,
    Yuan,
}

/// One column: what it means, whether it must be there, and the headers
/// that name it (the first is the Chinese one the report uses).
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub field: Field,
    pub required: bool,
    pub headers: &'static [&'static str],
}

impl Column {
    const fn required(field: Field, headers: &'static [&'static str]) -> Self {
        Self {
            field,
            required: true,
            headers,
        }
    }

    const fn optional(field: Field, headers: &'static [&'static str]) -> Self {
        Self {
            field,
            required: false,
            headers,
        }
    }
}

/// Where each of a kind's columns is in a file's header row.
#[derive(Debug)]
pub struct Layout {
    kind: Kind,
    /// How many columns the header row has.
    width: usize,
    positions: Vec<(Field, Option<usize>)>,
}

impl Layout {
    /// Finds each column by any of its names; a required column that is
    /// missing, or a column named twice, refuses the whole file.
    pub fn of(kind: Kind, table: &Table) -> Result<Self, FileError> {
        let headers: Vec<String> = table.headers.iter().map(|h| normalise(h)).collect();
        let mut positions = Vec::new();
        for column in kind.columns() {
            let found: Vec<usize> = headers
                .iter()
                .enumerate()
                .filter(|(_, h)| column.headers.iter().any(|n| normalise(n) == **h))
                .map(|(i, _)| i)
                .collect();
            let label = || format!("{} ({})", column.headers[0], column.headers.join(" / "));
            match found.as_slice() {
                [] if column.required => return Err(FileError::MissingColumn(label())),
                [] => positions.push((column.field, None)),
                [one] => positions.push((column.field, Some(*one))),
                _ => return Err(FileError::RepeatedColumn(label())),
            }
        }
        Ok(Self {
            kind,
            width: table.headers.len(),
            positions,
        })
    }

    fn cell<'a>(&self, field: Field, cells: &'a [String]) -> &'a str {
        self.positions
            .iter()
            .find(|(f, _)| *f == field)
            .and_then(|(_, at)| *at)
            .and_then(|at| cells.get(at))
            .map_or("", String::as_str)
    }

    /// Checks one row into a record; every problem is named.
    pub fn row(&self, line: usize, cells: &[String], today: NaiveDate) -> Row {
        let mut problems = Vec::new();
        if cells.iter().skip(self.width).any(|c| !c.is_empty()) {
            problems.push(
                "单元格多于表头，数值中的逗号需加引号 (more cells than headers: quote values that hold commas)"
                    .to_owned(),
            );
        }
        let raw_id = self.cell(Field::IdNumber, cells);
        let id_number = if raw_id == LOST_DIGITS {
            problems.push(
                "身份证号存成了数字，末位已丢失，请把该列设为文本 (ID number stored as a number in Excel: digits lost)"
                    .to_owned(),
            );
            None
        } else {
            match IdNumber::parse(raw_id, today) {
                Ok(id) => Some(id),
                Err("has a wrong check digit") => {
                    problems.push("身份证号校验码错误 (bad ID check digit)".to_owned());
                    None
                }
                Err(why) => {
                    problems.push(format!("身份证号不正确 (bad ID number: {why})"));
                    None
                }
            }
        };
        let phone = self.cell(Field::Phone, cells);
        if !phone.is_empty()
            && let Err(why) = parse_phone(phone)
        {
            problems.push(format!("手机号不正确 (bad phone: {why})"));
        }
        let record_id = self.cell(Field::RecordId, cells).to_owned();
        if record_id.is_empty() {
            problems.push("缺少编号 (no record id)".to_owned());
        }
        let day = |field: Field, problems: &mut Vec<String>| -> Option<NaiveDate> {
            match parse_date(self.cell(field, cells)) {
                Ok(d) if d > today => {
                    problems.push(format!("日期晚于今天 (date in the future): {d}"));
                    None
                }
                Ok(d) => Some(d),
                Err(why) => {
                    problems.push(why);
                    None
                }
            }
        };
        let record = match self.kind {
            Kind::UnionMembers => {
                day(Field::Day, &mut problems).map(|joined_on| Record::UnionMember { joined_on })
            }
            Kind::UnionHardship => {
                let on = day(Field::Day, &mut problems);
                let case_id = uuid::Uuid::parse_str(self.cell(Field::CaseId, cells)).ok();
                if case_id.is_none() {
                    problems
                        .push("红新案件编号不正确 (case id is not a hongxin case id)".to_owned());
                }
                let status = self.status(cells, UNION_HARDSHIP, &mut problems);
                match (on, case_id, status) {
                    (Some(on), Some(case_id), Some(status)) => Some(Record::UnionHardship {
                        case_id,
                        status,
                        on,
                    }),
                    _ => None,
                }
            }
            Kind::HrEmployment => {
                let on = day(Field::Day, &mut problems);
                let status = self.status(cells, EMPLOYMENT, &mut problems);
                let occupation = self.cell(Field::Text, cells).to_owned();
                match (on, status) {
                    (Some(on), Some(status)) => Some(Record::Employment {
                        status,
                        on,
                        occupation,
                    }),
                    _ => None,
                }
            }
            Kind::HrInjury => {
                let platform = self.cell(Field::Text, cells).to_owned();
                if platform.is_empty() {
                    problems.push("缺少参保平台 (no platform)".to_owned());
                }
                day(Field::Day, &mut problems)
                    .filter(|_| !platform.is_empty())
                    .map(|enrolled_on| Record::InjuryProtection {
                        platform,
                        enrolled_on,
                    })
            }
            Kind::HrInjuryClaims => {
                let accident_on = day(Field::AccidentDay, &mut problems);
                let status_on = day(Field::Day, &mut problems);
                let status = self.status(cells, CLAIM, &mut problems);
                let paid = self.cell(Field::Yuan, cells);
                let paid_fen = if paid.is_empty() {
                    Some(0)
                } else {
                    yuan_to_fen(paid).map_err(|why| problems.push(why)).ok()
                };
                match (accident_on, status_on, status, paid_fen) {
                    (Some(accident_on), Some(status_on), Some(status), Some(paid_fen)) => {
                        Some(Record::InjuryClaim {
                            status,
                            accident_on,
                            status_on,
                            paid_fen,
                        })
                    }
                    _ => None,
                }
            }
            Kind::HrSubsidy => {
                let status_on = day(Field::Day, &mut problems);
                let status = self.status(cells, SUBSIDY, &mut problems);
                let course = self.cell(Field::Text, cells).to_owned();
                if course.is_empty() {
                    problems.push("缺少培训项目 (no course)".to_owned());
                }
                let amount_fen = yuan_to_fen(self.cell(Field::Yuan, cells))
                    .map_err(|why| problems.push(why))
                    .ok();
                match (status_on, status, amount_fen) {
                    (Some(status_on), Some(status), Some(amount_fen)) if !course.is_empty() => {
                        Some(Record::Subsidy {
                            course,
                            status,
                            status_on,
                            amount_fen,
                        })
                    }
                    _ => None,
                }
            }
        };
        let masked = mask_id_number(raw_id.trim());
        let content = cells.join("\u{1f}");
        match (id_number, record) {
            (Some(id_number), Some(record)) if problems.is_empty() => Row {
                line,
                masked_id: masked,
                record_id,
                content,
                checked: Ok(Checked {
                    id_number,
                    name: self.cell(Field::Name, cells).to_owned(),
                    record,
                }),
            },
            _ => Row {
                line,
                masked_id: masked,
                record_id,
                content,
                checked: Err(problems.join("; ")),
            },
        }
    }

    fn status<T: Copy>(
        &self,
        cells: &[String],
        names: &[(T, &[&str])],
        problems: &mut Vec<String>,
    ) -> Option<T> {
        parse_status(self.cell(Field::Status, cells), names)
            .map_err(|why| problems.push(why))
            .ok()
    }
}

use hongxin_proto::care::v1::UnionHardshipStatus as U;
use hongxin_proto::organization::v1::{
    EmploymentRegistrationStatus as E, InjuryClaimStatus as C, TrainingSubsidyStatus as S,
};

const UNION_HARDSHIP: &[(U, &[&str])] = &[
    (U::Filed, &["已建档", "建档", "filed"]),
    (U::Approved, &["已审核", "审核通过", "approved"]),
    (U::Refused, &["未通过", "审核未通过", "refused"]),
    (U::Supported, &["已帮扶", "supported"]),
    (U::Exited, &["已脱困", "已销档", "exited"]),
];
const EMPLOYMENT: &[(E, &[&str])] = &[
    (E::Registered, &["已登记", "登记", "registered"]),
    (E::Cancelled, &["已注销", "注销", "cancelled", "canceled"]),
];
const CLAIM: &[(C, &[&str])] = &[
    (C::Reported, &["已报案", "报案", "reported"]),
    (C::Confirmed, &["已认定", "认定", "confirmed"]),
    (C::Paid, &["已支付", "已赔付", "paid"]),
    (C::Refused, &["不予认定", "不予支付", "refused"]),
];
const SUBSIDY: &[(S, &[&str])] = &[
    (S::Applied, &["已申请", "申请", "applied"]),
    (S::Approved, &["已审核", "审核通过", "approved"]),
    (S::Paid, &["已发放", "已拨付", "paid"]),
    (S::Refused, &["不予补贴", "未通过", "refused"]),
];

/// What one row says, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    UnionMember {
        joined_on: NaiveDate,
    },
    UnionHardship {
        case_id: uuid::Uuid,
        status: U,
        on: NaiveDate,
    },
    Employment {
        status: E,
        on: NaiveDate,
        occupation: String,
    },
    InjuryProtection {
        platform: String,
        enrolled_on: NaiveDate,
    },
    InjuryClaim {
        status: C,
        accident_on: NaiveDate,
        status_on: NaiveDate,
        paid_fen: i64,
    },
    Subsidy {
        course: String,
        status: S,
        status_on: NaiveDate,
        amount_fen: i64,
    },
}

/// A row's checked content: who and what.
#[derive(Clone, Debug)]
pub struct Checked {
    pub id_number: IdNumber,
    pub name: String,
    pub record: Record,
}

/// One row of a file, checked or with what is wrong with it.
#[derive(Clone, Debug)]
pub struct Row {
    pub line: usize,
    /// The ID number masked: the only form the report carries.
    pub masked_id: String,
    pub record_id: String,
    /// The row's cells, to tell a repeated row from a conflicting one.
    pub(crate) content: String,
    pub checked: Result<Checked, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hongxin_testkit::people::id_number;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default()
    }

    fn table(headers: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, r)| (i + 2, r.iter().map(|c| (*c).to_owned()).collect()))
                .collect(),
        }
    }

    #[test]
    fn chinese_and_english_headers_name_the_same_columns() {
        let id = id_number("19900101", 12);
        let zh = table(
            &[
                "姓名",
                "身份证号",
                "培训项目",
                "补贴状态",
                "状态日期",
                "补贴金额（元）",
                "申请编号",
            ],
            &[&[
                "张三",
                &id,
                "电工",
                "已发放",
                "2026年3月1日",
                "1,500.50",
                "BT-1",
            ]],
        );
        let en = table(
            &[
                "Name",
                "ID_Number",
                "course",
                "status",
                "status_on",
                "amount_yuan",
                "record_id",
            ],
            &[&["张三", &id, "电工", "paid", "2026-03-01", "1500.5", "BT-1"]],
        );
        for t in [zh, en] {
            let layout = Layout::of(Kind::HrSubsidy, &t).expect("layout");
            let row = layout.row(2, &t.rows[0].1, today());
            let checked = row.checked.expect("valid row");
            assert_eq!(
                checked.record,
                Record::Subsidy {
                    course: "电工".into(),
                    status: S::Paid,
                    status_on: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default(),
                    amount_fen: 150_050,
                }
            );
            assert_eq!(checked.name, "张三");
            assert_eq!(row.masked_id, mask_id_number(&id));
            assert!(!row.masked_id.contains(&id[4..14]));
        }
    }

    #[test]
    fn a_missing_column_refuses_the_file() {
        let t = table(&["姓名", "身份证号"], &[]);
        let err = Layout::of(Kind::UnionMembers, &t).expect_err("no date column");
        assert!(err.to_string().contains("会员编号"), "{err}");
        let t = table(&["身份证号", "id_number", "会员编号", "入会日期"], &[]);
        assert!(matches!(
            Layout::of(Kind::UnionMembers, &t),
            Err(FileError::RepeatedColumn(_))
        ));
    }

    #[test]
    fn bad_rows_say_every_thing_wrong() {
        let good = id_number("19900101", 12);
        let mut wrong_check = good.clone();
        let last = if good.ends_with('0') { "1" } else { "0" };
        wrong_check.replace_range(17..18, last);
        let t = table(
            &["身份证号", "会员编号", "入会日期", "手机号"],
            &[
                &[&wrong_check, "M-1", "2026-02-30", ""],
                &[&good, "", "2026-01-01", "12345"],
                &[LOST_DIGITS, "M-3", "2099-01-01", ""],
            ],
        );
        let layout = Layout::of(Kind::UnionMembers, &t).expect("layout");
        let reasons: Vec<String> = t
            .rows
            .iter()
            .map(|(line, cells)| {
                layout
                    .row(*line, cells, today())
                    .checked
                    .err()
                    .unwrap_or_default()
            })
            .collect();
        assert!(reasons[0].contains("bad ID check digit"), "{}", reasons[0]);
        assert!(reasons[0].contains("malformed date"), "{}", reasons[0]);
        assert!(reasons[1].contains("no record id"), "{}", reasons[1]);
        assert!(reasons[1].contains("bad phone"), "{}", reasons[1]);
        assert!(reasons[2].contains("digits lost"), "{}", reasons[2]);
        assert!(reasons[2].contains("future"), "{}", reasons[2]);
        for reason in &reasons {
            assert!(!reason.contains(&good[6..14]), "no birth date in reasons");
        }
    }
}
