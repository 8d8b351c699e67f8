//! The DNS benchmark's objects: a mix of ClusterSetIP ServiceImports with `spec.ips` set directly
//! (no controller needed) and Headless ServiceImports with one MCS EndpointSlice each, whose
//! endpoints carry hostnames; plus the namespace they live in.

use std::net::Ipv4Addr;
use std::time::Instant;

use anyhow::Context;
use causeway_api::names::{LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER, MCS_GROUP};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;

use crate::objects::{import_name, service_import_resource, with_retries};

/// `multicluster.kubernetes.io/source-cluster` of every hand-made slice: the `<clusterid>` of
/// per-pod names and headless SRV targets.
pub const SOURCE_CLUSTER: &str = "bench-c1";
/// Name of the one port of every import (so `_http._tcp.<svc>…` SRV names exist).
pub const PORT_NAME: &str = "http";

/// How import `i` of a run is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `type: ClusterSetIP` with one VIP in `spec.ips`.
    ClusterSetIp,
    /// `type: Headless` with one MCS EndpointSlice.
    Headless,
}

/// The shape of a run's imports.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    /// Number of imports.
    pub count: usize,
    /// Percent of them that are Headless (spread evenly: every k-th import).
    pub headless_percent: usize,
    /// Endpoints per headless slice.
    pub endpoints: usize,
}

impl Mix {
    /// The kind of import `i`: Headless when `i` crosses a multiple of 100/percent, so the
    /// headless share is exact for every prefix of the indices (within one).
    pub fn kind(&self, i: usize) -> Kind {
        let p = self.headless_percent.min(100);
        if p > 0 && ((i + 1) * p) / 100 > (i * p) / 100 {
            Kind::Headless
        } else {
            Kind::ClusterSetIp
        }
    }

    /// Indices of the imports of `kind`, ascending.
    pub fn indices(&self, kind: Kind) -> Vec<usize> {
        (0..self.count).filter(|i| self.kind(*i) == kind).collect()
    }
}

/// The ClusterSet VIP of import `i`: 10.43.128.0/17 upwards (inside cluster 1's Service CIDR,
/// though no Service holds it; nothing routes it here).
pub fn vip(i: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(10, 43, 128, 0));
    let offset = u32::try_from(i).unwrap_or(u32::MAX) % (1 << 15);
    Ipv4Addr::from(base + offset)
}

/// Endpoint `j` of headless import `i`: 10.200.0.0/14 upwards.
pub fn endpoint_ip(i: usize, j: usize, endpoints: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(10, 200, 0, 1));
    let offset = u32::try_from(i * endpoints + j).unwrap_or(u32::MAX) % (1 << 18);
    Ipv4Addr::from(base + offset)
}

/// Import `name` (index `i`) of `kind`, with one named TCP port.
pub fn import_object(name: &str, i: usize, kind: Kind) -> anyhow::Result<DynamicObject> {
    let spec = match kind {
        Kind::ClusterSetIp => json!({
            "type": "ClusterSetIP",
            "ips": [vip(i).to_string()],
            "ports": [{"name": PORT_NAME, "protocol": "TCP", "port": 80}],
        }),
        Kind::Headless => json!({
            "type": "Headless",
            "ports": [{"name": PORT_NAME, "protocol": "TCP", "port": 80}],
        }),
    };
    serde_json::from_value(json!({
        "apiVersion": format!("{MCS_GROUP}/v1beta1"),
        "kind": "ServiceImport",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .context("failed to build a ServiceImport")
}

/// The MCS EndpointSlice of headless import `name` (index `i`): `endpoints` ready endpoints with
/// hostnames `pod-<j>`, labelled with the service name and the source cluster.
pub fn slice_object(name: &str, i: usize, endpoints: usize) -> anyhow::Result<EndpointSlice> {
    let eps: Vec<serde_json::Value> = (0..endpoints)
        .map(|j| {
            json!({"addresses": [endpoint_ip(i, j, endpoints).to_string()],
                   "hostname": format!("pod-{j}"),
                   "conditions": {"ready": true}})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("{name}-{SOURCE_CLUSTER}"),
            "labels": {LABEL_SERVICE_NAME: name, LABEL_SOURCE_CLUSTER: SOURCE_CLUSTER},
        },
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": [{"name": PORT_NAME, "port": 8080, "protocol": "TCP"}],
    }))
    .context("failed to build an EndpointSlice")
}

/// Creates import `i` of `kind` (and its slice when headless).
pub async fn create_one(
    client: &kube::Client,
    ns: &str,
    i: usize,
    kind: Kind,
    endpoints: usize,
) -> anyhow::Result<()> {
    let imports: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &service_import_resource());
    let name = import_name(i);
    let import = import_object(&name, i, kind)?;
    with_retries(&format!("create ServiceImport {ns}/{name}"), || async {
        imports
            .create(&PostParams::default(), &import)
            .await
            .map(|_| ())
    })
    .await?;
    if kind == Kind::Headless {
        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
        let slice = slice_object(&name, i, endpoints)?;
        with_retries(&format!("create EndpointSlice {ns}/{name}"), || async {
            slices
                .create(&PostParams::default(), &slice)
                .await
                .map(|_| ())
        })
        .await?;
    }
    Ok(())
}

/// Creates every import of `mix` (indices `0..count`), `concurrency` in flight. Returns seconds.
pub async fn create_all(
    client: &kube::Client,
    ns: &str,
    mix: Mix,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let t = Instant::now();
    futures::stream::iter(0..mix.count)
        .map(|i| create_one(client, ns, i, mix.kind(i), mix.endpoints))
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests;
