//! The ServiceImport reconciler: import → derived Service → `spec.ips`/`spec.ipFamilies` and the
//! `Ready` condition → `kubernetes.io/service-name` on the import's hand-made slices.
//!
//! Data flow: [`reconcile`] reads the import, its cached derived Service and its indexed slices;
//! [`decide()`] (pure) lists the writes that differ from them, in order; this module sends each
//! through the reconcile's leader-gated [`Writer`] session (server-side apply, field manager
//! `causeway-controller`), feeding the derived Service's answer back to [`decide::after_service`]
//! and skipping writes this replica already made that its cache does not show yet
//! ([`Context::pending_write`]). Problems the controller cannot fix (bad ports, an unsupported IP
//! family) become a `Ready=False` condition and a Warning Event, and the import waits for its next
//! change instead of being retried.

pub mod decide;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_api::ServiceImport;
use causeway_api::names::{LABEL_SERVICE_NAME, condition};
use causeway_core::conditions::{self, DesiredCondition};
use causeway_core::derived;
use causeway_core::naming::derived_service_name;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use self::decide::{
    Outcome, Rejected, Write, addresses_patch, after_service, decide, label_patch, on_rejected,
    requested_ips, service_write_key, settled,
};
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
    let live = ctx.services.get(&ObjectRef::new(&derived_name).within(&ns));
    let slices = ctx.slices.of_import(&ns, &name);
    let mut writes: VecDeque<Write> = decide(import, live.as_deref(), &slices).into();
    // The import's generation and resourceVersion after this reconcile's own writes.
    let mut generation = import.metadata.generation;
    let mut base = import.resource_version().unwrap_or_default();
    while let Some(write) = writes.pop_front() {
        match write {
            Write::DeleteService => remove_stale_service(w, &ns, &derived_name).await?,
            Write::ApplyService {
                desired,
                remove_selector,
            } => {
                let outcome =
                    ensure_service(ctx, w, import, live.as_deref(), &desired, remove_selector)
                        .await?;
                writes.extend(after_service(import, &outcome, &slices));
            }
            Write::Addresses {
                ips,
                families,
                derived,
            } => {
                (generation, base) =
                    write_import_addresses(ctx, w, import, &ips, &families, derived.as_deref())
                        .await?;
            }
            Write::Label { slice, derived } => {
                apply_slice_label(ctx, w, &slice, derived.as_deref()).await?;
            }
            Write::Warn { reason, note } => {
                ctx.event(import, EventType::Warning, reason, note.clone())
                    .await;
                if reason == "InvalidServiceImport" {
                    tracing::warn!(namespace = %ns, name = %name, problem = %note, "import cannot be served");
                }
            }
            Write::Ready(ready) => write_ready(ctx, w, import, ready, generation, &base).await?,
        }
    }
    Ok(Action::await_change())
}

/// Applies the derived Service `desired` (the live one is `live`), handling the apiserver's
/// 422 answers as [`on_rejected`] says; what the Service gives the import.
async fn ensure_service(
    ctx: &Context,
    w: &Writer,
    import: &ServiceImport,
    live: Option<&Service>,
    desired: &Service,
    remove_selector: bool,
) -> Result<Outcome> {
    let ns = import.namespace().unwrap_or_default();
    let derived_name = desired.name_any();
    let derived_name = derived_name.as_str();
    let base = live
        .and_then(ResourceExt::resource_version)
        .unwrap_or_default();
    let key = service_write_key(desired);
    if let Some(After {
        addresses: Some((ips, families)),
        ..
    }) = ctx.pending_write("service", &ns, derived_name, &base, &key)
        && requested_ips(desired).is_none_or(|requested| requested == ips.as_slice())
    {
        // Applied by this replica a moment ago; the Service watch has not caught up.
        return Ok(Outcome::Ready(ips, families));
    }
    if remove_selector {
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
        .apply::<Service>("service", &ns, derived_name, desired)
        .await
    {
        Ok(svc) => svc,
        Err(e) => match on_rejected(import, live, desired, e.code(), e.message()) {
            Rejected::FamilyNotSupported(message) => {
                return Ok(Outcome::FamilyNotSupported(message));
            }
            Rejected::Reallocate { fresh, note } => {
                ctx.event(import, EventType::Warning, "ClusterSetIPChanged", note)
                    .await;
                w.apply::<Service>("service", &ns, derived_name, fresh.as_ref())
                    .await
                    .map_err(|e| service_error(&ns, derived_name, e))?
            }
            Rejected::Restore { repaired, note } => {
                ctx.event(import, EventType::Warning, "DerivedServiceEdited", note)
                    .await;
                w.replace::<Service>("service", &ns, derived_name, &repaired)
                    .await
                    .map_err(|e| service_error(&ns, derived_name, e))?
            }
            Rejected::Fail => return Err(service_error(&ns, derived_name, e)),
        },
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
    Ok(settled(&applied))
}

fn service_error(ns: &str, name: &str, e: WriteError) -> Error {
    Error::ApplyService {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        source: Box::new(e),
    }
}

/// Deletes the derived Service causeway made for an import that became headless.
async fn remove_stale_service(w: &Writer, ns: &str, derived_name: &str) -> Result<()> {
    match w.delete::<Service>("service", ns, derived_name).await {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::DeleteService {
            namespace: ns.to_owned(),
            name: derived_name.to_owned(),
            source: Box::new(e),
        }),
    }
}

/// Sets `spec.ips`, `spec.ipFamilies` and the derived-service annotation ([`decide`] found them
/// different); returns the import's generation and resourceVersion afterwards.
async fn write_import_addresses(
    ctx: &Context,
    w: &Writer,
    import: &ServiceImport,
    ips: &[String],
    families: &[String],
    derived_name: Option<&str>,
) -> Result<(Option<i64>, String)> {
    let base = import.resource_version().unwrap_or_default();
    let ns = import.namespace().unwrap_or_default();
    let name = import.name_any();
    let patch = addresses_patch(&name, ips, families, derived_name);
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

/// Adds (`Some`) or removes (`None`) the label and marker causeway puts on a hand-made slice.
/// Applying an empty configuration releases exactly the fields causeway owned.
pub async fn apply_slice_label(
    ctx: &Context,
    w: &Writer,
    slice: &IndexedSlice,
    derived: Option<&str>,
) -> Result<()> {
    let (ns, name) = (slice.namespace.clone(), slice.name.clone());
    let patch = label_patch(&name, derived);
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

#[cfg(test)]
mod tests;
