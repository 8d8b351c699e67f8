//! The flood bounds of the transports, from the `--max-udp-in-flight`, `--max-tcp-connections`
//! and `--tcp-idle-timeout` flags (see [`crate::DnsArgs`]).
//!
//! - UDP: at most [`Limits::udp_in_flight`] requests are being answered at once; a request
//!   arriving beyond that is dropped unanswered and counted (`dropped_udp_requests_total`).
//!   Dropping, not `REFUSED`, is what authoritative servers do under load (NSD, Knot and
//!   hickory's own per-packet path never answer more than they can; CoreDNS's `REFUSED` at
//!   `max_concurrent` is for its forwarder): a reply to a flood would be sent to possibly spoofed
//!   sources, while a real resolver simply retries, or asks the other replica.
//! - TCP: at most [`Limits::tcp_connections`] connections are open; a new connection beyond that
//!   evicts the one that has been idle longest (RFC 7766 §6.2.3 lets servers close idle
//!   connections under pressure), so idle or slow clients cannot lock real ones out. A
//!   connection is closed when a complete request does not arrive within [`Limits::tcp_idle`].

use std::time::Duration;

/// Default `--max-udp-in-flight`.
pub const DEFAULT_UDP_IN_FLIGHT: usize = 1024;
/// Default `--max-tcp-connections`.
pub const DEFAULT_TCP_CONNECTIONS: usize = 1024;
/// Default `--tcp-idle-timeout`, in seconds.
pub const DEFAULT_TCP_IDLE_SECS: u64 = 10;

/// Bounds on concurrent work; every value is at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// UDP requests answered concurrently; more are dropped.
    pub udp_in_flight: usize,
    /// Open TCP connections; a new one beyond evicts the longest idle.
    pub tcp_connections: usize,
    /// Time a TCP connection may take to send its next complete request.
    pub tcp_idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            udp_in_flight: DEFAULT_UDP_IN_FLIGHT,
            tcp_connections: DEFAULT_TCP_CONNECTIONS,
            tcp_idle: Duration::from_secs(DEFAULT_TCP_IDLE_SECS),
        }
    }
}
