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
