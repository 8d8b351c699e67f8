//! One member cluster's caches: ServiceExports, Services, the Services' own EndpointSlices
//! ([`source_slices`]: the kube-controller-manager's, the mirroring controller's for selector-less
//! Services with Endpoints, or any other controller's, never an MCS slice) and the
//! ClusterProperties (its id and clusterset membership), each a reflector
//! store whose watch reconnects with back-off. Health follows
//! the watch streams: an error marks the member failing (since when, and why, classified by
//! [`super::failure`]; `410 Gone` is only a relist), any event heals it.
//! Stores keep their last complete list while failing, so a broken watch never looks like
//! "nothing exported".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use causeway_api::names::{
    LABEL_K8S_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY_CAUSEWAY,
    PROPERTY_CLUSTERSET,
};
use causeway_api::{ClusterProperty, ServiceExport};
use causeway_runtime::timeouts::watch_config;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::failure::MemberFailure;
use super::membership::Clusterset;
use super::received::SliceChanges;

/// Label selector of a member's source EndpointSlices: a Service's own slices, whoever manages
/// them (kube-controller-manager, endpointslicemirroring for selector-less Services with manual
/// Endpoints, a custom controller), but no MCS slice (causeway's or hand-made, both carry
/// `multicluster.kubernetes.io/service-name`) and nothing causeway wrote.
pub fn source_slices() -> String {
    format!(
        "{LABEL_K8S_SERVICE_NAME},!{LABEL_SERVICE_NAME},{LABEL_MANAGED_BY}!={MANAGED_BY_CAUSEWAY}"
    )
}

/// A member's health.
#[derive(Debug, Default)]
pub struct Health {
    synced: [AtomicBool; 4],
    failing: Mutex<Option<Failing>>,
}

/// A member failing since some moment, for one classified reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failing {
    /// When the failure began (monotonic: the grace period counts from here).
    pub since: Instant,
    /// The same moment on the wall clock (shown in conditions).
    pub since_wall: Timestamp,
    /// What is wrong: the first error of the current reason, so repeated retries failing the
    /// same way keep the same text.
    pub failure: MemberFailure,
}

impl Health {
    /// True once every store has completed its first list.
    pub fn synced(&self) -> bool {
        self.synced.iter().all(|s| s.load(Ordering::Relaxed))
    }

    /// True once the ServiceExports completed a list on this connection: from then on the store
    /// holds a complete list (the last one while failing).
    pub fn exports_listed(&self) -> bool {
        self.synced[0].load(Ordering::Relaxed)
    }

    /// True once the ClusterProperties completed a list on this connection.
    pub fn properties_listed(&self) -> bool {
        self.synced[3].load(Ordering::Relaxed)
    }

    /// How long the member has been failing, if it is.
    pub fn failing_for(&self) -> Option<Duration> {
        self.failing().map(|f| f.since.elapsed())
    }

    /// The current failure, if the member is failing.
    pub fn failing(&self) -> Option<Failing> {
        self.failing.lock().ok().and_then(|f| f.clone())
    }

    fn ok(&self) {
        if let Ok(mut f) = self.failing.lock() {
            *f = None;
        }
    }

    /// Marks the member failing (bad credential, unreachable, a broken watch). A failure of the
    /// same reason keeps the first detail; the start of the failure never moves while it lasts.
    pub fn fail(&self, failure: MemberFailure) {
        if let Ok(mut f) = self.failing.lock() {
            match f.as_mut() {
                Some(current) if current.failure.reason == failure.reason => {}
                Some(current) => current.failure = failure,
                None => {
                    *f = Some(Failing {
                        since: Instant::now(),
                        since_wall: Timestamp::now(),
                        failure,
                    });
                }
            }
        }
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
    /// The Services' own EndpointSlices ([`source_slices`]).
    pub slices: Store<EndpointSlice>,
    /// When changes of those slices arrived, until a pass consumes them.
    pub changes: Arc<SliceChanges>,
    /// ClusterProperties (cluster-scoped, a handful).
    pub properties: Store<ClusterProperty>,
    /// Health.
    pub health: Arc<Health>,
    /// When the watches started (a member not synced since then long enough is expired).
    pub started: Instant,
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
        let (properties, w4) = reflector::store();
        let cfg = watch_config();
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
        let slice_cfg = cfg.labels(&source_slices());
        let changes = Arc::new(SliceChanges::default());
        let record = changes.clone();
        let s3 = reflector::reflector(
            w3,
            watcher::watcher(scoped::<EndpointSlice>(client, namespace), slice_cfg).modify(|o| {
                o.metadata.managed_fields = None;
                o.metadata.annotations = None;
            }),
        )
        .inspect(move |ev| match ev {
            Ok(watcher::Event::Apply(s)) => {
                record.record(
                    &s.namespace().unwrap_or_default(),
                    &s.name_any(),
                    Instant::now(),
                );
            }
            Ok(watcher::Event::Delete(s)) => {
                record.forget(&s.namespace().unwrap_or_default(), &s.name_any());
            }
            _ => {}
        });
        let s4 = reflector::reflector(
            w4,
            watcher::watcher(Api::<ClusterProperty>::all(client.clone()), watch_config())
                .modify(|o| o.metadata.managed_fields = None),
        );
        let tasks = vec![
            drive(s1, 0, &id, health.clone(), notify.clone()),
            drive(s2, 1, &id, health.clone(), notify.clone()),
            drive(s3, 2, &id, health.clone(), notify.clone()),
            drive(s4, 3, &id, health.clone(), notify.clone()),
        ];
        Self {
            id,
            local,
            exports,
            services,
            slices,
            changes,
            properties,
            health,
            started: Instant::now(),
            tasks,
        }
    }

    /// A member without watches (not connected yet, or its connection failed): no data. `id`
    /// is its last known cluster id (so what it contributed stays held during the grace period)
    /// or a placeholder.
    pub fn placeholder(id: String) -> Self {
        let (exports, _) = reflector::store();
        let (services, _) = reflector::store();
        let (slices, _) = reflector::store();
        let (properties, _) = reflector::store();
        Self {
            id,
            local: false,
            exports,
            services,
            slices,
            changes: Arc::default(),
            properties,
            health: Arc::new(Health::default()),
            started: Instant::now(),
            tasks: Vec::new(),
        }
    }

    /// The member's clusterset (ClusterProperty `clusterset.k8s.io`): unknown until the
    /// properties listed on this connection.
    pub fn clusterset(&self) -> Clusterset<String> {
        if !self.health.properties_listed() {
            return Clusterset::Unknown;
        }
        self.properties
            .get(&ObjectRef::new(PROPERTY_CLUSTERSET))
            .map_or(Clusterset::Absent, |p| {
                Clusterset::Named(p.spec.value.clone())
            })
    }

    /// Whether this member has live watches (it connected).
    pub fn connected(&self) -> bool {
        !self.tasks.is_empty()
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
        let mut stream = std::pin::pin!(stream.backoff(causeway_runtime::backoff::watch()));
        while let Some(event) = stream.next().await {
            match event {
                Ok(ev) => {
                    health.ok();
                    if matches!(ev, watcher::Event::InitDone) {
                        health.synced[slot].store(true, Ordering::Relaxed);
                    }
                }
                Err(err) => match MemberFailure::watch(&err) {
                    Some(failure) => {
                        tracing::warn!(cluster = %cluster, reason = failure.reason.as_str(), error = %failure.detail, "watch of a member cluster failed; retrying");
                        health.fail(failure);
                    }
                    None => {
                        tracing::debug!(cluster = %cluster, error = %err, "watch of a member cluster restarts from a fresh list");
                    }
                },
            }
            notify.notify_one();
        }
    })
}
