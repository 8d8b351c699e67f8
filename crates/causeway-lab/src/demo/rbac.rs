//! Installs a component's shipped RBAC manifest on a lab cluster and binds it also to the
//! component's lab user, so the demo runs each daemon with exactly the rights its manifests grant
//! (the same as `causeway_test_support::rbac`, with errors instead of panics).

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::{Error, Result};

/// deploy/controller/rbac.yaml.
pub const CONTROLLER: &str = include_str!("../../../../deploy/controller/rbac.yaml");
/// deploy/dns/rbac.yaml.
pub const DNS: &str = include_str!("../../../../deploy/dns/rbac.yaml");
/// deploy/netpeer/peer-rbac.yaml.
pub const NETPEER_PEER: &str = include_str!("../../../../deploy/netpeer/peer-rbac.yaml");

const FIELD_MANAGER: &str = "causeway-lab-demo";

/// Applies every document of `yaml` to cluster `cluster` (creating the namespaces they name),
/// adding `User <user>` to each RoleBinding and ClusterRoleBinding.
pub async fn install_for_user(
    client: &kube::Client,
    cluster: u8,
    yaml: &str,
    user: &str,
) -> Result<()> {
    for doc in yaml
        .split("\n---")
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.lines().all(|l| l.trim_start().starts_with('#')))
    {
        let mut value: Value = serde_saphyr::from_str(doc).map_err(|e| Error::DemoStep {
            step: "install RBAC",
            detail: format!("a shipped RBAC document does not parse ({e})"),
        })?;
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        if (kind == "RoleBinding" || kind == "ClusterRoleBinding")
            && let Some(subjects) = value["subjects"].as_array_mut()
        {
            subjects.push(
                json!({"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}),
            );
        }
        if let Some(ns) = value["metadata"]["namespace"].as_str() {
            ensure_namespace(client, cluster, ns).await?;
        }
        let api_version = value["apiVersion"].as_str().unwrap_or_default().to_owned();
        let (group, version) = api_version
            .split_once('/')
            .unwrap_or(("", api_version.as_str()));
        let plural = match kind.as_str() {
            "ServiceAccount" => "serviceaccounts",
            "ClusterRole" => "clusterroles",
            "ClusterRoleBinding" => "clusterrolebindings",
            "Role" => "roles",
            "RoleBinding" => "rolebindings",
            "Namespace" => "namespaces",
            other => {
                return Err(Error::DemoStep {
                    step: "install RBAC",
                    detail: format!("unexpected kind {other} in an RBAC manifest"),
                });
            }
        };
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, &kind),
            plural,
        );
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let api: Api<DynamicObject> = match value["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&value),
        )
        .await
        .map_err(Error::kube("failed to apply an RBAC object", cluster))?;
    }
    Ok(())
}

/// Creates namespace `name` if it does not exist (server-side apply, idempotent).
pub async fn ensure_namespace(client: &kube::Client, cluster: u8, name: &str) -> Result<()> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(name, &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(&ns))
        .await
        .map_err(Error::kube("failed to create a namespace", cluster))?;
    Ok(())
}
