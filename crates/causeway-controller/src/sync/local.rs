//! This cluster's caches the sync compares against: its ServiceImports, its MCS EndpointSlices
//! (label `LABEL_SYNCED`, so only the sync's), the MCS EndpointSlices no causeway wrote (by
//! `FOREIGN_SLICE_SELECTOR`; only reported, never written) and its namespaces' metadata.
//!
//! Data flow: [`Local::start`] runs one reflector per kind; every event pokes the engine's
//! `Notify`, so a pass follows each change, and the first complete list of each sets a flag, so
//! no pass runs before all four are known ([`Local::synced`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use causeway_api::ServiceImport;
use causeway_api::names::LABEL_SYNCED;
use causeway_core::mcs_slice::FOREIGN_SLICE_SELECTOR;
use causeway_runtime::timeouts::watch_config;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use tokio::sync::Notify;

use super::cluster::scoped;

/// Local caches the engine compares against.
pub struct Local {
    /// ServiceImports.
    pub imports: Store<ServiceImport>,
    /// The sync's MCS EndpointSlices.
    pub slices: Store<EndpointSlice>,
    /// MCS EndpointSlices no causeway wrote.
    pub foreign_slices: Store<EndpointSlice>,
    /// Namespaces (metadata only).
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    synced: Arc<[AtomicBool; 4]>,
}

impl Local {
    /// Whether every cache completed its first list.
    pub fn synced(&self) -> bool {
        self.synced.iter().all(|s| s.load(Ordering::Relaxed))
    }
}

/// Pokes `notify` on every event and records the first complete list in `synced[slot]`.
fn on_event<K>(
    notify: &Arc<Notify>,
    synced: &Arc<[AtomicBool; 4]>,
    slot: usize,
) -> impl FnMut(Result<watcher::Event<K>, watcher::Error>) -> futures::future::Ready<()> + use<K> {
    let (notify, synced) = (notify.clone(), synced.clone());
    move |ev| {
        if matches!(ev, Ok(watcher::Event::InitDone)) {
            synced[slot].store(true, Ordering::Relaxed);
        }
        notify.notify_one();
        futures::future::ready(())
    }
}

impl Local {
    /// Starts the reflectors (all namespaces, or only `namespace`); `notify` is poked on every
    /// event.
    pub fn start(client: &kube::Client, namespace: Option<&str>, notify: &Arc<Notify>) -> Self {
        let (imports, w1) = reflector::store();
        let (slices, w2) = reflector::store();
        let (namespaces, w3) = reflector::store();
        let (foreign_slices, w4) = reflector::store();
        let synced: Arc<[AtomicBool; 4]> = Arc::default();
        let s1 = reflector::reflector(
            w1,
            watcher::watcher(scoped::<ServiceImport>(client, namespace), watch_config())
                .modify(|o| o.metadata.managed_fields = None),
        )
        .backoff(causeway_runtime::backoff::watch())
        .for_each(on_event(notify, &synced, 0));
        let s2 = reflector::reflector(
            w2,
            watcher::watcher(
                scoped::<EndpointSlice>(client, namespace),
                watch_config().labels(LABEL_SYNCED),
            )
            .modify(|o| o.metadata.managed_fields = None),
        )
        .backoff(causeway_runtime::backoff::watch())
        .for_each(on_event(notify, &synced, 1));
        let s3 = reflector::reflector(
            w3,
            watcher::watcher(
                Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
                watch_config(),
            ),
        )
        .backoff(causeway_runtime::backoff::watch())
        .for_each(on_event(notify, &synced, 2));
        let s4 = reflector::reflector(
            w4,
            watcher::watcher(
                scoped::<EndpointSlice>(client, namespace),
                watch_config().labels(FOREIGN_SLICE_SELECTOR),
            )
            .modify(|o| o.metadata.managed_fields = None),
        )
        .backoff(causeway_runtime::backoff::watch())
        .for_each(on_event(notify, &synced, 3));
        tokio::spawn(s1);
        tokio::spawn(s2);
        tokio::spawn(s3);
        tokio::spawn(s4);
        Local {
            imports,
            slices,
            foreign_slices,
            namespaces,
            synced,
        }
    }
}
