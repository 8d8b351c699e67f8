use std::collections::BTreeMap;

use causeway_api::names::{LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER};
use causeway_api::{ServiceImport, ServiceImportSpec, ServiceImportType};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::Event;

use super::*;

fn import(ns: &str, name: &str, ip: &str) -> ServiceImport {
    let mut obj = ServiceImport::new(
        name,
        ServiceImportSpec {
            type_: ServiceImportType::ClusterSetIP,
            ips: Some(vec![ip.to_owned()]),
            ..ServiceImportSpec::default()
        },
    );
    obj.metadata.namespace = Some(ns.to_owned());
    obj
}

fn slice(ns: &str, name: &str, service: Option<&str>, addr: &str) -> EndpointSlice {
    let mut labels = BTreeMap::new();
    if let Some(service) = service {
        labels.insert(LABEL_SERVICE_NAME.to_owned(), service.to_owned());
    }
    labels.insert(LABEL_SOURCE_CLUSTER.to_owned(), "east".to_owned());
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".to_owned(),
        endpoints: vec![Endpoint {
            addresses: vec![addr.to_owned()],
            ..Endpoint::default()
        }],
        ports: None,
    }
}

fn vips(index: &SharedIndex, ns: &str, name: &str) -> Option<Vec<String>> {
    let index = index::read(index);
    index
        .service(ns, name)
        .map(|s| s.import.vips.iter().map(ToString::to_string).collect())
}

#[test]
fn ready_only_after_both_initial_lists() {
    let index = index::shared();
    let mut feed = Feed::default();
    assert!(!feed.on_import(&index, Event::Init));
    assert!(!feed.on_import(&index, Event::InitApply(import("ns", "web", "10.0.0.1"))));
    assert!(
        vips(&index, "ns", "web").is_none(),
        "buffered until InitDone"
    );
    assert!(
        !feed.on_import(&index, Event::InitDone),
        "slices not listed yet"
    );
    assert_eq!(vips(&index, "ns", "web"), Some(vec!["10.0.0.1".to_owned()]));
    assert!(!feed.is_ready());

    assert!(!feed.on_slice(&index, Event::Init));
    assert!(feed.on_slice(&index, Event::InitDone), "both listed: ready");
    assert!(feed.is_ready());
    // A later relist does not report readiness again.
    assert!(!feed.on_slice(&index, Event::Init));
    assert!(!feed.on_slice(&index, Event::InitDone));
    assert!(feed.is_ready());
}

#[test]
fn apply_and_delete_events_update_the_index() {
    let index = index::shared();
    let mut feed = Feed::default();
    feed.on_import(&index, Event::Apply(import("ns", "web", "10.0.0.1")));
    assert_eq!(vips(&index, "ns", "web"), Some(vec!["10.0.0.1".to_owned()]));
    feed.on_import(&index, Event::Apply(import("ns", "web", "10.0.0.2")));
    assert_eq!(vips(&index, "ns", "web"), Some(vec!["10.0.0.2".to_owned()]));

    feed.on_slice(
        &index,
        Event::Apply(slice("ns", "web-1", Some("web"), "10.1.0.1")),
    );
    assert_eq!(index::read(&index).endpoint_count(), 1);
    // The slice loses its MCS label: it is no longer an MCS slice and leaves the index.
    feed.on_slice(&index, Event::Apply(slice("ns", "web-1", None, "10.1.0.1")));
    assert_eq!(index::read(&index).slice_count(), 0);
    feed.on_slice(
        &index,
        Event::Apply(slice("ns", "web-1", Some("web"), "10.1.0.1")),
    );
    feed.on_slice(
        &index,
        Event::Delete(slice("ns", "web-1", Some("web"), "10.1.0.1")),
    );
    assert_eq!(index::read(&index).slice_count(), 0);

    feed.on_import(&index, Event::Delete(import("ns", "web", "10.0.0.2")));
    assert!(vips(&index, "ns", "web").is_none());
}

#[test]
fn relist_removes_objects_deleted_while_disconnected() {
    let index = index::shared();
    let mut feed = Feed::default();
    feed.on_import(&index, Event::Apply(import("ns", "gone", "10.0.0.1")));
    feed.on_import(&index, Event::Apply(import("ns", "kept", "10.0.0.2")));
    feed.on_slice(
        &index,
        Event::Apply(slice("ns", "gone-1", Some("gone"), "10.1.0.1")),
    );

    feed.on_import(&index, Event::Init);
    feed.on_import(&index, Event::InitApply(import("ns", "kept", "10.0.0.3")));
    assert!(
        vips(&index, "ns", "gone").is_some(),
        "old state serves during the relist"
    );
    feed.on_import(&index, Event::InitDone);
    assert!(vips(&index, "ns", "gone").is_none());
    assert_eq!(
        vips(&index, "ns", "kept"),
        Some(vec!["10.0.0.3".to_owned()])
    );

    feed.on_slice(&index, Event::Init);
    feed.on_slice(
        &index,
        Event::InitApply(slice("ns", "junk", None, "10.9.9.9")),
    );
    feed.on_slice(&index, Event::InitDone);
    assert_eq!(
        index::read(&index).slice_count(),
        0,
        "unusable slices are not listed"
    );
}

#[test]
fn an_imports_own_status_is_observed_without_changing_answers() {
    use causeway_api::{Condition, ServiceImportStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    let index = index::shared();
    index::write(&index).track_changes();
    let mut feed = Feed::default();
    let condition = |type_: &str| Condition {
        type_: type_.to_owned(),
        status: "True".to_owned(),
        reason: "Served".to_owned(),
        message: "m".to_owned(),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        observed_generation: Some(2),
    };
    let mut with_status = import("ns", "web", "10.0.0.1");
    with_status.metadata.generation = Some(2);
    with_status.status = Some(ServiceImportStatus {
        conditions: Some(vec![condition("Ready"), condition("DnsResolvable")]),
        ..ServiceImportStatus::default()
    });
    // Seen in a relist...
    feed.on_import(&index, Event::Init);
    feed.on_import(&index, Event::InitApply(with_status.clone()));
    feed.on_import(&index, Event::InitDone);
    let observed = index::read(&index)
        .import_status("ns", "web")
        .cloned()
        .unwrap();
    assert_eq!(observed.generation, Some(2));
    assert_eq!(observed.dns_resolvable, Some(condition("DnsResolvable")));
    assert_eq!(
        index::write(&index).take_changed(),
        vec![("ns".to_owned(), "web".to_owned())]
    );

    // ...and in a later event: a status-only change marks the service, same SOA serial.
    let revision = index::read(&index).revision();
    with_status.status = None;
    feed.on_import(&index, Event::Apply(with_status));
    let guard = index::read(&index);
    assert_eq!(guard.revision(), revision);
    assert_eq!(
        guard.import_status("ns", "web").unwrap().dns_resolvable,
        None
    );
    drop(guard);
    assert_eq!(index::write(&index).take_changed().len(), 1);
}
