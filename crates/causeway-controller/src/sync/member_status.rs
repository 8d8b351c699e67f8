//! Keeps one `ClusterSetMember` per peer Secret in the members namespace (lease holder only).
//!
//! Data flow: once the CRD is served ([`MemberStatus::poll`]; checked again every 30 s while it
//! is not, so an older install keeps syncing without it), a reflector caches the members
//! namespace's ClusterSetMembers. Each engine pass hands [`MemberStatus::converge`] the complete
//! member list with each member's desired status (`member_conditions`); it applies the object
//! (spec and an ownerReference to the Secret, so it goes with the Secret) when missing or
//! different, the status when a condition or the cluster id differs (`lastTransitionTime` moves
//! only when a status flips), and deletes objects whose Secret is no longer a member. Every write
//! goes through the engine's leader-gated writer, as server-side apply by `causeway-sync`;
//! nothing is written in a steady state.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use causeway_api::ClusterSetMember;
use causeway_api::clusterset_member::API_VERSION;
use causeway_core::conditions;
use causeway_runtime::timeouts::watch_config;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::Notify;
use tracing::Instrument as _;

use super::member_conditions::DesiredMember;
use super::members::PeerSecret;
use crate::writer::{Deleted, WriteError, Writer};

/// How often an absent CRD is looked for again.
const RECHECK: Duration = Duration::from_secs(30);
/// How long a write bridges the moment until the cache shows it.
const WRITE_MEMORY: Duration = Duration::from_secs(10);

/// One member for [`MemberStatus::converge`].
pub struct MemberInput<'a> {
    /// Its Secret.
    pub secret: &'a PeerSecret,
    /// Its desired status; `None` while it is coming up (the status is left as it is).
    pub desired: Option<DesiredMember>,
}

/// A write this replica made that its cache may not show yet.
struct Written {
    /// resourceVersions that do not show it yet: the one it was based on and this replica's
    /// other writes of the same pass.
    seen: Vec<Option<String>>,
    desired: String,
    at: Instant,
}

/// Whether the CRD is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Served {
    Unknown,
    Yes,
    /// Not served or not readable: member status is not written.
    No,
}

/// The ClusterSetMember writer of the members namespace.
pub struct MemberStatus {
    api: Api<ClusterSetMember>,
    namespace: String,
    served: Served,
    last_check: Option<Instant>,
    store: Option<Store<ClusterSetMember>>,
    synced: Arc<AtomicBool>,
    written: HashMap<(String, &'static str), Written>,
}

impl MemberStatus {
    /// A writer for `namespace`; nothing runs until [`Self::poll`].
    pub fn new(client: &kube::Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(client.clone(), namespace),
            namespace: namespace.to_owned(),
            served: Served::Unknown,
            last_check: None,
            store: None,
            synced: Arc::default(),
            written: HashMap::new(),
        }
    }

    /// Starts the cache once the CRD is served; events poke `notify`.
    pub async fn poll(&mut self, notify: &Arc<Notify>) {
        if self.served == Served::Yes || self.last_check.is_some_and(|t| t.elapsed() < RECHECK) {
            return;
        }
        self.last_check = Some(Instant::now());
        match self.api.list(&ListParams::default().limit(1)).await {
            Ok(_) => {
                self.served = Served::Yes;
                self.start(notify);
            }
            Err(err) => {
                if self.served == Served::Unknown {
                    let hint = match &err {
                        kube::Error::Api(s) if s.code == 404 => {
                            "the ClusterSetMember CRD is not installed: `causeway crds | kubectl apply -f -`"
                        }
                        kube::Error::Api(s) if s.code == 403 => {
                            "grant list/watch/create/patch/delete on clustersetmembers and patch on clustersetmembers/status (deploy/controller/rbac.yaml)"
                        }
                        _ => "retrying",
                    };
                    tracing::warn!(namespace = %self.namespace, error = &err as &dyn std::error::Error, hint, "cannot read ClusterSetMembers; member conditions are not written, sync goes on");
                }
                self.served = Served::No;
            }
        }
    }

    /// True when passes may rely on [`Self::recorded_id`]: the cache listed, or the kind is not
    /// available (then nothing is recorded and waiting would not help).
    pub fn settled(&self) -> bool {
        match self.served {
            Served::Unknown => false,
            Served::Yes => self.synced.load(Ordering::Relaxed),
            Served::No => true,
        }
    }

    /// The peer cluster id recorded for member `name`.
    pub fn recorded_id(&self, name: &str) -> Option<String> {
        self.store
            .as_ref()?
            .get(&ObjectRef::new(name).within(&self.namespace))?
            .status
            .as_ref()?
            .cluster_id
            .clone()
    }

    fn start(&mut self, notify: &Arc<Notify>) {
        let (store, writer) = reflector::store();
        let (synced, notify) = (self.synced.clone(), notify.clone());
        let stream = reflector::reflector(
            writer,
            watcher::watcher(self.api.clone(), watch_config())
                .modify(|o| o.metadata.managed_fields = None),
        )
        .backoff(causeway_runtime::backoff::watch())
        .for_each(move |ev| {
            match &ev {
                Ok(watcher::Event::InitDone) => synced.store(true, Ordering::Relaxed),
                Ok(_) => {}
                Err(err) => tracing::warn!(
                    error = err as &dyn std::error::Error,
                    "watch of ClusterSetMembers failed; retrying"
                ),
            }
            notify.notify_one();
            futures::future::ready(())
        });
        tokio::spawn(stream.instrument(tracing::info_span!("clustersetmembers")));
        self.store = Some(store);
    }

    /// Writes what differs for `members` (the complete member list) through `writer`; returns
    /// failed (or refused) writes.
    pub async fn converge(&mut self, writer: &Writer, members: &[MemberInput<'_>]) -> usize {
        let Some(store) = self.store.clone().filter(|_| self.settled()) else {
            return 0;
        };
        self.written.retain(|_, w| w.at.elapsed() < WRITE_MEMORY);
        let mut errors = 0;
        for m in members {
            let name = m.secret.name.as_str();
            let current = store.get(&ObjectRef::new(name).within(&self.namespace));
            let rv = current.as_ref().and_then(|c| c.resource_version());
            let owned = current.as_ref().is_some_and(|c| {
                c.spec.secret_name == name
                    && c.owner_references()
                        .iter()
                        .any(|o| o.kind == "Secret" && o.uid == m.secret.uid)
            });
            let mut generation = current.as_ref().and_then(|c| c.metadata.generation);
            // resourceVersions of this object that predate this pass's writes.
            let mut seen = vec![rv.clone()];
            if !owned && !self.bridged(name, "object", rv.as_ref(), &m.secret.uid) {
                let Ok(applied) = self.apply_object(writer, m.secret).await else {
                    errors += 1;
                    continue;
                };
                generation = applied.metadata.generation;
                self.record(name, "object", seen.clone(), m.secret.uid.clone());
                seen.push(applied.resource_version());
            }
            let Some(want) = &m.desired else {
                continue;
            };
            let status = current
                .as_ref()
                .and_then(|c| c.status.clone())
                .unwrap_or_default();
            let existing = status.conditions.unwrap_or_default();
            let cluster_id = want.cluster_id.clone().or(status.cluster_id.clone());
            if conditions::up_to_date(&existing, &want.conditions, generation)
                && cluster_id == status.cluster_id
            {
                continue;
            }
            let key = format!("{cluster_id:?} {:?}", want.conditions);
            if self.bridged(name, "status", rv.as_ref(), &key) {
                continue;
            }
            let now = Time(k8s_openapi::jiff::Timestamp::now());
            let merged: Vec<_> = conditions::merge(&existing, &want.conditions, generation, &now)
                .into_iter()
                .filter(|c| want.conditions.iter().any(|d| d.type_ == c.type_))
                .collect();
            let mut body = json!({"conditions": merged});
            if let Some(id) = &cluster_id {
                body["clusterID"] = json!(id);
            }
            match self.apply_status(writer, name, body).await {
                Ok(applied) => {
                    self.record(name, "status", seen, key);
                    // The object check must not take this write for someone else's either.
                    if let Some(w) = self.written.get_mut(&(name.to_owned(), "object")) {
                        w.seen.push(applied.resource_version());
                    }
                }
                Err(()) => errors += 1,
            }
        }
        let members: BTreeSet<&str> = members.iter().map(|m| m.secret.name.as_str()).collect();
        for gone in store.state() {
            let name = gone.name_any();
            if members.contains(name.as_str()) || gone.metadata.deletion_timestamp.is_some() {
                continue;
            }
            errors += usize::from(self.delete(writer, &name).await.is_err());
        }
        errors
    }

    /// True while a write of `desired` this replica made is not yet in the cache (whose object
    /// is at `rv`): writing again would only repeat it.
    fn bridged(&self, name: &str, what: &'static str, rv: Option<&String>, desired: &str) -> bool {
        self.written
            .get(&(name.to_owned(), what))
            .is_some_and(|w| w.desired == desired && w.seen.iter().any(|s| s.as_ref() == rv))
    }

    fn record(
        &mut self,
        name: &str,
        what: &'static str,
        seen: Vec<Option<String>>,
        desired: String,
    ) {
        self.written.insert(
            (name.to_owned(), what),
            Written {
                seen,
                desired,
                at: Instant::now(),
            },
        );
    }

    async fn apply_object(
        &self,
        writer: &Writer,
        secret: &PeerSecret,
    ) -> Result<ClusterSetMember, ()> {
        let obj = json!({
            "apiVersion": API_VERSION,
            "kind": "ClusterSetMember",
            "metadata": {
                "name": secret.name,
                "namespace": self.namespace,
                "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Secret", "name": secret.name, "uid": secret.uid,
                }],
            },
            "spec": {"secretName": secret.name},
        });
        let result = writer
            .apply("sync_clustersetmember", &self.namespace, &secret.name, &obj)
            .await;
        self.logged(result, &secret.name, "cluster set member applied")
    }

    async fn apply_status(
        &self,
        writer: &Writer,
        name: &str,
        status: serde_json::Value,
    ) -> Result<ClusterSetMember, ()> {
        let patch =
            json!({"apiVersion": API_VERSION, "kind": "ClusterSetMember", "status": status});
        let result = writer
            .apply_status(
                "sync_clustersetmember_status",
                &self.namespace,
                name,
                &patch,
            )
            .await;
        self.logged(result, name, "cluster set member status set")
    }

    async fn delete(&self, writer: &Writer, name: &str) -> Result<(), ()> {
        let result = writer
            .delete::<ClusterSetMember>("sync_clustersetmember", &self.namespace, name)
            .await;
        match result {
            Ok(Deleted::Removed) => {
                tracing::info!(namespace = %self.namespace, name, "cluster set member removed: its Secret is no longer a peer");
                Ok(())
            }
            Ok(Deleted::AlreadyGone) => Ok(()),
            Err(WriteError::NotLeader) => Err(()),
            Err(err) => {
                tracing::warn!(namespace = %self.namespace, name, error = &err as &dyn std::error::Error, "failed to remove a cluster set member; retrying");
                Err(())
            }
        }
    }

    fn logged(
        &self,
        result: Result<ClusterSetMember, WriteError>,
        name: &str,
        what: &str,
    ) -> Result<ClusterSetMember, ()> {
        match result {
            Ok(obj) => {
                tracing::debug!(namespace = %self.namespace, name, "{what}");
                Ok(obj)
            }
            Err(WriteError::NotLeader) => Err(()),
            Err(err) => {
                tracing::warn!(namespace = %self.namespace, name, error = &err as &dyn std::error::Error, "cluster set member write failed; retrying");
                Err(())
            }
        }
    }
}
