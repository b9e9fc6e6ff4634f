//! Imports from the labour union and the HR bureau: their CSV or Excel
//! exports, read whatever the encoding Chinese office software chose (UTF-8
//! with or without a byte-order mark, GBK/GB18030), each row checked (GB
//! 11643 check digit, dates, yuan to whole fen, statuses), then sent to the
//! service that owns the fact through its public gRPC API: the registry
//! (organization) for people's union membership and HR records, care for
//! hardship files. Those services make each record idempotent, so a file
//! imported twice writes nothing the second time.
//!
//! Personal data stays out of logs and reports: the report names a row by
//! its line, the partner's record id and the ID number masked.

pub mod kinds;
pub mod run;
pub mod table;
pub mod values;

pub use kinds::Kind;
pub use run::{ImportError, Outcome, Report, Services, import};
