//! The server-side apply patches of the sync's writes (field manager `causeway-sync`): each
//! holds exactly the fields the sync owns, so applying it never takes or drops anyone else's.
//!
//! Data flow: `sync::execute` turns each planned [`super::plan::Write`] into one of these
//! patches and hands it to the writer.

use std::collections::BTreeMap;

use causeway_api::Condition;
use causeway_api::names::LABEL_SYNCED;
use causeway_core::clusterset::ImportView;
use serde_json::{Value, json};

/// A ServiceImport's spec, labels and annotations as the clusterset resolved them.
pub fn import(name: &str, import: &ImportView) -> Value {
    let mut labels: BTreeMap<String, String> = import.labels.clone();
    labels.insert(LABEL_SYNCED.to_owned(), "true".to_owned());
    let mut spec = json!({
        "type": if import.headless { "Headless" } else { "ClusterSetIP" },
        "ports": import.ports.iter().map(|p| {
            let mut v = json!({"protocol": p.protocol, "port": p.port});
            if !p.name.is_empty() { v["name"] = json!(p.name); }
            if let Some(a) = &p.app_protocol { v["appProtocol"] = json!(a); }
            v
        }).collect::<Vec<_>>(),
        "sessionAffinity": import.session_affinity,
        "ipFamilies": import.ip_families,
    });
    if let Some(t) = import.affinity_timeout {
        spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": t}});
    }
    if let Some(itp) = &import.internal_traffic_policy {
        spec["internalTrafficPolicy"] = json!(itp);
    }
    if let Some(td) = &import.traffic_distribution {
        spec["trafficDistribution"] = json!(td);
    }
    json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "metadata": {"name": name, "labels": labels, "annotations": import.annotations},
        "spec": spec,
    })
}

/// A ServiceImport's `status.clusters`.
pub fn import_clusters(clusters: &[String]) -> Value {
    json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "status": {"clusters": clusters.iter().map(|c| json!({"cluster": c})).collect::<Vec<_>>()},
    })
}

/// A ServiceExport's conditions.
pub fn export_conditions(conditions: &[Condition]) -> Value {
    json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceExport",
        "status": {"conditions": conditions},
    })
}
