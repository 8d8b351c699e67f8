//! Part 1: N synthetic peer nodes programmed from scratch by netpeer's real dataplane
//! (rtnetlink + the nft NAT table), in a network namespace this benchmark creates and deletes.
//!
//! The namespace `cwl-bench-np-<pid>` holds `lo`, a veth pair (`eth0` 192.0.2.1/24 ↔ `eth1`, both
//! inside it) and `flannel.1` (VNI 1, dstport 8472, nolearning, local 192.0.2.1, 10.42.1.0/32), as
//! flannel would build it on a node of cluster 10.42.0.0/16. The peers are never contacted: public
//! IPs from 198.18.0.0/15 (benchmarking range), pod CIDRs 10.64.x.y/24 out of 10.64.0.0/10.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use causeway_lab::netdev;
use causeway_netpeer::desired::{Desired, LocalConfig, desired_state};
use causeway_netpeer::{NetlinkDataplane, parse_peers, reconcile_once};
use k8s_openapi::api::core::v1::Node;
use serde_json::json;

/// The local cluster CIDR (lab cluster 1's).
pub const LOCAL_CLUSTER_CIDR: &str = "10.42.0.0/16";
/// The synthetic peer cluster CIDR: room for [`MAX_PEERS`] /24 pod CIDRs, disjoint from
/// 10.42.0.0/16.
pub const PEER_CLUSTER_CIDR: &str = "10.64.0.0/10";
/// Most peers the address plan holds (/24s in a /10).
pub const MAX_PEERS: usize = 1 << 14;
/// How many no-op resyncs are timed.
pub const RESYNCS: usize = 5;

/// What part 1 measured.
#[derive(Debug)]
pub struct Scratch {
    /// The namespace used (deleted again).
    pub netns: String,
    /// Peer nodes.
    pub peers: usize,
    /// Changes the first reconcile applied.
    pub changes: usize,
    /// Its wall time (read + diff + apply).
    pub initial: Duration,
    /// Wall time of each no-op resync.
    pub resyncs: Vec<Duration>,
    /// Changes the resyncs found (expected 0).
    pub resync_changes: usize,
    /// Routes with causeway's protocol in the namespace afterwards.
    pub kernel_routes: usize,
}

/// Deletes the namespace when dropped (also on errors and panics).
struct NetnsGuard(String);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if let Err(err) = netdev::run("ip", &["netns", "del", &self.0]) {
            eprintln!(
                "causeway-bench: WARNING: failed to delete namespace {}: {err}",
                self.0
            );
        }
    }
}

/// Peer `i`'s Node object, as flannel's kube subnet manager writes it.
pub fn peer_node(i: usize) -> anyhow::Result<Node> {
    if i >= MAX_PEERS {
        bail!("peer {i} is beyond the address plan ({MAX_PEERS} peers)");
    }
    let i = u32::try_from(i)?;
    let public = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 1)) + i);
    let pod = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 64, 0, 0)) + (i << 8));
    let [_, b2, b3, b4] = i.to_be_bytes();
    let mac = format!("0e:c1:00:{b2:02x}:{b3:02x}:{b4:02x}");
    let cidr = format!("{pod}/24");
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("bench-peer-{i:05}"),
            "annotations": {
                "flannel.alpha.coreos.com/public-ip": public.to_string(),
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/backend-data":
                    format!(r#"{{"VNI":1,"VtepMAC":"{mac}"}}"#),
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            },
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
    }))
    .context("failed to build a peer Node")
}

/// The desired state for `peers` synthetic peers.
fn desired(peers: usize) -> anyhow::Result<Desired> {
    let nodes = (0..peers)
        .map(peer_node)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let parsed = parse_peers(&nodes, 1);
    if let Some(err) = parsed.rejected.first() {
        bail!(
            "{} synthetic peers rejected, first: {err}",
            parsed.rejected.len()
        );
    }
    let config = LocalConfig::new(
        1,
        vec![LOCAL_CLUSTER_CIDR.parse()?],
        vec![PEER_CLUSTER_CIDR.parse()?],
    );
    let desired = desired_state(&config, parsed.peers).context("failed to compute the state")?;
    if let Some(err) = desired.rejected.first() {
        bail!("peers left out of the desired state, first: {err}");
    }
    Ok(desired)
}

fn build_namespace(ns: &str) -> anyhow::Result<()> {
    let ip = |args: &[&str]| -> anyhow::Result<()> {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        netdev::run("ip", &full)?;
        Ok(())
    };
    ip(&["link", "set", "lo", "up"])?;
    ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ])?;
    ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"])?;
    ip(&["link", "set", "eth1", "up"])?;
    ip(&["link", "set", "eth0", "up"])?;
    ip(&[
        "link",
        "add",
        "flannel.1",
        "address",
        "0e:c0:00:00:01:01",
        "type",
        "vxlan",
        "id",
        "1",
        "local",
        "192.0.2.1",
        "dev",
        "eth0",
        "dstport",
        "8472",
        "nolearning",
    ])?;
    ip(&["addr", "add", "10.42.1.0/32", "dev", "flannel.1"])?;
    ip(&["link", "set", "flannel.1", "up"])?;
    Ok(())
}

/// Runs part 1 (blocking: call it from a blocking task).
pub fn run(peers: usize) -> anyhow::Result<Scratch> {
    if peers == 0 || peers > MAX_PEERS {
        bail!("--peers must be 1..={MAX_PEERS}");
    }
    let desired = desired(peers)?;
    let ns = format!("cwl-bench-np-{}", std::process::id());
    if causeway_lab::netns::exists(&ns) {
        bail!("namespace {ns} already exists");
    }
    netdev::run("ip", &["netns", "add", &ns])?;
    let guard = NetnsGuard(ns.clone());
    build_namespace(&ns).with_context(|| format!("failed to build namespace {ns}"))?;
    eprintln!("causeway-bench: namespace {ns}: reconciling {peers} peer nodes from scratch");
    let timed = causeway_lab::netns::run_in(&ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("failed to start a runtime")?;
        rt.block_on(async move {
            let mut dp = NetlinkDataplane::connect().context("failed to open netlink")?;
            let t = Instant::now();
            let plan = reconcile_once(&mut dp, &desired)
                .await
                .context("reconcile from scratch failed")?;
            let from_scratch = t.elapsed();
            let mut resyncs = Vec::new();
            let mut resync_changes = 0;
            for _ in 0..RESYNCS {
                let t = Instant::now();
                let again = reconcile_once(&mut dp, &desired)
                    .await
                    .context("no-op resync failed")?;
                resyncs.push(t.elapsed());
                resync_changes += again.len();
            }
            Ok::<_, anyhow::Error>((plan.len(), from_scratch, resyncs, resync_changes))
        })
    })??;
    let (changes, from_scratch, resyncs, resync_changes) = timed;
    let kernel_routes = netdev::run("ip", &["-n", &ns, "-4", "route", "show", "proto", "156"])?
        .lines()
        .count();
    drop(guard);
    Ok(Scratch {
        netns: ns,
        peers,
        changes,
        initial: from_scratch,
        resyncs,
        resync_changes,
        kernel_routes,
    })
}
