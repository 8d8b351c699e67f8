use super::{Kind, Mix, endpoint_ip, import_object, slice_object, vip};

#[test]
fn mix_spreads_the_headless_share_evenly() {
    let mix = Mix {
        count: 1000,
        headless_percent: 20,
        endpoints: 3,
    };
    assert_eq!(mix.indices(Kind::Headless).len(), 200);
    assert_eq!(mix.indices(Kind::ClusterSetIp).len(), 800);
    assert_eq!(mix.kind(0), Kind::ClusterSetIp);
    assert_eq!(mix.kind(4), Kind::Headless);
    let none = Mix {
        headless_percent: 0,
        ..mix
    };
    assert!(none.indices(Kind::Headless).is_empty());
    let all = Mix {
        headless_percent: 100,
        ..mix
    };
    assert!(all.indices(Kind::ClusterSetIp).is_empty());
}

#[test]
fn objects_carry_what_both_servers_read() {
    let import = import_object("svc-00001", 1, Kind::ClusterSetIp).unwrap();
    assert_eq!(import.data["spec"]["ips"][0], "10.43.128.1");
    assert_eq!(import.data["spec"]["ports"][0]["name"], "http");
    let headless = import_object("svc-00004", 4, Kind::Headless).unwrap();
    assert_eq!(headless.data["spec"]["type"], "Headless");
    assert!(headless.data["spec"].get("ips").is_none());
    let slice = slice_object("svc-00004", 4, 3).unwrap();
    let labels = slice.metadata.labels.unwrap();
    assert_eq!(
        labels["multicluster.kubernetes.io/service-name"],
        "svc-00004"
    );
    assert_eq!(
        labels["multicluster.kubernetes.io/source-cluster"],
        "bench-c1"
    );
    assert_eq!(slice.endpoints.len(), 3);
    assert_eq!(slice.endpoints[2].hostname.as_deref(), Some("pod-2"));
    assert_eq!(slice.endpoints[0].addresses, vec!["10.200.0.13".to_owned()]);
    assert_ne!(vip(0), vip(9999));
    assert_ne!(endpoint_ip(0, 2, 3), endpoint_ip(1, 0, 3));
}
