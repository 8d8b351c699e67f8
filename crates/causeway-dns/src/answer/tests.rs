use std::net::IpAddr;

use super::records::{RecordData, Rr};
use super::*;
use crate::index::{AddressType, EndpointData, ImportData, ImportType, PortData, SliceData};

const Z: &str = "clusterset.local";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ep(addr: &str, hostname: Option<&str>, ready: bool) -> EndpointData {
    EndpointData {
        addresses: vec![ip(addr)],
        hostname: hostname.map(str::to_owned),
        ready,
    }
}

fn slice(
    service: &str,
    cluster: &str,
    family: AddressType,
    endpoints: Vec<EndpointData>,
    ports: Vec<PortData>,
) -> SliceData {
    SliceData {
        service: service.to_owned(),
        cluster: cluster.to_owned(),
        address_type: family,
        endpoints,
        ports,
    }
}

/// The fixture every table row runs against (namespace `demo`):
/// - `web`: `ClusterSetIP`, dual-stack VIPs; ports http/TCP/80, tcp42/TCP/42, udp42/UDP/42 and an
///   unnamed TCP 8443;
/// - `hl`: headless; cluster `east` has an IPv4 and an IPv6 slice (pod-a in both, one pod
///   without hostname in each, one not-ready pod), cluster `west` one IPv4 pod;
/// - `empty-hl`: headless with only a not-ready endpoint;
/// - `novip`: `ClusterSetIP` with no VIP and no port yet;
/// - `web` also exists in namespace `other` with a v4 VIP only.
fn fixture() -> Index {
    let mut index = Index::default();
    let http = || PortData::new(Some("http"), "TCP", 8080);
    let unnamed = || PortData::new(None, "TCP", 9000);
    index.apply_import(
        "demo",
        "web",
        ImportData {
            type_: ImportType::ClusterSetIp,
            vips: vec![ip("10.96.0.10"), ip("fd00:96::10")],
            ports: vec![
                PortData::new(Some("http"), "TCP", 80),
                PortData::new(Some("tcp42"), "TCP", 42),
                PortData::new(Some("udp42"), "UDP", 42),
                PortData::new(None, "TCP", 8443),
            ],
        },
    );
    index.apply_import(
        "other",
        "web",
        ImportData {
            type_: ImportType::ClusterSetIp,
            vips: vec![ip("10.96.0.20")],
            ports: vec![PortData::new(Some("http"), "TCP", 80)],
        },
    );
    let headless = ImportData {
        type_: ImportType::Headless,
        vips: Vec::new(),
        ports: vec![PortData::new(Some("http"), "TCP", 80)],
    };
    index.apply_import("demo", "hl", headless.clone());
    index.apply_import("demo", "empty-hl", headless);
    index.apply_import("demo", "novip", ImportData::default());
    index.apply_slice(
        "demo",
        "hl-east-v4",
        slice(
            "hl",
            "east",
            AddressType::Ipv4,
            vec![
                ep("10.1.0.1", Some("pod-a"), true),
                ep("10.1.0.2", None, true),
                ep("10.1.0.3", None, false),
            ],
            vec![http(), unnamed()],
        ),
    );
    index.apply_slice(
        "demo",
        "hl-east-v6",
        slice(
            "hl",
            "east",
            AddressType::Ipv6,
            vec![
                ep("fd00:1::1", Some("pod-a"), true),
                ep("fd00:1::2", None, true),
            ],
            vec![http(), unnamed()],
        ),
    );
    index.apply_slice(
        "demo",
        "hl-west-v4",
        slice(
            "hl",
            "west",
            AddressType::Ipv4,
            vec![ep("10.2.0.1", Some("pod-w"), true)],
            vec![http()],
        ),
    );
    index.apply_slice(
        "demo",
        "empty-hl-east",
        slice(
            "empty-hl",
            "east",
            AddressType::Ipv4,
            vec![ep("10.3.0.1", Some("gone"), false)],
            vec![http()],
        ),
    );
    index
}

/// `owner TTL TYPE data`, for compact expectations.
fn show(rr: &Rr) -> String {
    let data = match &rr.data {
        RecordData::A(a) => format!("A {a}"),
        RecordData::Aaaa(a) => format!("AAAA {a}"),
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => format!("SRV {priority} {weight} {port} {target}"),
        RecordData::Txt(t) => format!("TXT {t}"),
        RecordData::Ptr(p) => format!("PTR {p}"),
        RecordData::Ns(n) => format!("NS {n}"),
        RecordData::Soa {
            mname,
            rname,
            refresh,
            retry,
            expire,
            minimum,
            ..
        } => format!("SOA {mname} {rname} {refresh} {retry} {expire} {minimum}"),
    };
    format!("{} {} {data}", rr.name, rr.ttl)
}

fn sorted(records: &[Rr]) -> Vec<String> {
    let mut out: Vec<String> = records.iter().map(show).collect();
    out.sort();
    out
}

/// Expected outcome of one row.
#[derive(Debug)]
enum Want {
    /// NOERROR with exactly these answers (any order).
    Records(&'static [&'static str]),
    /// NOERROR, no answers, SOA in authority.
    NoData,
    /// NXDOMAIN with SOA in authority.
    NxDomain,
    /// This code, no records, not authoritative.
    Code(Rcode),
}

const SOA: &str = "clusterset.local. 5 SOA ns.dns.clusterset.local. hostmaster.clusterset.local. \
                   7200 1800 86400 5";

fn check(index: &Index, zone: &Zone, qname: &str, qtype: QueryType, want: &Want) {
    let got = answer(index, qname, qtype, zone);
    let ctx = format!("{qname} {qtype:?}: got {got:#?}");
    match want {
        Want::Records(records) => {
            let mut expected: Vec<String> = records.iter().map(|s| (*s).to_owned()).collect();
            expected.sort();
            assert_eq!(got.rcode, Rcode::NoError, "{ctx}");
            assert_eq!(sorted(&got.answers), expected, "{ctx}");
            assert_eq!(got.answers.len(), records.len(), "duplicates: {ctx}");
            assert!(got.authority.is_empty(), "{ctx}");
            assert!(got.authoritative, "{ctx}");
        }
        Want::NoData | Want::NxDomain => {
            let rcode = if matches!(want, Want::NoData) {
                Rcode::NoError
            } else {
                Rcode::NxDomain
            };
            assert_eq!(got.rcode, rcode, "{ctx}");
            assert!(got.answers.is_empty(), "{ctx}");
            assert!(got.additionals.is_empty(), "{ctx}");
            assert_eq!(sorted(&got.authority), vec![SOA.to_owned()], "{ctx}");
            assert!(got.authoritative, "{ctx}");
        }
        Want::Code(rcode) => {
            assert_eq!(got, Answer::code(*rcode), "{ctx}");
        }
    }
}

use QueryType::{A, Aaaa, Any, Ns, Ptr, Soa, Srv, Txt};
use Want::{Code, NoData, NxDomain, Records};

const WEB: &str = "web.demo.svc.clusterset.local.";
const HL: &str = "hl.demo.svc.clusterset.local.";

#[rustfmt::skip]
const TABLE: &[(&str, QueryType, Want)] = &[
    // Schema version.
    ("dns-version.clusterset.local", Txt, Records(&["dns-version.clusterset.local. 5 TXT 1.0.0"])),
    ("dns-version.clusterset.local.", A, NoData),
    // Zone apex.
    ("clusterset.local.", Soa, Records(&[SOA])),
    ("clusterset.local.", Ns, Records(&["clusterset.local. 5 NS ns.dns.clusterset.local."])),
    ("clusterset.local.", A, NoData),
    ("ns.dns.clusterset.local.", A, NoData),
    ("dns.clusterset.local.", A, NoData),
    ("foo.clusterset.local.", A, NxDomain),
    // Empty non-terminals above services.
    ("svc.clusterset.local.", A, NoData),
    ("demo.svc.clusterset.local.", A, NoData),
    ("nope.svc.clusterset.local.", A, NxDomain),
    // ClusterSetIP, dual-stack.
    (WEB, A, Records(&["web.demo.svc.clusterset.local. 5 A 10.96.0.10"])),
    (WEB, Aaaa, Records(&["web.demo.svc.clusterset.local. 5 AAAA fd00:96::10"])),
    ("web.other.svc.clusterset.local.", A, Records(&["web.other.svc.clusterset.local. 5 A 10.96.0.20"])),
    ("web.other.svc.clusterset.local.", Aaaa, NoData),
    (WEB, Txt, NoData),
    (WEB, QueryType::Other(15), NoData),
    ("missing.demo.svc.clusterset.local.", A, NxDomain),
    ("missing.demo.svc.clusterset.local.", Srv, NxDomain),
    ("novip.demo.svc.clusterset.local.", A, NoData),
    ("novip.demo.svc.clusterset.local.", Srv, NoData),
    // Bare-name SRV: one per port, TCP and UDP 42 deduplicated, the unnamed port included.
    (WEB, Srv, Records(&[
        "web.demo.svc.clusterset.local. 5 SRV 0 100 80 web.demo.svc.clusterset.local.",
        "web.demo.svc.clusterset.local. 5 SRV 0 100 42 web.demo.svc.clusterset.local.",
        "web.demo.svc.clusterset.local. 5 SRV 0 100 8443 web.demo.svc.clusterset.local.",
    ])),
    (WEB, Any, Records(&[
        "web.demo.svc.clusterset.local. 5 A 10.96.0.10",
        "web.demo.svc.clusterset.local. 5 AAAA fd00:96::10",
        "web.demo.svc.clusterset.local. 5 SRV 0 100 80 web.demo.svc.clusterset.local.",
        "web.demo.svc.clusterset.local. 5 SRV 0 100 42 web.demo.svc.clusterset.local.",
        "web.demo.svc.clusterset.local. 5 SRV 0 100 8443 web.demo.svc.clusterset.local.",
    ])),
    // Named-port SRV.
    ("_http._tcp.web.demo.svc.clusterset.local.", Srv, Records(&[
        "_http._tcp.web.demo.svc.clusterset.local. 5 SRV 0 100 80 web.demo.svc.clusterset.local.",
    ])),
    ("_tcp42._tcp.web.demo.svc.clusterset.local.", Srv, Records(&[
        "_tcp42._tcp.web.demo.svc.clusterset.local. 5 SRV 0 100 42 web.demo.svc.clusterset.local.",
    ])),
    ("_udp42._udp.web.demo.svc.clusterset.local.", Srv, Records(&[
        "_udp42._udp.web.demo.svc.clusterset.local. 5 SRV 0 100 42 web.demo.svc.clusterset.local.",
    ])),
    ("_tcp42._udp.web.demo.svc.clusterset.local.", Srv, NxDomain),
    ("_8443._tcp.web.demo.svc.clusterset.local.", Srv, NxDomain),
    ("_http._tcp.web.demo.svc.clusterset.local.", A, NoData),
    ("_tcp.web.demo.svc.clusterset.local.", Srv, NoData),
    ("_udp.web.demo.svc.clusterset.local.", A, NoData),
    ("_sctp.web.demo.svc.clusterset.local.", Srv, NxDomain),
    ("_http.web.demo.svc.clusterset.local.", Srv, NxDomain),
    ("_http.east.web.demo.svc.clusterset.local.", Srv, NxDomain),
    ("x.y.z.web.demo.svc.clusterset.local.", A, NxDomain),
    // Forbidden <clusterid>.<svc> form: never exists, for either service type or any type.
    ("east.web.demo.svc.clusterset.local.", A, NxDomain),
    ("east.hl.demo.svc.clusterset.local.", A, NxDomain),
    ("east.hl.demo.svc.clusterset.local.", Aaaa, NxDomain),
    ("east.hl.demo.svc.clusterset.local.", Srv, NxDomain),
    ("west.hl.demo.svc.clusterset.local.", Any, NxDomain),
    // Headless: all ready endpoints, the same subset for both families.
    (HL, A, Records(&[
        "hl.demo.svc.clusterset.local. 5 A 10.1.0.1",
        "hl.demo.svc.clusterset.local. 5 A 10.1.0.2",
        "hl.demo.svc.clusterset.local. 5 A 10.2.0.1",
    ])),
    (HL, Aaaa, Records(&[
        "hl.demo.svc.clusterset.local. 5 AAAA fd00:1::1",
        "hl.demo.svc.clusterset.local. 5 AAAA fd00:1::2",
    ])),
    (HL, Txt, NoData),
    // Headless bare-name SRV: per ready endpoint per port, pod-a (in both slices) once.
    (HL, Srv, Records(&[
        "hl.demo.svc.clusterset.local. 5 SRV 0 100 8080 pod-a.east.hl.demo.svc.clusterset.local.",
        "hl.demo.svc.clusterset.local. 5 SRV 0 100 9000 pod-a.east.hl.demo.svc.clusterset.local.",
        "hl.demo.svc.clusterset.local. 5 SRV 0 100 8080 10-1-0-2.east.hl.demo.svc.clusterset.local.",
        "hl.demo.svc.clusterset.local. 5 SRV 0 100 9000 10-1-0-2.east.hl.demo.svc.clusterset.local.",
        "hl.demo.svc.clusterset.local. 5 SRV 0 100 8080 fd00-1--2.east.hl.demo.svc.clusterset.local.",
        "hl.demo.svc.clusterset.local. 5 SRV 0 100 9000 fd00-1--2.east.hl.demo.svc.clusterset.local.",
        "hl.demo.svc.clusterset.local. 5 SRV 0 100 8080 pod-w.west.hl.demo.svc.clusterset.local.",
    ])),
    // Headless named-port SRV: N ready endpoints x named ports, across clusters.
    ("_http._tcp.hl.demo.svc.clusterset.local.", Srv, Records(&[
        "_http._tcp.hl.demo.svc.clusterset.local. 5 SRV 0 100 8080 pod-a.east.hl.demo.svc.clusterset.local.",
        "_http._tcp.hl.demo.svc.clusterset.local. 5 SRV 0 100 8080 10-1-0-2.east.hl.demo.svc.clusterset.local.",
        "_http._tcp.hl.demo.svc.clusterset.local. 5 SRV 0 100 8080 fd00-1--2.east.hl.demo.svc.clusterset.local.",
        "_http._tcp.hl.demo.svc.clusterset.local. 5 SRV 0 100 8080 pod-w.west.hl.demo.svc.clusterset.local.",
    ])),
    ("_http._tcp.hl.demo.svc.clusterset.local.", A, NoData),
    ("_http._udp.hl.demo.svc.clusterset.local.", Srv, NxDomain),
    ("_tcp.hl.demo.svc.clusterset.local.", Srv, NoData),
    // Per-pod names: hostname, dashed IPv4, dashed IPv6.
    ("pod-a.east.hl.demo.svc.clusterset.local.", A, Records(&[
        "pod-a.east.hl.demo.svc.clusterset.local. 5 A 10.1.0.1",
    ])),
    ("pod-a.east.hl.demo.svc.clusterset.local.", Aaaa, Records(&[
        "pod-a.east.hl.demo.svc.clusterset.local. 5 AAAA fd00:1::1",
    ])),
    ("pod-a.east.hl.demo.svc.clusterset.local.", Srv, NoData),
    ("10-1-0-2.east.hl.demo.svc.clusterset.local.", A, Records(&[
        "10-1-0-2.east.hl.demo.svc.clusterset.local. 5 A 10.1.0.2",
    ])),
    ("10-1-0-2.east.hl.demo.svc.clusterset.local.", Aaaa, NoData),
    ("fd00-1--2.east.hl.demo.svc.clusterset.local.", Aaaa, Records(&[
        "fd00-1--2.east.hl.demo.svc.clusterset.local. 5 AAAA fd00:1::2",
    ])),
    ("pod-w.west.hl.demo.svc.clusterset.local.", A, Records(&[
        "pod-w.west.hl.demo.svc.clusterset.local. 5 A 10.2.0.1",
    ])),
    // Not ready, wrong cluster, hostname hides the dashed form, ClusterSetIP has no pods.
    ("10-1-0-3.east.hl.demo.svc.clusterset.local.", A, NxDomain),
    ("pod-a.west.hl.demo.svc.clusterset.local.", A, NxDomain),
    ("10-1-0-1.east.hl.demo.svc.clusterset.local.", A, NxDomain),
    ("pod-a.east.web.demo.svc.clusterset.local.", A, NxDomain),
    // Headless with no ready endpoint: NXDOMAIN for every name and type.
    ("empty-hl.demo.svc.clusterset.local.", A, NxDomain),
    ("empty-hl.demo.svc.clusterset.local.", Srv, NxDomain),
    ("_http._tcp.empty-hl.demo.svc.clusterset.local.", Srv, NxDomain),
    ("gone.east.empty-hl.demo.svc.clusterset.local.", A, NxDomain),
    // Case-insensitive matching; owner names repeat the query's spelling.
    ("WEB.Demo.SVC.ClusterSet.Local", A, Records(&["WEB.Demo.SVC.ClusterSet.Local. 5 A 10.96.0.10"])),
    ("_HTTP._Tcp.web.demo.svc.clusterset.local", Srv, Records(&[
        "_HTTP._Tcp.web.demo.svc.clusterset.local. 5 SRV 0 100 80 web.demo.svc.clusterset.local.",
    ])),
    ("Pod-A.EAST.hl.demo.svc.clusterset.local.", A, Records(&[
        "Pod-A.EAST.hl.demo.svc.clusterset.local. 5 A 10.1.0.1",
    ])),
    ("FD00-1--2.east.hl.demo.svc.clusterset.local", Aaaa, Records(&[
        "FD00-1--2.east.hl.demo.svc.clusterset.local. 5 AAAA fd00:1::2",
    ])),
    ("DNS-VERSION.CLUSTERSET.LOCAL", Txt, Records(&["DNS-VERSION.CLUSTERSET.LOCAL. 5 TXT 1.0.0"])),
    // Presentation escapes: an escaped dot stays inside its label.
    ("\\119eb.demo.svc.clusterset.local", A, Records(&["\\119eb.demo.svc.clusterset.local. 5 A 10.96.0.10"])),
    ("web\\.demo.svc.clusterset.local.", A, NxDomain),
    ("svc\\.clusterset.local.", A, Code(Rcode::Refused)),
    ("web.demo.svc.clusterset.local\\.", A, Code(Rcode::Refused)),
    ("web.demo.svc.clusterset.local\\", A, Code(Rcode::FormErr)),
    ("web.demo.svc.clusterset.local\\999", A, Code(Rcode::FormErr)),
    // Outside the zone.
    ("example.com.", A, Code(Rcode::Refused)),
    ("web.demo.svc.cluster.local.", A, Code(Rcode::Refused)),
    ("local.", Soa, Code(Rcode::Refused)),
    (".", Ns, Code(Rcode::Refused)),
    ("", Ns, Code(Rcode::Refused)),
    ("clusterset.local.evil.", A, Code(Rcode::Refused)),
    ("xclusterset.local.", A, Code(Rcode::Refused)),
    ("example.com.", QueryType::Meta(252), Code(Rcode::Refused)),
    // Malformed presentation names and meta types.
    ("a..clusterset.local.", A, Code(Rcode::FormErr)),
    ("clusterset.local.", QueryType::Meta(252), Code(Rcode::NotImp)),
    ("clusterset.local.", QueryType::Meta(251), Code(Rcode::NotImp)),
    ("clusterset.local.", QueryType::Meta(41), Code(Rcode::FormErr)),
    // PTR for ClusterSet VIPs only; other reverse names are refused.
    ("10.0.96.10.in-addr.arpa.", Ptr, Records(&["10.0.96.10.in-addr.arpa. 5 PTR web.demo.svc.clusterset.local."])),
    ("10.0.96.10.IN-ADDR.ARPA", Ptr, Records(&["10.0.96.10.IN-ADDR.ARPA. 5 PTR web.demo.svc.clusterset.local."])),
    ("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa.", Ptr, Records(&[
        "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa. 5 PTR web.demo.svc.clusterset.local.",
    ])),
    ("1.0.1.10.in-addr.arpa.", Ptr, Code(Rcode::Refused)),
    ("010.0.96.10.in-addr.arpa.", Ptr, Code(Rcode::Refused)),
    ("0.96.10.in-addr.arpa.", Ptr, Code(Rcode::Refused)),
    ("in-addr.arpa.", Soa, Code(Rcode::Refused)),
    ("1.0.d.f.ip6.arpa.", Ptr, Code(Rcode::Refused)),
];

#[test]
fn table() {
    let index = fixture();
    let zone = Zone::default();
    for (qname, qtype, want) in TABLE {
        check(&index, &zone, qname, *qtype, want);
    }
}

#[test]
fn known_vip_with_other_type_is_authoritative_nodata_without_soa() {
    let got = answer(&fixture(), "10.0.96.10.in-addr.arpa.", A, &Zone::default());
    assert_eq!(got.rcode, Rcode::NoError);
    assert!(got.authoritative);
    assert!(got.answers.is_empty() && got.authority.is_empty());
}

#[test]
fn trailing_dot_is_optional() {
    let index = fixture();
    let zone = Zone::default();
    for (qname, qtype, _) in TABLE {
        if qname.is_empty() || *qname == "." || qname.contains('\\') {
            continue;
        }
        let with = qname
            .strip_suffix('.')
            .map_or_else(|| format!("{qname}."), str::to_owned);
        let a = answer(&index, qname, *qtype, &zone);
        let b = answer(&index, &with, *qtype, &zone);
        assert_eq!(sorted(&a.answers), sorted(&b.answers), "{qname} vs {with}");
        assert_eq!(a.rcode, b.rcode, "{qname} vs {with}");
    }
}

#[test]
fn srv_answers_carry_target_addresses_as_additionals() {
    let index = fixture();
    let zone = Zone::default();
    let web = answer(
        &index,
        "_http._tcp.web.demo.svc.clusterset.local",
        Srv,
        &zone,
    );
    assert_eq!(
        sorted(&web.additionals),
        vec![
            "web.demo.svc.clusterset.local. 5 A 10.96.0.10".to_owned(),
            "web.demo.svc.clusterset.local. 5 AAAA fd00:96::10".to_owned(),
        ]
    );
    let hl = answer(
        &index,
        "_http._tcp.hl.demo.svc.clusterset.local",
        Srv,
        &zone,
    );
    assert_eq!(
        sorted(&hl.additionals),
        vec![
            "10-1-0-2.east.hl.demo.svc.clusterset.local. 5 A 10.1.0.2".to_owned(),
            "fd00-1--2.east.hl.demo.svc.clusterset.local. 5 AAAA fd00:1::2".to_owned(),
            "pod-a.east.hl.demo.svc.clusterset.local. 5 A 10.1.0.1".to_owned(),
            "pod-a.east.hl.demo.svc.clusterset.local. 5 AAAA fd00:1::1".to_owned(),
            "pod-w.west.hl.demo.svc.clusterset.local. 5 A 10.2.0.1".to_owned(),
        ],
        "every SRV target's addresses, once each"
    );
    let a = answer(&index, WEB, A, &zone);
    assert!(
        a.additionals.is_empty(),
        "address answers carry no additionals"
    );
}

#[test]
fn headless_answer_is_every_ready_endpoint_at_scale() {
    let mut index = Index::default();
    index.apply_import(
        "demo",
        "big",
        ImportData {
            type_: ImportType::Headless,
            ..ImportData::default()
        },
    );
    for cluster in ["c1", "c2", "c3"] {
        let endpoints = (0..200)
            .map(|i| {
                ep(
                    &format!("10.{}.{}.{}", cluster.len(), i / 250, i % 250 + 1),
                    None,
                    true,
                )
            })
            .collect();
        let ports = vec![PortData::new(Some("http"), "TCP", 80)];
        index.apply_slice(
            "demo",
            &format!("big-{cluster}"),
            slice("big", cluster, AddressType::Ipv4, endpoints, ports),
        );
    }
    let zone = Zone::default();
    let a = answer(&index, "big.demo.svc.clusterset.local", A, &zone);
    // Same addresses in three clusters collapse to 200 distinct A records.
    assert_eq!(a.answers.len(), 200);
    let srv = answer(
        &index,
        "_http._tcp.big.demo.svc.clusterset.local",
        Srv,
        &zone,
    );
    assert_eq!(
        srv.answers.len(),
        600,
        "targets differ per cluster, so no dedup"
    );
}

#[test]
fn zone_and_ttl_are_configurable() {
    let index = fixture();
    let zone = Zone::new("Example.ORG.", 30).unwrap();
    assert_eq!(zone.name(), "example.org");
    check(
        &index,
        &zone,
        "web.demo.svc.example.org",
        A,
        &Records(&["web.demo.svc.example.org. 30 A 10.96.0.10"]),
    );
    check(
        &index,
        &zone,
        "_http._tcp.web.demo.svc.example.org",
        Srv,
        &Records(&[
            "_http._tcp.web.demo.svc.example.org. 30 SRV 0 100 80 web.demo.svc.example.org.",
        ]),
    );
    check(
        &index,
        &zone,
        "dns-version.example.org",
        Txt,
        &Records(&["dns-version.example.org. 30 TXT 1.0.0"]),
    );
    check(&index, &zone, WEB, A, &Code(Rcode::Refused));
    let nx = answer(&index, "nope.example.org", A, &zone);
    assert_eq!(nx.rcode, Rcode::NxDomain);
    assert_eq!(
        sorted(&nx.authority),
        vec![
            "example.org. 30 SOA ns.dns.example.org. hostmaster.example.org. 7200 1800 86400 30"
                .to_owned()
        ]
    );
}

#[test]
fn invalid_zones_are_rejected() {
    for bad in [
        "",
        ".",
        "a..b",
        "a b.local",
        &"x".repeat(64),
        &"a.".repeat(130),
    ] {
        assert!(Zone::new(bad, 5).is_err(), "{bad:?}");
    }
    assert_eq!(Zone::default().name(), "clusterset.local");
    assert_eq!(Zone::default().ttl(), 5);
}

#[test]
fn soa_serial_follows_the_index_revision() {
    let mut index = fixture();
    let zone = Zone::default();
    let serial = |index: &Index| match &answer(index, Z, Soa, &zone).answers[0].data {
        RecordData::Soa { serial, .. } => *serial,
        other => panic!("not a SOA: {other:?}"),
    };
    let before = serial(&index);
    index.delete_import("demo", "web");
    assert_ne!(serial(&index), before);
}

#[test]
fn dashed_ip_forms() {
    assert_eq!(name::dashed_ip(ip("10.1.2.3")), "10-1-2-3");
    assert_eq!(name::dashed_ip(ip("fd00::1")), "fd00--1");
    assert_eq!(
        name::dashed_ip(ip("2001:db8:0:0:1:0:0:1")),
        "2001-db8--1-0-0-1"
    );
}

#[test]
fn query_type_codes() {
    assert_eq!(QueryType::from(1), A);
    assert_eq!(QueryType::from(28), Aaaa);
    assert_eq!(QueryType::from(33), Srv);
    assert_eq!(QueryType::from(255), Any);
    assert_eq!(QueryType::from(252), QueryType::Meta(252));
    assert_eq!(QueryType::from(15), QueryType::Other(15));
}

/// A headless service whose per-pod names exceed 253 characters: a 63-character namespace,
/// service, cluster id and hostname.
fn too_long_targets() -> (Index, String, String) {
    let (ns, svc) = ("n".repeat(63), "s".repeat(63));
    let mut index = Index::default();
    index.apply_import(
        &ns,
        &svc,
        ImportData {
            type_: ImportType::Headless,
            ..ImportData::default()
        },
    );
    let host = "h".repeat(63);
    index.apply_slice(
        &ns,
        "long-1",
        slice(
            &svc,
            &"c".repeat(63),
            AddressType::Ipv4,
            vec![ep("10.7.0.1", Some(&host), true)],
            vec![PortData::new(Some("http"), "TCP", 8080)],
        ),
    );
    (index, ns, svc)
}

#[test]
fn srv_whose_every_target_is_too_long_is_nodata_with_soa() {
    let (index, ns, svc) = too_long_targets();
    let zone = Zone::default();
    for qname in [
        format!("_http._tcp.{svc}.{ns}.svc.{Z}"),
        format!("{svc}.{ns}.svc.{Z}"),
    ] {
        assert!(qname.len() <= 253, "the query name itself is fine");
        let found = answer(&index, &qname, Srv, &zone);
        assert_eq!(found.rcode, Rcode::NoError, "{qname}: the name exists");
        assert!(found.answers.is_empty(), "{:?}", found.answers);
        assert!(found.additionals.is_empty());
        assert!(
            matches!(
                found.authority.as_slice(),
                [Rr {
                    data: RecordData::Soa { .. },
                    ..
                }]
            ),
            "NODATA carries the SOA: {found:?}"
        );
    }
    // The addresses of the service are still answered.
    let a = answer(&index, &format!("{svc}.{ns}.svc.{Z}"), A, &zone);
    assert_eq!(a.answers.len(), 1);
}
