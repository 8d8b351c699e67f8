//! Peer Node parsing: a peer cluster's `Node` objects in, validated [`PeerNode`]s out.
//!
//! Flow: `Vec<Node>` → [`PeerNode::from_node`] (annotations + `spec.podCIDR(s)`, VNI check) →
//! [`parse_peers`] (sorted by name, overlapping pod CIDRs rejected) → [`ParsedPeers`]. A bad Node
//! never hides the good ones: it lands in `rejected` with an error that names it and the fix.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Node;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::mac::MacAddr;

/// Annotation holding the node's underlay ("public") IP.
pub const PUBLIC_IP_ANNOTATION: &str = "flannel.alpha.coreos.com/public-ip";
/// Annotation holding the backend JSON (`{"VNI":1,"VtepMAC":"…"}`).
pub const BACKEND_DATA_ANNOTATION: &str = "flannel.alpha.coreos.com/backend-data";
/// Annotation holding the backend type (`vxlan`).
pub const BACKEND_TYPE_ANNOTATION: &str = "flannel.alpha.coreos.com/backend-type";

/// A peer-cluster node as flannel VXLAN describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerNode {
    /// Node name.
    pub name: String,
    /// Underlay IP: VXLAN packets for this node go here.
    pub public_ip: Ipv4Addr,
    /// MAC address of the node's `flannel.1`.
    pub vtep_mac: MacAddr,
    /// VXLAN network identifier.
    pub vni: u32,
    /// Flannel backend type (always `vxlan` once parsed).
    pub backend_type: String,
    /// IPv4 pod CIDRs, first one primary (its network address is the node's flannel.1 address).
    pub pod_cidrs: Vec<Ipv4Net>,
}

impl PeerNode {
    /// The address flannel puts on the peer's `flannel.1`: the network address of its first pod
    /// CIDR (e.g. 10.44.1.0 for 10.44.1.0/24).
    pub fn vtep_ip(&self) -> Ipv4Addr {
        self.pod_cidrs
            .first()
            .map_or(Ipv4Addr::UNSPECIFIED, Ipv4Net::network)
    }

    /// Parses one Node, checking that it runs flannel VXLAN with `local_vni`.
    pub fn from_node(node: &Node, local_vni: u32) -> Result<Self> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let annotation = |key: &'static str| {
            node.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .map(String::as_str)
                .ok_or_else(|| Error::MissingAnnotation {
                    node: name.clone(),
                    annotation: key,
                })
        };

        let backend_type = annotation(BACKEND_TYPE_ANNOTATION)?;
        if backend_type != "vxlan" {
            return Err(Error::UnsupportedBackend {
                node: name,
                backend: backend_type.to_owned(),
            });
        }
        let public_ip_raw = annotation(PUBLIC_IP_ANNOTATION)?;
        let public_ip =
            public_ip_raw
                .trim()
                .parse::<Ipv4Addr>()
                .map_err(|_| Error::InvalidPublicIp {
                    node: name.clone(),
                    value: public_ip_raw.to_owned(),
                })?;
        let data: BackendData = serde_json::from_str(annotation(BACKEND_DATA_ANNOTATION)?)
            .map_err(|source| Error::MalformedBackendData {
                node: name.clone(),
                source,
            })?;
        let vtep_mac = data
            .vtep_mac
            .parse::<MacAddr>()
            .ok()
            .filter(|m| m.is_unicast())
            .ok_or_else(|| Error::InvalidMac {
                node: name.clone(),
                value: data.vtep_mac.clone(),
            })?;
        if data.vni != local_vni {
            return Err(Error::VniMismatch {
                node: name,
                peer_vni: data.vni,
                local_vni,
            });
        }
        let pod_cidrs = pod_cidrs(node, &name)?;
        Ok(Self {
            name,
            public_ip,
            vtep_mac,
            vni: data.vni,
            backend_type: backend_type.to_owned(),
            pod_cidrs,
        })
    }
}

/// The JSON in `flannel.alpha.coreos.com/backend-data`.
#[derive(Deserialize)]
struct BackendData {
    #[serde(rename = "VNI")]
    vni: u32,
    #[serde(rename = "VtepMAC")]
    vtep_mac: String,
}

/// IPv4 pod CIDRs from `spec.podCIDRs`, falling back to `spec.podCIDR`; IPv6 entries are skipped
/// (flannel's IPv6 VXLAN uses other annotations and is not supported).
fn pod_cidrs(node: &Node, name: &str) -> Result<Vec<Ipv4Net>> {
    let spec = node.spec.as_ref();
    let mut raw: Vec<&str> = spec
        .and_then(|s| s.pod_cidrs.as_ref())
        .map(|v| v.iter().map(String::as_str).collect())
        .unwrap_or_default();
    if raw.is_empty() {
        raw.extend(spec.and_then(|s| s.pod_cidr.as_deref()));
    }
    let mut out = Vec::new();
    for value in raw {
        if value.contains(':') {
            continue;
        }
        let net = value
            .trim()
            .parse::<Ipv4Net>()
            .map_err(|_| Error::InvalidPodCidr {
                node: name.to_owned(),
                value: value.to_owned(),
            })?;
        if net != net.trunc() {
            return Err(Error::InvalidPodCidr {
                node: name.to_owned(),
                value: value.to_owned(),
            });
        }
        out.push(net);
    }
    if out.is_empty() {
        return Err(Error::MissingPodCidr {
            node: name.to_owned(),
        });
    }
    Ok(out)
}

/// Peers that parsed, plus the Nodes that were rejected and why.
#[derive(Debug, Default)]
pub struct ParsedPeers {
    /// Valid peers, sorted by name.
    pub peers: Vec<PeerNode>,
    /// One error per rejected Node.
    pub rejected: Vec<Error>,
}

/// Parses every Node; a Node whose pod CIDR overlaps an earlier (by name) Node's is rejected.
pub fn parse_peers(nodes: &[Node], local_vni: u32) -> ParsedPeers {
    let mut parsed: Vec<PeerNode> = Vec::new();
    let mut rejected = Vec::new();
    for node in nodes {
        match PeerNode::from_node(node, local_vni) {
            Ok(peer) => parsed.push(peer),
            Err(err) => rejected.push(err),
        }
    }
    parsed.sort_by(|a, b| a.name.cmp(&b.name));
    let (peers, overlaps) = reject_overlaps(parsed);
    rejected.extend(overlaps);
    ParsedPeers { peers, rejected }
}

/// Keeps peers in order, dropping any whose pod CIDR overlaps an already kept peer's.
///
/// The kept CIDRs are disjoint, so sorted by network address their ends increase too: a new
/// CIDR overlaps one of them exactly when it overlaps the last one starting at or before its own
/// end. One map lookup per CIDR, O(n log n) over thousands of peer nodes.
pub fn reject_overlaps(peers: Vec<PeerNode>) -> (Vec<PeerNode>, Vec<Error>) {
    let mut kept: Vec<PeerNode> = Vec::new();
    let mut rejected = Vec::new();
    let mut claimed: BTreeMap<Ipv4Net, (Ipv4Net, String)> = BTreeMap::new();
    'peers: for peer in peers {
        for cidr in &peer.pod_cidrs {
            let end = Ipv4Net::from(cidr.broadcast());
            let last = claimed.range(..=end).next_back().map(|(_, v)| v);
            if let Some((other_cidr, other)) = last.filter(|(c, _)| overlaps(*c, *cidr)) {
                rejected.push(Error::PodCidrOverlap {
                    node: peer.name.clone(),
                    cidr: *cidr,
                    other: other.clone(),
                    other_cidr: *other_cidr,
                });
                continue 'peers;
            }
        }
        for cidr in &peer.pod_cidrs {
            claimed.insert(cidr.trunc(), (*cidr, peer.name.clone()));
        }
        kept.push(peer);
    }
    (kept, rejected)
}

/// True when two IPv4 networks share at least one address.
pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests;
