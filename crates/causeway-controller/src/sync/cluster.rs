//! One member cluster's caches: ServiceExports, Services and the kube-controller-manager's
//! EndpointSlices, each a reflector store whose watch reconnects with back-off. Health follows
//! the watch streams: any error marks the member failing (since when), any event heals it.
//! Stores keep their last complete list while failing, so a broken watch never looks like
//! "nothing exported".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use causeway_api::ServiceExport;
use causeway_api::names::{LABEL_MANAGED_BY, MANAGED_BY_K8S};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Config};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A member's health.
#[derive(Debug, Default)]
pub struct Health {
    synced: [AtomicBool; 3],
    failing_since: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
}

impl Health {
    /// True once every store has completed its first list.
    pub fn synced(&self) -> bool {
        self.synced.iter().all(|s| s.load(Ordering::Relaxed))
    }

    /// How long the member has been failing, if it is.
    pub fn failing_for(&self) -> Option<Duration> {
        self.failing_since
            .lock()
            .ok()
            .and_then(|f| f.map(|t| t.elapsed()))
    }

    /// The last watch error, for status output.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn ok(&self) {
        if let Ok(mut f) = self.failing_since.lock() {
            *f = None;
        }
    }

    fn failed(&self, error: String) {
        if let Ok(mut f) = self.failing_since.lock() {
            f.get_or_insert_with(Instant::now);
        }
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(error);
        }
    }

    /// Marks the member failing before any watch started (bad credential, unreachable).
    pub fn fail_now(&self, error: String) {
        self.failed(error);
    }
}

/// The caches of one member.
pub struct ClusterWatch {
    /// Cluster id.
    pub id: String,
    /// Whether this is the local cluster.
    pub local: bool,
    /// ServiceExports.
    pub exports: Store<ServiceExport>,
    /// Services.
    pub services: Store<Service>,
    /// EndpointSlices made by kube-controller-manager.
    pub slices: Store<EndpointSlice>,
    /// Health.
    pub health: Arc<Health>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ClusterWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl ClusterWatch {
    /// Starts the watches of member `id`; every event pokes `notify`.
    pub fn start(
        id: String,
        local: bool,
        client: &kube::Client,
        namespace: Option<&str>,
        notify: &Arc<Notify>,
    ) -> Self {
        let health = Arc::new(Health::default());
        let (exports, w1) = reflector::store();
        let (services, w2) = reflector::store();
        let (slices, w3) = reflector::store();
        let cfg = Config::default();
        let s1 = reflector::reflector(
            w1,
            watcher::watcher(scoped::<ServiceExport>(client, namespace), cfg.clone())
                .modify(|o| o.metadata.managed_fields = None),
        );
        let s2 = reflector::reflector(
            w2,
            watcher::watcher(scoped::<Service>(client, namespace), cfg.clone()).modify(|o| {
                o.metadata.managed_fields = None;
                o.metadata.annotations = None;
            }),
        );
        let slice_cfg = cfg.labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY_K8S}"));
        let s3 = reflector::reflector(
            w3,
            watcher::watcher(scoped::<EndpointSlice>(client, namespace), slice_cfg).modify(|o| {
                o.metadata.managed_fields = None;
                o.metadata.annotations = None;
            }),
        );
        let tasks = vec![
            drive(s1, 0, &id, health.clone(), notify.clone()),
            drive(s2, 1, &id, health.clone(), notify.clone()),
            drive(s3, 2, &id, health.clone(), notify.clone()),
        ];
        Self {
            id,
            local,
            exports,
            services,
            slices,
            health,
            tasks,
        }
    }

    /// A member that could not even be connected to: no data, failing since now.
    pub fn unreachable(id: String, error: String) -> Self {
        let health = Arc::new(Health::default());
        health.fail_now(error);
        let (exports, _) = reflector::store();
        let (services, _) = reflector::store();
        let (slices, _) = reflector::store();
        Self {
            id,
            local: false,
            exports,
            services,
            slices,
            health,
            tasks: Vec::new(),
        }
    }
}

/// An API for all namespaces, or only `namespace`.
pub fn scoped<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn drive<K, S>(
    stream: S,
    slot: usize,
    cluster: &str,
    health: Arc<Health>,
    notify: Arc<Notify>,
) -> JoinHandle<()>
where
    K: Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let cluster = cluster.to_owned();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream.default_backoff());
        while let Some(event) = stream.next().await {
            match event {
                Ok(ev) => {
                    health.ok();
                    if matches!(ev, watcher::Event::InitDone) {
                        health.synced[slot].store(true, Ordering::Relaxed);
                    }
                }
                Err(err) => {
                    tracing::warn!(cluster = %cluster, error = %err, "watch of a member cluster failed; retrying");
                    health.failed(err.to_string());
                }
            }
            notify.notify_one();
        }
    })
}
