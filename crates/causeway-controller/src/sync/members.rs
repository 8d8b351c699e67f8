//! Clusterset members: Secrets in the members namespace labelled
//! `causeway.multicluster.x-k8s.io/peer=true`, each holding a read-only kubeconfig for one peer
//! (written by `causeway join`). The controller watches them ([`MemberSecrets`]: a new member is
//! picked up as soon as `causeway join` writes it); `causeway status` lists them ([`list`]).
//! [`connect`] turns one into a client and the peer's cluster id, or a classified
//! [`MemberFailure`].

use anyhow::Context as _;
use causeway_api::names::{LABEL_PEER, PEER_SECRET_KEY};
use causeway_runtime::timeouts::watch_config;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

use super::failure::{MemberFailure, Reason};
use super::identity;

/// How long a connection attempt may take before the member counts as unreachable.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A peer Secret: its name, resource version and kubeconfig.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSecret {
    /// Secret name.
    pub name: String,
    /// Resource version (a change restarts the peer's watches).
    pub version: String,
    /// UID, for Events about this member.
    pub uid: String,
    /// Namespace.
    pub namespace: String,
    /// Creation time (of two members with one cluster id, the later is not synced).
    pub created: Option<k8s_openapi::jiff::Timestamp>,
    /// The kubeconfig text (never logged).
    pub kubeconfig: String,
}

/// Lists the peer Secrets of `namespace`.
pub async fn list(client: &kube::Client, namespace: &str) -> anyhow::Result<Vec<PeerSecret>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default().labels(&format!("{LABEL_PEER}=true")))
        .await
        .with_context(|| format!("failed to list peer Secrets in namespace {namespace}"))?;
    Ok(sorted(list.items.iter(), namespace))
}

/// The peer Secrets, sorted by name.
fn sorted<'a>(secrets: impl Iterator<Item = &'a Secret>, namespace: &str) -> Vec<PeerSecret> {
    let mut out: Vec<PeerSecret> = secrets.map(|s| peer_secret(s, namespace)).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn peer_secret(s: &Secret, namespace: &str) -> PeerSecret {
    PeerSecret {
        name: s.name_any(),
        version: s.resource_version().unwrap_or_default(),
        uid: s.uid().unwrap_or_default(),
        namespace: namespace.to_owned(),
        created: s.metadata.creation_timestamp.as_ref().map(|t| t.0),
        kubeconfig: s
            .data
            .as_ref()
            .and_then(|d| d.get(PEER_SECRET_KEY))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .unwrap_or_default(),
    }
}

/// A watch of the peer Secrets of one namespace: every change pokes the sync.
pub struct MemberSecrets {
    namespace: String,
    store: Store<Secret>,
    synced: Arc<AtomicBool>,
    changed: Arc<AtomicBool>,
}

impl MemberSecrets {
    /// Starts watching the peer Secrets of `namespace`; every event pokes `notify`. A failed
    /// watch retries with back-off and keeps the Secrets it last saw.
    #[must_use]
    pub fn start(client: &kube::Client, namespace: &str, notify: &Arc<Notify>) -> Self {
        let (store, writer) = reflector::store();
        let synced = Arc::new(AtomicBool::new(false));
        let changed = Arc::new(AtomicBool::new(false));
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let stream = reflector::reflector(
            writer,
            watcher::watcher(api, watch_config().labels(&format!("{LABEL_PEER}=true")))
                .modify(|s| s.metadata.managed_fields = None),
        )
        .backoff(causeway_runtime::backoff::watch());
        let (flag_synced, flag_changed, notify) = (synced.clone(), changed.clone(), notify.clone());
        let ns = namespace.to_owned();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::InitDone) => {
                        flag_synced.store(true, Ordering::Release);
                        flag_changed.store(true, Ordering::Release);
                    }
                    Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                        flag_changed.store(true, Ordering::Release);
                    }
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::warn!(namespace = %ns, error = %err, "watch of member Secrets failed; keeping the current members");
                        continue;
                    }
                }
                notify.notify_one();
            }
        });
        Self {
            namespace: namespace.to_owned(),
            store,
            synced,
            changed,
        }
    }

    /// The peer Secrets if they changed since the last call and were listed completely once.
    #[must_use]
    pub fn take_changed(&self) -> Option<Vec<PeerSecret>> {
        if !self.synced.load(Ordering::Acquire) || !self.changed.swap(false, Ordering::AcqRel) {
            return None;
        }
        let state = self.store.state();
        Some(sorted(state.iter().map(AsRef::as_ref), &self.namespace))
    }
}

/// A client for a peer; the error names the Secret, never the credential (callers add the fix).
pub async fn client(secret: &PeerSecret) -> anyhow::Result<kube::Client> {
    if secret.kubeconfig.trim().is_empty() {
        anyhow::bail!("peer Secret {} has no key {PEER_SECRET_KEY}", secret.name);
    }
    let kc = Kubeconfig::from_yaml(&secret.kubeconfig).map_err(|e| {
        anyhow::anyhow!(
            "peer Secret {}: key {PEER_SECRET_KEY} is not a valid kubeconfig ({e})",
            secret.name
        )
    })?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("peer Secret {}: unusable kubeconfig ({e})", secret.name))?;
    causeway_runtime::timeouts::limit(&mut config);
    kube::Client::try_from(config)
        .map_err(|e| anyhow::anyhow!("peer Secret {}: cannot build a client ({e})", secret.name))
}

/// A client for the peer and the peer's cluster id, within [`CONNECT_TIMEOUT`].
pub async fn connect(secret: &PeerSecret) -> Result<(kube::Client, String), MemberFailure> {
    let attempt = async {
        let client = client(secret)
            .await
            .map_err(|e| MemberFailure::invalid_kubeconfig(&e))?;
        let id = identity::cluster_id(&client, false)
            .await
            .map_err(|e| MemberFailure::identity(&e))?;
        Ok((client, id))
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(MemberFailure::new(
                Reason::Unreachable,
                format!(
                    "no answer from the peer's apiserver within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ))
        })
}
