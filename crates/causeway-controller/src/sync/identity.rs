//! This cluster's id: ClusterProperty `cluster.clusterset.k8s.io` (mcs-spec.md §7.2), created
//! from the kube-system namespace UID when absent and never changed once set.

use anyhow::{Context as _, bail};
use causeway_api::names::{FIELD_MANAGER_SYNC, PROPERTY_CLUSTER_ID, PROPERTY_CLUSTER_ID_LEGACY};
use causeway_api::{ClusterProperty, ClusterPropertySpec};
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};

/// Reads a cluster's id; `create` writes the property from the kube-system UID when absent.
pub async fn cluster_id(client: &kube::Client, create: bool) -> anyhow::Result<String> {
    let props: Api<ClusterProperty> = Api::all(client.clone());
    for name in [PROPERTY_CLUSTER_ID, PROPERTY_CLUSTER_ID_LEGACY] {
        if let Some(p) = props
            .get_opt(name)
            .await
            .with_context(|| format!("failed to read ClusterProperty {name}"))?
        {
            return check(&p.spec.value, name);
        }
    }
    let ns: Api<Namespace> = Api::all(client.clone());
    let uid = ns
        .get("kube-system")
        .await
        .context("failed to read namespace kube-system (for the cluster id)")?
        .uid()
        .context("kube-system has no UID")?;
    if create {
        let prop = ClusterProperty::new(
            PROPERTY_CLUSTER_ID,
            ClusterPropertySpec { value: uid.clone() },
        );
        props
            .patch(
                PROPERTY_CLUSTER_ID,
                &PatchParams::apply(FIELD_MANAGER_SYNC),
                &Patch::Apply(&prop),
            )
            .await
            .context("failed to create ClusterProperty cluster.clusterset.k8s.io")?;
        tracing::info!(cluster = %uid, "cluster id set from the kube-system namespace UID");
    }
    Ok(uid)
}

/// Accepts a single DNS label only (the id appears as one label in MCS DNS names).
fn check(value: &str, name: &str) -> anyhow::Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok {
        bail!(
            "ClusterProperty {name} is {value:?}: causeway needs a single lowercase DNS label (at most 63 characters of a-z, 0-9 and '-'); change it before joining the clusterset"
        );
    }
    Ok(value.to_owned())
}
