//! Simulated pods: a network namespace `cwl-c<i>-p<name>` behind a lab node's `cni0`, holding one
//! address from the node's podCIDR, with a default route to the node (where the chain ends: nodes
//! have no default route). Processes started in a pod are tracked by PID file under
//! [`LabPaths::pod_pid_dir`], apart from the lab's own components, and `down` stops them.
//!
//! Addresses are allocated under a file lock from records in [`LabPaths::pod_dir`], so tests
//! running in parallel never collide; [`delete`] frees them.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use crate::layout::{DEVICE_PREFIX, NodePlan, POD_MTU, STAND_IN_POD_HOSTS};
use crate::netdev::run;
use crate::process::{self, Started};
use crate::{Error, LabPaths, Result, netns};

/// A pod namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// Network namespace, `cwl-c<i>-p<name>`.
    pub netns: String,
    /// The node it sits behind.
    pub node: NodePlan,
    /// Its address (from the node's podCIDR).
    pub ip: Ipv4Addr,
    /// The node-side end of its veth (inside the node namespace), `vp<last octet>`.
    pub node_veth: String,
}

/// The namespace name of pod `name` in `cluster`.
pub fn netns_name(cluster: u8, name: &str) -> String {
    format!("{DEVICE_PREFIX}c{cluster}-p{name}")
}

struct PodLock {
    _lock: Flock<File>,
}

fn lock(paths: &LabPaths) -> Result<PodLock> {
    let dir = paths.pod_dir();
    std::fs::create_dir_all(&dir).map_err(Error::io("failed to create", &dir))?;
    let path = dir.join(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io("failed to open lock file", &path))?;
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| Error::io("failed to lock", &path)(std::io::Error::from(errno)))?;
    Ok(PodLock { _lock: lock })
}

/// Addresses taken on `node` (from the records).
fn taken(paths: &LabPaths, node: &NodePlan) -> Vec<Ipv4Addr> {
    let Ok(entries) = std::fs::read_dir(paths.pod_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|text| {
            let mut lines = text.lines();
            let ip: Ipv4Addr = lines.next()?.trim().parse().ok()?;
            (lines.next()?.trim() == node.name).then_some(ip)
        })
        .collect()
}

/// Creates pod `name` behind `node` (a lab node of the running lab) with the lowest free address
/// of the node's podCIDR among [`STAND_IN_POD_HOSTS`] (the kubelet's pods take the others). `name` must be unique in the cluster (e.g. from a test's unique name);
/// the namespace name must stay a valid file name.
pub fn create(paths: &LabPaths, node: &NodePlan, name: &str) -> Result<Pod> {
    if !netns::exists(&node.netns) {
        return Err(Error::NoSuchNode {
            node: node.name.clone(),
        });
    }
    let ns = netns_name(node.cluster, name);
    let record = paths.pod_dir().join(&ns);
    let ip = {
        let _lock = lock(paths)?;
        let used = taken(paths, node);
        let ip = STAND_IN_POD_HOSTS
            .map(|h| node.pod_ip(h))
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| Error::PodCidrFull {
                node: node.name.clone(),
                cidr: node.pod_cidr(),
            })?;
        std::fs::write(&record, format!("{ip}\n{}\n", node.name))
            .map_err(Error::io("failed to write", &record))?;
        ip
    };
    let pod = Pod {
        netns: ns,
        node: node.clone(),
        ip,
        node_veth: format!("vp{}", ip.octets()[3]),
    };
    if let Err(err) = build(&pod) {
        let _ = delete(paths, &pod);
        return Err(err);
    }
    Ok(pod)
}

fn build(pod: &Pod) -> Result<()> {
    let ns = pod.netns.as_str();
    let node_ns = pod.node.netns.as_str();
    if netns::exists(ns) {
        run("ip", &["netns", "del", ns])?;
    }
    let _ = run("ip", &["-n", node_ns, "link", "del", &pod.node_veth]);
    run("ip", &["netns", "add", ns])?;
    run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
    let mtu = POD_MTU.to_string();
    run(
        "ip",
        &[
            "-n",
            node_ns,
            "link",
            "add",
            &pod.node_veth,
            "mtu",
            &mtu,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "mtu",
            &mtu,
            "netns",
            ns,
        ],
    )?;
    run(
        "ip",
        &[
            "-n",
            node_ns,
            "link",
            "set",
            &pod.node_veth,
            "master",
            "cni0",
            "up",
        ],
    )?;
    // The node may still hold a neighbour entry for this address from an earlier pod (addresses
    // are reused, lowest first): packets would go to that pod's MAC until the entry expires
    // (seconds of silence). Forget it, so the first packet asks for the new pod's MAC.
    forget_neighbour(pod);
    let cidr = format!("{}/{}", pod.ip, pod.node.pod_prefix);
    run("ip", &["-n", ns, "addr", "add", &cidr, "dev", "eth0"])?;
    run("ip", &["-n", ns, "link", "set", "eth0", "up"])?;
    run(
        "ip",
        &[
            "-n",
            ns,
            "route",
            "add",
            "default",
            "via",
            &pod.node.gateway.to_string(),
        ],
    )?;
    Ok(())
}

fn forget_neighbour(pod: &Pod) {
    let ip = pod.ip.to_string();
    let _ = run(
        "ip",
        &["-n", &pod.node.netns, "neigh", "del", &ip, "dev", "cni0"],
    );
}

/// Starts `bin args…` inside the pod (`ip netns exec`), detached and recorded as
/// `<pod netns>-<process>` in [`LabPaths::pod_pid_dir`]; output goes to [`LabPaths::pod_log`].
pub fn spawn(
    paths: &LabPaths,
    pod: &Pod,
    process: &str,
    bin: &Path,
    args: &[String],
) -> Result<Started> {
    let log = paths.pod_log(&pod.netns, process);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io("failed to create", dir))?;
    }
    process::spawn_in(
        &format!("{}-{process}", pod.netns),
        Some(&pod.netns),
        bin,
        args,
        &log,
        &paths.pod_pid_dir(),
    )
}

/// Stops the pod's processes, deletes its veth, namespace and address record. Tolerates parts
/// that are already gone.
pub fn delete(paths: &LabPaths, pod: &Pod) -> Result<()> {
    let prefix = format!("{}-", pod.netns);
    for p in process::list(&paths.pod_pid_dir()) {
        if p.name.starts_with(&prefix) {
            process::stop_one(&paths.pod_pid_dir(), &p.name, Duration::from_secs(2));
        }
    }
    let _ = run(
        "ip",
        &["-n", &pod.node.netns, "link", "del", &pod.node_veth],
    );
    forget_neighbour(pod);
    if netns::exists(&pod.netns) {
        run("ip", &["netns", "del", &pod.netns])?;
    }
    let record = paths.pod_dir().join(&pod.netns);
    let _lock = lock(paths)?;
    match std::fs::remove_file(&record) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("failed to remove", record)(e)),
    }
}
