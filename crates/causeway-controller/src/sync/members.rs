//! Clusterset members: Secrets in the members namespace labelled
//! `causeway.multicluster.x-k8s.io/peer=true`, each holding a read-only kubeconfig for one peer
//! (written by `causeway join`).

use anyhow::Context as _;
use causeway_api::names::{LABEL_PEER, PEER_SECRET_KEY};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

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
    let mut out: Vec<PeerSecret> = list
        .items
        .iter()
        .map(|s| PeerSecret {
            name: s.name_any(),
            version: s.resource_version().unwrap_or_default(),
            uid: s.uid().unwrap_or_default(),
            namespace: namespace.to_owned(),
            kubeconfig: s
                .data
                .as_ref()
                .and_then(|d| d.get(PEER_SECRET_KEY))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                .unwrap_or_default(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A client for a peer; the error names the Secret and the fix, never the credential.
pub async fn client(secret: &PeerSecret) -> anyhow::Result<kube::Client> {
    let kc = Kubeconfig::from_yaml(&secret.kubeconfig)
        .map_err(|e| anyhow::anyhow!("peer Secret {}: key {PEER_SECRET_KEY} is not a valid kubeconfig ({e}); re-run `causeway join`", secret.name))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "peer Secret {}: unusable kubeconfig ({e}); re-run `causeway join`",
                secret.name
            )
        })?;
    kube::Client::try_from(config)
        .map_err(|e| anyhow::anyhow!("peer Secret {}: cannot build a client ({e})", secret.name))
}
