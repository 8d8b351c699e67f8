//! The kernel objects netpeer manages, as plain values.
//!
//! [`desired`](crate::desired) produces a [`NetState`]; a [`Dataplane`](crate::dataplane::Dataplane)
//! reads one back from the kernel; [`diff`](fn@crate::diff) compares the two under an [`Ownership`]
//! that says which actual objects causeway may touch.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::firewall::NatBackend;
use crate::mac::MacAddr;

/// Route protocol number (`ip route … proto 156`) that tags every route causeway installs.
///
/// 156 is unassigned in the kernel's `rtnetlink.h` and in iproute2's `rt_protos`; routes with it
/// are causeway's and only causeway's, so listing and garbage collection never touch flannel's
/// (`proto kernel`/`boot`) or anyone else's routes.
pub const ROUTE_PROTOCOL: u8 = 156;

/// A permanent neighbour (ARP) entry: peer VTEP address → peer VTEP MAC on the VXLAN device.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Neighbour {
    /// Device name, e.g. `flannel.1`.
    pub device: String,
    /// Peer `flannel.1` address (network address of the peer's pod CIDR).
    pub ip: Ipv4Addr,
    /// Peer `flannel.1` MAC.
    pub mac: MacAddr,
}

/// A VXLAN forwarding-database entry (`bridge fdb … self permanent`): MAC → underlay IP.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FdbEntry {
    /// Device name, e.g. `flannel.1`.
    pub device: String,
    /// Peer VTEP MAC.
    pub mac: MacAddr,
    /// Peer underlay (public) IP.
    pub dst: Ipv4Addr,
}

/// A route in the main table tagged with [`ROUTE_PROTOCOL`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Destination: a peer node's pod CIDR.
    pub dst: Ipv4Net,
    /// Gateway: peer VTEP address (VXLAN) or peer public IP (`DirectRouting`).
    pub via: Ipv4Addr,
    /// Output device; `None` lets the kernel resolve it (`DirectRouting`).
    pub device: Option<String>,
    /// `onlink` flag (VXLAN routes: the gateway is not in any local subnet).
    pub onlink: bool,
}

impl Route {
    /// True when an installed route `actual` satisfies this desired route.
    pub fn satisfied_by(&self, actual: &Route) -> bool {
        self.dst == actual.dst
            && self.via == actual.via
            && self.onlink == actual.onlink
            && (self.device.is_none() || self.device == actual.device)
    }
}

/// One NAT exemption: traffic from `src` to `dst` must not be masqueraded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NatExemption {
    /// Source CIDR.
    pub src: Ipv4Net,
    /// Destination CIDR.
    pub dst: Ipv4Net,
}

/// The full set of exemptions (the content of causeway's nftables chain).
pub type NatRules = BTreeSet<NatExemption>;

/// A set of neighbours, FDB entries, routes and NAT exemptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetState {
    /// Neighbour entries.
    pub neighbours: BTreeSet<Neighbour>,
    /// FDB entries.
    pub fdb: BTreeSet<FdbEntry>,
    /// Routes.
    pub routes: BTreeSet<Route>,
    /// NAT exemptions; `None` in an actual state means causeway's table/chain does not exist in
    /// `nat_backend`.
    pub nat: Option<NatRules>,
    /// Actual state: the firewall backend the node's flannel masquerade calls for, where `nat`
    /// was read (see [`crate::firewall`]). Ignored in a desired state.
    pub nat_backend: NatBackend,
    /// Actual state: causeway's table/chain also exists in the other backend (a leftover, e.g.
    /// flannel switched backends). Ignored in a desired state.
    pub nat_leftover: bool,
    /// Actual state: main-table routes into a peer cluster CIDR that are not causeway's (e.g.
    /// left by the seed's `create-routes.sh`), by destination, as `ip route` prints them. A
    /// desired route to the same destination replaces such a route (it is adopted, with a
    /// warning). Ignored in a desired state.
    pub foreign_routes: BTreeMap<Ipv4Net, String>,
}

/// Which actual objects causeway owns (may replace or remove).
///
/// * routes: every route with [`ROUTE_PROTOCOL`] (the dataplane reads only those);
/// * neighbours: permanent entries on `vxlan_device` whose address lies in a peer cluster CIDR
///   (flannel's own neighbours are in the local cluster CIDR);
/// * FDB entries: entries on `vxlan_device` whose MAC belongs to an owned neighbour (removal runs
///   route → FDB → neighbour, so a half-finished removal is finished by the next run);
/// * NAT: causeway's own nftables table and its own iptables-legacy chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// The VXLAN device, e.g. `flannel.1`.
    pub vxlan_device: String,
    /// Peer cluster CIDRs.
    pub peer_cluster_cidrs: Vec<Ipv4Net>,
    /// Local cluster CIDRs: not owned, but they tell flannel's masquerade rule (its source) from
    /// others when detecting the firewall backend ([`crate::firewall`]). May be empty (cleanup).
    pub local_cluster_cidrs: Vec<Ipv4Net>,
}

impl Ownership {
    /// True when causeway may manage this neighbour.
    pub fn owns_neighbour(&self, n: &Neighbour) -> bool {
        n.device == self.vxlan_device && self.peer_cluster_cidrs.iter().any(|c| c.contains(&n.ip))
    }
}

impl fmt::Display for Neighbour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} lladdr {} dev {} nud permanent",
            self.ip, self.mac, self.device
        )
    }
}

impl fmt::Display for FdbEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} dst {} dev {} self permanent",
            self.mac, self.dst, self.device
        )
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} via {}", self.dst, self.via)?;
        if let Some(dev) = &self.device {
            write!(f, " dev {dev}")?;
        }
        if self.onlink {
            f.write_str(" onlink")?;
        }
        write!(f, " proto {ROUTE_PROTOCOL}")
    }
}

impl fmt::Display for NatExemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.src, self.dst)
    }
}
