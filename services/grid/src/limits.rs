//! Rate limits per caller on what anyone with a token may do often:
//! snap-and-report and public voting. A caller is its token's subject, so
//! one phone's runaway retry loop or a voting script slows itself only.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tonic::{Request, Status};

#[derive(Debug)]
pub(crate) struct Limits {
    reports: Option<DefaultKeyedRateLimiter<String>>,
    votes: Option<DefaultKeyedRateLimiter<String>>,
}

/// Keys kept before the limiters forget callers that have been quiet.
const KEYS_KEPT: usize = 10_000;

fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

fn check<T>(
    limiter: &Option<DefaultKeyedRateLimiter<String>>,
    request: &Request<T>,
    what: &str,
) -> Result<(), Status> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    use hongxin_runtime::auth::Role;
    let caller = hongxin_runtime::auth::caller_of(request);
    // The county's administrators and the services do bulk work on
    // purpose; the limits are for the public's callers.
    if caller.is_some_and(|c| c.has(Role::CountyAdmin) || c.has(Role::Service)) {
        return Ok(());
    }
    let caller = caller.map_or_else(|| "anonymous".to_owned(), |c| c.subject.clone());
    if limiter.len() > KEYS_KEPT {
        limiter.retain_recent();
    }
    limiter.check_key(&caller).map_err(|_| {
        metrics::counter!("hongxin_grid_rate_limited_total", "what" => what.to_owned())
            .increment(1);
        Status::resource_exhausted(format!("too many {what} from you; try again in a minute"))
    })
}

impl Limits {
    /// At most `reports` reports and `votes` votes a minute per caller
    /// (0: no limit).
    pub(crate) fn new(reports: u32, votes: u32) -> Self {
        Self {
            reports: limiter(reports),
            votes: limiter(votes),
        }
    }

    pub(crate) fn report<T>(&self, request: &Request<T>) -> Result<(), Status> {
        check(&self.reports, request, "reports")
    }

    pub(crate) fn vote<T>(&self, request: &Request<T>) -> Result<(), Status> {
        check(&self.votes, request, "votes")
    }
}
