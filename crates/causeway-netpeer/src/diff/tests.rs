use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::*;
use crate::firewall::NatBackend;
use crate::state::{NatExemption, NatRules};

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}
fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn mac(last: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, last])
}
fn neigh(addr: &str, m: u8) -> Neighbour {
    Neighbour {
        device: "flannel.1".into(),
        ip: ip(addr),
        mac: mac(m),
    }
}
fn fdb(m: u8, dst: &str) -> FdbEntry {
    FdbEntry {
        device: "flannel.1".into(),
        mac: mac(m),
        dst: ip(dst),
    }
}
fn route(dst: &str, via: &str) -> Route {
    Route {
        dst: net(dst),
        via: ip(via),
        device: Some("flannel.1".into()),
        onlink: true,
    }
}
fn own() -> Ownership {
    Ownership {
        vxlan_device: "flannel.1".into(),
        peer_cluster_cidrs: vec![net("10.44.0.0/16")],
        local_cluster_cidrs: vec![net("10.42.0.0/16")],
    }
}
fn nat() -> NatRules {
    [NatExemption {
        src: net("10.42.0.0/16"),
        dst: net("10.44.0.0/16"),
    }]
    .into()
}
fn state(n: &[Neighbour], f: &[FdbEntry], r: &[Route], nat: Option<NatRules>) -> NetState {
    NetState {
        neighbours: n.iter().cloned().collect(),
        fdb: f.iter().cloned().collect(),
        routes: r.iter().cloned().collect(),
        nat,
        ..NetState::default()
    }
}

/// One peer at 10.44.1.0 with MAC 01 behind 203.0.113.21.
fn one_peer() -> NetState {
    state(
        &[neigh("10.44.1.0", 1)],
        &[fdb(1, "203.0.113.21")],
        &[route("10.44.1.0/24", "10.44.1.0")],
        Some(nat()),
    )
}

/// Flannel's own entries for a local-cluster node: never owned by causeway.
fn flannel_local() -> (Neighbour, FdbEntry) {
    (neigh("10.42.2.0", 0x42), fdb(0x42, "198.51.100.12"))
}

#[test]
#[allow(clippy::too_many_lines)] // one table
fn table_of_diffs() {
    struct Case {
        name: &'static str,
        desired: NetState,
        actual: NetState,
        want: &'static str,
    }
    let (fl_n, fl_f) = flannel_local();
    let cases = vec![
        Case {
            name: "converged",
            desired: one_peer(),
            actual: one_peer(),
            want: "no changes\n",
        },
        Case {
            name: "from scratch",
            desired: one_peer(),
            actual: NetState::default(),
            want: "neigh add 10.44.1.0 lladdr 02:00:00:00:00:01 dev flannel.1 nud permanent\n\
                   fdb add 02:00:00:00:00:01 dst 203.0.113.21 dev flannel.1 self permanent\n\
                   route add 10.44.1.0/24 via 10.44.1.0 dev flannel.1 onlink proto 156\n\
                   nft apply table ip causeway-netpeer (1 exemptions)\n  no masquerade 10.42.0.0/16 -> 10.44.0.0/16\n",
        },
        Case {
            name: "flannel's entries are left alone",
            desired: one_peer(),
            actual: {
                let mut s = one_peer();
                s.neighbours.insert(fl_n.clone());
                s.fdb.insert(fl_f.clone());
                s
            },
            want: "no changes\n",
        },
        Case {
            name: "peer removed: everything of it removed, flannel's kept",
            desired: state(&[], &[], &[], Some(nat())),
            actual: {
                let mut s = one_peer();
                s.neighbours.insert(fl_n.clone());
                s.fdb.insert(fl_f.clone());
                s
            },
            want: "route del 10.44.1.0/24 via 10.44.1.0 dev flannel.1 onlink proto 156\n\
                   fdb del 02:00:00:00:00:01 dst 203.0.113.21 dev flannel.1 self permanent\n\
                   neigh del 10.44.1.0 lladdr 02:00:00:00:00:01 dev flannel.1 nud permanent\n",
        },
        Case {
            name: "mac changed: neighbour replaced, new fdb added, old fdb removed",
            desired: state(
                &[neigh("10.44.1.0", 9)],
                &[fdb(9, "203.0.113.21")],
                &[route("10.44.1.0/24", "10.44.1.0")],
                Some(nat()),
            ),
            actual: one_peer(),
            want: "neigh replace 10.44.1.0 lladdr 02:00:00:00:00:09 dev flannel.1 nud permanent (was 10.44.1.0 lladdr 02:00:00:00:00:01 dev flannel.1 nud permanent)\n\
                   fdb add 02:00:00:00:00:09 dst 203.0.113.21 dev flannel.1 self permanent\n\
                   fdb del 02:00:00:00:00:01 dst 203.0.113.21 dev flannel.1 self permanent\n",
        },
        Case {
            name: "public ip changed: fdb replaced",
            desired: state(
                &[neigh("10.44.1.0", 1)],
                &[fdb(1, "203.0.113.99")],
                &[route("10.44.1.0/24", "10.44.1.0")],
                Some(nat()),
            ),
            actual: one_peer(),
            want: "fdb replace 02:00:00:00:00:01 dst 203.0.113.99 dev flannel.1 self permanent (was 02:00:00:00:00:01 dst 203.0.113.21 dev flannel.1 self permanent)\n",
        },
        Case {
            name: "route drifted to another gateway: replaced",
            desired: one_peer(),
            actual: state(
                &[neigh("10.44.1.0", 1)],
                &[fdb(1, "203.0.113.21")],
                &[route("10.44.1.0/24", "10.44.1.1")],
                Some(nat()),
            ),
            want: "route replace 10.44.1.0/24 via 10.44.1.0 dev flannel.1 onlink proto 156 (was 10.44.1.0/24 via 10.44.1.1 dev flannel.1 onlink proto 156)\n",
        },
        Case {
            name: "stale causeway route for a gone cidr is removed",
            desired: one_peer(),
            actual: {
                let mut s = one_peer();
                s.routes.insert(route("10.44.7.0/24", "10.44.7.0"));
                s
            },
            want: "route del 10.44.7.0/24 via 10.44.7.0 dev flannel.1 onlink proto 156\n",
        },
        Case {
            name: "nat table missing",
            desired: one_peer(),
            actual: state(
                &[neigh("10.44.1.0", 1)],
                &[fdb(1, "203.0.113.21")],
                &[route("10.44.1.0/24", "10.44.1.0")],
                None,
            ),
            want: "nft apply table ip causeway-netpeer (1 exemptions)\n  no masquerade 10.42.0.0/16 -> 10.44.0.0/16\n",
        },
        Case {
            name: "nat table drifted",
            desired: one_peer(),
            actual: state(
                &[neigh("10.44.1.0", 1)],
                &[fdb(1, "203.0.113.21")],
                &[route("10.44.1.0/24", "10.44.1.0")],
                Some(NatRules::new()),
            ),
            want: "nft apply table ip causeway-netpeer (1 exemptions)\n  no masquerade 10.42.0.0/16 -> 10.44.0.0/16\n",
        },
        Case {
            name: "orphan fdb of a removed neighbour is not guessed at",
            desired: state(&[], &[], &[], Some(nat())),
            actual: state(&[], &[fdb(7, "203.0.113.77")], &[], Some(nat())),
            want: "no changes\n",
        },
    ];
    for case in cases {
        let plan = diff(&case.desired, &case.actual, &own());
        assert_eq!(plan.to_string(), case.want, "{}", case.name);
        assert_eq!(
            plan.is_empty(),
            case.want == "no changes\n",
            "{}",
            case.name
        );
    }
}

#[test]
fn direct_route_is_satisfied_by_any_device() {
    let want = Route {
        dst: net("10.44.1.0/24"),
        via: ip("198.51.100.12"),
        device: None,
        onlink: false,
    };
    let have = Route {
        device: Some("eth0".into()),
        ..want.clone()
    };
    let d = state(&[], &[], &[want], None);
    let a = state(&[], &[], &[have], None);
    assert!(diff(&d, &a, &own()).is_empty());
}

#[test]
fn removal_removes_only_owned_objects_and_the_table() {
    let (fl_n, fl_f) = flannel_local();
    let mut actual = one_peer();
    actual.neighbours.insert(fl_n);
    actual.fdb.insert(fl_f);
    let plan = removal(&actual, &own());
    assert_eq!(plan.neighbours.remove, vec![neigh("10.44.1.0", 1)]);
    assert_eq!(plan.fdb.remove, vec![fdb(1, "203.0.113.21")]);
    assert_eq!(plan.routes.remove, vec![route("10.44.1.0/24", "10.44.1.0")]);
    assert_eq!(plan.nat, vec![(NatBackend::Nftables, NatChange::Delete)]);
    assert_eq!(plan.len(), 4);
}

#[test]
fn nat_goes_to_the_detected_backend_and_a_leftover_is_deleted() {
    let d = one_peer();
    let mut actual = one_peer();
    actual.nat_backend = NatBackend::IptablesLegacy;
    actual.nat = None;
    actual.nat_leftover = true;
    let plan = diff(&d, &actual, &own());
    assert_eq!(
        plan.nat,
        vec![
            (
                NatBackend::IptablesLegacy,
                NatChange::Apply(d.nat.clone().unwrap())
            ),
            (NatBackend::Nftables, NatChange::Delete),
        ]
    );
    actual.nat.clone_from(&d.nat);
    actual.nat_leftover = false;
    assert!(diff(&d, &actual, &own()).is_empty());
}

#[test]
fn a_foreign_route_at_a_new_destination_is_adopted_once() {
    let d = one_peer();
    let mut actual = state(&[], &[], &[], Some(nat()));
    actual.foreign_routes.insert(
        "10.44.1.0/24".parse().unwrap(),
        "10.44.1.0/24 via 10.44.1.0 dev flannel.1 onlink proto boot".into(),
    );
    // Foreign routes elsewhere in the peer cluster CIDR are not touched.
    actual.foreign_routes.insert(
        "10.44.9.0/24".parse().unwrap(),
        "10.44.9.0/24 via 10.44.9.0 dev flannel.1 onlink proto boot".into(),
    );
    let plan = diff(&d, &actual, &own());
    assert_eq!(
        plan.adopted,
        ["10.44.1.0/24 via 10.44.1.0 dev flannel.1 onlink proto boot"]
    );
    assert_eq!(plan.routes.add, vec![route("10.44.1.0/24", "10.44.1.0")]);
    assert!(plan.routes.remove.is_empty());
    // Once causeway's route is there, nothing is adopted again.
    actual.routes.insert(route("10.44.1.0/24", "10.44.1.0"));
    assert!(diff(&d, &actual, &own()).adopted.is_empty());
}
