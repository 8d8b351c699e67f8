//! Sync failure semantics on two real clusters: a peer's apiserver stopped (its endpoints stay
//! for `--peer-grace`, then are withdrawn; after it returns everything is back without
//! duplicates), a malformed peer credential (the other members keep syncing), and a controller
//! restart that finds nothing to change (zero writes). Alone in its test binary because it stops
//! an apiserver.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::time::{Duration, Instant};

use causeway_api::names::{
    LABEL_PEER, LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER, PROPERTY_CLUSTER_ID,
};
use causeway_api::{ClusterProperty, ServiceExport, ServiceImport};
use causeway_test_support::daemon::Daemon;
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name, with_temp_ns};
use k8s_openapi::api::core::v1::{Node, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RBAC: &str = include_str!("../../../deploy/controller/rbac.yaml");

/// Grants the controller user read access to peer Secrets in the test namespace, which serves as
/// its members namespace so this test's (possibly broken) members affect no other test.
async fn members_role(client: &kube::Client, ns: &str) {
    let yaml = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: members, namespace: {ns}}}\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"secrets\"]\n    verbs: [\"get\", \"list\", \"watch\"]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: members, namespace: {ns}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: members}}\nsubjects: []\n"
    );
    rbac::install_for_user(client, &yaml, "causeway-controller").await;
}

fn controller(lab: &Lab, cluster: u8, ns: &str, admin_port: u16) -> Daemon {
    let kubeconfig = lab
        .paths
        .user_kubeconfig(cluster, "causeway-controller")
        .display()
        .to_string();
    let lease = unique_name("fail");
    let admin = format!("127.0.0.1:{admin_port}");
    let args: Vec<String> = [
        "controller",
        "--kubeconfig",
        &kubeconfig,
        "--admin-addr",
        &admin,
        "--leader-election-namespace",
        "causeway-system",
        "--leader-election-id",
        &lease,
        "--namespace",
        ns,
        "--members-namespace",
        ns,
        "--peer-grace",
        "4",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        &format!("c{cluster}-{lease}"),
        &args,
        &[("POD_NAME", "ctl")],
        lab.paths.root(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn metrics(port: u16) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await.ok()?;
    Some(body)
}

async fn readyz(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream
        .write_all(b"GET /readyz HTTP/1.0\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body).await;
    body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200")
}

fn writes(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("causeway_controller_api_writes_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn workload(client: &kube::Client, ns: &str, ip: &str) {
    let node = format!("{ns}-n");
    let n: Node = serde_json::from_value(json!({
        "metadata": {"name": node, "labels": {"causeway-test": ns}},
        "status": {"addresses": [{"type": "InternalIP", "address": "198.51.100.251"}]}
    }))
    .unwrap();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &n)
        .await
        .unwrap();
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "serve"}, "spec": {"selector": {"app": "serve"}, "ports": [{"port": 80, "targetPort": 8080}]}})).unwrap();
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "serve-0", "labels": {"app": "serve"}}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "causeway:dev"}]}})).unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status("serve-0", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let e: ServiceExport = serde_json::from_value(json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport", "metadata": {"name": "serve"}})).unwrap();
    Api::<ServiceExport>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &e)
        .await
        .unwrap();
}

async fn sources(client: &kube::Client, ns: &str) -> Vec<String> {
    let list = Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}=serve")))
        .await
        .unwrap();
    let mut out: Vec<String> = list
        .items
        .iter()
        .filter_map(|s| {
            s.metadata
                .labels
                .as_ref()?
                .get(LABEL_SOURCE_CLUSTER)
                .cloned()
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn peer_outage_bad_credentials_and_restart() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let (c1, c2) = (lab.client(1), lab.client(2));
        for c in [&c1, &c2] {
            rbac::install_for_user(c, RBAC, "causeway-controller").await;
            members_role(c, &ns).await;
        }
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_causeway"))
            .args(["join", "--kubeconfig", &lab.paths.admin_kubeconfig(1).display().to_string(), "--peer-kubeconfig", &lab.paths.admin_kubeconfig(2).display().to_string(), "--members-namespace", &ns])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // A second, broken member: a malformed kubeconfig.
        let bad: Secret = serde_json::from_value(json!({"metadata": {"name": "peer-broken", "labels": {LABEL_PEER: "true"}}, "stringData": {"kubeconfig": "not: [a kubeconfig"}})).unwrap();
        Api::<Secret>::namespaced(c1.clone(), &ns).create(&PostParams::default(), &bad).await.unwrap();

        let port = free_port();
        let mut ctl = controller(&lab, 1, &ns, port);
        workload(&c1, &ns, "10.42.0.51").await;
        workload(&c2, &ns, "10.44.0.51").await;
        let id2 = Api::<ClusterProperty>::all(c2.clone()).get(PROPERTY_CLUSTER_ID).await.unwrap().spec.value;
        // The broken member does not stop the good one.
        let both = eventually(20, "both clusters' slices in cluster 1", || async {
            let s = sources(&c1, &ns).await;
            (s.len() == 2).then_some(s)
        })
        .await;
        assert!(both.contains(&id2));
        assert!(ctl.log_text().contains("peer-broken"), "the broken member is named in the log:\n{}", ctl.log_text());
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(c1.clone(), &ns);
        let ev = eventually(20, "a MemberUnavailable event on the broken peer Secret", || async {
            events.list(&ListParams::default()).await.ok()?.items.into_iter().find(|e| e.reason.as_deref() == Some("MemberUnavailable"))
        })
        .await;
        assert_eq!(ev.regarding.and_then(|r| r.name).as_deref(), Some("peer-broken"));
        Api::<Secret>::namespaced(c1.clone(), &ns).delete("peer-broken", &DeleteParams::default()).await.unwrap();
        // Let everything settle first (the controller-manager may still be publishing slices):
        // the controller's write count must stand still for 3 s.
        let mut last = (writes(&metrics(port).await.unwrap()), Instant::now());
        let settled = Instant::now();
        while last.1.elapsed() < Duration::from_secs(3) {
            assert!(settled.elapsed() < Duration::from_secs(60), "the controller never stopped writing:\n{}", ctl.log_text());
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = writes(&metrics(port).await.unwrap());
            if now != last.0 {
                last = (now, Instant::now());
            }
        }

        // Restart: nothing changed, so nothing is written.
        ctl.terminate().await;
        let mut ctl = controller(&lab, 1, &ns, port);
        eventually(20, "restarted controller ready", || async { readyz(port).await.then_some(()) }).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let text = metrics(port).await.unwrap();
        let written: Vec<&str> = text.lines().filter(|l| l.starts_with("causeway_controller_api_writes_total")).collect();
        assert_eq!(writes(&text), 0, "a restart that finds nothing to change writes nothing: {written:?}");

        // Peer apiserver down: its endpoints stay for the grace period, then are withdrawn; the
        // import stays because cluster 1 still exports.
        let down = Instant::now();
        let paths = lab.paths.clone();
        causeway_lab::process::stop_one(&paths.pid_dir(), "c2-kube-apiserver", Duration::from_secs(5));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(sources(&c1, &ns).await.contains(&id2), "within the grace period the peer's endpoints stay");
        eventually(30, "the peer's endpoints withdrawn after the grace period", || async {
            (!sources(&c1, &ns).await.contains(&id2)).then_some(())
        })
        .await;
        eprintln!("peer endpoints withdrawn {:.1} s after its apiserver stopped (grace 4 s)", down.elapsed().as_secs_f64());
        assert!(Api::<ServiceImport>::namespaced(c1.clone(), &ns).get_opt("serve").await.unwrap().is_some());

        // Back: everything returns, once.
        causeway_lab::up::restart_apiserver(&paths, 2).await.unwrap();
        let back = Instant::now();
        let s = eventually(60, "the peer's endpoints back", || async {
            let s = sources(&c1, &ns).await;
            (s.len() == 2).then_some(s)
        })
        .await;
        assert!(s.contains(&id2));
        eprintln!("peer endpoints back {:.1} s after its apiserver returned", back.elapsed().as_secs_f64());
        assert!(ctl.child.try_wait().unwrap().is_none(), "controller still runs");
        ctl.terminate().await;
        for c in &lab.clients {
            let _ = Api::<Node>::all(c.clone()).delete_collection(&DeleteParams::default(), &ListParams::default().labels(&format!("causeway-test={ns}"))).await;
        }
    })
    .await;
}
