use prometheus_client::encoding::text::encode;

use super::*;
use crate::error::Error;

fn args(zone: &str) -> DnsArgs {
    DnsArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        zone: zone.to_owned(),
        ttl: 7,
        write_conditions: true,
        max_udp_in_flight: 16,
        max_tcp_connections: 16,
        tcp_idle_timeout: 10,
    }
}

#[test]
fn new_validates_and_registers() {
    let mut registry = Registry::with_prefix("causeway");
    let err = Dns::new(args("a..b"), registry.sub_registry_with_prefix("dns")).unwrap_err();
    assert!(matches!(err, Error::InvalidZone { .. }), "{err:?}");

    let mut registry = Registry::with_prefix("causeway");
    let dns = Dns::new(
        args("clusterset.local"),
        registry.sub_registry_with_prefix("dns"),
    )
    .unwrap();
    assert!(
        !*dns.ready().borrow(),
        "not ready before the feed has listed"
    );
    assert!(index::read(&dns.index()).is_empty());
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(text.contains("causeway_dns_index_services 0"), "{text}");
}
