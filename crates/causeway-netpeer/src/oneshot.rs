//! One-shot mode for the seed's `ConfigMap` `node-config`: keys `node_ip`, `node_mac`,
//! `node_subnet`, `cidr1`, `cidr2` in, a [`Desired`] state out.
//!
//! The `ConfigMap` in one cluster describes one node of the *other* cluster; `cidr1`/`cidr2` are
//! the two cluster CIDRs, and the one that contains `node_subnet` is the peer's. Applying the
//! result with [`reconcile_once`](crate::reconcile_once) is idempotent, unlike the seed's
//! `create-routes.sh`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::desired::{Desired, LocalConfig, desired_state};
use crate::error::{Error, Result};
use crate::mac::MacAddr;
use crate::peer::PeerNode;

/// The seed `ConfigMap`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedConfig {
    /// Peer node's underlay IP (`node_ip`).
    pub node_ip: Ipv4Addr,
    /// Peer node's `VtepMAC` (`node_mac`).
    pub node_mac: MacAddr,
    /// Peer node's pod CIDR (`node_subnet`).
    pub node_subnet: Ipv4Net,
    /// Local cluster CIDR (whichever of `cidr1`/`cidr2` does not contain `node_subnet`).
    pub local_cluster: Ipv4Net,
    /// Peer cluster CIDR (whichever of `cidr1`/`cidr2` contains `node_subnet`).
    pub peer_cluster: Ipv4Net,
}

impl SeedConfig {
    /// Parses `ConfigMap` `data`.
    pub fn from_data(data: &BTreeMap<String, String>) -> Result<Self> {
        let node_ip = parse(data, "node_ip", "an IPv4 address like 192.168.31.95")?;
        let mac_raw = get(data, "node_mac")?;
        let node_mac = mac_raw
            .parse::<MacAddr>()
            .ok()
            .filter(|m| m.is_unicast())
            .ok_or_else(|| Error::InvalidConfigValue {
                key: "node_mac",
                value: mac_raw.to_owned(),
                expected: "a unicast MAC like ba:7e:3d:4c:18:eb",
            })?;
        let node_subnet: Ipv4Net = parse_net(data, "node_subnet")?;
        let cidr1: Ipv4Net = parse_net(data, "cidr1")?;
        let cidr2: Ipv4Net = parse_net(data, "cidr2")?;
        let (local_cluster, peer_cluster) =
            match (cidr1.contains(&node_subnet), cidr2.contains(&node_subnet)) {
                (false, true) => (cidr1, cidr2),
                (true, false) => (cidr2, cidr1),
                _ => {
                    return Err(Error::InvalidConfigValue {
                        key: "node_subnet",
                        value: node_subnet.to_string(),
                        expected: "a pod CIDR inside exactly one of cidr1 and cidr2",
                    });
                }
            };
        Ok(Self {
            node_ip,
            node_mac,
            node_subnet,
            local_cluster,
            peer_cluster,
        })
    }

    /// The desired state for a node of the local cluster (VNI, device and the peer's VXLAN UDP
    /// port as flannel configures them).
    pub fn desired(&self, vni: u32, vxlan_device: &str, peer_vxlan_port: u16) -> Result<Desired> {
        let mut config = LocalConfig::new(vni, vec![self.local_cluster], vec![self.peer_cluster]);
        vxlan_device.clone_into(&mut config.vxlan_device);
        config.peer_vxlan_port = peer_vxlan_port;
        let peer = PeerNode {
            name: "node-config".to_owned(),
            public_ip: self.node_ip,
            vtep_mac: self.node_mac,
            vni,
            backend_type: "vxlan".to_owned(),
            pod_cidrs: vec![self.node_subnet],
        };
        let desired = desired_state(&config, vec![peer])?;
        match desired.rejected.into_iter().next() {
            Some(err) => Err(err),
            None => Ok(Desired {
                rejected: Vec::new(),
                ..desired
            }),
        }
    }
}

fn get<'a>(data: &'a BTreeMap<String, String>, key: &'static str) -> Result<&'a str> {
    data.get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or(Error::MissingConfigKey { key })
}

fn parse(
    data: &BTreeMap<String, String>,
    key: &'static str,
    expected: &'static str,
) -> Result<Ipv4Addr> {
    let raw = get(data, key)?;
    raw.parse().map_err(|_| Error::InvalidConfigValue {
        key,
        value: raw.to_owned(),
        expected,
    })
}

fn parse_net(data: &BTreeMap<String, String>, key: &'static str) -> Result<Ipv4Net> {
    let raw = get(data, key)?;
    raw.parse::<Ipv4Net>()
        .ok()
        .filter(|n| *n == n.trunc())
        .ok_or_else(|| Error::InvalidConfigValue {
            key,
            value: raw.to_owned(),
            expected: "an IPv4 network in CIDR form like 10.44.0.0/16",
        })
}

#[cfg(test)]
mod tests;
