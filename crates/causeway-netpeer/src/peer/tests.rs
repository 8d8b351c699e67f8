use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

const GOOD_DATA: &str = r#"{"VNI":1,"VtepMAC":"ba:7e:3d:4c:18:eb"}"#;

fn node(name: &str, annotations: &[(&str, &str)], cidrs: &[&str]) -> Node {
    let annotations: BTreeMap<String, String> = annotations
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: cidrs.first().map(|c| (*c).to_owned()),
            pod_cidrs: Some(cidrs.iter().map(|c| (*c).to_owned()).collect()),
            ..NodeSpec::default()
        }),
        status: None,
    }
}

fn flannel_node(name: &str, ip: &str, data: &str, cidrs: &[&str]) -> Node {
    node(
        name,
        &[
            (PUBLIC_IP_ANNOTATION, ip),
            (BACKEND_DATA_ANNOTATION, data),
            (BACKEND_TYPE_ANNOTATION, "vxlan"),
        ],
        cidrs,
    )
}

#[test]
fn parses_a_flannel_vxlan_node() {
    let peer = PeerNode::from_node(
        &flannel_node("c2-n1", "192.168.31.95", GOOD_DATA, &["10.44.0.0/24"]),
        1,
    )
    .unwrap();
    assert_eq!(
        peer,
        PeerNode {
            name: "c2-n1".into(),
            public_ip: "192.168.31.95".parse().unwrap(),
            vtep_mac: "ba:7e:3d:4c:18:eb".parse().unwrap(),
            vni: 1,
            backend_type: "vxlan".into(),
            pod_cidrs: vec!["10.44.0.0/24".parse().unwrap()],
        }
    );
    assert_eq!(peer.vtep_ip(), "10.44.0.0".parse::<Ipv4Addr>().unwrap());
}

#[test]
fn falls_back_to_pod_cidr_and_skips_ipv6() {
    let mut n = flannel_node("n", "203.0.113.5", GOOD_DATA, &[]);
    n.spec = Some(NodeSpec {
        pod_cidr: Some("10.44.3.0/24".into()),
        ..NodeSpec::default()
    });
    let peer = PeerNode::from_node(&n, 1).unwrap();
    assert_eq!(
        peer.pod_cidrs,
        vec!["10.44.3.0/24".parse::<Ipv4Net>().unwrap()]
    );

    let dual = flannel_node(
        "d",
        "203.0.113.5",
        GOOD_DATA,
        &["fd00:44::/64", "10.44.4.0/24"],
    );
    let peer = PeerNode::from_node(&dual, 1).unwrap();
    assert_eq!(
        peer.pod_cidrs,
        vec!["10.44.4.0/24".parse::<Ipv4Net>().unwrap()]
    );
    assert_eq!(peer.vtep_ip(), "10.44.4.0".parse::<Ipv4Addr>().unwrap());
}

#[test]
#[allow(clippy::too_many_lines)] // one table
fn rejects_every_bad_input_with_a_named_error() {
    type Check = fn(&Error) -> bool;
    let ip = (PUBLIC_IP_ANNOTATION, "203.0.113.5");
    let data = (BACKEND_DATA_ANNOTATION, GOOD_DATA);
    let vxlan = (BACKEND_TYPE_ANNOTATION, "vxlan");
    let cidr = &["10.44.1.0/24"][..];
    let cases: Vec<(&str, Node, Check, &str)> = vec![
        (
            "no public ip",
            node("a", &[data, vxlan], cidr),
            |e| matches!(e, Error::MissingAnnotation { annotation, .. } if *annotation == PUBLIC_IP_ANNOTATION),
            "node a has no annotation flannel.alpha.coreos.com/public-ip",
        ),
        (
            "no backend data",
            node("a", &[ip, vxlan], cidr),
            |e| matches!(e, Error::MissingAnnotation { annotation, .. } if *annotation == BACKEND_DATA_ANNOTATION),
            "backend-data",
        ),
        (
            "no backend type",
            node("a", &[ip, data], cidr),
            |e| matches!(e, Error::MissingAnnotation { annotation, .. } if *annotation == BACKEND_TYPE_ANNOTATION),
            "backend-type",
        ),
        (
            "no annotations at all",
            Node {
                metadata: ObjectMeta {
                    name: Some("a".into()),
                    ..ObjectMeta::default()
                },
                ..Node::default()
            },
            |e| matches!(e, Error::MissingAnnotation { .. }),
            "node a",
        ),
        (
            "host-gw backend",
            node("a", &[ip, data, (BACKEND_TYPE_ANNOTATION, "host-gw")], cidr),
            |e| matches!(e, Error::UnsupportedBackend { backend, .. } if backend == "host-gw"),
            "set Backend.Type to vxlan",
        ),
        (
            "wireguard backend",
            node(
                "a",
                &[ip, data, (BACKEND_TYPE_ANNOTATION, "wireguard")],
                cidr,
            ),
            |e| matches!(e, Error::UnsupportedBackend { .. }),
            "only \"vxlan\"",
        ),
        (
            "public ip garbage",
            node(
                "a",
                &[(PUBLIC_IP_ANNOTATION, "not-an-ip"), data, vxlan],
                cidr,
            ),
            |e| matches!(e, Error::InvalidPublicIp { .. }),
            "expected an IPv4 address",
        ),
        (
            "public ip v6",
            node(
                "a",
                &[(PUBLIC_IP_ANNOTATION, "2001:db8::1"), data, vxlan],
                cidr,
            ),
            |e| matches!(e, Error::InvalidPublicIp { .. }),
            "node a",
        ),
        (
            "data not json",
            node("a", &[ip, (BACKEND_DATA_ANNOTATION, "VNI=1"), vxlan], cidr),
            |e| matches!(e, Error::MalformedBackendData { .. }),
            "expected JSON like",
        ),
        (
            "data missing mac",
            node(
                "a",
                &[ip, (BACKEND_DATA_ANNOTATION, r#"{"VNI":1}"#), vxlan],
                cidr,
            ),
            |e| matches!(e, Error::MalformedBackendData { .. }),
            "malformed",
        ),
        (
            "data vni string",
            node(
                "a",
                &[
                    ip,
                    (
                        BACKEND_DATA_ANNOTATION,
                        r#"{"VNI":"1","VtepMAC":"ba:7e:3d:4c:18:eb"}"#,
                    ),
                    vxlan,
                ],
                cidr,
            ),
            |e| matches!(e, Error::MalformedBackendData { .. }),
            "malformed",
        ),
        (
            "mac garbage",
            node(
                "a",
                &[
                    ip,
                    (
                        BACKEND_DATA_ANNOTATION,
                        r#"{"VNI":1,"VtepMAC":"zz:7e:3d:4c:18:eb"}"#,
                    ),
                    vxlan,
                ],
                cidr,
            ),
            |e| matches!(e, Error::InvalidMac { .. }),
            "invalid VtepMAC",
        ),
        (
            "mac too short",
            node(
                "a",
                &[
                    ip,
                    (
                        BACKEND_DATA_ANNOTATION,
                        r#"{"VNI":1,"VtepMAC":"ba:7e:3d:4c:18"}"#,
                    ),
                    vxlan,
                ],
                cidr,
            ),
            |e| matches!(e, Error::InvalidMac { .. }),
            "unicast MAC",
        ),
        (
            "mac zero",
            node(
                "a",
                &[
                    ip,
                    (
                        BACKEND_DATA_ANNOTATION,
                        r#"{"VNI":1,"VtepMAC":"00:00:00:00:00:00"}"#,
                    ),
                    vxlan,
                ],
                cidr,
            ),
            |e| matches!(e, Error::InvalidMac { .. }),
            "invalid VtepMAC",
        ),
        (
            "mac multicast",
            node(
                "a",
                &[
                    ip,
                    (
                        BACKEND_DATA_ANNOTATION,
                        r#"{"VNI":1,"VtepMAC":"01:00:5e:00:00:01"}"#,
                    ),
                    vxlan,
                ],
                cidr,
            ),
            |e| matches!(e, Error::InvalidMac { .. }),
            "invalid VtepMAC",
        ),
        (
            "vni mismatch",
            node(
                "a",
                &[
                    ip,
                    (
                        BACKEND_DATA_ANNOTATION,
                        r#"{"VNI":4096,"VtepMAC":"ba:7e:3d:4c:18:eb"}"#,
                    ),
                    vxlan,
                ],
                cidr,
            ),
            |e| {
                matches!(
                    e,
                    Error::VniMismatch {
                        peer_vni: 4096,
                        local_vni: 1,
                        ..
                    }
                )
            },
            "uses VXLAN VNI 4096 but the local cluster uses VNI 1",
        ),
        (
            "no pod cidr",
            node("a", &[ip, data, vxlan], &[]),
            |e| matches!(e, Error::MissingPodCidr { .. }),
            "node a has no IPv4 spec.podCIDR",
        ),
        (
            "only ipv6 pod cidr",
            node("a", &[ip, data, vxlan], &["fd00::/64"]),
            |e| matches!(e, Error::MissingPodCidr { .. }),
            "no IPv4",
        ),
        (
            "pod cidr garbage",
            node("a", &[ip, data, vxlan], &["10.44.1.0"]),
            |e| matches!(e, Error::InvalidPodCidr { .. }),
            "invalid pod CIDR \"10.44.1.0\"",
        ),
        (
            "pod cidr host bits",
            node("a", &[ip, data, vxlan], &["10.44.1.7/24"]),
            |e| matches!(e, Error::InvalidPodCidr { .. }),
            "expected a CIDR",
        ),
    ];
    for (name, node, check, message) in cases {
        let err = PeerNode::from_node(&node, 1).expect_err(name);
        assert!(check(&err), "{name}: unexpected error {err:?}");
        let text = err.to_string();
        assert!(text.contains(message), "{name}: {text:?} lacks {message:?}");
        assert!(
            text.contains("node a"),
            "{name}: {text:?} does not name the node"
        );
    }
}

#[test]
fn parse_peers_keeps_good_nodes_and_rejects_bad_and_overlapping_ones() {
    let data2 = r#"{"VNI":1,"VtepMAC":"ba:7e:3d:4c:18:ec"}"#;
    let data3 = r#"{"VNI":1,"VtepMAC":"ba:7e:3d:4c:18:ed"}"#;
    let nodes = vec![
        flannel_node("c2-n3", "203.0.113.23", data3, &["10.44.1.128/25"]),
        flannel_node("c2-n1", "203.0.113.21", GOOD_DATA, &["10.44.1.0/24"]),
        node("c2-n0", &[], &["10.44.9.0/24"]),
        flannel_node("c2-n2", "203.0.113.22", data2, &["10.44.2.0/24"]),
    ];
    let parsed = parse_peers(&nodes, 1);
    let names: Vec<_> = parsed.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["c2-n1", "c2-n2"]);
    assert_eq!(parsed.rejected.len(), 2);
    assert!(
        matches!(&parsed.rejected[0], Error::MissingAnnotation { node, .. } if node == "c2-n0")
    );
    let overlap = parsed.rejected[1].to_string();
    assert_eq!(
        overlap,
        "node c2-n3 pod CIDR 10.44.1.128/25 overlaps pod CIDR 10.44.1.0/24 of node c2-n1; \
         fix the peer cluster's node IPAM (each node needs a disjoint podCIDR)"
    );
}

#[test]
fn overlaps_is_symmetric_and_exact() {
    let n = |s: &str| s.parse::<Ipv4Net>().unwrap();
    let cases = [
        ("10.42.0.0/16", "10.42.3.0/24", true),
        ("10.42.3.0/24", "10.42.0.0/16", true),
        ("10.42.0.0/16", "10.43.0.0/16", false),
        ("10.42.0.0/24", "10.42.1.0/24", false),
        ("0.0.0.0/0", "10.44.0.0/16", true),
        ("10.44.1.0/24", "10.44.1.0/24", true),
    ];
    for (a, b, want) in cases {
        assert_eq!(overlaps(n(a), n(b)), want, "{a} vs {b}");
    }
}

#[test]
fn mac_parsing_and_display_round_trip() {
    let cases = [
        ("0e:b5:f8:b4:1c:a3", Some("0e:b5:f8:b4:1c:a3")),
        ("0E-B5-F8-B4-1C-A3", Some("0e:b5:f8:b4:1c:a3")),
        ("0e:b5:f8:b4:1c", None),
        ("0e:b5:f8:b4:1c:a3:00", None),
        ("0e:b5:f8:b4:1c:a", None),
        ("", None),
        ("0e:b5:f8:b4:1c:gg", None),
    ];
    for (input, want) in cases {
        let got = input.parse::<MacAddr>().ok().map(|m| m.to_string());
        assert_eq!(got.as_deref(), want, "{input}");
    }
}

/// The indexed overlap check agrees with comparing every pair, in any order of containment.
#[test]
fn reject_overlaps_matches_the_pairwise_check() {
    let cidrs = [
        "10.44.1.0/24",
        "10.44.0.0/16",
        "10.44.2.0/24",
        "10.44.2.128/25",
        "10.44.3.0/24",
        "10.40.0.0/14",
        "10.45.0.0/24",
        "10.44.4.0/23",
        "10.44.5.0/24",
        "10.44.255.255/32",
        "10.46.0.0/15",
    ];
    let peer = |i: usize, cidr: &str| PeerNode {
        name: format!("n{i:02}"),
        public_ip: Ipv4Addr::new(203, 0, 113, 1),
        vtep_mac: MacAddr([2, 0, 0, 0, 0, 1]),
        vni: 1,
        backend_type: "vxlan".to_owned(),
        pod_cidrs: vec![cidr.parse().unwrap()],
    };
    // Every rotation of the list: each CIDR gets to come first once.
    for start in 0..cidrs.len() {
        let peers: Vec<PeerNode> = (0..cidrs.len())
            .map(|k| (start + k) % cidrs.len())
            .map(|i| peer(i, cidrs[i]))
            .collect();
        let mut want: Vec<String> = Vec::new();
        let mut kept_cidrs: Vec<Ipv4Net> = Vec::new();
        for p in &peers {
            if kept_cidrs.iter().all(|k| !overlaps(*k, p.pod_cidrs[0])) {
                kept_cidrs.push(p.pod_cidrs[0]);
                want.push(p.name.clone());
            }
        }
        let (kept, rejected) = reject_overlaps(peers);
        let got: Vec<String> = kept.iter().map(|p| p.name.clone()).collect();
        assert_eq!(got, want, "rotation {start}");
        assert_eq!(kept.len() + rejected.len(), cidrs.len());
    }
}
