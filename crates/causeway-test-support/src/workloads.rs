//! Real workloads on the lab's kubelet nodes, as tests use them: objects applied with the lab's
//! kubectl, and a wait for a number of Running and Ready pods (from the apiserver's view).

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::{Lab, eventually};

/// True when `pod` is Running and its Ready condition is True.
pub fn ready(pod: &Pod) -> bool {
    pod.status.as_ref().is_some_and(|s| {
        s.phase.as_deref() == Some("Running")
            && s.conditions
                .as_ref()
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
}

/// Pods of `selector` in `ns` of cluster `cluster` once `count` of them are Running and Ready
/// (panics after 180 s).
pub async fn ready_pods(
    lab: &Lab,
    cluster: u8,
    ns: &str,
    selector: &str,
    count: usize,
) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(lab.client(cluster.into()), ns);
    let what = format!("{count} ready pods {selector} in cluster {cluster}");
    eventually(180, &what, || async {
        let pods = api
            .list(&ListParams::default().labels(selector))
            .await
            .ok()?;
        let ready: Vec<Pod> = pods.items.into_iter().filter(ready).collect();
        (ready.len() == count).then_some(ready)
    })
    .await
}

/// `kubectl apply -n <ns>` of `objects` (one object or a `List`) in cluster `cluster`; panics
/// with kubectl's error.
pub async fn apply(lab: &Lab, cluster: u8, ns: &str, objects: &serde_json::Value) {
    let text = objects.to_string();
    let (ok, _, err) = lab
        .kubectl_in(cluster, &["apply", "-n", ns, "-f", "-"], Some(&text))
        .await;
    assert!(ok, "kubectl apply in cluster {cluster} failed: {err}");
}
