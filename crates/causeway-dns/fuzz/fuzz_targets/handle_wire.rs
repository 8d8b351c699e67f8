//! Fuzzes the request path: raw bytes → hickory's request decoding → the handler's decisions →
//! the pure answer function → encoding, over both UDP and TCP size limits, against an index with
//! a ClusterSetIP and a headless service. Any reply must decode and carry the request id.

#![no_main]

use std::sync::OnceLock;

use causeway_dns::index::{
    self, AddressType, EndpointData, ImportData, ImportType, PortData, SliceData,
};
use causeway_dns::{DnsMetrics, Handler, Zone};
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::Message;
use libfuzzer_sys::fuzz_target;

fn handler() -> &'static Handler {
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
                    vips: vec!["10.96.0.10".parse().unwrap(), "fd00::10".parse().unwrap()],
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
                            addresses: vec![[10, 1, 0, i].into()],
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

fuzz_target!(|data: &[u8]| {
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        if let Some(reply) = handler().handle_wire(data, protocol) {
            let parsed = Message::from_vec(&reply).expect("reply decodes");
            assert_eq!(parsed.metadata.id, u16::from_be_bytes([data[0], data[1]]));
        }
    }
});
