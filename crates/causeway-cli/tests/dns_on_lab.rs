//! `causeway dns` on the lab's real apiservers, running as the `causeway-dns` user with exactly
//! the RBAC in deploy/dns/rbac.yaml: real `ServiceImports` and MCS `EndpointSlices` in, real DNS
//! queries over UDP and TCP on 127.0.0.1 out.

// The lean build (`--no-default-features`) has no `dns` command (and no YAML parser).
#![cfg(feature = "tools")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use causeway_api::ServiceImport;
use causeway_dns::proto::op::{Message, ResponseCode};
use causeway_dns::proto::rr::{RData, RecordType};
use causeway_test_support::daemon::Daemon;
use causeway_test_support::dns::{WAIT, addrs, free_port, query, tcp, try_udp, udp, udp_raw};
use causeway_test_support::{Lab, eventually, lab, rbac, with_temp_ns};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;

const RBAC: &str = include_str!("../../../deploy/dns/rbac.yaml");
const USER: &str = "causeway-dns";
const CLUSTER: u8 = 1;

/// Serializes the tests of this file: one of them unbinds the shared `causeway-dns` RBAC for a
/// while, which the others need bound.
static RBAC_LOCK: Mutex<()> = Mutex::const_new(());

/// A running `causeway dns` and where to reach it.
struct Server {
    daemon: Daemon,
    dns: SocketAddr,
    admin: SocketAddr,
}

/// Starts the real binary as the `causeway-dns` lab user on a free loopback port and waits for
/// its admin server address (from its JSON log line).
async fn start_dns(lab: &Lab, name: &str) -> Server {
    start_dns_with(lab, name, &[]).await
}

/// As [`start_dns`], with `extra` flags.
async fn start_dns_with(lab: &Lab, name: &str, extra: &[&str]) -> Server {
    let kubeconfig = lab.paths.user_kubeconfig(CLUSTER, USER);
    let dns = SocketAddr::from(([127, 0, 0, 1], free_port(Ipv4Addr::LOCALHOST)));
    let args: Vec<String> = [
        "dns",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--listen",
        &dns.to_string(),
        "--admin-addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ]
    .iter()
    .chain(extra)
    .map(|s| (*s).to_owned())
    .collect();
    let daemon = Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        name,
        &args,
        &[("CAUSEWAY_LOG", "info,kube=warn")],
        lab.paths.root(),
    );
    let admin = eventually(20, "the admin server's log line", || async {
        daemon.log_text().lines().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            (v["message"] == "admin server listening")
                .then(|| v["admin"].as_str()?.parse().ok())
                .flatten()
        })
    })
    .await;
    Server { daemon, dns, admin }
}

/// `GET path` on the admin server: `(status, body)`.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut text = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut text))
        .await
        .expect("admin server answers")
        .unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad HTTP response: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// Sends raw bytes as one length-prefixed TCP message and decodes the reply.
async fn tcp_raw(server: SocketAddr, bytes: &[u8]) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
    stream.write_all(&len).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(WAIT, stream.read_exact(&mut len))
        .await
        .expect("a TCP reply")
        .unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.unwrap();
    Message::from_vec(&reply).unwrap()
}

/// Asks over UDP and over TCP, checks both give the same code and answers, returns the UDP
/// reply.
async fn ask(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let over_udp = udp(server, name, rtype).await;
    let over_tcp = tcp(server, name, rtype).await;
    assert_eq!(
        over_udp.metadata.response_code, over_tcp.metadata.response_code,
        "{name} {rtype}: UDP and TCP agree on the code"
    );
    assert_eq!(
        rendered(&over_udp),
        rendered(&over_tcp),
        "{name} {rtype}: UDP and TCP agree on the answers"
    );
    assert!(!over_udp.metadata.truncation, "{name} {rtype} fits in UDP");
    over_udp
}

fn rendered(msg: &Message) -> BTreeSet<String> {
    msg.answers.iter().map(ToString::to_string).collect()
}

fn srvs(msg: &Message) -> BTreeSet<(u16, String)> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => Some((srv.port, srv.target.to_ascii())),
            _ => None,
        })
        .collect()
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn has_soa(msg: &Message) -> bool {
    msg.authorities
        .iter()
        .any(|r| matches!(r.data, RData::SOA(_)))
}

#[track_caller]
fn assert_nxdomain(msg: &Message, what: &str) {
    assert_eq!(msg.metadata.response_code, ResponseCode::NXDomain, "{what}");
    assert!(msg.answers.is_empty(), "{what}: no answers");
    assert!(has_soa(msg), "{what}: SOA in the authority section");
}

#[track_caller]
fn assert_nodata(msg: &Message, what: &str) {
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError, "{what}");
    assert!(msg.answers.is_empty(), "{what}: no answers");
    assert!(has_soa(msg), "{what}: SOA in the authority section");
}

fn import(name: &str, spec: serde_json::Value) -> ServiceImport {
    let mut obj = json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "metadata": {"name": name},
    });
    obj["spec"] = spec;
    serde_json::from_value(obj).unwrap()
}

fn slice(
    name: &str,
    service: &str,
    cluster: &str,
    family: &str,
    endpoints: serde_json::Value,
) -> EndpointSlice {
    let mut obj = json!({
        "metadata": {
            "name": name,
            "labels": {
                "multicluster.kubernetes.io/service-name": service,
                "multicluster.kubernetes.io/source-cluster": cluster,
            },
        },
        "addressType": family,
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
    });
    obj["endpoints"] = endpoints;
    serde_json::from_value(obj).unwrap()
}

/// The `db-c1-v4` endpoints; `db-2` (10.42.1.7) is ready or not.
fn db_c1_endpoints(db2_ready: bool) -> serde_json::Value {
    json!([
        {"addresses": ["10.42.1.5"], "hostname": "db-0", "conditions": {"ready": true}},
        {"addresses": ["10.42.1.6"], "conditions": {"ready": true}},
        {"addresses": ["10.42.1.7"], "hostname": "db-2", "conditions": {"ready": db2_ready}},
    ])
}

/// Polls `check` every 5 ms until it holds and returns how long that took since `started`
/// (taken before the API write); panics after 5 s (generous, so that a loaded machine does not
/// fail the test; the measured delay is printed).
async fn time_until<F, Fut>(started: Instant, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "timed out after 5 s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn answers_every_record_form_from_real_imports_and_slices() {
    let lab = lab(2).await;
    let _serial = RBAC_LOCK.lock().await;
    rbac::install_for_user(&lab.client(CLUSTER.into()), RBAC, USER).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let mut server = start_dns(&lab, &format!("dns-{ns}")).await;
        let dns = server.dns;
        eventually(20, "/readyz 200", || async {
            (http_get(server.admin, "/readyz").await.0 == 200).then_some(())
        })
        .await;
        assert_eq!(http_get(server.admin, "/livez").await.0, 200);

        // The schema version answers as soon as the listeners are up.
        let version = ask(dns, "dns-version.clusterset.local.", RecordType::TXT).await;
        assert_eq!(version.metadata.response_code, ResponseCode::NoError);
        assert!(version.metadata.authoritative, "authoritative for the zone");
        let txt: Vec<String> = version
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        assert_eq!(txt, vec!["1.0.0".to_owned()]);

        let c1 = lab.client(CLUSTER.into());
        let imports: Api<ServiceImport> = Api::namespaced(c1.clone(), &ns);
        let slices: Api<EndpointSlice> = Api::namespaced(c1.clone(), &ns);
        let pp = PostParams::default();
        imports
            .create(
                &pp,
                &import(
                    "web",
                    json!({
                        "type": "ClusterSetIP",
                        "ips": ["10.43.200.10"],
                        "ipFamilies": ["IPv4"],
                        "ports": [
                            {"name": "http", "protocol": "TCP", "port": 80},
                            {"name": "dns", "protocol": "UDP", "port": 53},
                            {"name": "dns-tcp", "protocol": "TCP", "port": 53},
                            {"protocol": "TCP", "port": 8443},
                        ],
                    }),
                ),
            )
            .await
            .unwrap();
        imports
            .create(
                &pp,
                &import(
                    "dual",
                    json!({
                        "type": "ClusterSetIP",
                        "ips": ["10.43.200.11", "fd00:43::11"],
                        "ipFamilies": ["IPv4", "IPv6"],
                        "ports": [{"name": "grpc", "protocol": "TCP", "port": 9090}],
                    }),
                ),
            )
            .await
            .unwrap();
        imports
            .create(
                &pp,
                &import(
                    "db",
                    json!({
                        "type": "Headless",
                        "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}],
                    }),
                ),
            )
            .await
            .unwrap();
        slices
            .create(&pp, &slice("db-c1-v4", "db", "c1", "IPv4", db_c1_endpoints(false)))
            .await
            .unwrap();
        slices
            .create(
                &pp,
                &slice(
                    "db-c2-v4",
                    "db",
                    "c2",
                    "IPv4",
                    json!([{"addresses": ["10.44.2.8"], "hostname": "db-0"}]),
                ),
            )
            .await
            .unwrap();
        slices
            .create(
                &pp,
                &slice(
                    "db-c2-v6",
                    "db",
                    "c2",
                    "IPv6",
                    json!([
                        {"addresses": ["fd00:44::8"], "hostname": "db-0", "conditions": {"ready": true}},
                        {"addresses": ["fd00:44::9"], "conditions": {"ready": true}},
                    ]),
                ),
            )
            .await
            .unwrap();

        // `multi`: headless, two named ports, two ready endpoints (SRV is N×M); `gone`:
        // headless whose only endpoint is not ready (the name does not exist).
        for name in ["multi", "gone"] {
            imports
                .create(&pp, &import(name, json!({"type": "Headless", "ports": []})))
                .await
                .unwrap();
        }
        let mut multi = slice(
            "multi-c1",
            "multi",
            "c1",
            "IPv4",
            json!([
                {"addresses": ["10.42.3.1"], "hostname": "m-0"},
                {"addresses": ["10.42.3.2"], "hostname": "m-1"},
            ]),
        );
        multi.ports = serde_json::from_value(json!([
            {"name": "pg", "port": 5432, "protocol": "TCP"},
            {"name": "metrics", "port": 9187, "protocol": "TCP"},
        ]))
        .unwrap();
        slices
            .create(
                &pp,
                &slice(
                    "gone-c1",
                    "gone",
                    "c1",
                    "IPv4",
                    json!([{"addresses": ["10.42.4.1"], "hostname": "g-0", "conditions": {"ready": false}}]),
                ),
            )
            .await
            .unwrap();
        slices.create(&pp, &multi).await.unwrap();

        let zone = format!("{ns}.svc.clusterset.local.");
        let web = format!("web.{zone}");
        let dual = format!("dual.{zone}");
        let db = format!("db.{zone}");
        let multi = format!("multi.{zone}");
        // Wait for the last objects to be indexed (one watch, in order: `gone-c1` came before
        // `multi-c1`).
        eventually(10, "fd00-44--9.c2.db and m-1.c1.multi resolve", || async {
            let m = udp(dns, &format!("fd00-44--9.c2.{db}"), RecordType::AAAA).await;
            let n = udp(dns, &format!("m-1.c1.{multi}"), RecordType::A).await;
            (!m.answers.is_empty() && !n.answers.is_empty()).then_some(())
        })
        .await;

        // ClusterSetIP: the VIP, NODATA for the family it does not have.
        let a = ask(dns, &web, RecordType::A).await;
        assert_eq!(addrs(&a), set(["10.43.200.10"]));
        assert!(a.metadata.authoritative);
        assert!(a.answers.iter().all(|r| r.ttl == 5), "default TTL 5 s");
        assert_nodata(&ask(dns, &web, RecordType::AAAA).await, "web AAAA");
        assert_nodata(&ask(dns, &web, RecordType::TXT).await, "web TXT");
        // Dual-stack: one VIP per family.
        assert_eq!(addrs(&ask(dns, &dual, RecordType::A).await), set(["10.43.200.11"]));
        assert_eq!(addrs(&ask(dns, &dual, RecordType::AAAA).await), set(["fd00:43::11"]));

        // SRV per named port, with the VIP as additional; bare-name SRV for every port.
        let http = ask(dns, &format!("_http._tcp.{web}"), RecordType::SRV).await;
        assert_eq!(srvs(&http), BTreeSet::from([(80, web.clone())]));
        assert!(
            http.additionals
                .iter()
                .any(|r| r.name.to_ascii() == web && matches!(r.data, RData::A(_))),
            "SRV target address in the additional section"
        );
        assert_eq!(
            srvs(&ask(dns, &format!("_dns._udp.{web}"), RecordType::SRV).await),
            BTreeSet::from([(53, web.clone())])
        );
        assert_eq!(
            srvs(&ask(dns, &format!("_grpc._tcp.{dual}"), RecordType::SRV).await),
            BTreeSet::from([(9090, dual.clone())])
        );
        // Bare name: one SRV per port number, so dns/UDP/53 and dns-tcp/TCP/53 give one record.
        let bare = ask(dns, &web, RecordType::SRV).await;
        assert_eq!(
            srvs(&bare),
            BTreeSet::from([(53, web.clone()), (80, web.clone()), (8443, web.clone())])
        );
        assert_eq!(bare.answers.len(), 3, "deduplicated: {bare:?}");
        assert_nxdomain(
            &ask(dns, &format!("_http._udp.{web}"), RecordType::SRV).await,
            "_http._udp: no such port/protocol",
        );
        assert_nodata(
            &ask(dns, &format!("_tcp.{web}"), RecordType::SRV).await,
            "_tcp.web: empty non-terminal",
        );

        // Headless: ready endpoints only (db-2 is not ready), both families.
        assert_eq!(
            addrs(&ask(dns, &db, RecordType::A).await),
            set(["10.42.1.5", "10.42.1.6", "10.44.2.8"])
        );
        assert_eq!(
            addrs(&ask(dns, &db, RecordType::AAAA).await),
            set(["fd00:44::8", "fd00:44::9"])
        );
        // Per-pod names: hostname, else the dashed IP; per cluster.
        let pod = |host: &str, cluster: &str| format!("{host}.{cluster}.{db}");
        assert_eq!(
            addrs(&ask(dns, &pod("db-0", "c1"), RecordType::A).await),
            set(["10.42.1.5"])
        );
        assert_eq!(
            addrs(&ask(dns, &pod("db-0", "c2"), RecordType::A).await),
            set(["10.44.2.8"])
        );
        assert_eq!(
            addrs(&ask(dns, &pod("db-0", "c2"), RecordType::AAAA).await),
            set(["fd00:44::8"])
        );
        assert_nodata(
            &ask(dns, &pod("db-0", "c1"), RecordType::AAAA).await,
            "db-0.c1 has no IPv6",
        );
        assert_eq!(
            addrs(&ask(dns, &pod("10-42-1-6", "c1"), RecordType::A).await),
            set(["10.42.1.6"])
        );
        assert_eq!(
            addrs(&ask(dns, &pod("fd00-44--9", "c2"), RecordType::AAAA).await),
            set(["fd00:44::9"])
        );
        assert_nxdomain(
            &ask(dns, &pod("db-2", "c1"), RecordType::A).await,
            "a not-ready endpoint has no name",
        );
        assert_nxdomain(
            &ask(dns, &pod("db-0", "c3"), RecordType::A).await,
            "unknown cluster",
        );
        // SRV per ready endpoint, targeting its per-pod name (db-0.c2 once, though dual-stack).
        let expected_srv = BTreeSet::from([
            (5432, pod("db-0", "c1")),
            (5432, pod("10-42-1-6", "c1")),
            (5432, pod("db-0", "c2")),
            (5432, pod("fd00-44--9", "c2")),
        ]);
        let pg = ask(dns, &format!("_pg._tcp.{db}"), RecordType::SRV).await;
        assert_eq!(srvs(&pg), expected_srv);
        // Over TCP (no 512-byte limit, so the optional additionals are all there).
        let pg = tcp(dns, &format!("_pg._tcp.{db}"), RecordType::SRV).await;
        assert!(
            pg.additionals
                .iter()
                .any(|r| r.name.to_ascii() == pod("db-0", "c2")
                    && matches!(r.data, RData::AAAA(_))),
            "per-pod addresses as additionals"
        );
        assert_eq!(srvs(&ask(dns, &db, RecordType::SRV).await), expected_srv);

        // Two named ports and two endpoints: an SRV per endpoint per named port.
        let m_pod = |host: &str| format!("{host}.c1.{multi}");
        assert_eq!(
            srvs(&ask(dns, &multi, RecordType::SRV).await),
            BTreeSet::from([
                (5432, m_pod("m-0")),
                (5432, m_pod("m-1")),
                (9187, m_pod("m-0")),
                (9187, m_pod("m-1")),
            ])
        );
        assert_eq!(
            srvs(&ask(dns, &format!("_metrics._tcp.{multi}"), RecordType::SRV).await),
            BTreeSet::from([(9187, m_pod("m-0")), (9187, m_pod("m-1"))])
        );
        // A headless service without a ready endpoint has no name at all.
        for rtype in [RecordType::A, RecordType::SRV] {
            assert_nxdomain(
                &ask(dns, &format!("gone.{zone}"), rtype).await,
                "headless without ready endpoints",
            );
        }

        // The forbidden <clusterid>.<svc>.<ns>.svc form never answers, whatever the type or the
        // service type (spec §6.3: the name must not exist, hence NXDOMAIN, not NODATA).
        for rtype in [RecordType::A, RecordType::AAAA, RecordType::SRV, RecordType::ANY] {
            assert_nxdomain(
                &ask(dns, &format!("c1.{db}"), rtype).await,
                "<clusterid>.<svc> is forbidden",
            );
            assert_nxdomain(
                &ask(dns, &format!("c1.{web}"), rtype).await,
                "<clusterid>.<svc> is forbidden for ClusterSetIP too",
            );
        }
        // An unknown type on an existing name: NODATA.
        assert_nodata(
            &ask(dns, &web, RecordType::Unknown(65000)).await,
            "type 65000 on web",
        );

        // The zone apex: SOA and NS.
        let soa = ask(dns, "clusterset.local.", RecordType::SOA).await;
        assert!(soa.metadata.authoritative);
        match soa.answers.as_slice() {
            [record] => match &record.data {
                RData::SOA(soa) => {
                    assert_eq!(soa.mname.to_ascii(), "ns.dns.clusterset.local.");
                }
                other => panic!("not a SOA: {other:?}"),
            },
            other => panic!("one SOA at the apex: {other:?}"),
        }
        let ns_records = ask(dns, "clusterset.local.", RecordType::NS).await;
        let ns_names: Vec<String> = ns_records
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.to_ascii()),
                _ => None,
            })
            .collect();
        assert_eq!(ns_names, vec!["ns.dns.clusterset.local.".to_owned()]);

        // PTR for a ClusterSet VIP, over both transports.
        let ptr = ask(dns, "10.200.43.10.in-addr.arpa.", RecordType::PTR).await;
        let targets: Vec<String> = ptr
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(p) => Some(p.0.to_ascii()),
                _ => None,
            })
            .collect();
        assert_eq!(targets, vec![web.clone()]);
        // NXDOMAIN for names that do not exist, NODATA for names that do; REFUSED outside.
        assert_nxdomain(&ask(dns, &format!("nosuch.{zone}"), RecordType::A).await, "nosuch");
        assert_nxdomain(
            &ask(dns, "web.no-such-ns.svc.clusterset.local.", RecordType::A).await,
            "no such namespace",
        );
        assert_nodata(&ask(dns, &zone, RecordType::A).await, "<ns>.svc: empty non-terminal");
        assert_eq!(
            ask(dns, "example.com.", RecordType::A).await.metadata.response_code,
            ResponseCode::Refused
        );
        // Case-insensitive, owner spelled as asked.
        let upper = web.to_ascii_uppercase();
        let m = ask(dns, &upper, RecordType::A).await;
        assert_eq!(addrs(&m), set(["10.43.200.10"]));
        assert_eq!(m.answers[0].name.to_ascii(), upper);

        // An import change: a new VIP. Delays count from just before the API write.
        let started = Instant::now();
        imports
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"ips": ["10.43.200.20"]}})),
            )
            .await
            .unwrap();
        let vip_delay = time_until(started, "web's new VIP", || async {
            addrs(&udp(dns, &web, RecordType::A).await) == set(["10.43.200.20"])
        })
        .await;
        eprintln!("ServiceImport spec.ips change visible in DNS after {vip_delay:?}");
        // A slice change: db-2 becomes ready.
        let started = Instant::now();
        slices
            .patch(
                "db-c1-v4",
                &PatchParams::default(),
                &Patch::Merge(json!({"endpoints": db_c1_endpoints(true)})),
            )
            .await
            .unwrap();
        let ready_delay = time_until(started, "db-2 ready", || async {
            addrs(&udp(dns, &pod("db-2", "c1"), RecordType::A).await) == set(["10.42.1.7"])
        })
        .await;
        eprintln!("EndpointSlice ready change visible in DNS after {ready_delay:?}");
        assert!(addrs(&ask(dns, &db, RecordType::A).await).contains("10.42.1.7"));
        // A deleted import disappears.
        let started = Instant::now();
        imports.delete("dual", &DeleteParams::default()).await.unwrap();
        let delete_delay = time_until(started, "dual deleted", || async {
            udp(dns, &dual, RecordType::A).await.metadata.response_code == ResponseCode::NXDomain
        })
        .await;
        eprintln!("ServiceImport deletion visible in DNS after {delete_delay:?}");

        // Bad input: garbage and over-long labels get FORMERR or nothing, never a crash.
        let header_only_garbage = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0];
        let reply = udp_raw(dns, &header_only_garbage, WAIT).await.expect("FORMERR reply");
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.id, 0x1234);
        assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
        let mut long_label = vec![0x43, 0x21, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 64];
        long_label.extend([b'a'; 64]);
        long_label.extend([3, b'w', b'e', b'b', 0, 0, 1, 0, 1]);
        let reply = udp_raw(dns, &long_label, WAIT).await.expect("FORMERR reply");
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.id, 0x4321);
        assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
        let reply = tcp_raw(dns, &long_label).await;
        assert_eq!(reply.metadata.id, 0x4321);
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::FormErr,
            "over TCP too"
        );
        assert!(
            udp_raw(dns, b"\x01\x02\x03", Duration::from_millis(300)).await.is_none(),
            "shorter than a header: dropped"
        );
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0u8..50 {
            let junk: Vec<u8> = (0..(i * 5)).map(|b| b.wrapping_mul(31) ^ i).collect();
            socket.send_to(&junk, dns).await.unwrap();
        }
        let mut stream = TcpStream::connect(dns).await.unwrap();
        stream.write_all(&[0x00, 0x05, 1, 2, 3, 4, 5, 0xff, 0xff, 9]).await.unwrap();
        drop(stream);
        // Still answering, over both transports.
        assert_eq!(addrs(&ask(dns, &web, RecordType::A).await), set(["10.43.200.20"]));

        // Counters, not log lines: the queries are in /metrics, hickory's per-request info
        // lines are filtered out by the default log filter.
        let (status, metrics) = http_get(server.admin, "/metrics").await;
        assert_eq!(status, 200);
        assert!(metrics.contains("causeway_dns_queries_total{"), "{metrics}");
        assert!(metrics.contains("rcode=\"NXDOMAIN\""), "{metrics}");
        let log = server.daemon.log_text();
        assert!(
            !log.lines().any(|l| l.contains("hickory_server") && l.contains("\"INFO\"")),
            "no per-query info lines from hickory-server:\n{log}"
        );

        // SIGTERM: graceful stop with exit code 0.
        let status = server.daemon.terminate().await.expect("exits after SIGTERM");
        assert!(status.success(), "exit status {status}");
        assert!(server.daemon.log_text().contains("DNS server stopped"));
        assert!(
            udp_raw(dns, &query(&web, RecordType::A), Duration::from_millis(300))
                .await
                .is_none(),
            "no answers after stopping"
        );
    })
    .await;
}

#[tokio::test]
async fn readyz_waits_for_the_initial_lists_and_the_user_cannot_write() {
    let lab = lab(2).await;
    let _serial = RBAC_LOCK.lock().await;
    let admin = lab.client(CLUSTER.into());
    let user =
        causeway_lab::kubeconfig::client_from_file(&lab.paths.user_kubeconfig(CLUSTER, USER))
            .await
            .unwrap();
    with_temp_ns(&lab, |lab, ns| async move {
        // Without its RBAC the user cannot list, so the feed never syncs: /readyz stays 503.
        let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
        let _ = bindings.delete(USER, &DeleteParams::default()).await;
        let user_imports: Api<ServiceImport> = Api::all(user.clone());
        eventually(
            10,
            "the causeway-dns user to lose its rights (does another binding grant them?)",
            || async {
                match user_imports.list(&ListParams::default().limit(1)).await {
                    Err(kube::Error::Api(s)) if s.code == 403 => Some(()),
                    _ => None,
                }
            },
        )
        .await;
        let server = start_dns(&lab, &format!("dns-ready-{ns}")).await;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            let (status, body) = http_get(server.admin, "/readyz").await;
            assert_eq!(status, 503, "not ready before the initial lists: {body}");
            assert_eq!(http_get(server.admin, "/livez").await.0, 200, "but alive");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Nor does DNS deny names it has not listed yet: SERVFAIL (zone not loaded), not a
        // cacheable NXDOMAIN, over both transports; names outside the zone are still REFUSED.
        let web = format!("web.{ns}.svc.clusterset.local.");
        for reply in [
            udp(server.dns, &web, RecordType::A).await,
            tcp(server.dns, &web, RecordType::A).await,
        ] {
            assert_eq!(
                reply.metadata.response_code,
                ResponseCode::ServFail,
                "{reply:?}"
            );
            assert!(reply.answers.is_empty() && !reply.metadata.authoritative);
        }
        assert_eq!(
            udp(server.dns, "example.com.", RecordType::A)
                .await
                .metadata
                .response_code,
            ResponseCode::Refused
        );
        // With its RBAC, the watches list and /readyz turns 200.
        rbac::install_for_user(&admin, RBAC, USER).await;
        let granted = Instant::now();
        eventually(40, "/readyz 200 once the RBAC is granted", || async {
            (http_get(server.admin, "/readyz").await.0 == 200).then_some(())
        })
        .await;
        eprintln!("ready {:?} after the RBAC was granted", granted.elapsed());
        assert!(
            server.daemon.log_text().contains("DNS ready"),
            "{}",
            server.daemon.log_text()
        );

        // Least privilege: the DNS user reads ServiceImports and EndpointSlices and writes only
        // their status (dns_resolvable.rs) and its Lease in causeway-system: no spec, no object,
        // no Lease elsewhere.
        let imports: Api<ServiceImport> = Api::namespaced(user.clone(), &ns);
        imports
            .list(&ListParams::default())
            .await
            .expect("may list");
        let forbidden = |r: Result<_, kube::Error>, what: &str| match r {
            Err(kube::Error::Api(s)) if s.code == 403 => {}
            other => panic!("{what}: expected 403, got {other:?}"),
        };
        forbidden(
            imports
                .create(
                    &PostParams::default(),
                    &import("sneaky", json!({"type": "ClusterSetIP", "ports": []})),
                )
                .await
                .map(|_| ()),
            "create ServiceImport",
        );
        Api::<ServiceImport>::namespaced(admin.clone(), &ns)
            .create(
                &PostParams::default(),
                &import(
                    "web",
                    json!({"type": "ClusterSetIP", "ips": ["10.43.200.30"], "ports": []}),
                ),
            )
            .await
            .unwrap();
        forbidden(
            imports
                .patch(
                    "web",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"ips": ["10.43.200.31"]}})),
                )
                .await
                .map(|_| ()),
            "patch ServiceImport",
        );
        forbidden(
            imports
                .delete("web", &DeleteParams::default())
                .await
                .map(|_| ()),
            "delete ServiceImport",
        );
        let slices: Api<EndpointSlice> = Api::namespaced(user.clone(), &ns);
        slices.list(&ListParams::default()).await.expect("may list");
        forbidden(
            slices
                .create(
                    &PostParams::default(),
                    &slice("sneaky", "web", "c1", "IPv4", json!([])),
                )
                .await
                .map(|_| ()),
            "create EndpointSlice",
        );
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(user.clone(), &ns);
        forbidden(
            leases
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({"metadata": {"name": "sneaky"}})).unwrap(),
                )
                .await
                .map(|_| ()),
            "create a Lease outside causeway-system",
        );
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(user.clone(), &ns);
        forbidden(
            secrets.list(&ListParams::default()).await.map(|_| ()),
            "list Secrets",
        );
        let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(user, &ns);
        forbidden(
            services.list(&ListParams::default()).await.map(|_| ()),
            "list Services",
        );
        // And what it may read, it serves.
        eventually(10, "web served", || async {
            let m = udp(
                server.dns,
                &format!("web.{ns}.svc.clusterset.local."),
                RecordType::A,
            )
            .await;
            (addrs(&m) == set(["10.43.200.30"])).then_some(())
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn zone_and_ttl_flags_apply_over_the_wire() {
    let lab = lab(2).await;
    let _serial = RBAC_LOCK.lock().await;
    rbac::install_for_user(&lab.client(CLUSTER.into()), RBAC, USER).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let server = start_dns_with(
            &lab,
            &format!("dns-zone-{ns}"),
            &[
                "--zone",
                "example.org",
                "--ttl",
                "30",
                "--write-conditions",
                "false",
            ],
        )
        .await;
        let dns = server.dns;
        Api::<ServiceImport>::namespaced(lab.client(CLUSTER.into()), &ns)
            .create(
                &PostParams::default(),
                &import(
                    "web",
                    json!({"type": "ClusterSetIP", "ips": ["10.43.210.10"], "ports": []}),
                ),
            )
            .await
            .unwrap();
        let web = format!("web.{ns}.svc.example.org.");
        eventually(20, "web resolves in example.org", || async {
            let m = try_udp(dns, &web, RecordType::A).await?;
            (!m.answers.is_empty()).then_some(())
        })
        .await;
        let a = ask(dns, &web, RecordType::A).await;
        assert_eq!(addrs(&a), set(["10.43.210.10"]));
        assert!(a.answers.iter().all(|r| r.ttl == 30), "--ttl 30: {a:?}");
        let nodata = ask(dns, &web, RecordType::AAAA).await;
        assert_nodata(&nodata, "web AAAA in example.org");
        assert!(
            nodata
                .authorities
                .iter()
                .all(|r| r.name.to_ascii() == "example.org."),
            "the SOA is example.org's"
        );
        assert_eq!(
            ask(
                dns,
                &format!("web.{ns}.svc.clusterset.local."),
                RecordType::A
            )
            .await
            .metadata
            .response_code,
            ResponseCode::Refused,
            "clusterset.local is not served with --zone example.org"
        );
        drop(server);
    })
    .await;
}

/// The shipped RBAC is least privilege: the ClusterRole is exactly get/list/watch on the two
/// watched resources plus patch on serviceimports/status (the DnsResolvable condition); the Role
/// is get/create/patch on Leases in causeway-system. No wildcard, nothing else (the lab tests
/// prove the apiserver enforces it and that it suffices).
#[test]
fn rbac_manifest_is_least_privilege() {
    let docs: Vec<serde_json::Value> = RBAC
        .split("\n---")
        .map(|doc| serde_saphyr::from_str::<serde_json::Value>(doc).unwrap())
        .collect();
    let kind = |kind: &str| {
        docs.iter()
            .find(|doc| doc["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind}"))
    };
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let read = strings(&["get", "list", "watch"]);
    assert_eq!(
        rules(kind("ClusterRole")),
        vec![
            (
                "discovery.k8s.io".to_owned(),
                "endpointslices".to_owned(),
                read.clone()
            ),
            (
                "multicluster.x-k8s.io".to_owned(),
                "serviceimports".to_owned(),
                read
            ),
            (
                "multicluster.x-k8s.io".to_owned(),
                "serviceimports/status".to_owned(),
                strings(&["patch"])
            ),
        ]
    );
    let lease_role = kind("Role");
    assert_eq!(lease_role["metadata"]["namespace"], "causeway-system");
    assert_eq!(
        rules(lease_role),
        vec![(
            "coordination.k8s.io".to_owned(),
            "leases".to_owned(),
            strings(&["get", "create", "patch"])
        )]
    );
}

/// `(apiGroup, resource, verbs)` of every rule of a (Cluster)Role, sorted.
fn rules(role: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    let mut rules: Vec<(String, String, Vec<String>)> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            let strings = |key: &str| -> Vec<String> {
                rule[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect()
            };
            let verbs = strings("verbs");
            let groups = strings("apiGroups");
            strings("resources").into_iter().flat_map(move |resource| {
                let verbs = verbs.clone();
                groups
                    .clone()
                    .into_iter()
                    .map(move |group| (group, resource.clone(), verbs.clone()))
            })
        })
        .collect();
    rules.sort();
    rules
}
