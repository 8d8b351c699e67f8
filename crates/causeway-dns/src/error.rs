//! The crate's error type. Messages say what failed and name the object; causes travel in
//! `#[source]` and are never interpolated.

use std::net::SocketAddr;

/// Errors of the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured zone is not a valid domain name.
    #[error("invalid DNS zone {zone:?}")]
    InvalidZone {
        /// The zone as configured.
        zone: String,
    },
    /// A listening socket could not be bound.
    #[error("failed to bind DNS {protocol} listener on {addr}")]
    Bind {
        /// `udp` or `tcp`.
        protocol: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The local address of a bound socket could not be read.
    #[error("failed to read the local address of the DNS listener")]
    LocalAddr(#[source] std::io::Error),
    /// A transport of the DNS server stopped with an error (its socket is unusable).
    #[error("DNS {protocol} listener failed; causeway dns exits so that it is restarted")]
    Transport {
        /// `udp` or `tcp`.
        protocol: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The `DnsResolvable` condition could not be applied to a `ServiceImport`.
    #[error(
        "failed to apply the DnsResolvable condition to ServiceImport {namespace}/{name} (does causeway-dns have patch on serviceimports/status? see deploy/dns/rbac.yaml)"
    )]
    ApplyCondition {
        /// Namespace of the import.
        namespace: String,
        /// Name of the import.
        name: String,
        /// The cause.
        #[source]
        source: Box<kube::Error>,
    },
    /// A watch of the Kubernetes API ended, which it never should.
    #[error("watch of {kind} ended")]
    WatchEnded {
        /// Kind watched.
        kind: &'static str,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
