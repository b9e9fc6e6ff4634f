//! What every hongxin service process needs, written once: typed
//! configuration, telemetry (tracing, OpenTelemetry, Prometheus metrics),
//! gRPC servers with health, reflection and correlation ids, the mapping of
//! command errors to gRPC statuses, and graceful shutdown.
//!
//! Architecture Invariant: no other crate reads environment variables or
//! installs a global subscriber; they receive a [`Config`] and a
//! [`Shutdown`].

pub mod auth;
pub mod commands;
pub mod config;
pub mod context;
pub mod error;
pub mod fields;
pub mod follow;
pub mod grpc;
pub mod http;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use config::Config;
pub use context::command_context;
pub use error::status_of;
pub use shutdown::Shutdown;
