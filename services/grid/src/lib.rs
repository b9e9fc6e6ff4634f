//! The grid-governance service (机制引领): grids, part-time grid workers and
//! snap-and-report cases with dispatch, SLA and escalation. Events are
//! published on `hongxin.grid.>`.

pub mod case;
pub mod geo;
pub mod grid;
pub mod worker;

/// The bounded context's name: store schema, NATS subjects, stream.
pub const CONTEXT: &str = "grid";
