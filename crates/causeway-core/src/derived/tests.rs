use causeway_api::service_import::v1beta1::{
    ClientIpConfig, SessionAffinityConfig as ImportAffinity,
};
use causeway_api::{ServiceImportType, ServicePort as ImportPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn port(name: Option<&str>, port: i32) -> ImportPort {
    ImportPort {
        name: name.map(str::to_owned),
        protocol: None,
        app_protocol: None,
        port,
    }
}

fn import(ports: Vec<ImportPort>) -> ServiceImport {
    ServiceImport {
        metadata: ObjectMeta {
            name: Some("serve".into()),
            namespace: Some("demo".into()),
            uid: Some("uid-1".into()),
            ..ObjectMeta::default()
        },
        spec: ServiceImportSpec {
            ports,
            type_: ServiceImportType::ClusterSetIP,
            ..ServiceImportSpec::default()
        },
        status: None,
    }
}

#[test]
fn derived_service_is_a_selectorless_clusterip_owned_by_the_import() {
    let svc = desired_service(&import(vec![port(None, 80)]), None).unwrap();
    assert_eq!(svc.metadata.name.as_deref(), Some("derived-ovtkn0laet"));
    assert_eq!(svc.metadata.namespace.as_deref(), Some("demo"));
    let owner = &svc.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("ServiceImport", "uid-1", Some(true))
    );
    let spec = svc.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert!(spec.selector.is_none());
    let p = &spec.ports.unwrap()[0];
    assert_eq!(
        (p.name.as_deref(), p.protocol.as_deref(), p.port),
        (None, Some("TCP"), 80)
    );
    assert!(
        spec.cluster_ips.is_none(),
        "no IP requested for a new import"
    );
}

#[test]
fn a_recreated_service_asks_for_the_imports_vip_and_a_live_one_keeps_its_own() {
    let mut imp = import(vec![port(None, 80)]);
    imp.spec.ips = Some(vec!["10.43.0.77".into()]);
    let svc = desired_service(&imp, None).unwrap();
    assert_eq!(
        svc.spec.as_ref().unwrap().cluster_ips.as_deref(),
        Some(&["10.43.0.77".to_string()][..])
    );
    let live = ["10.43.0.5".to_string()];
    let svc = desired_service(&imp, Some(&live)).unwrap();
    assert_eq!(svc.spec.unwrap().cluster_ip.as_deref(), Some("10.43.0.5"));
}

#[test]
fn affinity_traffic_policies_and_families_follow_the_import() {
    let mut imp = import(vec![port(Some("http"), 80), port(Some("grpc"), 9090)]);
    imp.spec.session_affinity = Some("ClientIP".into());
    imp.spec.session_affinity_config = Some(ImportAffinity {
        client_ip: Some(ClientIpConfig {
            timeout_seconds: Some(10),
        }),
    });
    imp.spec.internal_traffic_policy = Some("Local".into());
    imp.spec.traffic_distribution = Some("PreferClose".into());
    imp.spec.ip_families = Some(vec!["IPv4".into(), "IPv6".into()]);
    let spec = desired_service(&imp, None).unwrap().spec.unwrap();
    assert_eq!(
        spec.session_affinity_config
            .unwrap()
            .client_ip
            .unwrap()
            .timeout_seconds,
        Some(10)
    );
    assert_eq!(spec.internal_traffic_policy.as_deref(), Some("Local"));
    assert_eq!(spec.traffic_distribution.as_deref(), Some("PreferClose"));
    assert_eq!(spec.ip_family_policy.as_deref(), Some("RequireDualStack"));
}

#[test]
fn bad_ports_are_rejected_with_the_fix() {
    let cases = [
        (vec![], ImportProblem::NoPorts),
        (
            vec![port(Some("a"), 80), port(Some("a"), 81)],
            ImportProblem::DuplicatePortName("a".into()),
        ),
        (
            vec![port(Some("a"), 80), port(None, 81)],
            ImportProblem::UnnamedPort(81),
        ),
        (vec![port(None, 0)], ImportProblem::PortOutOfRange(0)),
    ];
    for (ports, want) in cases {
        assert_eq!(
            desired_service(&import(ports.clone()), None).unwrap_err(),
            want,
            "{ports:?}"
        );
    }
    assert!(
        ImportProblem::UnnamedPort(81)
            .to_string()
            .contains("needs a name")
    );
    let mut imp = import(vec![port(None, 80)]);
    imp.spec.ip_families = Some(vec!["IPv4".into(), "IPv4".into()]);
    assert!(matches!(
        desired_service(&imp, None),
        Err(ImportProblem::Families(_))
    ));
}

#[test]
fn apiserver_defaults_do_not_cause_writes_but_edits_do() {
    let imp = import(vec![port(Some("http"), 80)]);
    let desired = desired_service(&imp, None).unwrap();
    // What the apiserver returns: defaults filled in, an IP allocated, targetPort set.
    let mut live = desired.clone();
    {
        let spec = live.spec.as_mut().unwrap();
        spec.session_affinity = Some("None".into());
        spec.internal_traffic_policy = Some("Cluster".into());
        spec.cluster_ip = Some("10.43.0.9".into());
        spec.cluster_ips = Some(vec!["10.43.0.9".into()]);
        spec.ip_families = Some(vec!["IPv4".into()]);
        spec.ip_family_policy = Some("SingleStack".into());
        spec.ports.as_mut().unwrap()[0].target_port =
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80));
    }
    assert!(!needs_apply(&desired, &live));
    // A port change on the import reaches the Service.
    let changed = desired_service(&import(vec![port(Some("http"), 8080)]), None).unwrap();
    assert!(needs_apply(&changed, &live));
    // Someone added a selector or changed the type: restore.
    let mut edited = live.clone();
    edited.spec.as_mut().unwrap().selector = Some([("app".to_string(), "x".to_string())].into());
    assert!(needs_apply(&desired, &edited));
}

#[test]
fn addresses_come_in_family_order() {
    let mut svc = desired_service(&import(vec![port(None, 80)]), None).unwrap();
    assert_eq!(addresses(&svc), None, "not allocated yet");
    let spec = svc.spec.as_mut().unwrap();
    spec.cluster_ips = Some(vec!["fd00::5".into(), "10.43.0.5".into()]);
    spec.ip_families = Some(vec!["IPv6".into(), "IPv4".into()]);
    assert_eq!(
        addresses(&svc),
        Some((
            vec!["fd00::5".into(), "10.43.0.5".into()],
            vec!["IPv6".into(), "IPv4".into()]
        ))
    );
}
