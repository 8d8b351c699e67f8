//! The local VXLAN device as the kernel reports it, checked against what the peers need.
//!
//! Flow: [`Dataplane::vxlan_link`](crate::Dataplane::vxlan_link) reads `flannel.1`'s VNI, UDP
//! port and MTU → [`check_link`] compares them with the [`VxlanExpect`] of the desired state
//! (`--vni`, which every accepted peer Node's `backend-data` VNI already equals, and
//! `--peer-vxlan-port`, since flannel does not publish its port). A mismatch fails the reconcile
//! before anything is written. Then, for peers reached over VXLAN, [`mtu_warnings`] compares
//! `flannel.1`'s MTU plus the VXLAN overhead with the MTU of the route to each peer's public IP
//! ([`Dataplane::path_mtu`](crate::Dataplane::path_mtu): `ip route get`, the outgoing device's MTU
//! or the route's `mtu`, PMTU cache included). That is only the first hop as this node sees it;
//! the peer's own `flannel.1` MTU is not in its Node annotations and is never compared.

use std::fmt;
use std::net::Ipv4Addr;

use crate::error::{Error, Result};

/// flannel's VXLAN UDP port when `Backend.Port` is unset (the Linux kernel's default).
pub const FLANNEL_VXLAN_PORT: u16 = 8472;

/// Bytes VXLAN over IPv4 adds to an inner packet: outer IPv4 (20) + UDP (8) + VXLAN (8) +
/// inner Ethernet (14). flannel sets `flannel.1`'s MTU to the underlay MTU minus this.
pub const VXLAN_OVERHEAD: u32 = 50;

/// The local VXLAN device's settings that must agree with the peer cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanLink {
    /// Device name, e.g. `flannel.1`.
    pub name: String,
    /// VXLAN network identifier; `None` when the device is not a VXLAN device.
    pub vni: Option<u32>,
    /// Destination (and listening) UDP port.
    pub port: u16,
    /// Device MTU.
    pub mtu: u32,
}

/// What the peer cluster's flannel uses, so what the local device must use too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanExpect {
    /// VNI (`--vni`); accepted peer Nodes carry the same one in `backend-data`.
    pub vni: u32,
    /// The peer cluster's VXLAN UDP port (`--peer-vxlan-port`, flannel's default 8472).
    pub peer_port: u16,
}

/// Fails when the local device cannot talk VXLAN to the peer cluster: not a VXLAN device, another
/// VNI, or another UDP port (each side sends to its own port and listens on it only).
pub fn check_link(link: &VxlanLink, expect: &VxlanExpect) -> Result<()> {
    let Some(vni) = link.vni else {
        return Err(Error::NotVxlan {
            device: link.name.clone(),
        });
    };
    if vni != expect.vni {
        return Err(Error::LocalVniMismatch {
            device: link.name.clone(),
            device_vni: vni,
            vni: expect.vni,
        });
    }
    if link.port != expect.peer_port {
        return Err(Error::VxlanPortMismatch {
            device: link.name.clone(),
            local_port: link.port,
            peer_port: expect.peer_port,
        });
    }
    Ok(())
}

/// The route this node would use to reach an underlay address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathMtu {
    /// Outgoing device.
    pub device: String,
    /// The MTU the route allows: its `mtu` metric (or cached PMTU), else the device's MTU.
    pub mtu: u32,
}

/// A VXLAN peer whose encapsulated packets do not fit the route to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtuWarning {
    /// Peer node name.
    pub node: String,
    /// Its public IP.
    pub public_ip: Ipv4Addr,
    /// The local VXLAN device.
    pub device: String,
    /// The local VXLAN device's MTU.
    pub vxlan_mtu: u32,
    /// The route to the peer.
    pub path: PathMtu,
}

/// Peers (name, public IP, route to it if any) whose packets of `link.mtu` bytes, encapsulated,
/// exceed the route's MTU. Peers without a route are skipped (the kernel reports them when it
/// sends).
pub fn mtu_warnings<'a>(
    link: &VxlanLink,
    peers: impl IntoIterator<Item = (&'a str, Ipv4Addr, Option<PathMtu>)>,
) -> Vec<MtuWarning> {
    let needed = link.mtu.saturating_add(VXLAN_OVERHEAD);
    peers
        .into_iter()
        .filter_map(|(node, public_ip, path)| {
            let path = path?;
            (path.mtu < needed).then(|| MtuWarning {
                node: node.to_owned(),
                public_ip,
                device: link.name.clone(),
                vxlan_mtu: link.mtu,
                path,
            })
        })
        .collect()
}

impl fmt::Display for VxlanLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.vni {
            Some(vni) => write!(
                f,
                "{}: VNI {vni}, UDP port {}, MTU {}",
                self.name, self.port, self.mtu
            ),
            None => write!(f, "{}: not a VXLAN device, MTU {}", self.name, self.mtu),
        }
    }
}

impl fmt::Display for MtuWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} ({}): {} has MTU {}, so VXLAN packets to it are {} bytes, but the route to {} \
             via {} allows {}; large packets to its pods will be fragmented or dropped. Lower \
             flannel's MTU on this cluster (flannel derives it from its interface's MTU minus {}; \
             pods inherit it) or raise the MTU on the path to the peer",
            self.node,
            self.public_ip,
            self.device,
            self.vxlan_mtu,
            self.vxlan_mtu.saturating_add(VXLAN_OVERHEAD),
            self.public_ip,
            self.path.device,
            self.path.mtu,
            VXLAN_OVERHEAD,
        )
    }
}

#[cfg(test)]
mod tests;
