//! Errors of the netpeer crate.
//!
//! Parsing and validation errors name the Node or config key at fault and say how to fix it; I/O
//! errors name the operation and carry the cause as `#[source]` (never interpolated).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Result alias with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in netpeer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flannel annotation is missing on a peer Node.
    #[error(
        "node {node} has no annotation {annotation}; is flannel running on it (flanneld writes it at start-up)?"
    )]
    MissingAnnotation {
        /// Node name.
        node: String,
        /// Annotation key.
        annotation: &'static str,
    },
    /// The backend-data annotation is not the JSON flannel writes.
    #[error(
        "node {node} has malformed annotation flannel.alpha.coreos.com/backend-data; expected JSON like {{\"VNI\":1,\"VtepMAC\":\"aa:bb:cc:dd:ee:ff\"}}"
    )]
    MalformedBackendData {
        /// Node name.
        node: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A MAC address could not be parsed or is not a unicast address.
    #[error(
        "node {node} has invalid VtepMAC {value:?}; expected a unicast MAC like 0e:b5:f8:b4:1c:a3"
    )]
    InvalidMac {
        /// Node name (or config key).
        node: String,
        /// The offending value.
        value: String,
    },
    /// The public-ip annotation is not an IPv4 address.
    #[error(
        "node {node} has invalid annotation flannel.alpha.coreos.com/public-ip {value:?}; expected an IPv4 address"
    )]
    InvalidPublicIp {
        /// Node name.
        node: String,
        /// The offending value.
        value: String,
    },
    /// The peer's flannel backend is not VXLAN.
    #[error(
        "node {node} uses flannel backend {backend:?}; causeway-netpeer supports only \"vxlan\" (set Backend.Type to vxlan in flannel's net-conf.json)"
    )]
    UnsupportedBackend {
        /// Node name.
        node: String,
        /// The backend type found.
        backend: String,
    },
    /// The peer uses a different VXLAN VNI than the local cluster.
    #[error(
        "node {node} uses VXLAN VNI {peer_vni} but the local cluster uses VNI {local_vni}; set the same Backend.VNI in both clusters' flannel net-conf.json"
    )]
    VniMismatch {
        /// Node name.
        node: String,
        /// The peer's VNI.
        peer_vni: u32,
        /// The local VNI.
        local_vni: u32,
    },
    /// The peer Node has no IPv4 pod CIDR yet.
    #[error(
        "node {node} has no IPv4 spec.podCIDR yet; wait until the node IPAM controller assigns one"
    )]
    MissingPodCidr {
        /// Node name.
        node: String,
    },
    /// A pod CIDR could not be parsed.
    #[error("node {node} has invalid pod CIDR {value:?}; expected a CIDR like 10.44.1.0/24")]
    InvalidPodCidr {
        /// Node name.
        node: String,
        /// The offending value.
        value: String,
    },
    /// Two peer Nodes claim overlapping pod CIDRs.
    #[error(
        "node {node} pod CIDR {cidr} overlaps pod CIDR {other_cidr} of node {other}; fix the peer cluster's node IPAM (each node needs a disjoint podCIDR)"
    )]
    PodCidrOverlap {
        /// Node name.
        node: String,
        /// Its CIDR.
        cidr: Ipv4Net,
        /// The other node.
        other: String,
        /// The other node's CIDR.
        other_cidr: Ipv4Net,
    },
    /// A peer Node's pod CIDR lies outside every peer cluster CIDR.
    #[error(
        "node {node} pod CIDR {cidr} is not inside the peer cluster CIDR(s) {peer_cluster}; pass the peer cluster's real clusterCIDR"
    )]
    PodCidrOutsidePeerCluster {
        /// Node name.
        node: String,
        /// Its CIDR.
        cidr: Ipv4Net,
        /// The configured peer cluster CIDRs, comma separated.
        peer_cluster: String,
    },
    /// Local and peer cluster CIDRs overlap, so plain routing is impossible.
    #[error(
        "local cluster CIDR {local} overlaps peer cluster CIDR {peer}; the clusters must use disjoint pod CIDRs"
    )]
    ClusterCidrOverlap {
        /// Local cluster CIDR.
        local: Ipv4Net,
        /// Peer cluster CIDR.
        peer: Ipv4Net,
    },
    /// Two of the configured CIDRs (pod or Service, local or peer) overlap.
    #[error(
        "{first} {first_cidr} overlaps {second} {second_cidr}; cross-cluster routing needs disjoint pod and Service CIDRs in both clusters: check --cluster-cidr, --peer-cluster-cidr, --local-service-cidr and --peer-service-cidr, and if they are right re-address one cluster (flannel's Network, kube-apiserver's --service-cluster-ip-range); nothing was changed"
    )]
    CidrOverlap {
        /// What the first CIDR is, e.g. "local service CIDR".
        first: &'static str,
        /// The first CIDR.
        first_cidr: Ipv4Net,
        /// What the second CIDR is.
        second: &'static str,
        /// The second CIDR.
        second_cidr: Ipv4Net,
    },
    /// The peer's public IP is one of this node's own addresses (a peer cannot be ourselves).
    #[error(
        "node {node} has public IP {ip}, which belongs to the local node; check which cluster the peer Nodes come from"
    )]
    PeerIsLocal {
        /// Node name.
        node: String,
        /// The public IP.
        ip: Ipv4Addr,
    },
    /// A required configuration key is missing.
    #[error("config key {key} is missing")]
    MissingConfigKey {
        /// The key.
        key: &'static str,
    },
    /// A configuration value is invalid.
    #[error("config key {key} has invalid value {value:?}; expected {expected}")]
    InvalidConfigValue {
        /// The key.
        key: &'static str,
        /// The value found.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The VXLAN device does not exist (flannel not running yet, or being recreated).
    #[error(
        "network device {name} not found on this node; flannel creates it when it starts: check that flannel runs on this node and uses the VXLAN backend, or pass flannel's device with --vxlan-device (flannel.<VNI>); nothing was changed"
    )]
    LinkNotFound {
        /// Device name.
        name: String,
    },
    /// The configured VXLAN device exists but is not a VXLAN device.
    #[error(
        "network device {device} on this node is not a VXLAN device; pass flannel's VXLAN device with --vxlan-device (flannel.<VNI>, e.g. flannel.1); nothing was changed"
    )]
    NotVxlan {
        /// Device name.
        device: String,
    },
    /// The local VXLAN device uses another VNI than the one configured (and required of peers).
    #[error(
        "{device} on this node uses VXLAN VNI {device_vni} but --vni is {vni}; both clusters' flannel must use the same Backend.VNI: set it in net-conf.json and pass it with --vni; nothing was changed"
    )]
    LocalVniMismatch {
        /// Device name.
        device: String,
        /// The device's VNI.
        device_vni: u32,
        /// The configured VNI (`--vni`).
        vni: u32,
    },
    /// The local VXLAN device uses another UDP port than the peer cluster's flannel.
    #[error(
        "{device} on this node uses VXLAN UDP port {local_port} but the peer cluster's flannel uses port {peer_port} (--peer-vxlan-port); each side sends to its own port, so VXLAN packets between the clusters would be dropped. Set the same Backend.Port in both clusters' flannel net-conf.json (flannel's default is 8472) and pass the peer's port with --peer-vxlan-port; nothing was changed"
    )]
    VxlanPortMismatch {
        /// Device name.
        device: String,
        /// The device's UDP port.
        local_port: u16,
        /// The peer cluster's port (`--peer-vxlan-port`).
        peer_port: u16,
    },
    /// A netlink request failed.
    #[error("netlink request failed: {operation}")]
    Netlink {
        /// What was being done, e.g. "replace route 10.44.1.0/24".
        operation: String,
        /// The netlink error.
        #[source]
        source: Box<rtnetlink::Error>,
    },
    /// Opening a netlink socket failed.
    #[error("failed to open a netlink socket")]
    NetlinkSocket(#[source] std::io::Error),
    /// The peer Node watch stream ended (it normally retries forever).
    #[error("the peer cluster's Node watch ended")]
    WatchEnded,
    /// The reconciler task panicked or was cancelled.
    #[error("the netpeer reconciler task stopped")]
    ReconcilerStopped(#[source] Box<tokio::task::JoinError>),
    /// An `iptables-legacy-save` / `iptables-legacy-restore` run failed.
    #[error("iptables-legacy request failed: {operation}: {detail}")]
    Iptables {
        /// What was being done.
        operation: &'static str,
        /// The program's error output (or why it could not run).
        detail: String,
    },
    /// Neither `nft` nor `iptables-legacy` can hold the NAT exemption.
    #[error(
        "no firewall tool for the NAT exemption on this node: `nft` is not in PATH{}; use the full causeway image (it ships nft and iptables-legacy) or install nftables; nothing was changed",
        if *legacy_masquerade { " and the legacy nat table cannot be read (iptables-legacy-save/-restore missing, or refused without CAP_NET_RAW)" } else { " and flannel's masquerade is not in iptables-legacy" }
    )]
    NoNatTool {
        /// A legacy `nat` table exists but iptables-legacy is missing.
        legacy_masquerade: bool,
    },
    /// An nftables batch or listing failed.
    #[error("nftables request failed: {operation}")]
    Nftables {
        /// What was being done.
        operation: &'static str,
        /// The nftables error.
        #[source]
        source: Box<nftables::helper::NftablesError>,
    },
}

impl Error {
    /// True for errors an operator must fix on the node (flannel's device, netpeer's flags, the
    /// image): retrying soon cannot help, so the agent reports them as a condition and retries
    /// on resync; a created or recreated device is still picked up at once by the link watch.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Self::LinkNotFound { .. }
                | Self::NotVxlan { .. }
                | Self::LocalVniMismatch { .. }
                | Self::VxlanPortMismatch { .. }
                | Self::NoNatTool { .. }
        )
    }

    /// A bounded label for metrics, one per variant.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::MissingAnnotation { .. } => "missing_annotation",
            Self::MalformedBackendData { .. } => "malformed_backend_data",
            Self::InvalidMac { .. } => "invalid_mac",
            Self::InvalidPublicIp { .. } => "invalid_public_ip",
            Self::UnsupportedBackend { .. } => "unsupported_backend",
            Self::VniMismatch { .. } => "vni_mismatch",
            Self::MissingPodCidr { .. } => "missing_pod_cidr",
            Self::InvalidPodCidr { .. } => "invalid_pod_cidr",
            Self::PodCidrOverlap { .. } => "pod_cidr_overlap",
            Self::PodCidrOutsidePeerCluster { .. } => "pod_cidr_outside_peer_cluster",
            Self::ClusterCidrOverlap { .. } => "cluster_cidr_overlap",
            Self::CidrOverlap { .. } => "cidr_overlap",
            Self::PeerIsLocal { .. } => "peer_is_local",
            Self::MissingConfigKey { .. } => "missing_config_key",
            Self::InvalidConfigValue { .. } => "invalid_config_value",
            Self::LinkNotFound { .. } => "link_not_found",
            Self::NotVxlan { .. } => "not_vxlan",
            Self::LocalVniMismatch { .. } => "local_vni_mismatch",
            Self::VxlanPortMismatch { .. } => "vxlan_port_mismatch",
            Self::Netlink { .. } => "netlink",
            Self::NetlinkSocket(_) => "netlink_socket",
            Self::Nftables { .. } => "nftables",
            Self::Iptables { .. } => "iptables_legacy",
            Self::NoNatTool { .. } => "no_nat_tool",
            Self::WatchEnded => "watch_ended",
            Self::ReconcilerStopped(_) => "reconciler_stopped",
        }
    }
}
