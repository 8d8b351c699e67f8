//! The benchmark's objects: namespaces, ServiceImports with their hand-made MCS EndpointSlices, and
//! the bare-client write loop that measures the apiserver's ceiling.

use std::net::Ipv4Addr;
use std::time::Instant;

use anyhow::Context;
use causeway_api::names::{LABEL_SERVICE_NAME, MCS_GROUP};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::objects::{import_name, service_import_resource, with_retries};

/// Name of the hand-made slice of import `name`.
pub fn slice_name(import: &str) -> String {
    format!("{import}-remote")
}

/// A ClusterSetIP ServiceImport with one named TCP port.
pub fn import_object(name: &str) -> anyhow::Result<DynamicObject> {
    serde_json::from_value(json!({
        "apiVersion": format!("{MCS_GROUP}/v1beta1"),
        "kind": "ServiceImport",
        "metadata": {"name": name},
        "spec": {"type": "ClusterSetIP", "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}
    }))
    .context("failed to build a ServiceImport")
}

/// A hand-made MCS EndpointSlice for import `import` (index `i`) with `endpoints` addresses: only
/// the MCS service-name label, no `kubernetes.io/service-name` (the seed's flow).
pub fn slice_object(import: &str, i: usize, endpoints: usize) -> anyhow::Result<EndpointSlice> {
    let base = u32::from(Ipv4Addr::new(10, 128, 0, 1));
    let addresses: Vec<serde_json::Value> = (0..endpoints)
        .map(|j| {
            let offset = u32::try_from(i * endpoints + j).unwrap_or(u32::MAX) % (1 << 22);
            json!({"addresses": [Ipv4Addr::from(base + offset).to_string()],
                   "conditions": {"ready": true}})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": slice_name(import), "labels": {LABEL_SERVICE_NAME: import}},
        "addressType": "IPv4",
        "endpoints": addresses,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    }))
    .context("failed to build an EndpointSlice")
}

/// Creates namespace `name` unless it exists (no label).
pub async fn ensure_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await?.is_some() {
        return Ok(());
    }
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    with_retries(&format!("create namespace {name}"), || async {
        api.create(&PostParams::default(), &ns).await.map(|_| ())
    })
    .await
}

/// Creates `count` imports, each with its slice, `concurrency` items in flight. Returns seconds.
pub async fn create_imports(
    client: &kube::Client,
    ns: &str,
    count: usize,
    endpoints: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let imports: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &service_import_resource());
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let t = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let (imports, slices) = (&imports, &slices);
            async move {
                let name = import_name(i);
                let import = import_object(&name)?;
                with_retries(&format!("create ServiceImport {ns}/{name}"), || async {
                    imports
                        .create(&PostParams::default(), &import)
                        .await
                        .map(|_| ())
                })
                .await?;
                let slice = slice_object(&name, i, endpoints)?;
                with_retries(&format!("create EndpointSlice {ns}/{name}"), || async {
                    slices
                        .create(&PostParams::default(), &slice)
                        .await
                        .map(|_| ())
                })
                .await
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(t.elapsed().as_secs_f64())
}

/// The apiserver's ceiling: `count` selector-less Service creates, then `count` merge PATCHes of
/// them, `concurrency` in flight, from a bare client. Returns (writes, seconds).
pub async fn ceiling(
    client: &kube::Client,
    ns: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<(usize, f64)> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let t = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let api = &api;
            async move {
                let svc: Service = serde_json::from_value(json!({
                    "metadata": {"name": format!("ceiling-{i:05}")},
                    "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
                }))?;
                with_retries(&format!("create Service {ns}/ceiling-{i:05}"), || async {
                    api.create(&PostParams::default(), &svc).await.map(|_| ())
                })
                .await
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let patch = json!({"metadata": {"labels": {"bench": "patched"}}});
    futures::stream::iter(0..count)
        .map(|i| {
            let (api, patch) = (&api, &patch);
            async move {
                let name = format!("ceiling-{i:05}");
                with_retries(&format!("patch Service {ns}/{name}"), || async {
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                        .await
                        .map(|_| ())
                })
                .await
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok((2 * count, t.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests;
