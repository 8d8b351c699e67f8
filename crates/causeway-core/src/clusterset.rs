//! The clusterset view of one service (KEP-1645 §conflict resolution, mcs-spec.md §5.9): every
//! cluster's export of `<ns>/<name>` with its Service, reduced to the ServiceImport everyone
//! agrees on, the conflicts, and which merged ports each cluster really serves.
//!
//! Deterministic: the same exports give the same answer in every member cluster, so members agree
//! without talking to each other. Exports are ordered by `creationTimestamp`, then cluster id.

use std::collections::{BTreeMap, BTreeSet};

use causeway_api::names::condition::conflict;

/// One port of a Service, as the clusterset compares it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortDef {
    /// Port name ("" when unnamed).
    pub name: String,
    /// Protocol (TCP when unset).
    pub protocol: String,
    /// Port number.
    pub port: i32,
    /// Application protocol.
    pub app_protocol: Option<String>,
}

/// What an export's Service contributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceView {
    /// Service type (`ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`).
    pub type_: String,
    /// `clusterIP: None`.
    pub headless: bool,
    /// Ports.
    pub ports: Vec<PortDef>,
    /// `None` or `ClientIP`.
    pub session_affinity: String,
    /// Client-IP affinity timeout (only with `ClientIP`).
    pub affinity_timeout: Option<i32>,
    /// Internal traffic policy.
    pub internal_traffic_policy: Option<String>,
    /// Traffic distribution.
    pub traffic_distribution: Option<String>,
    /// IP families.
    pub ip_families: Vec<String>,
}

/// One cluster's export of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportView {
    /// Cluster id of the exporting cluster.
    pub cluster: String,
    /// `creationTimestamp` of the ServiceExport, seconds since the epoch.
    pub created: i64,
    /// `spec.exportedLabels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.exportedAnnotations`.
    pub annotations: BTreeMap<String, String>,
    /// The same-named Service, if it exists.
    pub service: Option<ServiceView>,
}

/// Whether an export can take part, with the upstream `Valid` reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// `Valid=True/Valid`.
    Valid,
    /// `Valid=False/NoService`.
    NoService,
    /// `Valid=False/InvalidServiceType` (ExternalName).
    InvalidServiceType,
}

impl ExportView {
    /// This export's validity.
    pub fn validity(&self) -> Validity {
        match &self.service {
            None => Validity::NoService,
            Some(s) if s.type_ == "ExternalName" => Validity::InvalidServiceType,
            Some(_) => Validity::Valid,
        }
    }
}

/// The agreed ServiceImport spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportView {
    /// Headless (else ClusterSetIP).
    pub headless: bool,
    /// Merged ports.
    pub ports: Vec<PortDef>,
    /// Session affinity of the oldest export.
    pub session_affinity: String,
    /// Its timeout.
    pub affinity_timeout: Option<i32>,
    /// Internal traffic policy of the oldest export.
    pub internal_traffic_policy: Option<String>,
    /// Traffic distribution of the oldest export.
    pub traffic_distribution: Option<String>,
    /// IP families every exporter of the import's type serves (in the oldest export's order),
    /// else the oldest's; for a headless import the caller narrows them to the address types of
    /// the exporters' endpoints ([`endpoint_families`]).
    pub ip_families: Vec<String>,
    /// Labels of the oldest export.
    pub labels: BTreeMap<String, String>,
    /// Annotations of the oldest export.
    pub annotations: BTreeMap<String, String>,
    /// Exporting clusters (valid exports), sorted.
    pub clusters: Vec<String>,
    /// Per exporting cluster: the merged ports its Service defines exactly (strict port rule).
    /// A cluster serving none of them is absent (it contributes no endpoints); when the import has
    /// no ports at all (a port-less headless Service) every exporter is present with an empty set.
    pub served_ports: BTreeMap<String, BTreeSet<PortDef>>,
}

/// A conflict: reason and message (mcs-spec.md §2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflicts {
    /// Reasons in the order of mcs-spec.md §2.1.
    pub reasons: Vec<&'static str>,
    /// Field-by-field explanation.
    pub message: String,
    /// Field by field, the clusters that differ from what is used and their values, e.g.
    /// `type: cluster c2 has Headless` (the condition message only counts them; Events name
    /// them).
    pub dissent: String,
}

impl Conflicts {
    /// `Conflict` status: `"True"` when there is any conflict.
    pub fn status(&self) -> &'static str {
        if self.reasons.is_empty() {
            "False"
        } else {
            "True"
        }
    }

    /// The condition reason: comma-joined reasons, or `NoConflicts`.
    pub fn reason(&self) -> String {
        if self.reasons.is_empty() {
            conflict::NO_CONFLICTS.to_owned()
        } else {
            self.reasons.join(",")
        }
    }
}

/// The resolution of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The import, if any export is valid.
    pub import: Option<ImportView>,
    /// Conflicts among the valid exports.
    pub conflicts: Conflicts,
}

/// Resolves all exports of one service.
#[allow(
    clippy::too_many_lines,
    reason = "one rule per conflict type, kept in the spec's table order"
)]
pub fn resolve(exports: &[ExportView]) -> Resolution {
    let mut valid: Vec<(&ExportView, &ServiceView)> = exports
        .iter()
        .filter_map(|e| match (&e.service, e.validity()) {
            (Some(s), Validity::Valid) => Some((e, s)),
            _ => None,
        })
        .collect();
    valid.sort_by(|a, b| (a.0.created, &a.0.cluster).cmp(&(b.0.created, &b.0.cluster)));
    let Some(&(winner, wsvc)) = valid.first() else {
        return Resolution {
            import: None,
            conflicts: Conflicts {
                reasons: Vec::new(),
                message: String::new(),
                dissent: String::new(),
            },
        };
    };
    let total = valid.len();
    let mut reasons = Vec::new();
    let mut messages = Vec::new();
    let mut dissents = Vec::new();
    let mut check = |reason: &'static str, field: &str, shown: String, dissent: Vec<String>| {
        let differ = dissent.len();
        if differ > 0 {
            reasons.push(reason);
            messages.push(format!(
                "{field}: using {shown} from the oldest export (cluster {}); {differ}/{total} clusters differ",
                winner.cluster
            ));
            dissents.push(format!("{field}: {}", dissent.join(", ")));
        }
    };
    let has = |e: &ExportView, value: String| format!("cluster {} has {value}", e.cluster);
    let ports_of = |s: &ServiceView| {
        let mut ports: Vec<String> = s
            .ports
            .iter()
            .map(|p| {
                let name = if p.name.is_empty() {
                    String::new()
                } else {
                    format!("{}:", p.name)
                };
                format!("{name}{}/{}", p.port, p.protocol)
            })
            .collect();
        ports.sort();
        format!("ports [{}]", ports.join(" "))
    };

    // Ports: union by name, then (protocol, port); clashes dropped.
    let merged = merge_ports(valid.iter().map(|(_, svc)| svc.ports.as_slice()));
    let merged_set: BTreeSet<&PortDef> = merged.iter().collect();
    let port_differ = valid
        .iter()
        .filter(|(_, s)| s.ports.iter().collect::<BTreeSet<_>>() != merged_set)
        .map(|(e, s)| has(e, ports_of(s)))
        .collect();
    check(
        conflict::PORT,
        "ports",
        format!("the union of {} ports", merged.len()),
        port_differ,
    );

    // The dissenting clusters, each with its value (`shown` of its own Service).
    let differ = |f: &dyn Fn(&ServiceView) -> bool, shown: &dyn Fn(&ServiceView) -> String| {
        valid
            .iter()
            .filter(|(_, s)| f(s))
            .map(|(e, s)| has(e, shown(s)))
            .collect::<Vec<_>>()
    };
    let kind = |s: &ServiceView| {
        if s.headless {
            "Headless"
        } else {
            "ClusterSetIP"
        }
        .to_owned()
    };
    check(
        conflict::TYPE,
        "type",
        if wsvc.headless {
            "Headless".into()
        } else {
            "ClusterSetIP".into()
        },
        differ(&|s| s.headless != wsvc.headless, &kind),
    );
    check(
        conflict::SESSION_AFFINITY,
        "sessionAffinity",
        wsvc.session_affinity.clone(),
        differ(&|s| s.session_affinity != wsvc.session_affinity, &|s| {
            s.session_affinity.clone()
        }),
    );
    check(
        conflict::SESSION_AFFINITY_CONFIG,
        "sessionAffinityConfig",
        wsvc.affinity_timeout.map_or_else(
            || "no clientIP timeout".into(),
            |t| format!("clientIP.timeoutSeconds {t}"),
        ),
        differ(&|s| s.affinity_timeout != wsvc.affinity_timeout, &|s| {
            s.affinity_timeout.map_or_else(
                || "no clientIP timeout".into(),
                |t| format!("clientIP.timeoutSeconds {t}"),
            )
        }),
    );
    let label_differ = valid
        .iter()
        .filter(|(e, _)| e.labels != winner.labels)
        .map(|(e, _)| has(e, format!("{} labels", e.labels.len())))
        .collect();
    check(
        conflict::LABELS,
        "exportedLabels",
        format!("{} labels", winner.labels.len()),
        label_differ,
    );
    let annotation_differ = valid
        .iter()
        .filter(|(e, _)| e.annotations != winner.annotations)
        .map(|(e, _)| has(e, format!("{} annotations", e.annotations.len())))
        .collect();
    check(
        conflict::ANNOTATIONS,
        "exportedAnnotations",
        format!("{} annotations", winner.annotations.len()),
        annotation_differ,
    );
    check(
        conflict::INTERNAL_TRAFFIC_POLICY,
        "internalTrafficPolicy",
        wsvc.internal_traffic_policy
            .clone()
            .unwrap_or_else(|| "Cluster".into()),
        differ(
            &|s| {
                s.internal_traffic_policy.as_deref().unwrap_or("Cluster")
                    != wsvc.internal_traffic_policy.as_deref().unwrap_or("Cluster")
            },
            &|s| {
                s.internal_traffic_policy
                    .clone()
                    .unwrap_or_else(|| "Cluster".into())
            },
        ),
    );
    check(
        conflict::TRAFFIC_DISTRIBUTION,
        "trafficDistribution",
        wsvc.traffic_distribution
            .clone()
            .unwrap_or_else(|| "(unset)".into()),
        differ(
            &|s| s.traffic_distribution != wsvc.traffic_distribution,
            &|s| {
                s.traffic_distribution
                    .clone()
                    .unwrap_or_else(|| "(unset)".into())
            },
        ),
    );
    // IP families are the VIP's: only exports of the import's own type constrain them (their
    // intersection, in the oldest export's order). A headless Service has no VIP, and one without
    // a selector gets both families from the apiserver even in a single-stack cluster, so a
    // headless export (or any export of a headless import) conflicts only when it has none of the
    // import's families: then some backends really are unreachable.
    let mut families: Vec<String> = wsvc
        .ip_families
        .iter()
        .filter(|f| {
            valid
                .iter()
                .filter(|(_, s)| s.headless == wsvc.headless)
                .all(|(_, s)| s.ip_families.contains(f))
        })
        .cloned()
        .collect();
    if families.is_empty() {
        families.clone_from(&wsvc.ip_families);
    }
    let family_set: BTreeSet<&String> = wsvc.ip_families.iter().collect();
    check(
        conflict::IP_FAMILY,
        "ipFamilies",
        families.join(","),
        differ(
            &|s| {
                if wsvc.headless || s.headless {
                    !s.ip_families.iter().any(|f| families.contains(f))
                } else {
                    s.ip_families.iter().collect::<BTreeSet<_>>() != family_set
                }
            },
            &|s| format!("ipFamilies [{}]", s.ip_families.join(",")),
        ),
    );
    let served_ports = valid
        .iter()
        .filter_map(|(e, s)| {
            let served: BTreeSet<PortDef> = merged
                .iter()
                .filter(|m| s.ports.contains(m))
                .cloned()
                .collect();
            (merged.is_empty() || !served.is_empty()).then(|| (e.cluster.clone(), served))
        })
        .collect();
    let mut clusters: Vec<String> = valid.iter().map(|(e, _)| e.cluster.clone()).collect();
    clusters.sort();
    Resolution {
        import: Some(ImportView {
            headless: wsvc.headless,
            ports: merged,
            session_affinity: wsvc.session_affinity.clone(),
            affinity_timeout: wsvc.affinity_timeout,
            internal_traffic_policy: wsvc.internal_traffic_policy.clone(),
            traffic_distribution: wsvc.traffic_distribution.clone(),
            ip_families: families,
            labels: winner.labels.clone(),
            annotations: winner.annotations.clone(),
            clusters,
            served_ports,
        }),
        conflicts: Conflicts {
            reasons,
            message: messages.join("; "),
            dissent: dissents.join("; "),
        },
    }
}

pub mod convert;

/// A headless import's IP families: it has no VIP, so they are the families its endpoints have.
/// `families` (the resolved ones) narrowed to the `address_types` of the exporters'
/// EndpointSlices, in their order, then any address type they lack; unchanged while there are no
/// slices (nothing known yet). A selector-less headless Service says `[IPv4, IPv6]` in a
/// single-stack cluster; its IPv4-only slices make the import `[IPv4]`.
pub fn endpoint_families<'a>(
    families: &[String],
    address_types: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let present: BTreeSet<&str> = address_types
        .into_iter()
        .filter(|t| matches!(*t, "IPv4" | "IPv6"))
        .collect();
    if present.is_empty() {
        return families.to_vec();
    }
    let mut out: Vec<String> = families
        .iter()
        .filter(|f| present.contains(f.as_str()))
        .cloned()
        .collect();
    for t in present {
        if !out.iter().any(|f| f == t) {
            out.push(t.to_owned());
        }
    }
    out
}

/// Union of port lists, walked oldest first: a port with the name of an accepted one, or the
/// protocol and number of an accepted one, is the same port or a clash; either way it is not added.
pub fn merge_ports<'a>(lists: impl Iterator<Item = &'a [PortDef]>) -> Vec<PortDef> {
    let mut merged: Vec<PortDef> = Vec::new();
    for ports in lists {
        for p in ports {
            let taken = merged
                .iter()
                .any(|m| m.name == p.name || (m.protocol == p.protocol && m.port == p.port));
            if !taken {
                merged.push(p.clone());
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests;
