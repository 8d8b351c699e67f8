use std::collections::BTreeMap;

use causeway_api::names::{ANNOTATION_DERIVED_SERVICE, LABEL_MANAGED_BY, MANAGED_BY_CAUSEWAY};
use causeway_api::{ServiceImportSpec, ServiceImportStatus};
use causeway_core::slices::SliceMarks;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::*;

const DERIVED: &str = "derived-x";

fn import(type_: ServiceImportType, ips: &[&str]) -> ServiceImport {
    ServiceImport {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some("web".into()),
            uid: Some("uid-web".into()),
            generation: Some(1),
            resource_version: Some("5".into()),
            ..ObjectMeta::default()
        },
        spec: ServiceImportSpec {
            type_,
            ports: vec![causeway_api::ServicePort {
                name: None,
                protocol: Some("TCP".into()),
                app_protocol: None,
                port: 80,
            }],
            ips: (!ips.is_empty()).then(|| ips.iter().map(|&s| s.to_owned()).collect()),
            ..ServiceImportSpec::default()
        },
        status: None,
    }
}

fn derived_name() -> String {
    derived_service_name("ns", "web")
}

/// The derived Service the apiserver holds after applying what `import` wants, with `ip`.
fn live_service(import: &ServiceImport, ip: &str) -> Service {
    let mut svc = derived::desired_service(import, None).unwrap();
    let spec = svc.spec.as_mut().unwrap();
    spec.cluster_ip = Some(ip.into());
    spec.cluster_ips = Some(vec![ip.into()]);
    spec.ip_families = Some(vec!["IPv4".into()]);
    svc.metadata.resource_version = Some("7".into());
    svc
}

/// `import` as the reconciler leaves it: addresses set and `Ready` up to date.
fn settled_import(mut import: ServiceImport, ip: &str) -> ServiceImport {
    let derived = derived_name();
    import.spec.ips = Some(vec![ip.into()]);
    import.spec.ip_families = Some(vec!["IPv4".into()]);
    import.metadata.annotations = Some(BTreeMap::from([(
        ANNOTATION_DERIVED_SERVICE.to_owned(),
        derived.clone(),
    )]));
    let ready = DesiredCondition::new(
        condition::READY,
        "True",
        condition::ready::READY,
        format!("ClusterSet IP {ip} via service {derived}"),
    );
    import.status = Some(ServiceImportStatus {
        clusters: None,
        conditions: Some(conditions::merge(
            &[],
            &[ready],
            import.metadata.generation,
            &Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        )),
    });
    import
}

fn slice(name: &str, labels: &[(&str, &str)], added_by_us: bool) -> IndexedSlice {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut annotations = BTreeMap::new();
    if added_by_us {
        annotations.insert(
            causeway_api::names::ANNOTATION_ADDED_SERVICE_NAME.to_owned(),
            "true".to_owned(),
        );
    }
    IndexedSlice {
        namespace: "ns".into(),
        name: name.into(),
        import: "web".into(),
        resource_version: "3".into(),
        marks: SliceMarks::of(&labels, &annotations),
    }
}

fn ready_of(writes: &[Write]) -> Option<&DesiredCondition> {
    writes.iter().find_map(|w| match w {
        Write::Ready(c) => Some(c),
        _ => None,
    })
}

#[test]
fn a_new_import_first_gets_its_derived_service() {
    let i = import(ServiceImportType::ClusterSetIP, &[]);
    let writes = decide(&i, None, &[]);
    let [
        Write::ApplyService {
            desired,
            remove_selector: false,
        },
    ] = writes.as_slice()
    else {
        panic!("{writes:?}");
    };
    assert_eq!(desired.name_any(), derived_name());
    assert_eq!(requested_ips(desired), None, "a new VIP is allocated");
}

#[test]
fn once_the_service_has_an_ip_the_import_gets_it_then_ready() {
    let i = import(ServiceImportType::ClusterSetIP, &[]);
    let applied = live_service(&i, "10.43.0.10");
    let writes = after_service(&i, &settled(&applied), &[]);
    assert_eq!(
        writes[0],
        Write::Addresses {
            ips: vec!["10.43.0.10".into()],
            families: vec!["IPv4".into()],
            derived: Some(derived_name()),
        }
    );
    let ready = ready_of(&writes).unwrap();
    assert_eq!(
        (ready.status, ready.reason.as_str()),
        ("True", condition::ready::READY)
    );
    assert!(ready.message.contains("10.43.0.10"));
}

#[test]
fn a_service_without_an_ip_yet_leaves_the_import_pending() {
    let i = import(ServiceImportType::ClusterSetIP, &[]);
    let mut pending = live_service(&i, "x");
    pending.spec.as_mut().unwrap().cluster_ip = None;
    pending.spec.as_mut().unwrap().cluster_ips = None;
    let writes = decide(&i, Some(&pending), &[]);
    let [Write::Ready(ready)] = writes.as_slice() else {
        panic!("{writes:?}");
    };
    assert_eq!(ready.reason, condition::ready::PENDING);
}

#[test]
fn an_unchanged_import_writes_nothing() {
    let i = settled_import(import(ServiceImportType::ClusterSetIP, &[]), "10.43.0.10");
    let live = live_service(&i, "10.43.0.10");
    let routed = slice("s1", &[(LABEL_K8S_SERVICE_NAME, &derived_name())], true);
    let writes = decide(&i, Some(&live), &[routed]);
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn a_selector_someone_added_is_removed_with_the_apply() {
    let i = import(ServiceImportType::ClusterSetIP, &[]);
    let mut live = live_service(&i, "10.43.0.10");
    live.spec.as_mut().unwrap().selector = Some(BTreeMap::from([("app".into(), "x".into())]));
    let writes = decide(&i, Some(&live), &[]);
    let [
        Write::ApplyService {
            desired,
            remove_selector: true,
        },
    ] = writes.as_slice()
    else {
        panic!("{writes:?}");
    };
    assert_eq!(
        requested_ips(desired),
        Some(["10.43.0.10".to_owned()].as_slice()),
        "the live IP is sent back unchanged"
    );
}

#[test]
fn an_invalid_import_is_reported_not_retried() {
    let mut i = import(ServiceImportType::ClusterSetIP, &[]);
    i.spec.ports.clear();
    let writes = decide(&i, None, &[]);
    let [
        Write::Warn {
            reason: "InvalidServiceImport",
            note,
        },
        Write::Ready(ready),
    ] = writes.as_slice()
    else {
        panic!("{writes:?}");
    };
    assert!(note.contains("spec.ports is empty"), "{note}");
    assert_eq!(
        (ready.status, ready.reason.as_str()),
        ("False", condition::ready::PENDING)
    );
}

#[test]
fn slices_get_the_routing_label_unless_someone_else_set_one() {
    let i = settled_import(import(ServiceImportType::ClusterSetIP, &[]), "10.43.0.10");
    let live = live_service(&i, "10.43.0.10");
    let bare = slice("bare", &[], false);
    let foreign = slice("foreign", &[(LABEL_K8S_SERVICE_NAME, "other")], false);
    let ours = slice("ours", &[(LABEL_MANAGED_BY, MANAGED_BY_CAUSEWAY)], false);
    let writes = decide(&i, Some(&live), &[bare.clone(), foreign, ours]);
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(
        writes[0],
        Write::Label {
            slice: bare,
            derived: Some(derived_name())
        }
    );
    let Write::Warn {
        reason: "SliceServiceNameConflict",
        note,
    } = &writes[1]
    else {
        panic!("{writes:?}");
    };
    assert!(
        note.contains("ns/foreign") && note.contains("=other"),
        "{note}"
    );
}

#[test]
fn a_headless_import_drops_its_old_service_addresses_and_labels() {
    let i = settled_import(import(ServiceImportType::ClusterSetIP, &[]), "10.43.0.10");
    let live = live_service(&i, "10.43.0.10");
    let mut headless = i.clone();
    headless.spec.type_ = ServiceImportType::Headless;
    let labelled = slice("s1", &[(LABEL_K8S_SERVICE_NAME, &derived_name())], true);
    let writes = decide(&headless, Some(&live), std::slice::from_ref(&labelled));
    assert_eq!(writes[0], Write::DeleteService);
    assert_eq!(
        writes[1],
        Write::Addresses {
            ips: vec![],
            families: vec![],
            derived: None
        }
    );
    assert_eq!(
        writes[2],
        Write::Label {
            slice: labelled,
            derived: None
        }
    );
    let ready = ready_of(&writes).unwrap();
    assert!(ready.message.starts_with("headless"));
}

#[test]
fn a_headless_import_leaves_a_service_causeway_did_not_make() {
    let mut i = import(ServiceImportType::Headless, &[]);
    i.spec.ip_families = Some(vec!["IPv4".into()]);
    let mut someones = live_service(&i, "10.43.0.10");
    someones.metadata.labels = None;
    let writes = decide(&i, Some(&someones), &[]);
    assert!(!writes.contains(&Write::DeleteService), "{writes:?}");
}

#[test]
fn rejections_other_than_422_are_retried() {
    let i = import(ServiceImportType::ClusterSetIP, &[]);
    let desired = derived::desired_service(&i, None).unwrap();
    for code in [None, Some(403), Some(409), Some(500)] {
        assert_eq!(
            on_rejected(&i, None, &desired, code, "spec.ipFamilies: x"),
            Rejected::Fail
        );
    }
}

#[test]
fn a_422_on_ip_families_becomes_a_condition() {
    let mut i = import(ServiceImportType::ClusterSetIP, &[]);
    i.spec.ip_families = Some(vec!["IPv6".into()]);
    let desired = derived::desired_service(&i, None).unwrap();
    let message = "spec.ipFamilies[0]: Invalid value: \"IPv6\": not configured on this cluster";
    let Rejected::FamilyNotSupported(text) = on_rejected(&i, None, &desired, Some(422), message)
    else {
        panic!();
    };
    assert!(
        text.contains("[\"IPv6\"]") && text.contains(message),
        "{text}"
    );
    let writes = after_service(&i, &Outcome::FamilyNotSupported(text.clone()), &[]);
    assert!(matches!(
        writes.as_slice(),
        [Write::Warn { reason, .. }, Write::Ready(r)]
            if *reason == condition::ready::IP_FAMILY_NOT_SUPPORTED
                && r.reason == condition::ready::IP_FAMILY_NOT_SUPPORTED
    ));
}

#[test]
fn a_422_on_a_requested_vip_allocates_a_new_one() {
    let i = import(ServiceImportType::ClusterSetIP, &["10.99.0.1"]);
    let desired = derived::desired_service(&i, None).unwrap();
    assert!(requested_ips(&desired).is_some());
    let message = "spec.clusterIPs: Invalid value: \"10.99.0.1\": not in the valid range";
    let Rejected::Reallocate { fresh, note } = on_rejected(&i, None, &desired, Some(422), message)
    else {
        panic!();
    };
    assert_eq!(requested_ips(&fresh), None);
    assert_eq!(fresh.spec.as_ref().unwrap().cluster_ip, None);
    assert!(
        note.contains("10.99.0.1") && note.contains("allocating new ones"),
        "{note}"
    );
    // With a live Service the same answer means someone's edit, not the VIP.
    let live = live_service(&i, "10.43.0.10");
    assert!(matches!(
        on_rejected(&i, Some(&live), &desired, Some(422), message),
        Rejected::Restore { .. }
    ));
}

#[test]
fn a_422_after_someones_edit_restores_the_service_keeping_its_ip() {
    let i = import(ServiceImportType::ClusterSetIP, &[]);
    let mut live = live_service(&i, "10.43.0.10");
    live.spec.as_mut().unwrap().ports.as_mut().unwrap().push(
        k8s_openapi::api::core::v1::ServicePort {
            port: 81,
            ..Default::default()
        },
    );
    live.spec.as_mut().unwrap().selector = Some(BTreeMap::from([("a".into(), "b".into())]));
    let desired = derived::desired_service(&i, Some(&["10.43.0.10".to_owned()])).unwrap();
    let message = "spec.ports[1].name: Required value";
    let Rejected::Restore { repaired, note } =
        on_rejected(&i, Some(&live), &desired, Some(422), message)
    else {
        panic!();
    };
    let spec = repaired.spec.as_ref().unwrap();
    assert_eq!(spec.ports, desired.spec.as_ref().unwrap().ports);
    assert_eq!(spec.selector, None);
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.43.0.10"));
    assert!(
        note.contains(message) && note.contains("restored"),
        "{note}"
    );
}

#[test]
fn a_422_without_a_live_service_or_requested_vip_is_retried() {
    let i = import(ServiceImportType::ClusterSetIP, &[]);
    let desired = derived::desired_service(&i, None).unwrap();
    assert_eq!(
        on_rejected(
            &i,
            None,
            &desired,
            Some(422),
            "spec.ports[0].port: Invalid value"
        ),
        Rejected::Fail
    );
}

#[test]
fn ready_is_rewritten_after_an_address_write_even_when_it_reads_the_same() {
    let mut i = settled_import(import(ServiceImportType::ClusterSetIP, &[]), "10.43.0.10");
    i.spec.ips = Some(vec!["10.43.0.99".into()]);
    let live = live_service(&i, "10.43.0.10");
    let writes = decide(&i, Some(&live), &[]);
    assert!(
        matches!(
            writes.as_slice(),
            [Write::Addresses { .. }, Write::Ready(_)]
        ),
        "{writes:?}"
    );
}

#[test]
fn patches_carry_only_causeways_fields() {
    let p = addresses_patch(
        "web",
        &["10.43.0.10".into()],
        &["IPv4".into()],
        Some(DERIVED),
    );
    assert_eq!(p["spec"]["ips"][0], "10.43.0.10");
    assert_eq!(p["spec"]["ipFamilies"][0], "IPv4");
    assert_eq!(
        p["metadata"]["annotations"][ANNOTATION_DERIVED_SERVICE],
        DERIVED
    );
    let headless = addresses_patch("web", &[], &[], None);
    assert!(headless["spec"].get("ipFamilies").is_none());
    assert!(headless["metadata"].get("annotations").is_none());
    let release = label_patch("s1", None);
    assert_eq!(release["metadata"], json!({"name": "s1"}));
}
