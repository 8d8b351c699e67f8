//! What the sync owns, on real clusters (`causeway join --both`, a `causeway controller` per
//! cluster), issue #16: a hand-made ServiceImport fed by `causeway import-slices` (the README's
//! manual path) is never adopted when an export of its name appears, says so in a Warning Event
//! and `causeway status`, and survives the export's end with its VIP; a hand-made slice copy
//! behind one of the sync's imports is named in a Warning Event (once) and in `causeway status`,
//! never deleted; a selector-less headless Service exported next to a ClusterIP Service reports
//! only the type conflict, and a headless import's IP families are its endpoints'.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::future::Future;

use causeway_api::names::{LABEL_K8S_SERVICE_NAME, LABEL_SERVICE_NAME, LABEL_SYNCED};
use causeway_api::{ServiceExport, ServiceImport, ServiceImportType};
use causeway_test_support::admin::{free_port, metrics, sample};
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::{Lab, eventually, exported, lab, rbac, unique_name, with_temp_ns};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const RBAC: &str = include_str!("../../../deploy/controller/rbac.yaml");
const CAUSEWAY: &str = env!("CARGO_BIN_EXE_causeway");

/// Joins clusters 1 and 2 both ways and runs `body(lab, namespace)` in a fresh namespace.
async fn on_lab<F, Fut>(body: F)
where
    F: FnOnce(Lab, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let lab = lab(2).await;
    causeway_test_support::admin::join_both(CAUSEWAY.as_ref(), &lab, 1, 2).await;
    with_temp_ns(&lab, body).await;
}

/// A controller for cluster `cluster` reconciling only `ns`, admin endpoints on `admin`.
async fn controller(lab: &Lab, cluster: u8, ns: &str, admin: &str) -> Daemon {
    rbac::install_for_user(&lab.client(cluster.into()), RBAC, "causeway-controller").await;
    let lease = unique_name("own");
    let args = controller_args(lab, cluster, ns, &lease, admin, &["--peer-grace", "5"]);
    Daemon::start(
        CAUSEWAY.as_ref(),
        &format!("c{cluster}-{lease}"),
        &args,
        &[("POD_NAME", "ctl")],
        lab.paths.root(),
    )
}

/// Controllers in both clusters; returns them and cluster 1's admin port.
async fn controllers(lab: &Lab, ns: &str) -> (Daemon, Daemon, u16) {
    let port = free_port();
    (
        controller(lab, 1, ns, &format!("127.0.0.1:{port}")).await,
        controller(lab, 2, ns, "127.0.0.1:0").await,
        port,
    )
}

async fn cluster_id(client: &kube::Client) -> String {
    causeway_controller::sync::identity::cluster_id(client, true)
        .await
        .unwrap()
}

fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// Waits until cluster 1's controller (admin `port`) completed `n` more sync passes.
async fn passes(port: u16, n: f64) {
    let count = || async {
        sample(
            &metrics(port).await?,
            "causeway_controller_sync_passes_total",
        )
    };
    let start = eventually(20, "the controller's sync pass count", count).await;
    eventually(30, &format!("{n} more sync passes"), || async {
        (count().await? >= start + n).then_some(())
    })
    .await;
}

/// Service `name` (port 80 → 8080) with one Ready pod at `ip` on the test's Node; no export.
async fn workload(client: &kube::Client, ns: &str, name: &str, ip: &str) {
    let svc: Service = from(json!({"metadata": {"name": name}, "spec": {
        "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}));
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let pod: Pod = from(
        json!({"metadata": {"name": format!("{name}-0"), "labels": {"app": name}},
        "spec": {"nodeName": format!("{ns}-n"),
                 "containers": [{"name": "c", "image": "causeway:dev"}]}}),
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status(
        &format!("{name}-0"),
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .unwrap();
}

async fn export(client: &kube::Client, ns: &str, name: &str) {
    let e: ServiceExport = from(json!({"apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceExport", "metadata": {"name": name}}));
    Api::<ServiceExport>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &e)
        .await
        .unwrap();
}

/// Waits until export `name` in `client`'s cluster has condition `type_` with `status`; returns
/// its reason.
async fn export_condition(
    client: &kube::Client,
    ns: &str,
    name: &str,
    type_: &str,
    status: &str,
) -> String {
    let exports: Api<ServiceExport> = Api::namespaced(client.clone(), ns);
    eventually(
        30,
        &format!("{type_}={status} on export {name}"),
        || async {
            let e = exports.get(name).await.ok()?;
            let c = e
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == type_ && c.status == status)?;
            Some(c.reason)
        },
    )
    .await
}

/// Names of the EndpointSlices labelled `multicluster.kubernetes.io/service-name=<service>`.
async fn mcs_slice_names(client: &kube::Client, ns: &str, service: &str) -> Vec<String> {
    let mut names: Vec<String> = Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}={service}")))
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    names
}

/// The notes of the Events with `reason` about object `name` in `ns`, one per publication (the
/// recorder folds a repeated Event into a series; `kubectl describe` shows its count).
async fn events(client: &kube::Client, ns: &str, name: &str, reason: &str) -> Vec<String> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
        })
        .flat_map(|e| {
            let count = e.series.as_ref().map_or(1, |s| s.count);
            let note = e.note.unwrap_or_default();
            (0..count).map(move |_| note.clone())
        })
        .collect()
}

/// Waits for a Warning Event with `reason` about `name`; returns its note.
async fn event(client: &kube::Client, ns: &str, name: &str, reason: &str) -> String {
    eventually(30, &format!("a {reason} Event on {name}"), || async {
        events(client, ns, name, reason).await.into_iter().next()
    })
    .await
}

/// `causeway <args>` as lab cluster `cluster`'s admin; its stdout.
async fn causeway(lab: &Lab, cluster: u8, args: &[&str]) -> String {
    let out = tokio::process::Command::new(CAUSEWAY)
        .args(args)
        .arg("--kubeconfig")
        .arg(lab.paths.admin_kubeconfig(cluster))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "causeway {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_hand_made_import_is_never_adopted_and_survives_the_export() {
    on_lab(hand_made_import).await;
}

async fn hand_made_import(lab: Lab, ns: String) {
    let (c1, c2) = (lab.client(1), lab.client(2));
    let (_d1, _d2, port) = controllers(&lab, &ns).await;
    let id2 = cluster_id(&c2).await;
    exported::node(&c2, &ns, "198.51.100.251").await;
    workload(&c2, &ns, "legacy", "10.44.9.1").await;
    // The README's manual path: a hand-made import, fed by `causeway import-slices`.
    let imports: Api<ServiceImport> = Api::namespaced(c1.clone(), &ns);
    let import: ServiceImport = from(json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {"name": "legacy"},
        "spec": {"type": "ClusterSetIP", "ports": [{"port": 80, "protocol": "TCP"}]}
    }));
    imports
        .create(&PostParams::default(), &import)
        .await
        .unwrap();
    let source: Api<EndpointSlice> = Api::namespaced(c2.clone(), &ns);
    eventually(30, "cluster 2's slice of legacy", || async {
        let list = source
            .list(&ListParams::default().labels(&format!("{LABEL_K8S_SERVICE_NAME}=legacy")))
            .await
            .ok()?;
        list.items
            .iter()
            .any(|s| !s.endpoints.is_empty())
            .then_some(())
    })
    .await;
    let c2_kubeconfig = lab.paths.admin_kubeconfig(2).display().to_string();
    let service = format!("{ns}/legacy");
    causeway(
        &lab,
        1,
        &[
            "import-slices",
            "--service",
            &service,
            "--from-kubeconfig",
            &c2_kubeconfig,
        ],
    )
    .await;
    let before = eventually(30, "the hand-made import's VIP", || async {
        imports
            .get_opt("legacy")
            .await
            .ok()?
            .filter(|i| i.spec.ips.as_ref().is_some_and(|ips| !ips.is_empty()))
    })
    .await;
    let slices_before = mcs_slice_names(&c1, &ns, "legacy").await;
    assert_eq!(slices_before.len(), 1, "{slices_before:?}");

    // An export of the same name appears in cluster 2.
    export(&c2, &ns, "legacy").await;
    export_condition(&c2, &ns, "legacy", "Ready", "True").await;
    passes(port, 3.0).await;
    let during = imports.get("legacy").await.unwrap();
    assert_eq!(
        during.labels().get(LABEL_SYNCED),
        None,
        "the sync adopted the user's import: labels {:?}",
        during.labels()
    );
    assert_eq!(during.uid(), before.uid());
    assert_eq!(during.spec.ips, before.spec.ips);
    let note = event(&c1, &ns, "legacy", "ImportNotManaged").await;
    for said in [
        format!("cluster(s) {id2} now export {ns}/legacy"),
        format!("kubectl delete serviceimport -n {ns} legacy"),
    ] {
        assert!(note.contains(&said), "{said:?} in {note}");
    }
    let status = causeway(&lab, 1, &["status", "-n", &ns]).await;
    assert!(
        status.contains("warning: ServiceImport")
            && status.contains("was not created by causeway")
            && status.contains(&id2),
        "{status}"
    );

    // The export ends: the user's import, its VIP and its slice stay.
    Api::<ServiceExport>::namespaced(c2.clone(), &ns)
        .delete("legacy", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "the export gone", || async {
        Api::<ServiceExport>::namespaced(c2.clone(), &ns)
            .get_opt("legacy")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    passes(port, 3.0).await;
    let after = imports
        .get_opt("legacy")
        .await
        .unwrap()
        .expect("the user's import was deleted when the export ended");
    assert_eq!(after.uid(), before.uid());
    assert_eq!(after.spec.ips, before.spec.ips, "the VIP survives");
    assert_eq!(mcs_slice_names(&c1, &ns, "legacy").await, slices_before);
    assert_eq!(
        events(&c1, &ns, "legacy", "ImportNotManaged").await.len(),
        1,
        "one Event while the export lasted"
    );
}

#[tokio::test]
async fn a_hand_made_slice_copy_behind_the_vip_is_reported_not_deleted() {
    on_lab(slice_copy).await;
}

async fn slice_copy(lab: Lab, ns: String) {
    let (c1, c2) = (lab.client(1), lab.client(2));
    let (_d1, _d2, port) = controllers(&lab, &ns).await;
    exported::node(&c2, &ns, "198.51.100.252").await;
    exported::service(&c2, &ns, "serve", "10.44.9.2").await;
    let synced = eventually(30, "the sync's slice of serve", || async {
        let names = mcs_slice_names(&c1, &ns, "serve").await;
        (names.len() == 1).then_some(names)
    })
    .await;
    // The seed's `kubectl get … | edit-meta.py | kubectl apply` copy of cluster 2's slice.
    let copy: EndpointSlice = from(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "imported-serve-x7v4m",
                     "labels": {LABEL_SERVICE_NAME: "serve"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.44.9.2"], "conditions": {"ready": true}}],
        "ports": [{"port": 8080, "protocol": "TCP", "name": ""}]
    }));
    let slices: Api<EndpointSlice> = Api::namespaced(c1.clone(), &ns);
    slices.create(&PostParams::default(), &copy).await.unwrap();
    let note = event(&c1, &ns, "serve", "ForeignEndpointSlices").await;
    assert!(
        note.contains("imported-serve-x7v4m")
            && note.contains(&format!(
                "kubectl delete endpointslice -n {ns} imported-serve-x7v4m"
            )),
        "{note}"
    );
    // Resyncs raise no second Event, delete nothing.
    passes(port, 3.0).await;
    assert_eq!(
        events(&c1, &ns, "serve", "ForeignEndpointSlices")
            .await
            .len(),
        1
    );
    let mut all = synced.clone();
    all.push("imported-serve-x7v4m".into());
    all.sort();
    assert_eq!(mcs_slice_names(&c1, &ns, "serve").await, all);
    // A second copy is a change: one more Event, naming both.
    let mut second = copy.clone();
    second.metadata.name = Some("imported-serve-q2w8e".into());
    slices
        .create(&PostParams::default(), &second)
        .await
        .unwrap();
    let notes = eventually(30, "a second ForeignEndpointSlices Event", || async {
        let notes = events(&c1, &ns, "serve", "ForeignEndpointSlices").await;
        (notes.len() >= 2).then_some(notes)
    })
    .await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("imported-serve-q2w8e,imported-serve-x7v4m")),
        "{notes:?}"
    );
    passes(port, 3.0).await;
    assert_eq!(
        events(&c1, &ns, "serve", "ForeignEndpointSlices")
            .await
            .len(),
        2
    );
    all.push("imported-serve-q2w8e".into());
    all.sort();
    assert_eq!(mcs_slice_names(&c1, &ns, "serve").await, all);
    let status = causeway(&lab, 1, &["status", "-n", &ns]).await;
    assert!(
        status.contains("imported-serve-x7v4m") && status.contains("kubectl delete endpointslice"),
        "{status}"
    );
}

#[tokio::test]
async fn a_selectorless_headless_export_next_to_a_clusterip_is_only_a_type_conflict() {
    on_lab(headless_families).await;
}

async fn headless_families(lab: Lab, ns: String) {
    let (c1, c2) = (lab.client(1), lab.client(2));
    let _d = controllers(&lab, &ns).await;
    exported::node(&c1, &ns, "198.51.100.253").await;
    exported::service(&c1, &ns, "mixed", "10.42.9.3").await;
    export_condition(&c1, &ns, "mixed", "Ready", "True").await;
    // The oldest export wins: the headless one must be created in a later second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Selector-less headless Services: the apiserver gives them both families in this
    // single-stack lab; `bare` has a hand-made IPv4 source slice.
    for name in ["mixed", "bare"] {
        let svc: Service = from(json!({"metadata": {"name": name},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}));
        let svc = Api::<Service>::namespaced(c2.clone(), &ns)
            .create(&PostParams::default(), &svc)
            .await
            .unwrap();
        assert_eq!(
            svc.spec.unwrap().ip_families.unwrap_or_default().len(),
            2,
            "the apiserver's default for a selector-less headless Service"
        );
    }
    let source: EndpointSlice = from(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "bare-manual", "labels": {
            LABEL_K8S_SERVICE_NAME: "bare",
            "endpointslice.kubernetes.io/managed-by": "test.example"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.44.9.4"], "hostname": "b0"}],
        "ports": [{"port": 80, "protocol": "TCP", "name": ""}]
    }));
    Api::<EndpointSlice>::namespaced(c2.clone(), &ns)
        .create(&PostParams::default(), &source)
        .await
        .unwrap();
    export(&c2, &ns, "mixed").await;
    export(&c2, &ns, "bare").await;
    let reason = export_condition(&c2, &ns, "mixed", "Conflict", "True").await;
    assert_eq!(reason, "TypeConflict", "only the type differs");
    assert_eq!(
        export_condition(&c1, &ns, "mixed", "Conflict", "True").await,
        "TypeConflict"
    );
    let imports: Api<ServiceImport> = Api::namespaced(c1.clone(), &ns);
    let mixed = imports.get("mixed").await.unwrap();
    assert_eq!(mixed.spec.type_, ServiceImportType::ClusterSetIP);
    assert_eq!(mixed.spec.ip_families, Some(vec!["IPv4".to_owned()]));
    let bare = eventually(30, "the headless import bare with its slice", || async {
        let i = imports.get_opt("bare").await.ok()??;
        (!mcs_slice_names(&c1, &ns, "bare").await.is_empty()).then_some(i)
    })
    .await;
    assert_eq!(bare.spec.type_, ServiceImportType::Headless);
    let bare = eventually(30, "bare's families", || async {
        let i = imports.get("bare").await.ok()?;
        (i.spec.ip_families == Some(vec!["IPv4".to_owned()])).then_some(i)
    })
    .await;
    assert!(bare.spec.ips.as_ref().is_none_or(Vec::is_empty));
}
