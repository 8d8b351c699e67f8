//! Desired state: local node config + validated peers in, the [`NetState`] this node needs out.
//!
//! Pure. For every peer node (VXLAN mode): a permanent neighbour (peer VTEP address → `VtepMAC` on
//! the VXLAN device), an FDB entry (`VtepMAC` → public IP, `self permanent`) and an `onlink` route
//! per pod CIDR via the peer VTEP address. With `DirectRouting` and a peer public IP inside a local
//! underlay subnet: only a plain route per pod CIDR via the public IP. Plus NAT exemptions between
//! every local and every peer cluster CIDR, both directions.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::link::{FLANNEL_VXLAN_PORT, VxlanExpect};
use crate::peer::{PeerNode, overlaps, reject_overlaps};
use crate::state::{FdbEntry, NatExemption, NatRules, Neighbour, NetState, Ownership, Route};

/// Flannel's VXLAN device name for VNI 1.
pub const DEFAULT_VXLAN_DEVICE: &str = "flannel.1";

/// What netpeer needs to know about the local node and the two clusters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalConfig {
    /// VXLAN device name (default [`DEFAULT_VXLAN_DEVICE`]).
    pub vxlan_device: String,
    /// Local VXLAN VNI; peers must match it, and so must the device (see [`crate::link`]).
    pub vni: u32,
    /// The peer cluster's VXLAN UDP port; the local device must use the same.
    pub peer_vxlan_port: u16,
    /// Local cluster CIDR(s) (flannel's `Network`, e.g. 10.42.0.0/16).
    pub local_cluster_cidrs: Vec<Ipv4Net>,
    /// Peer cluster CIDR(s) (e.g. 10.44.0.0/16).
    pub peer_cluster_cidrs: Vec<Ipv4Net>,
    /// Use plain routes to peers whose public IP is on-link (flannel's `DirectRouting`).
    pub direct_routing: bool,
    /// Local underlay subnets, used to decide whether a peer is on-link for `DirectRouting`.
    pub underlay_subnets: Vec<Ipv4Net>,
}

impl LocalConfig {
    /// A VXLAN-only config with the default device name.
    pub fn new(
        vni: u32,
        local_cluster_cidrs: Vec<Ipv4Net>,
        peer_cluster_cidrs: Vec<Ipv4Net>,
    ) -> Self {
        Self {
            vxlan_device: DEFAULT_VXLAN_DEVICE.to_owned(),
            vni,
            peer_vxlan_port: FLANNEL_VXLAN_PORT,
            local_cluster_cidrs,
            peer_cluster_cidrs,
            direct_routing: false,
            underlay_subnets: Vec::new(),
        }
    }

    /// What causeway owns under this config.
    pub fn ownership(&self) -> Ownership {
        Ownership {
            vxlan_device: self.vxlan_device.clone(),
            peer_cluster_cidrs: self.peer_cluster_cidrs.clone(),
            local_cluster_cidrs: self.local_cluster_cidrs.clone(),
        }
    }

    /// What the local VXLAN device must match.
    pub fn vxlan_expect(&self) -> VxlanExpect {
        VxlanExpect {
            vni: self.vni,
            peer_port: self.peer_vxlan_port,
        }
    }
}

/// The desired state plus the peers that had to be left out.
#[derive(Debug)]
pub struct Desired {
    /// What the kernel should hold.
    pub state: NetState,
    /// What causeway may change or remove.
    pub ownership: Ownership,
    /// What the local VXLAN device must match before anything is applied.
    pub vxlan: VxlanExpect,
    /// Public IP → name of every peer reached over VXLAN (for path-MTU checks).
    pub vxlan_peers: BTreeMap<Ipv4Addr, String>,
    /// Peers left out, with the reason.
    pub rejected: Vec<Error>,
}

/// Computes the desired state. Fails only for config errors that make every peer unsafe
/// (overlapping cluster CIDRs); bad peers are skipped and reported in [`Desired::rejected`].
pub fn desired_state(config: &LocalConfig, peers: Vec<PeerNode>) -> Result<Desired> {
    for local in &config.local_cluster_cidrs {
        for peer in &config.peer_cluster_cidrs {
            if overlaps(*local, *peer) {
                return Err(Error::ClusterCidrOverlap {
                    local: *local,
                    peer: *peer,
                });
            }
        }
    }

    let mut rejected = Vec::new();
    let mut sorted = peers;
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut inside = Vec::new();
    for peer in sorted {
        if peer.vni != config.vni {
            rejected.push(Error::VniMismatch {
                node: peer.name.clone(),
                peer_vni: peer.vni,
                local_vni: config.vni,
            });
            continue;
        }
        let outside = peer
            .pod_cidrs
            .iter()
            .find(|cidr| !config.peer_cluster_cidrs.iter().any(|c| c.contains(*cidr)));
        if let Some(cidr) = outside {
            rejected.push(Error::PodCidrOutsidePeerCluster {
                node: peer.name.clone(),
                cidr: *cidr,
                peer_cluster: join(&config.peer_cluster_cidrs),
            });
            continue;
        }
        inside.push(peer);
    }
    let (peers, overlapping) = reject_overlaps(inside);
    rejected.extend(overlapping);

    let mut state = NetState {
        nat: Some(nat_rules(config)),
        ..NetState::default()
    };
    let mut macs = BTreeSet::new();
    let mut vxlan_peers = BTreeMap::new();
    for peer in peers {
        if is_direct(config, &peer) {
            for cidr in &peer.pod_cidrs {
                state.routes.insert(Route {
                    dst: *cidr,
                    via: peer.public_ip,
                    device: None,
                    onlink: false,
                });
            }
            continue;
        }
        if !macs.insert(peer.vtep_mac) {
            rejected.push(Error::InvalidMac {
                node: peer.name.clone(),
                value: format!("{} (already used by another peer node)", peer.vtep_mac),
            });
            continue;
        }
        vxlan_peers.insert(peer.public_ip, peer.name.clone());
        let device = config.vxlan_device.clone();
        let vtep_ip = peer.vtep_ip();
        state.neighbours.insert(Neighbour {
            device: device.clone(),
            ip: vtep_ip,
            mac: peer.vtep_mac,
        });
        state.fdb.insert(FdbEntry {
            device: device.clone(),
            mac: peer.vtep_mac,
            dst: peer.public_ip,
        });
        for cidr in &peer.pod_cidrs {
            state.routes.insert(Route {
                dst: *cidr,
                via: vtep_ip,
                device: Some(device.clone()),
                onlink: true,
            });
        }
    }
    Ok(Desired {
        state,
        ownership: config.ownership(),
        vxlan: config.vxlan_expect(),
        vxlan_peers,
        rejected,
    })
}

/// Checks that no two of the four CIDR sets overlap: local pods, peer pods, local Services, peer
/// Services (an overlap makes some destination ambiguous on one side).
pub fn check_cidrs(
    local_pods: &[Ipv4Net],
    peer_pods: &[Ipv4Net],
    local_services: &[Ipv4Net],
    peer_services: &[Ipv4Net],
) -> Result<()> {
    let sets: [(&'static str, &[Ipv4Net]); 4] = [
        ("local cluster CIDR", local_pods),
        ("peer cluster CIDR", peer_pods),
        ("local service CIDR", local_services),
        ("peer service CIDR", peer_services),
    ];
    for (i, (first, a)) in sets.iter().enumerate() {
        for (second, b) in &sets[i + 1..] {
            for x in *a {
                if let Some(y) = b.iter().find(|y| overlaps(*x, **y)) {
                    return Err(Error::CidrOverlap {
                        first,
                        first_cidr: *x,
                        second,
                        second_cidr: *y,
                    });
                }
            }
        }
    }
    Ok(())
}

/// `DirectRouting` applies when enabled and the peer's public IP is in a local underlay subnet.
fn is_direct(config: &LocalConfig, peer: &PeerNode) -> bool {
    config.direct_routing
        && config
            .underlay_subnets
            .iter()
            .any(|s| s.contains(&peer.public_ip))
}

/// Exemptions local ↔ peer for every pair of cluster CIDRs.
pub fn nat_rules(config: &LocalConfig) -> NatRules {
    let mut rules = NatRules::new();
    for local in &config.local_cluster_cidrs {
        for peer in &config.peer_cluster_cidrs {
            rules.insert(NatExemption {
                src: *local,
                dst: *peer,
            });
            rules.insert(NatExemption {
                src: *peer,
                dst: *local,
            });
        }
    }
    rules
}

fn join(cidrs: &[Ipv4Net]) -> String {
    cidrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
