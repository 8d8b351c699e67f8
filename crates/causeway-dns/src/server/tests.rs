//! End-to-end tests over real loopback sockets (UDP and TCP on 127.0.0.1:0), and in-memory
//! tests of the raw-bytes path shared with the fuzz target.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::*;
use crate::answer::Zone;
use crate::index::{self, AddressType, EndpointData, ImportData, ImportType, PortData, SliceData};
use crate::metrics::DnsMetrics;

const WAIT: Duration = Duration::from_secs(3);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `web` (`ClusterSetIP`, dual-stack) and `big` (headless, 300 ready endpoints) in `demo`.
fn fixture() -> index::SharedIndex {
    let shared = index::shared();
    {
        let mut index = index::write(&shared);
        index.apply_import(
            "demo",
            "web",
            ImportData {
                type_: ImportType::ClusterSetIp,
                vips: vec![ip("10.96.0.10"), ip("fd00:96::10")],
                ports: vec![PortData::new(Some("http"), "TCP", 80)],
            },
        );
        index.apply_import(
            "demo",
            "big",
            ImportData {
                type_: ImportType::Headless,
                ..ImportData::default()
            },
        );
        let endpoints = (0..300u16)
            .map(|i| EndpointData {
                addresses: vec![IpAddr::from([
                    10,
                    9,
                    u8::try_from(i / 200).unwrap(),
                    u8::try_from(i % 200 + 1).unwrap(),
                ])],
                hostname: None,
                ready: true,
            })
            .collect();
        index.apply_slice(
            "demo",
            "big-east",
            SliceData {
                service: "big".to_owned(),
                cluster: "east".to_owned(),
                address_type: AddressType::Ipv4,
                endpoints,
                ports: vec![PortData::new(Some("http"), "TCP", 8080)],
            },
        );
    }
    shared
}

fn handler(index: index::SharedIndex) -> Handler {
    Handler::new(index, Zone::default(), DnsMetrics::default())
}

struct Running {
    udp: SocketAddr,
    tcp: SocketAddr,
    task: tokio::task::JoinHandle<crate::Result<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(index: index::SharedIndex) -> Running {
    let listening = Listening::bind("127.0.0.1:0".parse().unwrap(), handler(index))
        .await
        .unwrap();
    let (udp, tcp) = (listening.udp_addr(), listening.tcp_addr());
    assert!(udp.ip().is_loopback() && tcp.ip().is_loopback());
    assert_eq!(udp.port(), tcp.port(), "UDP and TCP share the port");
    Running {
        udp,
        tcp,
        task: tokio::spawn(listening.run()),
    }
}

fn query_with(name: &str, rtype: RecordType, id: u16, edns: Option<Edns>) -> Message {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if let Some(edns) = edns {
        msg.set_edns(edns);
    }
    msg
}

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    query_with(name, rtype, 4242, None).to_vec().unwrap()
}

fn edns(size: u16) -> Edns {
    let mut edns = Edns::new();
    edns.set_max_payload(size);
    edns
}

async fn udp_exchange(server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(WAIT, socket.recv(&mut buf)).await {
        Ok(Ok(len)) => Some(buf[..len].to_vec()),
        Ok(Err(e)) => panic!("recv: {e}"),
        Err(_) => None,
    }
}

async fn udp(server: SocketAddr, bytes: &[u8]) -> Message {
    let reply = udp_exchange(server, bytes).await.expect("no UDP reply");
    Message::from_vec(&reply).unwrap()
}

async fn tcp(server: SocketAddr, bytes: &[u8]) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let len = u16::try_from(bytes.len()).unwrap();
    stream.write_all(&len.to_be_bytes()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(WAIT, stream.read_exact(&mut len))
        .await
        .expect("no TCP reply")
        .unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

fn addresses(msg: &Message) -> Vec<String> {
    let mut out: Vec<String> = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn udp_and_tcp_answer_address_srv_and_version_queries() {
    let server = start(fixture()).await;
    for transport in [Protocol::Udp, Protocol::Tcp] {
        let ask = |name: &'static str, rtype| {
            let bytes = query(name, rtype);
            async move {
                if transport == Protocol::Udp {
                    udp(server.udp, &bytes).await
                } else {
                    tcp(server.tcp, &bytes).await
                }
            }
        };
        let a = ask("web.demo.svc.clusterset.local.", RecordType::A).await;
        assert_eq!(a.metadata.id, 4242);
        assert_eq!(a.metadata.message_type, MessageType::Response);
        assert_eq!(a.metadata.response_code, ResponseCode::NoError);
        assert!(a.metadata.authoritative, "{transport:?}");
        assert!(!a.metadata.truncation);
        assert_eq!(addresses(&a), vec!["10.96.0.10"]);
        assert_eq!(a.answers[0].ttl, 5);
        assert_eq!(a.queries.len(), 1, "question echoed");

        let aaaa = ask("Web.Demo.svc.clusterset.local.", RecordType::AAAA).await;
        assert_eq!(addresses(&aaaa), vec!["fd00:96::10"]);
        assert_eq!(
            aaaa.answers[0].name.to_ascii(),
            "Web.Demo.svc.clusterset.local."
        );

        let srv = ask("_http._tcp.web.demo.svc.clusterset.local.", RecordType::SRV).await;
        let RData::SRV(record) = &srv.answers[0].data else {
            panic!("not SRV: {srv:?}");
        };
        assert_eq!(record.port, 80);
        assert_eq!(record.target.to_ascii(), "web.demo.svc.clusterset.local.");
        assert_eq!(srv.additionals.len(), 2, "target A and AAAA as additionals");

        let txt = ask("dns-version.clusterset.local.", RecordType::TXT).await;
        let RData::TXT(version) = &txt.answers[0].data else {
            panic!("not TXT: {txt:?}");
        };
        assert_eq!(&*version.txt_data[0], b"1.0.0");
    }
}

#[tokio::test]
async fn negative_answers_over_udp() {
    let server = start(fixture()).await;
    let nx = udp(
        server.udp,
        &query("nope.demo.svc.clusterset.local.", RecordType::A),
    )
    .await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.metadata.authoritative);
    assert!(matches!(nx.authorities[0].data, RData::SOA(_)));

    let nodata = udp(
        server.udp,
        &query("web.demo.svc.clusterset.local.", RecordType::TXT),
    )
    .await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert!(matches!(nodata.authorities[0].data, RData::SOA(_)));

    let forbidden = udp(
        server.udp,
        &query("east.big.demo.svc.clusterset.local.", RecordType::A),
    )
    .await;
    assert_eq!(forbidden.metadata.response_code, ResponseCode::NXDomain);

    let refused = udp(
        server.udp,
        &query("kubernetes.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(!refused.metadata.authoritative);

    let mut chaos = query_with("web.demo.svc.clusterset.local.", RecordType::A, 7, None);
    chaos.queries[0].set_query_class(DNSClass::CH);
    let chaos = udp(server.udp, &chaos.to_vec().unwrap()).await;
    assert_eq!(chaos.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn large_headless_answer_truncates_over_udp_and_is_complete_over_tcp() {
    let server = start(fixture()).await;
    let name = "big.demo.svc.clusterset.local.";

    let plain = udp(server.udp, &query(name, RecordType::A)).await;
    assert!(
        plain.metadata.truncation,
        "300 A records do not fit in 512 bytes"
    );
    assert!(plain.answers.len() < 300);
    assert!(
        plain.edns.is_none(),
        "no OPT in the reply to a query without one"
    );

    let bytes = query_with(name, RecordType::A, 9, Some(edns(4096)))
        .to_vec()
        .unwrap();
    let raw = udp_exchange(server.udp, &bytes).await.unwrap();
    assert!(
        raw.len() <= usize::from(wire::MAX_UDP_PAYLOAD),
        "capped at {}",
        raw.len()
    );
    let with_edns = Message::from_vec(&raw).unwrap();
    assert!(with_edns.metadata.truncation);
    assert!(
        with_edns.answers.len() > plain.answers.len(),
        "EDNS raises the limit"
    );
    assert_eq!(
        with_edns.edns.as_ref().map(Edns::max_payload),
        Some(wire::MAX_UDP_PAYLOAD)
    );

    let full = tcp(server.tcp, &query(name, RecordType::A)).await;
    assert!(!full.metadata.truncation);
    assert_eq!(full.answers.len(), 300);

    let srv = tcp(server.tcp, &query(name, RecordType::SRV)).await;
    assert_eq!(srv.answers.len(), 300);
    assert!(!srv.metadata.truncation);
}

#[tokio::test]
async fn srv_additionals_are_dropped_rather_than_truncating() {
    let shared = fixture();
    {
        let mut index = index::write(&shared);
        index.apply_import(
            "demo",
            "mid",
            ImportData {
                type_: ImportType::Headless,
                ..ImportData::default()
            },
        );
        let endpoints = (1..=6u8)
            .map(|i| EndpointData {
                addresses: vec![IpAddr::from([10, 8, 0, i])],
                hostname: Some(format!("pod-{i}")),
                ready: true,
            })
            .collect();
        index.apply_slice(
            "demo",
            "mid-east",
            SliceData {
                service: "mid".to_owned(),
                cluster: "east".to_owned(),
                address_type: AddressType::Ipv4,
                endpoints,
                ports: vec![PortData::new(Some("http"), "TCP", 8080)],
            },
        );
    }
    let name = "_http._tcp.mid.demo.svc.clusterset.local.";
    let whole = handler(shared.clone())
        .handle_wire(&query(name, RecordType::SRV), Protocol::Tcp)
        .unwrap();
    assert!(
        whole.len() > 512,
        "answers plus additionals exceed 512 bytes: {}",
        whole.len()
    );
    let server = start(shared).await;
    let small = udp(server.udp, &query(name, RecordType::SRV)).await;
    assert_eq!(small.answers.len(), 6);
    assert!(!small.metadata.truncation, "the answers fit in 512 bytes");
    assert!(small.additionals.is_empty(), "the additionals did not");
    let full = tcp(server.tcp, &query(name, RecordType::SRV)).await;
    assert_eq!(full.answers.len(), 6);
    assert_eq!(full.additionals.len(), 6);
}

#[tokio::test]
async fn edns_is_honoured() {
    let server = start(fixture()).await;
    let bytes = query_with(
        "web.demo.svc.clusterset.local.",
        RecordType::A,
        11,
        Some(edns(4096)),
    )
    .to_vec()
    .unwrap();
    let reply = udp(server.udp, &bytes).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.edns.as_ref().map(Edns::version), Some(0));

    let mut v1 = edns(1232);
    v1.set_version(1);
    let bytes = query_with(
        "web.demo.svc.clusterset.local.",
        RecordType::A,
        12,
        Some(v1),
    )
    .to_vec()
    .unwrap();
    let reply = udp(server.udp, &bytes).await;
    // BADVERS and BADSIG share code 16; hickory decodes it as BADSIG.
    assert_eq!(u16::from(reply.metadata.response_code), 16);
    assert!(reply.edns.is_some(), "BADVERS carries an OPT record");
    assert!(reply.answers.is_empty());
}

/// Deterministic xorshift; no test dependency on a random crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = usize::try_from(self.next()).unwrap() % max_len;
        (0..len).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

/// A query with a label of `len` octets, written by hand (hickory refuses to build one).
fn raw_query_with_label(lens: &[usize]) -> Vec<u8> {
    let mut bytes = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for len in lens {
        bytes.push(u8::try_from(*len).unwrap());
        bytes.extend(std::iter::repeat_n(b'a', *len));
    }
    bytes.extend([0, 0, 1, 0, 1]);
    bytes
}

#[tokio::test]
async fn malformed_packets_never_stop_the_server() {
    let server = start(fixture()).await;
    let mut rng = Rng(0x5eed_cafe_f00d_beef);
    let mut garbage: Vec<Vec<u8>> = (0..200).map(|_| rng.bytes(600)).collect();
    garbage.push(Vec::new());
    garbage.push(vec![0x12, 0x34, 0x01]); // truncated header
    garbage.push(vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // qdcount 1, no question
    garbage.push(raw_query_with_label(&[64, 3])); // label over 63 octets
    garbage.push(raw_query_with_label(&[63, 63, 63, 63, 10])); // name over 255 octets
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for packet in &garbage {
        socket.send_to(packet, server.udp).await.unwrap();
    }
    // Over TCP too: a bad length prefix and a garbage body.
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    stream
        .write_all(&[0x00, 0x05, 1, 2, 3, 4, 5])
        .await
        .unwrap();
    stream.write_all(&[0xff, 0xff, 9]).await.unwrap();
    drop(stream);

    // Replies to header-valid garbage are FORMERR (or dropped); nothing else matters.
    let mut buf = vec![0u8; 65535];
    while let Ok(Ok(len)) =
        tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await
    {
        Message::from_vec(&buf[..len]).expect("every reply parses");
    }

    for transport in [Protocol::Udp, Protocol::Tcp] {
        let bytes = query("web.demo.svc.clusterset.local.", RecordType::A);
        let reply = if transport == Protocol::Udp {
            udp(server.udp, &bytes).await
        } else {
            tcp(server.tcp, &bytes).await
        };
        assert_eq!(
            addresses(&reply),
            vec!["10.96.0.10"],
            "still answering over {transport:?}"
        );
    }
    assert!(!server.task.is_finished());
}

#[tokio::test]
async fn bad_names_get_formerr_over_udp() {
    let server = start(fixture()).await;
    for packet in [
        raw_query_with_label(&[64, 3]),
        raw_query_with_label(&[63, 63, 63, 63, 10]),
    ] {
        let reply = udp(server.udp, &packet).await;
        assert_eq!(reply.metadata.id, 0x1234);
        assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    }
    // A 253-character name of 63-octet labels is legal and simply does not exist here.
    let long = format!(
        "{}.clusterset.local.",
        ["a".repeat(63), "b".repeat(63), "c".repeat(59)].join(".")
    );
    let reply = udp(server.udp, &query(&long, RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn index_updates_are_visible_to_the_next_query() {
    let shared = fixture();
    let server = start(shared.clone()).await;
    let bytes = query("late.demo.svc.clusterset.local.", RecordType::A);
    let before = udp(server.udp, &bytes).await;
    assert_eq!(before.metadata.response_code, ResponseCode::NXDomain);
    index::write(&shared).apply_import(
        "demo",
        "late",
        ImportData {
            type_: ImportType::ClusterSetIp,
            vips: vec![ip("10.96.0.99")],
            ports: Vec::new(),
        },
    );
    let after = udp(server.udp, &bytes).await;
    assert_eq!(addresses(&after), vec!["10.96.0.99"]);
}

#[tokio::test]
async fn shutdown_stops_the_listeners() {
    let listening = Listening::bind("127.0.0.1:0".parse().unwrap(), handler(fixture()))
        .await
        .unwrap();
    let addr = listening.udp_addr();
    assert!(
        udp_exchange(
            addr,
            &query("web.demo.svc.clusterset.local.", RecordType::A)
        )
        .await
        .is_some()
    );
    tokio::time::timeout(WAIT, listening.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn run_until_stops_gracefully_when_signalled() {
    let listening = Listening::bind("127.0.0.1:0".parse().unwrap(), handler(fixture()))
        .await
        .unwrap();
    let (udp_addr, tcp_addr) = (listening.udp_addr(), listening.tcp_addr());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(listening.run_until(async {
        let _ = stop_rx.await;
    }));
    let bytes = query("web.demo.svc.clusterset.local.", RecordType::A);
    assert_eq!(addresses(&udp(udp_addr, &bytes).await), vec!["10.96.0.10"]);
    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("run_until returns after the stop signal")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(tcp_addr).await.is_err(),
        "the TCP listener is closed"
    );
}

#[tokio::test]
async fn binding_a_taken_port_fails_with_bind_error() {
    let taken = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let err = Listening::bind(taken.local_addr().unwrap(), handler(fixture()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            crate::Error::Bind {
                protocol: "udp",
                ..
            }
        ),
        "{err:?}"
    );
}

// In-memory path shared with the fuzz target.

#[test]
fn handle_wire_answers_like_the_server() {
    let handler = handler(fixture());
    let reply = handler
        .handle_wire(
            &query("web.demo.svc.clusterset.local", RecordType::A),
            Protocol::Udp,
        )
        .unwrap();
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(addresses(&reply), vec!["10.96.0.10"]);

    // Too short for a header: dropped. A response: dropped.
    assert!(handler.handle_wire(&[1, 2, 3], Protocol::Udp).is_none());
    let mut response = query_with("web.demo.svc.clusterset.local", RecordType::A, 1, None);
    response.metadata.message_type = MessageType::Response;
    assert!(
        handler
            .handle_wire(&response.to_vec().unwrap(), Protocol::Udp)
            .is_none()
    );

    // Header but broken body: FORMERR with the request id.
    let formerr = handler
        .handle_wire(
            &[0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7],
            Protocol::Udp,
        )
        .unwrap();
    let formerr = Message::from_vec(&formerr).unwrap();
    assert_eq!(formerr.metadata.id, 0xabcd);
    assert_eq!(formerr.metadata.response_code, ResponseCode::FormErr);
}

#[test]
fn handle_wire_rejects_what_the_handler_does_not_serve() {
    let handler = handler(fixture());
    let rcode = |msg: Message| {
        let reply = handler
            .handle_wire(&msg.to_vec().unwrap(), Protocol::Udp)
            .unwrap();
        Message::from_vec(&reply).unwrap().metadata.response_code
    };
    let mut two = query_with("web.demo.svc.clusterset.local", RecordType::A, 1, None);
    two.add_query(Query::query(
        Name::from_ascii("web.demo.svc.clusterset.local").unwrap(),
        RecordType::AAAA,
    ));
    assert_eq!(
        rcode(two),
        ResponseCode::FormErr,
        "one question per message"
    );

    let none = Message::new(2, MessageType::Query, OpCode::Query);
    assert_eq!(rcode(none), ResponseCode::FormErr, "no question");

    let mut notify = query_with("clusterset.local", RecordType::SOA, 3, None);
    notify.metadata.op_code = OpCode::Notify;
    assert_eq!(rcode(notify), ResponseCode::NotImp);

    let axfr = query_with("clusterset.local", RecordType::AXFR, 4, None);
    assert_eq!(rcode(axfr), ResponseCode::NotImp);

    let mut any_class = query_with("web.demo.svc.clusterset.local", RecordType::A, 5, None);
    any_class.queries[0].set_query_class(DNSClass::ANY);
    assert_eq!(rcode(any_class), ResponseCode::Refused);

    let unknown = query_with(
        "web.demo.svc.clusterset.local",
        RecordType::Unknown(65000),
        6,
        None,
    );
    assert_eq!(
        rcode(unknown),
        ResponseCode::NoError,
        "unknown types are NODATA"
    );
}

/// The pseudo-random input test the fuzz target generalises: thousands of random byte strings
/// and bit-flipped valid queries go through the raw-bytes entry point without a panic, and
/// every reply parses and carries the request id.
#[test]
fn random_bytes_never_panic() {
    let handler = handler(fixture());
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let seeds: Vec<Vec<u8>> = [
        (
            "web.demo.svc.clusterset.local.",
            RecordType::A,
            Some(edns(1232)),
        ),
        (
            "_http._tcp.big.demo.svc.clusterset.local.",
            RecordType::SRV,
            None,
        ),
        ("10.0.96.10.in-addr.arpa.", RecordType::PTR, None),
        (
            "big.demo.svc.clusterset.local.",
            RecordType::ANY,
            Some(edns(512)),
        ),
    ]
    .into_iter()
    .map(|(name, rtype, edns)| query_with(name, rtype, 77, edns).to_vec().unwrap())
    .collect();
    let mut replies = 0;
    for round in 0..6000usize {
        let input = if round.is_multiple_of(2) {
            rng.bytes(300)
        } else {
            let mut bytes = seeds[round % seeds.len()].clone();
            for _ in 0..=(rng.next() % 4) {
                let at = usize::try_from(rng.next()).unwrap() % bytes.len();
                bytes[at] ^= 1 << (rng.next() % 8);
            }
            if rng.next().is_multiple_of(5) {
                bytes.truncate(usize::try_from(rng.next()).unwrap() % bytes.len());
            }
            bytes
        };
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            if let Some(reply) = handler.handle_wire(&input, protocol) {
                replies += 1;
                let parsed = Message::from_vec(&reply).expect("reply parses");
                assert_eq!(parsed.metadata.id, u16::from_be_bytes([input[0], input[1]]));
                if protocol == Protocol::Udp {
                    assert!(reply.len() <= usize::from(wire::MAX_UDP_PAYLOAD));
                }
            }
        }
    }
    assert!(replies > 3000, "most inputs get a reply: {replies}");
}

/// Found by the fuzzer: an UPDATE (NOTIMP) or QUERY (FORMERR) with several long questions used
/// to echo them all, which does not fit in 512 bytes, so no reply could be encoded (hickory then
/// sent a bare SERVFAIL and logged an error per packet). Now the reply carries no question.
#[tokio::test]
async fn several_long_questions_get_a_reply_without_them_that_fits_udp() {
    let server = start(fixture()).await;
    let handler = handler(fixture());
    // Distinct names, so that compression cannot shrink them.
    let long = |c: char| {
        format!(
            "{}.clusterset.local",
            vec![c.to_string().repeat(63); 3].join(".")
        )
    };
    for (op, expected) in [
        (OpCode::Query, ResponseCode::FormErr),
        (OpCode::Update, ResponseCode::NotImp),
    ] {
        let mut msg = query_with(&long('a'), RecordType::A, 9, None);
        msg.metadata.op_code = op;
        for c in ['b', 'c', 'd'] {
            msg.add_query(Query::query(
                Name::from_ascii(long(c)).unwrap(),
                RecordType::A,
            ));
        }
        let bytes = msg.to_vec().unwrap();
        assert!(bytes.len() > 512, "{} bytes", bytes.len());
        let wire = handler
            .handle_wire(&bytes, Protocol::Udp)
            .expect("a reply, not a drop");
        let over_socket = udp(server.udp, &bytes).await;
        for reply in [Message::from_vec(&wire).unwrap(), over_socket] {
            assert_eq!(reply.metadata.id, 9);
            assert_eq!(reply.metadata.response_code, expected, "{op:?}");
            assert!(reply.queries.is_empty(), "no echo: {reply:?}");
        }
    }
    // One question is still echoed.
    let one = handler
        .handle_wire(
            &query_with("web.demo.svc.clusterset.local", RecordType::A, 10, None)
                .to_vec()
                .unwrap(),
            Protocol::Udp,
        )
        .unwrap();
    assert_eq!(Message::from_vec(&one).unwrap().queries.len(), 1);
}

/// Found by the fuzzer: a question whose name is a compression pointer into the header was
/// echoed byte for byte, so in the reply it pointed at the response's flags and the reply did
/// not decode. Now such a question is re-encoded.
#[tokio::test]
async fn a_compressed_question_is_echoed_so_that_the_reply_decodes() {
    let server = start(fixture()).await;
    let handler = handler(fixture());
    // id 0x000c, RD, one question: name = pointer to offset 2 (the flags: label "\0", root),
    // type 0x31da, class 0x3001 (not IN: REFUSED); then an OPT record.
    let request: &[u8] = &[
        0x00, 0x0c, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x02, 0x31,
        0xda, 0x30, 0x01,
    ];
    let wire = handler
        .handle_wire(request, Protocol::Udp)
        .expect("a reply");
    let over_socket = udp(server.udp, request).await;
    for reply in [Message::from_vec(&wire).unwrap(), over_socket] {
        assert_eq!(reply.metadata.id, 0x000c);
        assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
        assert_eq!(reply.queries.len(), 1, "the question is still echoed");
        assert_eq!(u16::from(reply.queries[0].query_type()), 0x31da);
    }
    // The same question spelled out is echoed as received.
    let plain: &[u8] = &[
        0x00, 0x0d, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x31, 0xda, 0x30, 0x01,
    ];
    let reply = handler.handle_wire(plain, Protocol::Udp).unwrap();
    assert_eq!(&reply[12..], &plain[12..], "question bytes echoed");
}

mod bounds;
