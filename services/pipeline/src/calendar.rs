//! The working-day calendar lives in `hongxin-domain`; the pipeline uses it
//! for public notices.

pub use hongxin_domain::calendar::{Calendar, add_months, age_on};
