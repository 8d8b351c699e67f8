//! The lab's plan as plain data: where files live and which addresses and CIDRs each cluster
//! gets. Pure; everything else reads it.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The lab bridge in the host namespace; carries every apiserver address.
pub const BRIDGE: &str = "cwl-br0";
/// Prefix of every device and network namespace the lab creates.
pub const DEVICE_PREFIX: &str = "cwl-";
/// Most clusters one lab runs (pod/service CIDRs 10.42..10.57).
pub const MAX_CLUSTERS: u8 = 8;
/// The apiservers' secure port.
pub const APISERVER_PORT: u16 = 6443;
/// Default etcd client port on 127.0.0.1 (peer port is this + 1).
pub const DEFAULT_ETCD_PORT: u16 = 32379;
/// Data-plane nodes per cluster, by cluster index (1-based): the seed's old and new clusters get
/// two nodes each (so cross-cluster peering is tested node to node, every pair), any further
/// cluster one.
pub const NODES_PER_CLUSTER: [u8; MAX_CLUSTERS as usize] = [2, 2, 1, 1, 1, 1, 1, 1];
/// Most nodes one cluster may have (node IPs 198.51.100.<10*i+j> need j <= 9).
pub const MAX_NODES_PER_CLUSTER: u8 = 9;
/// Flannel's VXLAN device, VNI and UDP port (as flannel's defaults).
pub const VXLAN_DEVICE: &str = "flannel.1";
/// Flannel's default VNI.
pub const VXLAN_VNI: u32 = 1;
/// Flannel's VXLAN UDP port (Linux's historic default, not IANA's 4789).
pub const VXLAN_PORT: u16 = 8472;
/// MTU of flannel.1 and of pod interfaces (1500 minus the VXLAN overhead).
pub const POD_MTU: u16 = 1450;
/// Host numbers of a node's podCIDR that simulated pods ([`crate::pods`]) take.
pub const STAND_IN_POD_HOSTS: std::ops::RangeInclusive<u8> = 2..=127;
/// Host numbers of a node's podCIDR that the kubelet's pods take (the CNI config's host-local
/// range), apart from the simulated pods' so the two never collide.
pub const KUBELET_POD_HOSTS: std::ops::RangeInclusive<u8> = 128..=254;
/// The kubelet's API port on the node's address.
pub const KUBELET_PORT: u16 = 10250;
/// The kubelet's health port inside the node namespace (127.0.0.1).
pub const KUBELET_HEALTHZ_PORT: u16 = 10248;
/// Label on every Node the lab runs (real kubelet nodes); the lab's own workloads select it, so
/// they never land on a test's kubelet-less Node.
pub const LAB_NODE_LABEL: &str = "causeway.dev/lab-node";

/// What one cluster of the lab looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPlan {
    /// 1-based index.
    pub index: u8,
    /// Address of the apiserver on the lab bridge (documentation range 198.51.100.0/24).
    pub api_ip: Ipv4Addr,
    /// Pod CIDR (cluster CIDR).
    pub pod_cidr: String,
    /// Service CIDR.
    pub service_cidr: String,
}

impl ClusterPlan {
    /// The plan for cluster `index`: cluster 1 gets 10.42/16 pods and 10.43/16 services (the
    /// seed's old cluster), cluster 2 10.44/10.45 (the new one), cluster N 10.(40+2N)/10.(41+2N).
    pub fn new(index: u8) -> Result<Self> {
        if index == 0 || index > MAX_CLUSTERS {
            return Err(Error::ClusterCount {
                got: index,
                max: MAX_CLUSTERS,
            });
        }
        let pod = 40 + 2 * index;
        Ok(Self {
            index,
            api_ip: Ipv4Addr::new(198, 51, 100, index),
            pod_cidr: format!("10.{pod}.0.0/16"),
            service_cidr: format!("10.{}.0.0/16", pod + 1),
        })
    }

    /// `https://<api_ip>:6443`.
    pub fn server_url(&self) -> String {
        format!("https://{}:{APISERVER_PORT}", self.api_ip)
    }

    /// The etcd key prefix that keeps this cluster's data apart.
    pub fn etcd_prefix(&self) -> String {
        format!("/c{}", self.index)
    }

    /// Second octet of the pod CIDR (42 for cluster 1).
    pub fn pod_octet(&self) -> u8 {
        40 + 2 * self.index
    }

    /// The cluster's data-plane nodes, 1..=`count` (see [`NODES_PER_CLUSTER`]).
    pub fn nodes(&self, count: u8) -> Result<Vec<NodePlan>> {
        (1..=count).map(|j| NodePlan::new(self, j)).collect()
    }

    /// The cluster DNS Service address (`kube-dns`): the service CIDR's 10th address, as kubeadm
    /// and RKE place it.
    pub fn dns_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.pod_octet() + 1, 0, 10)
    }

    /// The CoreDNS release the cluster runs: 1.8.0 in cluster 1 (what RKE1 ships with Kubernetes
    /// 1.21, the seed's old cluster), the current release elsewhere (RKE2's `rke2-coredns`).
    pub fn coredns_version<'a>(&self, current: &'a str) -> &'a str {
        if self.index == 1 { "1.8.0" } else { current }
    }

    /// The default number of nodes of this cluster.
    pub fn default_node_count(&self) -> u8 {
        NODES_PER_CLUSTER[usize::from(self.index - 1)]
    }
}

/// Nodes per cluster that `up` makes exist in a lab of `clusters` clusters whose state records
/// `recorded` (index 0 = cluster 1; empty for a lab from before nodes): the layout's default, or
/// more when the lab already has more (nodes are added, never dropped, by `up`).
pub fn node_counts(clusters: u8, recorded: &[u8]) -> Vec<u8> {
    (1..=clusters.min(MAX_CLUSTERS))
        .map(|i| {
            let default = NODES_PER_CLUSTER[usize::from(i - 1)];
            recorded
                .get(usize::from(i - 1))
                .map_or(default, |r| default.max(*r))
        })
        .collect()
}

/// Names of the nodes the layout has but the recorded clusters lack (a lab started with an older
/// layout; clusters not recorded yet are new, not outdated): `up` adds them.
pub fn missing_nodes(clusters: u8, recorded: &[u8]) -> Vec<String> {
    node_counts(clusters, recorded)
        .iter()
        .zip(recorded)
        .zip(1..)
        .flat_map(|((want, have), i)| (have + 1..=*want).map(move |j| format!("c{i}-n{j}")))
        .collect()
}

/// One data-plane node: a network namespace on the lab bridge with flannel-style VXLAN, a `cni0`
/// bridge for pods, and a real kube-proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlan {
    /// Cluster index (1-based).
    pub cluster: u8,
    /// Node index within the cluster (1-based).
    pub index: u8,
    /// Kubernetes Node name, `c<i>-n<j>`.
    pub name: String,
    /// Network namespace, `cwl-c<i>-n<j>`.
    pub netns: String,
    /// Host end of the node's veth (on the lab bridge), `cwl-c<i>n<j>`.
    pub host_veth: String,
    /// `eth0` address (underlay / flannel public IP), 198.51.100.<10*i+j>/24.
    pub ip: Ipv4Addr,
    /// Pod CIDR network address, `10.<40+2i>.<j>.0` (also flannel.1's address, as /32).
    pub pod_net: Ipv4Addr,
    /// Pod CIDR prefix length (24).
    pub pod_prefix: u8,
    /// `cni0`'s address, the pods' default gateway: `10.<40+2i>.<j>.1`.
    pub gateway: Ipv4Addr,
    /// MAC of flannel.1 (the `VtepMAC`), fixed per node: `0e:c0:00:00:<i>:<j>`.
    pub vtep_mac: String,
}

impl NodePlan {
    /// Node `index` of `cluster`.
    pub fn new(cluster: &ClusterPlan, index: u8) -> Result<Self> {
        if index == 0 || index > MAX_NODES_PER_CLUSTER {
            return Err(Error::NodeCount {
                got: index,
                max: MAX_NODES_PER_CLUSTER,
            });
        }
        let i = cluster.index;
        let octet = cluster.pod_octet();
        Ok(Self {
            cluster: i,
            index,
            name: format!("c{i}-n{index}"),
            netns: format!("{DEVICE_PREFIX}c{i}-n{index}"),
            host_veth: format!("{DEVICE_PREFIX}c{i}n{index}"),
            ip: Ipv4Addr::new(198, 51, 100, 10 * i + index),
            pod_net: Ipv4Addr::new(10, octet, index, 0),
            pod_prefix: 24,
            gateway: Ipv4Addr::new(10, octet, index, 1),
            vtep_mac: format!("0e:c0:00:00:{i:02x}:{index:02x}"),
        })
    }

    /// The node's pod CIDR, e.g. `10.42.1.0/24`.
    pub fn pod_cidr(&self) -> String {
        format!("{}/{}", self.pod_net, self.pod_prefix)
    }

    /// Pod address `host` in the node's pod CIDR (2..=254; .0 is flannel.1, .1 is cni0).
    pub fn pod_ip(&self, host: u8) -> Ipv4Addr {
        let [a, b, c, _] = self.pod_net.octets();
        Ipv4Addr::new(a, b, c, host)
    }

    /// kube-proxy's component name (PID file, log).
    pub fn proxy_component(&self) -> String {
        format!("{}-kube-proxy", self.name)
    }

    /// The kubelet's component name (PID file, log).
    pub fn kubelet_component(&self) -> String {
        format!("{}-kubelet", self.name)
    }

    /// containerd's component name (PID file, log).
    pub fn containerd_component(&self) -> String {
        format!("{}-containerd", self.name)
    }

    /// The node's cgroup, created in every cgroup v1 hierarchy (and the unified one): the
    /// kubelet's `cgroupRoot`; containerd and the kubelet run in its `system` child, so every
    /// process of the node (shims and containers too) is inside it.
    pub fn cgroup(&self) -> String {
        self.netns.clone()
    }

    /// The lab user the node's kubelet authenticates as (the Node authorizer's name).
    pub fn kubelet_user(&self) -> String {
        format!("system:node:{}", self.name)
    }

    /// The first and last address the kubelet's pods may take ([`KUBELET_POD_HOSTS`]).
    pub fn kubelet_pod_range(&self) -> (Ipv4Addr, Ipv4Addr) {
        (
            self.pod_ip(*KUBELET_POD_HOSTS.start()),
            self.pod_ip(*KUBELET_POD_HOSTS.end()),
        )
    }
}

/// Paths under the lab directory (`$CAUSEWAY_LAB_DIR`, default `/tmp/causeway-lab`).
#[derive(Clone, Debug)]
pub struct LabPaths {
    root: PathBuf,
}

impl LabPaths {
    /// Paths rooted at `$CAUSEWAY_LAB_DIR` or `/tmp/causeway-lab`.
    pub fn from_env() -> Self {
        let root = std::env::var_os("CAUSEWAY_LAB_DIR")
            .map_or_else(|| PathBuf::from("/tmp/causeway-lab"), PathBuf::from);
        Self { root }
    }

    /// Paths rooted at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The lab directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lock file serialising `up`/`down` (beside the lab directory, survives `down`).
    pub fn lock_file(&self) -> PathBuf {
        self.root.with_extension("lock")
    }

    /// The state file written by `up`.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// Where PID files of started processes live.
    pub fn pid_dir(&self) -> PathBuf {
        self.root.join("pids")
    }

    /// etcd's data directory.
    pub fn etcd_dir(&self) -> PathBuf {
        self.root.join("etcd")
    }

    /// etcd's log.
    pub fn etcd_log(&self) -> PathBuf {
        self.root.join("etcd.log")
    }

    /// Directory of cluster `index`.
    pub fn cluster_dir(&self, index: u8) -> PathBuf {
        self.root.join(format!("c{index}"))
    }

    /// Admin kubeconfig of cluster `index`.
    pub fn admin_kubeconfig(&self, index: u8) -> PathBuf {
        self.cluster_dir(index).join("admin.kubeconfig")
    }

    /// Kubeconfig of cluster `index` for a named lab user (see [`crate::up::USERS`]).
    pub fn user_kubeconfig(&self, index: u8, user: &str) -> PathBuf {
        self.cluster_dir(index).join(format!("{user}.kubeconfig"))
    }

    /// Log file of a component of cluster `index`.
    pub fn log(&self, index: u8, component: &str) -> PathBuf {
        self.cluster_dir(index).join(format!("{component}.log"))
    }

    /// Where PID files of processes in pod namespaces live (apart from the lab's components, so
    /// a pod process that exits never makes the lab look broken).
    pub fn pod_pid_dir(&self) -> PathBuf {
        self.root.join("pod-pids")
    }

    /// The directory of node `name`'s kubelet and containerd (state, sockets, configs, logs of
    /// its pods).
    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.root.join("nodes").join(name)
    }

    /// Where pod records (address allocations) live.
    pub fn pod_dir(&self) -> PathBuf {
        self.root.join("pods")
    }

    /// Log file of a process in a pod.
    pub fn pod_log(&self, pod: &str, process: &str) -> PathBuf {
        self.root
            .join("pod-logs")
            .join(format!("{pod}-{process}.log"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_follow_the_seed_cidrs() {
        let c1 = ClusterPlan::new(1).unwrap();
        assert_eq!(
            (c1.pod_cidr.as_str(), c1.service_cidr.as_str()),
            ("10.42.0.0/16", "10.43.0.0/16")
        );
        let c2 = ClusterPlan::new(2).unwrap();
        assert_eq!(
            (c2.pod_cidr.as_str(), c2.service_cidr.as_str()),
            ("10.44.0.0/16", "10.45.0.0/16")
        );
        let c3 = ClusterPlan::new(3).unwrap();
        assert_eq!(
            (c3.pod_cidr.as_str(), c3.service_cidr.as_str()),
            ("10.46.0.0/16", "10.47.0.0/16")
        );
        assert_eq!(c2.server_url(), "https://198.51.100.2:6443");
    }

    #[test]
    fn nodes_follow_the_plan() {
        let c1 = ClusterPlan::new(1).unwrap();
        let c2 = ClusterPlan::new(2).unwrap();
        let c3 = ClusterPlan::new(3).unwrap();
        assert_eq!(
            (
                c1.default_node_count(),
                c2.default_node_count(),
                c3.default_node_count()
            ),
            (2, 2, 1)
        );
        let n = c1.nodes(c1.default_node_count()).unwrap();
        assert_eq!(n[0].name, "c1-n1");
        assert_eq!(n[0].netns, "cwl-c1-n1");
        assert_eq!(n[0].host_veth, "cwl-c1n1");
        assert_eq!(n[0].gateway, Ipv4Addr::new(10, 42, 1, 1));
        assert_eq!(n[0].vtep_mac, "0e:c0:00:00:01:01");
        assert_eq!(n[0].pod_ip(7), Ipv4Addr::new(10, 42, 1, 7));
        assert_eq!(n[1].vtep_mac, "0e:c0:00:00:01:02");
        let summary = |nodes: &[NodePlan]| -> Vec<(String, Ipv4Addr, String)> {
            nodes
                .iter()
                .map(|n| (n.name.clone(), n.ip, n.pod_cidr()))
                .collect()
        };
        assert_eq!(
            summary(&n),
            vec![
                (
                    "c1-n1".into(),
                    Ipv4Addr::new(198, 51, 100, 11),
                    "10.42.1.0/24".into()
                ),
                (
                    "c1-n2".into(),
                    Ipv4Addr::new(198, 51, 100, 12),
                    "10.42.2.0/24".into()
                ),
            ]
        );
        let n = c2.nodes(c2.default_node_count()).unwrap();
        assert_eq!(
            summary(&n),
            vec![
                (
                    "c2-n1".into(),
                    Ipv4Addr::new(198, 51, 100, 21),
                    "10.44.1.0/24".into()
                ),
                (
                    "c2-n2".into(),
                    Ipv4Addr::new(198, 51, 100, 22),
                    "10.44.2.0/24".into()
                ),
            ]
        );
        assert_eq!(n[1].proxy_component(), "c2-n2-kube-proxy");
        assert_eq!(n[1].kubelet_component(), "c2-n2-kubelet");
        assert_eq!(n[1].kubelet_user(), "system:node:c2-n2");
        assert_eq!(
            n[1].kubelet_pod_range(),
            (Ipv4Addr::new(10, 44, 2, 128), Ipv4Addr::new(10, 44, 2, 254))
        );
        assert_eq!(c2.dns_ip(), Ipv4Addr::new(10, 45, 0, 10));
        assert_eq!(c1.dns_ip(), Ipv4Addr::new(10, 43, 0, 10));
        assert_eq!(c1.coredns_version("1.14.7"), "1.8.0");
        assert_eq!(c2.coredns_version("1.14.7"), "1.14.7");
        assert!(STAND_IN_POD_HOSTS.end() < KUBELET_POD_HOSTS.start());
    }

    #[test]
    fn an_older_lab_grows_to_the_layout_and_never_shrinks() {
        // A lab from the one-node cluster 1 layout.
        assert_eq!(node_counts(2, &[1, 2]), [2, 2]);
        assert_eq!(missing_nodes(2, &[1, 2]), ["c1-n2"]);
        // Up to date, or from before nodes existed.
        assert_eq!(node_counts(3, &[2, 2, 1]), [2, 2, 1]);
        assert!(missing_nodes(3, &[2, 2, 1]).is_empty());
        assert_eq!(node_counts(2, &[]), [2, 2]);
        assert!(missing_nodes(2, &[]).is_empty());
        assert_eq!(missing_nodes(3, &[1, 2]), ["c1-n2"], "cluster 3 is new");
        // A cluster with more nodes than the layout keeps them.
        assert_eq!(node_counts(2, &[3, 2]), [3, 2]);
        assert!(missing_nodes(2, &[3, 2]).is_empty());
    }

    #[test]
    fn node_names_fit_interface_limits_for_every_cluster() {
        for i in 1..=MAX_CLUSTERS {
            let c = ClusterPlan::new(i).unwrap();
            for n in c.nodes(MAX_NODES_PER_CLUSTER).unwrap() {
                assert!(n.host_veth.len() <= 15, "{}", n.host_veth);
                assert!(n.host_veth.starts_with(DEVICE_PREFIX));
                assert!(n.netns.starts_with(DEVICE_PREFIX));
                assert!(
                    n.ip.octets()[3] > MAX_CLUSTERS,
                    "node IPs never hit an apiserver IP"
                );
                assert!(
                    c.pod_cidr
                        .starts_with(&format!("10.{}.", n.pod_net.octets()[1]))
                );
            }
        }
        let c1 = ClusterPlan::new(1).unwrap();
        assert!(matches!(
            NodePlan::new(&c1, 0),
            Err(Error::NodeCount { .. })
        ));
        assert!(matches!(
            NodePlan::new(&c1, 10),
            Err(Error::NodeCount { .. })
        ));
    }

    #[test]
    fn cluster_index_out_of_range_is_an_error() {
        assert!(matches!(
            ClusterPlan::new(0),
            Err(Error::ClusterCount { .. })
        ));
        assert!(matches!(
            ClusterPlan::new(9),
            Err(Error::ClusterCount { .. })
        ));
    }
}
