use super::*;
use crate::desired::{LocalConfig, desired_state};

fn peer(name: &str, ip: &str, mac: &str, cidr: &str) -> PeerNode {
    PeerNode {
        name: name.into(),
        public_ip: ip.parse().unwrap(),
        vtep_mac: mac.parse().unwrap(),
        vni: 1,
        backend_type: "vxlan".into(),
        pod_cidrs: vec![cidr.parse().unwrap()],
    }
}

#[test]
fn reports_missing_entries_per_peer() {
    let peers = vec![
        peer("b1", "198.51.100.21", "0e:00:00:00:02:01", "10.44.1.0/24"),
        peer("b2", "198.51.100.22", "0e:00:00:00:02:02", "10.44.2.0/24"),
        peer(
            "stray",
            "198.51.100.23",
            "0e:00:00:00:02:03",
            "10.99.0.0/24",
        ),
    ];
    let config = LocalConfig::new(
        1,
        vec!["10.42.0.0/16".parse().unwrap()],
        vec!["10.44.0.0/16".parse().unwrap()],
    );
    let desired = desired_state(&config, peers.clone()).unwrap();
    assert_eq!(desired.rejected.len(), 1);
    let mut actual = desired.state.clone();
    let gone = actual
        .routes
        .iter()
        .find(|r| r.dst.to_string() == "10.44.2.0/24")
        .cloned()
        .unwrap();
    actual.routes.remove(&gone);
    let report = peer_status(&peers, &desired.state, &actual);
    assert!(report[0].ok(), "{}", report[0]);
    assert!(!report[1].ok());
    assert!(report[1].neighbour && report[1].fdb && !report[1].routes);
    assert!(report[2].rejected && !report[2].ok());
    assert!(
        report[1].to_string().contains("route MISSING"),
        "{}",
        report[1]
    );
    assert!(report[2].to_string().contains("REJECTED"));
}
