//! Command errors → gRPC statuses, in one place for every service.

use hongxin_domain::CommandError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// The status a client sees. Field problems carry `BadRequest` details;
/// internal causes go to the log and never to the client.
pub fn status_of(error: CommandError) -> Status {
    match error {
        CommandError::Invalid(violations) => {
            // Statuses travel in HTTP/2 headers, whose size is bounded: a
            // request with thousands of bad items hears of the first few.
            let shown = &violations[..violations.len().min(MAX_VIOLATIONS)];
            let mut details = ErrorDetails::new();
            for v in shown {
                details.add_bad_request_violation(
                    bounded(&v.field, 100),
                    bounded(&v.description, 200),
                );
            }
            let mut summary = shown
                .iter()
                .map(|v| {
                    format!(
                        "{}: {}",
                        bounded(&v.field, 100),
                        bounded(&v.description, 200)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            if violations.len() > shown.len() {
                summary.push_str(&format!("; and {} more", violations.len() - shown.len()));
            }
            Status::with_error_details(
                Code::InvalidArgument,
                format!("invalid request: {summary}"),
                details,
            )
        }
        CommandError::NotFound(m) => Status::not_found(bounded(&m, 500)),
        CommandError::Rejected(m) => Status::failed_precondition(bounded(&m, 500)),
        CommandError::Conflict(m) => Status::aborted(bounded(&m, 500)),
        CommandError::Unavailable(source) => {
            tracing::warn!(error = %chain(&*source), "dependency unavailable");
            Status::unavailable("the service is temporarily unavailable; try again")
        }
        CommandError::Internal(source) => {
            tracing::error!(error = %chain(&*source), "internal error");
            Status::internal("internal error")
        }
    }
}

/// Field violations a status carries at most.
const MAX_VIOLATIONS: usize = 20;

/// At most `chars` characters of `text`, marked when cut.
fn bounded(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(chars).collect();
        cut.push('…');
        cut
    }
}

/// "outer: inner: root" for the log.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_its_code_and_internals_do_not_leak() {
        let s = status_of(CommandError::invalid("name", "must not be empty"));
        assert_eq!(s.code(), Code::InvalidArgument);
        let bad = s.get_details_bad_request().expect("BadRequest details");
        assert_eq!(bad.field_violations[0].field, "name");
        assert_eq!(
            status_of(CommandError::not_found("no such committee")).code(),
            Code::NotFound
        );
        assert_eq!(
            status_of(CommandError::rejected("rule")).code(),
            Code::FailedPrecondition
        );
        assert_eq!(
            status_of(CommandError::Conflict("c".into())).code(),
            Code::Aborted
        );
        let s = status_of(CommandError::Unavailable(
            "connection refused to 10.1.2.3".into(),
        ));
        assert_eq!(s.code(), Code::Unavailable);
        assert!(!s.message().contains("10.1.2.3"));
        let s = status_of(CommandError::Internal(
            "relation \"events\" does not exist".into(),
        ));
        assert_eq!(s.code(), Code::Internal);
        assert_eq!(s.message(), "internal error");
    }
}
