use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Message, MessageType, OpCode, Query};
use hickory_server::proto::rr::{Name, RecordType};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::*;
use crate::answer::Zone;
use crate::index::{AddressType, EndpointData, ImportData, ImportType, SliceData};
use crate::server::Handler;

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut msg = Message::new(1, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    msg.to_vec().unwrap()
}

fn scrape(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).unwrap();
    out
}

#[test]
fn queries_latency_truncation_and_index_size_are_exported() {
    let shared = index::shared();
    {
        let mut index = index::write(&shared);
        index.apply_import(
            "demo",
            "web",
            ImportData {
                type_: ImportType::ClusterSetIp,
                vips: vec!["10.96.0.10".parse().unwrap()],
                ports: Vec::new(),
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
        index.apply_slice(
            "demo",
            "big-1",
            SliceData {
                service: "big".to_owned(),
                cluster: "east".to_owned(),
                address_type: AddressType::Ipv4,
                endpoints: (1..=100u8)
                    .map(|i| EndpointData {
                        addresses: vec![[10, 0, 0, i].into()],
                        hostname: None,
                        ready: true,
                    })
                    .collect(),
                ports: Vec::new(),
            },
        );
    }
    let mut registry = Registry::with_prefix("causeway");
    let metrics = DnsMetrics::register(registry.sub_registry_with_prefix("dns"), shared.clone());
    let handler = Handler::new(shared.clone(), Zone::default(), metrics);

    handler.handle_wire(
        &query("web.demo.svc.clusterset.local.", RecordType::A),
        Protocol::Udp,
    );
    handler.handle_wire(
        &query("web.demo.svc.clusterset.local.", RecordType::A),
        Protocol::Tcp,
    );
    handler.handle_wire(
        &query("nope.demo.svc.clusterset.local.", RecordType::SRV),
        Protocol::Udp,
    );
    handler.handle_wire(&query("example.com.", RecordType::AAAA), Protocol::Udp);
    handler.handle_wire(
        &query("big.demo.svc.clusterset.local.", RecordType::A),
        Protocol::Udp,
    );
    handler.handle_wire(&[0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9], Protocol::Udp);

    let text = scrape(&registry);
    for line in [
        r#"causeway_dns_queries_total{type="A",rcode="NOERROR",protocol="udp"} 2"#,
        r#"causeway_dns_queries_total{type="A",rcode="NOERROR",protocol="tcp"} 1"#,
        r#"causeway_dns_queries_total{type="SRV",rcode="NXDOMAIN",protocol="udp"} 1"#,
        r#"causeway_dns_queries_total{type="AAAA",rcode="REFUSED",protocol="udp"} 1"#,
        r#"causeway_dns_queries_total{type="NONE",rcode="FORMERR",protocol="udp"} 1"#,
        "causeway_dns_query_duration_seconds_count 6",
        "causeway_dns_truncated_responses_total 1",
        "causeway_dns_index_services 2",
        "causeway_dns_index_slices 1",
        "causeway_dns_index_endpoints 100",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }

    index::write(&shared).delete_import("demo", "web");
    let text = scrape(&registry);
    assert!(
        text.lines().any(|l| l == "causeway_dns_index_services 1"),
        "{text}"
    );
}

#[test]
fn label_values_are_fixed() {
    assert_eq!(qtype_label(QueryType::Other(99)), "OTHER");
    assert_eq!(qtype_label(QueryType::Meta(252)), "META");
    assert_eq!(rcode_label(ResponseCode::NXDomain), "NXDOMAIN");
    assert_eq!(rcode_label(ResponseCode::YXDomain), "OTHER");
}
