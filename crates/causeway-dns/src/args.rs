//! Command-line arguments of `causeway dns`, flattened into the CLI's subcommand. Every flag
//! falls back to a `CAUSEWAY_DNS_*` environment variable.

use std::net::SocketAddr;

use crate::answer::{DEFAULT_TTL, DEFAULT_ZONE, Zone};
use crate::server::limits::{
    DEFAULT_TCP_CONNECTIONS, DEFAULT_TCP_IDLE_SECS, DEFAULT_UDP_IN_FLIGHT, Limits,
};

#[cfg(test)]
mod tests;

/// Flags of the DNS server.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct DnsArgs {
    /// Address for the UDP and TCP listeners.
    #[arg(long, env = "CAUSEWAY_DNS_LISTEN", default_value = "127.0.0.1:5353")]
    pub listen: SocketAddr,

    /// Zone to serve authoritatively.
    #[arg(long, env = "CAUSEWAY_DNS_ZONE", default_value = DEFAULT_ZONE, value_parser = parse_zone)]
    pub zone: String,

    /// TTL of every record, in seconds.
    #[arg(long, env = "CAUSEWAY_DNS_TTL", default_value_t = DEFAULT_TTL)]
    pub ttl: u32,

    /// Write the `DnsResolvable` condition onto every ServiceImport (only the replica holding
    /// the Lease writes; see the `--leader-election-*` flags). `false`: serve only.
    #[arg(long, env = "CAUSEWAY_DNS_WRITE_CONDITIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub write_conditions: bool,

    /// UDP requests answered at once; requests beyond are dropped unanswered (clients retry) and
    /// counted in `causeway_dns_dropped_udp_requests_total`.
    #[arg(long, env = "CAUSEWAY_DNS_MAX_UDP_IN_FLIGHT", default_value_t = DEFAULT_UDP_IN_FLIGHT, value_parser = parse_positive)]
    pub max_udp_in_flight: usize,

    /// Open TCP connections; a new connection beyond evicts the one idle the longest (counted in
    /// `causeway_dns_tcp_connections_evicted_total`).
    #[arg(long, env = "CAUSEWAY_DNS_MAX_TCP_CONNECTIONS", default_value_t = DEFAULT_TCP_CONNECTIONS, value_parser = parse_positive)]
    pub max_tcp_connections: usize,

    /// Seconds a TCP connection may take to send its next complete request before it is closed.
    #[arg(long, env = "CAUSEWAY_DNS_TCP_IDLE_TIMEOUT", default_value_t = DEFAULT_TCP_IDLE_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub tcp_idle_timeout: u64,
}

impl DnsArgs {
    /// The transports' bounds set by the flags.
    pub fn limits(&self) -> Limits {
        Limits {
            udp_in_flight: self.max_udp_in_flight,
            tcp_connections: self.max_tcp_connections,
            tcp_idle: std::time::Duration::from_secs(self.tcp_idle_timeout),
        }
    }
}

fn parse_positive(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_zone(zone: &str) -> Result<String, String> {
    Zone::new(zone, DEFAULT_TTL)
        .map(|z| z.name().to_owned())
        .map_err(|e| e.to_string())
}
