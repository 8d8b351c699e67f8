//! What one reconcile of a ServiceImport writes, decided without I/O.
//!
//! Data flow: the reconciler reads the import, its cached derived Service and its indexed slices
//! and calls [`decide`], which returns the writes in order ([`Write`]): for a headless import, the
//! removal of a derived Service causeway made earlier, then the import's addresses, the slices'
//! routing labels and the `Ready` condition; for a `ClusterSetIP` import, the derived Service
//! first ([`service_step`]). When that Service must be applied, the list ends with
//! [`Write::ApplyService`]: the rest depends on the apiserver's answer (the allocated VIP), so
//! the reconciler asks [`after_service`] with the [`Outcome`] of the apply. A 422 answer is
//! mapped by [`on_rejected`]: an IP family the cluster cannot serve becomes a condition, an
//! unavailable requested VIP a fresh allocation, and someone's edit that broke the Service a
//! restore. Only what differs from the live objects is written; [`decide`] on an unchanged
//! import returns nothing.

use causeway_api::names::{
    ANNOTATION_ADDED_SERVICE_NAME, ANNOTATION_DERIVED_SERVICE, LABEL_DERIVED_FROM,
    LABEL_K8S_SERVICE_NAME, condition,
};
use causeway_api::{ServiceImport, ServiceImportType};
use causeway_core::conditions::{self, DesiredCondition};
use causeway_core::derived::{self, ImportProblem};
use causeway_core::naming::derived_service_name;
use causeway_core::slices::{self, SliceLabelAction};
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::slice_index::IndexedSlice;

/// What the derived Service gives the import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its cluster IPs and their families.
    Ready(Vec<String>, Vec<String>),
    /// No cluster IP yet.
    Pending,
    /// The import cannot be served as it is.
    Invalid(ImportProblem),
    /// The cluster cannot serve the import's IP families (the apiserver's message).
    FamilyNotSupported(String),
}

/// What the derived Service needs before the import can use it.
#[derive(Clone, Debug, PartialEq)]
pub enum ServiceStep {
    /// Nothing to write: the live Service (or the import's problem) gives this.
    Settled(Outcome),
    /// Apply `desired`, after removing a selector someone added when `remove_selector`.
    Apply {
        /// The derived Service.
        desired: Box<Service>,
        /// The live Service has a selector (someone else's field, which apply cannot drop).
        remove_selector: bool,
    },
}

/// One write of a reconcile, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Delete the derived Service causeway made for this import (it became headless).
    DeleteService,
    /// Apply the derived Service (see [`ServiceStep::Apply`]); then [`after_service`].
    ApplyService {
        /// The derived Service.
        desired: Box<Service>,
        /// Remove a selector first (merge patch), with a Warning Event.
        remove_selector: bool,
    },
    /// Set `spec.ips`, `spec.ipFamilies` and the derived-service annotation.
    Addresses {
        /// Cluster IPs (empty: headless).
        ips: Vec<String>,
        /// Their families.
        families: Vec<String>,
        /// The derived Service's name (`None`: headless).
        derived: Option<String>,
    },
    /// Add (`Some`) or remove (`None`) the routing label on a hand-made slice.
    Label {
        /// The slice.
        slice: IndexedSlice,
        /// The derived Service's name.
        derived: Option<String>,
    },
    /// A Warning Event on the import.
    Warn {
        /// Event reason.
        reason: &'static str,
        /// What happened and what to do.
        note: String,
    },
    /// The import's `Ready` condition.
    Ready(DesiredCondition),
}

/// The writes of one reconcile of `import`, whose derived Service the cache shows as `live` and
/// whose slices are `slices`. Ends with [`Write::ApplyService`] when the Service must be applied
/// first; then [`after_service`] continues with the apply's outcome.
pub fn decide(
    import: &ServiceImport,
    live: Option<&Service>,
    slices: &[IndexedSlice],
) -> Vec<Write> {
    match import.spec.type_ {
        ServiceImportType::Headless => {
            let mut writes = Vec::new();
            if live.is_some_and(|s| is_ours(s, &import.name_any())) {
                writes.push(Write::DeleteService);
            }
            if addresses_differ(import, &[], &[], None) {
                writes.push(Write::Addresses {
                    ips: Vec::new(),
                    families: Vec::new(),
                    derived: None,
                });
            }
            writes.extend(labels(import, None, slices));
            let ready = DesiredCondition::new(
                condition::READY,
                "True",
                condition::ready::READY,
                "headless: served through DNS to endpoint addresses",
            );
            with_ready(import, writes, ready)
        }
        ServiceImportType::ClusterSetIP => match service_step(import, live) {
            ServiceStep::Settled(outcome) => after_service(import, &outcome, slices),
            ServiceStep::Apply {
                desired,
                remove_selector,
            } => vec![Write::ApplyService {
                desired,
                remove_selector,
            }],
        },
    }
}

/// What a `ClusterSetIP` import writes once its derived Service gave `outcome`.
pub fn after_service(
    import: &ServiceImport,
    outcome: &Outcome,
    slices: &[IndexedSlice],
) -> Vec<Write> {
    let derived_name =
        derived_service_name(&import.namespace().unwrap_or_default(), &import.name_any());
    let mut writes = Vec::new();
    let ready = match outcome {
        Outcome::Ready(ips, families) => {
            if addresses_differ(import, ips, families, Some(&derived_name)) {
                writes.push(Write::Addresses {
                    ips: ips.clone(),
                    families: families.clone(),
                    derived: Some(derived_name.clone()),
                });
            }
            writes.extend(labels(import, Some(&derived_name), slices));
            DesiredCondition::new(
                condition::READY,
                "True",
                condition::ready::READY,
                format!("ClusterSet IP {} via service {derived_name}", ips.join(",")),
            )
        }
        Outcome::Pending => DesiredCondition::new(
            condition::READY,
            "False",
            condition::ready::PENDING,
            format!("waiting for service {derived_name} to get a cluster IP"),
        ),
        Outcome::Invalid(problem) => {
            writes.push(Write::Warn {
                reason: "InvalidServiceImport",
                note: problem.to_string(),
            });
            DesiredCondition::new(
                condition::READY,
                "False",
                condition::ready::PENDING,
                problem.to_string(),
            )
        }
        Outcome::FamilyNotSupported(message) => {
            writes.push(Write::Warn {
                reason: condition::ready::IP_FAMILY_NOT_SUPPORTED,
                note: message.clone(),
            });
            DesiredCondition::new(
                condition::READY,
                "False",
                condition::ready::IP_FAMILY_NOT_SUPPORTED,
                message.clone(),
            )
        }
    };
    with_ready(import, writes, ready)
}

/// Appends the `Ready` write when the condition differs, or when an address write before it
/// moves the import's generation (the executor checks again with the generation it gets back).
fn with_ready(
    import: &ServiceImport,
    mut writes: Vec<Write>,
    ready: DesiredCondition,
) -> Vec<Write> {
    let moves_generation = writes.iter().any(|w| matches!(w, Write::Addresses { .. }));
    let current = import
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let desired = [ready];
    if moves_generation || !conditions::up_to_date(&current, &desired, import.metadata.generation) {
        let [ready] = desired;
        writes.push(Write::Ready(ready));
    }
    writes
}

/// The routing-label writes (and conflicts) of the import's hand-made slices.
fn labels(import: &ServiceImport, derived: Option<&str>, slices: &[IndexedSlice]) -> Vec<Write> {
    let ns = import.namespace().unwrap_or_default();
    slices
        .iter()
        .filter_map(|slice| match slices::plan(&slice.marks, derived) {
            SliceLabelAction::Nothing => None,
            SliceLabelAction::Add(d) => Some(Write::Label {
                slice: slice.clone(),
                derived: Some(d),
            }),
            SliceLabelAction::Remove => Some(Write::Label {
                slice: slice.clone(),
                derived: None,
            }),
            SliceLabelAction::Conflict { existing, wanted } => Some(Write::Warn {
                reason: "SliceServiceNameConflict",
                note: format!(
                    "endpoint slice {ns}/{} has {LABEL_K8S_SERVICE_NAME}={existing}, not {wanted}: it is not routed through the ClusterSet IP; remove the label to let causeway set it",
                    slice.name
                ),
            }),
        })
        .collect()
}

/// What the derived Service of a `ClusterSetIP` import needs, given the cached `live` one.
pub fn service_step(import: &ServiceImport, live: Option<&Service>) -> ServiceStep {
    let live_ips = live.and_then(derived::addresses).map(|(ips, _)| ips);
    let desired = match derived::desired_service(import, live_ips.as_deref()) {
        Ok(svc) => svc,
        Err(problem) => return ServiceStep::Settled(Outcome::Invalid(problem)),
    };
    if let Some(live) = live
        && !derived::needs_apply(&desired, live)
    {
        return ServiceStep::Settled(settled(live));
    }
    let remove_selector = live
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty());
    ServiceStep::Apply {
        desired: Box::new(desired),
        remove_selector,
    }
}

/// What an applied (or live) derived Service gives.
pub fn settled(service: &Service) -> Outcome {
    derived::addresses(service).map_or(Outcome::Pending, |(ips, fams)| Outcome::Ready(ips, fams))
}

/// What to do after the apply of `desired` failed.
#[derive(Clone, Debug, PartialEq)]
pub enum Rejected {
    /// The cluster cannot serve the import's IP families: a condition, not a retry.
    FamilyNotSupported(String),
    /// The requested VIP cannot be had here: apply `fresh` (no requested IPs), with this note.
    Reallocate {
        /// `desired` without cluster IPs.
        fresh: Box<Service>,
        /// The Warning Event's note.
        note: String,
    },
    /// Someone's edit made the merged object invalid: replace the Service with `repaired`.
    Restore {
        /// The live Service with causeway's fields put back and no selector.
        repaired: Box<Service>,
        /// The Warning Event's note.
        note: String,
    },
    /// An error to retry with back-off.
    Fail,
}

/// Maps a failed apply (`code`: its HTTP status, `message`: the apiserver's) to what comes next.
pub fn on_rejected(
    import: &ServiceImport,
    live: Option<&Service>,
    desired: &Service,
    code: Option<u16>,
    message: &str,
) -> Rejected {
    if code != Some(422) {
        return Rejected::Fail;
    }
    let derived_name = desired.name_any();
    if is_family_problem(message) {
        return Rejected::FamilyNotSupported(format!(
            "this cluster cannot serve IP families {:?}: {message}",
            import.spec.ip_families.clone().unwrap_or_default(),
        ));
    }
    if live.is_none() && requested_ips(desired).is_some() {
        // The import's VIP cannot be had here (outside this cluster's service CIDR, or taken):
        // allocate a new one and say so.
        let mut fresh = desired.clone();
        if let Some(spec) = fresh.spec.as_mut() {
            spec.cluster_ip = None;
            spec.cluster_ips = None;
        }
        return Rejected::Reallocate {
            fresh: Box::new(fresh),
            note: format!(
                "requested ClusterSet IP(s) {:?} unavailable ({message}); allocating new ones",
                import.spec.ips.clone().unwrap_or_default(),
            ),
        };
    }
    let Some(live) = live else {
        return Rejected::Fail;
    };
    // Someone else's edit (for example an extra port, owned by their field manager) makes the
    // merged object invalid; apply cannot drop foreign fields, so put the derived Service back
    // whole, keeping its cluster IPs.
    let mut repaired = live.clone();
    let desired_spec = desired.spec.clone().unwrap_or_default();
    if let Some(spec) = repaired.spec.as_mut() {
        spec.ports = desired_spec.ports;
        spec.selector = None;
        spec.type_ = desired_spec.type_;
        spec.session_affinity = desired_spec.session_affinity;
        spec.session_affinity_config = desired_spec.session_affinity_config;
        spec.internal_traffic_policy = desired_spec.internal_traffic_policy;
        spec.traffic_distribution = desired_spec.traffic_distribution;
    }
    repaired.metadata.managed_fields = None;
    Rejected::Restore {
        repaired: Box::new(repaired),
        note: format!(
            "derived service {derived_name} was edited ({message}); causeway restored it from the ServiceImport"
        ),
    }
}

/// Whether `service` is the derived Service causeway made for import `import` (its label).
fn is_ours(service: &Service, import: &str) -> bool {
    service.labels().get(LABEL_DERIVED_FROM).map(String::as_str) == Some(import)
}

/// Whether the import's `spec.ips`, `spec.ipFamilies` or derived-service annotation differ.
pub fn addresses_differ(
    import: &ServiceImport,
    ips: &[String],
    families: &[String],
    derived: Option<&str>,
) -> bool {
    let current_ips = import.spec.ips.clone().unwrap_or_default();
    let current_families = import.spec.ip_families.clone().unwrap_or_default();
    let current_annotation = import
        .annotations()
        .get(ANNOTATION_DERIVED_SERVICE)
        .map(String::as_str);
    let families_ok =
        current_families == families || (ips.is_empty() && import.spec.ip_families.is_some());
    !(current_ips == ips && families_ok && current_annotation == derived)
}

/// The apply patch of [`Write::Addresses`] for import `name`.
pub fn addresses_patch(
    name: &str,
    ips: &[String],
    families: &[String],
    derived: Option<&str>,
) -> Value {
    let mut metadata = json!({ "name": name });
    if let Some(derived_name) = derived {
        metadata["annotations"] = json!({ ANNOTATION_DERIVED_SERVICE: derived_name });
    }
    let mut spec = json!({ "ips": ips });
    if !ips.is_empty() {
        spec["ipFamilies"] = json!(families);
    }
    json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "metadata": metadata,
        "spec": spec,
    })
}

/// The apply patch of the routing label on slice `name`: adding it (`Some`) or releasing it
/// (`None`: an empty configuration releases exactly the fields causeway owned).
pub fn label_patch(name: &str, derived: Option<&str>) -> Value {
    let metadata = match derived {
        Some(d) => json!({
            "name": name,
            "labels": { LABEL_K8S_SERVICE_NAME: d },
            "annotations": { ANNOTATION_ADDED_SERVICE_NAME: "true" },
        }),
        None => json!({ "name": name }),
    };
    json!({ "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": metadata })
}

/// What identifies an apply of `desired` for write de-duplication: everything but the requested
/// cluster IPs, which change from "none" to the allocated ones once the import records them.
pub fn service_write_key(desired: &Service) -> String {
    let mut keyed = desired.clone();
    if let Some(spec) = keyed.spec.as_mut() {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }
    serde_json::to_string(&keyed).unwrap_or_default()
}

/// The cluster IPs `desired` asks for, if any.
pub fn requested_ips(desired: &Service) -> Option<&[String]> {
    desired.spec.as_ref().and_then(|s| s.cluster_ips.as_deref())
}

fn is_family_problem(message: &str) -> bool {
    message.contains("ipFamilies")
        || message.contains("ipFamilyPolicy")
        || message.contains("not configured on this cluster")
}

#[cfg(test)]
mod tests;
