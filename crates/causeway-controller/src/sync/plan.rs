//! What one sync pass should write, decided without I/O: `plan(inputs, memo) -> SyncPlan`.
//!
//! Data flow: the engine gathers [`Inputs`] (each member's caches and [`Standing`], this
//! cluster's imports, MCS slices and namespaces) and calls [`plan`]. For every service some
//! usable member exports, [`service::Context::plan`] resolves the clusterset view with `causeway-core`
//! and lists the writes it needs ([`Write`]: the local export's conditions, the import's spec,
//! its `status.clusters`) and what it contributes (its import, its desired MCS slices); a service
//! whose inputs did not change since its last error-free pass reuses its [`Outcome`] from the
//! [`Memo`] and writes nothing. [`stale`] then compares every desired slice with the live ones
//! and lists the slices and imports the sync made that nothing wants any more. The engine hands
//! the [`SyncPlan`] to `sync::execute`, which writes it through the leader-gated writer.
//!
//! The sync deletes only what it wrote: an import without its label is the user's and never
//! written ([`service`]); [`notices`] names it, and slices no causeway wrote that feed one of the
//! sync's imports, for the engine's Warning Events.
//!
//! Nothing is deleted on partial information: a held member (failing within `--peer-grace`, or
//! not synced yet) keeps its slices and the imports it is known to export ([`super::hold`]).
//!
//! The plan reads the reflector stores themselves rather than owned copies (a pass over 1000
//! services would otherwise copy every object), so it lives in the controller crate, not in
//! `causeway-core`; it calls no API.

pub mod export_events;
pub mod matches;
pub mod notices;
pub mod service;
pub mod stale;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use causeway_api::names::LABEL_K8S_SERVICE_NAME;
use causeway_api::{Condition, ServiceExport, ServiceImport};
use causeway_core::clusterset::ImportView;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;

use super::hold::HeldExports;
use super::memo::{Fingerprint, Key, Memo, Outcome};

/// What a member may contribute right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Synced and healthy (or the local cluster).
    Live,
    /// Not synced yet or failing for less than the grace period: keep what it contributed.
    Held,
    /// Failing longer than the grace period: withdraw it.
    Expired,
}

/// What a member may contribute now, from its health: `failing_for` (how long its watches have
/// been failing), `synced` (every watch listed once) and `running_for` (since its current
/// connection began). A member not synced yet is held for the grace period counted from its own
/// (re)connection, so a reconnect or a rotated credential causes no churn.
pub fn standing(
    failing_for: Option<Duration>,
    synced: bool,
    running_for: Duration,
    grace: Duration,
) -> Standing {
    match failing_for {
        Some(d) if d >= grace => Standing::Expired,
        Some(_) => Standing::Held,
        None if synced => Standing::Live,
        None if running_for < grace => Standing::Held,
        None => Standing::Expired,
    }
}

/// One member's caches and standing, as a pass sees them.
#[derive(Clone)]
pub struct Member<'a> {
    /// Its cluster id.
    pub id: &'a str,
    /// What it may contribute.
    pub standing: Standing,
    /// Whether every watch of it listed once.
    pub synced: bool,
    /// Whether its ServiceExports listed once on its current connection.
    pub exports_listed: bool,
    /// Its ServiceExports.
    pub exports: &'a Store<ServiceExport>,
    /// Its Services (those exported).
    pub services: &'a Store<Service>,
    /// Its controller-manager EndpointSlices.
    pub slices: &'a Store<EndpointSlice>,
}

impl Member<'_> {
    /// Whether its caches count this pass: live, or held but synced (its caches are complete,
    /// only its health is in doubt).
    pub fn usable(&self) -> bool {
        self.standing == Standing::Live || (self.standing == Standing::Held && self.synced)
    }

    /// What it is known to export while held: its last complete list, if any.
    fn held_exports(&self) -> HeldExports {
        if !self.exports_listed {
            return HeldExports::Unknown;
        }
        HeldExports::Listed(
            self.exports
                .state()
                .iter()
                .map(|e| (e.namespace().unwrap_or_default(), e.name_any()))
                .collect(),
        )
    }
}

/// Everything a pass decides from.
pub struct Inputs<'a> {
    /// This cluster's id.
    pub local_id: &'a str,
    /// The members taking part, this cluster first (always [`Standing::Live`]).
    pub members: &'a [Member<'a>],
    /// This cluster's ServiceImports.
    pub imports: &'a Store<ServiceImport>,
    /// This cluster's MCS slices (those labelled as the sync's).
    pub slices: &'a Store<EndpointSlice>,
    /// This cluster's MCS slices no causeway wrote
    /// (`causeway_core::mcs_slice::FOREIGN_SLICE_SELECTOR`).
    pub foreign_slices: &'a Store<EndpointSlice>,
    /// This cluster's namespaces.
    pub namespaces: &'a Store<PartialObjectMeta<Namespace>>,
    /// The time new conditions get as `lastTransitionTime`.
    pub now: Time,
}

/// One write of a service's objects (the namespace and name are the service's).
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// The local ServiceExport's `Valid`, `Ready` and `Conflict` conditions (merged with the live
    /// ones).
    ExportConditions(Vec<Condition>),
    /// The fields the sync owns in the ServiceImport.
    Import(Box<ImportView>),
    /// The ServiceImport's `status.clusters`.
    ImportClusters(Vec<String>),
}

/// A member's slices a service's desired MCS slices were built from.
#[derive(Clone, Debug)]
pub struct Contribution {
    /// Index of the member in [`Inputs::members`].
    pub member: usize,
    /// Names of its source slices.
    pub sources: Vec<String>,
    /// Names of the MCS slices built from them.
    pub slices: Vec<String>,
}

/// What one service needs this pass.
#[derive(Clone, Debug)]
pub struct ServicePlan {
    /// `(namespace, name)`.
    pub key: Key,
    /// Its inputs' fingerprint, stored with the outcome once its writes succeed.
    pub fingerprint: Fingerprint,
    /// Its writes, in order.
    pub writes: Vec<Write>,
    /// What it contributes: its import, its desired slices.
    pub outcome: Outcome,
    /// Which members' source slices its desired slices came from (for the latency metric).
    pub contributions: Vec<Contribution>,
    /// Events on the local ServiceExport, published once its conditions write succeeded.
    pub events: Vec<export_events::ExportEvent>,
}

/// An MCS slice to apply.
#[derive(Clone, Debug)]
pub struct SliceApply {
    /// `(namespace, name)`.
    pub key: Key,
    /// The desired slice.
    pub slice: Arc<EndpointSlice>,
    /// The live slice's resourceVersion it replaces (`None`: it does not exist).
    pub replaced: Option<String>,
}

/// An MCS slice to delete, with the service it belongs to (its
/// `multicluster.kubernetes.io/service-name`), so a service whose new slices failed to apply keeps
/// its old ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleSlice {
    /// `(namespace, name)`.
    pub key: Key,
    /// The service it belongs to.
    pub service: String,
}

/// What one pass writes.
#[derive(Debug, Default)]
pub struct SyncPlan {
    /// Services whose inputs changed, with their writes (also those with none, for the memo).
    pub services: Vec<ServicePlan>,
    /// MCS slices the sync made that no usable member wants, none from a held member.
    pub delete_slices: Vec<StaleSlice>,
    /// MCS slices that differ from (or are missing in) the cluster.
    pub apply_slices: Vec<SliceApply>,
    /// ServiceImports the sync made that no member exports any more.
    pub delete_imports: Vec<Key>,
    /// What the user should know about imports the sync leaves alone (Events, no writes).
    pub notices: Vec<notices::Notice>,
}

impl SyncPlan {
    /// Whether the pass writes nothing.
    pub fn is_empty(&self) -> bool {
        self.services.iter().all(|s| s.writes.is_empty())
            && self.delete_slices.is_empty()
            && self.apply_slices.is_empty()
            && self.delete_imports.is_empty()
    }
}

/// A member's controller-manager slices by `(namespace, kubernetes.io/service-name)`.
pub type SlicesByService = HashMap<Key, Vec<Arc<EndpointSlice>>>;

fn slices_by_service(slices: &Store<EndpointSlice>) -> SlicesByService {
    let mut out = SlicesByService::new();
    for slice in slices.state() {
        if let (Some(ns), Some(service)) = (
            slice.namespace(),
            slice.labels().get(LABEL_K8S_SERVICE_NAME),
        ) {
            out.entry((ns, service.clone())).or_default().push(slice);
        }
    }
    out
}

/// Decides one pass. `memo` supplies the outcomes of services whose inputs did not change and
/// remembers which live slices are known to match; `sync::execute` stores new outcomes once their
/// writes succeed.
pub fn plan(inputs: &Inputs<'_>, memo: &mut Memo) -> SyncPlan {
    let usable: Vec<(usize, &Member<'_>)> = inputs
        .members
        .iter()
        .enumerate()
        .filter(|(_, m)| m.usable())
        .collect();
    let held: BTreeSet<&str> = inputs
        .members
        .iter()
        .filter(|m| m.standing == Standing::Held)
        .map(|m| m.id)
        .collect();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for (_, m) in &usable {
        for e in m.exports.state() {
            keys.insert((e.namespace().unwrap_or_default(), e.name_any()));
        }
    }
    // Each member's controller-manager slices, grouped by Service once per pass (not once per
    // service: that made a pass quadratic in the number of exported services).
    let sources: Vec<SlicesByService> = usable
        .iter()
        .map(|(_, m)| slices_by_service(m.slices))
        .collect();
    let ctx = service::Context {
        inputs,
        usable: &usable,
        sources: &sources,
        held: &held,
    };
    let mut out = SyncPlan::default();
    let mut wanted = stale::Wanted::default();
    for key in &keys {
        let fingerprint = ctx.fingerprint(key);
        if let Some(outcome) = memo.outcome(key, fingerprint) {
            wanted.add(key, outcome);
            continue;
        }
        let planned = ctx.plan(key, fingerprint);
        wanted.add(key, &planned.outcome);
        out.services.push(planned);
    }
    memo.retain_services(&keys);
    (out.delete_slices, out.apply_slices) = stale::slices(inputs.slices, &wanted, &held, memo);
    let held_exports: Vec<HeldExports> = inputs
        .members
        .iter()
        .filter(|m| m.standing == Standing::Held)
        .map(Member::held_exports)
        .collect();
    out.delete_imports = stale::imports(inputs.imports, &wanted, &held_exports);
    out.notices = notices::notices(inputs, &usable);
    out
}

#[cfg(test)]
mod tests;
