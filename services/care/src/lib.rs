//! The care-services service (服务引领): the service centre and its
//! catalogue, help for enterprises, care activities, hardship assistance
//! with the union, supplies campaigns and micro-wishes. Events are
//! published on `hongxin.care.>`.

pub mod activity;
pub mod centre;
mod codec;
pub mod enterprise_help;
pub mod hardship;
pub mod supplies;
pub mod wishes;

/// The bounded context's name: store schema, NATS subjects, stream.
pub const CONTEXT: &str = "care";
