//! Installs a component's shipped RBAC manifest (`deploy/…/rbac.yaml`) on a lab cluster and binds
//! it also to the component's lab user, so tests run the component with exactly the rights its
//! manifests grant.

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// Applies every document of `yaml` to `client`'s cluster (creating the namespaces they name),
/// adding `User <user>` to each RoleBinding and ClusterRoleBinding.
pub async fn install_for_user(client: &kube::Client, yaml: &str, user: &str) {
    for doc in yaml
        .split("\n---")
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.lines().all(|l| l.trim_start().starts_with('#')))
    {
        let mut value: Value =
            serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("bad RBAC document: {e}\n{doc}"));
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        if (kind == "RoleBinding" || kind == "ClusterRoleBinding")
            && let Some(subjects) = value["subjects"].as_array_mut()
        {
            subjects.push(
                json!({"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}),
            );
        }
        if let Some(ns) = value["metadata"]["namespace"].as_str() {
            ensure_namespace(client, ns).await;
        }
        let (group, version) = match value["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .split_once('/')
        {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (
                String::new(),
                value["apiVersion"].as_str().unwrap_or_default().to_owned(),
            ),
        };
        let plural = match kind.as_str() {
            "ServiceAccount" => "serviceaccounts",
            "ClusterRole" => "clusterroles",
            "ClusterRoleBinding" => "clusterrolebindings",
            "Role" => "roles",
            "RoleBinding" => "rolebindings",
            "Namespace" => "namespaces",
            other => panic!("unexpected kind {other} in an RBAC manifest"),
        };
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&group, &version, &kind),
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
        if let Err(err) = api
            .patch(
                &name,
                &PatchParams::apply("causeway-test").force(),
                &Patch::Apply(&value),
            )
            .await
        {
            panic!("failed to apply {kind} {name}: {err}");
        }
    }
}

/// Creates namespace `name` if it does not exist.
pub async fn ensure_namespace(client: &kube::Client, name: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = k8s_openapi::api::core::v1::Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(err) => panic!("failed to create namespace {name}: {err}"),
    }
}
