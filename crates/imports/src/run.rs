//! Sends a file's checked rows to the services that own them, through
//! their public gRPC APIs, and reports on every row.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDate;
use hongxin_proto::care::v1 as care;
use hongxin_proto::care::v1::care_service_client::CareServiceClient;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::kinds::{Checked, Kind, Layout, Record};
use crate::table::{self, Encoding, FileError};

/// How long one call may take.
const DEADLINE: Duration = Duration::from_secs(15);

/// The services a file's rows go to.
#[derive(Clone, Debug)]
pub struct Services {
    pub organization: OrganizationServiceClient<Channel>,
    /// Needed only for the union's hardship files.
    pub care: Option<CareServiceClient<Channel>>,
    /// A bearer token for the calls, when the services ask for one.
    pub token: Option<String>,
}

impl Services {
    /// Clients of the services at these addresses, connected on first use.
    pub fn connect_lazy(
        organization_url: &str,
        care_url: Option<&str>,
        token: Option<String>,
    ) -> anyhow::Result<Self> {
        let channel = |url: &str| -> anyhow::Result<Channel> {
            Ok(Channel::from_shared(url.to_owned())?
                .connect_timeout(Duration::from_secs(5))
                .connect_lazy())
        };
        Ok(Self {
            organization: OrganizationServiceClient::new(channel(organization_url)?),
            care: care_url
                .map(channel)
                .transpose()?
                .map(CareServiceClient::new),
            token,
        })
    }

    /// A request with the call's deadline and the token.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(DEADLINE);
        if let Some(value) = self
            .token
            .as_ref()
            .and_then(|t| format!("Bearer {t}").parse().ok())
        {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }
}

/// What became of one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Written (in a dry run: would be written).
    Accepted,
    /// Already there: nothing written.
    Unchanged,
    Rejected(String),
}

/// One row of the report.
#[derive(Clone, Debug)]
pub struct RowReport {
    pub line: usize,
    pub record_id: String,
    pub masked_id: String,
    pub outcome: Outcome,
}

/// What an import did, row by row.
#[derive(Clone, Debug)]
pub struct Report {
    pub kind: Kind,
    pub dry_run: bool,
    /// `None` for a workbook.
    pub encoding: Option<Encoding>,
    pub rows: Vec<RowReport>,
}

impl Report {
    pub fn accepted(&self) -> usize {
        self.count(|o| *o == Outcome::Accepted)
    }

    pub fn unchanged(&self) -> usize {
        self.count(|o| *o == Outcome::Unchanged)
    }

    pub fn rejected(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Rejected(_)))
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.rows.iter().filter(|r| f(&r.outcome)).count()
    }

    /// The report as CSV in UTF-8 with a byte-order mark (which Chinese
    /// office spreadsheets need to read it as UTF-8), Chinese headers, ID
    /// numbers masked.
    pub fn to_csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut out = b"\xEF\xBB\xBF".to_vec();
        {
            let mut writer = csv::Writer::from_writer(&mut out);
            writer.write_record(["行号", "编号", "身份证号（脱敏）", "结果", "原因"])?;
            for row in &self.rows {
                let (result, reason) = match &row.outcome {
                    Outcome::Accepted if self.dry_run => ("可导入（试运行）", ""),
                    Outcome::Accepted => ("已导入", ""),
                    Outcome::Unchanged => ("无变化", "已导入过 (already imported)"),
                    Outcome::Rejected(why) => ("拒绝", why.as_str()),
                };
                writer.write_record([
                    row.line.to_string().as_str(),
                    row.record_id.as_str(),
                    row.masked_id.as_str(),
                    result,
                    reason,
                ])?;
            }
            writer.flush()?;
        }
        Ok(out)
    }
}

/// Why an import stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("union hardship files go to the care service: give its address (--care-url)")]
    NoCareService,
    #[error(
        "the {service} service answered {code:?} at line {line}; rows before it are done, and importing the file again is safe"
    )]
    Service {
        service: &'static str,
        line: usize,
        code: Code,
    },
}

/// Reads `bytes` as a file of `kind`, checks every row, and sends each good
/// row to its service (with `dry_run`, asking only whether it would be
/// written). `today` bounds dates.
pub async fn import(
    kind: Kind,
    bytes: &[u8],
    services: &Services,
    dry_run: bool,
    today: NaiveDate,
) -> Result<Report, ImportError> {
    if kind == Kind::UnionHardship && services.care.is_none() {
        return Err(ImportError::NoCareService);
    }
    let (table, encoding) = table::read(bytes)?;
    let layout = Layout::of(kind, &table)?;
    let mut seen: HashMap<String, (usize, String)> = HashMap::new();
    let mut report = Report {
        kind,
        dry_run,
        encoding,
        rows: Vec::with_capacity(table.rows.len()),
    };
    for (line, cells) in &table.rows {
        let row = layout.row(*line, cells, today);
        let repeated = if row.record_id.is_empty() {
            None
        } else {
            match seen.get(&row.record_id) {
                Some((first, content)) if *content == row.content => Some(format!(
                    "文件中重复的行，同第{first}行 (duplicate row in the file, as line {first})"
                )),
                Some((first, _)) => Some(format!(
                    "编号与第{first}行重复而内容不同 (record id repeated with other content, line {first})"
                )),
                None => {
                    seen.insert(row.record_id.clone(), (row.line, row.content.clone()));
                    None
                }
            }
        };
        let outcome = match (repeated, &row.checked) {
            (Some(why), _) => Outcome::Rejected(why),
            (None, Err(why)) => Outcome::Rejected(why.clone()),
            (None, Ok(checked)) => send(services, &row.record_id, checked, dry_run)
                .await
                .or_else(|(service, status)| answer(service, *line, status))?,
        };
        report.rows.push(RowReport {
            line: row.line,
            record_id: row.record_id,
            masked_id: row.masked_id,
            outcome,
        });
    }
    Ok(report)
}

/// A refusal of one row becomes its outcome; a service that cannot answer
/// stops the import.
fn answer(service: &'static str, line: usize, status: Status) -> Result<Outcome, ImportError> {
    let why = match status.code() {
        Code::NotFound if service == "care" => {
            "查无此困难帮扶案件 (unknown hardship case)".to_owned()
        }
        Code::NotFound => "查无此人 (unknown person)".to_owned(),
        Code::InvalidArgument => {
            let fields: Vec<String> = status
                .get_details_bad_request()
                .map(|b| {
                    b.field_violations
                        .iter()
                        .map(|v| format!("{}: {}", v.field, v.description))
                        .collect()
                })
                .unwrap_or_default();
            if fields.is_empty() {
                format!("数据不符 (invalid): {}", status.message())
            } else {
                format!("数据不符 (invalid): {}", fields.join("; "))
            }
        }
        Code::FailedPrecondition => format!("被拒绝 (refused): {}", status.message()),
        Code::Aborted | Code::AlreadyExists => {
            format!("与已导入的记录冲突 (conflict): {}", status.message())
        }
        code => {
            return Err(ImportError::Service {
                service,
                line,
                code,
            });
        }
    };
    Ok(Outcome::Rejected(why))
}

fn partner_record(record_id: &str, checked: &Checked) -> Option<org::PartnerRecord> {
    Some(org::PartnerRecord {
        id_number: checked.id_number.as_str().to_owned(),
        name: checked.name.clone(),
        record_id: record_id.to_owned(),
    })
}

fn day(d: NaiveDate) -> String {
    hongxin_domain::time::format_day(d)
}

async fn send(
    services: &Services,
    record_id: &str,
    checked: &Checked,
    validate_only: bool,
) -> Result<Outcome, (&'static str, Status)> {
    let mut organization = services.organization.clone();
    let record = partner_record(record_id, checked);
    let org_err = |s| ("organization", s);
    let unchanged = match &checked.record {
        Record::UnionMember { joined_on } => {
            organization
                .confirm_union_membership(services.request(org::ConfirmUnionMembershipRequest {
                    record,
                    joined_on: day(*joined_on),
                    validate_only,
                }))
                .await
                .map_err(org_err)?
                .into_inner()
                .unchanged
        }
        Record::Employment {
            status,
            on,
            occupation,
        } => {
            organization
                .record_employment_registration(services.request(
                    org::RecordEmploymentRegistrationRequest {
                        record,
                        status: *status as i32,
                        on: day(*on),
                        occupation: occupation.clone(),
                        validate_only,
                    },
                ))
                .await
                .map_err(org_err)?
                .into_inner()
                .unchanged
        }
        Record::InjuryProtection {
            platform,
            enrolled_on,
        } => {
            organization
                .record_injury_protection(services.request(org::RecordInjuryProtectionRequest {
                    record,
                    platform: platform.clone(),
                    enrolled_on: day(*enrolled_on),
                    validate_only,
                }))
                .await
                .map_err(org_err)?
                .into_inner()
                .unchanged
        }
        Record::InjuryClaim {
            status,
            accident_on,
            status_on,
            paid_fen,
        } => {
            organization
                .record_injury_claim(services.request(org::RecordInjuryClaimRequest {
                    record,
                    status: *status as i32,
                    accident_on: day(*accident_on),
                    status_on: day(*status_on),
                    paid_fen: *paid_fen,
                    validate_only,
                }))
                .await
                .map_err(org_err)?
                .into_inner()
                .unchanged
        }
        Record::Subsidy {
            course,
            status,
            status_on,
            amount_fen,
        } => {
            organization
                .record_training_subsidy(services.request(org::RecordTrainingSubsidyRequest {
                    record,
                    course: course.clone(),
                    status: *status as i32,
                    status_on: day(*status_on),
                    amount_fen: *amount_fen,
                    validate_only,
                }))
                .await
                .map_err(org_err)?
                .into_inner()
                .unchanged
        }
        Record::UnionHardship {
            case_id,
            status,
            on,
        } => {
            // The union's file names the person by ID number; the case is
            // the care service's, which knows people only by their id.
            let person = organization
                .find_person_by_id_number(services.request(org::FindPersonByIdNumberRequest {
                    id_number: checked.id_number.as_str().to_owned(),
                }))
                .await
                .map_err(org_err)?
                .into_inner()
                .person
                .ok_or_else(|| org_err(Status::not_found("no such person")))?;
            if !checked.name.is_empty() && checked.name != person.name {
                return Ok(Outcome::Rejected(
                    "姓名与登记不符 (the name does not match the registry)".to_owned(),
                ));
            }
            let Some(mut care_client) = services.care.clone() else {
                return Err(("care", Status::failed_precondition("no care service")));
            };
            care_client
                .record_hardship_union_status(services.request(
                    care::RecordHardshipUnionStatusRequest {
                        case_id: case_id.to_string(),
                        person_id: person.person_id,
                        union_file_number: record_id.to_owned(),
                        status: *status as i32,
                        on: day(*on),
                        validate_only,
                    },
                ))
                .await
                .map_err(|s| ("care", s))?
                .into_inner()
                .unchanged
        }
    };
    Ok(if unchanged {
        Outcome::Unchanged
    } else {
        Outcome::Accepted
    })
}
