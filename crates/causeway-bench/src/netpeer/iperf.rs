//! Part 2: iperf3 TCP throughput between lab pods, across the netpeer peering (c1-n1 pod → c2-n1
//! pod) and within cluster 2 over the same flannel VXLAN (c2-n2 pod → c2-n1 pod).
//!
//! The peering is netpeer's own reconcile, in-process inside each lab node namespace, from the
//! peer cluster's real Node objects (what `causeway netpeer run` does per resync). If a node
//! already carries causeway routes (a running agent, `demo --keep`), that node is left exactly
//! as it is and not cleaned up. Pods come from `causeway_lab::pods` and are deleted at the end,
//! as are the iperf3 server and netpeer's entries this benchmark added.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use causeway_lab::pods::{self, Pod};
use causeway_lab::state::LabState;
use causeway_lab::{ClusterPlan, LabPaths, NodePlan, netdev};
use causeway_netpeer::desired::{LocalConfig, desired_state};
use causeway_netpeer::state::Ownership;
use causeway_netpeer::{NetlinkDataplane, cleanup, parse_peers, reconcile_once};
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;

/// iperf3's port in the server pod.
const PORT: &str = "5201";

/// One iperf3 run.
#[derive(Debug)]
pub struct Run {
    /// Which path.
    pub path: Path,
    /// Received throughput, Gbit/s.
    pub gbits: f64,
    /// TCP retransmits reported by the sender.
    pub retransmits: u64,
}

/// The two measured paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// c2-n2 pod → c2-n1 pod (flannel's own VXLAN path).
    Intra,
    /// c1-n1 pod → c2-n1 pod (across the netpeer peering).
    Cross,
}

/// What part 2 measured.
#[derive(Debug)]
pub struct Iperf {
    /// Every run, in order.
    pub runs: Vec<Run>,
    /// Seconds per run.
    pub seconds: u64,
    /// Client/server pod addresses, for the report.
    pub addresses: (Ipv4Addr, Ipv4Addr, Ipv4Addr),
    /// Nodes whose peering this run added (and removed again).
    pub peered: Vec<String>,
    /// Nodes already peered before (left alone).
    pub already: Vec<String>,
}

/// Mean Gbit/s of `path`'s runs.
pub fn mean(runs: &[Run], path: Path) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.gbits)
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let n = v.len() as f64;
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / n)
}

fn config(node: &NodePlan) -> anyhow::Result<LocalConfig> {
    let peer = if node.cluster == 1 { 2 } else { 1 };
    let local = ClusterPlan::new(node.cluster)?;
    let remote = ClusterPlan::new(peer)?;
    Ok(LocalConfig::new(
        1,
        vec![local.pod_cidr.parse()?],
        vec![remote.pod_cidr.parse()?],
    ))
}

fn causeway_routes(node: &NodePlan) -> anyhow::Result<usize> {
    Ok(netdev::run(
        "ip",
        &["-n", &node.netns, "-4", "route", "show", "proto", "156"],
    )?
    .lines()
    .count())
}

/// Runs `f` on a current-thread runtime in a thread inside `netns`, off the caller's runtime.
async fn in_netns<T, F, Fut>(netns: &str, f: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let netns = netns.to_owned();
    tokio::task::spawn_blocking(move || {
        causeway_lab::netns::run_in(&netns, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("failed to start a runtime")?;
            rt.block_on(f())
        })?
    })
    .await
    .context("namespace thread failed")?
}

/// Peers `node` with the lab nodes of the other cluster (their real Node objects).
async fn peer(paths: &LabPaths, state: &LabState, node: &NodePlan) -> anyhow::Result<usize> {
    let other = if node.cluster == 1 { 2 } else { 1 };
    let client = causeway_lab::admin_client(paths, other).await?;
    let api: Api<Node> = Api::all(client);
    let mut nodes = Vec::new();
    for plan in state.node_plans()?.iter().filter(|n| n.cluster == other) {
        nodes.push(
            api.get(&plan.name)
                .await
                .with_context(|| format!("failed to read Node {} of cluster {other}", plan.name))?,
        );
    }
    let parsed = parse_peers(&nodes, 1);
    if let Some(err) = parsed.rejected.first() {
        bail!("lab Node rejected as a peer: {err}");
    }
    let desired = desired_state(&config(node)?, parsed.peers)?;
    let plan = in_netns(&node.netns, move || async move {
        let mut dp = NetlinkDataplane::connect()?;
        Ok(reconcile_once(&mut dp, &desired).await?)
    })
    .await
    .with_context(|| format!("failed to reconcile netpeer on {}", node.name))?;
    Ok(plan.len())
}

async fn unpeer(node: &NodePlan) -> anyhow::Result<()> {
    let ownership: Ownership = config(node)?.ownership();
    in_netns(&node.netns, move || async move {
        let mut dp = NetlinkDataplane::connect()?;
        cleanup(&mut dp, &ownership).await?;
        Ok(())
    })
    .await
    .with_context(|| format!("failed to clean netpeer's entries on {}", node.name))
}

/// One iperf3 client run from `from` to `to`; Gbit/s received and retransmits.
async fn client(from: &Pod, to: Ipv4Addr, seconds: u64) -> anyhow::Result<(f64, u64)> {
    let secs = seconds.to_string();
    let target = to.to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = tokio::process::Command::new("ip")
            .args(["netns", "exec", &from.netns, "iperf3", "-c", &target])
            .args(["-p", PORT, "-t", &secs, "-J", "--connect-timeout", "2000"])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(seconds + 20), run)
            .await
            .context("iperf3 client timed out")?
            .context("failed to run iperf3")?;
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let end = &json["end"];
        if out.status.success()
            && let Some(bps) = end["sum_received"]["bits_per_second"].as_f64()
        {
            let retransmits = end["sum_sent"]["retransmits"].as_u64().unwrap_or(0);
            return Ok((bps / 1e9, retransmits));
        }
        let error = json["error"]
            .as_str()
            .unwrap_or("no JSON result")
            .to_owned();
        // The server may still be starting.
        if Instant::now() < deadline && error.contains("refused") {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        bail!(
            "iperf3 {} → {target} failed: {error} {}",
            from.netns,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

/// Lab pods, peering, server: everything part 2 set up, for [`teardown`].
struct Setup {
    pods: Vec<Pod>,
    peered: Vec<NodePlan>,
    server: Option<tokio::process::Child>,
}

async fn teardown(paths: &LabPaths, setup: &mut Setup) {
    if let Some(mut server) = setup.server.take() {
        let _ = server.kill().await;
    }
    for pod in &setup.pods {
        if let Err(err) = pods::delete(paths, pod) {
            eprintln!(
                "causeway-bench: WARNING: failed to delete pod {}: {err}",
                pod.netns
            );
        }
    }
    for node in &setup.peered {
        if let Err(err) = unpeer(node).await {
            eprintln!("causeway-bench: WARNING: {err:#}");
        }
    }
}

/// Runs part 2 on the running lab: `runs` runs of `seconds` s per path, alternating.
pub async fn run(paths: &LabPaths, seconds: u64, runs: usize) -> anyhow::Result<Iperf> {
    let state = LabState::load(paths)?
        .filter(|s| s.complete && s.clusters >= 2)
        .context("no running lab with 2 clusters (./target/debug/causeway-lab up)")?;
    if std::process::Command::new("iperf3")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("iperf3 is not installed (apt-get install -y iperf3)");
    }
    let (c1n1, c2n1, c2n2) = (
        state.node("c1-n1")?,
        state.node("c2-n1")?,
        state.node("c2-n2")?,
    );
    let mut setup = Setup {
        pods: Vec::new(),
        peered: Vec::new(),
        server: None,
    };
    let result = measure(
        paths,
        &state,
        [&c1n1, &c2n1, &c2n2],
        seconds,
        runs,
        &mut setup,
    )
    .await;
    teardown(paths, &mut setup).await;
    result
}

async fn measure(
    paths: &LabPaths,
    state: &LabState,
    [c1n1, c2n1, c2n2]: [&NodePlan; 3],
    seconds: u64,
    runs: usize,
    setup: &mut Setup,
) -> anyhow::Result<Iperf> {
    let tag = std::process::id();
    let mut pod = |node: &NodePlan, name: &str| -> anyhow::Result<Pod> {
        let p = pods::create(paths, node, &format!("bnp{tag}{name}"))?;
        setup.pods.push(p.clone());
        Ok(p)
    };
    let a = pod(c1n1, "a")?;
    let b1 = pod(c2n1, "b1")?;
    let b2 = pod(c2n2, "b2")?;

    let (mut peered, mut already) = (Vec::new(), Vec::new());
    for node in [c1n1, c2n1, c2n2] {
        if causeway_routes(node)? > 0 {
            already.push(node.name.clone());
            continue;
        }
        setup.peered.push(node.clone());
        let changes = peer(paths, state, node).await?;
        eprintln!(
            "causeway-bench: netpeer reconcile on {}: {changes} changes",
            node.name
        );
        peered.push(node.name.clone());
    }

    let server = tokio::process::Command::new("ip")
        .args(["netns", "exec", &b1.netns, "iperf3", "-s", "-B"])
        .arg(b1.ip.to_string())
        .args(["-p", PORT])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("failed to start the iperf3 server")?;
    setup.server = Some(server);

    let mut out = Vec::new();
    for i in 0..runs {
        for (path, from) in [(Path::Intra, &b2), (Path::Cross, &a)] {
            eprintln!(
                "causeway-bench: iperf3 run {}/{runs} {path:?}: {} → {} ({seconds} s)",
                i + 1,
                from.ip,
                b1.ip
            );
            let (gbits, retransmits) = client(from, b1.ip, seconds).await?;
            out.push(Run {
                path,
                gbits,
                retransmits,
            });
        }
    }
    Ok(Iperf {
        runs: out,
        seconds,
        addresses: (a.ip, b2.ip, b1.ip),
        peered,
        already,
    })
}
