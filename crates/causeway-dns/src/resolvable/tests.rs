use std::net::IpAddr;

use causeway_api::names::condition::dns_resolvable;
use k8s_openapi::jiff::Timestamp;

use super::*;
use crate::index::{AddressType, EndpointData, ImportData, PortData, SliceData};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn clusterset_ip(vips: &[&str]) -> ImportData {
    ImportData {
        type_: ImportType::ClusterSetIp,
        vips: vips.iter().map(|v| ip(v)).collect(),
        ports: vec![PortData::new(Some("http"), "TCP", 80)],
    }
}

fn headless() -> ImportData {
    ImportData {
        type_: ImportType::Headless,
        ..ImportData::default()
    }
}

fn slice(service: &str, ready: &[bool]) -> SliceData {
    SliceData {
        service: service.to_owned(),
        cluster: "east".to_owned(),
        address_type: AddressType::Ipv4,
        endpoints: ready
            .iter()
            .zip(1u8..)
            .map(|(ready, i)| EndpointData {
                addresses: vec![IpAddr::from([10, 1, 0, i])],
                hostname: None,
                ready: *ready,
            })
            .collect(),
        ports: vec![PortData::new(Some("http"), "TCP", 8080)],
    }
}

fn verdict(index: &Index, ns: &str, name: &str) -> (String, String, String) {
    let d = evaluate(index, &Zone::default(), ns, name).expect("indexed");
    assert_eq!(d.type_, condition::DNS_RESOLVABLE);
    (d.status.to_owned(), d.reason, d.message)
}

fn time(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap())
}

#[test]
fn clusterset_ip_is_served_once_it_has_vips() {
    let mut index = Index::default();
    index.apply_import("demo", "web", clusterset_ip(&[]));
    let (status, reason, message) = verdict(&index, "demo", "web");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", dns_resolvable::NO_ADDRESSES)
    );
    assert!(
        message.starts_with("web.demo.svc.clusterset.local has no address"),
        "{message}"
    );
    assert!(message.contains("spec.ips"), "{message}");

    index.apply_import("demo", "web", clusterset_ip(&["10.96.0.10"]));
    assert_eq!(
        verdict(&index, "demo", "web"),
        (
            "True".to_owned(),
            dns_resolvable::SERVED.to_owned(),
            "web.demo.svc.clusterset.local answers A".to_owned()
        )
    );

    index.apply_import("demo", "web", clusterset_ip(&["10.96.0.10", "fd00::10"]));
    assert_eq!(
        verdict(&index, "demo", "web").2,
        "web.demo.svc.clusterset.local answers A and AAAA"
    );
}

#[test]
fn headless_is_served_while_an_endpoint_is_ready() {
    let mut index = Index::default();
    index.apply_import("demo", "db", headless());
    let (status, reason, message) = verdict(&index, "demo", "db");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", dns_resolvable::NO_ADDRESSES)
    );
    assert!(
        message.contains("no cluster has a ready endpoint"),
        "{message}"
    );

    index.apply_slice("demo", "db-east", slice("db", &[false, false]));
    assert_eq!(
        verdict(&index, "demo", "db").1,
        dns_resolvable::NO_ADDRESSES
    );

    index.apply_slice("demo", "db-east", slice("db", &[false, true]));
    assert_eq!(
        verdict(&index, "demo", "db"),
        (
            "True".to_owned(),
            dns_resolvable::SERVED.to_owned(),
            "db.demo.svc.clusterset.local answers A".to_owned()
        )
    );

    index.delete_slice("demo", "db-east");
    assert_eq!(verdict(&index, "demo", "db").0, "False");
}

#[test]
fn names_dns_cannot_answer_are_reported_not_served() {
    let mut index = Index::default();
    // A dotted ServiceImport name reads as a deeper name in DNS: never claim it is served.
    index.apply_import("demo", "a.web", clusterset_ip(&["10.96.0.11"]));
    let (status, reason, message) = verdict(&index, "demo", "a.web");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", dns_resolvable::INVALID_NAME)
    );
    assert!(
        message.starts_with("a.web.demo.svc.clusterset.local"),
        "{message}"
    );
    // Unknown or deleted imports get nothing.
    assert!(evaluate(&index, &Zone::default(), "demo", "nope").is_none());
    index.delete_import("demo", "a.web");
    assert!(evaluate(&index, &Zone::default(), "demo", "a.web").is_none());
}

#[test]
fn the_zone_flag_names_the_zone_in_the_message() {
    let mut index = Index::default();
    index.apply_import("demo", "web", clusterset_ip(&["10.96.0.10"]));
    let zone = Zone::new("mesh.example.", 5).unwrap();
    let d = evaluate(&index, &zone, "demo", "web").unwrap();
    assert_eq!(d.message, "web.demo.svc.mesh.example answers A");
}

#[test]
fn only_a_real_change_is_written() {
    let served = DesiredCondition::new(
        condition::DNS_RESOLVABLE,
        "True",
        dns_resolvable::SERVED,
        "web.demo.svc.clusterset.local answers A",
    );
    // Nothing on the object yet: write, stamped now, with the import's generation.
    let fresh = ImportStatus {
        generation: Some(3),
        dns_resolvable: None,
    };
    let first = to_write(Some(&fresh), &served, &time(100)).unwrap();
    assert_eq!(first.status, "True");
    assert_eq!(first.observed_generation, Some(3));
    assert_eq!(first.last_transition_time, time(100));

    // The object carries it: a resync or relist writes nothing.
    let carried = ImportStatus {
        generation: Some(3),
        dns_resolvable: Some(first.clone()),
    };
    assert_eq!(to_write(Some(&carried), &served, &time(200)), None);

    // A new generation is acknowledged; the transition time stays.
    let bumped = ImportStatus {
        generation: Some(4),
        ..carried.clone()
    };
    let acked = to_write(Some(&bumped), &served, &time(300)).unwrap();
    assert_eq!(acked.observed_generation, Some(4));
    assert_eq!(acked.last_transition_time, time(100));

    // A status change is a transition.
    let gone = DesiredCondition::new(
        condition::DNS_RESOLVABLE,
        "False",
        dns_resolvable::NO_ADDRESSES,
        "web.demo.svc.clusterset.local has no address: …",
    );
    let flipped = to_write(Some(&carried), &gone, &time(400)).unwrap();
    assert_eq!(
        (flipped.status.as_str(), flipped.reason.as_str()),
        ("False", dns_resolvable::NO_ADDRESSES)
    );
    assert_eq!(flipped.last_transition_time, time(400));
    assert!(same(&flipped, &flipped.clone()));
    assert!(!same(&flipped, &first));
}

#[test]
fn the_patch_sets_exactly_one_condition_on_the_status() {
    let condition = Condition {
        type_: condition::DNS_RESOLVABLE.to_owned(),
        status: "True".to_owned(),
        reason: dns_resolvable::SERVED.to_owned(),
        message: "web.demo.svc.clusterset.local answers A".to_owned(),
        last_transition_time: time(100),
        observed_generation: Some(2),
    };
    let body = patch(&condition);
    assert_eq!(body["apiVersion"], "multicluster.x-k8s.io/v1beta1");
    assert_eq!(body["kind"], "ServiceImport");
    assert!(body.get("spec").is_none(), "status only: {body}");
    let conditions = body["status"]["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0]["type"], "DnsResolvable");
    assert_eq!(conditions[0]["observedGeneration"], 2);
    assert_eq!(conditions[0]["lastTransitionTime"], "1970-01-01T00:01:40Z");
}

#[test]
fn the_index_tracks_changed_services_for_the_writer() {
    let mut index = Index::default();
    index.apply_import("demo", "web", clusterset_ip(&["10.96.0.10"]));
    assert!(!index.has_changes(), "not tracking yet");
    assert!(index.take_changed().is_empty());

    index.track_changes();
    index.apply_import("demo", "web", clusterset_ip(&["10.96.0.10"]));
    assert!(!index.has_changes(), "an unchanged import is no change");
    index.apply_import("demo", "db", headless());
    index.apply_slice("demo", "db-east", slice("db", &[true]));
    index.apply_slice("other", "x", slice("nothing-imported", &[true]));
    assert_eq!(
        index.take_changed(),
        vec![
            ("demo".to_owned(), "db".to_owned()),
            ("other".to_owned(), "nothing-imported".to_owned())
        ]
    );
    assert!(!index.has_changes());

    // A status change marks the service but changes no answer (same SOA serial).
    let revision = index.revision();
    let status = ImportStatus {
        generation: Some(1),
        dns_resolvable: None,
    };
    index.observe_import("demo", "web", status.clone());
    index.observe_import("demo", "web", status.clone());
    index.observe_import("demo", "ghost", status.clone());
    assert_eq!(index.revision(), revision);
    assert_eq!(index.import_status("demo", "web"), Some(&status));
    assert_eq!(index.import_status("demo", "ghost"), None);
    assert_eq!(
        index.take_changed(),
        vec![("demo".to_owned(), "web".to_owned())]
    );

    index.delete_import("demo", "web");
    assert_eq!(index.import_status("demo", "web"), None);
    index.mark_all_changed();
    assert_eq!(
        index.take_changed(),
        vec![
            ("demo".to_owned(), "db".to_owned()),
            ("demo".to_owned(), "web".to_owned())
        ],
        "the deleted import is reported once, then only imported services"
    );
}
