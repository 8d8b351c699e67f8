//! Data-plane nodes: per cluster, network namespaces that look like flannel VXLAN nodes, their
//! `Node` objects, and a real kube-proxy in each.
//!
//! Flow per node ([`ensure_all`]): namespace `cwl-c<i>-n<j>` with `lo` up → veth `eth0` whose host
//! end `cwl-c<i>n<j>` joins the lab bridge (198.51.100.<10i+j>/24, no default route) →
//! `ip_forward=1` → `flannel.1` (VNI 1, port 8472, nolearning, fixed VtepMAC, podCIDR network /32)
//! → bridge `cni0` (podCIDR .1/24) → the cluster's Service CIDR on-link via `eth0` (kube-proxy's
//! DNAT needs a route to exist, lab-notes §6) → flannel's intra-cluster neighbour/FDB/route entries
//! and its MASQUERADE rule, as flanneld would program them. Then the `Node` object (addresses,
//! podCIDR, flannel annotations) and kube-proxy (`ip netns exec`, nftables mode, PID-file
//! tracked), and a wait for kube-proxy's `/healthz` inside the namespace.
//!
//! Idempotent: a namespace whose last setup step (the Service route) exists is kept (its
//! intra-cluster entries are re-applied, so a cluster that grew a node reaches it); one that is
//! half-built is deleted and rebuilt; a dead kube-proxy is restarted.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::layout::{BRIDGE, NodePlan, POD_MTU, VXLAN_DEVICE, VXLAN_PORT, VXLAN_VNI};
use crate::netdev::run;
use crate::process::{self, Started};
use crate::{ClusterPlan, Error, LabPaths, Result, netns};

/// kube-proxy's health endpoint inside each node namespace.
pub const PROXY_HEALTHZ: &str = "127.0.0.1:10256";
/// kube-proxy's metrics endpoint inside each node namespace.
pub const PROXY_METRICS: &str = "127.0.0.1:10249";
/// How long kube-proxy may take to report healthy.
pub const PROXY_TIMEOUT: Duration = Duration::from_secs(60);
/// Field manager for the lab's Node objects.
const FIELD_MANAGER: &str = "causeway-lab";

fn ip_in(ns: &str, args: &[&str]) -> Result<String> {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    run("ip", &full)
}

fn exec_in(ns: &str, args: &[&str]) -> Result<String> {
    let mut full = vec!["netns", "exec", ns];
    full.extend_from_slice(args);
    run("ip", &full)
}

/// True when the node namespace is fully set up (its last step, the Service route, exists).
fn network_complete(cluster: &ClusterPlan, node: &NodePlan) -> bool {
    netns::exists(&node.netns)
        && ip_in(&node.netns, &["route", "show", &cluster.service_cidr])
            .is_ok_and(|out| !out.trim().is_empty())
}

/// Creates the node's namespace and devices (see the module docs); `same_cluster` are all nodes
/// of its cluster, for flannel's intra-cluster entries. Keeps a complete namespace as it is.
pub fn ensure_network(
    cluster: &ClusterPlan,
    node: &NodePlan,
    same_cluster: &[NodePlan],
) -> Result<bool> {
    if network_complete(cluster, node) {
        // A cluster that grew (a lab started with an older layout) needs its new nodes' entries
        // on the nodes it kept; with flannel's replace/append semantics this is a no-op otherwise.
        program_flannel(node, same_cluster)?;
        return Ok(false);
    }
    let ns = node.netns.as_str();
    if netns::exists(ns) {
        run("ip", &["netns", "del", ns])?;
    }
    if run("ip", &["link", "show", &node.host_veth]).is_ok() {
        run("ip", &["link", "del", &node.host_veth])?;
    }
    run("ip", &["netns", "add", ns])?;
    ip_in(ns, &["link", "set", "lo", "up"])?;
    run(
        "ip",
        &[
            "link",
            "add",
            &node.host_veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        ],
    )?;
    run(
        "ip",
        &["link", "set", &node.host_veth, "master", BRIDGE, "up"],
    )?;
    ip_in(
        ns,
        &["addr", "add", &format!("{}/24", node.ip), "dev", "eth0"],
    )?;
    ip_in(ns, &["link", "set", "eth0", "up"])?;
    exec_in(
        ns,
        &[
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.bridge.bridge-nf-call-iptables=1",
        ],
    )?;

    create_vxlan(node)?;
    ip_in(
        ns,
        &[
            "link",
            "add",
            "cni0",
            // A fixed address, as the bridge CNI plugin sets one: otherwise the bridge takes the
            // lowest MAC of its ports and changes it when that pod goes, and every other pod on
            // the node sends to a stale gateway MAC until its ARP entry expires (seconds).
            "address",
            &node.vtep_mac.replacen("0e:c0", "0e:c1", 1),
            "mtu",
            &POD_MTU.to_string(),
            "type",
            "bridge",
        ],
    )?;
    ip_in(
        ns,
        &[
            "addr",
            "add",
            &format!("{}/{}", node.gateway, node.pod_prefix),
            "dev",
            "cni0",
        ],
    )?;
    ip_in(ns, &["link", "set", "cni0", "up"])?;

    program_flannel(node, same_cluster)?;
    // flannel's masquerade for traffic leaving the cluster's pod network.
    exec_in(
        ns,
        &[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            &cluster.pod_cidr,
            "!",
            "-d",
            &cluster.pod_cidr,
            "-j",
            "MASQUERADE",
        ],
    )?;
    // Last step (marks the namespace complete): the Service CIDR on-link, lab-notes §6.
    ip_in(ns, &["route", "add", &cluster.service_cidr, "dev", "eth0"])?;
    Ok(true)
}

/// Creates flannel.1 as flanneld does: VXLAN VNI 1 on port 8472 over `eth0`, nolearning, the
/// node's fixed VtepMAC, the podCIDR network address as /32.
fn create_vxlan(node: &NodePlan) -> Result<()> {
    let ns = node.netns.as_str();
    let local = node.ip.to_string();
    let vni = VXLAN_VNI.to_string();
    let port = VXLAN_PORT.to_string();
    ip_in(
        ns,
        &[
            "link",
            "add",
            VXLAN_DEVICE,
            "address",
            &node.vtep_mac,
            "type",
            "vxlan",
            "id",
            &vni,
            "local",
            &local,
            "dev",
            "eth0",
            "dstport",
            &port,
            "nolearning",
        ],
    )?;
    ip_in(
        ns,
        &[
            "addr",
            "add",
            &format!("{}/32", node.pod_net),
            "dev",
            VXLAN_DEVICE,
        ],
    )?;
    ip_in(ns, &["link", "set", VXLAN_DEVICE, "up"])?;
    Ok(())
}

/// flanneld's intra-cluster work: one neighbour, FDB entry and onlink route per other node.
fn program_flannel(node: &NodePlan, same_cluster: &[NodePlan]) -> Result<()> {
    let ns = node.netns.as_str();
    for other in same_cluster.iter().filter(|o| o.name != node.name) {
        let vtep = other.pod_net.to_string();
        ip_in(
            ns,
            &[
                "neigh",
                "replace",
                &vtep,
                "lladdr",
                &other.vtep_mac,
                "dev",
                VXLAN_DEVICE,
                "nud",
                "permanent",
            ],
        )?;
        exec_in(
            ns,
            &[
                "bridge",
                "fdb",
                "append",
                &other.vtep_mac,
                "dev",
                VXLAN_DEVICE,
                "dst",
                &other.ip.to_string(),
                "self",
                "permanent",
            ],
        )?;
        ip_in(
            ns,
            &[
                "route",
                "replace",
                &other.pod_cidr(),
                "via",
                &vtep,
                "dev",
                VXLAN_DEVICE,
                "onlink",
            ],
        )?;
    }
    Ok(())
}

/// Deletes and recreates `node`'s flannel.1 with the same MAC and address and re-programs
/// flannel's intra-cluster entries, as a flanneld restart does: the kernel drops every entry on
/// the old device (netpeer's included).
pub fn recreate_vxlan(node: &NodePlan, same_cluster: &[NodePlan]) -> Result<()> {
    ip_in(&node.netns, &["link", "del", VXLAN_DEVICE])?;
    create_vxlan(node)?;
    program_flannel(node, same_cluster)
}

/// The `Node` object flannel and kubelet would have produced for `node`.
pub fn node_object(node: &NodePlan) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "causeway.dev/lab-node": "true",
            },
            "annotations": {
                "flannel.alpha.coreos.com/public-ip": node.ip.to_string(),
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/backend-data":
                    format!(r#"{{"VNI":{VXLAN_VNI},"VtepMAC":"{}"}}"#, node.vtep_mac),
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            },
        },
        "spec": {
            "podCIDR": node.pod_cidr(),
            "podCIDRs": [node.pod_cidr()],
        },
    })
}

/// Creates or updates the Node object (server-side apply), then its status addresses.
pub async fn ensure_node_object(client: &kube::Client, node: &NodePlan) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&node.name, &params, &Patch::Apply(node_object(node)))
        .await
        .map_err(Error::kube("apply node", node.cluster))?;
    let status = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node.ip.to_string()},
                {"type": "Hostname", "address": node.name},
            ],
        },
    });
    api.patch_status(&node.name, &params, &Patch::Apply(status))
        .await
        .map_err(Error::kube("apply node status", node.cluster))?;
    Ok(())
}

/// kube-proxy's flags for `node`.
pub fn proxy_args(paths: &LabPaths, cluster: &ClusterPlan, node: &NodePlan) -> Vec<String> {
    vec![
        format!(
            "--kubeconfig={}",
            paths.user_kubeconfig(cluster.index, "kube-proxy").display()
        ),
        format!("--hostname-override={}", node.name),
        "--proxy-mode=nftables".to_owned(),
        "--conntrack-max-per-core=0".to_owned(),
        format!("--cluster-cidr={}", cluster.pod_cidr),
        format!("--healthz-bind-address={PROXY_HEALTHZ}"),
        format!("--metrics-bind-address={PROXY_METRICS}"),
    ]
}

/// Starts kube-proxy in `node`'s namespace unless it already runs; returns it when started.
pub fn ensure_proxy(
    paths: &LabPaths,
    bin_dir: &Path,
    cluster: &ClusterPlan,
    node: &NodePlan,
) -> Result<Option<Started>> {
    let bin = bin_dir.join("kube-proxy");
    let name = node.proxy_component();
    let running = process::list(&paths.pid_dir())
        .into_iter()
        .any(|p| p.name == name && process::alive(p.pid, &p.exe));
    if running {
        return Ok(None);
    }
    process::spawn_in(
        &name,
        Some(&node.netns),
        &bin,
        &proxy_args(paths, cluster, node),
        &paths.log(cluster.index, &name),
        &paths.pid_dir(),
    )
    .map(Some)
}

/// Waits until kube-proxy in `node`'s namespace answers `/healthz` with 200 (it has synced its
/// rules), failing early when it exits.
pub async fn wait_proxy(paths: &LabPaths, bin_dir: &Path, node: &NodePlan) -> Result<()> {
    let bin = bin_dir.join("kube-proxy");
    let name = node.proxy_component();
    let log = paths.log(node.cluster, &name);
    let addr: SocketAddr = PROXY_HEALTHZ.parse().map_err(|_| Error::NoSuchNode {
        node: node.name.clone(),
    })?;
    let deadline = Instant::now() + PROXY_TIMEOUT;
    loop {
        let pid = process::list(&paths.pid_dir())
            .into_iter()
            .find(|p| p.name == name);
        if !pid.is_some_and(|p| process::alive(p.pid, &bin)) {
            return Err(Error::ComponentExited {
                component: name,
                tail: process::tail(&log, 15),
                log,
            });
        }
        let ns = node.netns.clone();
        let healthy = tokio::task::spawn_blocking(move || {
            netns::http_get(&ns, addr, "/healthz").is_some_and(|(status, _)| status == 200)
        })
        .await
        .unwrap_or(false);
        if healthy {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::ProxyNotReady {
                node: node.name.clone(),
                seconds: PROXY_TIMEOUT.as_secs(),
                tail: process::tail(&log, 15),
                log,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Makes every node of every cluster exist and run (see the module docs): namespaces and Node
/// objects first, then every kube-proxy, then one wait for all of them.
pub async fn ensure_all(
    paths: &LabPaths,
    bin_dir: &Path,
    clusters: &[(ClusterPlan, Vec<NodePlan>)],
) -> Result<()> {
    for (cluster, nodes) in clusters {
        let client = crate::admin_client(paths, cluster.index).await?;
        for node in nodes {
            if ensure_network(cluster, node, nodes)? {
                eprintln!(
                    "lab: node {} ({}, pods {}) created in namespace {}",
                    node.name,
                    node.ip,
                    node.pod_cidr(),
                    node.netns
                );
            }
            ensure_node_object(&client, node).await?;
        }
    }
    for (cluster, nodes) in clusters {
        for node in nodes {
            ensure_proxy(paths, bin_dir, cluster, node)?;
        }
    }
    for (_, nodes) in clusters {
        for node in nodes {
            wait_proxy(paths, bin_dir, node).await?;
        }
    }
    Ok(())
}
