//! The ServiceImport reconciler: import → derived Service → `spec.ips`/`spec.ipFamilies` and the
//! `Ready` condition → `kubernetes.io/service-name` on the import's hand-made slices.
//!
//! Each step compares the cache with the desired state from `causeway-core` and writes only a
//! difference (server-side apply, field manager `causeway-controller`). Problems the controller
//! cannot fix (bad ports, an unsupported IP family) become a `Ready=False` condition and a
//! Warning Event, and the import waits for its next change instead of being retried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_api::names::{
    ANNOTATION_ADDED_SERVICE_NAME, ANNOTATION_DERIVED_SERVICE, LABEL_K8S_SERVICE_NAME,
    LABEL_SERVICE_NAME, condition,
};
use causeway_api::{ServiceImport, ServiceImportType};
use causeway_core::conditions::{self, DesiredCondition};
use causeway_core::derived::{self, ImportProblem};
use causeway_core::naming::derived_service_name;
use causeway_core::slices::{self, SliceLabelAction};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use crate::context::{After, Context};
use crate::slice_index::IndexedSlice;
use crate::writer::{WriteError, Writer};
use crate::{Error, Result};

/// Reconciles one ServiceImport.
pub async fn reconcile(import: Arc<ServiceImport>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.leads() {
        // Standbys keep caches warm only; a new leader reconciles everything.
        return Ok(Action::await_change());
    }
    if import.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if !ctx.caches_synced.load(std::sync::atomic::Ordering::Acquire) {
        // The controller's trigger stream can run before the Service and slice caches are
        // filled; comparing against them now would rewrite what already exists.
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    let started = Instant::now();
    ctx.metrics.reconciles.inc();
    let w = ctx.writer.session();
    let result = match apply(&import, &ctx, &w).await {
        // Lost the Lease during the reconcile: the new leader reconciles every import.
        Err(err) if err.not_leading() => return Ok(Action::await_change()),
        other => other,
    };
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    if result.is_ok()
        && let Ok(mut failures) = ctx.failures.lock()
    {
        failures.remove(&ObjectRef::from_obj(import.as_ref()));
    }
    result
}

/// Backs off per import: 1 s, 2 s, 4 s … up to 5 min.
#[allow(
    clippy::needless_pass_by_value,
    reason = "signature required by kube's Controller"
)]
pub fn error_policy(import: Arc<ServiceImport>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .errors
        .get_or_create(&crate::metrics::ReasonLabel {
            reason: err.metric_label(),
        })
        .inc();
    let attempts = ctx.failures.lock().map_or(1, |mut f| {
        let n = f.entry(ObjectRef::from_obj(import.as_ref())).or_insert(0);
        *n = n.saturating_add(1);
        *n
    });
    tracing::warn!(
        namespace = %import.namespace().unwrap_or_default(),
        name = %import.name_any(),
        attempts,
        error = err as &dyn std::error::Error,
        "reconcile failed; retrying with back-off"
    );
    Action::requeue(Duration::from_secs(1u64 << attempts.min(8)).min(Duration::from_secs(300)))
}

async fn apply(import: &ServiceImport, ctx: &Context, w: &Writer) -> Result<Action> {
    let ns = import.namespace().unwrap_or_default();
    let name = import.name_any();
    let derived_name = derived_service_name(&ns, &name);
    let mut generation = import.metadata.generation;
    let mut base = import.resource_version().unwrap_or_default();
    let ready = match import.spec.type_ {
        ServiceImportType::Headless => {
            remove_stale_service(ctx, w, &ns, &derived_name, &name).await?;
            (generation, base) = write_import_addresses(ctx, w, import, &[], &[], None).await?;
            label_slices(ctx, w, import, None).await?;
            DesiredCondition::new(
                condition::READY,
                "True",
                condition::ready::READY,
                "headless: served through DNS to endpoint addresses",
            )
        }
        ServiceImportType::ClusterSetIP => {
            match ensure_service(ctx, w, import, &derived_name).await? {
                Outcome::Ready(ips, families) => {
                    (generation, base) = write_import_addresses(
                        ctx,
                        w,
                        import,
                        &ips,
                        &families,
                        Some(&derived_name),
                    )
                    .await?;
                    label_slices(ctx, w, import, Some(&derived_name)).await?;
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
                    ctx.event(
                        import,
                        EventType::Warning,
                        "InvalidServiceImport",
                        format!("{problem}"),
                    )
                    .await;
                    tracing::warn!(namespace = %ns, name = %name, problem = %problem, "import cannot be served");
                    DesiredCondition::new(
                        condition::READY,
                        "False",
                        condition::ready::PENDING,
                        problem.to_string(),
                    )
                }
                Outcome::FamilyNotSupported(message) => {
                    ctx.event(
                        import,
                        EventType::Warning,
                        condition::ready::IP_FAMILY_NOT_SUPPORTED,
                        message.clone(),
                    )
                    .await;
                    DesiredCondition::new(
                        condition::READY,
                        "False",
                        condition::ready::IP_FAMILY_NOT_SUPPORTED,
                        message,
                    )
                }
            }
        }
    };
    write_ready(ctx, w, import, ready, generation, &base).await?;
    Ok(Action::await_change())
}

enum Outcome {
    Ready(Vec<String>, Vec<String>),
    Pending,
    Invalid(ImportProblem),
    FamilyNotSupported(String),
}

async fn ensure_service(
    ctx: &Context,
    w: &Writer,
    import: &ServiceImport,
    derived_name: &str,
) -> Result<Outcome> {
    let ns = import.namespace().unwrap_or_default();
    let live = ctx.services.get(&ObjectRef::new(derived_name).within(&ns));
    let live_ips = live
        .as_ref()
        .and_then(|s| derived::addresses(s))
        .map(|(ips, _)| ips);
    let desired = match derived::desired_service(import, live_ips.as_deref()) {
        Ok(svc) => svc,
        Err(problem) => return Ok(Outcome::Invalid(problem)),
    };
    if let Some(live) = live.as_deref()
        && !derived::needs_apply(&desired, live)
    {
        return Ok(derived::addresses(live)
            .map_or(Outcome::Pending, |(ips, fams)| Outcome::Ready(ips, fams)));
    }
    let base = live
        .as_ref()
        .and_then(|s| s.resource_version())
        .unwrap_or_default();
    let key = service_write_key(&desired);
    if let Some(After {
        addresses: Some((ips, families)),
        ..
    }) = ctx.pending_write("service", &ns, derived_name, &base, &key)
        && requested_ips(&desired).is_none_or(|requested| requested == ips.as_slice())
    {
        // Applied by this replica a moment ago; the Service watch has not caught up.
        return Ok(Outcome::Ready(ips, families));
    }
    if let Some(live) = live.as_deref()
        && live
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|s| !s.is_empty())
    {
        // A selector would make the EndpointSlice controller fight over the VIP's endpoints.
        // It is someone else's field, so server-side apply cannot drop it: remove it explicitly.
        let note = format!(
            "someone added a selector to derived service {derived_name}; causeway removed it (derived Services are selector-less; edit the ServiceImport instead)"
        );
        ctx.event(import, EventType::Warning, "DerivedServiceEdited", note)
            .await;
        w.merge::<Service>(
            "service",
            &ns,
            derived_name,
            &json!({"spec": {"selector": null}}),
        )
        .await
        .map_err(|e| service_error(&ns, derived_name, e))?;
    }
    let applied = match w
        .apply::<Service>("service", &ns, derived_name, &desired)
        .await
    {
        Ok(svc) => svc,
        Err(WriteError::Api(kube::Error::Api(status)))
            if status.code == 422 && is_family_problem(&status.message) =>
        {
            return Ok(Outcome::FamilyNotSupported(format!(
                "this cluster cannot serve IP families {:?}: {}",
                import.spec.ip_families.clone().unwrap_or_default(),
                status.message
            )));
        }
        Err(WriteError::Api(kube::Error::Api(status)))
            if status.code == 422
                && live.is_none()
                && desired
                    .spec
                    .as_ref()
                    .is_some_and(|s| s.cluster_ips.is_some()) =>
        {
            // The import's VIP cannot be had here (outside this cluster's service CIDR, or taken):
            // allocate a new one and say so.
            let note = format!(
                "requested ClusterSet IP(s) {:?} unavailable ({}); allocating new ones",
                import.spec.ips.clone().unwrap_or_default(),
                status.message
            );
            ctx.event(import, EventType::Warning, "ClusterSetIPChanged", note)
                .await;
            let mut fresh = desired.clone();
            if let Some(spec) = fresh.spec.as_mut() {
                spec.cluster_ip = None;
                spec.cluster_ips = None;
            }
            w.apply::<Service>("service", &ns, derived_name, &fresh)
                .await
                .map_err(|e| service_error(&ns, derived_name, e))?
        }
        Err(WriteError::Api(kube::Error::Api(status))) if status.code == 422 && live.is_some() => {
            // Someone else's edit (for example an extra port, owned by their field manager)
            // makes the merged object invalid; apply cannot drop foreign fields, so put the
            // derived Service back whole, keeping its cluster IPs.
            let Some(mut repaired) = live.as_deref().cloned() else {
                return Ok(Outcome::Pending);
            };
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
            let note = format!(
                "derived service {derived_name} was edited ({}); causeway restored it from the ServiceImport",
                status.message
            );
            ctx.event(import, EventType::Warning, "DerivedServiceEdited", note)
                .await;
            w.replace::<Service>("service", &ns, derived_name, &repaired)
                .await
                .map_err(|e| service_error(&ns, derived_name, e))?
        }
        Err(e) => return Err(service_error(&ns, derived_name, e)),
    };
    ctx.record_write(
        "service",
        &ns,
        derived_name,
        &base,
        &key,
        After {
            generation: applied.metadata.generation,
            resource_version: applied.resource_version().unwrap_or_default(),
            addresses: derived::addresses(&applied),
        },
    );
    tracing::info!(namespace = %ns, service = %derived_name, import = %import.name_any(), "derived service applied");
    Ok(derived::addresses(&applied)
        .map_or(Outcome::Pending, |(ips, fams)| Outcome::Ready(ips, fams)))
}

/// What identifies an apply of `desired` for write de-duplication: everything but the requested
/// cluster IPs, which change from "none" to the allocated ones once the import records them.
fn service_write_key(desired: &Service) -> String {
    let mut keyed = desired.clone();
    if let Some(spec) = keyed.spec.as_mut() {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }
    serde_json::to_string(&keyed).unwrap_or_default()
}

fn requested_ips(desired: &Service) -> Option<&[String]> {
    desired.spec.as_ref().and_then(|s| s.cluster_ips.as_deref())
}

fn is_family_problem(message: &str) -> bool {
    message.contains("ipFamilies")
        || message.contains("ipFamilyPolicy")
        || message.contains("not configured on this cluster")
}

fn service_error(ns: &str, name: &str, e: WriteError) -> Error {
    Error::ApplyService {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        source: Box::new(e),
    }
}

async fn remove_stale_service(
    ctx: &Context,
    w: &Writer,
    ns: &str,
    derived_name: &str,
    import: &str,
) -> Result<()> {
    let Some(live) = ctx.services.get(&ObjectRef::new(derived_name).within(ns)) else {
        return Ok(());
    };
    // Only a Service that is ours for this import (label set by causeway) is removed.
    if live
        .labels()
        .get(causeway_api::names::LABEL_DERIVED_FROM)
        .map(String::as_str)
        != Some(import)
    {
        return Ok(());
    }
    match w.delete::<Service>("service", ns, derived_name).await {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::DeleteService {
            namespace: ns.to_owned(),
            name: derived_name.to_owned(),
            source: Box::new(e),
        }),
    }
}

/// Sets `spec.ips`, `spec.ipFamilies` and the derived-service annotation, only when they differ;
/// returns the import's generation afterwards.
async fn write_import_addresses(
    ctx: &Context,
    w: &Writer,
    import: &ServiceImport,
    ips: &[String],
    families: &[String],
    derived_name: Option<&str>,
) -> Result<(Option<i64>, String)> {
    let current_ips = import.spec.ips.clone().unwrap_or_default();
    let current_families = import.spec.ip_families.clone().unwrap_or_default();
    let current_annotation = import
        .annotations()
        .get(ANNOTATION_DERIVED_SERVICE)
        .map(String::as_str);
    let families_ok =
        current_families == families || (ips.is_empty() && import.spec.ip_families.is_some());
    let base = import.resource_version().unwrap_or_default();
    if current_ips == ips && families_ok && current_annotation == derived_name {
        return Ok((import.metadata.generation, base));
    }
    let ns = import.namespace().unwrap_or_default();
    let name = import.name_any();
    let mut metadata = json!({ "name": name });
    if let Some(derived_name) = derived_name {
        metadata["annotations"] = json!({ ANNOTATION_DERIVED_SERVICE: derived_name });
    }
    let mut spec = json!({ "ips": ips });
    if !ips.is_empty() {
        spec["ipFamilies"] = json!(families);
    }
    let patch = json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "metadata": metadata,
        "spec": spec,
    });
    let desired = patch.to_string();
    if let Some(after) = ctx.pending_write("serviceimport", &ns, &name, &base, &desired) {
        // Written by this replica; the cache is one event behind, so the status write that
        // follows builds on the written version.
        return Ok((after.generation, after.resource_version));
    }
    if ctx.import_moved_on(import, &base) {
        return Ok((import.metadata.generation, base));
    }
    let updated = w
        .apply::<ServiceImport>("serviceimport", &ns, &name, &patch)
        .await
        .map_err(|e| Error::ApplyImport {
            namespace: ns.clone(),
            name: name.clone(),
            source: Box::new(e),
        })?;
    ctx.record_write(
        "serviceimport",
        &ns,
        &name,
        &base,
        &desired,
        After {
            generation: updated.metadata.generation,
            resource_version: updated.resource_version().unwrap_or_default(),
            addresses: None,
        },
    );
    tracing::info!(namespace = %ns, name = %name, ips = ?ips, "service import addresses set");
    Ok((
        updated.metadata.generation,
        updated.resource_version().unwrap_or_default(),
    ))
}

async fn write_ready(
    ctx: &Context,
    w: &Writer,
    import: &ServiceImport,
    ready: DesiredCondition,
    generation: Option<i64>,
    base: &str,
) -> Result<()> {
    let current = import
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let desired = [ready];
    if conditions::up_to_date(&current, &desired, generation) {
        return Ok(());
    }
    let ns = import.namespace().unwrap_or_default();
    let name = import.name_any();
    let key = format!("{:?}/{generation:?}", desired[0]);
    if ctx
        .pending_write("serviceimport_status", &ns, &name, base, &key)
        .is_some()
        || ctx.import_moved_on(import, base)
    {
        return Ok(());
    }
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let merged: Vec<_> = conditions::merge(&current, &desired, generation, &now)
        .into_iter()
        .filter(|c| c.type_ == condition::READY)
        .collect();
    let patch = json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "status": { "conditions": merged },
    });
    w.apply_status::<ServiceImport>("serviceimport_status", &ns, &name, &patch)
        .await
        .map_err(|e| Error::ApplyImport {
            namespace: ns.clone(),
            name: name.clone(),
            source: Box::new(e),
        })?;
    ctx.record_write(
        "serviceimport_status",
        &ns,
        &name,
        base,
        &key,
        After::default(),
    );
    Ok(())
}

async fn label_slices(
    ctx: &Context,
    w: &Writer,
    import: &ServiceImport,
    derived_name: Option<&str>,
) -> Result<()> {
    let ns = import.namespace().unwrap_or_default();
    for slice in ctx.slices.of_import(&ns, &import.name_any()) {
        match slices::plan(&slice.marks, derived_name) {
            SliceLabelAction::Nothing => {}
            SliceLabelAction::Add(derived) => {
                apply_slice_label(ctx, w, &slice, Some(&derived)).await?;
            }
            SliceLabelAction::Remove => apply_slice_label(ctx, w, &slice, None).await?,
            SliceLabelAction::Conflict { existing, wanted } => {
                let note = format!(
                    "endpoint slice {ns}/{} has {LABEL_K8S_SERVICE_NAME}={existing}, not {wanted}: it is not routed through the ClusterSet IP; remove the label to let causeway set it",
                    slice.name
                );
                ctx.event(import, EventType::Warning, "SliceServiceNameConflict", note)
                    .await;
            }
        }
    }
    Ok(())
}

/// Adds (`Some`) or removes (`None`) the label and marker causeway puts on a hand-made slice.
/// Applying an empty configuration releases exactly the fields causeway owned.
pub async fn apply_slice_label(
    ctx: &Context,
    w: &Writer,
    slice: &IndexedSlice,
    derived: Option<&str>,
) -> Result<()> {
    let (ns, name) = (slice.namespace.clone(), slice.name.clone());
    let metadata = match derived {
        Some(d) => json!({
            "name": name,
            "labels": { LABEL_K8S_SERVICE_NAME: d },
            "annotations": { ANNOTATION_ADDED_SERVICE_NAME: "true" },
        }),
        None => json!({ "name": name }),
    };
    let patch = json!({ "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": metadata });
    let base = slice.resource_version.clone();
    let desired = patch.to_string();
    if ctx
        .pending_write("endpointslice", &ns, &name, &base, &desired)
        .is_some()
    {
        return Ok(());
    }
    match w
        .apply::<EndpointSlice>("endpointslice", &ns, &name, &patch)
        .await
    {
        Ok(_) => {}
        // Gone in the meantime: nothing to label.
        Err(WriteError::Api(kube::Error::Api(status))) if status.code == 404 => return Ok(()),
        Err(e) => {
            return Err(Error::ApplySlice {
                namespace: ns,
                name,
                source: Box::new(e),
            });
        }
    }
    ctx.record_write(
        "endpointslice",
        &ns,
        &name,
        &base,
        &desired,
        After::default(),
    );
    tracing::info!(namespace = %ns, slice = %name, service = ?derived, "endpoint slice routing label updated");
    Ok(())
}

/// Maps an MCS slice to the import it names.
#[allow(
    clippy::needless_pass_by_value,
    reason = "signature required by kube's Controller"
)]
pub fn slice_to_import(slice: EndpointSlice) -> Option<ObjectRef<ServiceImport>> {
    let import = slice.labels().get(LABEL_SERVICE_NAME)?.clone();
    Some(ObjectRef::new(&import).within(&slice.namespace()?))
}
