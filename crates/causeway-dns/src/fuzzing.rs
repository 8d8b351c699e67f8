//! The fuzz harness, shared by the cargo-fuzz target (`fuzz/fuzz_targets/handle_wire.rs`) and the
//! stable test that replays its corpus (`tests/fuzz_corpus.rs`), so both check exactly the same
//! thing. Not part of the API.
//!
//! Flow: raw bytes → [`Handler::handle_wire`] over UDP and over TCP (hickory's request decoding,
//! the handler's decisions, the pure answer function and the encoder: the very function the
//! server's transports call for every request)
//! against a fixed index with a dual-stack ClusterSetIP service and a headless service of 50
//! endpoints → [`check`] panics unless the outcome is one the handler documents: no reply only
//! for input shorter than a DNS header or that is itself a response; otherwise a reply that
//! decodes, is a response, carries the request id, and fits the transport's size limit.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::OnceLock;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Message, MessageType};

use crate::index::{self, AddressType, EndpointData, ImportData, ImportType, PortData, SliceData};
use crate::server::wire::MAX_UDP_PAYLOAD;
use crate::{DnsMetrics, Handler, Zone};

/// Length of a DNS header.
const HEADER_LEN: usize = 12;

/// The handler the fuzzer drives, answering from a fixed index (built once).
pub fn handler() -> &'static Handler {
    static HANDLER: OnceLock<Handler> = OnceLock::new();
    HANDLER.get_or_init(|| {
        let shared = index::shared();
        {
            let mut index = index::write(&shared);
            index.apply_import(
                "demo",
                "web",
                ImportData {
                    type_: ImportType::ClusterSetIp,
                    vips: vec![
                        IpAddr::from([10, 96, 0, 10]),
                        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x10)),
                    ],
                    ports: vec![PortData::new(Some("http"), "TCP", 80)],
                },
            );
            index.apply_import(
                "demo",
                "hl",
                ImportData {
                    type_: ImportType::Headless,
                    ..ImportData::default()
                },
            );
            index.apply_slice(
                "demo",
                "hl-east",
                SliceData {
                    service: "hl".to_owned(),
                    cluster: "east".to_owned(),
                    address_type: AddressType::Ipv4,
                    endpoints: (1..=50u8)
                        .map(|i| EndpointData {
                            addresses: vec![IpAddr::from([10, 1, 0, i])],
                            hostname: (i % 2 == 0).then(|| format!("pod-{i}")),
                            ready: i % 7 != 0,
                        })
                        .collect(),
                    ports: vec![PortData::new(Some("http"), "TCP", 8080)],
                },
            );
        }
        Handler::new(shared, Zone::default(), DnsMetrics::default())
    })
}

/// Runs `data` through the handler over UDP and TCP; panics when the outcome breaks the
/// handler's contract (see the module docs).
pub fn check(data: &[u8]) {
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let Some(reply) = handler().handle_wire(data, protocol) else {
            let is_response = data.get(2).is_some_and(|flags| flags & 0x80 != 0);
            assert!(
                data.len() < HEADER_LEN || is_response,
                "no {protocol:?} reply to a query with a complete header: {data:02x?}"
            );
            continue;
        };
        let parsed = match Message::from_vec(&reply) {
            Ok(parsed) => parsed,
            Err(err) => panic!("the {protocol:?} reply does not decode ({err}): {reply:02x?}"),
        };
        assert_eq!(
            parsed.metadata.message_type,
            MessageType::Response,
            "the reply is a response"
        );
        assert_eq!(
            parsed.metadata.id,
            u16::from_be_bytes([data[0], data[1]]),
            "the reply carries the request id"
        );
        if protocol == Protocol::Udp {
            assert!(
                reply.len() <= usize::from(MAX_UDP_PAYLOAD),
                "UDP reply of {} bytes exceeds {MAX_UDP_PAYLOAD}",
                reply.len()
            );
        }
    }
}
