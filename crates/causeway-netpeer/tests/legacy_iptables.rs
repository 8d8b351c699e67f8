//! Real-kernel test: the two-cluster fixture with flannel's masquerade in iptables-legacy.
//! netpeer detects it and keeps its exemption in its own legacy chain (`CAUSEWAY-NETPEER`,
//! jumped to first from `nat POSTROUTING`), not in an nftables table; cleanup leaves
//! `iptables-legacy-save` as it was.
//!
//! Needs root (and `ip`, `bridge`, `nft`, `iptables`, `iptables-legacy`); otherwise it prints
//! why and passes, unless `CAUSEWAY_REQUIRE_ROOT_TESTS=1`. Every kernel change happens in
//! namespaces the test creates.

// Test-only crate: helpers and fixture panic on any setup failure, like the tests themselves.
// The scenario is one long story on purpose: each phase depends on the kernel state before it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

#[path = "two_clusters/lab.rs"]
#[allow(dead_code)]
mod lab;

use causeway_netpeer::desired::{Desired, LocalConfig, desired_state};
use causeway_netpeer::firewall::NatBackend;
use causeway_netpeer::plan::NatChange;
use causeway_netpeer::{
    NetlinkDataplane, Plan, cleanup, iptables, nat, parse_peers, reconcile_once,
};
use lab::{Lab, SimNode, can_run, in_ns_async, probe, sh};

fn desired_for(lab: &Lab, node: &SimNode) -> Desired {
    let other = if node.cluster == 1 { 2 } else { 1 };
    let peers: Vec<_> = lab.cluster(other).iter().map(SimNode::k8s_node).collect();
    let parsed = parse_peers(&peers, 1);
    let config = LocalConfig::new(
        1,
        vec![node.cluster_cidr().parse().unwrap()],
        vec![lab.cluster(other)[0].cluster_cidr().parse().unwrap()],
    );
    desired_state(&config, parsed.peers).unwrap()
}

fn reconcile_on(lab: &Lab, node: &SimNode) -> Plan {
    let desired = desired_for(lab, node);
    in_ns_async(&node.ns, move || async move {
        let mut dp = NetlinkDataplane::connect().unwrap();
        reconcile_once(&mut dp, &desired).await.unwrap()
    })
}

fn nft_tables(node: &SimNode) -> String {
    sh(&["ip", "netns", "exec", &node.ns, "nft", "list", "tables"])
}

fn legacy(node: &SimNode, args: &[&str]) -> String {
    let mut full = vec![
        "ip",
        "netns",
        "exec",
        &node.ns,
        "iptables-legacy",
        "-t",
        "nat",
    ];
    full.extend_from_slice(args);
    sh(&full)
}

#[test]
fn legacy_masquerade_gets_its_own_legacy_chain() {
    if !can_run() {
        return;
    }
    let lab = Lab::build_legacy();
    let c1 = lab.cluster(1);
    let c2 = lab.cluster(2);
    assert_eq!(probe(&c1[0], &c1[1]), Ok(c1[0].pod_ip));
    assert!(probe(&c1[0], &c2[0]).is_err(), "no path before netpeer");
    let before: Vec<String> = lab.nodes.iter().map(SimNode::snapshot).collect();
    assert!(
        before[0].contains("-A POSTROUTING -s 10.42.0.0/16 ! -d 10.42.0.0/16 -j MASQUERADE"),
        "the fixture masquerades through iptables-legacy:\n{}",
        before[0]
    );

    // Detected: the exemption goes to the legacy chain, nothing to nftables.
    for node in &lab.nodes {
        let plan = reconcile_on(&lab, node);
        assert!(
            matches!(
                plan.nat.as_slice(),
                [(NatBackend::IptablesLegacy, NatChange::Apply(rules))] if rules.len() == 2
            ),
            "{}:\n{plan}",
            node.name
        );
        assert!(
            plan.to_string()
                .contains("iptables-legacy apply chain CAUSEWAY-NETPEER in table nat"),
            "{plan}"
        );
        assert!(
            !nft_tables(node).contains("causeway-netpeer"),
            "{}",
            node.name
        );
    }
    let rules = legacy(&c1[0], &["-S"]);
    let first = rules
        .lines()
        .find(|l| l.starts_with("-A POSTROUTING"))
        .unwrap();
    assert_eq!(first, "-A POSTROUTING -j CAUSEWAY-NETPEER", "{rules}");
    for from in &lab.nodes {
        for to in lab.nodes.iter().filter(|t| t.cluster != from.cluster) {
            assert_eq!(
                probe(from, to),
                Ok(from.pod_ip),
                "{} -> {}",
                from.name,
                to.name
            );
        }
    }

    // The jump moved behind flannel's rule (as a flannel restart could leave it): masqueraded,
    // until the next reconcile puts it first again.
    legacy(&c1[0], &["-D", "POSTROUTING", "-j", "CAUSEWAY-NETPEER"]);
    legacy(&c1[0], &["-A", "POSTROUTING", "-j", "CAUSEWAY-NETPEER"]);
    let masqueraded = c1[0].vtep_ip().parse().unwrap();
    assert_eq!(probe(&c1[0], &c2[0]), Ok(masqueraded), "masqueraded");
    let plan = reconcile_on(&lab, &c1[0]);
    assert_eq!(plan.len(), 1, "only the chain is re-applied:\n{plan}");
    assert_eq!(probe(&c1[0], &c2[0]), Ok(c1[0].pod_ip));
    assert_eq!(
        legacy(&c1[0], &["-S", "POSTROUTING"])
            .matches("-j CAUSEWAY-NETPEER")
            .count(),
        1
    );

    // nftables' null SNAT at priority 99 also beats legacy masquerade (one NAT hook list); a
    // table left in nftables next to the legacy chain is deleted as a leftover.
    let exemptions = desired_for(&lab, &c1[0]).state.nat.unwrap();
    in_ns_async(&c1[0].ns, move || async move {
        iptables::delete().await.unwrap();
        nat::apply(&exemptions).await.unwrap();
    });
    assert!(!legacy(&c1[0], &["-S"]).contains("CAUSEWAY-NETPEER"));
    assert_eq!(probe(&c1[0], &c2[0]), Ok(c1[0].pod_ip), "nft null SNAT");
    let plan = reconcile_on(&lab, &c1[0]);
    assert!(
        matches!(
            plan.nat.as_slice(),
            [
                (NatBackend::IptablesLegacy, NatChange::Apply(_)),
                (NatBackend::Nftables, NatChange::Delete)
            ]
        ),
        "{plan}"
    );
    assert!(!nft_tables(&c1[0]).contains("causeway-netpeer"));
    assert_eq!(probe(&c1[0], &c2[0]), Ok(c1[0].pod_ip));

    // Idempotent.
    for node in &lab.nodes {
        let plan = reconcile_on(&lab, node);
        assert!(
            plan.is_empty(),
            "{}: second run not empty:\n{plan}",
            node.name
        );
    }

    // Cleanup: every node exactly as before, iptables-legacy-save included (counters aside).
    for (node, before) in lab.nodes.iter().zip(&before) {
        let ownership = desired_for(&lab, node).ownership;
        let removed = in_ns_async(&node.ns, move || async move {
            let mut dp = NetlinkDataplane::connect().unwrap();
            cleanup(&mut dp, &ownership).await.unwrap()
        });
        assert_eq!(
            removed.nat,
            vec![(NatBackend::IptablesLegacy, NatChange::Delete)],
            "{}: {removed}",
            node.name
        );
        assert_eq!(
            &node.snapshot(),
            before,
            "{}: state after cleanup differs",
            node.name
        );
    }
    assert!(probe(&c1[0], &c2[0]).is_err(), "no path after cleanup");
    assert_eq!(
        probe(&c1[0], &c1[1]),
        Ok(c1[0].pod_ip),
        "flannel's own path survives"
    );
}
