//! What every reconcile shares: the client, the caches, leadership, events and metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use causeway_api::ServiceImport;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::slice_index::SliceIndex;
use crate::writer::Writer;

/// Shared reconcile context.
pub struct Context {
    /// Client of the local cluster.
    pub client: kube::Client,
    /// Writes to the local cluster (field manager `causeway-controller`) while this replica
    /// leads; each reconcile takes its own [`Writer::session`].
    pub writer: Writer,
    /// ServiceImports.
    pub imports: Store<ServiceImport>,
    /// Derived Services (label-selected).
    pub services: Store<Service>,
    /// MCS EndpointSlices (label-selected), indexed by import.
    pub slices: Arc<SliceIndex>,
    /// True while this replica leads.
    pub is_leader: watch::Receiver<bool>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Metrics,
    /// Consecutive failures per import, for back-off.
    pub failures: Mutex<HashMap<ObjectRef<ServiceImport>, u32>>,
    /// True once the import, Service and slice caches completed their first list; before that
    /// a missing derived Service may only be not-yet-seen, so nothing is written.
    pub caches_synced: std::sync::atomic::AtomicBool,
    /// Writes this replica made that its cache may not show yet, so a reconcile racing its own
    /// watch event does not write the same thing twice.
    pub written: Mutex<HashMap<(&'static str, String, String), Written>>,
}

/// One write: the resourceVersion it was based on, what it set, and what came back.
#[derive(Clone, Debug)]
pub struct Written {
    base: String,
    desired: Digest,
    after: After,
    at: Instant,
}

/// SHA-256 of what a write set: the record keeps 32 bytes, not the patch.
type Digest = [u8; 32];

fn digest(desired: &str) -> Digest {
    Sha256::digest(desired.as_bytes()).into()
}

/// A recorded write bridges only the moment until the watch delivers it; an older record is not
/// trusted (a watch that relisted may have missed a deletion).
const WRITE_MEMORY: Duration = Duration::from_secs(10);

/// What a write returned that later steps of a reconcile build on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct After {
    /// The object's generation after the write.
    pub generation: Option<i64>,
    /// The object's resourceVersion after the write.
    pub resource_version: String,
    /// Cluster IPs and IP families (derived Services only).
    pub addresses: Option<(Vec<String>, Vec<String>)>,
}

impl Context {
    /// True while this replica may write.
    pub fn leads(&self) -> bool {
        *self.is_leader.borrow()
    }

    /// What the write returned, when this replica already wrote `desired` on top of
    /// resourceVersion `base` and the cache still shows `base`: the write is done, only not yet
    /// observed, and the next step must build on its result rather than on the cache.
    pub fn pending_write(
        &self,
        what: &'static str,
        ns: &str,
        name: &str,
        base: &str,
        desired: &str,
    ) -> Option<After> {
        let written = self.written.lock().ok()?;
        let w = written.get(&(what, ns.to_owned(), name.to_owned()))?;
        (w.base == base && w.desired == digest(desired) && w.at.elapsed() < WRITE_MEMORY)
            .then(|| w.after.clone())
    }

    /// Drops what was recorded for an object that is gone: a derived Service deleted after this
    /// replica created it must be created again, although the cache shows "absent" as before.
    pub fn forget_write(&self, what: &'static str, ns: &str, name: &str) {
        if let Ok(mut written) = self.written.lock() {
            written.remove(&(what, ns.to_owned(), name.to_owned()));
        }
    }

    /// The watch delivered `ns/name` at resourceVersion `rv`: records of writes based on another
    /// version can never match again (the cache moved on), so they are dropped. This keeps the
    /// map down to the writes still in flight.
    pub fn observed(&self, kinds: &[&'static str], ns: &str, name: &str, rv: &str) {
        if let Ok(mut written) = self.written.lock() {
            for what in kinds {
                let key = (*what, ns.to_owned(), name.to_owned());
                if written.get(&key).is_some_and(|w| w.base != rv) {
                    written.remove(&key);
                }
            }
        }
    }

    /// True when the cache holds a newer version of `import` than both the snapshot this
    /// reconcile works from and `base`, the version its next write builds on: that newer version
    /// has its own reconcile coming, and writing from the stale snapshot could only repeat or
    /// undo it.
    pub fn import_moved_on(&self, import: &ServiceImport, base: &str) -> bool {
        let Some(cached) = self.imports.get(&ObjectRef::from_obj(import)) else {
            return false;
        };
        let cached = cached.resource_version().unwrap_or_default();
        cached != import.resource_version().unwrap_or_default() && cached != base
    }

    /// Records a write made on top of resourceVersion `base`.
    pub fn record_write(
        &self,
        what: &'static str,
        ns: &str,
        name: &str,
        base: &str,
        desired: &str,
        after: After,
    ) {
        if let Ok(mut written) = self.written.lock() {
            // Entries only bridge the moment until the watch catches up: drop expired ones now
            // and then, so the map holds about the last WRITE_MEMORY of writes.
            if written.len() >= 1024 && written.len().is_power_of_two() {
                written.retain(|_, w| w.at.elapsed() < WRITE_MEMORY);
            }
            written.insert(
                (what, ns.to_owned(), name.to_owned()),
                Written {
                    base: base.to_owned(),
                    desired: digest(desired),
                    after,
                    at: Instant::now(),
                },
            );
        }
    }

    /// Publishes an event about `import`; failures are logged, never fatal.
    pub async fn event(
        &self,
        import: &ServiceImport,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        if !self.leads() {
            return;
        }
        let ev = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&ev, &import.object_ref(&())).await {
            tracing::warn!(namespace = %import.namespace().unwrap_or_default(), name = %import.name_any(), error = %err, "failed to publish event");
        }
    }
}
