//! The chart installed on the lab as running pods (issue #12, item 3, first part): `helm install`
//! of charts/causeway into both lab clusters (controller and dns, the locally built images,
//! `image.pullPolicy=Never`, on the kubelet nodes), `causeway join --both` into the release
//! namespace, a real `causeway-serve` Deployment exported from cluster 2; in cluster 1 the
//! ServiceImport gets a VIP, a derived Service and MCS EndpointSlices with cluster 2's pod IPs,
//! and the release's `causeway dns` Service answers the VIP to a toolbox pod. `helm upgrade`
//! with a changed value (the log level: every controller and dns pod rolls) while a probe in
//! cluster 1 keeps resolving the name through causeway dns and reading the import (VIP,
//! `Ready=True`): not one probe fails, and the controller's Lease moves to a new pod (one image
//! tag is built, so the upgrade changes values only). Then `helm uninstall` in both clusters leaves none of the chart's objects (namespaced or cluster-scoped)
//! and no causeway pod; what stays by design (imports, exports, derived Services, slices, the
//! peer Secrets of join, the Leases the daemons wrote) is checked to stay.
//!
//! Every release lives in the test's own namespace, named `causeway`, with
//! `clusterScopedSuffix=-<namespace>` so that its ClusterRoles and ClusterRoleBindings are its
//! own; the controller serves only that namespace (`--namespace`) and dns writes no conditions,
//! so concurrent lab tests are not touched. `--skip-crds`: the lab installed the CRDs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use causeway_api::names::{ANNOTATION_DERIVED_SERVICE, LABEL_SERVICE_NAME};
use causeway_lab::images::{self, ImageSet};
use causeway_lab::layout::LAB_NODE_LABEL;
use causeway_test_support::workloads::{apply, ready_pods};
use causeway_test_support::{Lab, eventually, lab, with_temp_ns};
use futures::FutureExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const RELEASE: &str = "causeway";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The cached helm (tools/helm/build.sh; built on first use).
fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let out = std::process::Command::new("bash")
            .arg(root().join("tools/helm/build.sh"))
            .output()
            .expect("run tools/helm/build.sh");
        assert!(
            out.status.success(),
            "tools/helm/build.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

async fn run_helm(lab: &Lab, cluster: u8, args: &[&str]) -> Output {
    tokio::process::Command::new(helm())
        .arg("--kubeconfig")
        .arg(lab.paths.admin_kubeconfig(cluster))
        .args(args)
        .output()
        .await
        .expect("run helm")
}

/// The values of the lab install: the built images, never pulled; both daemons on the kubelet
/// nodes; cluster-scoped names of the release's own; the controller on `ns` only; no
/// DnsResolvable writes (other tests' imports are not ours); a trust store for the controller.
fn values(ns: &str, tag: &str) -> Value {
    let on_lab_nodes = json!({LAB_NODE_LABEL: "true"});
    json!({
        "image": {"tag": tag, "pullPolicy": "Never"},
        "clusterScopedSuffix": format!("-{ns}"),
        "log": {"format": "plain", "level": "info"},
        "controller": {
            "nodeSelector": on_lab_nodes,
            "extraArgs": [format!("--namespace={ns}")],
        },
        "dns": {"nodeSelector": on_lab_nodes, "writeConditions": false},
    })
}

async fn install(lab: &Lab, cluster: u8, ns: &str, values_file: &Path) {
    let chart = root().join("charts/causeway");
    let out = run_helm(
        lab,
        cluster,
        &[
            "install",
            RELEASE,
            chart.to_str().unwrap(),
            "--namespace",
            ns,
            "--skip-crds",
            "-f",
            values_file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "helm install in cluster {cluster} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn uninstall(lab: &Lab, cluster: u8, ns: &str) -> Output {
    run_helm(
        lab,
        cluster,
        &["uninstall", RELEASE, "--namespace", ns, "--wait"],
    )
    .await
}

fn mcs(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "multicluster.x-k8s.io",
        "v1alpha1",
        kind,
    ))
}

/// The names of the chart's cluster-scoped objects for namespace `ns`.
fn cluster_scoped(ns: &str) -> Vec<String> {
    ["causeway-controller", "causeway-dns"]
        .iter()
        .map(|n| format!("{n}-{ns}"))
        .collect()
}

async fn checks(lab: &Lab, ns: &str, images: &ImageSet, values_file: &Path) {
    let (one, two) = tokio::join!(
        install(lab, 1, ns, values_file),
        install(lab, 2, ns, values_file)
    );
    let ((), ()) = (one, two);

    // The daemons run as real pods on the kubelet nodes, both replicas Ready.
    for cluster in [1, 2] {
        for name in ["causeway-controller", "causeway-dns"] {
            let pods = ready_pods(
                lab,
                cluster,
                ns,
                &format!("app.kubernetes.io/name={name},app.kubernetes.io/instance={RELEASE}"),
                2,
            )
            .await;
            for pod in &pods {
                let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();
                assert!(
                    lab.state.node(&node).is_ok(),
                    "{name} pod runs on a lab kubelet node, not {node}"
                );
            }
        }
        for (kind, name) in [
            ("ClusterRole", "causeway-controller"),
            ("ClusterRole", "causeway-dns"),
        ] {
            let full = format!("{name}-{ns}");
            Api::<ClusterRole>::all(lab.client(cluster.into()))
                .get(&full)
                .await
                .unwrap_or_else(|e| panic!("{kind} {full} in cluster {cluster}: {e}"));
        }
    }

    // Join, into the release namespace (the controller's --members-namespace).
    let out = causeway_test_support::admin::join(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        lab,
        1,
        2,
        &["--both", "--members-namespace", ns],
    )
    .await;
    assert!(
        out.status.success(),
        "causeway join --both failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A real workload in cluster 2, exported.
    let serve = images.reference("causeway-serve", None).unwrap();
    let toolbox = images.reference("toolbox", None).unwrap();
    let on_lab_nodes = json!({LAB_NODE_LABEL: "true"});
    apply(
        lab,
        2,
        ns,
        &json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "serve"},
             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "serve"}},
              "template": {"metadata": {"labels": {"app": "serve"}}, "spec": {
                "nodeSelector": on_lab_nodes, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "serve", "image": serve, "imagePullPolicy": "Never",
                  "env": [{"name": "CLUSTER_NAME", "value": "2"}],
                  "ports": [{"containerPort": 8080}],
                  "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "serve"},
             "spec": {"selector": {"app": "serve"}, "ports": [{"port": 80, "targetPort": 8080}]}},
            {"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceExport",
             "metadata": {"name": "serve"}},
        ]}),
    )
    .await;
    apply(
        lab,
        1,
        ns,
        &json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "client", "labels": {"app": "client"}},
            "spec": {"nodeSelector": on_lab_nodes, "terminationGracePeriodSeconds": 1,
              "containers": [{"name": "client", "image": toolbox, "imagePullPolicy": "Never",
                "command": ["sleep", "3600"]}]}}),
    )
    .await;
    let serving: BTreeSet<String> = ready_pods(lab, 2, ns, "app=serve", 2)
        .await
        .iter()
        .map(|p| p.status.as_ref().unwrap().pod_ip.clone().unwrap())
        .collect();

    // Cluster 1: the import with its VIP, the derived Service, the slices with cluster 2's pods.
    let imports: Api<DynamicObject> =
        Api::namespaced_with(lab.client(1), ns, &mcs("ServiceImport"));
    let (vip, derived) = eventually(120, "the ServiceImport in cluster 1 with a VIP", || async {
        let import = imports.get("serve").await.ok()?;
        let vip = import.data["spec"]["ips"][0].as_str()?.to_owned();
        let derived = import
            .metadata
            .annotations
            .as_ref()?
            .get(ANNOTATION_DERIVED_SERVICE)?
            .clone();
        Some((vip, derived))
    })
    .await;
    let services: Api<Service> = Api::namespaced(lab.client(1), ns);
    eventually(60, "the derived Service with the VIP", || async {
        let svc = services.get(&derived).await.ok()?;
        (svc.spec?.cluster_ip.as_deref() == Some(vip.as_str())).then_some(())
    })
    .await;
    let slices: Api<EndpointSlice> = Api::namespaced(lab.client(1), ns);
    eventually(
        120,
        "MCS EndpointSlices with cluster 2's pod IPs",
        || async {
            let list = slices
                .list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}=serve")))
                .await
                .ok()?;
            let addresses: BTreeSet<String> = list
                .items
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .flat_map(|e| e.addresses.iter().cloned())
                .collect();
            (addresses == serving).then_some(())
        },
    )
    .await;

    // causeway dns of the release answers the VIP to a pod in cluster 1.
    ready_pods(lab, 1, ns, "app=client", 1).await;
    let dns_ip = services
        .get("causeway-dns")
        .await
        .unwrap()
        .spec
        .unwrap()
        .cluster_ip
        .unwrap();
    let name = format!("serve.{ns}.svc.clusterset.local");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (ok, out, err) = lab
            .kubectl_in(
                1,
                &["exec", "-n", ns, "client", "--", "nslookup", &name, &dns_ip],
                None,
            )
            .await;
        if ok && out.contains(&format!("Address: {vip}")) {
            break;
        }
        let answer = format!("{out}{err}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} via causeway dns {dns_ip} did not answer {vip}: {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    // helm upgrade with a changed value (log level: every pod rolls) while a probe keeps asking
    // causeway dns for the name and reading the import: no failure; the controller's Lease moves
    // to a new pod.
    upgrade_under_load(lab, ns, values_file, &name, &dns_ip, &vip).await;

    // helm uninstall in both clusters.
    for cluster in [1, 2] {
        let out = uninstall(lab, cluster, ns).await;
        assert!(
            out.status.success(),
            "helm uninstall in cluster {cluster} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for cluster in [1, 2] {
        let client = lab.client(cluster.into());
        let part_of = "app.kubernetes.io/part-of=causeway";
        // No causeway pod (they terminate within their grace period).
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        eventually(120, "no causeway pod after uninstall", || async {
            let list = pods
                .list(&ListParams::default().labels(part_of))
                .await
                .ok()?;
            list.items.is_empty().then_some(())
        })
        .await;
        // None of the chart's namespaced objects: listed by the chart's label, kind by kind.
        for resource in [
            "deployments",
            "replicasets",
            "services",
            "serviceaccounts",
            "roles",
            "rolebindings",
            "poddisruptionbudgets",
            "configmaps",
            "secrets",
        ] {
            let (ok, out, err) = lab
                .kubectl_in(
                    cluster,
                    &["get", resource, "-n", ns, "-l", part_of, "-o", "name"],
                    None,
                )
                .await;
            assert!(ok, "kubectl get {resource}: {err}");
            assert!(
                out.trim().is_empty(),
                "cluster {cluster}: {resource} of the chart left after uninstall: {out}"
            );
        }
        // Nor Helm's release records.
        let (ok, out, err) = lab
            .kubectl_in(
                cluster,
                &["get", "secrets", "-n", ns, "-l", "owner=helm", "-o", "name"],
                None,
            )
            .await;
        assert!(
            ok && out.trim().is_empty(),
            "helm release secrets left: {out}{err}"
        );
        // Nor its cluster-scoped objects.
        for name in cluster_scoped(ns) {
            assert!(
                Api::<ClusterRole>::all(client.clone())
                    .get_opt(&name)
                    .await
                    .unwrap()
                    .is_none(),
                "cluster {cluster}: ClusterRole {name} left after uninstall"
            );
            assert!(
                Api::<ClusterRoleBinding>::all(client.clone())
                    .get_opt(&name)
                    .await
                    .unwrap()
                    .is_none(),
                "cluster {cluster}: ClusterRoleBinding {name} left after uninstall"
            );
        }
        // What stays by design: the controller's Lease (expired; nothing renews it) and join's
        // peer Secret.
        let (ok, out, err) = lab
            .kubectl_in(cluster, &["get", "leases", "-n", ns, "-o", "name"], None)
            .await;
        assert!(ok, "{err}");
        // (dns elects only to write conditions, off here: no Lease of its own.)
        assert!(
            out.contains("lease.coordination.k8s.io/causeway-controller"),
            "the controller's Lease stays: {out}"
        );
        let (ok, out, err) = lab
            .kubectl_in(cluster, &["get", "secrets", "-n", ns, "-o", "name"], None)
            .await;
        assert!(
            ok && out.contains("secret/peer-"),
            "join's peer Secret stays: {out}{err}"
        );
    }
    // The import side stays: ServiceImport, derived Service, slices (CRDs are never deleted by
    // Helm; nothing updates them any more). The export in cluster 2 stays too.
    assert!(
        imports.get_opt("serve").await.unwrap().is_some(),
        "the import stays"
    );
    assert!(
        services.get_opt(&derived).await.unwrap().is_some(),
        "the derived Service stays"
    );
    let exports: Api<DynamicObject> =
        Api::namespaced_with(lab.client(2), ns, &mcs("ServiceExport"));
    assert!(
        exports.get_opt("serve").await.unwrap().is_some(),
        "the export stays"
    );
}

/// The holder of the controller's Lease in cluster 1.
async fn controller_holder(lab: &Lab, ns: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(lab.client(1), ns);
    leases
        .get("causeway-controller")
        .await
        .ok()?
        .spec?
        .holder_identity
}

/// One probe in cluster 1: `name` answers `vip` through causeway dns at `dns_ip`, and the import
/// keeps its VIP and `Ready=True`. `Err` says what failed.
async fn probe(lab: &Lab, ns: &str, name: &str, dns_ip: &str, vip: &str) -> Result<(), String> {
    let (ok, out, err) = lab
        .kubectl_in(
            1,
            &["exec", "-n", ns, "client", "--", "nslookup", name, dns_ip],
            None,
        )
        .await;
    if !(ok && out.contains(&format!("Address: {vip}"))) {
        return Err(format!("nslookup: {out}{err}"));
    }
    let imports: Api<DynamicObject> =
        Api::namespaced_with(lab.client(1), ns, &mcs("ServiceImport"));
    let import = imports
        .get("serve")
        .await
        .map_err(|e| format!("get import: {e}"))?;
    let ready = import.data["status"]["conditions"]
        .as_array()
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
    if import.data["spec"]["ips"][0] != vip || !ready {
        return Err(format!("import: {}", import.data));
    }
    Ok(())
}

async fn upgrade_under_load(
    lab: &Lab,
    ns: &str,
    values_file: &Path,
    name: &str,
    dns_ip: &str,
    vip: &str,
) {
    probe(lab, ns, name, dns_ip, vip)
        .await
        .expect("the probe passes before the upgrade");
    let before = eventually(60, "a controller Lease holder", || {
        controller_holder(lab, ns)
    })
    .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let (lab, ns, name, dns_ip, vip, stop) = (
            lab.clone(),
            ns.to_owned(),
            name.to_owned(),
            dns_ip.to_owned(),
            vip.to_owned(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let (mut passed, mut failed) = (0_u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match probe(&lab, &ns, &name, &dns_ip, &vip).await {
                    Ok(()) => passed += 1,
                    Err(e) => failed.push(e),
                }
            }
            (passed, failed)
        })
    };
    let chart = root().join("charts/causeway");
    for cluster in [1, 2] {
        let out = run_helm(
            lab,
            cluster,
            &[
                "upgrade",
                RELEASE,
                chart.to_str().unwrap(),
                "--namespace",
                ns,
                "--skip-crds",
                "-f",
                values_file.to_str().unwrap(),
                "--set",
                "log.level=info\\,causeway=debug",
                "--wait",
                "--timeout",
                "5m",
            ],
        )
        .await;
        assert!(
            out.status.success(),
            "helm upgrade in cluster {cluster} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let after = eventually(120, "the controller Lease held by a new pod", || async {
        let holder = controller_holder(lab, ns).await?;
        (holder != before).then_some(holder)
    })
    .await;
    // A few more probes with the new leader, then stop.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (passed, failed) = prober.await.unwrap();
    eprintln!(
        "upgrade: {passed} probes passed, {} failed; Lease {before} -> {after}",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "probes failed during the upgrade: {failed:?}"
    );
    assert!(passed >= 10, "only {passed} probes ran during the upgrade");
}

#[tokio::test]
async fn the_chart_installs_joins_imports_resolves_upgrades_under_load_and_uninstalls_cleanly() {
    let lab = lab(2).await;
    let images = ImageSet::find(&images::dir()).unwrap();
    let tag = images.causeway_tag().unwrap();
    with_temp_ns(&lab, |lab, ns| async move {
        let values_file = std::env::temp_dir().join(format!("{ns}-values.json"));
        std::fs::write(&values_file, values(&ns, &tag).to_string()).unwrap();
        let result = AssertUnwindSafe(checks(&lab, &ns, &images, &values_file))
            .catch_unwind()
            .await;
        // Also on failure: the releases, and join's cluster-scoped bindings; on failure the
        // daemons' last log lines first.
        if result.is_err() {
            for cluster in [1, 2] {
                let (_, logs, _) = lab
                    .kubectl_in(
                        cluster,
                        &[
                            "logs",
                            "-n",
                            &ns,
                            "-l",
                            "app.kubernetes.io/part-of=causeway",
                            "--tail=20",
                            "--prefix",
                        ],
                        None,
                    )
                    .await;
                eprintln!("cluster {cluster} causeway logs:\n{logs}");
            }
        }
        for cluster in [1, 2] {
            let _ = uninstall(&lab, cluster, &ns).await;
        }
        for (cluster, peer) in [(1u8, 2u8), (2, 1)] {
            // join binds the reader of cluster `peer` in cluster `cluster`... by the id of the
            // reading cluster: causeway-reader-<id of the reader>.<ns>.
            let Ok(reader_id) =
                causeway_controller::sync::identity::cluster_id(&lab.client(peer.into()), false)
                    .await
            else {
                continue;
            };
            let _ = Api::<ClusterRoleBinding>::all(lab.client(cluster.into()))
                .delete(
                    &format!("causeway-reader-{reader_id}.{ns}"),
                    &DeleteParams::default(),
                )
                .await;
        }
        let _ = std::fs::remove_file(&values_file);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    })
    .await;
}
