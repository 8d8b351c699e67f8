//! The flood bounds and the early-reply rules over real sockets: in-flight UDP requests beyond
//! the limit are dropped and counted, idle TCP connections are evicted at the connection limit
//! and cannot lock real clients out, nothing is answered before the index has synced, and
//! malformed responses are never answered while malformed queries get a counted `FORMERR`.

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::*;

struct Served {
    server: Running,
    registry: Registry,
}

impl Served {
    fn scrape(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).unwrap();
        out
    }

    /// The value of the integer sample `name` (exact series), 0 when absent.
    fn sample(&self, name: &str) -> u64 {
        self.scrape()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }
}

async fn start_served(
    shared: index::SharedIndex,
    limits: Limits,
    synced: Option<tokio::sync::watch::Receiver<bool>>,
) -> Served {
    let mut registry = Registry::with_prefix("causeway");
    let metrics = DnsMetrics::register(registry.sub_registry_with_prefix("dns"), shared.clone());
    let mut handler = Handler::new(shared, Zone::default(), metrics);
    if let Some(synced) = synced {
        handler = handler.with_synced(synced);
    }
    let listening = Listening::bind_with("127.0.0.1:0".parse().unwrap(), handler, limits)
        .await
        .unwrap();
    let server = Running {
        udp: listening.udp_addr(),
        tcp: listening.tcp_addr(),
        task: tokio::spawn(listening.run()),
    };
    Served { server, registry }
}

/// Asks for `web` over UDP (retrying like a resolver: under a flood a request may be dropped)
/// and over TCP.
async fn answers_web(served: &Served) {
    let bytes = query("web.demo.svc.clusterset.local.", RecordType::A);
    let mut reply = None;
    for _ in 0..10 {
        reply = udp_exchange(served.server.udp, &bytes).await;
        if reply.is_some() {
            break;
        }
    }
    let reply = Message::from_vec(&reply.expect("no UDP reply in 10 tries")).unwrap();
    assert_eq!(addresses(&reply), vec!["10.96.0.10"]);
    assert_eq!(
        addresses(&tcp(served.server.tcp, &bytes).await),
        vec!["10.96.0.10"]
    );
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_and_a_udp_flood_do_not_lock_clients_out() {
    let limits = Limits {
        udp_in_flight: 4,
        tcp_connections: 8,
        tcp_idle: Duration::from_secs(30),
    };
    let served = start_served(fixture(), limits, None).await;
    // 32 connections that never send anything (and one that sends half a request): 4 times the
    // limit.
    let mut idle = Vec::new();
    for _ in 0..32 {
        idle.push(TcpStream::connect(served.server.tcp).await.unwrap());
    }
    let mut half = TcpStream::connect(served.server.tcp).await.unwrap();
    half.write_all(&[0, 40, 1, 2, 3]).await.unwrap();
    // A UDP flood from one socket, not waiting for replies.
    let flood = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let bytes = query("big.demo.svc.clusterset.local.", RecordType::SRV);
    for _ in 0..5000 {
        flood.send_to(&bytes, served.server.udp).await.unwrap();
    }

    answers_web(&served).await;
    // The listener queue is FIFO: the 33 connections above were all accepted before the one
    // `answers_web` made, so 34 - 8 of them were evicted, the oldest first.
    assert_eq!(
        served.sample("causeway_dns_tcp_connections_evicted_total"),
        26
    );
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(WAIT, idle[0].read(&mut buf))
        .await
        .expect("the evicted connection is closed, not left hanging");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    eventually("at most 8 connections stay open", || {
        served.sample("causeway_dns_tcp_connections") <= 8
    })
    .await;
    assert!(!served.server.task.is_finished(), "the server is alive");
    answers_web(&served).await;
}

#[tokio::test]
async fn udp_requests_beyond_the_in_flight_limit_are_dropped_and_counted() {
    let mut registry = Registry::with_prefix("causeway");
    let shared = fixture();
    let metrics = DnsMetrics::register(registry.sub_registry_with_prefix("dns"), shared.clone());
    let handler = Handler::new(shared, Zone::default(), metrics);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    // One permit, held here: every request is beyond the limit.
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let held = permits.clone().try_acquire_owned().unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let served = Served {
        server: Running {
            udp: addr,
            tcp: addr,
            task: tokio::spawn(async move {
                udp::serve(socket, handler, permits, stopped).await.unwrap();
                Ok(())
            }),
        },
        registry,
    };
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let bytes = query("web.demo.svc.clusterset.local.", RecordType::A);
    for _ in 0..20 {
        client.send_to(&bytes, addr).await.unwrap();
    }
    eventually("20 requests dropped", || {
        served.sample("causeway_dns_dropped_udp_requests_total") >= 20
    })
    .await;
    let mut buf = vec![0u8; 512];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), client.recv(&mut buf))
            .await
            .is_err(),
        "dropped requests get no reply"
    );
    drop(held);
    assert_eq!(
        addresses(&udp(addr, &bytes).await),
        vec!["10.96.0.10"],
        "answered again once a permit is free"
    );
    assert_eq!(served.sample("causeway_dns_dropped_udp_requests_total"), 20);
}

#[tokio::test]
async fn names_are_servfail_until_the_index_has_synced() {
    let (synced_tx, synced) = tokio::sync::watch::channel(false);
    let served = start_served(fixture(), Limits::default(), Some(synced)).await;
    let web = query("web.demo.svc.clusterset.local.", RecordType::A);
    for (name, rtype, expected) in [
        (
            "web.demo.svc.clusterset.local.",
            RecordType::A,
            ResponseCode::ServFail,
        ),
        (
            "nope.demo.svc.clusterset.local.",
            RecordType::A,
            ResponseCode::ServFail,
        ),
        ("clusterset.local.", RecordType::SOA, ResponseCode::ServFail),
        (
            "10.0.96.10.in-addr.arpa.",
            RecordType::PTR,
            ResponseCode::ServFail,
        ),
        ("example.com.", RecordType::A, ResponseCode::Refused),
    ] {
        let bytes = query(name, rtype);
        for reply in [
            udp(served.server.udp, &bytes).await,
            tcp(served.server.tcp, &bytes).await,
        ] {
            assert_eq!(reply.metadata.response_code, expected, "{name} {rtype}");
            assert!(reply.answers.is_empty() && reply.authorities.is_empty());
            assert!(
                !reply.metadata.authoritative,
                "{name}: not authoritative yet"
            );
        }
    }
    synced_tx.send_replace(true);
    answers_web(&served).await;
    let nx = udp(
        served.server.udp,
        &query("nope.demo.svc.clusterset.local.", RecordType::A),
    )
    .await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    drop(web);
}

#[tokio::test]
async fn malformed_responses_are_dropped_and_malformed_queries_counted() {
    let served = start_served(fixture(), Limits::default(), None).await;
    // Header with qdcount 1, then a truncated question: undecodable.
    let query_bytes = [0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7];
    let mut response_bytes = query_bytes;
    response_bytes[2] |= 0x80; // QR=1
    assert!(
        udp_exchange(served.server.udp, &response_bytes)
            .await
            .is_none(),
        "a malformed response is not answered (no reflection)"
    );
    let reply = udp(served.server.udp, &query_bytes).await;
    assert_eq!(reply.metadata.id, 0xabcd);
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    let reply = tcp(served.server.tcp, &query_bytes).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    // So is an over-long label, over both transports.
    let label = raw_query_with_label(&[64, 3]);
    assert_eq!(
        tcp(served.server.tcp, &label).await.metadata.response_code,
        ResponseCode::FormErr
    );
    let text = served.scrape();
    for line in [
        r#"causeway_dns_queries_total{type="NONE",rcode="FORMERR",protocol="udp"} 1"#,
        r#"causeway_dns_queries_total{type="NONE",rcode="FORMERR",protocol="tcp"} 2"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn srv_whose_every_target_is_too_long_is_nodata_with_soa_on_the_wire() {
    let (ns, svc) = ("n".repeat(63), "s".repeat(63));
    let shared = index::shared();
    {
        let mut index = index::write(&shared);
        index.apply_import(
            &ns,
            &svc,
            ImportData {
                type_: ImportType::Headless,
                ..ImportData::default()
            },
        );
        index.apply_slice(
            &ns,
            "long-1",
            SliceData {
                service: svc.clone(),
                cluster: "c".repeat(63),
                address_type: AddressType::Ipv4,
                endpoints: vec![EndpointData {
                    addresses: vec![ip("10.7.0.1")],
                    hostname: Some("h".repeat(63)),
                    ready: true,
                }],
                ports: vec![PortData::new(Some("http"), "TCP", 8080)],
            },
        );
    }
    let name = format!("_http._tcp.{svc}.{ns}.svc.clusterset.local.");
    let reply = handler(shared)
        .handle_wire(&query(&name, RecordType::SRV), Protocol::Udp)
        .unwrap();
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    assert!(
        matches!(reply.authorities.as_slice(), [soa] if matches!(soa.data, RData::SOA(_))),
        "{reply:?}"
    );
}

#[tokio::test]
async fn idle_and_trickling_tcp_connections_are_closed_after_the_idle_timeout() {
    let limits = Limits {
        tcp_idle: Duration::from_millis(300),
        ..Limits::default()
    };
    let served = start_served(fixture(), limits, None).await;
    let mut idle = TcpStream::connect(served.server.tcp).await.unwrap();
    let mut trickle = TcpStream::connect(served.server.tcp).await.unwrap();
    // A length prefix announcing 40 bytes, then only 3 of them.
    trickle.write_all(&[0, 40, 1, 2, 3]).await.unwrap();
    let mut buf = [0u8; 1];
    for stream in [&mut idle, &mut trickle] {
        let read = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("the server closes the connection");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    eventually("no TCP connection left open", || {
        served.sample("causeway_dns_tcp_connections") == 0
    })
    .await;
    answers_web(&served).await;
}
