use std::collections::{BTreeMap, BTreeSet};

use kube::api::DynamicObject;
use serde_json::json;

use super::{ImportState, progress};

fn import(annotation: Option<&str>, ips: bool, ready: &str) -> DynamicObject {
    let mut v = json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {"name": "svc-00000"},
        "spec": {"type": "ClusterSetIP", "ports": []},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    });
    if let Some(a) = annotation {
        v["metadata"]["annotations"] = json!({"multicluster.kubernetes.io/derived-service": a});
    }
    if ips {
        v["spec"]["ips"] = json!(["10.43.0.10"]);
    }
    serde_json::from_value(v).unwrap()
}

#[test]
fn reads_annotation_ips_and_ready() {
    let s = ImportState::of(&import(Some("derived-abc"), true, "True"));
    assert_eq!(s.derived.as_deref(), Some("derived-abc"));
    assert!(s.has_ips && s.ready);
    let s = ImportState::of(&import(None, false, "False"));
    assert_eq!(s, ImportState::default());
}

#[test]
fn converged_needs_service_ips_label_and_optionally_ready() {
    let mut imports = BTreeMap::new();
    imports.insert(
        "svc-00000".to_owned(),
        ImportState::of(&import(Some("derived-abc"), true, "False")),
    );
    let services: BTreeSet<String> = ["derived-abc".to_owned()].into();
    let mut labels = BTreeMap::new();
    labels.insert("svc-00000-remote".to_owned(), "derived-abc".to_owned());
    let p = progress(&imports, &services, &labels);
    assert!(p.done(1, false));
    assert!(!p.done(1, true), "not Ready");
    labels.insert("svc-00000-remote".to_owned(), "other".to_owned());
    assert!(!progress(&imports, &services, &labels).done(1, false));
    assert!(!progress(&imports, &BTreeSet::new(), &BTreeMap::new()).done(1, false));
}
