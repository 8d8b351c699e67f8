//! The agent's conditions, as metrics and readiness.
//!
//! Flow: the agent reports "peer Nodes listed" ([`Health::listed`]) and the rejected peers
//! ([`set_rejected`] → `causeway_netpeer_rejected_peers{reason}`); the reconciler reports every
//! outcome ([`Health::reconciled`] → `causeway_netpeer_config_error{reason}` for a node
//! configuration error such as a missing `flannel.1` or a VNI/port mismatch, and
//! `causeway_netpeer_reconcile_errors_total{reason}` for every failure). Readiness
//! ([`is_ready`], pure) is true while the peer Nodes are listed and the last reconcile succeeded,
//! so `/readyz` turns false while a configuration error persists and true again once it is fixed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;

use crate::error::Error;

/// `{reason="…"}`: an [`Error::metric_label`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The error kind, e.g. `vni_mismatch`.
    pub reason: String,
}

impl ReasonLabel {
    fn new(reason: &str) -> Self {
        Self {
            reason: reason.to_owned(),
        }
    }
}

/// Rejected peers per reason. Pure.
pub fn rejected_by_reason(rejected: &[Error]) -> BTreeMap<&'static str, i64> {
    let mut counts = BTreeMap::new();
    for err in rejected {
        *counts.entry(err.metric_label()).or_insert(0) += 1;
    }
    counts
}

/// Sets `gauge` to the rejected peers per reason; reasons in `seen` that are gone drop to 0.
pub fn set_rejected(
    gauge: &Family<ReasonLabel, Gauge>,
    rejected: &[Error],
    seen: &mut BTreeSet<&'static str>,
) {
    let counts = rejected_by_reason(rejected);
    for reason in seen.iter() {
        if !counts.contains_key(reason) {
            gauge.get_or_create(&ReasonLabel::new(reason)).set(0);
        }
    }
    for (reason, count) in &counts {
        gauge.get_or_create(&ReasonLabel::new(reason)).set(*count);
        seen.insert(reason);
    }
}

/// What readiness depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    /// The peer cluster's Nodes were listed once.
    pub listed: bool,
    /// The last reconcile succeeded (`None`: none finished yet).
    pub last_ok: Option<bool>,
    /// The node configuration error of the last reconcile, if any.
    pub config_error: Option<&'static str>,
}

/// Ready: listed, and the last reconcile succeeded. Pure.
pub fn is_ready(c: &Condition) -> bool {
    c.listed && c.last_ok == Some(true)
}

/// One agent's condition, shared by the Node watch and the reconciler.
#[derive(Clone, Debug)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: String,
    ready: watch::Sender<bool>,
    condition: Mutex<Condition>,
    config_error: Family<ReasonLabel, Gauge>,
    reconcile_errors: Family<ReasonLabel, Counter>,
}

impl Health {
    /// Reports readiness to `ready` and errors to the two metric families.
    pub fn new(
        node: &str,
        ready: watch::Sender<bool>,
        config_error: Family<ReasonLabel, Gauge>,
        reconcile_errors: Family<ReasonLabel, Counter>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                node: node.to_owned(),
                ready,
                condition: Mutex::new(Condition::default()),
                config_error,
                reconcile_errors,
            }),
        }
    }

    /// A condition nobody reads (tests, one-off reconcilers).
    pub fn detached(node: &str) -> Self {
        let (ready, _) = watch::channel(false);
        Self::new(node, ready, Family::default(), Family::default())
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The current condition.
    pub fn condition(&self) -> Condition {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Condition> {
        self.inner
            .condition
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, change: impl FnOnce(&mut Condition)) {
        let mut condition = self.lock();
        change(&mut condition);
        self.inner.ready.send_replace(is_ready(&condition));
    }

    /// The peer cluster's Nodes were listed.
    pub fn listed(&self) {
        self.update(|c| c.listed = true);
    }

    /// Records one reconcile outcome.
    pub fn reconciled(&self, outcome: Result<(), &Error>) {
        let config_error = match outcome {
            Err(err) if err.is_config() => Some(err.metric_label()),
            _ => None,
        };
        if let Err(err) = outcome {
            self.inner
                .reconcile_errors
                .get_or_create(&ReasonLabel::new(err.metric_label()))
                .inc();
        }
        self.update(|c| {
            if c.config_error != config_error {
                if let Some(old) = c.config_error {
                    self.inner
                        .config_error
                        .get_or_create(&ReasonLabel::new(old))
                        .set(0);
                }
                if let Some(new) = config_error {
                    self.inner
                        .config_error
                        .get_or_create(&ReasonLabel::new(new))
                        .set(1);
                }
                c.config_error = config_error;
            }
            c.last_ok = Some(outcome.is_ok());
        });
    }
}

#[cfg(test)]
mod tests;
