//! The lab's real nodes, as a user of the clusters sees them: every node `Ready` under a real
//! kubelet and containerd; a Deployment of the locally built `causeway-serve` image runs a pod on
//! each node of a cluster; `kubectl exec` into one prints the image's version and commit; a
//! client pod resolves `kubernetes.default` and the Service's name through the cluster's CoreDNS
//! (1.8.0 in cluster 1, the current release in cluster 2) and reaches both pods through the
//! ClusterIP; `kubectl logs` and `kubectl port-forward` work; a `hostNetwork` DaemonSet lands on
//! every node with the node's address. Each check runs in both clusters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::collections::BTreeSet;
use std::time::Duration;

use causeway_lab::images::{self, ImageSet};
use causeway_lab::layout::LAB_NODE_LABEL;
use causeway_test_support::workloads::{apply, ready_pods};
use causeway_test_support::{Lab, lab, with_temp_ns};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::Api;
use serde_json::json;

async fn kubectl(lab: &Lab, cluster: u8, args: &[&str]) -> String {
    let (ok, out, err) = lab.kubectl_in(cluster, args, None).await;
    assert!(ok, "kubectl {args:?} in cluster {cluster} failed: {err}");
    out
}

fn node_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

async fn one_cluster(lab: &Lab, cluster: u8, ns: &str, images: &ImageSet) {
    let nodes: BTreeSet<String> = lab
        .state
        .node_plans()
        .unwrap()
        .into_iter()
        .filter(|n| n.cluster == cluster)
        .map(|n| n.name)
        .collect();
    let node_api: Api<Node> = Api::all(lab.client(cluster.into()));
    for name in &nodes {
        let node = node_api.get(name).await.unwrap();
        let status = node.status.unwrap();
        assert!(
            status
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True"),
            "node {name} is Ready"
        );
        let info = status.node_info.unwrap();
        assert!(
            info.container_runtime_version
                .starts_with("containerd://2."),
            "{name} runs containerd: {}",
            info.container_runtime_version
        );
        assert!(
            info.kubelet_version.starts_with("v1."),
            "{}",
            info.kubelet_version
        );
    }

    let serve = images.reference("causeway-serve", None).unwrap();
    let toolbox = images.reference("toolbox", None).unwrap();
    let selector = json!({LAB_NODE_LABEL: "true"});
    apply(
        lab,
        cluster,
        ns,
        &json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "serve"},
             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "serve"}},
              "template": {"metadata": {"labels": {"app": "serve"}}, "spec": {
                "nodeSelector": selector,
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "serve"}},
                     "topologyKey": "kubernetes.io/hostname"}]}},
                "containers": [{"name": "serve", "image": serve, "imagePullPolicy": "Never",
                  "env": [
                    {"name": "CLUSTER_NAME", "value": cluster.to_string()},
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                  "ports": [{"containerPort": 8080}],
                  "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "serve"},
             "spec": {"selector": {"app": "serve"}, "ports": [{"port": 80, "targetPort": 8080}]}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client", "labels": {"app": "client"}},
             "spec": {"nodeSelector": selector, "terminationGracePeriodSeconds": 1,
              "containers": [{"name": "client", "image": toolbox, "imagePullPolicy": "Never",
                "command": ["sh", "-c", "echo client started; exec sleep 3600"]}]}},
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "hostnet"},
             "spec": {"selector": {"matchLabels": {"app": "hostnet"}},
              "template": {"metadata": {"labels": {"app": "hostnet"}}, "spec": {
                "hostNetwork": true, "nodeSelector": selector, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "hostnet", "image": toolbox, "imagePullPolicy": "Never",
                  "command": ["sleep", "3600"]}]}}}},
        ]}),
    )
    .await;

    // One serve pod on each node of the cluster.
    let serving = ready_pods(lab, cluster, ns, "app=serve", 2).await;
    let on: BTreeSet<String> = serving.iter().map(node_of).collect();
    assert_eq!(on, nodes, "one serve pod per node of cluster {cluster}");

    // exec: the image's binary names the version and commit of its tag.
    let pod = serving[0].metadata.name.clone().unwrap();
    let version = kubectl(
        lab,
        cluster,
        &[
            "exec",
            "-n",
            ns,
            &pod,
            "--",
            "/usr/local/bin/causeway",
            "--version",
        ],
    )
    .await;
    let tag = images.causeway_tag().unwrap();
    let (crate_version, commit) = tag.split_once('-').unwrap();
    assert_eq!(
        version.trim(),
        format!("causeway {crate_version} (commit {commit})"),
        "causeway --version inside pod {pod}"
    );

    // logs.
    ready_pods(lab, cluster, ns, "app=client", 1).await;
    let logs = kubectl(lab, cluster, &["logs", "-n", ns, "client"]).await;
    assert_eq!(logs.trim(), "client started");

    // Cluster DNS: the kubernetes Service and the test's Service, through CoreDNS.
    let plan = causeway_lab::ClusterPlan::new(cluster).unwrap();
    let kubernetes_ip = format!("10.{}.0.1", plan.pod_octet() + 1);
    let lookup = kubectl(
        lab,
        cluster,
        &[
            "exec",
            "-n",
            ns,
            "client",
            "--",
            "nslookup",
            "kubernetes.default.svc.cluster.local",
        ],
    )
    .await;
    assert!(
        lookup.contains(&format!("Address: {kubernetes_ip}"))
            && lookup.contains(&format!("{}:53", plan.dns_ip())),
        "kubernetes.default resolves through kube-dns in cluster {cluster}: {lookup}"
    );
    let svc: Service = Api::namespaced(lab.client(cluster.into()), ns)
        .get("serve")
        .await
        .unwrap();
    let cluster_ip = svc.spec.unwrap().cluster_ip.unwrap();
    let name = format!("serve.{ns}.svc.cluster.local");
    let lookup = kubectl(
        lab,
        cluster,
        &["exec", "-n", ns, "client", "--", "nslookup", &name],
    )
    .await;
    assert!(
        lookup.contains(&format!("Address: {cluster_ip}")),
        "{name} resolves to its ClusterIP {cluster_ip}: {lookup}"
    );

    // The ClusterIP, by name, reaches the pods on both nodes (kube-proxy, flannel between nodes).
    let url = format!("http://serve.{ns}/");
    let mut answered = BTreeSet::new();
    for _ in 0..40 {
        let (ok, body, _) = lab
            .kubectl_in(
                cluster,
                &[
                    "exec", "-n", ns, "client", "--", "timeout", "5", "wget", "-qO-", &url,
                ],
                None,
            )
            .await;
        if ok {
            assert!(
                body.starts_with(&format!("hello from cluster {cluster} ")),
                "{body}"
            );
            answered.extend(
                serving
                    .iter()
                    .map(|p| p.metadata.name.clone().unwrap())
                    .filter(|p| body.contains(&format!("Pod: {p} "))),
            );
        }
        if answered.len() == 2 {
            break;
        }
    }
    assert_eq!(answered.len(), 2, "both serve pods answered through {url}");

    // port-forward from the host's loopback to a pod.
    port_forward(lab, cluster, ns, &pod).await;

    // A hostNetwork DaemonSet: one pod per node, with the node's address.
    let daemons = ready_pods(lab, cluster, ns, "app=hostnet", nodes.len()).await;
    for d in &daemons {
        let node = lab.state.node(&node_of(d)).unwrap();
        assert_eq!(
            d.status.as_ref().unwrap().pod_ip.as_deref(),
            Some(node.ip.to_string().as_str()),
            "hostNetwork pod on {} has the node's address",
            node.name
        );
    }
}

async fn port_forward(lab: &Lab, cluster: u8, ns: &str, pod: &str) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let mut child = tokio::process::Command::new(lab.kubectl())
        .arg(format!(
            "--kubeconfig={}",
            lab.paths.admin_kubeconfig(cluster).display()
        ))
        .args(["port-forward", "-n", ns, &format!("pod/{pod}"), ":8080"])
        .args(["--address", "127.0.0.1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("port-forward prints its port")
        .unwrap()
        .unwrap_or_default();
    // "Forwarding from 127.0.0.1:41234 -> 8080"
    let port: u16 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected port-forward output: {line}"));
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut body))
        .await
        .expect("the pod answers through port-forward")
        .unwrap();
    assert!(
        body.contains(&format!("Pod: {pod} ")),
        "port-forward reached {pod}: {body}"
    );
    let _ = child.kill().await;
}

#[tokio::test]
async fn pods_run_on_real_kubelet_nodes_with_cluster_dns_services_exec_logs_and_daemonsets() {
    let lab = lab(2).await;
    let images = ImageSet::find(&images::dir()).unwrap();
    with_temp_ns(&lab, |lab, ns| async move {
        let (one, two) = tokio::join!(
            one_cluster(&lab, 1, &ns, &images),
            one_cluster(&lab, 2, &ns, &images)
        );
        let ((), ()) = (one, two);
    })
    .await;
}
