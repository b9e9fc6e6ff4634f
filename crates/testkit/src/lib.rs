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

/// A TCP port on loopback that nothing listens on, for a server a test starts.
///
/// It is chosen below the kernel's range of ephemeral ports. A port from that
/// range — what binding port 0 hands out — is also the local end of any
/// outgoing connection (to PostgreSQL, to NATS, of other tests running beside
/// this one), so between the moment it is chosen and the moment the started
/// server binds it, it may be taken; a probe connecting to a port of that
/// range may even connect to itself. Below the range a port is only ever taken
/// by a server binding it by number.
pub fn free_port() -> u16 {
    let (low, _) = ephemeral_ports();
    let floor = low.saturating_sub(16_384).max(1_024);
    if floor + 1_024 <= low {
        for _ in 0..256 {
            let draw = uuid::Uuid::new_v4().as_u128();
            let port = floor + (draw % u128::from(low - floor)) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// The kernel's range of ephemeral ports, or Linux's default where it cannot
/// be read.
fn ephemeral_ports() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(|b| b.parse::<u16>().ok());
            Some((bounds.next()??, bounds.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_port_is_free_and_below_the_ephemeral_range() {
        let (low, _) = ephemeral_ports();
        for _ in 0..64 {
            let port = free_port();
            assert!(port < low, "{port} is in the ephemeral range from {low}");
            std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
        }
    }
}
