//! Writes a pass's plan through the pass's leader-gated [`Writer`] session.
//!
//! Data flow: the engine hands over the [`super::plan::SyncPlan`] in three parts, in this
//! order: [`services`] (each service's writes one after the other, 16 services at a time; an
//! outcome goes into the [`Memo`] only when all its writes succeeded, so a failed one is
//! planned again), `slices` (stale MCS slices deleted, then changed ones applied 16 at a time,
//! each applied version remembered; each apply that carries a member's slice change observes
//! `causeway_controller_sync_slice_latency_seconds`) and [`imports`] (stale ServiceImports
//! deleted). Every function returns how many writes failed or were refused; once the writer
//! refuses (the Lease is lost) the rest of the plan is dropped without a request.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use causeway_api::names::LABEL_SERVICE_NAME;
use causeway_api::{ServiceExport, ServiceImport};
use futures::StreamExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use super::memo::{Key, Memo};
use super::patches;
use super::plan::export_events::ExportEvent;
use super::plan::{ServicePlan, SliceApply, StaleSlice, Write};
use crate::metrics::Metrics;
use crate::writer::{Deleted, WriteError, Writer};

/// Writes a pass keeps in flight at once: services are written, and MCS slices applied, this
/// many at a time (one after the other, 1000 services took 30 s to converge).
pub const WRITES_IN_FLIGHT: usize = 16;

/// Runs each service's writes; stores the outcomes of those whose writes all succeeded and
/// returns their export Events (to publish) with the number of failed writes.
pub async fn services(
    writer: &Writer,
    planned: Vec<ServicePlan>,
    memo: &mut Memo,
) -> (usize, Vec<(Key, ExportEvent)>) {
    let mut errors = 0;
    let mut events = Vec::new();
    let mut done = futures::stream::iter(planned)
        .map(|service| async move {
            let mut failed = 0;
            for write in &service.writes {
                failed += usize::from(one(writer, &service.key, write).await.is_err());
            }
            (service, failed)
        })
        .buffer_unordered(WRITES_IN_FLIGHT);
    while let Some((service, failed)) = done.next().await {
        if failed == 0 {
            events.extend(service.events.into_iter().map(|e| (service.key.clone(), e)));
            memo.store(service.key, service.fingerprint, service.outcome);
        } else {
            memo.forget(&service.key);
        }
        errors += failed;
    }
    (errors, events)
}

/// One write of a service's objects.
async fn one(writer: &Writer, (ns, name): &Key, write: &Write) -> Result<(), WriteError> {
    let (result, what) = match write {
        Write::ExportConditions(conditions) => (
            writer
                .apply_status::<ServiceExport>(
                    "sync_serviceexport_status",
                    ns,
                    name,
                    &patches::export_conditions(conditions),
                )
                .await
                .map(|_| ()),
            "service export conditions set",
        ),
        Write::Import(import) => (
            writer
                .apply::<ServiceImport>(
                    "sync_serviceimport",
                    ns,
                    name,
                    &patches::import(name, import.as_ref()),
                )
                .await
                .map(|_| ()),
            "service import applied",
        ),
        Write::ImportClusters(clusters) => (
            writer
                .apply_status::<ServiceImport>(
                    "sync_serviceimport_status",
                    ns,
                    name,
                    &patches::import_clusters(clusters),
                )
                .await
                .map(|_| ()),
            "service import clusters set",
        ),
    };
    log_result(&result, ns, name, what);
    result
}

/// Applies the changed MCS slices, then deletes the stale ones, except those of a service one of
/// whose slices failed to apply: a renamed slice (e.g. after an upgrade changed the naming) goes
/// only once its successor exists, so the service's endpoints never drop out in between.
pub(crate) async fn slices(
    writer: &Writer,
    metrics: &Metrics,
    plan: (Vec<StaleSlice>, Vec<SliceApply>),
    changed: &HashMap<Key, Instant>,
    memo: &mut Memo,
) -> usize {
    let (delete, apply) = plan;
    let mut errors = 0;
    let mut failed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut applied = futures::stream::iter(apply)
        .map(|a| async move {
            let (ns, name) = &a.key;
            let result = writer
                .apply::<EndpointSlice>("sync_endpointslice", ns, name, a.slice.as_ref())
                .await;
            log_result(&result, ns, name, "MCS slice applied");
            let version = result
                .ok()
                .map(|s| s.resource_version().unwrap_or_default());
            if let (Some(at), Some(_)) = (changed.get(&a.key), &version) {
                metrics
                    .sync_slice_latency
                    .observe(at.elapsed().as_secs_f64());
            }
            (a, version)
        })
        .buffer_unordered(WRITES_IN_FLIGHT);
    while let Some((a, version)) = applied.next().await {
        if let Some(version) = version {
            memo.record_applied(a.key, &a.slice, &version, a.replaced.as_deref());
        } else {
            errors += 1;
            let service = a
                .slice
                .labels()
                .get(LABEL_SERVICE_NAME)
                .cloned()
                .unwrap_or_default();
            failed.insert((a.key.0, service));
        }
    }
    drop(applied);
    for StaleSlice {
        key: (ns, name),
        service,
    } in delete
    {
        if failed.contains(&(ns.clone(), service)) {
            continue;
        }
        match writer
            .delete::<EndpointSlice>("sync_endpointslice", &ns, &name)
            .await
        {
            Ok(Deleted::Removed) => {
                tracing::info!(namespace = %ns, slice = %name, "stale MCS slice removed");
            }
            Ok(Deleted::AlreadyGone) => {}
            Err(WriteError::NotLeader) => errors += 1,
            Err(err) => {
                errors += 1;
                tracing::warn!(namespace = %ns, slice = %name, error = %err, "failed to remove a stale MCS slice");
            }
        }
    }
    errors
}

/// Deletes the stale ServiceImports.
pub async fn imports(writer: &Writer, delete: Vec<Key>) -> usize {
    let mut errors = 0;
    for (ns, name) in delete {
        match writer
            .delete::<ServiceImport>("sync_serviceimport", &ns, &name)
            .await
        {
            Ok(Deleted::Removed) => {
                tracing::info!(namespace = %ns, name = %name, "service import removed: no cluster exports it any more");
            }
            Ok(Deleted::AlreadyGone) => {}
            Err(WriteError::NotLeader) => errors += 1,
            Err(err) => {
                errors += 1;
                tracing::warn!(namespace = %ns, name = %name, error = %err, "failed to remove a service import");
            }
        }
    }
    errors
}

fn log_result<T>(result: &Result<T, WriteError>, ns: &str, name: &str, what: &str) {
    match result {
        Ok(_) => tracing::debug!(namespace = %ns, name = %name, "{what}"),
        Err(WriteError::NotLeader) => {}
        Err(err) => {
            tracing::warn!(namespace = %ns, name = %name, error = err as &dyn std::error::Error, "sync write failed; retrying");
        }
    }
}

#[cfg(test)]
mod tests;
