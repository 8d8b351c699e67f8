//! `causeway import-slices`: the seed's step 4 done right. Reads the EndpointSlices of a Service
//! in a source cluster and applies one MCS slice per source slice in the target cluster
//! (`causeway-core::mcs_slice`), idempotently; removes target slices of that source cluster whose
//! source slice is gone. `--dry-run` prints YAML; `--stdin` converts slice YAML like edit-meta.py.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use anyhow::{Context as _, bail};
use causeway_api::ServiceImport;
use causeway_api::names::{
    FIELD_MANAGER_CLI, LABEL_K8S_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME,
    LABEL_SOURCE_CLUSTER, MANAGED_BY_CAUSEWAY, PROPERTY_CLUSTER_ID,
};
use causeway_api::{ClusterProperty, ServiceImportType};
use causeway_core::derived::owner_reference;
use causeway_core::mcs_slice::{SliceTarget, mcs_slice};
use causeway_core::naming::derived_service_name;
use causeway_runtime::ClientArgs;
use clap::Args;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

/// `causeway import-slices` flags.
#[derive(Debug, Args)]
pub struct ImportSlicesCommand {
    /// The Service to import, as `<namespace>/<name>` (the ServiceImport has the same name).
    #[arg(long)]
    service: String,
    /// Kubeconfig of the source cluster (where the Service's pods run).
    #[arg(long, required_unless_present = "stdin")]
    from_kubeconfig: Option<std::path::PathBuf>,
    /// Context in the source kubeconfig.
    #[arg(long)]
    from_context: Option<String>,
    /// Cluster id of the source cluster (default: its ClusterProperty cluster.clusterset.k8s.io,
    /// else its kube-system namespace UID).
    #[arg(long)]
    source_cluster: Option<String>,
    /// Read one EndpointSlice as YAML or JSON on stdin instead of from a source cluster
    /// (needs --source-cluster).
    #[arg(long, requires = "source_cluster")]
    stdin: bool,
    /// Print the slices as YAML instead of applying them.
    #[arg(long)]
    dry_run: bool,
    /// The target cluster (where the ServiceImport lives).
    #[command(flatten)]
    target: ClientArgs,
}

impl ImportSlicesCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            service,
            from_kubeconfig,
            from_context,
            source_cluster,
            stdin,
            dry_run,
            target,
        } = self;
        let Some((namespace, name)) = service.split_once('/') else {
            bail!("--service must be <namespace>/<name>, got {service:?}");
        };
        let (sources, cluster) = read_sources(
            stdin,
            from_kubeconfig,
            from_context,
            source_cluster,
            namespace,
            name,
        )
        .await?;
        if cluster.is_empty() || cluster.contains('.') {
            bail!(
                "the source cluster id {cluster:?} must be a single DNS label; set --source-cluster"
            );
        }

        let client = if dry_run {
            None
        } else {
            Some(target.client().await?)
        };
        let import = match &client {
            Some(c) => Api::<ServiceImport>::namespaced(c.clone(), namespace)
                .get_opt(name)
                .await
                .with_context(|| format!("failed to read ServiceImport {namespace}/{name}"))?,
            None => None,
        };
        if client.is_some() && import.is_none() {
            eprintln!(
                "import-slices: warning: ServiceImport {namespace}/{name} does not exist in the target cluster: the slices are applied without an owner and are not routed until it exists (kubectl apply -f examples/demo/serviceimport.yaml)"
            );
        }
        let headless = import
            .as_ref()
            .is_some_and(|i| i.spec.type_ == ServiceImportType::Headless);
        let derived = (!headless).then(|| derived_service_name(namespace, name));
        let slice_target = SliceTarget {
            namespace,
            service: name,
            source_cluster: &cluster,
            derived_service: derived.as_deref(),
            owner: import.as_ref().map(owner_reference),
        };
        let slices: Vec<EndpointSlice> = sources
            .iter()
            .map(|s| mcs_slice(s, &slice_target))
            .collect();

        let Some(client) = client else {
            let mut out = std::io::stdout().lock();
            for s in &slices {
                writeln!(out, "---")?;
                out.write_all(
                    serde_saphyr::to_string(s)
                        .context("failed to render YAML")?
                        .as_bytes(),
                )?;
            }
            return Ok(());
        };
        apply_slices(client, namespace, name, &cluster, &slices, !stdin).await
    }
}

/// The cluster id: ClusterProperty `cluster.clusterset.k8s.io`, else the kube-system UID.
async fn cluster_id(client: &kube::Client) -> anyhow::Result<String> {
    let props: Api<ClusterProperty> = Api::all(client.clone());
    if let Ok(Some(p)) = props.get_opt(PROPERTY_CLUSTER_ID).await {
        return Ok(p.spec.value);
    }
    let ns: Api<Namespace> = Api::all(client.clone());
    let ks = ns.get("kube-system").await.context("failed to read namespace kube-system of the source cluster (for its cluster id); set --source-cluster")?;
    ks.uid().context("kube-system has no UID")
}

/// The source slices and the source cluster id: from stdin, or listed in the source cluster.
async fn read_sources(
    stdin: bool,
    from_kubeconfig: Option<std::path::PathBuf>,
    from_context: Option<String>,
    source_cluster: Option<String>,
    namespace: &str,
    name: &str,
) -> anyhow::Result<(Vec<EndpointSlice>, String)> {
    Ok(if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("failed to read stdin")?;
        let slice: EndpointSlice = serde_saphyr::from_str(&text)
            .context("stdin is not an EndpointSlice in YAML or JSON")?;
        (vec![slice], source_cluster.unwrap_or_default())
    } else {
        let source = ClientArgs {
            kubeconfig: from_kubeconfig,
            context: from_context,
        }
        .client()
        .await?;
        let cluster = match source_cluster {
            Some(c) => c,
            None => cluster_id(&source).await?,
        };
        let api: Api<EndpointSlice> = Api::namespaced(source, namespace);
        let list = api
                .list(&ListParams::default().labels(&format!("{LABEL_K8S_SERVICE_NAME}={name}")))
                .await
                .with_context(|| format!("failed to list the EndpointSlices of service {namespace}/{name} in the source cluster"))?;
        if list.items.is_empty() {
            eprintln!(
                "import-slices: service {namespace}/{name} has no EndpointSlices in the source cluster; target slices of cluster {cluster} will be removed"
            );
        }
        (list.items, cluster)
    })
}

/// Applies the MCS slices and, unless `prune` is off, deletes this source cluster's slices whose
/// source slice is gone.
async fn apply_slices(
    client: kube::Client,
    namespace: &str,
    name: &str,
    cluster: &str,
    slices: &[EndpointSlice],
    prune: bool,
) -> anyhow::Result<()> {
    let api: Api<EndpointSlice> = Api::namespaced(client, namespace);
    let params = PatchParams::apply(FIELD_MANAGER_CLI).force();
    let total = slices.len();
    for (i, s) in slices.iter().enumerate() {
        let slice_name = s.name_any();
        api.patch(&slice_name, &params, &Patch::Apply(s))
            .await
            .with_context(|| format!("failed to apply EndpointSlice {namespace}/{slice_name}"))?;
        eprintln!(
            "import-slices: [{}/{total}] applied {namespace}/{slice_name} ({} endpoints from cluster {cluster})",
            i + 1,
            s.endpoints.len()
        );
    }
    if prune {
        let keep: BTreeSet<String> = slices.iter().map(ResourceExt::name_any).collect();
        let selector = format!(
            "{LABEL_SERVICE_NAME}={name},{LABEL_SOURCE_CLUSTER}={cluster},{LABEL_MANAGED_BY}={MANAGED_BY_CAUSEWAY}"
        );
        let existing = api
            .list(&ListParams::default().labels(&selector))
            .await
            .context("failed to list existing MCS slices in the target cluster")?;
        for stale in existing
            .items
            .iter()
            .filter(|s| !keep.contains(&s.name_any()))
        {
            api.delete(&stale.name_any(), &DeleteParams::default())
                .await
                .with_context(|| {
                    format!(
                        "failed to delete stale EndpointSlice {namespace}/{}",
                        stale.name_any()
                    )
                })?;
            eprintln!(
                "import-slices: removed {namespace}/{} (its source slice is gone)",
                stale.name_any()
            );
        }
    }
    Ok(())
}
