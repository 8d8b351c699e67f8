//! The comparisons that keep a pass from rewriting what is already there: whether a live
//! ServiceImport has the fields the sync owns ([`import_matches`]) and whether a live MCS slice
//! equals the desired one ([`slice_matches`]). A mismatch becomes a write in the plan; a match,
//! nothing.

use causeway_api::ServiceImport;
use causeway_api::names::{ANNOTATION_DERIVED_SERVICE, LABEL_SYNCED};
use causeway_core::clusterset::ImportView;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

/// Whether the live import already has the fields the sync owns.
pub fn import_matches(current: &ServiceImport, want: &ImportView) -> bool {
    let spec = &current.spec;
    let ports: Vec<(String, String, i32, Option<String>)> = spec
        .ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                p.port,
                p.app_protocol.clone(),
            )
        })
        .collect();
    let want_ports: Vec<(String, String, i32, Option<String>)> = want
        .ports
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.protocol.clone(),
                p.port,
                p.app_protocol.clone(),
            )
        })
        .collect();
    let headless = spec.type_ == causeway_api::ServiceImportType::Headless;
    let timeout = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref())
        .and_then(|c| c.timeout_seconds);
    let mut labels = current.labels().clone();
    let synced = labels.remove(LABEL_SYNCED).is_some();
    let mut annotations = current.annotations().clone();
    annotations.remove(ANNOTATION_DERIVED_SERVICE);
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    synced
        && headless == want.headless
        && ports == want_ports
        && spec.session_affinity.as_deref().unwrap_or("None") == want.session_affinity
        && timeout == want.affinity_timeout
        && spec.internal_traffic_policy == want.internal_traffic_policy
        && spec.traffic_distribution == want.traffic_distribution
        && spec.ip_families.clone().unwrap_or_default() == want.ip_families
        && labels == want.labels
        && annotations == want.annotations
}

/// Whether a live MCS slice equals the desired one in everything the sync writes.
pub fn slice_matches(current: &EndpointSlice, want: &EndpointSlice) -> bool {
    let owners = |s: &EndpointSlice| {
        s.metadata
            .owner_references
            .as_ref()
            .map(|o| o.iter().map(|r| r.uid.clone()).collect::<Vec<_>>())
    };
    current.metadata.labels == want.metadata.labels
        && owners(current) == owners(want)
        && current.address_type == want.address_type
        && current.endpoints == want.endpoints
        && current.ports == want.ports
}
