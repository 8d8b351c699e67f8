//! One source cluster's EndpointSlice turned into an MCS EndpointSlice for an importing cluster
//! (mcs-spec.md §5.7, lab-notes §6): labels `multicluster.kubernetes.io/service-name`,
//! `multicluster.kubernetes.io/source-cluster`, causeway's `managed-by` and the derived Service's
//! `kubernetes.io/service-name`; addresses, conditions, hostname, zone and port names carried;
//! the remote `nodeName`, `targetRef` and `hints` dropped (they name objects of another cluster;
//! kube-proxy treats an endpoint whose `nodeName` is its own node as local, so a same-named node
//! in the importing cluster would take it for one of its own).

use std::collections::BTreeMap;

use causeway_api::names::{
    LABEL_K8S_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER,
    LABEL_SYNCED, MANAGED_BY_CAUSEWAY,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::naming::mcs_slice_name;

/// Label selector of the MCS EndpointSlices no causeway wrote (hand-made copies such as the
/// seed's `edit-meta.py` output): labelled with a service name, without the sync's label and not
/// `managed-by` causeway (which `causeway import-slices` sets).
pub const FOREIGN_SLICE_SELECTOR: &str = "multicluster.kubernetes.io/service-name,!causeway.multicluster.x-k8s.io/synced,endpointslice.kubernetes.io/managed-by!=causeway.multicluster.x-k8s.io";

/// Whether causeway wrote `slice`: the sync ([`LABEL_SYNCED`]) or `causeway import-slices`
/// (`managed-by` causeway). Anything else feeding an import is a copy the user made.
pub fn written_by_causeway(slice: &EndpointSlice) -> bool {
    let labels = slice.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    label(LABEL_SYNCED).is_some() || label(LABEL_MANAGED_BY) == Some(MANAGED_BY_CAUSEWAY)
}

/// Where an MCS slice goes and what it belongs to.
#[derive(Clone, Debug)]
pub struct SliceTarget<'a> {
    /// Namespace of the import.
    pub namespace: &'a str,
    /// ServiceImport name.
    pub service: &'a str,
    /// Cluster id of the source cluster.
    pub source_cluster: &'a str,
    /// Derived Service name (`None` for headless imports).
    pub derived_service: Option<&'a str>,
    /// Owner (the ServiceImport), when it exists.
    pub owner: Option<OwnerReference>,
}

/// The MCS slice for `source` in the importing cluster, named for its first chunk
/// ([`mcs_slice_name`]; the caller renames later chunks).
pub fn mcs_slice(source: &EndpointSlice, target: &SliceTarget<'_>) -> EndpointSlice {
    let source_name = source.metadata.name.clone().unwrap_or_default();
    let mut labels = BTreeMap::from([
        (LABEL_SERVICE_NAME.to_owned(), target.service.to_owned()),
        (
            LABEL_SOURCE_CLUSTER.to_owned(),
            target.source_cluster.to_owned(),
        ),
        (LABEL_MANAGED_BY.to_owned(), MANAGED_BY_CAUSEWAY.to_owned()),
    ]);
    if let Some(derived) = target.derived_service {
        labels.insert(LABEL_K8S_SERVICE_NAME.to_owned(), derived.to_owned());
    }
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(mcs_slice_name(
                target.service,
                target.source_cluster,
                &source_name,
                0,
            )),
            namespace: Some(target.namespace.to_owned()),
            labels: Some(labels),
            owner_references: target.owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        address_type: source.address_type.clone(),
        endpoints: source
            .endpoints
            .iter()
            .map(|e| Endpoint {
                addresses: e.addresses.clone(),
                conditions: e.conditions.clone(),
                hostname: e.hostname.clone(),
                zone: e.zone.clone(),
                ..Endpoint::default()
            })
            .collect(),
        ports: source.ports.clone(),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::api::discovery::v1::{EndpointConditions, EndpointPort};

    use causeway_api::names::MANAGED_BY_K8S;

    use super::*;

    #[test]
    fn the_foreign_selector_names_the_labels_written_by_causeway_checks() {
        for needle in [
            LABEL_SERVICE_NAME,
            &format!("!{LABEL_SYNCED}"),
            &format!("{LABEL_MANAGED_BY}!={MANAGED_BY_CAUSEWAY}"),
        ] {
            assert!(
                FOREIGN_SLICE_SELECTOR.split(',').any(|t| t == needle),
                "{needle}"
            );
        }
        let with = |labels: &[(&str, &str)]| EndpointSlice {
            metadata: ObjectMeta {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            ..EndpointSlice::default()
        };
        // (labels, written by causeway)
        let table: [(&[(&str, &str)], bool); 4] = [
            (&[(LABEL_SERVICE_NAME, "serve")], false),
            (
                &[
                    (LABEL_SERVICE_NAME, "serve"),
                    (LABEL_MANAGED_BY, MANAGED_BY_K8S),
                ],
                false,
            ),
            (
                &[
                    (LABEL_SERVICE_NAME, "serve"),
                    (LABEL_MANAGED_BY, MANAGED_BY_CAUSEWAY),
                ],
                true,
            ),
            (
                &[(LABEL_SERVICE_NAME, "serve"), (LABEL_SYNCED, "true")],
                true,
            ),
        ];
        for (labels, want) in table {
            assert_eq!(written_by_causeway(&with(labels)), want, "{labels:?}");
        }
    }

    #[test]
    fn carries_endpoints_and_drops_remote_references() {
        let source = EndpointSlice {
            metadata: ObjectMeta {
                name: Some("serve-x7k2p".into()),
                labels: Some(BTreeMap::from([(
                    LABEL_K8S_SERVICE_NAME.to_owned(),
                    "serve".to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            address_type: "IPv4".into(),
            endpoints: vec![Endpoint {
                addresses: vec!["10.44.0.38".into()],
                conditions: Some(EndpointConditions {
                    ready: Some(true),
                    serving: Some(true),
                    terminating: Some(false),
                }),
                hostname: Some("serve-0".into()),
                node_name: Some("c2-n1".into()),
                zone: Some("z1".into()),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    name: Some("serve-abc".into()),
                    ..ObjectReference::default()
                }),
                ..Endpoint::default()
            }],
            ports: Some(vec![EndpointPort {
                name: Some(String::new()),
                port: Some(8080),
                protocol: Some("TCP".into()),
                app_protocol: None,
            }]),
        };
        let target = SliceTarget {
            namespace: "demo",
            service: "serve",
            source_cluster: "c2",
            derived_service: Some("derived-ovtkn0laet"),
            owner: None,
        };
        let out = mcs_slice(&source, &target);
        assert_eq!(
            out.metadata.name,
            Some(mcs_slice_name("serve", "c2", "serve-x7k2p", 0))
        );
        let labels = out.metadata.labels.unwrap();
        assert_eq!(labels[LABEL_SERVICE_NAME], "serve");
        assert_eq!(labels[LABEL_SOURCE_CLUSTER], "c2");
        assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY_CAUSEWAY);
        assert_eq!(labels[LABEL_K8S_SERVICE_NAME], "derived-ovtkn0laet");
        let e = &out.endpoints[0];
        assert_eq!(e.addresses, ["10.44.0.38"]);
        assert_eq!(e.conditions.as_ref().unwrap().ready, Some(true));
        assert_eq!(
            (e.hostname.as_deref(), e.zone.as_deref()),
            (Some("serve-0"), Some("z1"))
        );
        assert!(e.node_name.is_none() && e.target_ref.is_none());
        assert_eq!(out.ports.unwrap()[0].port, Some(8080));
    }

    #[test]
    fn headless_slices_get_no_kube_proxy_label() {
        let target = SliceTarget {
            namespace: "demo",
            service: "db",
            source_cluster: "c1",
            derived_service: None,
            owner: None,
        };
        let out = mcs_slice(
            &EndpointSlice {
                address_type: "IPv4".into(),
                ..EndpointSlice::default()
            },
            &target,
        );
        assert!(
            !out.metadata
                .labels
                .unwrap()
                .contains_key(LABEL_K8S_SERVICE_NAME)
        );
    }
}
