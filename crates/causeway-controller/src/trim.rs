//! What the import side's caches keep of each object. Every watch event passes through one of
//! these before its reflector stores it (`.modify` in `run`), so the stores hold only the fields
//! the import reconciler reads: an import's spec, status and derived-service annotation; a
//! derived Service's spec as `derived::shape` compares it, its ownership and its label. (Slices
//! are not cached at all: `slice_index`.) Dropped fields never reach a write: every write is built
//! from the desired state, not from a cached copy.

use std::collections::BTreeMap;

use causeway_api::ServiceImport;
use causeway_api::names::{ANNOTATION_DERIVED_SERVICE, LABEL_DERIVED_FROM};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A ServiceImport: no labels, of the annotations only the derived-service one.
pub fn import(import: &mut ServiceImport) {
    common(&mut import.metadata);
    import.metadata.labels = None;
    keep_only(
        &mut import.metadata.annotations,
        &[ANNOTATION_DERIVED_SERVICE],
    );
}

/// A derived Service: its `derived-from` label, ServiceImport owners and the spec fields that
/// are compared; no annotations and no status.
pub fn service(service: &mut Service) {
    common(&mut service.metadata);
    service.metadata.uid = None;
    service.metadata.annotations = None;
    keep_only(&mut service.metadata.labels, &[LABEL_DERIVED_FROM]);
    if let Some(owners) = &mut service.metadata.owner_references {
        owners.retain(|o| o.kind == "ServiceImport");
    }
    service.status = None;
    if let Some(spec) = &mut service.spec {
        // `derived::addresses` reads `clusterIPs`; `clusterIP` repeats its first entry.
        if spec.cluster_ips.as_ref().is_some_and(|ips| !ips.is_empty()) {
            spec.cluster_ip = None;
        }
        spec.ip_family_policy = None;
    }
}

fn common(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    meta.generate_name = None;
    meta.finalizers = None;
}

/// Keeps `keys` of `map`; `None` when none of them is there (an empty map still allocates).
fn keep_only(map: &mut Option<BTreeMap<String, String>>, keys: &[&str]) {
    if let Some(m) = map {
        if m.keys().all(|k| keys.contains(&k.as_str())) {
            return;
        }
        let kept: BTreeMap<String, String> = std::mem::take(m)
            .into_iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .collect();
        *map = (!kept.is_empty()).then_some(kept);
    }
}

#[cfg(test)]
mod tests;
