//! Controller metrics, registered under `causeway_controller_*`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label: an error reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// From `Error::metric_label`.
    pub reason: &'static str,
}

/// Label: the kind of object written.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `service`, `serviceimport`, `serviceimport_status`, `endpointslice`.
    pub kind: &'static str,
}

/// The controller's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Reconciles run.
    pub reconciles: Counter,
    /// Reconcile errors by reason.
    pub errors: Family<ReasonLabel, Counter>,
    /// Reconcile duration.
    pub duration: Histogram,
    /// Imports in the cache.
    pub imports: Gauge,
    /// 1 while this replica leads.
    pub leader: Gauge,
    /// API writes by kind.
    pub writes: Family<KindLabel, Counter>,
    /// Per member cluster: 1 while its watches are synced and healthy and it takes part.
    pub peers: Family<ClusterLabel, Gauge>,
    /// Sync passes that ran to the end (every member listed or failed; compared and wrote).
    pub sync_passes: Counter,
    /// How long a sync pass took, from the wake-up (an event or the 2 s tick) to its last write.
    pub sync_pass_duration: Histogram,
    /// From a member's source EndpointSlice change reaching this controller to the write of the
    /// MCS slice carrying it.
    pub sync_slice_latency: Histogram,
    /// 1 while this cluster has a ClusterProperty `clusterset.k8s.io` (a clusterset member), 0
    /// while it has none (the sync is paused), -1 until known.
    pub clusterset_member: Gauge,
}

/// Label: a member cluster id.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabel {
    /// Cluster id.
    pub cluster: String,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry` (already prefixed by the caller).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            reconciles: Counter::default(),
            errors: Family::default(),
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            imports: Gauge::default(),
            leader: Gauge::default(),
            writes: Family::default(),
            peers: Family::default(),
            sync_passes: Counter::default(),
            sync_pass_duration: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            sync_slice_latency: Histogram::new(exponential_buckets(0.005, 2.0, 13)),
            clusterset_member: Gauge::default(),
        };
        m.clusterset_member.set(-1);
        registry.register(
            "reconciles",
            "ServiceImport reconciles run",
            m.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconcile errors by reason",
            m.errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            m.duration.clone(),
        );
        registry.register(
            "serviceimports",
            "ServiceImports managed",
            m.imports.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the Lease",
            m.leader.clone(),
        );
        registry.register(
            "api_writes",
            "Writes to the Kubernetes API by kind",
            m.writes.clone(),
        );
        registry.register(
            "peer_up",
            "Per member cluster: 1 while it is synced, healthy and in this clusterset",
            m.peers.clone(),
        );
        registry.register(
            "sync_passes",
            "Sync passes that ran to the end (every member listed or failed)",
            m.sync_passes.clone(),
        );
        registry.register(
            "sync_pass_duration_seconds",
            "Sync pass duration, from the wake-up (a change or the 2 s tick) to the last write",
            m.sync_pass_duration.clone(),
        );
        registry.register(
            "sync_slice_latency_seconds",
            "From a member's EndpointSlice change arriving on this controller's watch to the write of the MCS slice carrying it",
            m.sync_slice_latency.clone(),
        );
        registry.register(
            "clusterset_member",
            "1 while this cluster has ClusterProperty clusterset.k8s.io, 0 while it has none (sync paused: run `causeway join`), -1 until known",
            m.clusterset_member.clone(),
        );
        m
    }

    /// Records a member's health.
    pub fn peer_up(&self, cluster: &str, up: bool) {
        self.peers
            .get_or_create(&ClusterLabel {
                cluster: cluster.to_owned(),
            })
            .set(i64::from(up));
    }

    /// Counts one write of `kind`.
    pub fn wrote(&self, kind: &'static str) {
        self.writes.get_or_create(&KindLabel { kind }).inc();
    }
}
