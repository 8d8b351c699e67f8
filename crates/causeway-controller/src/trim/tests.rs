#![allow(clippy::unwrap_used)]

use super::*;
use causeway_core::derived;
use serde_json::json;

fn from(v: serde_json::Value) -> Service {
    serde_json::from_value(v).unwrap()
}

#[test]
fn a_trimmed_service_compares_like_the_live_one() {
    let live = from(json!({
        "metadata": {
            "name": "derived-abc", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
            "labels": {LABEL_DERIVED_FROM: "serve", "team": "a"},
            "annotations": {"note": "x"},
            "ownerReferences": [
                {"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport", "name": "serve", "uid": "imp", "controller": true},
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "cm"},
            ],
        },
        "spec": {
            "type": "ClusterIP", "clusterIP": "10.43.0.9", "clusterIPs": ["10.43.0.9"],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
        "status": {"loadBalancer": {}},
    }));
    let mut trimmed = live.clone();
    service(&mut trimmed);
    assert_eq!(derived::shape(&trimmed, true), derived::shape(&live, true));
    assert_eq!(derived::addresses(&trimmed), derived::addresses(&live));
    assert_eq!(trimmed.metadata.resource_version.as_deref(), Some("7"));
    assert_eq!(trimmed.metadata.labels.unwrap().len(), 1);
    assert!(trimmed.metadata.annotations.is_none());
    assert_eq!(trimmed.metadata.owner_references.unwrap().len(), 1);
}

#[test]
fn a_service_with_only_cluster_ip_keeps_it() {
    let mut old = from(json!({"metadata": {"name": "d"}, "spec": {"clusterIP": "10.43.0.9"}}));
    service(&mut old);
    assert_eq!(
        derived::addresses(&old).unwrap().0,
        vec!["10.43.0.9".to_owned()]
    );
}

#[test]
fn an_import_keeps_only_the_derived_service_annotation() {
    let mut i: ServiceImport = serde_json::from_value(json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {
            "name": "serve", "namespace": "ns", "uid": "imp",
            "labels": {"team": "a"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{…}"},
        },
        "spec": {"type": "ClusterSetIP", "ports": [{"port": 80}]},
    }))
    .unwrap();
    import(&mut i);
    assert!(i.metadata.labels.is_none());
    assert!(i.metadata.annotations.is_none(), "no kept key: no map");
    assert_eq!(i.metadata.uid.as_deref(), Some("imp"));
    i.metadata.annotations = Some(BTreeMap::from([(
        ANNOTATION_DERIVED_SERVICE.to_owned(),
        "derived-abc".to_owned(),
    )]));
    import(&mut i);
    assert_eq!(
        i.metadata.annotations.unwrap()[ANNOTATION_DERIVED_SERVICE],
        "derived-abc"
    );
}
