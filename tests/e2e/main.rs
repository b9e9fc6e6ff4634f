//! End-to-end tests across services: commands in through one service,
//! events across the bus, figures out of the dashboard. One binary, one
//! module per journey.

mod dashboard;
mod dashboard_grpc;
mod live;
mod rebuild;
mod tracing_context;
