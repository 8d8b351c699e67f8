//! The kubelet of a lab node, as configuration: its `KubeletConfiguration` and flags (pure).
//!
//! Choices: cgroupfs driver on the host's cgroup v1 (`failCgroupV1: false`), the node's own
//! cgroup as `cgroupRoot`; the API on the node's address with anonymous requests allowed (the
//! apiserver reaches it for `logs`, `exec` and `port-forward` without a client certificate; only
//! the lab bridge and lab namespaces can reach that address); health on the namespace's own
//! 127.0.0.1; cluster DNS at the cluster's `kube-dns` address; eviction and image garbage
//! collection thresholds that a shared developer disk never trips; pod logs under the lab
//! directory.

use std::path::Path;

use serde_json::{Value, json};

use crate::layout::{KUBELET_HEALTHZ_PORT, KUBELET_PORT, NodePlan};
use crate::{ClusterPlan, LabPaths};

/// The node's kubelet files, under [`LabPaths::node_dir`].
pub struct KubeletFiles {
    /// `--root-dir`.
    pub root_dir: std::path::PathBuf,
    /// `--config`.
    pub config: std::path::PathBuf,
    /// Serving certificate directory (`--cert-dir`; the kubelet signs its own).
    pub cert_dir: std::path::PathBuf,
    /// Pod logs (`podLogsDir`).
    pub pod_logs: std::path::PathBuf,
    /// The `resolv.conf` pods with `dnsPolicy: Default` get (`resolvConf`).
    pub resolv_conf: std::path::PathBuf,
}

impl KubeletFiles {
    /// The files of `node`.
    pub fn of(paths: &LabPaths, node: &NodePlan) -> Self {
        let dir = paths.node_dir(&node.name);
        Self {
            root_dir: dir.join("kubelet"),
            config: dir.join("kubelet.json"),
            cert_dir: dir.join("kubelet-pki"),
            pod_logs: dir.join("pod-logs"),
            resolv_conf: dir.join("resolv.conf"),
        }
    }
}

/// The `KubeletConfiguration` of `node` (JSON is YAML, which the kubelet reads).
pub fn config(
    cluster: &ClusterPlan,
    node: &NodePlan,
    files: &KubeletFiles,
    runtime_socket: &Path,
) -> Value {
    json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": false,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": format!("/{}", node.cgroup()),
        "cgroupsPerQOS": true,
        "enforceNodeAllocatable": ["pods"],
        "address": node.ip.to_string(),
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": KUBELET_HEALTHZ_PORT,
        "authentication": {
            "anonymous": {"enabled": true},
            "webhook": {"enabled": false},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDomain": "cluster.local",
        "clusterDNS": [cluster.dns_ip().to_string()],
        "containerRuntimeEndpoint": format!("unix://{}", runtime_socket.display()),
        "podLogsDir": files.pod_logs.display().to_string(),
        "resolvConf": files.resolv_conf.display().to_string(),
        "failSwapOn": false,
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": false,
        "localStorageCapacityIsolation": false,
        "containerLogMaxSize": "1Mi",
        "containerLogMaxFiles": 2,
        "shutdownGracePeriod": "0s",
        "shutdownGracePeriodCriticalPods": "0s",
        "staticPodPath": "",
        "syncFrequency": "10s",
        "fileCheckFrequency": "0s",
    })
}

/// The kubelet's flags for `node`.
pub fn args(paths: &LabPaths, node: &NodePlan, files: &KubeletFiles) -> Vec<String> {
    vec![
        format!("--config={}", files.config.display()),
        format!(
            "--kubeconfig={}",
            paths
                .user_kubeconfig(node.cluster, &format!("kubelet-{}", node.name))
                .display()
        ),
        format!("--node-ip={}", node.ip),
        format!("--hostname-override={}", node.name),
        format!("--root-dir={}", files.root_dir.display()),
        format!("--cert-dir={}", files.cert_dir.display()),
        format!("--node-labels={}=true", crate::layout::LAB_NODE_LABEL),
        "--v=1".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_points_at_the_nodes_own_places() {
        let paths = LabPaths::at("/tmp/lab");
        let c2 = ClusterPlan::new(2).unwrap();
        let node = NodePlan::new(&c2, 1).unwrap();
        let files = KubeletFiles::of(&paths, &node);
        let sock = paths.node_dir(&node.name).join("containerd.sock");
        let cfg = config(&c2, &node, &files, &sock);
        assert_eq!(cfg["cgroupRoot"], "/cwl-c2-n1");
        assert_eq!(cfg["address"], "198.51.100.21");
        assert_eq!(cfg["clusterDNS"], json!(["10.45.0.10"]));
        assert_eq!(
            cfg["containerRuntimeEndpoint"],
            "unix:///tmp/lab/nodes/c2-n1/containerd.sock"
        );
        assert_eq!(cfg["failCgroupV1"], false);
        let flags = args(&paths, &node, &files);
        assert!(flags.contains(&"--node-ip=198.51.100.21".to_owned()));
        assert!(flags.contains(&"--hostname-override=c2-n1".to_owned()));
        assert!(
            flags
                .iter()
                .any(|f| f == "--kubeconfig=/tmp/lab/c2/kubelet-c2-n1.kubeconfig")
        );
    }
}
