//! `causeway netpeer check`: per peer node, whether this node holds its neighbour, FDB entry and
//! routes exactly as desired. Pure: desired state + actual state + peers in, a report out.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::Ipv4Net;

use crate::mac::MacAddr;
use crate::peer::PeerNode;
use crate::state::{FdbEntry, Neighbour, NetState, Route};

/// What one peer node needs on this node, and what is there.
// Four independent yes/no findings of a report, not a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Peer node name.
    pub name: String,
    /// Its public IP.
    pub public_ip: std::net::Ipv4Addr,
    /// Neighbour entry present (or not needed, e.g. `DirectRouting`).
    pub neighbour: bool,
    /// FDB entry present (or not needed).
    pub fdb: bool,
    /// Every pod-CIDR route present.
    pub routes: bool,
    /// True when the desired state has nothing for this peer (it was rejected).
    pub rejected: bool,
}

impl PeerStatus {
    /// True when everything this peer needs is in place.
    pub fn ok(&self) -> bool {
        !self.rejected && self.neighbour && self.fdb && self.routes
    }
}

/// Compares the desired entries of each peer with the actual state (maps by MAC and destination,
/// so O(n log n) in the number of peers).
pub fn peer_status(peers: &[PeerNode], desired: &NetState, actual: &NetState) -> Vec<PeerStatus> {
    let mut want_neigh: BTreeMap<MacAddr, Vec<&Neighbour>> = BTreeMap::new();
    for n in &desired.neighbours {
        want_neigh.entry(n.mac).or_default().push(n);
    }
    let mut want_fdb: BTreeMap<MacAddr, Vec<&FdbEntry>> = BTreeMap::new();
    for e in &desired.fdb {
        want_fdb.entry(e.mac).or_default().push(e);
    }
    let want_route: BTreeMap<Ipv4Net, &Route> = desired.routes.iter().map(|r| (r.dst, r)).collect();
    let have_route: BTreeMap<Ipv4Net, Vec<&Route>> =
        actual.routes.iter().fold(BTreeMap::new(), |mut m, r| {
            m.entry(r.dst).or_default().push(r);
            m
        });
    peers
        .iter()
        .map(|peer| {
            let neigh = want_neigh
                .get(&peer.vtep_mac)
                .map_or(&[][..], Vec::as_slice);
            let fdb = want_fdb.get(&peer.vtep_mac).map_or(&[][..], Vec::as_slice);
            let routes: Vec<&Route> = peer
                .pod_cidrs
                .iter()
                .filter_map(|c| want_route.get(c).copied())
                .collect();
            PeerStatus {
                name: peer.name.clone(),
                public_ip: peer.public_ip,
                neighbour: neigh.iter().all(|n| actual.neighbours.contains(*n)),
                fdb: fdb.iter().all(|e| actual.fdb.contains(*e)),
                routes: routes.iter().all(|w| {
                    have_route
                        .get(&w.dst)
                        .is_some_and(|have| have.iter().any(|a| w.satisfied_by(a)))
                }),
                rejected: routes.is_empty(),
            }
        })
        .collect()
}

impl fmt::Display for PeerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = |b: bool| if b { "ok" } else { "MISSING" };
        if self.rejected {
            return write!(f, "{:<24} {:<15} REJECTED", self.name, self.public_ip);
        }
        write!(
            f,
            "{:<24} {:<15} neigh {:<7} fdb {:<7} route {:<7}",
            self.name,
            self.public_ip,
            mark(self.neighbour),
            mark(self.fdb),
            mark(self.routes)
        )
    }
}

#[cfg(test)]
mod tests;
