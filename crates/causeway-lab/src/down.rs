//! `causeway-lab down`: stops every process the lab recorded (pod processes, then kube-proxies,
//! then the control plane), deletes its network namespaces (nodes, pods) and `cwl-*` devices, and removes the lab directory, leaving the host as it was.

use std::time::Duration;

use crate::lock::LabLock;
use crate::{LabPaths, Result, netdev, process};

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

/// True for components that run inside node namespaces (kube-proxy), which `up` restarts on its
/// own instead of treating the lab as broken.
pub fn is_node_component(name: &str) -> bool {
    name.ends_with("-kube-proxy")
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
