//! The benchmark's objects: namespaces, ServiceImports with their hand-made MCS EndpointSlices, and
//! the bare-client write loop that measures the apiserver's ceiling.

use std::future::Future;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use causeway_api::names::{LABEL_SERVICE_NAME, MCS_GROUP};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

/// Label on every namespace the benchmark creates.
pub const BENCH_LABEL: &str = "causeway.multicluster.x-k8s.io/bench";

/// The v1beta1 ServiceImport resource (as served by causeway's CRDs).
pub fn service_import_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(MCS_GROUP, "v1beta1", "ServiceImport"),
        "serviceimports",
    )
}

/// Name of import `i` (0-based).
pub fn import_name(i: usize) -> String {
    format!("svc-{i:05}")
}

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

/// Runs `op` up to 3 times; a 409 (already exists) counts as success.
async fn with_retries<F, Fut>(what: &str, mut op: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op().await {
            Ok(()) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
            Err(err) if attempt < 3 => {
                eprintln!("causeway-bench: {what} failed (attempt {attempt}, retrying): {err}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err).with_context(|| format!("failed to {what}")),
        }
    }
}

/// Creates namespace `name`, labelled as the benchmark's.
pub async fn create_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {BENCH_LABEL: "true"}}
    }))?;
    with_retries(&format!("create namespace {name}"), || async {
        api.create(&PostParams::default(), &ns).await.map(|_| ())
    })
    .await
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

/// Deletes namespace `name` and waits up to `timeout` until it is gone. After a third of the
/// timeout, strips finalizers from ServiceImports still in it (their controller may be stopped).
pub async fn delete_namespace(
    client: &kube::Client,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<f64> {
    let api: Api<Namespace> = Api::all(client.clone());
    let t = Instant::now();
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(0.0),
        Err(err) => return Err(err).with_context(|| format!("failed to delete namespace {name}")),
    }
    let mut stripped = false;
    while t.elapsed() < timeout {
        if api.get_opt(name).await?.is_none() {
            return Ok(t.elapsed().as_secs_f64());
        }
        if !stripped && t.elapsed() > timeout / 3 {
            stripped = true;
            let n = strip_import_finalizers(client, name).await?;
            if n > 0 {
                eprintln!(
                    "causeway-bench: namespace {name} still terminating; removed finalizers of \
                     {n} ServiceImports"
                );
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!(
        "namespace {name} still exists {} s after deletion",
        timeout.as_secs()
    )
}

async fn strip_import_finalizers(client: &kube::Client, ns: &str) -> anyhow::Result<usize> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &service_import_resource());
    let list = api.list_metadata(&ListParams::default()).await?;
    let mut n = 0;
    for item in list.items {
        if item
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty())
            && let Some(name) = item.metadata.name
        {
            let patch = json!({"metadata": {"finalizers": null}});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => n += 1,
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(err) => return Err(err).context("failed to remove finalizers"),
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
