//! The development-pipeline service (能力引领): candidates through the five
//! stages of member development under versioned time rules. Events are
//! published on `hongxin.pipeline.>`; the membership events
//! (`ProbationaryMemberAdmitted`, `FullMembershipConfirmed`,
//! `ProbationExtended`, `ProbationCancelled`) are what the organization
//! service follows.

pub mod calendar;
pub mod candidate;
pub mod rules;

/// The bounded context's name: store schema, NATS subjects, stream.
pub const CONTEXT: &str = "pipeline";
