//! An exported Service as the sync tests need one: a kubelet-less lab Node named `<ns>-n`
//! (labelled `causeway-test=<ns>`, so `with_temp_ns` removes it), and per service one Running,
//! Ready pod on it at a given IP behind a selector Service (port 80 → 8080) with a ServiceExport,
//! so the real kube-controller-manager publishes the EndpointSlice the sync reads.

use causeway_api::ServiceExport;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("test object: {e}"))
}

async fn create<K>(api: &Api<K>, obj: &K)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    if let Err(e) = api.create(&PostParams::default(), obj).await {
        panic!("cannot create {obj:?}: {e}");
    }
}

/// The test's Node `<ns>-n` with InternalIP `address`.
pub async fn node(client: &kube::Client, ns: &str, address: &str) {
    let node: Node = from(json!({
        "metadata": {"name": format!("{ns}-n"), "labels": {"causeway-test": ns}},
        "status": {"addresses": [{"type": "InternalIP", "address": address}]}
    }));
    create(&Api::all(client.clone()), &node).await;
}

/// Service `name` with one Ready pod `<name>-0` at `ip` on the test's Node, exported.
pub async fn service(client: &kube::Client, ns: &str, name: &str, ip: &str) {
    let svc: Service = from(json!({"metadata": {"name": name}, "spec": {
        "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}));
    create(&Api::namespaced(client.clone(), ns), &svc).await;
    let pod_name = format!("{name}-0");
    let pod: Pod = from(
        json!({"metadata": {"name": pod_name, "labels": {"app": name}},
        "spec": {"nodeName": format!("{ns}-n"), "containers": [{"name": "c", "image": "causeway:dev"}]}}),
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    create(&pods, &pod).await;
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True"}]}});
    if let Err(e) = pods
        .patch_status(&pod_name, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        panic!("cannot make pod {pod_name} ready: {e}");
    }
    let export: ServiceExport = from(json!({"apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceExport", "metadata": {"name": name}}));
    create(&Api::namespaced(client.clone(), ns), &export).await;
}
