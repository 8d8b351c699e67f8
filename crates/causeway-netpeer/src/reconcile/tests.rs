use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::*;
use crate::dataplane::FakeDataplane;
use crate::desired::{LocalConfig, desired_state};
use crate::mac::MacAddr;
use crate::peer::PeerNode;
use crate::state::{FdbEntry, Neighbour, NetState};

fn peer(name: &str, n: u8, mac_last: u8) -> PeerNode {
    PeerNode {
        name: name.into(),
        public_ip: Ipv4Addr::new(203, 0, 113, n),
        vtep_mac: MacAddr([2, 0, 0, 0, 0, mac_last]),
        vni: 1,
        backend_type: "vxlan".into(),
        pod_cidrs: vec![Ipv4Net::new(Ipv4Addr::new(10, 44, n, 0), 24).unwrap()],
    }
}

fn desired(peers: Vec<PeerNode>) -> Desired {
    let cfg = LocalConfig::new(
        1,
        vec!["10.42.0.0/16".parse().unwrap()],
        vec!["10.44.0.0/16".parse().unwrap()],
    );
    desired_state(&cfg, peers).unwrap()
}

/// A fake node that already holds flannel's entries for a local-cluster node.
fn flannel_node() -> FakeDataplane {
    let mac = MacAddr([2, 0, 0, 0, 0, 0x42]);
    let mut state = NetState::default();
    state.neighbours.insert(Neighbour {
        device: "flannel.1".into(),
        ip: Ipv4Addr::new(10, 42, 2, 0),
        mac,
    });
    state.fdb.insert(FdbEntry {
        device: "flannel.1".into(),
        mac,
        dst: Ipv4Addr::new(198, 51, 100, 12),
    });
    FakeDataplane::with_state(state)
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn second_run_is_empty() {
    run(async {
        let mut dp = flannel_node();
        let d = desired(vec![peer("a", 1, 1), peer("b", 2, 2)]);
        let first = reconcile_once(&mut dp, &d).await.unwrap();
        assert_eq!(first.len(), 7, "{first}");
        let second = reconcile_once(&mut dp, &d).await.unwrap();
        assert!(second.is_empty(), "{second}");
        assert_eq!(dp.applied.len(), 1, "an empty plan is not applied");
        assert_eq!(dp.state.neighbours.len(), 3);
        assert_eq!(dp.state.fdb.len(), 3);
    });
}

#[test]
fn peer_removed_removes_its_entries_only() {
    run(async {
        let mut dp = flannel_node();
        reconcile_once(&mut dp, &desired(vec![peer("a", 1, 1), peer("b", 2, 2)]))
            .await
            .unwrap();
        let plan = reconcile_once(&mut dp, &desired(vec![peer("a", 1, 1)]))
            .await
            .unwrap();
        assert_eq!(
            (
                plan.routes.remove.len(),
                plan.fdb.remove.len(),
                plan.neighbours.remove.len()
            ),
            (1, 1, 1),
            "{plan}"
        );
        assert!(plan.neighbours.remove[0].ip == Ipv4Addr::new(10, 44, 2, 0));
        assert_eq!(dp.state.neighbours.len(), 2, "flannel's and peer a's");
        assert!(
            dp.state
                .neighbours
                .iter()
                .any(|n| n.ip == Ipv4Addr::new(10, 42, 2, 0))
        );
        assert_eq!(dp.state.routes.len(), 1);
        assert!(
            reconcile_once(&mut dp, &desired(vec![peer("a", 1, 1)]))
                .await
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn mac_change_replaces_neighbour_and_fdb() {
    run(async {
        let mut dp = flannel_node();
        reconcile_once(&mut dp, &desired(vec![peer("a", 1, 1)]))
            .await
            .unwrap();
        let plan = reconcile_once(&mut dp, &desired(vec![peer("a", 1, 9)]))
            .await
            .unwrap();
        assert_eq!(plan.neighbours.replace.len(), 1, "{plan}");
        assert_eq!(plan.fdb.add.len(), 1, "{plan}");
        assert_eq!(plan.fdb.remove.len(), 1, "{plan}");
        assert!(plan.routes.is_empty());
        let new_mac = MacAddr([2, 0, 0, 0, 0, 9]);
        let peer_neigh: Vec<_> = dp
            .state
            .neighbours
            .iter()
            .filter(|n| n.ip == Ipv4Addr::new(10, 44, 1, 0))
            .collect();
        assert_eq!(peer_neigh.len(), 1);
        assert_eq!(peer_neigh[0].mac, new_mac);
        let peer_fdb: Vec<_> = dp
            .state
            .fdb
            .iter()
            .filter(|e| e.dst == Ipv4Addr::new(203, 0, 113, 1))
            .collect();
        assert_eq!(peer_fdb.len(), 1);
        assert_eq!(peer_fdb[0].mac, new_mac);
        assert!(
            reconcile_once(&mut dp, &desired(vec![peer("a", 1, 9)]))
                .await
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn cleanup_leaves_exactly_the_state_before() {
    run(async {
        let mut dp = flannel_node();
        let before = dp.state.clone();
        let d = desired(vec![peer("a", 1, 1), peer("b", 2, 2)]);
        reconcile_once(&mut dp, &d).await.unwrap();
        assert_ne!(dp.state, before);
        let removed = cleanup(&mut dp, &d.ownership).await.unwrap();
        assert_eq!(removed.len(), 7, "{removed}");
        assert_eq!(dp.state, before);
        assert!(cleanup(&mut dp, &d.ownership).await.unwrap().is_empty());
    });
}

#[test]
fn missing_device_fails_reconcile_and_cleanup_still_drops_nat() {
    run(async {
        let mut dp = flannel_node();
        let d = desired(vec![peer("a", 1, 1)]);
        reconcile_once(&mut dp, &d).await.unwrap();
        dp.link_missing = true;
        let err = reconcile_once(&mut dp, &d).await.unwrap_err();
        assert_eq!(err.metric_label(), "link_not_found");
        assert!(err.to_string().contains("flannel.1 not found"));
        let plan = cleanup(&mut dp, &d.ownership).await.unwrap();
        assert_eq!(
            plan.nat,
            vec![
                (NatBackend::Nftables, NatChange::Delete),
                (NatBackend::IptablesLegacy, NatChange::Delete),
            ]
        );
        assert_eq!(dp.state.nat, None);
    });
}

#[test]
fn dry_run_does_not_apply() {
    run(async {
        let mut dp = flannel_node();
        let plan = plan_once(&mut dp, &desired(vec![peer("a", 1, 1)]))
            .await
            .unwrap();
        assert_eq!(plan.len(), 4);
        assert!(dp.applied.is_empty());
    });
}

#[test]
fn vni_or_port_mismatch_of_the_device_applies_nothing() {
    run(async {
        for (vni, port, label) in [
            (Some(2), 8472, "local_vni_mismatch"),
            (Some(1), 4789, "vxlan_port_mismatch"),
            (None, 8472, "not_vxlan"),
        ] {
            let mut dp = flannel_node();
            let before = dp.state.clone();
            dp.link.vni = vni;
            dp.link.port = port;
            let d = desired(vec![peer("a", 1, 1), peer("b", 2, 2)]);
            let err = reconcile_once(&mut dp, &d).await.unwrap_err();
            assert_eq!(err.metric_label(), label);
            assert!(err.to_string().ends_with("nothing was changed"), "{err}");
            assert!(dp.applied.is_empty(), "{label}: nothing applied");
            assert_eq!(dp.state, before, "{label}");
            assert!(plan_once(&mut dp, &d).await.is_err(), "dry run fails too");
            // Fixed device: everything applies in one go.
            dp.link.vni = Some(1);
            dp.link.port = 8472;
            assert_eq!(reconcile_once(&mut dp, &d).await.unwrap().len(), 7);
        }
    });
}

#[test]
fn mtu_check_names_vxlan_peers_whose_route_is_too_small() {
    run(async {
        let mut dp = flannel_node();
        let path = |mtu| crate::link::PathMtu {
            device: "eth0".into(),
            mtu,
        };
        dp.paths.insert(Ipv4Addr::new(203, 0, 113, 1), path(1500));
        dp.paths.insert(Ipv4Addr::new(203, 0, 113, 2), path(1400));
        let d = desired(vec![peer("a", 1, 1), peer("b", 2, 2), peer("c", 3, 3)]);
        let all = mtu_check(&mut dp, &d, None).await.unwrap();
        let names: Vec<&str> = all.iter().map(|w| w.node.as_str()).collect();
        assert_eq!(names, ["b"], "a fits, b does not, c has no route");
        let only: BTreeSet<Ipv4Addr> = [Ipv4Addr::new(203, 0, 113, 1)].into();
        assert!(
            mtu_check(&mut dp, &d, Some(&only))
                .await
                .unwrap()
                .is_empty()
        );
    });
}
