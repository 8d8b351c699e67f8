//! The feed: thin I/O from the Kubernetes API into the [`index`].
//!
//! [`run_feed`] watches `v1beta1` `ServiceImports` in all namespaces and the `EndpointSlices` that
//! carry `multicluster.kubernetes.io/service-name`, converts each object to plain data
//! ([`ImportData`] plus the import's own [`ImportStatus`], [`SliceData`]) and applies it. A (re)list (`Init`, `InitApply`…, `InitDone`)
//! is buffered and applied as one `reset_*`, so objects deleted while the watch was down
//! disappear. Once both kinds have completed their first list, the readiness flag turns `true`
//! and stays so. The event handling lives in [`Feed`], which is synchronous and tested without
//! an apiserver.

use std::pin::pin;

use causeway_api::ServiceImport;
use causeway_api::names::LABEL_SERVICE_NAME;
use futures::{StreamExt, future::Either, stream};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::index::{self, ImportData, ImportStatus, Index, SharedIndex, SliceData};

#[cfg(test)]
mod tests;

/// Watches `ServiceImports` and MCS `EndpointSlices` and applies them to `index` until a watch
/// ends (which it never should: watch errors are retried with backoff). `ready` becomes `true`
/// after the initial list of both kinds has been applied.
pub async fn run_feed(
    client: kube::Client,
    index: SharedIndex,
    ready: watch::Sender<bool>,
) -> Result<()> {
    let imports = watcher(
        Api::<ServiceImport>::all(client.clone()),
        causeway_runtime::timeouts::watch_config(),
    )
    .backoff(causeway_runtime::backoff::watch())
    .map(Either::Left);
    let slices = watcher(
        Api::<EndpointSlice>::all(client),
        causeway_runtime::timeouts::watch_config().labels(LABEL_SERVICE_NAME),
    )
    .backoff(causeway_runtime::backoff::watch())
    .map(Either::Right);
    let mut events = pin!(stream::select(imports, slices));
    let mut feed = Feed::default();
    while let Some(event) = events.next().await {
        let newly_ready = match event {
            Either::Left(Ok(event)) => feed.on_import(&index, event),
            Either::Right(Ok(event)) => feed.on_slice(&index, event),
            Either::Left(Err(error)) | Either::Right(Err(error)) => {
                warn!(
                    error = &error as &dyn std::error::Error,
                    "watch failed; retrying"
                );
                false
            }
        };
        if newly_ready {
            info!(
                services = index::read(&index).len(),
                "initial ServiceImport and EndpointSlice lists applied; DNS ready"
            );
            ready.send_replace(true);
        }
    }
    Err(Error::WatchEnded {
        kind: "ServiceImport/EndpointSlice",
    })
}

/// `(namespace, name, data)` as buffered during a relist.
type Item<T> = (String, String, T);

/// Watch-event handling for both kinds: relist buffers and the initial-sync state.
#[derive(Debug, Default)]
pub struct Feed {
    imports: Relist<(ImportData, ImportStatus)>,
    slices: Relist<SliceData>,
    ready: bool,
}

/// The relist buffer of one kind.
#[derive(Debug)]
struct Relist<T> {
    /// `Some` between `Init` and `InitDone`.
    buffer: Option<Vec<Item<T>>>,
    /// Whether a first `InitDone` was seen.
    synced: bool,
}

impl<T> Default for Relist<T> {
    fn default() -> Self {
        Self {
            buffer: None,
            synced: false,
        }
    }
}

impl<T> Relist<T> {
    /// Handles one event: `Some(items)` when a relist completed and should replace the index
    /// contents; otherwise the event was buffered, or `apply`/`delete` should be called.
    fn on_event<K: ResourceExt>(
        &mut self,
        event: watcher::Event<K>,
        convert: impl Fn(&K) -> Option<T>,
        index: &mut Index,
        apply: impl Fn(&mut Index, &str, &str, Option<T>),
    ) -> Option<Vec<Item<T>>> {
        match event {
            watcher::Event::Init => {
                self.buffer = Some(Vec::new());
                None
            }
            watcher::Event::InitApply(obj) => {
                if let Some(data) = convert(&obj) {
                    let item = (obj.namespace().unwrap_or_default(), obj.name_any(), data);
                    self.buffer.get_or_insert_with(Vec::new).push(item);
                }
                None
            }
            watcher::Event::InitDone => {
                self.synced = true;
                Some(self.buffer.take().unwrap_or_default())
            }
            watcher::Event::Apply(obj) => {
                let ns = obj.namespace().unwrap_or_default();
                apply(index, &ns, &obj.name_any(), convert(&obj));
                None
            }
            watcher::Event::Delete(obj) => {
                let ns = obj.namespace().unwrap_or_default();
                apply(index, &ns, &obj.name_any(), None);
                None
            }
        }
    }
}

impl Feed {
    /// Applies one `ServiceImport` event; returns `true` exactly once, when both kinds have
    /// completed their initial list.
    pub fn on_import(&mut self, index: &SharedIndex, event: watcher::Event<ServiceImport>) -> bool {
        let mut guard = index::write(index);
        let relisted = self.imports.on_event(
            event,
            |obj| Some((ImportData::from(obj), ImportStatus::from(obj))),
            &mut guard,
            |index, ns, name, data| match data {
                Some((data, status)) => {
                    index.apply_import(ns, name, data);
                    index.observe_import(ns, name, status);
                }
                None => index.delete_import(ns, name),
            },
        );
        if let Some(items) = relisted {
            let mut statuses = Vec::with_capacity(items.len());
            let imports: Vec<_> = items
                .into_iter()
                .map(|(ns, name, (data, status))| {
                    statuses.push((ns.clone(), name.clone(), status));
                    (ns, name, data)
                })
                .collect();
            guard.reset_imports(imports);
            for (ns, name, status) in statuses {
                guard.observe_import(&ns, &name, status);
            }
        }
        drop(guard);
        self.check_ready()
    }

    /// Applies one `EndpointSlice` event; a slice DNS cannot use (no MCS labels, FQDN) is treated
    /// as deleted. Returns `true` exactly once, as [`Feed::on_import`].
    pub fn on_slice(&mut self, index: &SharedIndex, event: watcher::Event<EndpointSlice>) -> bool {
        let mut guard = index::write(index);
        let relisted = self.slices.on_event(
            event,
            SliceData::from_endpoint_slice,
            &mut guard,
            |index, ns, name, data| match data {
                Some(data) => index.apply_slice(ns, name, data),
                None => index.delete_slice(ns, name),
            },
        );
        if let Some(items) = relisted {
            guard.reset_slices(items);
        }
        drop(guard);
        self.check_ready()
    }

    /// Whether both kinds have completed an initial list.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    fn check_ready(&mut self) -> bool {
        if !self.ready && self.imports.synced && self.slices.synced {
            self.ready = true;
            return true;
        }
        false
    }
}
