//! Cross-cluster sync on two real clusters: `causeway join --both`, then ServiceExports in either
//! cluster become ServiceImports with live endpoints in both, with KEP conflict handling.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::time::{Duration, Instant};

use causeway_api::names::{LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER};
use causeway_api::{ServiceExport, ServiceImport, ServiceImportType};
use causeway_test_support::admin;
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name, with_temp_ns};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const RBAC: &str = include_str!("../../../deploy/controller/rbac.yaml");

async fn join(lab: &Lab) {
    join_pair(lab, 1, 2).await;
}

async fn join_pair(lab: &Lab, a: u8, b: u8) {
    admin::join_both(env!("CARGO_BIN_EXE_causeway").as_ref(), lab, a, b).await;
}

async fn controller(lab: &Lab, cluster: u8, ns: &str) -> Daemon {
    controller_at(lab, cluster, ns, "127.0.0.1:0").await
}

/// A controller whose admin server (`/metrics`) listens on `admin`.
async fn controller_at(lab: &Lab, cluster: u8, ns: &str, admin: &str) -> Daemon {
    rbac::install_for_user(&lab.client(cluster.into()), RBAC, "causeway-controller").await;
    let lease = unique_name("sync");
    let args = controller_args(lab, cluster, ns, &lease, admin, &["--peer-grace", "5"]);
    Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        &format!("c{cluster}-{lease}"),
        &args,
        &[("POD_NAME", "ctl")],
        lab.paths.root(),
    )
}

/// The cluster's id as its controller reads it (created from the kube-system UID if absent).
async fn cluster_id(client: &kube::Client) -> String {
    causeway_controller::sync::identity::cluster_id(client, true)
        .await
        .unwrap()
}

/// A Service backed by one Running, Ready pod on a node of its own, so the real
/// kube-controller-manager publishes its EndpointSlice.
async fn workload(
    client: &kube::Client,
    ns: &str,
    name: &str,
    pod_ip: &str,
    ports: serde_json::Value,
    headless: bool,
) {
    let node = format!("{ns}-{name}");
    let nodes: Api<Node> = Api::all(client.clone());
    let n: Node = serde_json::from_value(json!({
        "metadata": {"name": node, "labels": {"causeway-test": ns}},
        "spec": {"podCIDR": "10.99.0.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": "198.51.100.250"}]}
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &n).await.unwrap();
    let mut spec = json!({"selector": {"app": name}, "ports": ports});
    if headless {
        spec["clusterIP"] = json!("None");
    }
    let svc: Service =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-0"), "labels": {"app": name}},
        "spec": {"nodeName": node, "hostname": format!("{name}-0"), "containers": [{"name": "c", "image": "causeway:dev"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    set_pod_ip(client, ns, &format!("{name}-0"), pod_ip).await;
}

async fn set_pod_ip(client: &kube::Client, ns: &str, pod: &str, ip: &str) {
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True"}]}});
    Api::<Pod>::namespaced(client.clone(), ns)
        .patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

async fn export(client: &kube::Client, ns: &str, name: &str, labels: serde_json::Value) {
    let e: ServiceExport = serde_json::from_value(json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
        "metadata": {"name": name}, "spec": {"exportedLabels": labels}
    }))
    .unwrap();
    Api::<ServiceExport>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &e)
        .await
        .unwrap();
}

/// The endpoint addresses of the MCS slices of `service`, by source cluster.
async fn mcs_endpoints(
    client: &kube::Client,
    ns: &str,
    service: &str,
) -> Vec<(String, Vec<String>)> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let list = slices
        .list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}={service}")))
        .await
        .unwrap();
    let mut out: Vec<(String, Vec<String>)> = list
        .items
        .iter()
        .map(|s| {
            let cluster = s
                .metadata
                .labels
                .as_ref()
                .unwrap()
                .get(LABEL_SOURCE_CLUSTER)
                .cloned()
                .unwrap_or_default();
            (
                cluster,
                s.endpoints
                    .iter()
                    .flat_map(|e| e.addresses.clone())
                    .collect(),
            )
        })
        .collect();
    out.sort();
    out
}

fn condition(export: &ServiceExport, type_: &str) -> Option<(String, String, String)> {
    export
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

#[tokio::test]
async fn exports_from_both_clusters_become_imports_with_live_endpoints_everywhere() {
    let lab = lab(2).await;
    join(&lab).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let (c1, c2) = (lab.client(1), lab.client(2));
        let port = admin::free_port();
        let _s1 = controller_at(&lab, 1, &ns, &format!("127.0.0.1:{port}")).await;
        let _s2 = controller(&lab, 2, &ns).await;
        let ports = json!([{"port": 80, "targetPort": 8080, "protocol": "TCP"}]);
        workload(&c1, &ns, "serve", "10.42.0.21", ports.clone(), false).await;
        workload(&c2, &ns, "serve", "10.44.0.38", ports, false).await;
        let (id1, id2) = (cluster_id(&c1).await, cluster_id(&c2).await);
        let t0 = Instant::now();
        export(&c1, &ns, "serve", json!({"team": "web"})).await;
        export(&c2, &ns, "serve", json!({"team": "web"})).await;

        for (client, cidr) in [(&c1, "10.43."), (&c2, "10.45.")] {
            let imports: Api<ServiceImport> = Api::namespaced(client.clone(), &ns);
            let import = eventually(20, "an import with both clusters and a VIP", || async {
                let i = imports.get_opt("serve").await.ok()??;
                let clusters = i.status.as_ref()?.clusters.as_ref()?.len();
                (clusters == 2 && i.spec.ips.as_ref().is_some_and(|ips| ips.len() == 1))
                    .then_some(i)
            })
            .await;
            assert_eq!(import.spec.type_, ServiceImportType::ClusterSetIP);
            assert!(
                import.spec.ips.as_ref().unwrap()[0].starts_with(cidr),
                "VIP from this cluster's service CIDR: {:?}",
                import.spec.ips
            );
            assert_eq!(
                import
                    .metadata
                    .labels
                    .as_ref()
                    .unwrap()
                    .get("team")
                    .map(String::as_str),
                Some("web"),
                "exportedLabels reach the import"
            );
            let eps = eventually(20, "both clusters' endpoints", || async {
                let eps = mcs_endpoints(client, &ns, "serve").await;
                (eps.len() == 2).then_some(eps)
            })
            .await;
            let mut want = vec![
                (id1.clone(), vec!["10.42.0.21".to_string()]),
                (id2.clone(), vec!["10.44.0.38".to_string()]),
            ];
            want.sort();
            assert_eq!(eps, want);
        }
        eprintln!(
            "export → import with endpoints in both clusters: {:.2} s",
            t0.elapsed().as_secs_f64()
        );
        for client in [&c1, &c2] {
            let e = eventually(10, "export conditions", || async {
                let e = Api::<ServiceExport>::namespaced(client.clone(), &ns)
                    .get("serve")
                    .await
                    .ok()?;
                condition(&e, "Ready").is_some().then_some(e)
            })
            .await;
            assert_eq!(condition(&e, "Valid").unwrap().1, "Valid");
            assert_eq!(condition(&e, "Conflict").unwrap().1, "NoConflicts");
        }

        // A pod IP change in cluster 2 reaches cluster 1, and cluster 2's own MCS slice (the
        // exporter imports too); the old IP is gone from both.
        let timed = "causeway_controller_sync_slice_latency_seconds_count";
        let timed_before = admin::sample(&admin::metrics(port).await.unwrap(), timed).unwrap();
        let t1 = Instant::now();
        set_pod_ip(&c2, &ns, "serve-0", "10.44.0.99").await;
        let mut want = vec![
            (id1.clone(), vec!["10.42.0.21".to_string()]),
            (id2.clone(), vec!["10.44.0.99".to_string()]),
        ];
        want.sort();
        for (client, which) in [(&c1, "cluster 1"), (&c2, "cluster 2")] {
            eventually(10, &format!("the new pod IP in {which}"), || async {
                (mcs_endpoints(client, &ns, "serve").await == want).then_some(())
            })
            .await;
            eprintln!(
                "endpoint change cluster 2 → {which}: {:.2} s",
                t1.elapsed().as_secs_f64()
            );
        }
        // Cluster 1's controller timed the change, from its arrival to the MCS slice write.
        let text = admin::metrics(port).await.unwrap();
        assert!(
            admin::sample(&text, timed).unwrap() > timed_before,
            "the endpoint change is in the slice latency histogram:\n{text}"
        );

        // Unexport from both: imports and slices go everywhere.
        for client in [&c1, &c2] {
            Api::<ServiceExport>::namespaced(client.clone(), &ns)
                .delete("serve", &DeleteParams::default())
                .await
                .unwrap();
        }
        let t2 = Instant::now();
        for client in [&c1, &c2] {
            eventually(10, "import and slices removed", || async {
                let gone = Api::<ServiceImport>::namespaced(client.clone(), &ns)
                    .get_opt("serve")
                    .await
                    .ok()?
                    .is_none();
                (gone && mcs_endpoints(client, &ns, "serve").await.is_empty()).then_some(())
            })
            .await;
        }
        eprintln!(
            "unexport → removed everywhere: {:.2} s",
            t2.elapsed().as_secs_f64()
        );
    })
    .await;
}

#[tokio::test]
async fn conflicts_are_reported_on_every_export_and_invalid_exports_import_nothing() {
    let lab = lab(2).await;
    join(&lab).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let (c1, c2) = (lab.client(1), lab.client(2));
        let _s1 = controller(&lab, 1, &ns).await;
        let _s2 = controller(&lab, 2, &ns).await;
        // Ports by name: cluster 1 (oldest) http/80, cluster 2 http/8080 and metrics/9090.
        workload(&c1, &ns, "api", "10.42.0.31", json!([{"name": "http", "port": 80, "targetPort": 8080}]), false).await;
        workload(&c2, &ns, "api", "10.44.0.31", json!([{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]), false).await;
        // Headless vs ClusterIP, with different exported labels.
        workload(&c1, &ns, "db", "10.42.0.41", json!([{"name": "sql", "port": 5432}]), false).await;
        workload(&c2, &ns, "db", "10.44.0.41", json!([{"name": "sql", "port": 5432}]), true).await;
        export(&c1, &ns, "api", json!({})).await;
        export(&c1, &ns, "db", json!({"tier": "a"})).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        export(&c2, &ns, "api", json!({})).await;
        export(&c2, &ns, "db", json!({"tier": "b"})).await;
        // ExternalName and a missing Service.
        let ext: Service = serde_json::from_value(json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "example.com"}})).unwrap();
        Api::<Service>::namespaced(c1.clone(), &ns).create(&PostParams::default(), &ext).await.unwrap();
        export(&c1, &ns, "ext", json!({})).await;
        export(&c1, &ns, "ghost", json!({})).await;

        for client in [&c1, &c2] {
            let exports: Api<ServiceExport> = Api::namespaced(client.clone(), &ns);
            let (status, reason, message) = eventually(20, "PortConflict on api", || async {
                condition(&exports.get("api").await.ok()?, "Conflict").filter(|c| c.0 == "True")
            })
            .await;
            assert_eq!((status.as_str(), reason.as_str()), ("True", "PortConflict"));
            assert!(message.contains("ports"), "{message}");
            let (_, reason, _) = eventually(20, "Type+Labels conflict on db", || async {
                condition(&exports.get("db").await.ok()?, "Conflict").filter(|c| c.0 == "True")
            })
            .await;
            assert_eq!(reason, "TypeConflict,LabelsConflict");
            let imports: Api<ServiceImport> = Api::namespaced(client.clone(), &ns);
            let api = eventually(20, "api import", || async { imports.get_opt("api").await.ok()? }).await;
            let ports: Vec<(Option<String>, i32)> = api.spec.ports.iter().map(|p| (p.name.clone(), p.port)).collect();
            assert_eq!(ports, [(Some("http".into()), 80), (Some("metrics".into()), 9090)], "union; the oldest http wins");
            let db = eventually(20, "db import", || async { imports.get_opt("db").await.ok()? }).await;
            assert_eq!(db.spec.type_, ServiceImportType::ClusterSetIP, "the oldest export (ClusterIP) wins");
            assert_eq!(db.metadata.labels.as_ref().unwrap().get("tier").map(String::as_str), Some("a"));
        }
        // Strict ports: cluster 2 serves metrics (9090) but not the oldest's http/80.
        let slices = eventually(20, "api slices in cluster 1", || async {
            let list = Api::<EndpointSlice>::namespaced(c1.clone(), &ns).list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}=api"))).await.ok()?;
            (list.items.len() == 2).then_some(list.items)
        })
        .await;
        let id2 = cluster_id(&c2).await;
        for s in &slices {
            let names: Vec<String> = s.ports.iter().flatten().filter_map(|p| p.name.clone()).collect();
            if s.metadata.labels.as_ref().unwrap()[LABEL_SOURCE_CLUSTER] == id2 {
                assert_eq!(names, ["metrics"]);
            } else {
                assert_eq!(names, ["http"]);
            }
        }
        let exports: Api<ServiceExport> = Api::namespaced(c1.clone(), &ns);
        let ext = eventually(20, "ExternalName export invalid", || async { condition(&exports.get("ext").await.ok()?, "Valid") }).await;
        assert_eq!((ext.0.as_str(), ext.1.as_str()), ("False", "InvalidServiceType"));
        let ghost = eventually(20, "missing Service", || async { condition(&exports.get("ghost").await.ok()?, "Valid") }).await;
        assert_eq!((ghost.0.as_str(), ghost.1.as_str()), ("False", "NoService"));
        for client in [&c1, &c2] {
            let imports: Api<ServiceImport> = Api::namespaced(client.clone(), &ns);
            assert!(imports.get_opt("ext").await.unwrap().is_none());
            assert!(imports.get_opt("ghost").await.unwrap().is_none());
        }
    })
    .await;
}

#[tokio::test]
async fn the_peer_credential_is_read_only() {
    let lab = lab(2).await;
    join(&lab).await;
    let c1 = lab.client(1);
    let id2 = cluster_id(&lab.client(2)).await;
    let secret: k8s_openapi::api::core::v1::Secret = Api::namespaced(c1.clone(), "causeway-system")
        .get(&format!("peer-{id2}"))
        .await
        .unwrap();
    let kubeconfig = String::from_utf8(secret.data.unwrap()["kubeconfig"].0.clone()).unwrap();
    let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let peer = kube::Client::try_from(config).unwrap();
    // It can read what the sync needs …
    Api::<ServiceExport>::all(peer.clone())
        .list(&ListParams::default().limit(1))
        .await
        .unwrap();
    Api::<EndpointSlice>::all(peer.clone())
        .list(&ListParams::default().limit(1))
        .await
        .unwrap();
    // … and write nothing.
    let e: ServiceExport = ServiceExport::new("forbidden", Default::default());
    match Api::<ServiceExport>::namespaced(peer.clone(), "default")
        .create(&PostParams::default(), &e)
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("expected 403, got {other:?}"),
    }
    match Api::<k8s_openapi::api::core::v1::Secret>::namespaced(peer, "kube-system")
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403),
        other => panic!("expected 403 reading secrets, got {other:?}"),
    }
}

#[tokio::test]
async fn three_clusters_agree_and_a_non_exporting_member_imports_too() {
    let lab = lab(3).await;
    join_pair(&lab, 1, 2).await;
    join_pair(&lab, 1, 3).await;
    join_pair(&lab, 2, 3).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let (c1, c2, c3) = (lab.client(1), lab.client(2), lab.client(3));
        let _d: Vec<Daemon> = vec![
            controller(&lab, 1, &ns).await,
            controller(&lab, 2, &ns).await,
            controller(&lab, 3, &ns).await,
        ];
        let ports = json!([{"port": 80, "targetPort": 8080, "protocol": "TCP"}]);
        workload(&c2, &ns, "serve", "10.44.0.61", ports.clone(), false).await;
        workload(&c3, &ns, "serve", "10.46.0.61", ports, false).await;
        let (id2, id3) = (cluster_id(&c2).await, cluster_id(&c3).await);
        export(&c2, &ns, "serve", json!({})).await;
        export(&c3, &ns, "serve", json!({})).await;
        let mut want = vec![
            (id2.clone(), vec!["10.44.0.61".to_string()]),
            (id3.clone(), vec!["10.46.0.61".to_string()]),
        ];
        want.sort();
        // Every member — cluster 1 exports nothing but has the namespace — gets the import and
        // both exporters' endpoints, and all agree on status.clusters.
        let mut views = Vec::new();
        for client in [&c1, &c2, &c3] {
            let imports: Api<ServiceImport> = Api::namespaced(client.clone(), &ns);
            let clusters = eventually(20, "an import listing both exporters", || async {
                let i = imports.get_opt("serve").await.ok()??;
                let cs: Vec<String> = i.status?.clusters?.into_iter().map(|c| c.cluster).collect();
                (cs.len() == 2 && i.spec.ips.is_some_and(|ips| ips.len() == 1)).then_some(cs)
            })
            .await;
            views.push(clusters);
            eventually(20, "both exporters' endpoints", || async {
                (mcs_endpoints(client, &ns, "serve").await == want).then_some(())
            })
            .await;
        }
        assert!(
            views.iter().all(|v| v == &views[0]),
            "all members agree: {views:?}"
        );
        // Cluster 3 stops exporting: its endpoints leave every member, the import stays.
        Api::<ServiceExport>::namespaced(c3.clone(), &ns)
            .delete("serve", &DeleteParams::default())
            .await
            .unwrap();
        for client in [&c1, &c2, &c3] {
            eventually(20, "cluster 3's endpoints withdrawn", || async {
                let eps = mcs_endpoints(client, &ns, "serve").await;
                (eps.len() == 1 && eps[0].0 == id2).then_some(())
            })
            .await;
            assert!(
                Api::<ServiceImport>::namespaced(client.clone(), &ns)
                    .get_opt("serve")
                    .await
                    .unwrap()
                    .is_some()
            );
        }
    })
    .await;
}
