use std::net::Ipv4Addr;

use super::*;
use crate::mac::MacAddr;

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}
fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn peer(name: &str, public_ip: &str, m: &str, cidr: &str) -> PeerNode {
    PeerNode {
        name: name.into(),
        public_ip: ip(public_ip),
        vtep_mac: mac(m),
        vni: 1,
        backend_type: "vxlan".into(),
        pod_cidrs: vec![net(cidr)],
    }
}

fn config() -> LocalConfig {
    LocalConfig::new(1, vec![net("10.42.0.0/16")], vec![net("10.44.0.0/16")])
}

#[test]
fn vxlan_peer_gets_neighbour_fdb_and_onlink_route() {
    let d = desired_state(
        &config(),
        vec![peer(
            "c2-n1",
            "203.0.113.21",
            "ba:7e:3d:4c:18:eb",
            "10.44.1.0/24",
        )],
    )
    .unwrap();
    assert!(d.rejected.is_empty());
    let dev = "flannel.1".to_owned();
    assert_eq!(
        d.state.neighbours.into_iter().collect::<Vec<_>>(),
        [Neighbour {
            device: dev.clone(),
            ip: ip("10.44.1.0"),
            mac: mac("ba:7e:3d:4c:18:eb")
        }]
    );
    assert_eq!(
        d.state.fdb.into_iter().collect::<Vec<_>>(),
        [FdbEntry {
            device: dev.clone(),
            mac: mac("ba:7e:3d:4c:18:eb"),
            dst: ip("203.0.113.21")
        }]
    );
    assert_eq!(
        d.state.routes.into_iter().collect::<Vec<_>>(),
        [Route {
            dst: net("10.44.1.0/24"),
            via: ip("10.44.1.0"),
            device: Some(dev),
            onlink: true
        }]
    );
    assert_eq!(
        d.state.nat.unwrap().into_iter().collect::<Vec<_>>(),
        [
            NatExemption {
                src: net("10.42.0.0/16"),
                dst: net("10.44.0.0/16")
            },
            NatExemption {
                src: net("10.44.0.0/16"),
                dst: net("10.42.0.0/16")
            },
        ]
    );
    assert_eq!(d.ownership.vxlan_device, "flannel.1");
    assert_eq!(d.ownership.peer_cluster_cidrs, vec![net("10.44.0.0/16")]);
}

#[test]
#[allow(clippy::too_many_lines)] // one table
fn table_of_configs() {
    struct Case {
        name: &'static str,
        config: LocalConfig,
        peers: Vec<PeerNode>,
        neighbours: usize,
        fdb: usize,
        routes: Vec<(&'static str, &'static str, Option<&'static str>, bool)>,
        rejected: Vec<&'static str>,
        nat: usize,
    }
    let mut direct = config();
    direct.direct_routing = true;
    direct.underlay_subnets = vec![net("198.51.100.0/24")];
    let mut custom_dev = config();
    custom_dev.vxlan_device = "flannel.7".into();
    let mut two_local = config();
    two_local.local_cluster_cidrs.push(net("10.46.0.0/16"));
    let mut other_vni = config();
    other_vni.vni = 7;

    let cases = vec![
        Case {
            name: "no peers: only nat",
            config: config(),
            peers: vec![],
            neighbours: 0,
            fdb: 0,
            routes: vec![],
            rejected: vec![],
            nat: 2,
        },
        Case {
            name: "two vxlan peers",
            config: config(),
            peers: vec![
                peer("b", "203.0.113.22", "02:00:00:00:00:02", "10.44.2.0/24"),
                peer("a", "203.0.113.21", "02:00:00:00:00:01", "10.44.1.0/24"),
            ],
            neighbours: 2,
            fdb: 2,
            routes: vec![
                ("10.44.1.0/24", "10.44.1.0", Some("flannel.1"), true),
                ("10.44.2.0/24", "10.44.2.0", Some("flannel.1"), true),
            ],
            rejected: vec![],
            nat: 2,
        },
        Case {
            name: "direct routing on-link peer vs remote peer",
            config: direct,
            peers: vec![
                peer("near", "198.51.100.12", "02:00:00:00:00:01", "10.44.1.0/24"),
                peer("far", "203.0.113.22", "02:00:00:00:00:02", "10.44.2.0/24"),
            ],
            neighbours: 1,
            fdb: 1,
            routes: vec![
                ("10.44.1.0/24", "198.51.100.12", None, false),
                ("10.44.2.0/24", "10.44.2.0", Some("flannel.1"), true),
            ],
            rejected: vec![],
            nat: 2,
        },
        Case {
            name: "custom device name",
            config: custom_dev,
            peers: vec![peer(
                "a",
                "203.0.113.21",
                "02:00:00:00:00:01",
                "10.44.1.0/24",
            )],
            neighbours: 1,
            fdb: 1,
            routes: vec![("10.44.1.0/24", "10.44.1.0", Some("flannel.7"), true)],
            rejected: vec![],
            nat: 2,
        },
        Case {
            name: "two local cidrs: four exemptions",
            config: two_local,
            peers: vec![],
            neighbours: 0,
            fdb: 0,
            routes: vec![],
            rejected: vec![],
            nat: 4,
        },
        Case {
            name: "peer outside peer cluster cidr is rejected",
            config: config(),
            peers: vec![
                peer("stray", "203.0.113.29", "02:00:00:00:00:09", "10.42.9.0/24"),
                peer("a", "203.0.113.21", "02:00:00:00:00:01", "10.44.1.0/24"),
            ],
            neighbours: 1,
            fdb: 1,
            routes: vec![("10.44.1.0/24", "10.44.1.0", Some("flannel.1"), true)],
            rejected: vec![
                "node stray pod CIDR 10.42.9.0/24 is not inside the peer cluster CIDR(s) 10.44.0.0/16",
            ],
            nat: 2,
        },
        Case {
            name: "overlapping peers: later name rejected",
            config: config(),
            peers: vec![
                peer("b", "203.0.113.22", "02:00:00:00:00:02", "10.44.1.0/25"),
                peer("a", "203.0.113.21", "02:00:00:00:00:01", "10.44.1.0/24"),
            ],
            neighbours: 1,
            fdb: 1,
            routes: vec![("10.44.1.0/24", "10.44.1.0", Some("flannel.1"), true)],
            rejected: vec!["node b pod CIDR 10.44.1.0/25 overlaps pod CIDR 10.44.1.0/24 of node a"],
            nat: 2,
        },
        Case {
            name: "duplicate vtep mac rejected",
            config: config(),
            peers: vec![
                peer("a", "203.0.113.21", "02:00:00:00:00:01", "10.44.1.0/24"),
                peer("b", "203.0.113.22", "02:00:00:00:00:01", "10.44.2.0/24"),
            ],
            neighbours: 1,
            fdb: 1,
            routes: vec![("10.44.1.0/24", "10.44.1.0", Some("flannel.1"), true)],
            rejected: vec![
                "node b has invalid VtepMAC \"02:00:00:00:00:01 (already used by another peer node)\"",
            ],
            nat: 2,
        },
        Case {
            name: "vni mismatch rejected",
            config: other_vni,
            peers: vec![peer(
                "a",
                "203.0.113.21",
                "02:00:00:00:00:01",
                "10.44.1.0/24",
            )],
            neighbours: 0,
            fdb: 0,
            routes: vec![],
            rejected: vec!["node a uses VXLAN VNI 1 but the local cluster uses VNI 7"],
            nat: 2,
        },
    ];
    for case in cases {
        let d = desired_state(&case.config, case.peers).unwrap();
        assert_eq!(d.state.neighbours.len(), case.neighbours, "{}", case.name);
        assert_eq!(d.state.fdb.len(), case.fdb, "{}", case.name);
        let routes: Vec<_> = d
            .state
            .routes
            .iter()
            .map(|r| {
                (
                    r.dst.to_string(),
                    r.via.to_string(),
                    r.device.clone(),
                    r.onlink,
                )
            })
            .collect();
        let want: Vec<_> = case
            .routes
            .iter()
            .map(|(d, v, dev, o)| ((*d).to_owned(), (*v).to_owned(), dev.map(str::to_owned), *o))
            .collect();
        assert_eq!(routes, want, "{}", case.name);
        let rejected: Vec<_> = d.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(
            rejected.len(),
            case.rejected.len(),
            "{}: {rejected:?}",
            case.name
        );
        for (got, want) in rejected.iter().zip(&case.rejected) {
            assert!(got.starts_with(want), "{}: {got:?} vs {want:?}", case.name);
        }
        assert_eq!(
            d.state.nat.map(|n| n.len()),
            Some(case.nat),
            "{}",
            case.name
        );
    }
}

#[test]
fn overlapping_cluster_cidrs_are_fatal() {
    for (local, peer_cidr) in [
        ("10.42.0.0/16", "10.42.0.0/16"),
        ("10.0.0.0/8", "10.44.0.0/16"),
    ] {
        let cfg = LocalConfig::new(1, vec![net(local)], vec![net(peer_cidr)]);
        let err = desired_state(&cfg, vec![]).unwrap_err();
        assert!(
            matches!(err, Error::ClusterCidrOverlap { .. }),
            "{local} {peer_cidr}"
        );
        assert!(err.to_string().contains("must use disjoint pod CIDRs"));
    }
}

#[test]
fn desired_state_is_deterministic_in_peer_order() {
    let a = peer("a", "203.0.113.21", "02:00:00:00:00:01", "10.44.1.0/24");
    let b = peer("b", "203.0.113.22", "02:00:00:00:00:02", "10.44.2.0/24");
    let one = desired_state(&config(), vec![a.clone(), b.clone()]).unwrap();
    let two = desired_state(&config(), vec![b, a]).unwrap();
    assert_eq!(one.state, two.state);
}

#[test]
fn cidr_check_names_the_overlapping_pair() {
    let n = |s: &str| s.parse::<Ipv4Net>().unwrap();
    assert!(
        check_cidrs(
            &[n("10.42.0.0/16")],
            &[n("10.44.0.0/16")],
            &[n("10.43.0.0/16")],
            &[n("10.45.0.0/16")]
        )
        .is_ok()
    );
    assert!(check_cidrs(&[n("10.42.0.0/16")], &[n("10.44.0.0/16")], &[], &[]).is_ok());
    let err = check_cidrs(
        &[n("10.42.0.0/16")],
        &[n("10.44.0.0/16")],
        &[n("10.43.0.0/16")],
        &[n("10.43.128.0/17")],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "local service CIDR 10.43.0.0/16 overlaps peer service CIDR 10.43.128.0/17; cross-cluster routing needs disjoint pod and Service CIDRs in both clusters: check --cluster-cidr, --peer-cluster-cidr, --local-service-cidr and --peer-service-cidr, and if they are right re-address one cluster (flannel's Network, kube-apiserver's --service-cluster-ip-range); nothing was changed"
    );
    let err = check_cidrs(
        &[n("10.42.0.0/16")],
        &[n("10.44.0.0/16")],
        &[n("10.44.0.0/20")],
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::CidrOverlap {
                first: "peer cluster CIDR",
                second: "local service CIDR",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn only_vxlan_peers_get_mtu_checks_and_the_device_expectation_follows_the_config() {
    let mut cfg = config();
    cfg.direct_routing = true;
    cfg.underlay_subnets = vec![net("198.51.100.0/24")];
    cfg.peer_vxlan_port = 4789;
    let d = desired_state(
        &cfg,
        vec![
            peer(
                "on-link",
                "198.51.100.22",
                "ba:7e:3d:4c:18:ec",
                "10.44.2.0/24",
            ),
            peer(
                "remote",
                "203.0.113.21",
                "ba:7e:3d:4c:18:eb",
                "10.44.1.0/24",
            ),
        ],
    )
    .unwrap();
    assert_eq!(
        d.vxlan_peers.into_iter().collect::<Vec<_>>(),
        [(ip("203.0.113.21"), "remote".to_owned())]
    );
    assert_eq!(
        d.vxlan,
        crate::link::VxlanExpect {
            vni: 1,
            peer_port: 4789
        }
    );
}
