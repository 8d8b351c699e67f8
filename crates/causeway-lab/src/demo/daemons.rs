//! causeway's daemons as the demo runs them, each as its lab user with the shipped RBAC:
//! `causeway netpeer run` in every node namespace (only CAP_NET_ADMIN, reading the peer cluster
//! with its read-only credential), two `causeway controller` replicas per cluster electing a
//! leader, and one `causeway dns` per cluster on the cluster's lab bridge address. Every process is
//! detached and recorded by PID file (`demo-*` in [`LabPaths::pod_pid_dir`]), so the demo's
//! teardown and `causeway-lab down` stop it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{self, Started};
use crate::{ClusterPlan, Error, LabPaths, NodePlan, Result};

/// Prefix of every demo daemon's PID file.
pub const PREFIX: &str = "demo-";
/// The controllers' Lease (in `causeway-system`), apart from the tests' Leases.
pub const LEASE: &str = "causeway-demo";
/// The DNS servers' Lease (in `causeway-system`): its holder writes `DnsResolvable`.
pub const DNS_LEASE: &str = "causeway-demo-dns";
/// Port of `causeway dns` on each cluster's lab bridge address.
pub const DNS_PORT: u16 = 5353;

/// The demo's log directory.
pub fn log_dir(paths: &LabPaths) -> PathBuf {
    paths.root().join("demo")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn peer_of(cluster: u8) -> u8 {
    if cluster == 1 { 2 } else { 1 }
}

fn spawn(
    paths: &LabPaths,
    name: &str,
    prefix: &[String],
    bin: &Path,
    args: &[String],
) -> Result<Started> {
    let dir = log_dir(paths);
    std::fs::create_dir_all(&dir).map_err(Error::io("failed to create", &dir))?;
    let full = format!("{PREFIX}{name}");
    process::spawn_wrapped(
        &full,
        prefix,
        bin,
        args,
        &dir.join(format!("{name}.log")),
        &paths.pod_pid_dir(),
    )
}

/// The CIDR flags of netpeer on a node of `cluster`.
fn cidr_flags(cluster: u8) -> Result<Vec<String>> {
    let own = ClusterPlan::new(cluster)?;
    let peer = ClusterPlan::new(peer_of(cluster))?;
    Ok(vec![
        "--cluster-cidr".into(),
        own.pod_cidr,
        "--peer-cluster-cidr".into(),
        peer.pod_cidr,
        "--local-service-cidr".into(),
        own.service_cidr,
        "--peer-service-cidr".into(),
        peer.service_cidr,
    ])
}

/// `ip netns exec <node> setpriv (CAP_NET_ADMIN only)`.
fn in_node(node: &NodePlan) -> Vec<String> {
    strings(&[
        "ip",
        "netns",
        "exec",
        &node.netns,
        "setpriv",
        "--bounding-set=-all,+net_admin",
        "--inh-caps=-all",
    ])
}

/// Starts `causeway netpeer run` on `node`.
pub fn start_netpeer(paths: &LabPaths, causeway: &Path, node: &NodePlan) -> Result<Started> {
    let peer_kubeconfig = paths.user_kubeconfig(peer_of(node.cluster), "causeway-netpeer");
    let mut args = strings(&[
        "netpeer",
        "run",
        "--peer-kubeconfig",
        &peer_kubeconfig.display().to_string(),
        "--node-name",
        &node.name,
        "--admin-addr",
        "127.0.0.1:0",
        "--resync-seconds",
        "10",
        "--log-level",
        "info,kube=warn",
    ]);
    args.extend(cidr_flags(node.cluster)?);
    spawn(
        paths,
        &format!("netpeer-{}", node.name),
        &in_node(node),
        causeway,
        &args,
    )
}

/// Removes every entry netpeer made on `node` (the agents keep them when they stop).
pub fn cleanup_netpeer(causeway: &Path, node: &NodePlan) -> Result<()> {
    let peer = ClusterPlan::new(peer_of(node.cluster))?;
    let mut command = in_node(node);
    command.extend(strings(&[
        &causeway.display().to_string(),
        "netpeer",
        "cleanup",
        "--peer-cluster-cidr",
        &peer.pod_cidr,
        "--log-level",
        "warn",
    ]));
    let refs: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    crate::netdev::run(&command[0], &refs).map(|_| ())
}

/// Starts controller replica `replica` (a, b) of `cluster`.
pub fn start_controller(
    paths: &LabPaths,
    causeway: &Path,
    cluster: u8,
    replica: &str,
) -> Result<Started> {
    let kubeconfig = paths.user_kubeconfig(cluster, "causeway-controller");
    let identity = format!("demo-c{cluster}-controller-{replica}");
    let args = strings(&[
        "controller",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--admin-addr",
        "127.0.0.1:0",
        "--leader-election-namespace",
        "causeway-system",
        "--leader-election-id",
        LEASE,
        "--leader-election-identity",
        &identity,
        "--leader-election-lease-duration",
        "6",
        "--leader-election-renew-grace",
        "2",
        "--namespace",
        super::replicas::NAMESPACE,
        "--peer-grace",
        "20",
        "--log-level",
        "info,kube=warn",
    ]);
    spawn(
        paths,
        &format!("c{cluster}-controller-{replica}"),
        &[],
        causeway,
        &args,
    )
}

/// The address `causeway dns` of `cluster` listens on: the cluster's lab bridge address (pods
/// reach it through their node, whose masquerade rule gives them the node's on-link address).
pub fn dns_addr(cluster: u8) -> Result<SocketAddr> {
    let plan = ClusterPlan::new(cluster)?;
    Ok(SocketAddr::from((plan.api_ip, DNS_PORT)))
}

/// Starts `causeway dns` for `cluster`.
pub fn start_dns(paths: &LabPaths, causeway: &Path, cluster: u8) -> Result<Started> {
    let kubeconfig = paths.user_kubeconfig(cluster, "causeway-dns");
    let args = strings(&[
        "dns",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--listen",
        &dns_addr(cluster)?.to_string(),
        "--admin-addr",
        "127.0.0.1:0",
        "--leader-election-id",
        DNS_LEASE,
        "--log-level",
        "info,kube=warn",
    ]);
    spawn(paths, &format!("c{cluster}-dns"), &[], causeway, &args)
}

/// Fails with the log's tail when a demo daemon is no longer running.
pub fn check_alive(paths: &LabPaths) -> Result<()> {
    for p in process::list(&paths.pod_pid_dir()) {
        if let Some(name) = p.name.strip_prefix(PREFIX)
            && !process::alive(p.pid, &p.exe)
        {
            let log = log_dir(paths).join(format!("{name}.log"));
            return Err(Error::ComponentExited {
                component: p.name.clone(),
                tail: process::tail(&log, 15),
                log,
            });
        }
    }
    Ok(())
}

/// Stops every demo daemon (by PID file); returns their names.
pub fn stop_all(paths: &LabPaths) -> Vec<String> {
    let names = process::stop_where(&paths.pod_pid_dir(), Duration::from_secs(3), |n| {
        n.starts_with(PREFIX)
    });
    for p in process::list(&paths.pod_pid_dir()) {
        if p.name.starts_with(PREFIX) {
            let _ = std::fs::remove_file(paths.pod_pid_dir().join(format!("{}.pid", p.name)));
        }
    }
    names
}

/// Runs `causeway join --both` between clusters 1 and 2 (admin kubeconfigs).
pub async fn join(paths: &LabPaths, causeway: &Path) -> Result<String> {
    let out = tokio::process::Command::new(causeway)
        .args([
            "join",
            "--kubeconfig",
            &paths.admin_kubeconfig(1).display().to_string(),
            "--peer-kubeconfig",
            &paths.admin_kubeconfig(2).display().to_string(),
            "--both",
            "--log-level",
            "warn",
        ])
        .output()
        .await
        .map_err(Error::io("failed to run", causeway))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(Error::DemoStep {
            step: "causeway join --both",
            detail: text,
        });
    }
    Ok(text)
}
