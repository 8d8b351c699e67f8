//! Command-line arguments of `causeway dns`, flattened into the CLI's subcommand. Every flag
//! falls back to a `CAUSEWAY_DNS_*` environment variable.

use std::net::SocketAddr;

use crate::answer::{DEFAULT_TTL, DEFAULT_ZONE, Zone};

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
}

fn parse_zone(zone: &str) -> Result<String, String> {
    Zone::new(zone, DEFAULT_TTL)
        .map(|z| z.name().to_owned())
        .map_err(|e| e.to_string())
}
