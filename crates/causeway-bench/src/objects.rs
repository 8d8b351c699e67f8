//! Kubernetes objects every benchmark makes: its labelled namespace (created with retries,
//! deleted and waited for), and the ServiceImport resource and naming they share.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use causeway_api::names::MCS_GROUP;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

/// Label on every namespace a benchmark creates.
pub const BENCH_LABEL: &str = "causeway.multicluster.x-k8s.io/bench";

/// The v1beta1 ServiceImport resource (causeway's CRDs also serve it as v1alpha1).
pub fn service_import_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(MCS_GROUP, "v1beta1", "ServiceImport"),
        "serviceimports",
    )
}

/// Name of import (or service) `i`, 0-based.
pub fn import_name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// Runs `op` up to 3 times; a 409 (already exists) counts as success.
pub async fn with_retries<F, Fut, T>(what: &str, mut op: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op().await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
            Err(err) if attempt < 3 => {
                eprintln!("causeway-bench: {what} failed (attempt {attempt}, retrying): {err}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err).with_context(|| format!("failed to {what}")),
        }
    }
}

/// Creates namespace `name`, labelled `BENCH_LABEL=<bench>`.
pub async fn create_namespace(
    client: &kube::Client,
    name: &str,
    bench: &str,
) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {BENCH_LABEL: bench}}
    }))?;
    with_retries(&format!("create namespace {name}"), || async {
        api.create(&PostParams::default(), &ns).await
    })
    .await
}

/// Deletes namespace `name` and waits up to `timeout` until it is gone; returns seconds. (Nothing
/// in it has finalizers: neither causeway nor the upstream controller sets any, and pods are
/// removed by the caller.)
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
    while t.elapsed() < timeout {
        if api.get_opt(name).await?.is_none() {
            return Ok(t.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!(
        "namespace {name} still exists {} s after deletion",
        timeout.as_secs()
    )
}
