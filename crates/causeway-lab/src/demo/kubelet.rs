//! The demo's kubelet stand-in: it realises replicas of `serve` the way a kubelet would, so the
//! real kube-controller-manager publishes their EndpointSlices. Start: a Pod object bound to a
//! node (`spec.nodeName`), a pod network namespace ([`crate::pods`]) running
//! `causeway serve --listen 0.0.0.0:8080`, and once it answers, `pods/status` Running + Ready +
//! podIP. Graceful stop: `Ready=False` first, wait until no cluster routes to the pod any more,
//! then stop the process, delete the namespace and the Pod (`gracePeriodSeconds: 0`, since no
//! kubelet would confirm a graceful deletion).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use causeway_api::names::LABEL_SERVICE_NAME;
use k8s_openapi::api::core::v1::Pod as PodObject;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::client;
use crate::{Error, LabPaths, NodePlan, Result, pods};

/// The demo's namespace and Service name.
pub const NAMESPACE: &str = "demo";
/// The Service (and app label) of the workload.
pub const SERVICE: &str = "serve";
/// The port `serve` listens on in its pod.
pub const TARGET_PORT: u16 = 8080;

/// A running replica of `serve`.
#[derive(Clone, Debug)]
pub struct Replica {
    /// Pod name, e.g. `serve-c2-1`.
    pub name: String,
    /// Cluster index.
    pub cluster: u8,
    /// Its pod namespace.
    pub pod: pods::Pod,
}

impl Replica {
    /// The replica's pod IP.
    pub fn ip(&self) -> Ipv4Addr {
        self.pod.ip
    }
}

fn pod_object(name: &str, node: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": SERVICE}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": SERVICE, "image": "causeway:dev",
                            "args": ["serve", "--listen=0.0.0.0:8080"],
                            "ports": [{"containerPort": TARGET_PORT}]}],
        },
    })
}

async fn set_ready(
    client: &kube::Client,
    cluster: u8,
    name: &str,
    ip: Ipv4Addr,
    ready: bool,
) -> Result<()> {
    let status = json!({"status": {
        "phase": "Running", "podIP": ip.to_string(), "podIPs": [{"ip": ip.to_string()}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
    }});
    Api::<PodObject>::namespaced(client.clone(), NAMESPACE)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(Error::kube("failed to patch a demo pod's status", cluster))?;
    Ok(())
}

/// Starts replica `name` of `serve` on `node` of cluster `node.cluster`.
pub async fn start(
    paths: &LabPaths,
    client: &kube::Client,
    causeway: &Path,
    node: &NodePlan,
    name: &str,
) -> Result<Replica> {
    let cluster = node.cluster;
    let pod = pods::create(paths, node, &format!("demo-{name}"))?;
    let replica = Replica {
        name: name.to_owned(),
        cluster,
        pod,
    };
    let args: Vec<String> = [
        "serve",
        "--listen",
        "0.0.0.0:8080",
        "--cluster",
        &cluster.to_string(),
        "--node",
        &node.name,
        "--pod",
        name,
        "--address",
        &replica.ip().to_string(),
        "--log-level",
        "warn",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let started = pods::spawn(paths, &replica.pod, "serve", causeway, &args)?;
    let obj: PodObject =
        serde_json::from_value(pod_object(name, &node.name)).map_err(|e| Error::DemoStep {
            step: "start a replica",
            detail: format!("bad Pod object ({e})"),
        })?;
    let api: Api<PodObject> = Api::namespaced(client.clone(), NAMESPACE);
    api.create(&PostParams::default(), &obj)
        .await
        .map_err(Error::kube("failed to create a demo pod", cluster))?;
    // Ready only once it answers, like a readiness probe.
    let addr = SocketAddr::from((replica.ip(), TARGET_PORT));
    let ns = replica.pod.netns.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ns = ns.clone();
        let answered = crate::netns::run_in(&ns, move || client::request(addr).is_ok())?;
        if answered {
            break;
        }
        if Instant::now() > deadline {
            return Err(Error::DemoStep {
                step: "start a replica",
                detail: format!(
                    "serve in pod {name} does not answer on {addr}; its log is {}",
                    started.log.display()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    set_ready(client, cluster, name, replica.ip(), true).await?;
    Ok(replica)
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

/// Gracefully stops `replica`: NotReady, wait until no cluster routes to it, then `grace` for the
/// kube-proxies to catch up, then stop and delete it. Returns the seconds until the endpoint had
/// left every cluster's slices.
pub async fn stop_gracefully(
    paths: &LabPaths,
    clients: &[kube::Client],
    replica: &Replica,
    grace: Duration,
) -> Result<f64> {
    let client = &clients[usize::from(replica.cluster - 1)];
    set_ready(client, replica.cluster, &replica.name, replica.ip(), false).await?;
    let left = wait_routed(clients, replica.ip(), false, Duration::from_secs(30)).await?;
    tokio::time::sleep(grace).await;
    delete(paths, client, replica).await?;
    Ok(left)
}

/// Stops `replica` at once and deletes its namespace and Pod (tolerating parts already gone).
pub async fn delete(paths: &LabPaths, client: &kube::Client, replica: &Replica) -> Result<()> {
    pods::delete(paths, &replica.pod)?;
    let api: Api<PodObject> = Api::namespaced(client.clone(), NAMESPACE);
    match api
        .delete(
            &replica.name,
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube("failed to delete a demo pod", replica.cluster)(
            e,
        )),
    }
}
