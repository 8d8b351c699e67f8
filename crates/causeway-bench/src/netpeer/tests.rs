use super::scratch::peer_node;

#[test]
fn synthetic_peers_parse_and_do_not_overlap() {
    let nodes: Vec<_> = (0..1000).map(|i| peer_node(i).unwrap()).collect();
    let parsed = causeway_netpeer::parse_peers(&nodes, 1);
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    assert_eq!(parsed.peers.len(), 1000);
    let last = &parsed
        .peers
        .iter()
        .find(|p| p.name == "bench-peer-00999")
        .unwrap();
    assert_eq!(last.public_ip.to_string(), "198.18.3.232");
    assert_eq!(last.pod_cidrs[0].to_string(), "10.67.231.0/24");
    assert!(peer_node(super::scratch::MAX_PEERS).is_err());
}
