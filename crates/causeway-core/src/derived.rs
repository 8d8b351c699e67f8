//! The derived Service of a `ClusterSetIP` ServiceImport (mcs-spec.md §4): a selector-less
//! `ClusterIP` Service that kube-proxy programs with the import's EndpointSlices, so its cluster
//! IP becomes the ClusterSet VIP.
//!
//! [`desired_service`] builds the complete object causeway applies; [`shape`] reduces desired and
//! live Services to the fields causeway owns, with the apiserver's defaults filled in, so that a
//! write happens only when they differ; [`addresses`] reads back the VIPs for the import's
//! `spec.ips` / `spec.ipFamilies`.

use std::collections::BTreeMap;

use causeway_api::names::LABEL_DERIVED_FROM;
use causeway_api::{ServiceImport, ServiceImportSpec};
use k8s_openapi::api::core::v1::{
    ClientIPConfig, Service, ServicePort, ServiceSpec, SessionAffinityConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::naming::derived_service_name;

/// Why an import cannot get a derived Service; each names the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportProblem {
    /// `spec.ports` is empty.
    NoPorts,
    /// Two ports share a name.
    DuplicatePortName(String),
    /// A multi-port import has a port without a name (Services require names then).
    UnnamedPort(i32),
    /// A port number outside 1..=65535.
    PortOutOfRange(i32),
    /// `spec.ips` and `spec.ipFamilies` disagree, or a family repeats.
    Families(String),
}

impl std::fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoPorts => {
                f.write_str("spec.ports is empty: a ClusterSetIP import needs at least one port")
            }
            Self::DuplicatePortName(n) => write!(
                f,
                "port name {n:?} is used twice in spec.ports: give every port a unique name"
            ),
            Self::UnnamedPort(p) => write!(
                f,
                "port {p} has no name: every port of a multi-port import needs a name, matching the EndpointSlice port names"
            ),
            Self::PortOutOfRange(p) => write!(f, "port {p} is outside 1-65535"),
            Self::Families(why) => write!(f, "spec.ipFamilies: {why}"),
        }
    }
}

/// Checks what a Service would reject, before asking the apiserver.
pub fn validate(spec: &ServiceImportSpec) -> Result<(), ImportProblem> {
    if spec.ports.is_empty() {
        return Err(ImportProblem::NoPorts);
    }
    let mut names = std::collections::BTreeSet::new();
    for p in &spec.ports {
        if !(1..=65535).contains(&p.port) {
            return Err(ImportProblem::PortOutOfRange(p.port));
        }
        let name = p.name.clone().unwrap_or_default();
        if name.is_empty() && spec.ports.len() > 1 {
            return Err(ImportProblem::UnnamedPort(p.port));
        }
        if !names.insert(name.clone()) {
            return Err(ImportProblem::DuplicatePortName(name));
        }
    }
    if let Some(families) = &spec.ip_families {
        if families.len() == 2 && families[0] == families[1] {
            return Err(ImportProblem::Families(format!(
                "{} is listed twice",
                families[0]
            )));
        }
        if let Some(bad) = families.iter().find(|f| *f != "IPv4" && *f != "IPv6") {
            return Err(ImportProblem::Families(format!(
                "{bad:?} is not IPv4 or IPv6"
            )));
        }
    }
    Ok(())
}

/// The derived Service causeway applies for `import`. `live_cluster_ips` are the IPs of an
/// existing derived Service (immutable, so they are sent back unchanged); without one, the
/// import's own `spec.ips` are requested so a recreated Service keeps the VIP.
pub fn desired_service(
    import: &ServiceImport,
    live_cluster_ips: Option<&[String]>,
) -> Result<Service, ImportProblem> {
    let spec = &import.spec;
    validate(spec)?;
    let namespace = import.metadata.namespace.clone().unwrap_or_default();
    let import_name = import.metadata.name.clone().unwrap_or_default();
    let requested_ips: Option<Vec<String>> = match live_cluster_ips {
        Some(ips) if !ips.is_empty() => Some(ips.to_vec()),
        _ => spec.ips.clone().filter(|ips| !ips.is_empty()),
    };
    let ip_family_policy = spec.ip_families.as_ref().map(|f| {
        if f.len() == 2 {
            "RequireDualStack".to_owned()
        } else {
            "SingleStack".to_owned()
        }
    });
    let session_affinity_config = match spec.session_affinity.as_deref() {
        Some("ClientIP") => spec
            .session_affinity_config
            .as_ref()
            .map(|c| SessionAffinityConfig {
                client_ip: c.client_ip.as_ref().map(|ip| ClientIPConfig {
                    timeout_seconds: ip.timeout_seconds,
                }),
            }),
        _ => None,
    };
    Ok(Service {
        metadata: ObjectMeta {
            name: Some(derived_service_name(&namespace, &import_name)),
            namespace: Some(namespace),
            labels: Some(BTreeMap::from([(
                LABEL_DERIVED_FROM.to_owned(),
                import_name.clone(),
            )])),
            owner_references: Some(vec![owner_reference(import)]),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            ports: Some(
                spec.ports
                    .iter()
                    .map(|p| ServicePort {
                        name: p.name.clone().filter(|n| !n.is_empty()),
                        protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".to_owned())),
                        port: p.port,
                        app_protocol: p.app_protocol.clone(),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            cluster_ip: requested_ips.as_ref().and_then(|ips| ips.first().cloned()),
            cluster_ips: requested_ips,
            ip_families: spec.ip_families.clone(),
            ip_family_policy,
            session_affinity: spec.session_affinity.clone(),
            session_affinity_config,
            internal_traffic_policy: spec.internal_traffic_policy.clone(),
            traffic_distribution: spec.traffic_distribution.clone(),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// The owner reference from a derived object to its ServiceImport (`multicluster.x-k8s.io/v1beta1`).
pub fn owner_reference(import: &ServiceImport) -> OwnerReference {
    OwnerReference {
        api_version: "multicluster.x-k8s.io/v1beta1".to_owned(),
        kind: "ServiceImport".to_owned(),
        name: import.metadata.name.clone().unwrap_or_default(),
        uid: import.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

/// The fields causeway owns on a derived Service, with the apiserver's defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceShape {
    type_: String,
    has_selector: bool,
    ports: Vec<(String, String, i32, Option<String>)>,
    session_affinity: String,
    affinity_timeout: Option<i32>,
    internal_traffic_policy: String,
    traffic_distribution: Option<String>,
    ip_families: Option<Vec<String>>,
    owned_by: Option<String>,
    label: Option<String>,
}

/// Reduces a Service to [`ServiceShape`]. `families` says whether to compare IP families (only
/// when the import names them; otherwise the cluster's default applies).
pub fn shape(service: &Service, families: bool) -> ServiceShape {
    let spec = service.spec.clone().unwrap_or_default();
    let session_affinity = spec
        .session_affinity
        .clone()
        .unwrap_or_else(|| "None".to_owned());
    let affinity_timeout = (session_affinity == "ClientIP").then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .unwrap_or(10800)
    });
    ServiceShape {
        type_: spec.type_.clone().unwrap_or_else(|| "ClusterIP".to_owned()),
        has_selector: spec.selector.as_ref().is_some_and(|s| !s.is_empty()),
        ports: spec
            .ports
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone().unwrap_or_default(),
                    p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                    p.port,
                    p.app_protocol.clone(),
                )
            })
            .collect(),
        session_affinity,
        affinity_timeout,
        internal_traffic_policy: spec
            .internal_traffic_policy
            .clone()
            .unwrap_or_else(|| "Cluster".to_owned()),
        traffic_distribution: spec.traffic_distribution.clone(),
        ip_families: if families {
            spec.ip_families.clone()
        } else {
            None
        },
        owned_by: service
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "ServiceImport" && o.controller == Some(true))
            .map(|o| o.uid.clone()),
        label: service
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_DERIVED_FROM).cloned()),
    }
}

/// True when the live derived Service lacks something of the desired one.
pub fn needs_apply(desired: &Service, live: &Service) -> bool {
    let families = desired
        .spec
        .as_ref()
        .is_some_and(|s| s.ip_families.is_some());
    shape(desired, families) != shape(live, families)
}

/// The VIPs and their families of an allocated Service, in family order; `None` until the
/// apiserver has allocated them.
pub fn addresses(service: &Service) -> Option<(Vec<String>, Vec<String>)> {
    let spec = service.spec.as_ref()?;
    let ips: Vec<String> = spec
        .cluster_ips
        .clone()
        .filter(|v| !v.is_empty())
        .or_else(|| spec.cluster_ip.clone().map(|ip| vec![ip]))?;
    if ips.iter().any(|ip| ip.is_empty() || ip == "None") {
        return None;
    }
    let families = spec
        .ip_families
        .clone()
        .filter(|f| f.len() == ips.len())
        .unwrap_or_else(|| {
            ips.iter()
                .map(|ip| {
                    if ip.contains(':') {
                        "IPv6".to_owned()
                    } else {
                        "IPv4".to_owned()
                    }
                })
                .collect()
        });
    Some((ips, families))
}

#[cfg(test)]
mod tests;
