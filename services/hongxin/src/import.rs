//! `hongxin import <kind> <file>`: a partner's CSV or Excel file sent row
//! by row to the owning services' public gRPC APIs (never their stores),
//! with a summary on the terminal and a per-row report. Importing the same
//! file again changes nothing; `--dry-run` checks every row, the people
//! included, and writes nothing.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::ValueEnum;
use hongxin_imports::{Kind, Services};
use hongxin_runtime::Config;

/// The kinds of file, as the command line names them.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum FileKind {
    /// The union's membership confirmations 入会.
    UnionMembers,
    /// The union's status of hardship files 困难职工档案.
    UnionHardship,
    /// The HR bureau's flexible-employment registrations 灵活就业登记.
    HrEmployment,
    /// The HR bureau's occupational-injury protection enrolments.
    HrInjury,
    /// The HR bureau's occupational-injury claims.
    HrInjuryClaims,
    /// The HR bureau's training subsidy claims.
    HrSubsidy,
}

impl FileKind {
    fn kind(self) -> Kind {
        match self {
            Self::UnionMembers => Kind::UnionMembers,
            Self::UnionHardship => Kind::UnionHardship,
            Self::HrEmployment => Kind::HrEmployment,
            Self::HrInjury => Kind::HrInjury,
            Self::HrInjuryClaims => Kind::HrInjuryClaims,
            Self::HrSubsidy => Kind::HrSubsidy,
        }
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct Options {
    #[arg(value_enum)]
    kind: FileKind,
    /// The partner's file: CSV (UTF-8, with or without a byte-order mark,
    /// or GBK/GB18030) or an Excel workbook (.xlsx, first sheet).
    file: PathBuf,
    /// Check every row, whether each person is registered included, and
    /// write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the per-row report here (CSV, UTF-8 with a byte-order mark,
    /// Chinese headers, ID numbers masked).
    #[arg(long)]
    report: Option<PathBuf>,
    /// The organization service, e.g. http://127.0.0.1:50051.
    #[arg(long)]
    organization_url: Option<String>,
    /// The care service (for union-hardship files).
    #[arg(long)]
    care_url: Option<String>,
    /// A bearer token for the calls (e.g. from `hongxin token --role
    /// union_liaison`); without one, the command mints a liaison's token
    /// of the partner with this configuration's local key.
    #[arg(long, env = "HONGXIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub(crate) async fn run(config: &Config, options: Options) -> anyhow::Result<()> {
    let kind = options.kind.kind();
    let bytes = std::fs::read(&options.file)
        .with_context(|| format!("reading {}", options.file.display()))?;
    let organization_url = options
        .organization_url
        .clone()
        .unwrap_or_else(|| config.organization_url());
    let care_url = options
        .care_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", config.host, config.ports.care));
    let token = match options.token {
        Some(token) => token,
        None => liaison_token(config, kind)?,
    };
    let services = Services::connect_lazy(&organization_url, Some(&care_url), Some(token))?;
    let today = hongxin_domain::time::beijing_today(chrono::Utc::now());
    let report = hongxin_imports::import(kind, &bytes, &services, options.dry_run, today).await?;
    let encoding = match report.encoding {
        None => "Excel workbook",
        Some(hongxin_imports::table::Encoding::Utf8) => "UTF-8",
        Some(hongxin_imports::table::Encoding::Utf8WithBom) => "UTF-8 with byte-order mark",
        Some(hongxin_imports::table::Encoding::Gb18030) => "GBK/GB18030",
    };
    println!(
        "hongxin import {} {}{} ({encoding})",
        kind.name(),
        options.file.display(),
        if options.dry_run {
            " — dry run, nothing written"
        } else {
            ""
        }
    );
    println!(
        "  {} {}, {} unchanged (already imported), {} rejected, {} rows",
        report.accepted(),
        if options.dry_run {
            "would be accepted"
        } else {
            "accepted"
        },
        report.unchanged(),
        report.rejected(),
        report.rows.len()
    );
    if let Some(path) = &options.report {
        std::fs::write(path, report.to_csv()?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("  report: {}", path.display());
    } else if report.rejected() > 0 {
        println!("  (--report report.csv lists every row and why it was rejected)");
    }
    Ok(())
}

/// A token of the partner's liaison (union or HR bureau: the least the
/// kind of file needs), signed with the local key; for a command run where
/// the system's configuration is, as `hongxin demo` is.
fn liaison_token(config: &Config, kind: Kind) -> anyhow::Result<String> {
    use hongxin_runtime::auth::{Role, Scope};
    let role = match kind {
        Kind::UnionMembers | Kind::UnionHardship => Role::UnionLiaison,
        Kind::HrEmployment | Kind::HrInjury | Kind::HrInjuryClaims | Kind::HrSubsidy => {
            Role::HrLiaison
        }
    };
    hongxin_runtime::auth::from_config(config)?.mint(
        &format!("service:hongxin-import-{}", kind.name()),
        &[role],
        Scope::default(),
        std::time::Duration::from_secs(3600),
    )
}
