//! The demo's workload: replicas of `serve` as real Pods of the locally built `causeway-serve`
//! image, each bound to the node the seed's narrative puts it on (`spec.nodeName`) and run by
//! that node's kubelet and containerd. Ready comes from a readiness probe, so the real
//! kube-controller-manager publishes the EndpointSlices. A graceful stop is the kubelet's: the Pod
//! is deleted with a grace period; the EndpointSlice controller marks its endpoint terminating
//! (not ready) at once, causeway withdraws it from every cluster, and `causeway serve` keeps
//! answering for [`SHUTDOWN_DELAY_SECONDS`] after SIGTERM, so connections that kube-proxies still
//! send to it succeed; then the pod exits and the kubelet removes it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use causeway_api::names::LABEL_SERVICE_NAME;
use k8s_openapi::api::core::v1::Pod as PodObject;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::images::ImageSet;
use crate::{Error, NodePlan, Result};

/// The demo's namespace and Service name.
pub const NAMESPACE: &str = "demo";
/// The Service (and app label) of the workload.
pub const SERVICE: &str = "serve";
/// The port `serve` listens on in its pod.
pub const TARGET_PORT: u16 = 8080;
/// How long `causeway serve` keeps answering after SIGTERM.
pub const SHUTDOWN_DELAY_SECONDS: u64 = 8;
/// The Pods' termination grace period (longer than the shutdown delay).
pub const GRACE_PERIOD_SECONDS: i64 = 30;

/// A running replica of `serve`.
#[derive(Clone, Debug)]
pub struct Replica {
    /// Pod name, e.g. `serve-c2-1`.
    pub name: String,
    /// Cluster index.
    pub cluster: u8,
    /// Its pod IP (from the node's podCIDR, allocated by the CNI plugin).
    pub ip: Ipv4Addr,
}

impl Replica {
    /// The replica's pod IP.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }
}

fn pod_object(name: &str, node: &NodePlan, image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": SERVICE}},
        "spec": {
            "nodeName": node.name,
            "terminationGracePeriodSeconds": GRACE_PERIOD_SECONDS,
            "containers": [{
                "name": SERVICE, "image": image, "imagePullPolicy": "Never",
                "args": [format!("--shutdown-delay-seconds={SHUTDOWN_DELAY_SECONDS}"),
                         "--log-level=warn"],
                "env": [
                    {"name": "CLUSTER_NAME", "value": node.cluster.to_string()},
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                ],
                "ports": [{"containerPort": TARGET_PORT}],
                "readinessProbe": {"tcpSocket": {"port": TARGET_PORT}, "periodSeconds": 1},
            }],
        },
    })
}

/// Starts replica `name` of `serve` on `node` (a Pod bound to it) and waits until it is Ready.
pub async fn start(
    client: &kube::Client,
    images: &ImageSet,
    node: &NodePlan,
    name: &str,
) -> Result<Replica> {
    let cluster = node.cluster;
    let image = images.reference("causeway-serve", None)?;
    let obj: PodObject =
        serde_json::from_value(pod_object(name, node, &image)).map_err(|e| Error::DemoStep {
            step: "start a replica",
            detail: format!("bad Pod object ({e})"),
        })?;
    let api: Api<PodObject> = Api::namespaced(client.clone(), NAMESPACE);
    api.create(&PostParams::default(), &obj)
        .await
        .map_err(Error::kube("failed to create a demo pod", cluster))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pod = api
            .get_opt(name)
            .await
            .map_err(Error::kube("failed to read a demo pod", cluster))?;
        let status = pod.and_then(|p| p.status);
        let ready = status.as_ref().is_some_and(|s| {
            s.conditions
                .as_ref()
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        });
        let ip = status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok());
        if let (true, Some(ip)) = (ready, ip) {
            return Ok(Replica {
                name: name.to_owned(),
                cluster,
                ip,
            });
        }
        if Instant::now() > deadline {
            return Err(Error::DemoStep {
                step: "start a replica",
                detail: format!(
                    "pod {NAMESPACE}/{name} on {} is not Ready after 60 s: {status:?}",
                    node.name
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// True while any EndpointSlice of `serve` in the cluster (the local one and the MCS ones) lists
/// `ip` as ready.
async fn routed(client: &kube::Client, cluster: u8, ip: Ipv4Addr) -> Result<bool> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    let ip = ip.to_string();
    for selector in [
        format!("kubernetes.io/service-name={SERVICE}"),
        format!("{LABEL_SERVICE_NAME}={SERVICE}"),
    ] {
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(Error::kube("failed to list demo EndpointSlices", cluster))?;
        let listed = list.items.iter().flat_map(|s| &s.endpoints).any(|e| {
            e.addresses.contains(&ip) && e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true)
        });
        if listed {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Waits until every cluster in `clients` (index i = cluster i+1) routes to `ip` (`want`) or no
/// longer does (`!want`); returns the seconds it took.
pub async fn wait_routed(
    clients: &[kube::Client],
    ip: Ipv4Addr,
    want: bool,
    timeout: Duration,
) -> Result<f64> {
    let t0 = Instant::now();
    loop {
        let mut all = true;
        for (i, client) in (1u8..).zip(clients) {
            if routed(client, i, ip).await? != want {
                all = false;
                break;
            }
        }
        if all {
            return Ok(t0.elapsed().as_secs_f64());
        }
        if t0.elapsed() > timeout {
            let how = if want { "appear in" } else { "leave" };
            return Err(Error::DemoStep {
                step: "wait for endpoints",
                detail: format!(
                    "pod address {ip} did not {how} every cluster's EndpointSlices of {NAMESPACE}/{SERVICE} within {} s; see the controller logs in the lab's demo directory",
                    timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Gracefully stops `replica` the kubelet's way: deletes its Pod with a grace period, waits
/// until no cluster routes to it any more, lets `grace` pass for the kube-proxies, then waits for
/// the kubelet to remove the Pod (it exits after its shutdown delay). Returns the seconds until the
/// endpoint had left every cluster's slices.
pub async fn stop_gracefully(
    clients: &[kube::Client],
    replica: &Replica,
    grace: Duration,
) -> Result<f64> {
    let client = &clients[usize::from(replica.cluster - 1)];
    let api: Api<PodObject> = Api::namespaced(client.clone(), NAMESPACE);
    api.delete(
        &replica.name,
        &DeleteParams {
            grace_period_seconds: u32::try_from(GRACE_PERIOD_SECONDS).ok(),
            ..DeleteParams::default()
        },
    )
    .await
    .map_err(Error::kube("failed to delete a demo pod", replica.cluster))?;
    let left = wait_routed(clients, replica.ip(), false, Duration::from_secs(30)).await?;
    tokio::time::sleep(grace).await;
    let deadline = Instant::now()
        + Duration::from_secs(u64::try_from(GRACE_PERIOD_SECONDS).unwrap_or(30) + 10);
    while api
        .get_opt(&replica.name)
        .await
        .map_err(Error::kube("failed to read a demo pod", replica.cluster))?
        .is_some()
    {
        if Instant::now() > deadline {
            return Err(Error::DemoStep {
                step: "scale down",
                detail: format!(
                    "pod {NAMESPACE}/{} is still there {} s after its deletion",
                    replica.name, GRACE_PERIOD_SECONDS
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(left)
}
