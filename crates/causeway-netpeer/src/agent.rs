//! The node agent (`causeway netpeer run`): the peer cluster's Nodes in, this node's routing
//! state kept right.
//!
//! Flow: a kube watcher on the peer cluster's Nodes (reconnecting with the default backoff) →
//! [`PeerIndex`] (a re-list replaces it only once complete; watch errors never remove a peer) →
//! [`parse_peers`] + [`desired_state`] → a `watch` channel → [`keep_reconciled`] on the
//! [`NetlinkDataplane`] (link events, desired-state changes and a periodic resync all reconcile).
//! Nothing touches the dataplane before the first complete list, so a restarting agent never
//! flushes entries it is about to re-add. Readiness ([`crate::health`]) is raised once that
//! first list is done and the last reconcile succeeded; it drops while a reconcile fails (e.g.
//! `flannel.1` missing, VNI mismatch) and comes back once the node is fixed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::dataplane::NetlinkDataplane;
use crate::desired::{Desired, LocalConfig, desired_state};
use crate::error::{Error, Result};
use crate::health::{Health, ReasonLabel, set_rejected};
use crate::index::PeerIndex;
use crate::peer::parse_peers;
use crate::watch::keep_reconciled;

/// The agent's metrics (registered under the `netpeer` prefix).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Peer nodes with entries in the desired state.
    pub peers: Gauge,
    /// Peer nodes rejected, per reason (bad annotations, overlapping or foreign CIDRs, VNI
    /// mismatch); each rejected Node is logged by name with the fix.
    pub rejected_peers: Family<ReasonLabel, Gauge>,
    /// 1 for the reason of this node's current configuration error (missing `flannel.1`, VNI or
    /// UDP port mismatch, no firewall tool), 0 for past ones.
    pub config_error: Family<ReasonLabel, Gauge>,
    /// Failed reconciles, per reason.
    pub reconcile_errors: Family<ReasonLabel, Counter>,
    /// Completed lists of the peer cluster's Nodes.
    pub relists: Counter,
    /// Errors of the peer Node watch (each followed by a backoff and a re-list).
    pub watch_errors: Counter,
    /// Desired-state changes handed to the reconciler.
    pub desired_updates: Counter,
}

impl Metrics {
    /// Registers the metrics in `registry` (pass `registry.sub_registry_with_prefix("netpeer")`).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register("peers", "Peer nodes in the desired state", m.peers.clone());
        registry.register(
            "rejected_peers",
            "Peer nodes rejected by validation, per reason (see the agent log for each node and the fix)",
            m.rejected_peers.clone(),
        );
        registry.register(
            "config_error",
            "1 while this node's configuration keeps netpeer from reconciling, per reason (see the agent log for the fix)",
            m.config_error.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles, per reason",
            m.reconcile_errors.clone(),
        );
        registry.register(
            "relists",
            "Completed lists of the peer cluster's Nodes",
            m.relists.clone(),
        );
        registry.register(
            "watch_errors",
            "Errors of the peer Node watch",
            m.watch_errors.clone(),
        );
        registry.register(
            "desired_updates",
            "Desired-state changes handed to the reconciler",
            m.desired_updates.clone(),
        );
        m
    }
}

/// What the agent needs besides the peer client.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Local cluster facts.
    pub local: LocalConfig,
    /// This node's name (for logs).
    pub node_name: String,
    /// Periodic resync of the dataplane.
    pub resync: Duration,
}

/// Computes the desired state from the index, logging rejected peers when the set changes.
pub fn desired_from(
    config: &LocalConfig,
    index: &PeerIndex,
    last_rejected: &mut BTreeSet<String>,
) -> Result<Desired> {
    let parsed = parse_peers(&index.nodes(), config.vni);
    let mut desired = desired_state(config, parsed.peers)?;
    let mut rejected = parsed.rejected;
    rejected.append(&mut desired.rejected);
    let now: BTreeSet<String> = rejected.iter().map(ToString::to_string).collect();
    if &now != last_rejected {
        for err in &rejected {
            warn!(
                error = err as &dyn std::error::Error,
                reason = err.metric_label(),
                "peer node rejected"
            );
        }
        *last_rejected = now;
    }
    desired.rejected = rejected;
    Ok(desired)
}

/// Runs the agent until the Node watch stream ends or the reconciler fails.
pub async fn run(
    peer: kube::Client,
    config: AgentConfig,
    metrics: Metrics,
    ready: watch::Sender<bool>,
) -> Result<()> {
    let AgentConfig {
        local,
        node_name,
        resync,
    } = config;
    // Fails early on overlapping cluster CIDRs, before any watch.
    desired_state(&local, Vec::new())?;
    let health = Health::new(
        &node_name,
        ready,
        metrics.config_error.clone(),
        metrics.reconcile_errors.clone(),
    );
    let mut rejected_reasons = BTreeSet::new();
    let api: Api<Node> = Api::all(peer);
    let mut events = watcher(api, causeway_runtime::timeouts::watch_config())
        .backoff(causeway_runtime::backoff::WatchBackoff::new(
            causeway_runtime::backoff::NODE_AGENT_MAX,
        ))
        .modify(|n: &mut Node| {
            n.metadata.managed_fields = None;
        })
        .boxed();
    let mut index = PeerIndex::default();
    let mut last_rejected = BTreeSet::new();
    let mut sender: Option<watch::Sender<Arc<Desired>>> = None;
    let mut reconciler: Option<tokio::task::JoinHandle<Result<()>>> = None;
    loop {
        let reconciler_done = async {
            match reconciler.as_mut() {
                Some(handle) => handle.await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            event = events.next() => event,
            done = reconciler_done => {
                return match done {
                    Ok(result) => result,
                    Err(join) => Err(Error::ReconcilerStopped(Box::new(join))),
                };
            }
        };
        let Some(event) = event else {
            return Err(Error::WatchEnded);
        };
        let changed = apply_event(&mut index, event, &metrics);
        if !changed || !index.synced() {
            continue;
        }
        let desired = Arc::new(desired_from(&local, &index, &mut last_rejected)?);
        let accepted = index.len().saturating_sub(desired.rejected.len());
        metrics
            .peers
            .set(i64::try_from(accepted).unwrap_or(i64::MAX));
        set_rejected(
            &metrics.rejected_peers,
            &desired.rejected,
            &mut rejected_reasons,
        );
        if let Some(tx) = &sender {
            let modified = tx.send_if_modified(|current| {
                if current.state == desired.state {
                    return false;
                }
                *current = Arc::clone(&desired);
                true
            });
            if modified {
                metrics.desired_updates.inc();
                info!(node = %node_name, peers = accepted, "peer set changed");
            }
            continue;
        }
        let (tx, rx) = watch::channel(Arc::clone(&desired));
        metrics.desired_updates.inc();
        let span = info_span!("reconciler", node = %node_name);
        let reconciler_health = health.clone();
        reconciler = Some(tokio::spawn(
            async move {
                let mut dataplane = NetlinkDataplane::connect()?;
                keep_reconciled(&mut dataplane, rx, resync, &reconciler_health).await
            }
            .instrument(span),
        ));
        sender = Some(tx);
        health.listed();
        info!(node = %node_name, peers = accepted, "peer nodes synced; reconciling");
    }
}

/// Feeds one watch event into the index; true when the peer set may have changed.
fn apply_event(
    index: &mut PeerIndex,
    event: std::result::Result<watcher::Event<Node>, watcher::Error>,
    metrics: &Metrics,
) -> bool {
    match event {
        Ok(watcher::Event::Init) => {
            index.begin_relist();
            false
        }
        Ok(watcher::Event::InitApply(node)) => {
            index.relist_apply(node);
            false
        }
        Ok(watcher::Event::InitDone) => {
            let removed = index.finish_relist();
            metrics.relists.inc();
            info!(
                peers = index.len(),
                removed = removed.len(),
                "peer nodes listed"
            );
            true
        }
        Ok(watcher::Event::Apply(node)) => {
            debug!(
                node = node.metadata.name.as_deref().unwrap_or(""),
                "peer node changed"
            );
            index.apply(node)
        }
        Ok(watcher::Event::Delete(node)) => {
            let name = node.metadata.name.unwrap_or_default();
            info!(node = %name, "peer node deleted");
            index.delete(&name)
        }
        Err(err) => {
            metrics.watch_errors.inc();
            warn!(
                error = &err as &dyn std::error::Error,
                "peer node watch failed; keeping the current peers and retrying"
            );
            false
        }
    }
}
