//! `causeway join`: puts this cluster and a peer in one clusterset and lets this cluster read the
//! peer. It first checks (nothing is written if a check fails): the two cluster ids differ and no
//! other member of either cluster already has the peer's id (mcs-spec.md §7.2), and neither
//! cluster is in another clusterset (§7.3). Then it creates ClusterProperty `clusterset.k8s.io`
//! in both clusters where absent (the controller syncs only peers of its own clusterset). In the
//! peer it creates a ServiceAccount (in `--members-namespace`) bound by a ClusterRoleBinding of
//! its own to the read-only ClusterRole of deploy/controller/peer-reader.yaml (rendered from
//! charts/causeway/templates/controller/peer-reader.yaml) and gets a token
//! ([`reader`]: joins into different members namespaces compose, and the current token is kept
//! while it is good, so a repeated join changes nothing); in this cluster it stores a kubeconfig
//! with that token in a labelled Secret, which the controller picks up. `--both` also lets the
//! peer read this cluster.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use causeway_api::names::{
    FIELD_MANAGER_CLI, LABEL_PEER, PEER_SECRET_KEY, PROPERTY_CLUSTER_ID, PROPERTY_CLUSTERSET,
};
use causeway_api::{ClusterProperty, ClusterPropertySpec, ClusterSetMember};
use causeway_controller::sync::identity;
use clap::Args;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;

mod reader;

const PEER_READER: &str = include_str!("../../../deploy/controller/peer-reader.yaml");

/// Clusterset name used when neither cluster is in one yet.
const DEFAULT_CLUSTERSET: &str = "clusterset";

/// `causeway join` flags.
#[derive(Debug, Args)]
pub struct JoinCommand {
    /// Admin kubeconfig of the peer cluster (used once, to create the read-only credential).
    #[arg(long)]
    peer_kubeconfig: std::path::PathBuf,
    /// Context in the peer kubeconfig.
    #[arg(long)]
    peer_context: Option<String>,
    /// Admin kubeconfig of this cluster (default: in-cluster or $KUBECONFIG).
    #[arg(long, env = "CAUSEWAY_KUBECONFIG")]
    kubeconfig: Option<std::path::PathBuf>,
    /// Context in this cluster's kubeconfig.
    #[arg(long)]
    context: Option<String>,
    /// Namespace of the peer Secrets (the controller's --members-namespace) and of the peer
    /// ServiceAccounts.
    #[arg(long, default_value = "causeway-system")]
    members_namespace: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 31_536_000)]
    token_seconds: i64,
    /// Also let the peer read this cluster.
    #[arg(long)]
    both: bool,
    /// The clusterset both clusters join (ClusterProperty `clusterset.k8s.io`, created in both
    /// where absent). Default: this cluster's clusterset, else the peer's, else "clusterset".
    /// Refused if either cluster is already in another clusterset.
    #[arg(long)]
    clusterset: Option<String>,
}

struct Side {
    client: kube::Client,
    kubeconfig: Kubeconfig,
    id: String,
}

impl JoinCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            peer_kubeconfig,
            peer_context,
            kubeconfig,
            context,
            members_namespace,
            token_seconds,
            both,
            clusterset,
        } = self;
        let local_path = match kubeconfig {
            Some(p) => p,
            None => std::env::var_os("KUBECONFIG")
                .map(std::path::PathBuf::from)
                .context("set --kubeconfig for this cluster")?,
        };
        let local = side(&local_path, context).await?;
        let peer = side(&peer_kubeconfig, peer_context).await?;
        if local.id == peer.id {
            bail!(
                "both kubeconfigs point at cluster {}: give --peer-kubeconfig the other cluster",
                local.id
            );
        }
        let local_set = clusterset_of(&local).await?;
        let peer_set = clusterset_of(&peer).await?;
        let set = clusterset
            .or_else(|| local_set.clone())
            .or_else(|| peer_set.clone())
            .unwrap_or_else(|| DEFAULT_CLUSTERSET.to_owned());
        if set.trim().is_empty() {
            bail!("--clusterset must not be empty");
        }
        for (side, current) in [(&local, &local_set), (&peer, &peer_set)] {
            check_clusterset(side, current.as_deref(), &set)?;
        }
        unique_id(&local, &peer, &members_namespace).await?;
        if both {
            unique_id(&peer, &local, &members_namespace).await?;
        }
        for (side, current) in [(&local, &local_set), (&peer, &peer_set)] {
            if current.is_none() {
                set_clusterset(side, &set).await?;
                eprintln!("join: cluster {} joined clusterset {set}", side.id);
            }
        }
        link(&local, &peer, &members_namespace, token_seconds).await?;
        eprintln!(
            "join: cluster {} now reads cluster {} (read-only)",
            local.id, peer.id
        );
        if both {
            link(&peer, &local, &members_namespace, token_seconds).await?;
            eprintln!(
                "join: cluster {} now reads cluster {} (read-only)",
                peer.id, local.id
            );
        }
        Ok(())
    }
}

async fn side(path: &std::path::Path, context: Option<String>) -> anyhow::Result<Side> {
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("failed to read kubeconfig {}", path.display()))?;
    let client = causeway_runtime::ClientArgs {
        kubeconfig: Some(path.to_owned()),
        context,
    }
    .client()
    .await?;
    let id = identity::cluster_id(&client, true)
        .await
        .with_context(|| format!("failed to read the cluster id through {}", path.display()))?;
    Ok(Side {
        client,
        kubeconfig,
        id,
    })
}

/// A cluster's ClusterProperty `clusterset.k8s.io`, if set.
async fn clusterset_of(side: &Side) -> anyhow::Result<Option<String>> {
    let props: Api<ClusterProperty> = Api::all(side.client.clone());
    let prop = props.get_opt(PROPERTY_CLUSTERSET).await.with_context(|| {
        format!(
            "failed to read ClusterProperty {PROPERTY_CLUSTERSET} in cluster {}",
            side.id
        )
    })?;
    Ok(prop.map(|p| p.spec.value))
}

/// Refuses to move a cluster from one clusterset into another.
fn check_clusterset(side: &Side, current: Option<&str>, wanted: &str) -> anyhow::Result<()> {
    match current {
        Some(v) if v != wanted => bail!(
            "cluster {} is in clusterset {v:?} (ClusterProperty {PROPERTY_CLUSTERSET}), not {wanted:?}: a cluster belongs to one clusterset. Join with --clusterset {v} (or without --clusterset), or make it leave {v:?} first (delete its peer Secrets and `kubectl delete clusterproperty {PROPERTY_CLUSTERSET}`)",
            side.id
        ),
        _ => Ok(()),
    }
}

/// Creates ClusterProperty `clusterset.k8s.io` = `value` in a cluster that has none.
async fn set_clusterset(side: &Side, value: &str) -> anyhow::Result<()> {
    let props: Api<ClusterProperty> = Api::all(side.client.clone());
    let prop = ClusterProperty::new(
        PROPERTY_CLUSTERSET,
        ClusterPropertySpec {
            value: value.to_owned(),
        },
    );
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER_CLI.to_owned()),
        ..PostParams::default()
    };
    match props.create(&params, &prop).await {
        Ok(_) => Ok(()),
        // Someone set it meanwhile: fine if it is the same clusterset.
        Err(kube::Error::Api(s)) if s.code == 409 => {
            check_clusterset(side, clusterset_of(side).await?.as_deref(), value)
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "failed to create ClusterProperty {PROPERTY_CLUSTERSET} in cluster {}",
                side.id
            )
        }),
    }
}

/// Refuses a peer whose cluster id another member of `reader` already has (as recorded in its
/// ClusterSetMembers): two members must never share an id. Re-joining the same peer (its Secret
/// `peer-<id>`) is fine.
async fn unique_id(reader: &Side, source: &Side, ns: &str) -> anyhow::Result<()> {
    let secrets: Api<Secret> = Api::namespaced(reader.client.clone(), ns);
    let peers: Vec<String> = match secrets
        .list(&ListParams::default().labels(&format!("{LABEL_PEER}=true")))
        .await
    {
        Ok(list) => list
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .collect(),
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "failed to list the peer Secrets in namespace {ns} of cluster {}",
                    reader.id
                )
            });
        }
    };
    let members: Api<ClusterSetMember> = Api::namespaced(reader.client.clone(), ns);
    let recorded = match members.list(&ListParams::default()).await {
        Ok(list) => list.items,
        // No CRD (an older install) or no controller yet: nothing recorded to compare with.
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "failed to list ClusterSetMembers in namespace {ns} of cluster {}",
                    reader.id
                )
            });
        }
    };
    let own = secret_name(&source.id);
    for m in recorded {
        let name = m.metadata.name.clone().unwrap_or_default();
        let id = m.status.as_ref().and_then(|s| s.cluster_id.as_deref());
        if name != own && id == Some(source.id.as_str()) && peers.contains(&name) {
            bail!(
                "cluster {} already has a member with cluster id {} (peer Secret {ns}/{name}): two members must not share an id (ClusterProperty {PROPERTY_CLUSTER_ID}). If {name} points at the same cluster, delete it first; otherwise give one of the clusters another id before it joins",
                reader.id,
                source.id
            );
        }
    }
    Ok(())
}

/// The peer Secret `causeway join` writes for cluster `id`.
fn secret_name(id: &str) -> String {
    format!("peer-{id}")
}

/// Lets `reader` read `source`.
async fn link(reader: &Side, source: &Side, ns: &str, token_seconds: i64) -> anyhow::Result<()> {
    let apply = PatchParams::apply(FIELD_MANAGER_CLI).force();
    for side in [reader, source] {
        let nss: Api<Namespace> = Api::all(side.client.clone());
        let obj = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.to_owned()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        nss.patch(ns, &apply, &Patch::Apply(&obj))
            .await
            .with_context(|| format!("failed to create namespace {ns} in cluster {}", side.id))?;
    }
    // In the source: the read-only role, a ServiceAccount for the reader, its binding, a token.
    let mut role: ClusterRole = serde_saphyr::from_str(PEER_READER)
        .context("deploy/controller/peer-reader.yaml is not a ClusterRole")?;
    // deploy/ is rendered from the Helm chart: its labels name a Helm release, which this
    // ClusterRole, applied by join, is not part of (a chart-installed one keeps its own labels).
    role.metadata.labels = None;
    let role_name = role.metadata.name.clone().unwrap_or_default();
    Api::<ClusterRole>::all(source.client.clone())
        .patch(&role_name, &apply, &Patch::Apply(&role))
        .await
        .with_context(|| {
            format!(
                "failed to apply ClusterRole {role_name} in cluster {}",
                source.id
            )
        })?;
    let sa_name = format!("causeway-reader-{}", reader.id);
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(sa_name.clone()),
            namespace: Some(ns.to_owned()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    let sas: Api<ServiceAccount> = Api::namespaced(source.client.clone(), ns);
    sas.patch(&sa_name, &apply, &Patch::Apply(&sa))
        .await
        .with_context(|| {
            format!(
                "failed to create ServiceAccount {ns}/{sa_name} in cluster {}",
                source.id
            )
        })?;
    reader::bind(
        &source.client,
        &source.id,
        &reader.id,
        ns,
        &sa_name,
        &role_name,
    )
    .await?;
    let secret_name = secret_name(&source.id);
    let credential = reader::Credential {
        source: &source.client,
        source_id: &source.id,
        reader: &reader.client,
        reader_id: &reader.id,
        ns,
        sa: &sa_name,
        secret: &secret_name,
    };
    let token = reader::token(&credential, token_seconds).await?;
    // In the reader: the kubeconfig, in a labelled Secret.
    let kubeconfig = reader_kubeconfig(&source.kubeconfig, &source.id, &token)?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name),
            namespace: Some(ns.to_owned()),
            labels: Some(BTreeMap::from([(LABEL_PEER.to_owned(), "true".to_owned())])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            PEER_SECRET_KEY.to_owned(),
            ByteString(kubeconfig.into_bytes()),
        )])),
        ..Secret::default()
    };
    let name = secret.metadata.name.clone().unwrap_or_default();
    Api::<Secret>::namespaced(reader.client.clone(), ns)
        .patch(&name, &apply, &Patch::Apply(&secret))
        .await
        .with_context(|| {
            format!(
                "failed to store Secret {ns}/{name} in cluster {}",
                reader.id
            )
        })?;
    Ok(())
}

/// A kubeconfig for the source cluster's current server with `token`.
fn reader_kubeconfig(source: &Kubeconfig, id: &str, token: &str) -> anyhow::Result<String> {
    let context = source
        .current_context
        .clone()
        .context("the peer kubeconfig has no current-context")?;
    let ctx = source
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.clone())
        .context("the peer kubeconfig's current context is missing")?;
    let cluster = source
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.clone())
        .context("the peer kubeconfig's cluster is missing")?;
    let server = cluster
        .server
        .clone()
        .context("the peer kubeconfig has no server")?;
    let mut lines = vec![
        "apiVersion: v1".to_owned(),
        "kind: Config".to_owned(),
        "clusters:".to_owned(),
        format!("- name: {id}"),
        "  cluster:".to_owned(),
        format!("    server: {server}"),
    ];
    if let Some(ca) = &cluster.certificate_authority_data {
        lines.push(format!("    certificate-authority-data: {ca}"));
    } else if cluster.insecure_skip_tls_verify == Some(true) {
        lines.push("    insecure-skip-tls-verify: true".to_owned());
    }
    lines.extend([
        "users:".to_owned(),
        format!("- name: causeway-reader-{id}"),
        "  user:".to_owned(),
        format!("    token: {token}"),
        "contexts:".to_owned(),
        format!("- name: {id}"),
        "  context:".to_owned(),
        format!("    cluster: {id}"),
        format!("    user: causeway-reader-{id}"),
        format!("current-context: {id}"),
    ]);
    Ok(lines.join("\n") + "\n")
}
