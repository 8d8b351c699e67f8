//! The sync engine: on every change anywhere, recompute the clusterset view for this cluster and
//! write only what differs (leader only), and keep each member's ClusterSetMember status. See
//! the parent module for the data flow.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use causeway_api::names::{
    ANNOTATION_DERIVED_SERVICE, FIELD_MANAGER_SYNC, LABEL_K8S_SERVICE_NAME, LABEL_SERVICE_NAME,
    LABEL_SOURCE_CLUSTER, LABEL_SYNCED, PROPERTY_CLUSTERSET, condition,
};
use causeway_api::{Condition, ServiceExport, ServiceImport};
use causeway_core::clusterset::convert::{cluster_slices, export_view};
use causeway_core::clusterset::{ImportView, Resolution, Validity, resolve};
use causeway_core::conditions::{self, DesiredCondition};
use causeway_core::derived::owner_reference;
use causeway_core::mcs_slice::SliceTarget;
use causeway_core::naming::derived_service_name;
use causeway_runtime::timeouts::watch_config;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ObjectReference, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::{Notify, watch};

use super::cluster::{ClusterWatch, scoped};
use super::failure::{MemberFailure, Reason};
use super::hold::{self, HeldExports};
use super::member_conditions::{self, FailingView, MemberState};
use super::member_status::{MemberInput, MemberStatus};
use super::membership::{self, Candidate, Clusterset, Exclusion};
use super::memo::{Fingerprint, FingerprintBuilder, Key, Memo, Outcome};
use super::peers::{Peer, Peers};
use super::{identity, members};
use crate::metrics::Metrics;

/// Writes a pass keeps in flight at once: services are resolved and written, and MCS slices
/// applied, this many at a time (one after the other, 1000 services took 30 s to converge).
const WRITES_IN_FLIGHT: usize = 16;

/// Settings of the sync.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// Namespace holding the peer Secrets.
    pub members_namespace: String,
    /// How long a failing peer's endpoints stay.
    pub peer_grace: Duration,
    /// Only this namespace (default: all).
    pub namespace: Option<String>,
}

/// Local caches the engine compares against.
struct Local {
    imports: Store<ServiceImport>,
    slices: Store<EndpointSlice>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    synced: Arc<[AtomicBool; 3]>,
}

impl Local {
    fn synced(&self) -> bool {
        self.synced.iter().all(|s| s.load(Ordering::Relaxed))
    }
}

/// Pokes `notify` on every event and records the first complete list in `synced[slot]`.
fn on_event<K>(
    notify: &Arc<Notify>,
    synced: &Arc<[AtomicBool; 3]>,
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

/// What a member may contribute right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Synced and healthy (or the local cluster).
    Live,
    /// Not synced yet or failing for less than the grace period: keep what it contributed.
    Held,
    /// Failing longer than the grace period: withdraw it.
    Expired,
}

/// Runs the sync until the process ends.
#[allow(
    clippy::too_many_lines,
    reason = "one loop: identity, members, member status, then a pass"
)]
pub async fn run(
    client: kube::Client,
    settings: SyncSettings,
    is_leader: watch::Receiver<bool>,
    metrics: Metrics,
) {
    let notify = Arc::new(Notify::new());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "causeway-controller".into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    let local = start_local(&client, settings.namespace.as_deref(), &notify);
    let mut local_id = None;
    let mut peers = Peers::new(settings.namespace.clone(), notify.clone());
    let mut member_status =
        MemberStatus::new(&client, &settings.members_namespace, metrics.clone());
    let mut local_watch: Option<ClusterWatch> = None;
    let member_secrets =
        members::MemberSecrets::start(&client, &settings.members_namespace, &notify);
    let mut failed_passes: u32 = 0;
    let mut member_backoff = Backoff::default();
    let mut reported: HashSet<(String, String, Reason)> = HashSet::new();
    let mut last_membership = Clusterset::Unknown;
    let mut reported_exclusions: HashSet<(String, &'static str)> = HashSet::new();
    let mut memo = Memo::default();
    loop {
        tokio::select! {
            () = notify.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
        let woke = Instant::now();
        let leads = *is_leader.borrow();
        if local_id.is_none() {
            match identity::cluster_id(&client, leads).await {
                Ok(id) => {
                    tracing::info!(cluster = %id, "local cluster id");
                    local_watch = Some(ClusterWatch::start(
                        id.clone(),
                        true,
                        &client,
                        settings.namespace.as_deref(),
                        &notify,
                    ));
                    local_id = Some(id);
                }
                Err(err) => {
                    tracing::error!(error = %format!("{err:#}"), "cannot determine the local cluster id; retrying");
                    continue;
                }
            }
        }
        member_status.poll(&notify).await;
        if let Some(secrets) = member_secrets.take_changed() {
            peers.update(secrets, |name| member_status.recorded_id(name));
        }
        peers.retry_due();
        peers.collect();
        peers.adopt_recorded_ids(|name| member_status.recorded_id(name));
        if leads {
            report_member_failures(&recorder, &peers, &mut reported).await;
        }
        let (Some(id), Some(local_watch)) = (&local_id, &local_watch) else {
            continue;
        };
        let local_owned = local_watch.clusterset();
        let local_set = local_owned.as_deref();
        if local_set != last_membership.as_deref() {
            log_membership(id, local_set);
            metrics.clusterset_member.set(match local_set {
                Clusterset::Unknown => -1,
                Clusterset::Absent => 0,
                Clusterset::Named(_) => 1,
            });
            last_membership = local_owned.clone();
        }
        if !leads {
            // A standby does not write, so there is nothing to time: it keeps no pending changes
            // that its first pass as leader would count from long ago.
            let now = Instant::now();
            local_watch.changes.drop_before(now);
            for p in peers.iter() {
                p.watch.changes.drop_before(now);
            }
            continue;
        }
        let peer_sets: Vec<Clusterset<String>> =
            peers.iter().map(|p| p.watch.clusterset()).collect();
        let candidates: Vec<Candidate<'_>> = peers
            .iter()
            .zip(&peer_sets)
            .map(|(p, set)| candidate(p, set.as_deref()))
            .collect();
        let exclusions = membership::judge(id, local_set, &candidates);
        report_exclusions(&recorder, &peers, &exclusions, &mut reported_exclusions).await;
        if peers.listed() && member_backoff.due() {
            let inputs: Vec<MemberInput<'_>> = peers
                .iter()
                .zip(&exclusions)
                .map(|(p, excluded)| MemberInput {
                    secret: &p.secret,
                    desired: member_conditions::desired(&member_state(
                        p,
                        settings.peer_grace,
                        excluded.as_ref(),
                    )),
                })
                .collect();
            let errors = member_status.converge(&inputs).await;
            member_backoff.record(errors);
        }
        if !local_watch.health.synced() || !local.synced() || !member_status.settled() {
            continue;
        }
        if local_set == Clusterset::Absent {
            // Not a clusterset member: nothing is imported from or exported to peers, and
            // nothing the sync wrote is touched until `causeway join` sets the property.
            continue;
        }
        let mut clusters: Vec<(&ClusterWatch, Standing)> = vec![(local_watch, Standing::Live)];
        // By cluster id: a duplicate member shares the id of the one that takes part.
        let mut up: BTreeMap<&str, bool> = BTreeMap::new();
        for (p, excluded) in peers.iter().map(|p| &p.watch).zip(&exclusions) {
            let live = excluded.is_none() && p.health.synced() && p.health.failing_for().is_none();
            *up.entry(p.id.as_str()).or_default() |= live;
            if excluded.is_none() {
                clusters.push((p, standing(p, settings.peer_grace)));
            }
        }
        for (cluster, live) in up {
            metrics.peer_up(cluster, live);
        }
        // Until every member has listed once (or failed), a partial view would shrink imports
        // and slices only to grow them back: wait.
        if clusters.iter().any(|(c, st)| {
            *st == Standing::Held && !c.health.synced() && c.health.failing_for().is_none()
        }) {
            continue;
        }
        let started = Instant::now();
        let pass = Pass {
            client: &client,
            local_id: id,
            local: &local,
            clusters: &clusters,
            metrics: &metrics,
            started,
        };
        let errors = pass.run(&mut memo).await;
        metrics.sync_passes.inc();
        metrics
            .sync_pass_duration
            .observe(woke.elapsed().as_secs_f64());
        tracing::debug!(
            before_pass = ?started.duration_since(woke),
            pass = ?started.elapsed(),
            errors,
            "sync pass"
        );
        if errors > 0 {
            // Back off on persistent failures (RBAC, validation): 0.5 s, 1 s, 2 s … 30 s.
            failed_passes = failed_passes.saturating_add(1);
            let delay =
                Duration::from_millis(250u64 << failed_passes.min(7)).min(Duration::from_secs(30));
            tracing::warn!(errors, retry_in = ?delay, "sync pass had failed writes");
            tokio::time::sleep(delay).await;
            notify.notify_one();
        } else {
            failed_passes = 0;
        }
    }
}

/// Skips member status writes for a while after failed ones (0.5 s, 1 s, 2 s … 30 s), without
/// holding up the sync.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    until: Option<Instant>,
}

impl Backoff {
    fn due(&self) -> bool {
        self.until.is_none_or(|t| Instant::now() >= t)
    }

    fn record(&mut self, errors: usize) {
        if errors == 0 {
            *self = Self::default();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let delay =
            Duration::from_millis(250u64 << self.failures.min(7)).min(Duration::from_secs(30));
        self.until = Some(Instant::now() + delay);
    }
}

/// What the membership is judged from; `clusterset` is the peer's [`ClusterWatch::clusterset`].
fn candidate<'a>(p: &'a Peer, clusterset: Clusterset<&'a str>) -> Candidate<'a> {
    Candidate {
        secret: &p.secret.name,
        created: p.secret.created,
        cluster_id: p.watch.connected().then_some(p.watch.id.as_str()),
        clusterset,
    }
}

/// Logs a change of this cluster's membership.
fn log_membership(id: &str, clusterset: Clusterset<&str>) {
    match clusterset {
        Clusterset::Unknown => {}
        Clusterset::Absent => tracing::error!(
            cluster = %id,
            "not a clusterset member: this cluster has no ClusterProperty {PROPERTY_CLUSTERSET}; run `causeway join`. Nothing is imported from or exported to peers until then (the import side keeps working)"
        ),
        Clusterset::Named(set) => {
            tracing::info!(cluster = %id, clusterset = %set, "clusterset member");
        }
    }
}

/// What the member status is computed from.
fn member_state<'a>(
    p: &'a Peer,
    grace: Duration,
    excluded: Option<&'a Exclusion>,
) -> MemberState<'a> {
    MemberState {
        cluster_id: p.known_id.as_deref(),
        connected: p.watch.connected(),
        synced: p.watch.health.synced(),
        failing: p.watch.health.failing().map(|f| FailingView {
            failure: f.failure,
            since: f.since_wall,
            elapsed: f.since.elapsed(),
        }),
        running_for: p.watch.started.elapsed(),
        grace,
        excluded,
    }
}

/// One Warning Event per peer Secret version and failure reason while connecting fails.
async fn report_member_failures(
    recorder: &Recorder,
    peers: &Peers,
    reported: &mut HashSet<(String, String, Reason)>,
) {
    let current: HashSet<(String, String, Reason)> = peers
        .iter()
        .filter_map(|p| {
            let f = p.connect_failure.as_ref()?;
            Some((p.secret.name.clone(), p.secret.version.clone(), f.reason))
        })
        .collect();
    reported.retain(|k| current.contains(k));
    for p in peers.iter() {
        let Some(failure) = &p.connect_failure else {
            continue;
        };
        let key = (
            p.secret.name.clone(),
            p.secret.version.clone(),
            failure.reason,
        );
        if reported.insert(key) {
            report_member_failure(recorder, &p.secret, failure).await;
        }
    }
}

/// A Warning Event on a peer Secret whose member cannot be used.
async fn report_member_failure(
    recorder: &Recorder,
    secret: &members::PeerSecret,
    failure: &MemberFailure,
) {
    let note = format!(
        "{}: {}; other members keep syncing",
        failure.reason.as_str(),
        failure.message()
    );
    warn_on_secret(recorder, secret, "MemberUnavailable", note, "Connect").await;
}

/// A `MemberExcluded` Warning Event on each peer Secret whose member newly takes no part
/// (`NotInClusterSet`, `DuplicateClusterID`), once per Secret and reason while it lasts.
async fn report_exclusions(
    recorder: &Recorder,
    peers: &Peers,
    exclusions: &[Option<Exclusion>],
    reported: &mut HashSet<(String, &'static str)>,
) {
    let current: HashSet<(String, &'static str)> = peers
        .iter()
        .zip(exclusions)
        .filter_map(|(p, e)| Some((p.secret.name.clone(), e.as_ref()?.reason)))
        .collect();
    reported.retain(|k| current.contains(k));
    for (p, excluded) in peers.iter().zip(exclusions) {
        let Some(excluded) = excluded else {
            continue;
        };
        if reported.insert((p.secret.name.clone(), excluded.reason)) {
            let note = format!("{}: {}", excluded.reason, excluded.message);
            warn_on_secret(recorder, &p.secret, "MemberExcluded", note, "Sync").await;
        }
    }
}

/// Publishes a Warning Event about a peer Secret.
async fn warn_on_secret(
    recorder: &Recorder,
    secret: &members::PeerSecret,
    reason: &str,
    note: String,
    action: &str,
) {
    let ev = Event {
        type_: EventType::Warning,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        name: Some(secret.name.clone()),
        namespace: Some(secret.namespace.clone()),
        uid: Some(secret.uid.clone()),
        ..ObjectReference::default()
    };
    if let Err(e) = recorder.publish(&ev, &reference).await {
        tracing::warn!(error = %e, "failed to publish an event");
    }
}

/// What a member may contribute now; a member not synced yet is held for the grace period
/// counted from its own (re)connection, so a reconnect or a rotated credential causes no churn.
fn standing(c: &ClusterWatch, grace: Duration) -> Standing {
    match c.health.failing_for() {
        Some(d) if d >= grace => Standing::Expired,
        Some(_) => Standing::Held,
        None if c.health.synced() => Standing::Live,
        None if c.started.elapsed() < grace => Standing::Held,
        None => Standing::Expired,
    }
}

fn start_local(client: &kube::Client, namespace: Option<&str>, notify: &Arc<Notify>) -> Local {
    let (imports, w1) = reflector::store();
    let (slices, w2) = reflector::store();
    let (namespaces, w3) = reflector::store();
    let synced: Arc<[AtomicBool; 3]> = Arc::default();
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
    tokio::spawn(s1);
    tokio::spawn(s2);
    tokio::spawn(s3);
    Local {
        imports,
        slices,
        namespaces,
        synced,
    }
}

/// What a held member is known to export: its last complete list, if any.
fn held_exports(c: &ClusterWatch) -> HeldExports {
    if !c.health.exports_listed() {
        return HeldExports::Unknown;
    }
    HeldExports::Listed(
        c.exports
            .state()
            .iter()
            .map(|e| (e.namespace().unwrap_or_default(), e.name_any()))
            .collect(),
    )
}

/// A member's controller-manager slices by `(namespace, kubernetes.io/service-name)`.
type SlicesByService = HashMap<(String, String), Vec<Arc<EndpointSlice>>>;

fn slices_by_service(c: &ClusterWatch) -> SlicesByService {
    let mut out = SlicesByService::new();
    for slice in c.slices.state() {
        if let (Some(ns), Some(service)) = (
            slice.namespace(),
            slice.labels().get(LABEL_K8S_SERVICE_NAME),
        ) {
            out.entry((ns, service.clone())).or_default().push(slice);
        }
    }
    out
}

/// What one pass wants to exist locally; anything else the sync made is stale.
#[derive(Default)]
struct Wanted {
    imports: BTreeSet<Key>,
    slices: BTreeMap<Key, Arc<EndpointSlice>>,
    /// When the source change a desired slice carries reached this controller: only for slices
    /// computed in this pass from a change no earlier pass consumed.
    changed: HashMap<Key, Instant>,
}

impl Wanted {
    /// Adds a service's outcome.
    fn add(&mut self, key: &Key, outcome: &Outcome) {
        if outcome.import {
            self.imports.insert(key.clone());
        }
        for slice in &outcome.slices {
            self.slices
                .insert((key.0.clone(), slice.name_any()), slice.clone());
        }
    }
}

/// One recomputation.
struct Pass<'a> {
    client: &'a kube::Client,
    local_id: &'a str,
    local: &'a Local,
    clusters: &'a [(&'a ClusterWatch, Standing)],
    metrics: &'a Metrics,
    /// When the pass began: source slice changes that arrived later wait for the next pass.
    started: Instant,
}

impl Pass<'_> {
    /// Computes and writes; returns the number of failed writes. Services whose inputs did not
    /// change since their last error-free computation reuse its outcome from `memo`.
    async fn run(&self, memo: &mut Memo) -> usize {
        let mut errors = 0;
        let usable: Vec<&ClusterWatch> = self
            .clusters
            .iter()
            .filter(|(c, s)| *s == Standing::Live || (*s == Standing::Held && c.health.synced()))
            .map(|(c, _)| *c)
            .collect();
        let held: BTreeSet<&str> = self
            .clusters
            .iter()
            .filter(|(_, s)| *s == Standing::Held)
            .map(|(c, _)| c.id.as_str())
            .collect();
        let mut keys: BTreeSet<(String, String)> = BTreeSet::new();
        for c in &usable {
            for e in c.exports.state() {
                keys.insert((e.namespace().unwrap_or_default(), e.name_any()));
            }
        }
        // Each member's controller-manager slices, grouped by Service once per pass (not once per
        // service: that made a pass quadratic in the number of exported services).
        let sources: Vec<SlicesByService> = usable.iter().map(|c| slices_by_service(c)).collect();
        let mut wanted = Wanted::default();
        let mut changed = Vec::new();
        for key in &keys {
            let fingerprint = self.fingerprint(key, &usable, &sources, &held);
            match memo.outcome(key, fingerprint) {
                Some(outcome) => wanted.add(key, outcome),
                None => changed.push((key.clone(), fingerprint)),
            }
        }
        let (usable, sources, held) = (&usable, &sources, &held);
        let mut computed = futures::stream::iter(changed)
            .map(|(key, fingerprint)| async move {
                let (failed, outcome, changed) =
                    self.service(&key.0, &key.1, usable, sources, held).await;
                (key, fingerprint, failed, outcome, changed)
            })
            .buffer_unordered(WRITES_IN_FLIGHT);
        while let Some((key, fingerprint, failed, outcome, changed)) = computed.next().await {
            wanted.add(&key, &outcome);
            wanted.changed.extend(changed);
            if failed == 0 {
                memo.store(key, fingerprint, outcome);
            } else {
                memo.forget(&key);
            }
            errors += failed;
        }
        drop(computed);
        memo.retain_services(&keys);
        errors += self.converge_slices(&wanted, held, memo).await;
        for (c, _) in self.clusters {
            c.changes.drop_before(self.started);
        }
        let held_exports: Vec<HeldExports> = self
            .clusters
            .iter()
            .filter(|(_, s)| *s == Standing::Held)
            .map(|(c, _)| held_exports(c))
            .collect();
        errors += self
            .delete_stale_imports(&wanted.imports, &held_exports)
            .await;
        errors
    }

    /// A hash of everything [`Self::service`] reads for `key`: each usable member's export,
    /// Service and source slices (by resourceVersion), whether it is held, and the local
    /// namespace and import.
    fn fingerprint(
        &self,
        key: &Key,
        usable: &[&ClusterWatch],
        sources: &[SlicesByService],
        held: &BTreeSet<&str>,
    ) -> Fingerprint {
        let export_at: ObjectRef<ServiceExport> = ObjectRef::new(&key.1).within(&key.0);
        let service_at: ObjectRef<Service> = ObjectRef::new(&key.1).within(&key.0);
        let mut b = FingerprintBuilder::default();
        for (c, by_service) in usable.iter().zip(sources) {
            b.add(&c.id).add(held.contains(c.id.as_str()));
            b.add(c.exports.get(&export_at).map(|e| e.resource_version()));
            b.add(c.services.get(&service_at).map(|s| s.resource_version()));
            for slice in by_service.get(key).into_iter().flatten() {
                b.unordered((
                    &c.id,
                    &slice.metadata.name,
                    &slice.metadata.resource_version,
                ));
            }
        }
        b.add(self.local.namespaces.get(&ObjectRef::new(&key.0)).is_some());
        b.add(
            self.local
                .imports
                .get(&ObjectRef::new(&key.1).within(&key.0))
                .map(|i| (i.resource_version(), i.uid())),
        );
        b.finish()
    }

    /// Resolves one service and writes its import and its local export's conditions; returns the
    /// number of failed writes and what the service contributes (its import, its desired slices).
    async fn service(
        &self,
        ns: &String,
        name: &String,
        usable: &[&ClusterWatch],
        sources: &[SlicesByService],
        held: &BTreeSet<&str>,
    ) -> (usize, Outcome, Vec<(Key, Instant)>) {
        let mut errors = 0;
        let mut outcome = Outcome::default();
        let mut changed = Vec::new();
        let views: Vec<_> = usable
            .iter()
            .filter_map(|c| {
                let export = c.exports.get(&ObjectRef::new(name).within(ns))?;
                let service = c.services.get(&ObjectRef::new(name).within(ns));
                Some(export_view(&c.id, &export, service.as_deref()))
            })
            .collect();
        let resolution = resolve(&views);
        if let Some(local_export) = self.clusters[0]
            .0
            .exports
            .get(&ObjectRef::new(name).within(ns))
        {
            let validity = views.iter().find(|v| v.cluster == self.local_id).map_or(
                Validity::NoService,
                causeway_core::clusterset::ExportView::validity,
            );
            errors += usize::from(
                self.write_export_status(&local_export, validity, &resolution)
                    .await
                    .is_err(),
            );
        }
        let Some(import) = &resolution.import else {
            return (errors, outcome, changed);
        };
        if self.local.namespaces.get(&ObjectRef::new(ns)).is_none() {
            return (errors, outcome, changed);
        }
        outcome.import = true;
        let current = self.local.imports.get(&ObjectRef::new(name).within(ns));
        if current
            .as_deref()
            .is_none_or(|c| !import_matches(c, import))
        {
            errors += usize::from(self.apply_import(ns, name, import).await.is_err());
        }
        let Some(current) = current else {
            return (errors, outcome, changed);
        };
        if current
            .status
            .as_ref()
            .and_then(|s| s.clusters.as_ref())
            .map(|cs| cs.iter().map(|c| c.cluster.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
            != import.clusters
        {
            errors += usize::from(
                self.apply_import_clusters(ns, name, &import.clusters)
                    .await
                    .is_err(),
            );
        }
        let derived = (!import.headless).then(|| derived_service_name(ns, name));
        let key = (ns.clone(), name.clone());
        for (c, by_service) in usable.iter().zip(sources) {
            if held.contains(c.id.as_str()) {
                continue;
            }
            let Some(served) = import.served_ports.get(&c.id) else {
                continue;
            };
            let refs: Vec<&EndpointSlice> = by_service
                .get(&key)
                .map(|v| v.iter().map(AsRef::as_ref).collect())
                .unwrap_or_default();
            let target = SliceTarget {
                namespace: ns,
                service: name,
                source_cluster: &c.id,
                derived_service: derived.as_deref(),
                owner: Some(owner_reference(&current)),
            };
            let arrived = c.changes.take(
                ns,
                refs.iter().filter_map(|s| s.metadata.name.as_deref()),
                self.started,
            );
            for mut slice in cluster_slices(&refs, served, &target) {
                slice
                    .metadata
                    .labels
                    .get_or_insert_default()
                    .insert(LABEL_SYNCED.to_owned(), "true".to_owned());
                if let Some(at) = arrived {
                    changed.push(((ns.clone(), slice.name_any()), at));
                }
                outcome.slices.push(Arc::new(slice));
            }
        }
        (errors, outcome, changed)
    }

    async fn apply_import(&self, ns: &str, name: &str, import: &ImportView) -> kube::Result<()> {
        let mut labels: BTreeMap<String, String> = import.labels.clone();
        labels.insert(LABEL_SYNCED.to_owned(), "true".to_owned());
        let mut spec = json!({
            "type": if import.headless { "Headless" } else { "ClusterSetIP" },
            "ports": import.ports.iter().map(|p| {
                let mut v = json!({"protocol": p.protocol, "port": p.port});
                if !p.name.is_empty() { v["name"] = json!(p.name); }
                if let Some(a) = &p.app_protocol { v["appProtocol"] = json!(a); }
                v
            }).collect::<Vec<_>>(),
            "sessionAffinity": import.session_affinity,
            "ipFamilies": import.ip_families,
        });
        if let Some(t) = import.affinity_timeout {
            spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": t}});
        }
        if let Some(itp) = &import.internal_traffic_policy {
            spec["internalTrafficPolicy"] = json!(itp);
        }
        if let Some(td) = &import.traffic_distribution {
            spec["trafficDistribution"] = json!(td);
        }
        let patch = json!({
            "apiVersion": "multicluster.x-k8s.io/v1beta1",
            "kind": "ServiceImport",
            "metadata": {"name": name, "labels": labels, "annotations": import.annotations},
            "spec": spec,
        });
        let api: Api<ServiceImport> = Api::namespaced(self.client.clone(), ns);
        let result = api
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER_SYNC).force(),
                &Patch::Apply(&patch),
            )
            .await;
        self.metrics.wrote("sync_serviceimport");
        log_result(&result, ns, name, "service import applied");
        result.map(|_| ())
    }

    async fn apply_import_clusters(
        &self,
        ns: &str,
        name: &str,
        clusters: &[String],
    ) -> kube::Result<()> {
        let patch = json!({
            "apiVersion": "multicluster.x-k8s.io/v1beta1",
            "kind": "ServiceImport",
            "status": {"clusters": clusters.iter().map(|c| json!({"cluster": c})).collect::<Vec<_>>()},
        });
        let api: Api<ServiceImport> = Api::namespaced(self.client.clone(), ns);
        let result = api
            .patch_status(
                name,
                &PatchParams::apply(FIELD_MANAGER_SYNC).force(),
                &Patch::Apply(&patch),
            )
            .await;
        self.metrics.wrote("sync_serviceimport_status");
        log_result(&result, ns, name, "service import clusters set");
        result.map(|_| ())
    }

    async fn write_export_status(
        &self,
        export: &ServiceExport,
        validity: Validity,
        resolution: &Resolution,
    ) -> kube::Result<()> {
        let name = export.name_any();
        let valid = match validity {
            Validity::Valid => DesiredCondition::new(
                condition::VALID,
                "True",
                condition::valid::VALID,
                "the Service exists and can be exported",
            ),
            Validity::NoService => DesiredCondition::new(
                condition::VALID,
                "False",
                condition::valid::NO_SERVICE,
                format!(
                    "no Service named {name} in this namespace; create it or delete this export"
                ),
            ),
            Validity::InvalidServiceType => DesiredCondition::new(
                condition::VALID,
                "False",
                condition::valid::INVALID_SERVICE_TYPE,
                "ExternalName Services cannot be exported",
            ),
        };
        let ready = match validity {
            Validity::Valid => DesiredCondition::new(
                condition::READY,
                "True",
                condition::ready::EXPORTED,
                "exported to the clusterset",
            ),
            Validity::NoService => DesiredCondition::new(
                condition::READY,
                "False",
                condition::ready::PENDING,
                "waiting for the Service",
            ),
            Validity::InvalidServiceType => DesiredCondition::new(
                condition::READY,
                "False",
                condition::ready::FAILED,
                "not exported: the Service type cannot be exported",
            ),
        };
        let conflict = if validity == Validity::Valid {
            DesiredCondition {
                type_: condition::CONFLICT,
                status: resolution.conflicts.status(),
                reason: resolution.conflicts.reason(),
                message: resolution.conflicts.message.clone(),
            }
        } else {
            DesiredCondition::new(
                condition::CONFLICT,
                "False",
                condition::conflict::NO_CONFLICTS,
                "",
            )
        };
        let desired = [valid, ready, conflict];
        let current: Vec<Condition> = export
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let generation = export.metadata.generation;
        if conditions::up_to_date(&current, &desired, generation) {
            return Ok(());
        }
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let merged: Vec<Condition> = conditions::merge(&current, &desired, generation, &now)
            .into_iter()
            .filter(|c| desired.iter().any(|d| d.type_ == c.type_))
            .collect();
        let patch = json!({
            "apiVersion": "multicluster.x-k8s.io/v1beta1",
            "kind": "ServiceExport",
            "status": {"conditions": merged},
        });
        let ns = export.namespace().unwrap_or_default();
        let api: Api<ServiceExport> = Api::namespaced(self.client.clone(), &ns);
        let result = api
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER_SYNC).force(),
                &Patch::Apply(&patch),
            )
            .await;
        self.metrics.wrote("sync_serviceexport_status");
        log_result(&result, &ns, &name, "service export conditions set");
        result.map(|_| ())
    }

    async fn converge_slices(
        &self,
        wanted: &Wanted,
        held: &BTreeSet<&str>,
        memo: &mut Memo,
    ) -> usize {
        let (changed, wanted) = (&wanted.changed, &wanted.slices);
        let mut errors = 0;
        let existing = self.local.slices.state();
        let by_key: HashMap<(String, String), &Arc<EndpointSlice>> = existing
            .iter()
            .map(|s| ((s.namespace().unwrap_or_default(), s.name_any()), s))
            .collect();
        memo.retain_slices(|k| wanted.contains_key(k));
        let mut stale = Vec::new();
        for (key, slice) in wanted {
            let current = by_key.get(key);
            let live_version = current.and_then(|c| c.resource_version());
            if memo.verified(key, slice, live_version.as_deref()) {
                continue;
            }
            if let (Some(current), Some(live)) = (current, &live_version)
                && slice_matches(current, slice)
            {
                memo.record_verified(key.clone(), slice, live);
                continue;
            }
            stale.push((
                key.clone(),
                slice.clone(),
                live_version,
                changed.get(key).copied(),
            ));
        }
        let mut applied = futures::stream::iter(stale)
            .map(|((ns, name), slice, replaced, changed)| async move {
                let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), &ns);
                let result = api
                    .patch(
                        &name,
                        &PatchParams::apply(FIELD_MANAGER_SYNC).force(),
                        &Patch::Apply(slice.as_ref()),
                    )
                    .await;
                self.metrics.wrote("sync_endpointslice");
                log_result(&result, &ns, &name, "MCS slice applied");
                let version = result
                    .ok()
                    .map(|s| s.resource_version().unwrap_or_default());
                if let (Some(at), Some(_)) = (changed, &version) {
                    self.metrics
                        .sync_slice_latency
                        .observe(at.elapsed().as_secs_f64());
                }
                ((ns, name), slice, replaced, version)
            })
            .buffer_unordered(WRITES_IN_FLIGHT);
        // Services with a slice that failed to apply keep their stale slices this pass: a renamed
        // slice (e.g. after an upgrade changed the naming) goes only once its successor exists.
        let mut failed: BTreeSet<(String, String)> = BTreeSet::new();
        while let Some((key, slice, replaced, version)) = applied.next().await {
            if let Some(version) = version {
                memo.record_applied(key, &slice, &version, replaced.as_deref());
            } else {
                errors += 1;
                failed.insert((key.0, service_of(&slice)));
            }
        }
        drop(applied);
        for slice in &existing {
            let key = (slice.namespace().unwrap_or_default(), slice.name_any());
            if wanted.contains_key(&key) {
                continue;
            }
            let source = slice
                .labels()
                .get(LABEL_SOURCE_CLUSTER)
                .map(String::as_str)
                .unwrap_or_default();
            if held.contains(source) || failed.contains(&(key.0.clone(), service_of(slice))) {
                continue;
            }
            let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), &key.0);
            let result = api.delete(&key.1, &DeleteParams::default()).await;
            self.metrics.wrote("sync_endpointslice");
            match result {
                Ok(_) => {
                    tracing::info!(namespace = %key.0, slice = %key.1, "stale MCS slice removed");
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(err) => {
                    errors += 1;
                    tracing::warn!(namespace = %key.0, slice = %key.1, error = %err, "failed to remove a stale MCS slice");
                }
            }
        }
        errors
    }

    async fn delete_stale_imports(
        &self,
        wanted: &BTreeSet<(String, String)>,
        held: &[HeldExports],
    ) -> usize {
        let mut errors = 0;
        for import in self.local.imports.state() {
            if import.labels().get(LABEL_SYNCED).map(String::as_str) != Some("true") {
                continue;
            }
            let key = (import.namespace().unwrap_or_default(), import.name_any());
            if wanted.contains(&key)
                || import.metadata.deletion_timestamp.is_some()
                || !hold::may_delete(&key, held)
            {
                continue;
            }
            let api: Api<ServiceImport> = Api::namespaced(self.client.clone(), &key.0);
            let result = api.delete(&key.1, &DeleteParams::default()).await;
            self.metrics.wrote("sync_serviceimport");
            match result {
                Ok(_) => {
                    tracing::info!(namespace = %key.0, name = %key.1, "service import removed: no cluster exports it any more");
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(err) => {
                    errors += 1;
                    tracing::warn!(namespace = %key.0, name = %key.1, error = %err, "failed to remove a service import");
                }
            }
        }
        errors
    }
}

fn log_result<T>(result: &kube::Result<T>, ns: &str, name: &str, what: &str) {
    match result {
        Ok(_) => tracing::debug!(namespace = %ns, name = %name, "{what}"),
        Err(err) => {
            tracing::warn!(namespace = %ns, name = %name, error = err as &dyn std::error::Error, "sync write failed; retrying");
        }
    }
}

/// Whether the live import already has the fields the sync owns.
fn import_matches(current: &ServiceImport, want: &ImportView) -> bool {
    let spec = &current.spec;
    let ports: Vec<(String, String, i32, Option<String>)> = spec
        .ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                p.port,
                p.app_protocol.clone(),
            )
        })
        .collect();
    let want_ports: Vec<(String, String, i32, Option<String>)> = want
        .ports
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.protocol.clone(),
                p.port,
                p.app_protocol.clone(),
            )
        })
        .collect();
    let headless = spec.type_ == causeway_api::ServiceImportType::Headless;
    let timeout = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref())
        .and_then(|c| c.timeout_seconds);
    let mut labels = current.labels().clone();
    let synced = labels.remove(LABEL_SYNCED).is_some();
    let mut annotations = current.annotations().clone();
    annotations.remove(ANNOTATION_DERIVED_SERVICE);
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    synced
        && headless == want.headless
        && ports == want_ports
        && spec.session_affinity.as_deref().unwrap_or("None") == want.session_affinity
        && timeout == want.affinity_timeout
        && spec.internal_traffic_policy == want.internal_traffic_policy
        && spec.traffic_distribution == want.traffic_distribution
        && spec.ip_families.clone().unwrap_or_default() == want.ip_families
        && labels == want.labels
        && annotations == want.annotations
}

/// Whether a live MCS slice equals the desired one in everything the sync writes.
/// The service an MCS slice belongs to (its `multicluster.kubernetes.io/service-name` label).
fn service_of(slice: &EndpointSlice) -> String {
    slice
        .labels()
        .get(LABEL_SERVICE_NAME)
        .cloned()
        .unwrap_or_default()
}

fn slice_matches(current: &EndpointSlice, want: &EndpointSlice) -> bool {
    let owners = |s: &EndpointSlice| {
        s.metadata
            .owner_references
            .as_ref()
            .map(|o| o.iter().map(|r| r.uid.clone()).collect::<Vec<_>>())
    };
    current.metadata.labels == want.metadata.labels
        && owners(current) == owners(want)
        && current.address_type == want.address_type
        && current.endpoints == want.endpoints
        && current.ports == want.ports
}
