//! `causeway netpeer` on the lab's data-plane nodes: the real binary runs inside each node
//! namespace (only CAP_NET_ADMIN, as the DaemonSet grants), reading the PEER cluster's Nodes as
//! the `causeway-netpeer` user bound to deploy/netpeer/peer-rbac.yaml. Proves: no cross-cluster
//! path before; `--dry-run` plans without applying; with the agents, pod ↔ pod TCP across the
//! clusters works both ways with the sender's pod IP seen by the receiver (flannel's masquerade
//! is exempted); `check` reports it; drift (a deleted route, a recreated flannel.1) is repaired; a
//! peer Node added and deleted in the peer apiserver gets and loses its entries; `oneshot` with
//! the seed's keys is idempotent; `cleanup` restores every node.
//!
//! The lab is shared with other tests: this test creates its own pods and its own fake Node, and
//! leaves the lab's Node objects alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use causeway_lab::layout::VXLAN_DEVICE;
use causeway_lab::{NodePlan, netdev, nodes, pods};
use causeway_test_support::daemon::Daemon;
use causeway_test_support::net::{EchoServer, http_get, probe_async};
use causeway_test_support::pods::TestPod;
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

const PEER_RBAC: &str = include_str!("../../../deploy/netpeer/peer-rbac.yaml");
const CAUSEWAY: &str = env!("CARGO_BIN_EXE_causeway");

fn peer_of(cluster: u8) -> u8 {
    if cluster == 1 { 2 } else { 1 }
}

fn cidrs(cluster: u8) -> (String, String) {
    let plan = causeway_lab::ClusterPlan::new(cluster).unwrap();
    (plan.pod_cidr, plan.service_cidr)
}

/// The flags every subcommand shares for `node`.
fn cluster_flags(node: &NodePlan) -> Vec<String> {
    let (pods, services) = cidrs(node.cluster);
    let (peer_pods, peer_services) = cidrs(peer_of(node.cluster));
    [
        "--cluster-cidr",
        &pods,
        "--peer-cluster-cidr",
        &peer_pods,
        "--local-service-cidr",
        &services,
        "--peer-service-cidr",
        &peer_services,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn peer_kubeconfig(lab: &Lab, node: &NodePlan) -> String {
    lab.paths
        .user_kubeconfig(peer_of(node.cluster), "causeway-netpeer")
        .display()
        .to_string()
}

/// `ip netns exec <node> setpriv (only CAP_NET_ADMIN) causeway netpeer <args>`.
fn in_node(node: &NodePlan, args: &[String]) -> Vec<String> {
    let mut full: Vec<String> = [
        "netns",
        "exec",
        &node.netns,
        "setpriv",
        "--bounding-set=-all,+net_admin",
        "--inh-caps=-all",
        CAUSEWAY,
        "netpeer",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    full.extend_from_slice(args);
    full
}

/// Runs a netpeer subcommand to completion inside `node`; (success, stdout + stderr).
async fn netpeer(node: &NodePlan, args: &[&str]) -> (bool, String) {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let out = tokio::process::Command::new("ip")
        .args(in_node(node, &args))
        .env("CAUSEWAY_LOG", "warn")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn cleanup(node: &NodePlan) -> String {
    let (pods, _) = cidrs(peer_of(node.cluster));
    let (ok, out) = netpeer(node, &["cleanup", "--peer-cluster-cidr", &pods]).await;
    assert!(ok, "cleanup on {} failed: {out}", node.name);
    out
}

fn start_agent(lab: &Lab, node: &NodePlan) -> Daemon {
    let mut args: Vec<String> = [
        "run",
        "--peer-kubeconfig",
        &peer_kubeconfig(lab, node),
        "--node-name",
        &node.name,
        "--admin-addr",
        "127.0.0.1:0",
        "--resync-seconds",
        "2",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(cluster_flags(node));
    Daemon::start(
        Path::new("ip"),
        &unique_name(&format!("netpeer-{}", node.name)),
        &in_node(node, &args),
        &[("CAUSEWAY_LOG", "info,kube=warn")],
        lab.paths.root(),
    )
}

fn sh(node: &NodePlan, args: &[&str]) -> String {
    let mut full = vec!["-n", node.netns.as_str()];
    full.extend_from_slice(args);
    netdev::run("ip", &full).unwrap()
}

fn causeway_routes(node: &NodePlan) -> String {
    sh(node, &["-4", "route", "show", "proto", "156"])
}

/// Everything netpeer could touch on a node, for before/after comparisons (kube-proxy's table
/// changes with other tests' Services, so only table names are compared).
fn snapshot(node: &NodePlan) -> String {
    let exec = |args: &[&str]| {
        let mut full = vec!["netns", "exec", node.netns.as_str()];
        full.extend_from_slice(args);
        netdev::run("ip", &full).unwrap()
    };
    [
        // `linkdown` on cni0's route only says whether pods exist.
        sh(node, &["-4", "route", "show", "table", "main"]).replace(" linkdown", ""),
        sh(node, &["-4", "neigh", "show", "nud", "permanent"]),
        exec(&["bridge", "fdb", "show", "dev", VXLAN_DEVICE]),
        exec(&["nft", "list", "tables"]),
        exec(&["iptables", "-t", "nat", "-S", "POSTROUTING"]),
    ]
    .join("\n----\n")
}

async fn expect_seen(from: &TestPod, to: &EchoServer, what: &str, secs: u64) -> Duration {
    let t0 = Instant::now();
    let ns = from.netns.clone();
    let addr = to.addr;
    let seen = eventually(secs, what, || {
        let ns = ns.clone();
        async move { probe_async(&ns, addr).await.ok() }
    })
    .await;
    assert_eq!(seen, from.ip.to_string(), "{what}: receiver saw {seen}");
    t0.elapsed()
}

fn fake_peer(name: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "annotations": {
                "flannel.alpha.coreos.com/public-ip": "198.51.100.99",
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/backend-data": r#"{"VNI":1,"VtepMAC":"0e:c0:00:00:99:99"}"#,
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            },
        },
        "spec": {"podCIDR": "10.44.99.0/24", "podCIDRs": ["10.44.99.0/24"]},
    }))
    .unwrap()
}

#[tokio::test]
async fn netpeer_connects_both_clusters_follows_peer_nodes_and_cleans_up() {
    let lab = lab(2).await;
    for cluster in [1u8, 2] {
        rbac::install_for_user(&lab.client(cluster.into()), PEER_RBAC, "causeway-netpeer").await;
    }
    let c1n1 = lab.state.node("c1-n1").unwrap();
    let c2n1 = lab.state.node("c2-n1").unwrap();
    let c2n2 = lab.state.node("c2-n2").unwrap();
    let all = [c1n1.clone(), c2n1.clone(), c2n2.clone()];
    // Leftovers of a killed run would fake the "before" state.
    for node in &all {
        cleanup(node).await;
    }
    let before: Vec<String> = all.iter().map(snapshot).collect();

    let a = TestPod::create(&lab.paths, &c1n1, "np-a");
    let b1 = TestPod::create(&lab.paths, &c2n1, "np-b1");
    let b2 = TestPod::create(&lab.paths, &c2n2, "np-b2");
    let echo_a = EchoServer::start(&a.netns, a.ip, 0);
    let echo_b1 = EchoServer::start(&b1.netns, b1.ip, 0);
    let echo_b2 = EchoServer::start(&b2.netns, b2.ip, 0);

    // Before netpeer: no cross-cluster path (intra-cluster works: the fixture is sound).
    assert_eq!(
        probe_async(&b1.netns, echo_b2.addr).await,
        Ok(b1.ip.to_string())
    );
    assert!(probe_async(&a.netns, echo_b1.addr).await.is_err());
    assert!(probe_async(&b2.netns, echo_a.addr).await.is_err());

    // --dry-run plans every peer node and changes nothing.
    let mut dry: Vec<String> = vec![
        "run".into(),
        "--dry-run".into(),
        "--node-name".into(),
        "c1-n1".into(),
        "--peer-kubeconfig".into(),
        peer_kubeconfig(&lab, &c1n1),
    ];
    dry.extend(cluster_flags(&c1n1));
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    let (ok, plan) = netpeer(&c1n1, &dry).await;
    assert!(ok, "{plan}");
    for line in [
        "route add 10.44.1.0/24 via 10.44.1.0 dev flannel.1 onlink proto 156",
        "route add 10.44.2.0/24 via 10.44.2.0 dev flannel.1 onlink proto 156",
        "fdb add 0e:c0:00:00:02:01 dst 198.51.100.21 dev flannel.1 self permanent",
        "neigh add 10.44.2.0 lladdr 0e:c0:00:00:02:02 dev flannel.1 nud permanent",
    ] {
        assert!(plan.contains(line), "dry run lacks {line:?}:\n{plan}");
    }
    assert_eq!(causeway_routes(&c1n1), "", "dry run applied nothing");

    // The agents: full mesh, both directions, sender's pod IP preserved.
    let t0 = Instant::now();
    let mut agents: Vec<Daemon> = all.iter().map(|n| start_agent(&lab, n)).collect();
    expect_seen(&a, &echo_b1, "c1 pod → c2-n1 pod", 30).await;
    let connected = t0.elapsed();
    expect_seen(&a, &echo_b2, "c1 pod → c2-n2 pod", 10).await;
    expect_seen(&b1, &echo_a, "c2-n1 pod → c1 pod", 10).await;
    expect_seen(&b2, &echo_a, "c2-n2 pod → c1 pod", 10).await;
    eprintln!("agents started → first cross-cluster TCP ok after {connected:?}");
    let nat = netdev::run(
        "ip",
        &[
            "netns",
            "exec",
            &c1n1.netns,
            "iptables",
            "-t",
            "nat",
            "-S",
            "POSTROUTING",
        ],
    )
    .unwrap();
    assert!(
        nat.contains("-s 10.42.0.0/16 ! -d 10.42.0.0/16 -j MASQUERADE"),
        "flannel's masquerade is in place, and was exempted: {nat}"
    );

    // HTTP to a real process in a pod (the demo's `causeway serve`) across the clusters.
    let serve = pods::spawn(
        &lab.paths,
        &b1,
        "serve",
        CAUSEWAY.as_ref(),
        &[
            "serve".into(),
            "--listen".into(),
            format!("{}:8080", b1.ip),
            "--cluster".into(),
            "2".into(),
            "--address".into(),
            b1.ip.to_string(),
        ],
    )
    .unwrap();
    let body = eventually(10, "causeway serve in c2 from c1", || {
        let ns = a.netns.clone();
        let addr = SocketAddr::from((b1.ip, 8080));
        async move { http_get(&ns, addr, "/").await }
    })
    .await;
    assert!(body.starts_with("hello from cluster 2"), "{body}");
    assert!(serve.pid > 0);

    // check: every peer node ok, and a TCP probe to a peer pod.
    let mut check: Vec<String> = vec![
        "check".into(),
        "--peer-kubeconfig".into(),
        peer_kubeconfig(&lab, &c1n1),
        "--probe".into(),
        echo_b1.addr.to_string(),
    ];
    check.extend(cluster_flags(&c1n1));
    let check: Vec<&str> = check.iter().map(String::as_str).collect();
    let (ok, report) = netpeer(&c1n1, &check).await;
    assert!(ok, "{report}");
    assert!(
        report.contains("c2-n1") && report.contains("c2-n2"),
        "{report}"
    );
    assert!(!report.contains("MISSING"), "{report}");

    // Drift: a deleted route comes back with the resync (2 s here).
    sh(&c1n1, &["route", "del", "10.44.2.0/24"]);
    let t0 = Instant::now();
    eventually(10, "deleted route restored", || async {
        causeway_routes(&c1n1)
            .contains("10.44.2.0/24")
            .then_some(())
    })
    .await;
    let route_repair = t0.elapsed();
    // `check` notices a missing entry (exit 1) before repair would hide it: use the fake below.

    // flannel.1 recreated (a flanneld restart): repaired from the link event, not the resync.
    let t0 = Instant::now();
    nodes::recreate_vxlan(&c1n1, std::slice::from_ref(&c1n1)).unwrap();
    eventually(10, "entries back on the recreated flannel.1", || async {
        (causeway_routes(&c1n1).lines().count() == 2).then_some(())
    })
    .await;
    let vxlan_repair = t0.elapsed();
    expect_seen(&a, &echo_b2, "c1 → c2 after flannel.1 recreation", 10).await;
    eprintln!("repair: deleted route {route_repair:?}, recreated flannel.1 {vxlan_repair:?}");

    // A peer Node appears in cluster 2, then is deleted: c1-n1 follows.
    let fake_name = unique_name("np-fake");
    let c2_nodes: Api<Node> = Api::all(lab.client(2));
    c2_nodes
        .create(&PostParams::default(), &fake_peer(&fake_name))
        .await
        .unwrap();
    let t0 = Instant::now();
    eventually(10, "entries for the new peer node", || async {
        causeway_routes(&c1n1)
            .contains("10.44.99.0/24")
            .then_some(())
    })
    .await;
    let added = t0.elapsed();
    let fdb = netdev::run(
        "ip",
        &[
            "netns",
            "exec",
            &c1n1.netns,
            "bridge",
            "fdb",
            "show",
            "dev",
            VXLAN_DEVICE,
        ],
    )
    .unwrap();
    assert!(fdb.contains("0e:c0:00:00:99:99 dst 198.51.100.99"), "{fdb}");
    c2_nodes
        .delete(&fake_name, &DeleteParams::default())
        .await
        .unwrap();
    let t0 = Instant::now();
    eventually(10, "entries of the deleted peer node removed", || async {
        let gone = !causeway_routes(&c1n1).contains("10.44.99.0/24")
            && !sh(&c1n1, &["neigh", "show", "nud", "permanent"]).contains("10.44.99.0")
            && !netdev::run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &c1n1.netns,
                    "bridge",
                    "fdb",
                    "show",
                    "dev",
                    VXLAN_DEVICE,
                ],
            )
            .unwrap()
            .contains("0e:c0:00:00:99:99");
        gone.then_some(())
    })
    .await;
    let removed = t0.elapsed();
    eprintln!("peer node added → entries in {added:?}; deleted → entries gone in {removed:?}");
    // The real peers were untouched.
    expect_seen(&a, &echo_b1, "c1 → c2-n1 after the fake peer left", 5).await;

    // Stop the agents: entries stay (a restart must not cut traffic).
    for agent in &mut agents {
        let status = agent.terminate().await;
        assert!(status.is_some_and(|s| s.success()), "{}", agent.log_text());
        assert!(
            agent.log_text().contains("peer nodes synced"),
            "{}",
            agent.log_text()
        );
    }
    expect_seen(&a, &echo_b1, "entries kept after the agents stopped", 5).await;

    // cleanup restores every node exactly.
    for (node, before) in all.iter().zip(&before) {
        let out = cleanup(node).await;
        assert!(out.contains("route del"), "{}: {out}", node.name);
        assert_eq!(
            &snapshot(node),
            before,
            "{}: state after cleanup",
            node.name
        );
    }
    assert!(probe_async(&a.netns, echo_b1.addr).await.is_err());

    // oneshot with the seed's keys, on the first node of each cluster, twice: idempotent.
    let seed = |peer: &NodePlan, local_cidr: &str, peer_cidr: &str| -> Vec<String> {
        vec![
            "oneshot".into(),
            "--node-ip".into(),
            peer.ip.to_string(),
            "--node-mac".into(),
            peer.vtep_mac.clone(),
            "--node-subnet".into(),
            peer.pod_cidr(),
            "--cidr1".into(),
            local_cidr.into(),
            "--cidr2".into(),
            peer_cidr.into(),
        ]
    };
    for (node, peer) in [(&c1n1, &c2n1), (&c2n1, &c1n1)] {
        let (local, _) = cidrs(node.cluster);
        let (remote, _) = cidrs(peer.cluster);
        let args = seed(peer, &local, &remote);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, first) = netpeer(node, &args).await;
        assert!(ok && first.contains("route add"), "{first}");
        let (ok, second) = netpeer(node, &args).await;
        assert!(ok, "{second}");
        assert_eq!(second.trim(), "no changes", "oneshot is idempotent");
    }
    expect_seen(&a, &echo_b1, "seed oneshot path c1 → c2-n1", 5).await;
    expect_seen(&b1, &echo_a, "seed oneshot path c2-n1 → c1", 5).await;
    for (node, before) in all.iter().zip(&before) {
        cleanup(node).await;
        assert_eq!(
            &snapshot(node),
            before,
            "{}: state after the final cleanup",
            node.name
        );
    }
}
