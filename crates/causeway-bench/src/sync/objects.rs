//! The benchmark's Kubernetes objects: a namespace in both clusters, a Node of its own in cluster
//! 2, and per service a selector Service, E pods bound to that Node (Running, Ready and given a
//! pod IP through `pods/status`, as a kubelet would), and a ServiceExport. No kubelet runs, so
//! pods are deleted with grace 0 before their namespace, or it would stay Terminating.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::objects::{BENCH_LABEL, with_retries};
use causeway_api::ServiceExport;
use causeway_api::names::LABEL_K8S_SERVICE_NAME;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// Pod IPs of the initial endpoints start here (10.44.64.0, inside cluster 2's pod CIDR).
const INITIAL_BASE: u32 = 0x0a2c_4000;
/// Pod IPs given by the endpoint changes start here (10.44.128.0).
const CHANGE_BASE: u32 = 0x0a2c_8000;
/// Room for initial endpoints.
pub const MAX_ENDPOINTS: usize = 0x4000;
/// Room for changes.
pub const MAX_CHANGES: usize = 0x8000;

/// Name of service `i`.
pub fn service_name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// Name of pod `p` of service `i`.
pub fn pod_name(i: usize, p: usize) -> String {
    format!("svc-{i:05}-{p}")
}

/// Initial IP of pod `p` of service `i`, with `endpoints` pods per service.
pub fn initial_ip(i: usize, p: usize, endpoints: usize) -> Ipv4Addr {
    let offset = u32::try_from(i * endpoints + p).unwrap_or(u32::MAX) % 0x4000;
    Ipv4Addr::from(INITIAL_BASE + offset)
}

/// The IP change `j` gives its pod (unique per change).
pub fn change_ip(j: usize) -> Ipv4Addr {
    let offset = u32::try_from(j).unwrap_or(u32::MAX) % 0x8000;
    Ipv4Addr::from(CHANGE_BASE + offset)
}

/// The (service, pod) change `j` targets: every service once, then every service's next pod.
pub fn change_target(j: usize, services: usize, endpoints: usize) -> (usize, usize) {
    (j % services, (j / services) % endpoints)
}

/// Creates namespace `name` (labelled) and waits for its `default` ServiceAccount (pods need it).
pub async fn create_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    crate::objects::create_namespace(client, name, "sync").await?;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
    let t = Instant::now();
    while sas.get_opt("default").await?.is_none() {
        if t.elapsed() > Duration::from_secs(60) {
            bail!("no ServiceAccount {name}/default after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Creates the Node the pods are bound to (its name is the namespace's).
pub async fn create_node(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {BENCH_LABEL: name}},
        "spec": {"podCIDR": "10.44.64.0/18"},
        "status": {"addresses": [{"type": "InternalIP", "address": "198.51.100.250"}]}
    }))?;
    let api: Api<Node> = Api::all(client.clone());
    with_retries(&format!("create Node {name}"), || async {
        api.create(&PostParams::default(), &node).await
    })
    .await
}

/// The `pods/status` merge patch a kubelet would send for a running, ready pod at `ip`.
pub fn running_status(ip: Ipv4Addr) -> serde_json::Value {
    json!({"status": {"phase": "Running", "podIP": ip.to_string(), "podIPs": [{"ip": ip.to_string()}],
        "conditions": [{"type": "Ready", "status": "True"}]}})
}

/// Sizes of the workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Services.
    pub services: usize,
    /// Pods per service.
    pub endpoints: usize,
    /// Items in flight.
    pub concurrency: usize,
}

/// Creates every Service with its pods (Running, Ready, IP) and its ServiceExport in `ns` of
/// `client`'s cluster. Returns seconds.
pub async fn create_workload(
    client: &kube::Client,
    ns: &str,
    node: &str,
    w: Workload,
) -> anyhow::Result<f64> {
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let exports: Api<ServiceExport> = Api::namespaced(client.clone(), ns);
    let t = Instant::now();
    futures::stream::iter(0..w.services)
        .map(|i| {
            let (services, pods, exports) = (&services, &pods, &exports);
            async move {
                let name = service_name(i);
                let svc: Service = serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "spec": {"selector": {"app": name},
                             "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
                }))?;
                with_retries(&format!("create Service {ns}/{name}"), || async {
                    services.create(&PostParams::default(), &svc).await
                })
                .await?;
                for p in 0..w.endpoints {
                    let pod_name = pod_name(i, p);
                    let pod: Pod = serde_json::from_value(json!({
                        "metadata": {"name": pod_name, "labels": {"app": name}},
                        "spec": {"nodeName": node, "automountServiceAccountToken": false,
                                 "containers": [{"name": "c", "image": "causeway:bench"}]}
                    }))?;
                    with_retries(&format!("create Pod {ns}/{pod_name}"), || async {
                        pods.create(&PostParams::default(), &pod).await
                    })
                    .await?;
                    let status = running_status(initial_ip(i, p, w.endpoints));
                    with_retries(&format!("patch Pod {ns}/{pod_name} status"), || async {
                        pods.patch_status(&pod_name, &PatchParams::default(), &Patch::Merge(&status)).await
                    })
                    .await?;
                }
                let export: ServiceExport = serde_json::from_value(json!({
                    "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
                    "metadata": {"name": name}, "spec": {}
                }))?;
                with_retries(&format!("create ServiceExport {ns}/{name}"), || async {
                    exports.create(&PostParams::default(), &export).await
                })
                .await
            }
        })
        .buffer_unordered(w.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(t.elapsed().as_secs_f64())
}

/// Ready endpoints in the kube-controller-manager's EndpointSlices of `ns`.
pub async fn kcm_ready_endpoints(client: &kube::Client, ns: &str) -> anyhow::Result<usize> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default().labels(LABEL_K8S_SERVICE_NAME))
        .await
        .context("failed to list EndpointSlices")?;
    Ok(list
        .items
        .iter()
        .flat_map(|s| &s.endpoints)
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
        .map(|e| e.addresses.len())
        .sum())
}

/// Deletes the pods of `ns` at once (grace 0: no kubelet would finish a graceful deletion).
pub async fn delete_pods(client: &kube::Client, ns: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    if let Err(err) = pods.delete_collection(&now, &ListParams::default()).await {
        eprintln!("causeway-bench: WARNING: failed to delete the pods of {ns}: {err}");
    }
}

/// Deletes Node `name` (404 is fine).
pub async fn delete_node(client: &kube::Client, name: &str) {
    let api: Api<Node> = Api::all(client.clone());
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(err) => eprintln!("causeway-bench: WARNING: failed to delete Node {name}: {err}"),
    }
}
