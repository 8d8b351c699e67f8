//! `causeway-lab down`: stops every process the lab recorded (pod processes, then the nodes'
//! kubelets and containerds with everything in their cgroups, then kube-proxies, then the control
//! plane), unmounts what the nodes mounted under the lab directory, deletes its network
//! namespaces (nodes, pods) and `cwl-*` devices, and removes the lab directory, leaving the
//! host as it was.

use std::time::Duration;

use crate::lock::LabLock;
use crate::{LabPaths, Result, host_paths, mounts, netdev, node_runtime, process};

/// What `down` removed.
#[derive(Clone, Debug, Default)]
pub struct Removed {
    /// Processes that were still running.
    pub processes: Vec<String>,
    /// Namespaces and devices.
    pub devices: Vec<String>,
    /// Whether the lab directory existed.
    pub directory: bool,
}

/// True for components that `up` restarts on its own instead of treating the lab as broken: those
/// of the nodes (kube-proxy, kubelet, containerd) and the kube-scheduler.
pub fn is_node_component(name: &str) -> bool {
    ["-kube-proxy", "-kubelet", "-containerd", "-kube-scheduler"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// Tears the lab down (takes the lab lock).
pub fn down(paths: &LabPaths) -> Result<Removed> {
    let _lock = LabLock::acquire(paths)?;
    Ok(down_locked(paths))
}

/// Tears the lab down; the caller holds the lab lock.
pub fn down_locked(paths: &LabPaths) -> Removed {
    // Pod processes and kube-proxies first, so they do not log errors about a vanished apiserver.
    let mut processes = process::stop_all(&paths.pod_pid_dir(), Duration::from_secs(2));
    // Kubelets, containerds and what runs in the nodes' cgroups (shims, containers), then the
    // mounts they leave under the lab directory (overlays, volumes, pod network namespaces).
    let (stopped, failed) = node_runtime::stop_all(paths);
    processes.extend(stopped);
    for f in &failed {
        eprintln!("lab: {f}");
    }
    mounts::unmount_under(paths.root());
    host_paths::clean(paths);
    processes.extend(process::stop_where(
        &paths.pid_dir(),
        Duration::from_secs(5),
        is_node_component,
    ));
    processes.extend(process::stop_all(&paths.pid_dir(), Duration::from_secs(5)));
    let devices = netdev::remove_all();
    let directory = paths.root().exists();
    if directory {
        let _ = std::fs::remove_dir_all(paths.root());
    }
    Removed {
        processes,
        devices,
        directory,
    }
}
