//! causeway's authoritative DNS server for the clusterset zone (`clusterset.local`), per
//! mcs-spec.md §6 (MCS DNS schema `1.0.0`).
//!
//! Data flows one way, pure core in the middle and thin I/O at the edges:
//!
//! 1. [`feed`] watches `ServiceImports` and MCS `EndpointSlices` and applies each event to the
//!    [`index`] (plain data behind an `Arc<RwLock<_>>`, reset on every relist), flipping a
//!    readiness flag once both initial lists have been applied;
//! 2. [`server`] receives queries over UDP and TCP (its own bounded transports: in-flight UDP
//!    requests, open TCP connections and the TCP idle timeout are capped, see [`Limits`]),
//!    decodes each with hickory and, per query, takes a short read lock on the index and calls
//!    the pure [`answer()`] function, which never waits on the API (until the initial sync, names
//!    of the zone get `SERVFAIL`);
//! 3. [`server`] encodes the [`Answer`] (EDNS0, truncation with TC over UDP) and records
//!    [`metrics`];
//! 4. on the replica holding the Lease, [`resolvable`] turns index changes into the
//!    `DnsResolvable` condition on each `ServiceImport` (server-side apply, written only when it
//!    changes).
//!
//! [`Dns`] (or [`run()`]) wires the three together from [`DnsArgs`]; [`Dns::run_until`] also
//! stops gracefully on a signal.

pub mod answer;
pub mod args;
mod entry;
pub mod error;
pub mod feed;
#[doc(hidden)]
pub mod fuzzing;
pub mod index;
pub mod metrics;
pub mod resolvable;
pub mod server;

pub use answer::{Answer, QueryType, Rcode, Zone, answer};
pub use args::DnsArgs;
pub use entry::{Dns, run};
pub use error::{Error, Result};
pub use feed::run_feed;
/// The hickory wire types this server speaks (messages, records, names), re-exported so that
/// clients and tests encode queries with exactly the version the server decodes.
pub use hickory_server::proto;
pub use index::{Index, SharedIndex};
pub use metrics::{ConditionMetrics, DnsMetrics};
pub use server::{Handler, Limits, Listening};
