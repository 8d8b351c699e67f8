use std::collections::BTreeMap;
use std::net::IpAddr;

use causeway_api::names::{LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER};
use causeway_api::{ServiceImport, ServiceImportSpec, ServiceImportType, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn import(vips: &[&str]) -> ImportData {
    ImportData {
        type_: ImportType::ClusterSetIp,
        vips: vips.iter().map(|v| ip(v)).collect(),
        ports: vec![PortData::new(Some("http"), "TCP", 80)],
    }
}

fn slice(service: &str, cluster: &str, addrs: &[&str]) -> SliceData {
    SliceData {
        service: service.to_owned(),
        cluster: cluster.to_owned(),
        address_type: AddressType::Ipv4,
        endpoints: addrs
            .iter()
            .map(|a| EndpointData {
                addresses: vec![ip(a)],
                hostname: None,
                ready: true,
            })
            .collect(),
        ports: vec![PortData::new(Some("http"), "TCP", 8080)],
    }
}

#[test]
fn apply_and_delete_import() {
    let mut index = Index::default();
    assert!(index.service("ns", "web").is_none());
    index.apply_import("ns", "web", import(&["10.0.0.1"]));
    let svc = index.service("ns", "web").unwrap();
    assert_eq!(svc.import.vips, vec![ip("10.0.0.1")]);
    assert_eq!(index.len(), 1);
    assert!(index.has_namespace("ns"));
    assert!(!index.has_namespace("n"));
    assert!(!index.has_namespace("nss"));

    index.apply_import("ns", "web", import(&["10.0.0.2"]));
    assert_eq!(
        index.service("ns", "web").unwrap().import.vips,
        vec![ip("10.0.0.2")]
    );

    index.delete_import("ns", "web");
    assert!(index.service("ns", "web").is_none());
    assert!(index.is_empty());
    assert!(!index.has_namespace("ns"));
    assert_eq!(
        index,
        Index {
            revision: index.revision,
            ..Index::default()
        }
    );
}

#[test]
fn slices_wait_for_their_import() {
    let mut index = Index::default();
    index.apply_slice("ns", "web-a", slice("web", "east", &["10.1.0.1"]));
    assert!(
        index.service("ns", "web").is_none(),
        "no import, no service"
    );
    assert_eq!(index.slice_count(), 1);
    assert!(index.is_empty());

    index.apply_import("ns", "web", import(&["10.0.0.1"]));
    let svc = index.service("ns", "web").unwrap();
    assert_eq!(svc.slices().count(), 1);

    // Deleting the import keeps the slice; re-adding it restores the view.
    index.delete_import("ns", "web");
    assert!(index.service("ns", "web").is_none());
    assert_eq!(index.slice_count(), 1);
    index.apply_import("ns", "web", import(&["10.0.0.1"]));
    assert_eq!(index.service("ns", "web").unwrap().slices().count(), 1);
}

#[test]
fn slices_group_by_cluster_and_delete() {
    let mut index = Index::default();
    index.apply_import("ns", "web", import(&[]));
    index.apply_slice("ns", "web-east-1", slice("web", "east", &["10.1.0.1"]));
    index.apply_slice("ns", "web-east-2", slice("web", "east", &["10.1.0.2"]));
    index.apply_slice(
        "ns",
        "web-west-1",
        slice("web", "west", &["10.2.0.1", "10.2.0.2"]),
    );
    let svc = index.service("ns", "web").unwrap();
    let by_cluster = svc.slices_by_cluster();
    assert_eq!(
        by_cluster.keys().copied().collect::<Vec<_>>(),
        vec!["east", "west"]
    );
    assert_eq!(by_cluster["east"].len(), 2);
    assert_eq!(svc.ready_endpoints().count(), 4);
    assert_eq!(index.endpoint_count(), 4);

    index.delete_slice("ns", "web-east-1");
    let svc = index.service("ns", "web").unwrap();
    assert_eq!(svc.ready_endpoints().count(), 3);
    // Deleting an unknown slice is a no-op.
    let before = index.clone();
    index.delete_slice("ns", "nope");
    index.delete_import("other", "web");
    assert_eq!(index, before);
}

#[test]
fn slice_moving_to_another_service_is_not_duplicated() {
    let mut index = Index::default();
    index.apply_import("ns", "a", import(&[]));
    index.apply_import("ns", "b", import(&[]));
    index.apply_slice("ns", "s1", slice("a", "east", &["10.1.0.1"]));
    index.apply_slice("ns", "s1", slice("b", "east", &["10.1.0.1"]));
    assert_eq!(index.service("ns", "a").unwrap().slices().count(), 0);
    assert_eq!(index.service("ns", "b").unwrap().slices().count(), 1);
    assert_eq!(index.slice_count(), 1);
    index.delete_slice("ns", "s1");
    assert_eq!(index.service("ns", "b").unwrap().slices().count(), 0);
    assert_eq!(index.slice_count(), 0);
}

#[test]
fn same_slice_name_in_two_namespaces() {
    let mut index = Index::default();
    index.apply_import("n1", "web", import(&[]));
    index.apply_import("n2", "web", import(&[]));
    index.apply_slice("n1", "s", slice("web", "east", &["10.1.0.1"]));
    index.apply_slice("n2", "s", slice("web", "east", &["10.1.0.2"]));
    index.delete_slice("n1", "s");
    assert_eq!(index.service("n1", "web").unwrap().slices().count(), 0);
    assert_eq!(index.service("n2", "web").unwrap().slices().count(), 1);
}

#[test]
fn reset_replaces_everything() {
    let mut index = Index::default();
    index.apply_import("ns", "old", import(&["10.0.0.1"]));
    index.apply_import("ns", "kept", import(&["10.0.0.2"]));
    index.apply_slice("ns", "old-1", slice("old", "east", &["10.1.0.1"]));
    index.apply_slice("ns", "kept-1", slice("kept", "east", &["10.1.0.2"]));

    index.reset_imports(vec![
        ("ns".to_owned(), "kept".to_owned(), import(&["10.0.0.3"])),
        ("other".to_owned(), "new".to_owned(), import(&["10.0.0.4"])),
    ]);
    assert!(index.service("ns", "old").is_none());
    assert_eq!(
        index.service("ns", "kept").unwrap().import.vips,
        vec![ip("10.0.0.3")]
    );
    assert!(index.service("other", "new").is_some());
    assert_eq!(
        index.slice_count(),
        2,
        "an import relist leaves slices alone"
    );

    index.reset_slices(vec![(
        "ns".to_owned(),
        "kept-2".to_owned(),
        slice("kept", "west", &["10.2.0.1"]),
    )]);
    assert_eq!(index.slice_count(), 1);
    let kept = index.service("ns", "kept").unwrap();
    assert_eq!(
        kept.slices_by_cluster().keys().copied().collect::<Vec<_>>(),
        vec!["west"]
    );

    index.reset_imports(Vec::new());
    index.reset_slices(Vec::new());
    assert!(index.is_empty());
    assert_eq!(index.slice_count(), 0);
    assert!(
        index.services.is_empty(),
        "no empty entries are left behind"
    );
}

#[test]
fn revision_changes_only_on_change() {
    let mut index = Index::default();
    let r0 = index.revision();
    index.apply_import("ns", "web", import(&["10.0.0.1"]));
    let r1 = index.revision();
    assert_ne!(r0, r1);
    index.apply_import("ns", "web", import(&["10.0.0.1"]));
    assert_eq!(index.revision(), r1, "identical apply is not a change");
    index.apply_slice("ns", "s", slice("web", "east", &["10.1.0.1"]));
    assert_ne!(index.revision(), r1);
}

#[test]
fn services_with_vip_only_matches_clusterset_ip() {
    let mut index = Index::default();
    index.apply_import("ns", "web", import(&["10.0.0.1", "fd00::1"]));
    index.apply_import(
        "ns",
        "hl",
        ImportData {
            type_: ImportType::Headless,
            vips: vec![ip("10.0.0.9")],
            ports: Vec::new(),
        },
    );
    let names = |ip: IpAddr| {
        index
            .services_with_vip(ip)
            .map(|s| s.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(ip("fd00::1")), vec!["web"]);
    assert_eq!(names(ip("10.0.0.1")), vec!["web"]);
    assert!(names(ip("10.0.0.9")).is_empty());
}

fn service_import(type_: ServiceImportType, ips: Option<Vec<&str>>) -> ServiceImport {
    ServiceImport::new(
        "web",
        ServiceImportSpec {
            type_,
            ips: ips.map(|v| v.into_iter().map(str::to_owned).collect()),
            ports: vec![
                ServicePort {
                    name: Some("http".to_owned()),
                    protocol: None,
                    app_protocol: None,
                    port: 80,
                },
                ServicePort {
                    name: Some(String::new()),
                    protocol: Some("udp".to_owned()),
                    app_protocol: None,
                    port: 53,
                },
                ServicePort {
                    name: None,
                    protocol: Some("TCP".to_owned()),
                    app_protocol: None,
                    port: 70000,
                },
            ],
            ..ServiceImportSpec::default()
        },
    )
}

#[test]
fn import_data_from_service_import() {
    let data = ImportData::from(&service_import(
        ServiceImportType::ClusterSetIP,
        Some(vec!["10.0.0.1", "not-an-ip", "fd00::1"]),
    ));
    assert_eq!(data.type_, ImportType::ClusterSetIp);
    assert_eq!(data.vips, vec![ip("10.0.0.1"), ip("fd00::1")]);
    assert_eq!(
        data.ports,
        vec![
            PortData::new(Some("http"), "TCP", 80),
            PortData {
                name: None,
                protocol: "UDP".to_owned(),
                port: 53
            },
        ],
        "absent protocol is TCP, empty name is unnamed, out-of-range port is dropped"
    );

    let headless = ImportData::from(&service_import(
        ServiceImportType::Headless,
        Some(vec!["10.0.0.1"]),
    ));
    assert_eq!(headless.type_, ImportType::Headless);
    assert!(headless.vips.is_empty(), "headless imports have no VIPs");
}

fn endpoint_slice(labels: &[(&str, &str)], address_type: &str) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some("web-east-abc".to_owned()),
            namespace: Some("ns".to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..ObjectMeta::default()
        },
        address_type: address_type.to_owned(),
        endpoints: vec![
            Endpoint {
                addresses: vec!["10.1.0.1".to_owned()],
                hostname: Some("pod-a".to_owned()),
                conditions: Some(EndpointConditions {
                    ready: Some(true),
                    ..EndpointConditions::default()
                }),
                ..Endpoint::default()
            },
            Endpoint {
                addresses: vec!["10.1.0.2".to_owned()],
                conditions: Some(EndpointConditions {
                    ready: Some(false),
                    ..EndpointConditions::default()
                }),
                ..Endpoint::default()
            },
            Endpoint {
                addresses: vec!["10.1.0.3".to_owned()],
                hostname: Some(String::new()),
                conditions: None,
                ..Endpoint::default()
            },
            Endpoint {
                // wrong family for an IPv4 slice, and garbage: dropped
                addresses: vec!["fd00::1".to_owned(), "garbage".to_owned()],
                ..Endpoint::default()
            },
        ],
        ports: Some(vec![
            EndpointPort {
                name: Some("http".to_owned()),
                port: Some(8080),
                protocol: Some("TCP".to_owned()),
                ..EndpointPort::default()
            },
            EndpointPort {
                name: Some("all".to_owned()),
                port: None,
                ..EndpointPort::default()
            },
        ]),
    }
}

#[test]
fn slice_data_from_endpoint_slice() {
    let mcs = [(LABEL_SERVICE_NAME, "web"), (LABEL_SOURCE_CLUSTER, "east")];
    let data = SliceData::from_endpoint_slice(&endpoint_slice(&mcs, "IPv4")).unwrap();
    assert_eq!(data.service, "web");
    assert_eq!(data.cluster, "east");
    assert_eq!(data.address_type, AddressType::Ipv4);
    assert_eq!(
        data.endpoints,
        vec![
            EndpointData {
                addresses: vec![ip("10.1.0.1")],
                hostname: Some("pod-a".to_owned()),
                ready: true,
            },
            EndpointData {
                addresses: vec![ip("10.1.0.2")],
                hostname: None,
                ready: false,
            },
            EndpointData {
                addresses: vec![ip("10.1.0.3")],
                hostname: None,
                ready: true,
            },
        ],
        "absent ready counts as ready; empty hostname is none; other families are dropped"
    );
    assert_eq!(data.ports, vec![PortData::new(Some("http"), "TCP", 8080)]);
}

#[test]
fn slice_data_needs_mcs_labels_and_ip_family() {
    let mcs = [(LABEL_SERVICE_NAME, "web"), (LABEL_SOURCE_CLUSTER, "east")];
    assert!(SliceData::from_endpoint_slice(&endpoint_slice(&mcs, "FQDN")).is_none());
    assert!(
        SliceData::from_endpoint_slice(&endpoint_slice(&[(LABEL_SERVICE_NAME, "web")], "IPv4"))
            .is_none()
    );
    assert!(
        SliceData::from_endpoint_slice(&endpoint_slice(&[(LABEL_SOURCE_CLUSTER, "e")], "IPv4"))
            .is_none()
    );
    let empty_cluster = [(LABEL_SERVICE_NAME, "web"), (LABEL_SOURCE_CLUSTER, "")];
    assert!(SliceData::from_endpoint_slice(&endpoint_slice(&empty_cluster, "IPv4")).is_none());
    let v6 = SliceData::from_endpoint_slice(&endpoint_slice(&mcs, "IPv6")).unwrap();
    assert_eq!(v6.endpoints.len(), 1);
    assert_eq!(v6.endpoints[0].addresses, vec![ip("fd00::1")]);
}
