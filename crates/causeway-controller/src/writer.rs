//! The one way the controller writes to its own cluster: a [`Writer`] checks leadership
//! immediately before every API call and counts every call it makes.
//!
//! Data flow: the sync engine and the import reconciler decide what to write from their caches,
//! then hand each write to a [`Writer`] session ([`Writer::session`]: one per sync pass, one per
//! reconcile). Before each request the session reads the Lease flag (`is_leader`, kept by
//! `causeway-runtime::lease`); when this replica does not lead, the request is not sent and
//! [`WriteError::NotLeader`] comes back. The first refusal closes the session for good, so the
//! writes a pass still had queued are dropped, not sent, even if this replica wins the Lease
//! again before the pass ends: its plan was computed from what it saw before. A request that was
//! sent is counted in `causeway_controller_api_writes_total{kind}` whatever its answer, as the
//! sync always counted; refused ones are not. Writes are server-side applies (forced, with the
//! session's field manager), a merge patch, a replace or a delete.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Writes to the local cluster while this replica holds the Lease.
pub struct Writer {
    client: kube::Client,
    is_leader: watch::Receiver<bool>,
    metrics: Metrics,
    manager: &'static str,
    /// Set at this session's first refusal: it sends nothing more.
    closed: AtomicBool,
}

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Not sent: this replica does not hold the Lease (or lost it earlier in this session).
    #[error(
        "not written: this replica does not hold the Lease; the leader writes it (see `causeway status` for which replica leads)"
    )]
    NotLeader,
    /// Sent, and the apiserver (or the connection) failed it.
    #[error(transparent)]
    Api(#[from] kube::Error),
}

impl WriteError {
    /// The HTTP status of a failed request (`None`: not sent, or no answer).
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Api(kube::Error::Api(status)) => Some(status.code),
            _ => None,
        }
    }

    /// The apiserver's message of a failed request (empty when there is none).
    pub fn message(&self) -> &str {
        match self {
            Self::Api(kube::Error::Api(status)) => &status.message,
            _ => "",
        }
    }
}

/// What a delete found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// The object was there and is being deleted.
    Removed,
    /// It was gone already (404).
    AlreadyGone,
}

/// The bounds of an object a [`Writer`] writes.
pub trait Writable:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
{
}

impl<K> Writable for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
{
}

impl Writer {
    /// A writer for `client` whose applies use field manager `manager`.
    pub fn new(
        client: kube::Client,
        is_leader: watch::Receiver<bool>,
        metrics: Metrics,
        manager: &'static str,
    ) -> Self {
        Self {
            client,
            is_leader,
            metrics,
            manager,
            closed: AtomicBool::new(false),
        }
    }

    /// A fresh session on the same client and Lease flag (open while this replica leads).
    #[must_use]
    pub fn session(&self) -> Self {
        Self::new(
            self.client.clone(),
            self.is_leader.clone(),
            self.metrics.clone(),
            self.manager,
        )
    }

    /// Whether this session may write now.
    pub fn leads(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && *self.is_leader.borrow()
    }

    /// Server-side apply (forced) of `patch` to `ns/name`.
    pub async fn apply<K: Writable>(
        &self,
        kind: &'static str,
        ns: &str,
        name: &str,
        patch: &(impl Serialize + Debug),
    ) -> Result<K, WriteError> {
        self.admit()?;
        let result = self
            .api::<K>(ns)
            .patch(name, &self.apply_params(), &Patch::Apply(patch))
            .await;
        self.metrics.wrote(kind);
        Ok(result?)
    }

    /// Server-side apply (forced) of `patch` to the status of `ns/name`.
    pub async fn apply_status<K: Writable>(
        &self,
        kind: &'static str,
        ns: &str,
        name: &str,
        patch: &(impl Serialize + Debug),
    ) -> Result<K, WriteError> {
        self.admit()?;
        let result = self
            .api::<K>(ns)
            .patch_status(name, &self.apply_params(), &Patch::Apply(patch))
            .await;
        self.metrics.wrote(kind);
        Ok(result?)
    }

    /// JSON merge patch of `ns/name` (no field manager: for fields apply cannot drop).
    pub async fn merge<K: Writable>(
        &self,
        kind: &'static str,
        ns: &str,
        name: &str,
        patch: &serde_json::Value,
    ) -> Result<K, WriteError> {
        self.admit()?;
        let result = self
            .api::<K>(ns)
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await;
        self.metrics.wrote(kind);
        Ok(result?)
    }

    /// Replaces `ns/name` whole with `object`.
    pub async fn replace<K: Writable>(
        &self,
        kind: &'static str,
        ns: &str,
        name: &str,
        object: &K,
    ) -> Result<K, WriteError> {
        self.admit()?;
        let result = self
            .api::<K>(ns)
            .replace(name, &PostParams::default(), object)
            .await;
        self.metrics.wrote(kind);
        Ok(result?)
    }

    /// Deletes `ns/name`; an object already gone is not an error.
    pub async fn delete<K: Writable>(
        &self,
        kind: &'static str,
        ns: &str,
        name: &str,
    ) -> Result<Deleted, WriteError> {
        self.admit()?;
        let result = self
            .api::<K>(ns)
            .delete(name, &DeleteParams::default())
            .await;
        self.metrics.wrote(kind);
        match result {
            Ok(_) => Ok(Deleted::Removed),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e.into()),
        }
    }

    /// Lets a request through only while this session is open and this replica leads; the
    /// first refusal closes the session.
    fn admit(&self) -> Result<(), WriteError> {
        if self.leads() {
            return Ok(());
        }
        if !self.closed.swap(true, Ordering::AcqRel) {
            tracing::info!(
                "not leading (any more): this pass's or reconcile's remaining writes are dropped; the leader makes them"
            );
        }
        Err(WriteError::NotLeader)
    }

    fn apply_params(&self) -> PatchParams {
        PatchParams::apply(self.manager).force()
    }

    fn api<K: Writable>(&self, ns: &str) -> Api<K> {
        Api::namespaced(self.client.clone(), ns)
    }
}

#[cfg(test)]
mod tests;
