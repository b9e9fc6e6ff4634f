//! Test fixtures shared by the workspace's tests.
//!
//! - [`given`]: given / when / then for deciders, with no I/O;
//! - [`pg`]: a fresh PostgreSQL schema per test on the shared server;
//! - [`nats`]: the shared NATS server, or a private `nats-server` that a test
//!   may stop and start.
//!
//! The fixtures hand out plain values (URLs, names), not store types, so the
//! crates they test can use them as dev-dependencies.

pub mod given;
pub mod nats;
pub mod people;
pub mod pg;

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}
