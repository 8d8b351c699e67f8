//! The shipped `causeway dns` manifests (deploy/dns/deployment.yaml and service.yaml), parsed:
//! what a cluster would run if they were applied. Pure: no lab.

// The lean build (`--no-default-features`) has no `dns` command (and no YAML parser).
#![cfg(feature = "tools")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use serde_json::Value;

const DEPLOYMENT: &str = include_str!("../../../deploy/dns/deployment.yaml");
const SERVICE: &str = include_str!("../../../deploy/dns/service.yaml");
/// The image with every command (the lean controller image, `causeway-controller`, has no
/// `dns`).
const FULL_IMAGE: &str = "causeway:dev";

fn parse(yaml: &str) -> Value {
    serde_saphyr::from_str(yaml).unwrap()
}

/// The `dns` container of the Deployment.
fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    containers
        .iter()
        .find(|c| c["name"] == "dns")
        .expect("a container named dns")
}

/// `(name, containerPort, protocol)` of every container port.
fn container_ports(container: &Value) -> Vec<(String, u64, String)> {
    let mut ports: Vec<_> = container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().expect("every port is named").to_owned(),
                p["containerPort"].as_u64().unwrap(),
                p["protocol"].as_str().unwrap_or("TCP").to_owned(),
            )
        })
        .collect();
    ports.sort();
    ports
}

#[test]
fn deployment_runs_two_probed_replicas_of_causeway_dns_from_the_full_image() {
    let deployment = parse(DEPLOYMENT);
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(deployment["metadata"]["namespace"], "causeway-system");
    assert_eq!(deployment["spec"]["replicas"], 2, "two replicas");
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(&labels[key], value, "the pods match the selector on {key}");
    }
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"], "causeway-dns",
        "the account deploy/dns/rbac.yaml binds"
    );

    let dns = container(&deployment);
    assert_eq!(dns["image"], FULL_IMAGE, "`dns` is only in the full image");
    let args: Vec<&str> = dns["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args.first(), Some(&"dns"), "runs `causeway dns`: {args:?}");
    assert!(
        args.contains(&"--listen=0.0.0.0:5353"),
        "listens on 5353 on every address: {args:?}"
    );
    let admin_port = args
        .iter()
        .find_map(|a| a.strip_prefix("--admin-addr=0.0.0.0:"))
        .and_then(|p| p.parse::<u64>().ok())
        .expect("an --admin-addr on every address");

    let ports = container_ports(dns);
    assert!(
        ports.contains(&("dns".to_owned(), 5353, "UDP".to_owned())),
        "{ports:?}"
    );
    assert!(
        ports.contains(&("dns-tcp".to_owned(), 5353, "TCP".to_owned())),
        "{ports:?}"
    );
    assert!(
        ports.contains(&("admin".to_owned(), admin_port, "TCP".to_owned())),
        "{ports:?}"
    );

    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/livez")] {
        let get = &dns[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert!(
            get["port"] == "admin" || get["port"].as_u64() == Some(admin_port),
            "{probe} asks the admin server: {get}"
        );
    }
}

#[test]
fn service_maps_port_53_over_udp_and_tcp_to_the_named_container_ports() {
    let service = parse(SERVICE);
    let deployment = parse(DEPLOYMENT);
    assert_eq!(service["kind"], "Service");
    assert_eq!(service["metadata"]["name"], "causeway-dns");
    assert_eq!(
        service["metadata"]["namespace"],
        deployment["metadata"]["namespace"]
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[key], value, "the Service selects the pods on {key}");
    }
    let container_ports = container_ports(container(&deployment));
    let mut mapped: Vec<(u64, String, u64)> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let protocol = p["protocol"].as_str().unwrap_or("TCP").to_owned();
            let target = p["targetPort"].as_str().expect("a named targetPort");
            let (_, number, container_protocol) = container_ports
                .iter()
                .find(|(name, _, _)| name == target)
                .unwrap_or_else(|| panic!("targetPort {target} is a container port"));
            assert_eq!(*container_protocol, protocol, "{target}: same protocol");
            (p["port"].as_u64().unwrap(), protocol, *number)
        })
        .collect();
    mapped.sort();
    assert_eq!(
        mapped,
        vec![(53, "TCP".to_owned(), 5353), (53, "UDP".to_owned(), 5353)]
    );
}
