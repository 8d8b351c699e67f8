//! Real-kernel test: two flannel VXLAN clusters in network namespaces, connected by netpeer.
//!
//! Needs root (and `ip`, `bridge`, `nft`, `iptables`); otherwise it prints why and passes, unless
//! `CAUSEWAY_REQUIRE_ROOT_TESTS=1`. Every kernel change happens in namespaces the test creates.

// Test-only crate: helpers and fixture panic on any setup failure, like the tests themselves.
// The scenario is one long story on purpose: each phase depends on the kernel state before it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

#[path = "two_clusters/lab.rs"]
#[allow(dead_code)]
mod lab;

use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_netpeer::desired::{Desired, LocalConfig, desired_state};
use causeway_netpeer::firewall::NatBackend;
use causeway_netpeer::health::Health;
use causeway_netpeer::watch::keep_reconciled;
use causeway_netpeer::{NetlinkDataplane, Plan, cleanup, parse_peers, reconcile_once};
use lab::{Lab, SimNode, can_run, in_ns_async, probe, sh};

fn desired_for(lab: &Lab, node: &SimNode) -> Desired {
    let other = if node.cluster == 1 { 2 } else { 1 };
    let peers: Vec<_> = lab.cluster(other).iter().map(SimNode::k8s_node).collect();
    let parsed = parse_peers(&peers, 1);
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    let peer_cidr = lab.cluster(other)[0].cluster_cidr();
    let config = LocalConfig::new(
        1,
        vec![node.cluster_cidr().parse().unwrap()],
        vec![peer_cidr.parse().unwrap()],
    );
    let desired = desired_state(&config, parsed.peers).unwrap();
    assert!(desired.rejected.is_empty());
    desired
}

fn reconcile_on(lab: &Lab, node: &SimNode) -> Plan {
    let desired = desired_for(lab, node);
    in_ns_async(&node.ns, move || async move {
        let mut dp = NetlinkDataplane::connect().unwrap();
        reconcile_once(&mut dp, &desired).await.unwrap()
    })
}

fn assert_full_mesh(lab: &Lab) {
    for from in &lab.nodes {
        for to in lab.nodes.iter().filter(|t| t.cluster != from.cluster) {
            let seen = probe(from, to)
                .unwrap_or_else(|e| panic!("{} -> {} failed: {e}", from.name, to.name));
            assert_eq!(
                seen, from.pod_ip,
                "{} -> {}: receiver saw {seen}",
                from.name, to.name
            );
        }
    }
}

#[test]
fn two_flannel_clusters_are_connected_repaired_and_cleaned_up() {
    if !can_run() {
        return;
    }
    let lab = Lab::build();
    let c1 = lab.cluster(1);
    let c2 = lab.cluster(2);

    // The fixture itself works: intra-cluster pod traffic over flannel.1, no masquerade.
    assert_eq!(probe(&c1[0], &c1[1]), Ok(c1[0].pod_ip));
    assert_eq!(probe(&c2[1], &c2[0]), Ok(c2[1].pod_ip));
    // Before netpeer: no cross-cluster path.
    assert!(
        probe(&c1[0], &c2[0]).is_err(),
        "cross-cluster traffic must fail before netpeer"
    );

    let before: Vec<String> = lab.nodes.iter().map(SimNode::snapshot).collect();

    // Reconcile every node: neighbour + FDB + route per peer node, plus the NAT table.
    for node in &lab.nodes {
        let plan = reconcile_on(&lab, node);
        assert_eq!(plan.neighbours.add.len(), 2, "{}: {plan}", node.name);
        assert_eq!(plan.fdb.add.len(), 2, "{}: {plan}", node.name);
        assert_eq!(plan.routes.add.len(), 2, "{}: {plan}", node.name);
        assert_eq!(
            plan.nat.first().map(|(backend, _)| *backend),
            Some(NatBackend::Nftables),
            "{}: flannel masquerades through iptables-nft:\n{plan}",
            node.name
        );
    }
    let started = Instant::now();
    assert_full_mesh(&lab);
    eprintln!("8 cross-cluster TCP probes ok in {:?}", started.elapsed());

    // The masquerade rule really is there and would have hit without the exemption.
    let nat = sh(&[
        "ip",
        "netns",
        "exec",
        &c1[0].ns,
        "iptables",
        "-t",
        "nat",
        "-S",
        "POSTROUTING",
    ]);
    assert!(
        nat.contains("-s 10.42.0.0/16 ! -d 10.42.0.0/16 -j MASQUERADE"),
        "{nat}"
    );

    // Without causeway's table, flannel's masquerade hides the pod IP; reconcile repairs it.
    sh(&[
        "ip",
        "netns",
        "exec",
        &c1[0].ns,
        "nft",
        "delete",
        "table",
        "ip",
        "causeway-netpeer",
    ]);
    // MASQUERADE picks the output device's address: flannel.1's, the podCIDR network address.
    let masqueraded = c1[0].vtep_ip().parse().unwrap();
    assert_eq!(
        probe(&c1[0], &c2[0]),
        Ok(masqueraded),
        "masqueraded without the exemption"
    );
    let plan = reconcile_on(&lab, &c1[0]);
    assert!(
        plan.nat.len() == 1 && plan.len() == 1,
        "only the NAT table is re-applied:\n{plan}"
    );
    assert_eq!(probe(&c1[0], &c2[0]), Ok(c1[0].pod_ip));

    // Idempotent: a second run changes nothing.
    for node in &lab.nodes {
        let plan = reconcile_on(&lab, node);
        assert!(
            plan.is_empty(),
            "{}: second run not empty:\n{plan}",
            node.name
        );
    }

    // flannel.1 deleted and recreated on c2n1: the watcher repairs it within 2 s.
    let target = c2[0].clone();
    let desired = Arc::new(desired_for(&lab, &target));
    let (tx, rx) = tokio::sync::watch::channel(desired);
    let watcher = {
        let ns = target.ns.clone();
        std::thread::spawn(move || {
            in_ns_async(&ns, move || async move {
                let mut dp = NetlinkDataplane::connect().unwrap();
                let health = Health::detached("c2n1");
                keep_reconciled(&mut dp, rx, Duration::from_secs(60), &health)
                    .await
                    .unwrap();
            });
        })
    };
    std::thread::sleep(Duration::from_millis(300)); // let the watcher subscribe
    assert_eq!(target.causeway_routes(), 2);
    sh(&["ip", "-n", &target.ns, "link", "del", "flannel.1"]);
    assert_eq!(
        target.causeway_routes(),
        0,
        "the kernel drops routes with the device"
    );
    let recreated = Instant::now();
    target.create_flannel(&c2);
    let fixture = recreated.elapsed();
    let repaired = loop {
        if target.causeway_routes() == 2 {
            break recreated.elapsed();
        }
        assert!(
            recreated.elapsed() < Duration::from_secs(2),
            "not repaired within 2 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!("flannel.1 repaired {repaired:?} after recreation began (fixture took {fixture:?})");
    for from in &c1 {
        assert_eq!(
            probe(from, &target),
            Ok(from.pod_ip),
            "{} -> {}",
            from.name,
            target.name
        );
        assert_eq!(
            probe(&target, from),
            Ok(target.pod_ip),
            "{} -> {}",
            target.name,
            from.name
        );
    }
    drop(tx);
    watcher.join().unwrap();
    assert!(reconcile_on(&lab, &target).is_empty());

    // Cleanup restores every node's routes, neighbours, FDB and rulesets exactly.
    for (node, before) in lab.nodes.iter().zip(&before) {
        let ownership = desired_for(&lab, node).ownership;
        let removed = in_ns_async(&node.ns, move || async move {
            let mut dp = NetlinkDataplane::connect().unwrap();
            cleanup(&mut dp, &ownership).await.unwrap()
        });
        assert_eq!(removed.len(), 7, "{}: {removed}", node.name);
        assert_eq!(
            &node.snapshot(),
            before,
            "{}: state after cleanup differs",
            node.name
        );
    }
    assert!(
        probe(&c1[0], &c2[0]).is_err(),
        "cross-cluster traffic must fail after cleanup"
    );
    assert_eq!(
        probe(&c1[0], &c1[1]),
        Ok(c1[0].pod_ip),
        "flannel's own path survives cleanup"
    );
}
