//! causeway's development lab: N independent Kubernetes clusters on one Linux machine, built from
//! real upstream components (etcd, kube-apiserver, kube-controller-manager, kube-proxy).
//!
//! Flow of `up`: [`kubebin`] builds or finds the cached binaries → [`netdev`] creates the lab
//! bridge `cwl-br0` that carries each apiserver's address → [`process`] starts one etcd and, per
//! cluster, an apiserver and a controller-manager as detached processes whose PIDs are recorded
//! under the lab directory → [`ready`] waits for `/readyz`, the `default` namespace and service
//! account, and installs causeway's CRDs → [`nodes`] builds each cluster's data-plane nodes
//! (network namespaces with flannel-style VXLAN, `cni0`, Node objects) and runs a real kube-proxy
//! in each. [`pods`] adds simulated pods behind a node for tests and the demo. `down` stops
//! exactly the recorded PIDs and deletes the lab's own namespaces, devices and files. [`layout`]
//! is the pure plan (addresses, CIDRs, nodes, paths) all of them read. [`demo`] runs the seed's
//! migration scenario on top: causeway's daemons as detached, PID-recorded processes, a kubelet
//! stand-in for the workload, and a request loop inside a pod namespace.

pub mod cgroup;
pub mod coredns;
pub mod demo;
pub mod down;
pub mod error;
pub mod host_paths;
pub mod images;
pub mod kubebin;
pub mod kubeconfig;
pub mod layout;
pub mod lock;
pub mod mounts;
pub mod netdev;
pub mod netns;
pub mod node_runtime;
pub mod nodes;
pub mod pods;
pub mod process;
pub mod ready;
pub mod state;
pub mod status;
pub mod up;

pub use error::{Error, Result};
pub use layout::{ClusterPlan, LabPaths, NodePlan};
pub use up::{UpOptions, up};

/// A client for cluster `index` (1-based) of the running lab, as the lab admin.
pub async fn admin_client(paths: &LabPaths, index: u8) -> Result<kube::Client> {
    kubeconfig::client_from_file(&paths.admin_kubeconfig(index)).await
}
