//! The leader-only writer of the `DnsResolvable` condition: thin I/O around the pure
//! [`evaluate`] and [`to_write`].
//!
//! Flow: wait until the feed's initial lists are indexed → every [`POLL`], drain the services the
//! index marked as changed (all imported services once whenever this replica gains the Lease) →
//! under a short read lock, decide per import which condition to write (only a real change: a
//! relist or a resync that changes nothing writes nothing) → server-side apply those onto the
//! status subresource with field manager `causeway-dns`, `CONCURRENCY` at a time, counting
//! every write in [`ConditionMetrics`]. A failed write is retried with a per-import back-off
//! (1 s doubling to 60 s); an import deleted meanwhile (404) is skipped. A replica that does not
//! hold the Lease drains and discards: it only serves.
//!
//! Until the watch delivers the object this replica just wrote, the index still shows the old
//! condition; the last write per import is remembered (with the condition seen before it) until
//! the index shows anything else, so a change in between does not write the same condition again,
//! and a later change by someone else is still corrected.

use std::collections::HashMap;
use std::time::Duration;

use causeway_api::names::FIELD_MANAGER_DNS;
use causeway_api::{Condition, ServiceImport};
use futures::{StreamExt, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{evaluate, patch, same, to_write};
use crate::answer::Zone;
use crate::error::Error;
use crate::index::{self, ServiceKey, SharedIndex};
use crate::metrics::ConditionMetrics;

/// How often the writer looks for changed services.
pub const POLL: Duration = Duration::from_millis(100);
/// Condition writes in flight at once (a new leader may have every import to check).
const CONCURRENCY: usize = 16;
/// Imports evaluated per read lock, so that a new leader checking every import never holds the
/// lock long enough to delay the feed (and the queries queued behind its write lock).
const CHUNK: usize = 256;
/// Back-off of a failing import: first retry.
const RETRY_MIN: Duration = Duration::from_secs(1);
/// Back-off of a failing import: longest wait.
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Writes `DnsResolvable` conditions from the index while this replica leads.
pub struct Writer {
    client: kube::Client,
    index: SharedIndex,
    zone: Zone,
    metrics: ConditionMetrics,
    /// Per import, the condition seen before the last write and the one written, until the
    /// index shows another condition than the former (the write's echo, or a later change).
    written: HashMap<ServiceKey, (Option<Condition>, Condition)>,
    /// Imports whose write failed: attempts so far and when to retry.
    failing: HashMap<ServiceKey, (u32, Instant)>,
}

/// The outcome of one write.
enum Outcome {
    Written(Condition),
    Gone,
    Failed(Error),
}

impl Writer {
    /// A writer for `zone` from `index` (which must track changes, see
    /// [`Index::track_changes`](crate::index::Index::track_changes)).
    pub fn new(
        client: kube::Client,
        index: SharedIndex,
        zone: Zone,
        metrics: ConditionMetrics,
    ) -> Self {
        index::write(&index).track_changes();
        Self {
            client,
            index,
            zone,
            metrics,
            written: HashMap::new(),
            failing: HashMap::new(),
        }
    }

    /// Runs until `is_leader`'s sender is dropped: waits for `ready`, then writes while
    /// `is_leader` is `true`.
    pub async fn run(
        mut self,
        mut ready: watch::Receiver<bool>,
        mut is_leader: watch::Receiver<bool>,
    ) {
        if ready.wait_for(|r| *r).await.is_err() {
            return;
        }
        let mut leading = false;
        loop {
            let now_leading = *is_leader.borrow_and_update();
            if now_leading != leading {
                if now_leading {
                    info!("holding the Lease: writing DnsResolvable conditions");
                    index::write(&self.index).mark_all_changed();
                } else {
                    info!("not holding the Lease: serving only");
                    self.written.clear();
                    self.failing.clear();
                }
                leading = now_leading;
            }
            let changed = self.take_changed();
            if leading {
                self.write_changed(changed).await;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                changed = is_leader.changed() => if changed.is_err() {
                    return;
                },
            }
        }
    }

    /// The changed services plus the failing ones whose back-off has passed.
    fn take_changed(&mut self) -> Vec<ServiceKey> {
        let mut keys = if index::read(&self.index).has_changes() {
            index::write(&self.index).take_changed()
        } else {
            Vec::new()
        };
        let now = Instant::now();
        keys.extend(
            self.failing
                .iter()
                .filter(|(key, (_, at))| *at <= now && !keys.contains(key))
                .map(|(key, _)| key.clone())
                .collect::<Vec<_>>(),
        );
        keys
    }

    async fn write_changed(&mut self, keys: Vec<ServiceKey>) {
        if keys.is_empty() {
            return;
        }
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let mut writes: Vec<(ServiceKey, (Option<Condition>, Condition))> = Vec::new();
        for chunk in keys.chunks(CHUNK) {
            let index = index::read(&self.index);
            writes.extend(chunk.iter().cloned().filter_map(|key| {
                let (ns, name) = &key;
                let Some(desired) = evaluate(&index, &self.zone, ns, name) else {
                    // Deleted: nothing to write, nothing to remember.
                    self.written.remove(&key);
                    self.failing.remove(&key);
                    return None;
                };
                let observed = index.import_status(ns, name);
                let seen = observed.and_then(|s| s.dns_resolvable.clone());
                if self
                    .written
                    .get(&key)
                    .is_some_and(|(before, _)| *before != seen)
                {
                    self.written.remove(&key);
                }
                let condition = to_write(observed, &desired, &now)?;
                if self
                    .written
                    .get(&key)
                    .is_some_and(|(_, written)| same(written, &condition))
                {
                    // Written a moment ago; the watch has not delivered it yet.
                    return None;
                }
                Some((key, (seen, condition)))
            }));
        }
        let client = &self.client;
        let outcomes: Vec<(ServiceKey, Option<Condition>, Outcome)> = stream::iter(writes)
            .map(|(key, (before, condition))| async move {
                let outcome = apply(client, &key, condition).await;
                (key, before, outcome)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (key, before, outcome) in outcomes {
            match outcome {
                Outcome::Written(condition) => {
                    self.metrics.written();
                    self.failing.remove(&key);
                    tracing::debug!(namespace = %key.0, name = %key.1, status = %condition.status, reason = %condition.reason, "DnsResolvable condition written");
                    self.written.insert(key, (before, condition));
                }
                Outcome::Gone => {
                    self.failing.remove(&key);
                }
                Outcome::Failed(error) => {
                    self.metrics.failed();
                    let attempts = self.failing.get(&key).map_or(0, |(n, _)| *n) + 1;
                    let wait = RETRY_MIN
                        .saturating_mul(1 << attempts.min(7).saturating_sub(1))
                        .min(RETRY_MAX);
                    warn!(
                        namespace = %key.0,
                        name = %key.1,
                        attempts,
                        retry_in = ?wait,
                        error = &error as &dyn std::error::Error,
                        "failed to write the DnsResolvable condition; retrying"
                    );
                    self.failing.insert(key, (attempts, Instant::now() + wait));
                }
            }
        }
    }
}

async fn apply(client: &kube::Client, key: &ServiceKey, condition: Condition) -> Outcome {
    let (ns, name) = key;
    let api: Api<ServiceImport> = Api::namespaced(client.clone(), ns);
    let result = api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER_DNS).force(),
            &Patch::Apply(&patch(&condition)),
        )
        .await;
    match result {
        Ok(_) => Outcome::Written(condition),
        Err(kube::Error::Api(status)) if status.code == 404 => Outcome::Gone,
        Err(source) => Outcome::Failed(Error::ApplyCondition {
            namespace: ns.clone(),
            name: name.clone(),
            source: Box::new(source),
        }),
    }
}
