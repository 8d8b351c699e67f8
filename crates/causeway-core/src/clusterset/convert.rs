//! From Kubernetes objects to the clusterset's plain views, and from a resolution to the MCS
//! EndpointSlices one source cluster contributes.

use std::collections::BTreeSet;

use causeway_api::ServiceExport;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{ExportView, PortDef, ServiceView};
use crate::mcs_slice::{SliceTarget, mcs_slice};
use crate::naming::mcs_slice_name;

/// Most endpoints in one MCS slice.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The clusterset's view of a Service.
pub fn service_view(service: &Service) -> ServiceView {
    let spec = service.spec.clone().unwrap_or_default();
    let session_affinity = spec
        .session_affinity
        .clone()
        .unwrap_or_else(|| "None".into());
    let affinity_timeout = (session_affinity == "ClientIP").then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .unwrap_or(10800)
    });
    ServiceView {
        type_: spec.type_.clone().unwrap_or_else(|| "ClusterIP".into()),
        headless: spec.cluster_ip.as_deref() == Some("None"),
        ports: spec
            .ports
            .iter()
            .flatten()
            .map(|p| PortDef {
                name: p.name.clone().unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: p.port,
                app_protocol: p.app_protocol.clone(),
            })
            .collect(),
        session_affinity,
        affinity_timeout,
        internal_traffic_policy: spec.internal_traffic_policy.clone(),
        traffic_distribution: spec.traffic_distribution.clone(),
        ip_families: spec
            .ip_families
            .clone()
            .unwrap_or_else(|| vec!["IPv4".into()]),
    }
}

/// The clusterset's view of cluster `cluster`'s export, with its Service if any.
pub fn export_view(cluster: &str, export: &ServiceExport, service: Option<&Service>) -> ExportView {
    ExportView {
        cluster: cluster.to_owned(),
        created: export
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_second()),
        labels: export.spec.exported_labels.clone().unwrap_or_default(),
        annotations: export.spec.exported_annotations.clone().unwrap_or_default(),
        service: service.map(service_view),
    }
}

/// The MCS slices one source cluster contributes: its slices with only the ports of the merged
/// import it really serves, split into chunks of at most [`MAX_ENDPOINTS_PER_SLICE`] endpoints.
///
/// `served` empty means the import has no ports at all (a port-less headless Service, used for
/// DNS only): the endpoints are kept, without ports. A cluster that serves none of a ported
/// import's ports is absent from [`super::ImportView::served_ports`], so it never gets here;
/// otherwise a slice left without ports is dropped (nothing of it could be routed).
pub fn cluster_slices(
    sources: &[&EndpointSlice],
    served: &BTreeSet<PortDef>,
    target: &SliceTarget<'_>,
) -> Vec<EndpointSlice> {
    let mut out = Vec::new();
    let mut sources: Vec<&&EndpointSlice> = sources.iter().collect();
    sources.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for source in sources {
        let mut filtered = (*source).clone();
        let ports: Vec<_> = filtered
            .ports
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| {
                let name = p.name.clone().unwrap_or_default();
                let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                served
                    .iter()
                    .any(|s| s.name == name && s.protocol == protocol)
            })
            .collect();
        if ports.is_empty() && !served.is_empty() {
            continue;
        }
        // No ports is stored as an absent list; writing `[]` would never match what is read back.
        filtered.ports = (!ports.is_empty()).then_some(ports);
        let source_name = source.metadata.name.clone().unwrap_or_default();
        let chunks: Vec<_> = filtered
            .endpoints
            .chunks(MAX_ENDPOINTS_PER_SLICE)
            .map(<[_]>::to_vec)
            .collect();
        let chunks = if chunks.is_empty() {
            vec![Vec::new()]
        } else {
            chunks
        };
        for (i, endpoints) in chunks.into_iter().enumerate() {
            let mut part = filtered.clone();
            part.endpoints = endpoints;
            let mut slice = mcs_slice(&part, target);
            if i > 0 {
                slice.metadata.name = Some(mcs_slice_name(
                    target.service,
                    target.source_cluster,
                    &source_name,
                    i,
                ));
            }
            out.push(slice);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn source(name: &str, endpoints: usize, ports: &[(&str, i32)]) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            address_type: "IPv4".into(),
            endpoints: (0..endpoints)
                .map(|i| Endpoint {
                    addresses: vec![format!("10.44.{}.{}", i / 250, i % 250 + 1)],
                    ..Endpoint::default()
                })
                .collect(),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p)| EndpointPort {
                        name: Some((*n).into()),
                        port: Some(*p),
                        protocol: Some("TCP".into()),
                        app_protocol: None,
                    })
                    .collect(),
            ),
        }
    }

    fn target() -> SliceTarget<'static> {
        SliceTarget {
            namespace: "demo",
            service: "serve",
            source_cluster: "c2",
            derived_service: Some("derived-x"),
            owner: None,
        }
    }

    #[test]
    fn large_slices_are_split_at_100_endpoints() {
        let served = BTreeSet::from([PortDef {
            name: String::new(),
            protocol: "TCP".into(),
            port: 80,
            app_protocol: None,
        }]);
        let src = source("serve-abc", 250, &[("", 8080)]);
        let out = cluster_slices(&[&src], &served, &target());
        assert_eq!(
            out.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        let names: Vec<_> = out
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect();
        let want: Vec<_> = (0..3)
            .map(|i| mcs_slice_name("serve", "c2", "serve-abc", i))
            .collect();
        assert_eq!(names, want);
    }

    #[test]
    fn sources_with_the_same_last_segment_keep_all_their_endpoints() {
        let served = BTreeSet::from([PortDef {
            name: String::new(),
            protocol: "TCP".into(),
            port: 80,
            app_protocol: None,
        }]);
        let mut a = source("twins-a-1", 3, &[("", 8080)]);
        let mut b = source("twins-b-1", 3, &[("", 8080)]);
        for (i, e) in a.endpoints.iter_mut().chain(&mut b.endpoints).enumerate() {
            e.addresses = vec![format!("10.42.86.{}", i + 1)];
        }
        let out = cluster_slices(&[&a, &b], &served, &target());
        let by_name: std::collections::BTreeMap<_, _> = out
            .iter()
            .map(|s| (s.metadata.name.clone().unwrap(), s.endpoints.len()))
            .collect();
        assert_eq!(by_name.len(), 2, "two distinct names: {by_name:?}");
        assert_eq!(by_name.values().sum::<usize>(), 6);
    }

    #[test]
    fn ports_a_cluster_does_not_serve_are_dropped() {
        let served = BTreeSet::from([PortDef {
            name: "http".into(),
            protocol: "TCP".into(),
            port: 80,
            app_protocol: None,
        }]);
        let src = source("serve-abc", 1, &[("http", 8080), ("metrics", 9090)]);
        let out = cluster_slices(&[&src], &served, &target());
        let ports: Vec<_> = out[0]
            .ports
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| p.name.unwrap())
            .collect();
        assert_eq!(ports, ["http"]);
        let other = BTreeSet::from([PortDef {
            name: "grpc".into(),
            protocol: "TCP".into(),
            port: 50051,
            app_protocol: None,
        }]);
        assert!(
            cluster_slices(&[&src], &other, &target()).is_empty(),
            "none of the import's ports served, nothing routed"
        );
        let udp = BTreeSet::from([PortDef {
            name: "http".into(),
            protocol: "UDP".into(),
            port: 80,
            app_protocol: None,
        }]);
        assert!(
            cluster_slices(&[&src], &udp, &target()).is_empty(),
            "a port matches by name and protocol"
        );
    }

    #[test]
    fn a_headless_service_without_ports_keeps_its_endpoints() {
        // The controller-manager writes no ports for a Service without ports.
        let mut src = source("db-abc", 3, &[]);
        src.ports = None;
        let out = cluster_slices(&[&src], &BTreeSet::new(), &target());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].endpoints.len(), 3, "DNS-only endpoints are kept");
        assert_eq!(out[0].ports, None, "no ports, stored as absent");
        let mut empty = source("db-def", 2, &[]);
        empty.ports = Some(Vec::new());
        let out = cluster_slices(&[&empty], &BTreeSet::new(), &target());
        assert_eq!((out[0].endpoints.len(), out[0].ports.clone()), (2, None));
    }
}
