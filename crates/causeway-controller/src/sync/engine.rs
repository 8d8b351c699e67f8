//! The sync engine's loop: on every change anywhere (or every 2 s), find out who this cluster
//! is and which members take part, keep each member's ClusterSetMember status, and, when this
//! replica leads and every member it waits for has listed, run a pass. See the parent module for
//! the data flow.
//!
//! A pass is three steps and no decisions: gather the [`Inputs`] (each member's caches and
//! [`Standing`], this cluster's caches), ask [`plan::plan`] what to write, and hand the
//! [`plan::SyncPlan`] to [`execute`] with a fresh [`Writer`] session, which checks the Lease before
//! every request and drops the rest of the plan once it is lost.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_api::names::{FIELD_MANAGER_SYNC, PROPERTY_CLUSTERSET};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::{Notify, watch};

use super::cluster::ClusterWatch;
use super::events::{
    report_exclusions, report_export_events, report_member_failures, report_notices,
};
use super::failure::Reason;
use super::local::Local;
use super::member_conditions::{self, FailingView, MemberState};
use super::member_status::{MemberInput, MemberStatus};
use super::membership::{self, Candidate, Clusterset, Exclusion};
use super::memo::{Key, Memo};
use super::peers::{Peer, Peers};
use super::plan::export_events::ExportEvent;
use super::plan::notices::Notice;
use super::plan::{self, Inputs, Member, Standing, SyncPlan};
use super::{execute, identity, members};
use crate::metrics::Metrics;
use crate::writer::Writer;

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
    let event_source = Reporter {
        controller: "causeway-controller".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), event_source.clone());
    let local = Local::start(&client, settings.namespace.as_deref(), &notify);
    let mut local_id = None;
    let mut peers = Peers::new(settings.namespace.clone(), notify.clone());
    let mut member_status = MemberStatus::new(&client, &settings.members_namespace);
    let mut local_watch: Option<ClusterWatch> = None;
    let member_secrets =
        members::MemberSecrets::start(&client, &settings.members_namespace, &notify);
    let mut failed_passes: u32 = 0;
    let mut member_backoff = Backoff::default();
    let mut reported: HashSet<(String, String, Reason)> = HashSet::new();
    let mut last_membership = Clusterset::Unknown;
    let mut reported_exclusions: HashSet<(String, &'static str)> = HashSet::new();
    let mut reported_notices: HashMap<(Key, &'static str), String> = HashMap::new();
    let mut memo = Memo::default();
    let writer = Writer::new(
        client.clone(),
        is_leader.clone(),
        metrics.clone(),
        FIELD_MANAGER_SYNC,
    );
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
            let errors = member_status.converge(&writer.session(), &inputs).await;
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
        let writer = writer.session();
        let (errors, notices, export_events) =
            pass(&writer, &metrics, id, &local, &clusters, started, &mut memo).await;
        if writer.leads() {
            report_notices(&client, &event_source, &notices, &mut reported_notices).await;
            report_export_events(&client, &event_source, &export_events).await;
        } else {
            // Lost the Lease during the pass: the writes still queued were dropped, and what
            // failed is the new leader's to write.
            tracing::info!(pass = ?started.elapsed(), "leadership lost during a sync pass; standing by");
            failed_passes = 0;
            reported_notices.clear();
            continue;
        }
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

/// One pass: gathers the inputs, plans, and writes the plan through `writer`; returns the number
/// of failed (or refused) writes, the plan's notices and the Events of the export conditions
/// it wrote.
async fn pass(
    writer: &Writer,
    metrics: &Metrics,
    local_id: &str,
    local: &Local,
    clusters: &[(&ClusterWatch, Standing)],
    started: Instant,
    memo: &mut Memo,
) -> (usize, Vec<Notice>, Vec<(Key, ExportEvent)>) {
    let members: Vec<Member<'_>> = clusters
        .iter()
        .map(|(c, standing)| Member {
            id: &c.id,
            standing: *standing,
            synced: c.health.synced(),
            exports_listed: c.health.exports_listed(),
            exports: &c.exports,
            services: &c.services,
            slices: &c.slices,
        })
        .collect();
    let inputs = Inputs {
        local_id,
        members: &members,
        imports: &local.imports,
        slices: &local.slices,
        foreign_slices: &local.foreign_slices,
        namespaces: &local.namespaces,
        now: Time(k8s_openapi::jiff::Timestamp::now()),
    };
    let planned = plan::plan(&inputs, memo);
    let changed = arrivals(&planned, clusters, started);
    let (mut errors, export_events) = execute::services(writer, planned.services, memo).await;
    let slices = (planned.delete_slices, planned.apply_slices);
    errors += execute::slices(writer, metrics, slices, &changed, memo).await;
    for (c, _) in clusters {
        c.changes.drop_before(started);
    }
    errors += execute::imports(writer, planned.delete_imports).await;
    (errors, planned.notices, export_events)
}

/// When the member slice changes that each planned MCS slice carries reached this controller:
/// only changes that arrived before the pass began (a later one is not in what it read), and
/// each only once.
fn arrivals(
    planned: &SyncPlan,
    clusters: &[(&ClusterWatch, Standing)],
    started: Instant,
) -> HashMap<Key, Instant> {
    let mut out = HashMap::new();
    for service in &planned.services {
        let ns = &service.key.0;
        for c in &service.contributions {
            let Some((member, _)) = clusters.get(c.member) else {
                continue;
            };
            let sources = c.sources.iter().map(String::as_str);
            if let Some(at) = member.changes.take(ns, sources, started) {
                for name in &c.slices {
                    out.insert((ns.clone(), name.clone()), at);
                }
            }
        }
    }
    out
}

/// What a member may contribute now ([`plan::standing`] of its health).
fn standing(c: &ClusterWatch, grace: Duration) -> Standing {
    plan::standing(
        c.health.failing_for(),
        c.health.synced(),
        c.started.elapsed(),
        grace,
    )
}
