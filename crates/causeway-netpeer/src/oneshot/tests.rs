use super::*;

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn seed() -> Vec<(&'static str, &'static str)> {
    vec![
        ("node_ip", "192.168.31.95"),
        ("node_mac", "ba:7e:3d:4c:18:eb"),
        ("node_subnet", "10.44.0.0/24"),
        ("cidr1", "10.42.0.0/16"),
        ("cidr2", "10.44.0.0/16"),
    ]
}

#[test]
fn parses_the_seed_config_map_in_both_clusters() {
    let c = SeedConfig::from_data(&data(&seed())).unwrap();
    assert_eq!(c.local_cluster.to_string(), "10.42.0.0/16");
    assert_eq!(c.peer_cluster.to_string(), "10.44.0.0/16");

    let mut other = seed();
    other[0] = ("node_ip", "192.168.31.66");
    other[1] = ("node_mac", "0e:b5:f8:b4:1c:a3");
    other[2] = ("node_subnet", " 10.42.0.0/24\n");
    let c = SeedConfig::from_data(&data(&other)).unwrap();
    assert_eq!(c.local_cluster.to_string(), "10.44.0.0/16");
    assert_eq!(c.peer_cluster.to_string(), "10.42.0.0/16");
}

#[test]
fn rejects_bad_config_maps() {
    let cases: Vec<(&str, &str, &str)> = vec![
        ("node_ip", "", "config key node_ip is missing"),
        (
            "node_ip",
            "192.168.31",
            "config key node_ip has invalid value \"192.168.31\"",
        ),
        (
            "node_mac",
            "ba:7e:3d:4c:18",
            "config key node_mac has invalid value",
        ),
        ("node_mac", "ff:ff:ff:ff:ff:ff", "unicast MAC"),
        (
            "node_subnet",
            "10.44.0.1/24",
            "config key node_subnet has invalid value",
        ),
        (
            "node_subnet",
            "10.50.0.0/24",
            "inside exactly one of cidr1 and cidr2",
        ),
        ("cidr1", "10.42.0.0", "config key cidr1 has invalid value"),
        ("cidr2", "", "config key cidr2 is missing"),
    ];
    for (key, value, want) in cases {
        let mut pairs: Vec<_> = seed().into_iter().filter(|(k, _)| *k != key).collect();
        if !value.is_empty() {
            pairs.push((key, value));
        }
        let err = SeedConfig::from_data(&data(&pairs)).unwrap_err();
        assert!(err.to_string().contains(want), "{key}={value:?}: {err}");
    }
    // Both cluster CIDRs contain the subnet.
    let mut pairs = seed();
    pairs[3] = ("cidr1", "10.0.0.0/8");
    let err = SeedConfig::from_data(&data(&pairs)).unwrap_err();
    assert!(err.to_string().contains("exactly one"), "{err}");
}

#[test]
fn desired_matches_create_routes_sh_and_is_idempotent() {
    let c = SeedConfig::from_data(&data(&seed())).unwrap();
    let d = c.desired(1, "flannel.1", 8472).unwrap();
    let plan = crate::diff::diff(&d.state, &crate::state::NetState::default(), &d.ownership);
    assert_eq!(
        plan.to_string(),
        "neigh add 10.44.0.0 lladdr ba:7e:3d:4c:18:eb dev flannel.1 nud permanent\n\
         fdb add ba:7e:3d:4c:18:eb dst 192.168.31.95 dev flannel.1 self permanent\n\
         route add 10.44.0.0/24 via 10.44.0.0 dev flannel.1 onlink proto 156\n\
         nft apply table ip causeway-netpeer (2 exemptions)\n\
         \x20 no masquerade 10.42.0.0/16 -> 10.44.0.0/16\n\
         \x20 no masquerade 10.44.0.0/16 -> 10.42.0.0/16\n"
    );
    assert!(crate::diff::diff(&d.state, &d.state, &d.ownership).is_empty());
}
