//! `causeway netpeer check`: per peer node, whether this node holds its neighbour, FDB entry and
//! routes exactly as desired. Pure: desired state + actual state + peers in, a report out.

use std::fmt;

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

/// Compares the desired entries of each peer with the actual state.
pub fn peer_status(peers: &[PeerNode], desired: &NetState, actual: &NetState) -> Vec<PeerStatus> {
    peers
        .iter()
        .map(|peer| {
            let want_neigh: Vec<&Neighbour> = desired
                .neighbours
                .iter()
                .filter(|n| n.mac == peer.vtep_mac)
                .collect();
            let want_fdb: Vec<&FdbEntry> = desired
                .fdb
                .iter()
                .filter(|e| e.mac == peer.vtep_mac)
                .collect();
            let want_routes: Vec<&Route> = desired
                .routes
                .iter()
                .filter(|r| peer.pod_cidrs.contains(&r.dst))
                .collect();
            PeerStatus {
                name: peer.name.clone(),
                public_ip: peer.public_ip,
                neighbour: want_neigh.iter().all(|n| actual.neighbours.contains(*n)),
                fdb: want_fdb.iter().all(|e| actual.fdb.contains(*e)),
                routes: want_routes
                    .iter()
                    .all(|w| actual.routes.iter().any(|a| w.satisfied_by(a))),
                rejected: want_routes.is_empty(),
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
