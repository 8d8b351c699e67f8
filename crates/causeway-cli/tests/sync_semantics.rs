//! Sync semantics on real clusters (`causeway join --both`, a `causeway controller` per
//! cluster), one group of issue #4 rules per test: Service types (headless with and without
//! ports, NodePort, LoadBalancer) and the import type they give; session affinity, traffic
//! policy, traffic distribution and exported annotations carried to the import, or reported as
//! upstream conflict reasons on every export when clusters disagree; `causeway status` showing
//! exporters, ready endpoints and the conflict, also in a third member that only imports;
//! metadata of the Service and the ServiceExport never reaching the import; the fields of MCS
//! EndpointSlices as written to a real apiserver, and services of more than 100 endpoints;
//! hand-made source slices whose names share a suffix or reach the length limit, and the renaming
//! of slices an older causeway named; a namespace missing in one member.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, Instant};

use causeway_api::names::{
    LABEL_K8S_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER,
    LABEL_SYNCED, MANAGED_BY_CAUSEWAY,
};
use causeway_api::{ServiceExport, ServiceImport, ServiceImportType};
use causeway_core::naming::derived_service_name;
use causeway_test_support::admin;
use causeway_test_support::admin::{free_port, metrics};
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name, with_temp_ns};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::{Value, json};

const RBAC: &str = include_str!("../../../deploy/controller/rbac.yaml");

/// Joins every pair of clusters 1..=`clusters` both ways and runs `body(lab, namespace)` in a
/// fresh namespace; the lab Nodes the body labels `causeway-test=<namespace>` go with it.
async fn on_lab<F, Fut>(clusters: u8, body: F)
where
    F: FnOnce(Lab, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let lab = lab(clusters).await;
    for a in 1..clusters {
        for b in a + 1..=clusters {
            join(&lab, a, b).await;
        }
    }
    with_temp_ns(&lab, body).await;
}

async fn join(lab: &Lab, a: u8, b: u8) {
    admin::join_both(env!("CARGO_BIN_EXE_causeway").as_ref(), lab, a, b).await;
}

/// A controller for cluster `cluster` reconciling only `ns`, admin endpoints on `admin`.
async fn controller(lab: &Lab, cluster: u8, ns: &str, admin: &str) -> Daemon {
    rbac::install_for_user(&lab.client(cluster.into()), RBAC, "causeway-controller").await;
    let lease = unique_name("sem");
    let args = controller_args(lab, cluster, ns, &lease, admin, &["--peer-grace", "5"]);
    Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        &format!("c{cluster}-{lease}"),
        &args,
        &[("POD_NAME", "ctl")],
        lab.paths.root(),
    )
}

async fn controllers(lab: &Lab, ns: &str) -> (Daemon, Daemon) {
    (
        controller(lab, 1, ns, "127.0.0.1:0").await,
        controller(lab, 2, ns, "127.0.0.1:0").await,
    )
}

/// The cluster's id as its controller reads it (created from the kube-system UID if absent).
async fn cluster_id(client: &kube::Client) -> String {
    causeway_controller::sync::identity::cluster_id(client, true)
        .await
        .unwrap()
}

/// A lab Node (no kubelet) named `<ns>-<name>` in zone `zone` and labelled `causeway-test=<ns>`
/// (`with_temp_ns` removes it with the namespace), for pods to be bound to; the
/// kube-controller-manager needs it to publish their endpoints (lab-notes §5).
async fn node(client: &kube::Client, ns: &str, name: &str, zone: &str) -> String {
    let node = format!("{ns}-{name}");
    let n: Node = serde_json::from_value(json!({
        "metadata": {"name": node, "labels": {
            "causeway-test": ns, "topology.kubernetes.io/zone": zone
        }},
        "spec": {"podCIDR": "10.99.0.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": "198.51.100.250"}]}
    }))
    .unwrap();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &n)
        .await
        .unwrap();
    node
}

/// Service `name` selecting pods `app=<name>`; `spec` and `metadata` are merged in.
async fn service(client: &kube::Client, ns: &str, name: &str, spec: Value, metadata: Value) {
    let mut s = json!({"metadata": {"name": name}, "spec": {"selector": {"app": name}}});
    merge(&mut s["spec"], spec);
    merge(&mut s["metadata"], metadata);
    let svc: Service = serde_json::from_value(s).unwrap();
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// Pod `pod` of app `app` on `node` with IP `ip`, Running and `ready`; `spec` merged in.
#[allow(
    clippy::too_many_arguments,
    reason = "a pod's few facts, each a plain value"
)]
async fn pod(
    client: &kube::Client,
    ns: &str,
    node: &str,
    app: &str,
    pod: &str,
    ip: &str,
    ready: bool,
    spec: Value,
) {
    let mut p = json!({
        "metadata": {"name": pod, "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "causeway:dev"}]}
    });
    merge(&mut p["spec"], spec);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(&PostParams::default(), &serde_json::from_value(p).unwrap())
        .await
        .unwrap();
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    pods.patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// A Service with one ready pod behind it on a node of its own.
async fn workload(client: &kube::Client, ns: &str, name: &str, ip: &str, spec: Value) {
    let n = node(client, ns, name, "zone-a").await;
    service(client, ns, name, spec, json!({})).await;
    pod(
        client,
        ns,
        &n,
        name,
        &format!("{name}-0"),
        ip,
        true,
        json!({}),
    )
    .await;
}

async fn export(client: &kube::Client, ns: &str, name: &str, spec: Value, metadata: Value) {
    let mut e = json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
        "metadata": {"name": name}, "spec": spec
    });
    merge(&mut e["metadata"], metadata);
    let e: ServiceExport = serde_json::from_value(e).unwrap();
    Api::<ServiceExport>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &e)
        .await
        .unwrap();
}

/// The MCS slices of `service` in `client`'s cluster.
async fn mcs_slices(client: &kube::Client, ns: &str, service: &str) -> Vec<EndpointSlice> {
    Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}={service}")))
        .await
        .unwrap()
        .items
}

/// Endpoint addresses of `slices` by source cluster, sorted.
fn by_cluster(slices: &[EndpointSlice]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in slices {
        let cluster = s
            .labels()
            .get(LABEL_SOURCE_CLUSTER)
            .cloned()
            .unwrap_or_default();
        out.entry(cluster)
            .or_default()
            .extend(s.endpoints.iter().flat_map(|e| e.addresses.clone()));
    }
    out
}

fn want(entries: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    entries
        .iter()
        .map(|(c, a)| ((*c).to_owned(), a.iter().map(|s| (*s).to_owned()).collect()))
        .collect()
}

/// Waits until `client`'s cluster has an import `name` that `ok` accepts.
async fn import_where(
    client: &kube::Client,
    ns: &str,
    name: &str,
    what: &str,
    ok: impl Fn(&ServiceImport) -> bool,
) -> ServiceImport {
    let imports: Api<ServiceImport> = Api::namespaced(client.clone(), ns);
    eventually(20, &format!("import {name}: {what}"), || async {
        imports.get_opt(name).await.ok()?.filter(|i| ok(i))
    })
    .await
}

fn exporters(i: &ServiceImport) -> Vec<String> {
    i.status
        .as_ref()
        .and_then(|s| s.clusters.as_ref())
        .map(|cs| cs.iter().map(|c| c.cluster.clone()).collect())
        .unwrap_or_default()
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

/// The notes of the Events with `reason` about ServiceExport `name`, oldest first.
async fn export_events(client: &kube::Client, ns: &str, name: &str, reason: &str) -> Vec<String> {
    let mut events: Vec<_> =
        Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("ServiceExport")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
            .collect();
    events.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    events
        .into_iter()
        .map(|e| e.note.unwrap_or_default())
        .collect()
}

/// Waits until export `name` in `client`'s cluster has a `Conflict` condition with `reason`;
/// returns its message.
async fn conflict(client: &kube::Client, ns: &str, name: &str, reason: &str) -> String {
    let exports: Api<ServiceExport> = Api::namespaced(client.clone(), ns);
    let (status, _, message) = eventually(20, &format!("Conflict {reason} on {name}"), || async {
        condition(&exports.get(name).await.ok()?, "Conflict").filter(|c| c.1 == reason)
    })
    .await;
    let want = if reason == "NoConflicts" {
        "False"
    } else {
        "True"
    };
    assert_eq!(status, want, "{name}: {reason}");
    message
}

#[tokio::test]
async fn headless_nodeport_and_loadbalancer_exports_import_with_the_right_type() {
    on_lab(2, service_types).await;
}

async fn service_types(lab: Lab, ns: String) {
    let (c1, c2) = (lab.client(1), lab.client(2));
    let _d = controllers(&lab, &ns).await;
    let (id1, id2) = (cluster_id(&c1).await, cluster_id(&c2).await);
    let sql = json!({"clusterIP": "None", "ports": [{"name": "sql", "port": 5432}]});
    workload(&c1, &ns, "hl", "10.42.7.1", sql.clone()).await;
    workload(&c2, &ns, "hl", "10.44.7.1", sql).await;
    // Headless without ports (DNS only): the controller-manager's slices carry no ports.
    let bare = json!({"clusterIP": "None"});
    workload(&c1, &ns, "bare", "10.42.7.2", bare.clone()).await;
    workload(&c2, &ns, "bare", "10.44.7.2", bare).await;
    // NodePort in one cluster, LoadBalancer in the other: both are ClusterSetIP, no conflict.
    let web =
        |t: &str| json!({"type": t, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]});
    workload(&c1, &ns, "np", "10.42.7.3", web("NodePort")).await;
    workload(&c2, &ns, "np", "10.44.7.3", web("LoadBalancer")).await;
    workload(&c1, &ns, "lb", "10.42.7.4", web("LoadBalancer")).await;
    for name in ["hl", "bare", "np"] {
        export(&c1, &ns, name, json!({}), json!({})).await;
        export(&c2, &ns, name, json!({}), json!({})).await;
    }
    export(&c1, &ns, "lb", json!({}), json!({})).await;

    let both = [id1.clone(), id2.clone()]
        .into_iter()
        .collect::<BTreeSet<_>>();
    for client in [&c1, &c2] {
        for name in ["hl", "bare"] {
            let i = import_where(client, &ns, name, "Headless from both clusters", |i| {
                exporters(i).len() == 2
            })
            .await;
            assert_eq!(i.spec.type_, ServiceImportType::Headless, "{name}");
            assert!(
                i.spec.ips.as_ref().is_none_or(Vec::is_empty),
                "{name}: a headless import has no IPs: {:?}",
                i.spec.ips
            );
            assert_eq!(exporters(&i).into_iter().collect::<BTreeSet<_>>(), both);
        }
        let hl = eventually(20, "hl slices from both clusters", || async {
            let s = mcs_slices(client, &ns, "hl").await;
            (by_cluster(&s).len() == 2).then_some(s)
        })
        .await;
        assert_eq!(
            by_cluster(&hl),
            want(&[(&id1, &["10.42.7.1"]), (&id2, &["10.44.7.1"])])
        );
        for s in &hl {
            let names: Vec<_> = s.ports.iter().flatten().map(|p| p.name.clone()).collect();
            assert_eq!(names, [Some("sql".to_owned())]);
            assert!(
                !s.labels().contains_key(LABEL_K8S_SERVICE_NAME),
                "a headless import has no derived Service for kube-proxy: {:?}",
                s.labels()
            );
        }
        // The port-less headless service keeps its endpoints (they are what DNS answers).
        let bare = eventually(20, "bare slices from both clusters", || async {
            let s = mcs_slices(client, &ns, "bare").await;
            (by_cluster(&s).len() == 2).then_some(s)
        })
        .await;
        assert_eq!(
            by_cluster(&bare),
            want(&[(&id1, &["10.42.7.2"]), (&id2, &["10.44.7.2"])])
        );
        assert!(
            bare.iter()
                .all(|s| s.ports.as_ref().is_none_or(Vec::is_empty))
        );
        let bare_import: ServiceImport = Api::namespaced(client.clone(), &ns)
            .get("bare")
            .await
            .unwrap();
        assert!(bare_import.spec.ports.is_empty());

        for (name, want_exporters) in [("np", 2), ("lb", 1)] {
            let i = import_where(client, &ns, name, "ClusterSetIP with a VIP", |i| {
                exporters(i).len() == want_exporters
                    && i.spec.ips.as_ref().is_some_and(|ips| ips.len() == 1)
            })
            .await;
            assert_eq!(i.spec.type_, ServiceImportType::ClusterSetIP, "{name}");
            let ports: Vec<_> = i
                .spec
                .ports
                .iter()
                .map(|p| (p.name.clone(), p.port))
                .collect();
            assert_eq!(ports, [(Some("http".to_owned()), 80)], "{name}");
        }
        let np = eventually(20, "np endpoints from both clusters", || async {
            let s = by_cluster(&mcs_slices(client, &ns, "np").await);
            (s.len() == 2).then_some(s)
        })
        .await;
        assert_eq!(np, want(&[(&id1, &["10.42.7.3"]), (&id2, &["10.44.7.3"])]));
        let lb = eventually(20, "lb endpoints", || async {
            let s = by_cluster(&mcs_slices(client, &ns, "lb").await);
            (!s.is_empty()).then_some(s)
        })
        .await;
        assert_eq!(lb, want(&[(&id1, &["10.42.7.4"])]));
    }
    for (client, names) in [
        (&c1, &["hl", "bare", "np", "lb"][..]),
        (&c2, &["hl", "bare", "np"][..]),
    ] {
        for name in names {
            conflict(client, &ns, name, "NoConflicts").await;
            let e: ServiceExport = Api::namespaced(client.clone(), &ns)
                .get(name)
                .await
                .unwrap();
            assert_eq!(condition(&e, "Valid").unwrap().1, "Valid", "{name}");
        }
    }
    // The port-less slices are written once, not rewritten on every pass.
    let versions = |s: Vec<EndpointSlice>| {
        s.into_iter()
            .map(|s| (s.name_any(), s.resource_version()))
            .collect::<BTreeMap<_, _>>()
    };
    let before = versions(mcs_slices(&c1, &ns, "bare").await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        versions(mcs_slices(&c1, &ns, "bare").await),
        before,
        "no churn"
    );
}

#[tokio::test]
async fn service_fields_and_exported_annotations_reach_the_import_and_disagreements_conflict() {
    on_lab(2, service_fields).await;
}

async fn service_fields(lab: Lab, ns: String) {
    let (c1, c2) = (lab.client(1), lab.client(2));
    let _d = controllers(&lab, &ns).await;
    let id1 = cluster_id(&c1).await;
    let http = json!([{"name": "http", "port": 80, "targetPort": 8080}]);
    let fields = |affinity: &str, timeout: Option<i32>, itp: &str, td: &str| {
        let mut s = json!({"ports": http, "sessionAffinity": affinity,
            "internalTrafficPolicy": itp, "trafficDistribution": td});
        if let Some(t) = timeout {
            s["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": t}});
        }
        s
    };
    // Agreeing clusters, with noise on the Service and ServiceExport metadata.
    let noise = |what: &str| {
        json!({
            "labels": {format!("{what}-label"): "x"},
            "annotations": {format!("example.com/{what}-note"): "x"}
        })
    };
    for (client, ip) in [(&c1, "10.42.8.1"), (&c2, "10.44.8.1")] {
        let n = node(client, &ns, "sticky", "zone-a").await;
        service(
            client,
            &ns,
            "sticky",
            fields("ClientIP", Some(300), "Local", "PreferClose"),
            noise("service"),
        )
        .await;
        pod(client, &ns, &n, "sticky", "sticky-0", ip, true, json!({})).await;
    }
    // Cluster 1 (the oldest export) and cluster 2 disagree.
    workload(
        &c1,
        &ns,
        "split-a",
        "10.42.8.2",
        fields("ClientIP", None, "Cluster", "PreferClose"),
    )
    .await;
    workload(
        &c2,
        &ns,
        "split-a",
        "10.44.8.2",
        fields("None", None, "Cluster", "PreferClose"),
    )
    .await;
    workload(
        &c1,
        &ns,
        "split-b",
        "10.42.8.3",
        fields("ClientIP", Some(300), "Local", "PreferClose"),
    )
    .await;
    workload(
        &c2,
        &ns,
        "split-b",
        "10.44.8.3",
        fields("ClientIP", Some(600), "Cluster", "PreferSameZone"),
    )
    .await;

    let spec = |note: &str| {
        json!({
            "exportedLabels": {"team": "web"},
            "exportedAnnotations": {"example.com/owner": note}
        })
    };
    export(&c1, &ns, "sticky", spec("web-team"), noise("export")).await;
    export(&c1, &ns, "split-a", spec("team-1"), json!({})).await;
    export(&c1, &ns, "split-b", spec("web-team"), json!({})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    export(&c2, &ns, "sticky", spec("web-team"), noise("export")).await;
    export(&c2, &ns, "split-a", spec("team-2"), json!({})).await;
    export(&c2, &ns, "split-b", spec("web-team"), json!({})).await;

    for client in [&c1, &c2] {
        let i = import_where(client, &ns, "sticky", "both clusters", |i| {
            exporters(i).len() == 2
        })
        .await;
        assert_eq!(i.spec.session_affinity.as_deref(), Some("ClientIP"));
        let timeout = |i: &ServiceImport| {
            i.spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
        };
        assert_eq!(timeout(&i), Some(300));
        assert_eq!(i.spec.internal_traffic_policy.as_deref(), Some("Local"));
        assert_eq!(i.spec.traffic_distribution.as_deref(), Some("PreferClose"));
        // Labels and annotations only from the export's spec.
        assert_eq!(i.labels().get("team").map(String::as_str), Some("web"));
        assert_eq!(
            i.annotations().get("example.com/owner").map(String::as_str),
            Some("web-team")
        );
        for what in ["service", "export"] {
            assert!(
                !i.labels().contains_key(&format!("{what}-label")),
                "{what} metadata labels stay off the import: {:?}",
                i.labels()
            );
            assert!(
                !i.annotations()
                    .contains_key(&format!("example.com/{what}-note")),
                "{what} metadata annotations stay off the import: {:?}",
                i.annotations()
            );
        }
        assert!(!i.labels().contains_key("app"), "{:?}", i.labels());
        conflict(client, &ns, "sticky", "NoConflicts").await;

        // Affinity differs (so does its timeout: 10800 by default vs none) and so do the
        // exported annotations: the oldest export's values, every export says so.
        let message = conflict(
            client,
            &ns,
            "split-a",
            "SessionAffinityConflict,SessionAffinityConfigConflict,AnnotationsConflict",
        )
        .await;
        for field in [
            "sessionAffinity:",
            "sessionAffinityConfig:",
            "exportedAnnotations:",
        ] {
            assert!(message.contains(field), "{field} in {message}");
        }
        assert!(
            message.contains(&format!("cluster {id1}")),
            "the winner is named: {message}"
        );
        assert!(message.contains("1/2 clusters differ"), "{message}");
        let a = import_where(client, &ns, "split-a", "both clusters", |i| {
            exporters(i).len() == 2
        })
        .await;
        assert_eq!(a.spec.session_affinity.as_deref(), Some("ClientIP"));
        assert_eq!(timeout(&a), Some(10800));
        assert_eq!(
            a.annotations().get("example.com/owner").map(String::as_str),
            Some("team-1"),
            "the oldest export's map, not a merge"
        );

        let reasons = "SessionAffinityConfigConflict,InternalTrafficPolicyConflict,\
                       TrafficDistributionConflict";
        let message = conflict(client, &ns, "split-b", reasons).await;
        for field in [
            "sessionAffinityConfig: using clientIP.timeoutSeconds 300",
            "internalTrafficPolicy: using Local",
            "trafficDistribution: using PreferClose",
        ] {
            assert!(message.contains(field), "{field} in {message}");
        }
        assert!(
            message.contains(&format!("cluster {id1}")) && message.contains("1/2 clusters differ"),
            "{message}"
        );
        let b = import_where(client, &ns, "split-b", "both clusters", |i| {
            exporters(i).len() == 2
        })
        .await;
        assert_eq!(timeout(&b), Some(300));
        assert_eq!(b.spec.internal_traffic_policy.as_deref(), Some("Local"));
        assert_eq!(b.spec.traffic_distribution.as_deref(), Some("PreferClose"));
        for name in ["sticky", "split-a", "split-b"] {
            eventually(
                20,
                &format!("{name} endpoints from both clusters"),
                || async {
                    (by_cluster(&mcs_slices(client, &ns, name).await).len() == 2).then_some(())
                },
            )
            .await;
        }
    }
    // Events on the exports, once per change (the passes since, as slices and imports were
    // written, raised none again): Exported on each, Conflict naming the losing cluster's values.
    let id2 = cluster_id(&c2).await;
    for client in [&c1, &c2] {
        let notes = eventually(20, "the Conflict Event on split-a", || async {
            let notes = export_events(client, &ns, "split-a", "Conflict").await;
            (!notes.is_empty()).then_some(notes)
        })
        .await;
        let last = notes.last().unwrap();
        for named in [
            format!("sessionAffinity: cluster {id2} has None"),
            format!("exportedAnnotations: cluster {id2} has 1 annotations"),
            format!("(cluster {id1})"),
        ] {
            assert!(last.contains(&named), "{named} in {last}");
        }
        let distinct: BTreeSet<&String> = notes.iter().collect();
        assert_eq!(distinct.len(), notes.len(), "no Event repeated: {notes:?}");
        assert_eq!(
            export_events(client, &ns, "sticky", "Exported").await.len(),
            1,
            "one Exported Event on sticky"
        );
        assert!(
            export_events(client, &ns, "sticky", "Conflict")
                .await
                .is_empty()
        );
    }
}

#[tokio::test]
async fn causeway_status_shows_exporters_ready_endpoints_and_conflicts() {
    on_lab(3, status_report).await;
}

async fn status_report(lab: Lab, ns: String) {
    let (c1, c2, c3) = (lab.client(1), lab.client(2), lab.client(3));
    let _d = controllers(&lab, &ns).await;
    // Cluster 3 exports nothing; it imports, and its status reads the conflict from a member.
    let _d3 = controller(&lab, 3, &ns, "127.0.0.1:0").await;
    let (id1, id2) = (cluster_id(&c1).await, cluster_id(&c2).await);
    let http = |itp: &str| {
        json!({
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            "internalTrafficPolicy": itp
        })
    };
    // agree: both clusters; cluster 2 has a second pod that is not ready.
    workload(&c1, &ns, "agree", "10.42.11.1", http("Cluster")).await;
    workload(&c2, &ns, "agree", "10.44.11.1", http("Cluster")).await;
    let n = node(&c2, &ns, "agree-1", "zone-a").await;
    pod(
        &c2,
        &ns,
        &n,
        "agree",
        "agree-1",
        "10.44.11.2",
        false,
        json!({}),
    )
    .await;
    // split: cluster 1's export is the oldest; cluster 2 disagrees on internalTrafficPolicy.
    workload(&c1, &ns, "split", "10.42.11.3", http("Local")).await;
    workload(&c2, &ns, "split", "10.44.11.3", http("Cluster")).await;
    // hl: headless, cluster 2 only.
    workload(
        &c2,
        &ns,
        "hl",
        "10.44.11.4",
        json!({"clusterIP": "None", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}),
    )
    .await;
    export(&c1, &ns, "agree", json!({}), json!({})).await;
    export(&c1, &ns, "split", json!({}), json!({})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for name in ["agree", "split", "hl"] {
        export(&c2, &ns, name, json!({}), json!({})).await;
    }
    for client in [&c1, &c2, &c3] {
        for (name, clusters) in [("agree", 2), ("split", 2), ("hl", 1)] {
            eventually(
                20,
                &format!("{name}: import and endpoints from {clusters} clusters"),
                || async {
                    let i: ServiceImport = Api::namespaced(client.clone(), &ns)
                        .get_opt(name)
                        .await
                        .ok()??;
                    let ready = i.spec.type_ == ServiceImportType::Headless
                        || i.spec.ips.as_ref().is_some_and(|ips| ips.len() == 1);
                    let slices = by_cluster(&mcs_slices(client, &ns, name).await);
                    (ready && exporters(&i).len() == clusters && slices.len() == clusters)
                        .then_some(())
                },
            )
            .await;
        }
    }
    for client in [&c1, &c2] {
        conflict(client, &ns, "split", "InternalTrafficPolicyConflict").await;
    }
    let mut both = vec![id1.clone(), id2.clone()];
    both.sort();
    for (cluster, client) in [(1u8, &c1), (2, &c2), (3, &c3)] {
        let text = status(&lab, cluster, &ns, "json").await;
        let report: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["cluster"], json!(cluster_id(client).await));
        assert_eq!(
            report["clusterset"], "clusterset",
            "join put the cluster in the default clusterset"
        );
        let svc = |name: &str| {
            report["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} in {report:#}"))
        };
        let agree = svc("agree");
        assert_eq!(agree["type"], "ClusterSetIP");
        assert_eq!(agree["ips"].as_array().unwrap().len(), 1, "{agree:#}");
        assert_eq!(agree["exported_by"], json!(both));
        assert_eq!(
            agree["endpoints"],
            json!({id1.clone(): 1, id2.clone(): 1}),
            "ready endpoints only"
        );
        assert_eq!(agree["conflict"], Value::Null);
        let hl = svc("hl");
        assert_eq!(
            (hl["type"].clone(), hl["ips"].clone()),
            (json!("Headless"), json!([]))
        );
        assert_eq!(hl["exported_by"], json!([id2.clone()]));
        assert_eq!(hl["endpoints"], json!({id2.clone(): 1}));
        let split = svc("split");
        let shown = split["conflict"]
            .as_str()
            .unwrap_or_else(|| panic!("a conflict for split: {split:#}"));
        assert!(
            shown.starts_with("InternalTrafficPolicyConflict: internalTrafficPolicy: using Local"),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("cluster {id1}")) && shown.contains("1/2 clusters differ"),
            "{shown}"
        );
        assert_eq!(
            shown.contains("(reported by cluster "),
            cluster == 3,
            "an exporter shows its own condition, cluster 3 a member's: {shown}"
        );
        let table = status(&lab, cluster, &ns, "table").await;
        assert!(table.contains("\nclusterset: clusterset\n"), "{table}");
        let line = |name: &str| {
            table
                .lines()
                .find(|l| l.contains(&format!(" {name} ")))
                .unwrap_or_else(|| panic!("{name} in\n{table}"))
                .to_owned()
        };
        let split = line("split");
        assert!(
            split.contains("CONFLICT InternalTrafficPolicyConflict"),
            "{split}"
        );
        assert!(
            split.contains(&format!("{id1}=1")) && split.contains(&format!("{id2}=1")),
            "{split}"
        );
        let agree = line("agree");
        assert!(
            !agree.contains("CONFLICT") && agree.contains(&format!("{id2}=1")),
            "{agree}"
        );
        assert!(line("hl").contains("Headless"), "{table}");
    }
}

async fn status(lab: &Lab, cluster: u8, ns: &str, output: &str) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_causeway"))
        .args([
            "status",
            "--kubeconfig",
            &lab.paths.admin_kubeconfig(cluster).display().to_string(),
            "-n",
            ns,
            "--skip-dns",
            "-o",
            output,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "causeway status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn mcs_slices_carry_endpoint_fields_and_large_services_arrive_in_slices_of_100() {
    on_lab(2, slice_fields).await;
}

async fn slice_fields(lab: Lab, ns: String) {
    let (c1, c2) = (lab.client(1), lab.client(2));
    let _d = controllers(&lab, &ns).await;
    let id2 = cluster_id(&c2).await;
    // web: cluster 2 only, named ports, pods with a hostname in zone-b: one ready, one not,
    // one terminating.
    let n = node(&c2, &ns, "web", "zone-b").await;
    let ports = json!({"ports": [
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "metrics", "port": 9090}
    ]});
    service(&c2, &ns, "web", ports, json!({})).await;
    for (p, ip, ready) in [
        ("web-0", "10.44.9.1", true),
        ("web-1", "10.44.9.2", true),
        ("web-2", "10.44.9.3", false),
    ] {
        pod(
            &c2,
            &ns,
            &n,
            "web",
            p,
            ip,
            ready,
            json!({"hostname": p, "subdomain": "web"}),
        )
        .await;
    }
    // No kubelet confirms a graceful deletion: web-1 stays terminating (lab-notes §5).
    Api::<Pod>::namespaced(c2.clone(), &ns)
        .delete(
            "web-1",
            &DeleteParams {
                grace_period_seconds: Some(3600),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    export(&c2, &ns, "web", json!({}), json!({})).await;

    // big: 150 pods; the controller-manager splits them into source slices of at most 100.
    let n = node(&c2, &ns, "big", "zone-b").await;
    service(
        &c2,
        &ns,
        "big",
        json!({"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        json!({}),
    )
    .await;
    let ips: Vec<String> = (1..=150)
        .map(|i| format!("10.44.{}.{}", 10 + i / 200, i % 200 + 1))
        .collect();
    for (k, chunk) in ips.chunks(25).enumerate() {
        futures::future::join_all(chunk.iter().enumerate().map(|(j, ip)| {
            let (c2, ns, n) = (c2.clone(), ns.clone(), n.clone());
            async move {
                pod(
                    &c2,
                    &ns,
                    &n,
                    "big",
                    &format!("big-{}", k * 25 + j),
                    ip,
                    true,
                    json!({}),
                )
                .await;
            }
        }))
        .await;
    }
    // wide: a selector-less Service whose one source slice of 250 endpoints (more than the
    // controller-manager writes by default) is managed by another controller, as users of
    // selector-less Services do: the sync exports any manager's slices, not only the
    // controller-manager's.
    let wide_ips: Vec<String> = (0..250)
        .map(|i| format!("10.44.{}.{}", 20 + i / 200, i % 200 + 1))
        .collect();
    let wide: Service = serde_json::from_value(
        json!({"metadata": {"name": "wide"}, "spec": {"ports": [{"name": "http", "port": 80}]}}),
    )
    .unwrap();
    Api::<Service>::namespaced(c2.clone(), &ns)
        .create(&PostParams::default(), &wide)
        .await
        .unwrap();
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "wide-manual", "labels": {
            LABEL_K8S_SERVICE_NAME: "wide", LABEL_MANAGED_BY: "static-endpoints.example.com"
        }},
        "addressType": "IPv4",
        "endpoints": wide_ips
            .iter()
            .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
            .collect::<Vec<_>>(),
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
    }))
    .unwrap();
    Api::<EndpointSlice>::namespaced(c2.clone(), &ns)
        .create(&PostParams::default(), &slice)
        .await
        .unwrap();
    export(&c2, &ns, "big", json!({}), json!({})).await;
    export(&c2, &ns, "wide", json!({}), json!({})).await;

    let derived = derived_service_name(&ns, "web");
    for client in [&c1, &c2] {
        // The exporter imports its own service too. The controller-manager may publish web-1
        // as ready before it sees the deletion, and the sync passes that on at once: wait for
        // the terminating state, then check every field.
        let slices = eventually(
            20,
            "web's slice with all three pods, web-1 terminating",
            || async {
                let s = mcs_slices(client, &ns, "web").await;
                let terminating = s.iter().flat_map(|s| &s.endpoints).any(|e| {
                    e.addresses[0] == "10.44.9.2"
                        && e.conditions.as_ref().and_then(|c| c.terminating) == Some(true)
                });
                (s.iter().map(|s| s.endpoints.len()).sum::<usize>() == 3 && terminating)
                    .then_some(s)
            },
        )
        .await;
        for s in &slices {
            let labels = s.labels();
            assert_eq!(labels[LABEL_SERVICE_NAME], "web");
            assert_eq!(labels[LABEL_SOURCE_CLUSTER], id2);
            assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY_CAUSEWAY);
            assert_eq!(
                labels[LABEL_K8S_SERVICE_NAME], derived,
                "kube-proxy finds it by the derived Service"
            );
            let mut ports: Vec<_> = s
                .ports
                .iter()
                .flatten()
                .map(|p| (p.name.clone().unwrap_or_default(), p.port))
                .collect();
            ports.sort();
            assert_eq!(
                ports,
                [("http".into(), Some(8080)), ("metrics".into(), Some(9090))]
            );
        }
        let endpoints: BTreeMap<String, _> = slices
            .iter()
            .flat_map(|s| s.endpoints.clone())
            .map(|e| (e.addresses[0].clone(), e))
            .collect();
        for (ip, host, ready, serving, terminating) in [
            ("10.44.9.1", "web-0", true, true, false),
            ("10.44.9.2", "web-1", false, true, true),
            ("10.44.9.3", "web-2", false, false, false),
        ] {
            let e = &endpoints[ip];
            assert_eq!(e.hostname.as_deref(), Some(host), "{e:?}");
            assert_eq!(e.zone.as_deref(), Some("zone-b"), "{e:?}");
            let c = e.conditions.clone().unwrap();
            assert_eq!(
                (c.ready, c.serving, c.terminating),
                (Some(ready), Some(serving), Some(terminating)),
                "{ip}"
            );
            // nodeName is dropped on purpose (lab-notes §6): it names a node of the source
            // cluster, and kube-proxy treats an endpoint whose nodeName equals its own node
            // name as local (internalTrafficPolicy Local, topology), so a same-named node in
            // the importing cluster would misroute. targetRef names a remote Pod as well.
            assert_eq!(e.node_name, None, "{e:?}");
            assert_eq!(e.target_ref, None, "{e:?}");
        }
        let d: Service = Api::namespaced(client.clone(), &ns)
            .get(&derived)
            .await
            .unwrap();
        assert_eq!(
            d.owner_references()[0].kind,
            "ServiceImport",
            "the label names the import's derived Service"
        );

        for (name, addresses) in [("big", &ips), ("wide", &wide_ips)] {
            let t = Instant::now();
            let slices = eventually(
                30,
                &format!("all {} endpoints of {name}", addresses.len()),
                || async {
                    let s = mcs_slices(client, &ns, name).await;
                    (s.iter().map(|s| s.endpoints.len()).sum::<usize>() == addresses.len())
                        .then_some(s)
                },
            )
            .await;
            eprintln!(
                "{name}: {} endpoints in {} MCS slices after {:.2} s",
                addresses.len(),
                slices.len(),
                t.elapsed().as_secs_f64()
            );
            for s in &slices {
                assert!(
                    s.endpoints.len() <= 100,
                    "{} has {} endpoints",
                    s.name_any(),
                    s.endpoints.len()
                );
                assert_eq!(s.labels()[LABEL_SOURCE_CLUSTER], id2);
            }
            let got: BTreeSet<&String> = slices
                .iter()
                .flat_map(|s| s.endpoints.iter().map(|e| &e.addresses[0]))
                .collect();
            assert_eq!(
                got,
                addresses.iter().collect::<BTreeSet<_>>(),
                "{name}: every endpoint once"
            );
        }
    }
}

#[tokio::test]
async fn hand_made_slices_with_one_suffix_or_at_the_length_limit_keep_every_endpoint() {
    on_lab(2, slice_names).await;
}

/// A selector-less Service with hand-made source slices (issue #16, item 2): `twins-a-1` and
/// `twins-b-1` end in the same segment, and a 63-character service has slices whose names are
/// 253 characters long and differ only in their last character, plus one of 63. Every endpoint
/// arrives in every cluster, in MCS slices of at most 63 characters. Each cluster starts with the
/// import and the slice an older causeway wrote for both twins (`twins-<id>-1`, holding
/// `.4`–`.6`): the sync replaces it, and a watch proves that `.4`–`.6` were never withdrawn
/// meanwhile.
async fn slice_names(lab: Lab, ns: String) {
    let (c1, c2) = (lab.client(1), lab.client(2));
    let id1 = cluster_id(&c1).await;
    let long_svc = format!("long{}", "x".repeat(59));
    let head = format!("{long_svc}-{}", "y".repeat(252 - long_svc.len() - 1));
    let sources: Vec<(&str, String, Vec<String>)> = vec![
        ("twins", "twins-a-1".into(), ips("10.42.86", 1..=3)),
        ("twins", "twins-b-1".into(), ips("10.42.86", 4..=6)),
        (&long_svc, format!("{head}1"), ips("10.42.87", 1..=2)),
        (&long_svc, format!("{head}2"), ips("10.42.87", 3..=4)),
        (
            &long_svc,
            format!("{}-z", &long_svc[..61]),
            ips("10.42.87", 5..=6),
        ),
    ];
    for svc in ["twins", long_svc.as_str()] {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": svc},
            "spec": {"ports": [{"name": "http", "port": 80}]}
        }))
        .unwrap();
        Api::<Service>::namespaced(c1.clone(), &ns)
            .create(&PostParams::default(), &svc)
            .await
            .unwrap();
    }
    for (svc, name, addresses) in &sources {
        assert!(
            name.len() == 253 || name.len() == 63 || svc == &"twins",
            "{name}"
        );
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {
                LABEL_K8S_SERVICE_NAME: svc, LABEL_MANAGED_BY: "static-endpoints.example.com"
            }},
            "addressType": "IPv4",
            "endpoints": addresses
                .iter()
                .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
                .collect::<Vec<_>>(),
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
        }))
        .unwrap();
        Api::<EndpointSlice>::namespaced(c1.clone(), &ns)
            .create(&PostParams::default(), &slice)
            .await
            .unwrap();
    }
    // What an older causeway wrote for both twins: one slice, the second twin's endpoints.
    let old_name = format!("twins-{id1}-1");
    let old: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": old_name, "labels": {
            LABEL_SERVICE_NAME: "twins", LABEL_SOURCE_CLUSTER: id1,
            LABEL_MANAGED_BY: MANAGED_BY_CAUSEWAY, LABEL_SYNCED: "true"
        }},
        "addressType": "IPv4",
        "endpoints": sources[1].2.iter().map(|ip| json!({"addresses": [ip]})).collect::<Vec<_>>(),
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
    }))
    .unwrap();
    // ... next to the import it wrote (the slices of an import not yet written are not known),
    // labelled as the sync's: an import without the label is the user's and never adopted.
    let import: ServiceImport = serde_json::from_value(json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {"name": "twins", "labels": {LABEL_SYNCED: "true"}},
        "spec": {"type": "ClusterSetIP", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    }))
    .unwrap();
    let mut seen = Vec::new();
    for client in [&c1, &c2] {
        Api::<ServiceImport>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &import)
            .await
            .unwrap();
        Api::<EndpointSlice>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &old)
            .await
            .unwrap();
        seen.push(TwinsAddresses::watch(client.clone(), &ns));
    }
    export(&c1, &ns, "twins", json!({}), json!({})).await;
    export(&c1, &ns, &long_svc, json!({}), json!({})).await;
    let _d = controllers(&lab, &ns).await;
    for (client, seen) in [&c1, &c2].into_iter().zip(&seen) {
        for svc in ["twins", long_svc.as_str()] {
            let want: BTreeSet<String> = sources
                .iter()
                .filter(|(s, _, _)| *s == svc)
                .flat_map(|(_, _, a)| a.clone())
                .collect();
            // Every endpoint once, in new-named slices only: the old-named slice goes after its
            // successor was written (the watch below checks nothing was withdrawn meanwhile).
            let what = format!("every endpoint of {svc}, once, and the old-named slice gone");
            let slices = eventually(30, &what, || async {
                let s = mcs_slices(client, &ns, svc).await;
                let got: Vec<String> = s
                    .iter()
                    .flat_map(|s| s.endpoints.iter().map(|e| e.addresses[0].clone()))
                    .collect();
                (got.len() == want.len()
                    && got.iter().cloned().collect::<BTreeSet<_>>() == want
                    && s.iter().all(|s| s.name_any() != old_name))
                .then_some(s)
            })
            .await;
            for s in &slices {
                let name = s.name_any();
                assert!(name.len() <= 63, "{name} is {} characters", name.len());
                assert_eq!(s.labels()[LABEL_SOURCE_CLUSTER], id1, "{name}");
            }
            assert!(
                slices.iter().all(|s| s.name_any() != old_name),
                "the old-named slice is gone"
            );
        }
        let unions = seen.unions();
        let old_ips: BTreeSet<String> = sources[1].2.iter().cloned().collect();
        if let Some(gap) = unions.iter().find(|u| !old_ips.is_subset(u)) {
            panic!(
                "twins' endpoints were withdrawn while the slices were renamed: {gap:?} in {unions:?}"
            );
        }
    }
}

/// `a.b.first` … `a.b.last`.
fn ips(prefix: &str, last: std::ops::RangeInclusive<u8>) -> Vec<String> {
    last.map(|i| format!("{prefix}.{i}")).collect()
}

/// Every set of `twins` MCS endpoint addresses a cluster held, one per change, as a watch saw
/// them.
struct TwinsAddresses {
    unions: std::sync::Arc<std::sync::Mutex<Vec<BTreeSet<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TwinsAddresses {
    fn watch(client: kube::Client, ns: &str) -> Self {
        let api: Api<EndpointSlice> = Api::namespaced(client, ns);
        let config = watcher::Config::default().labels(&format!("{LABEL_SERVICE_NAME}=twins"));
        let unions = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = unions.clone();
        let task = tokio::spawn(async move {
            let (store, writer) = kube::runtime::reflector::store();
            let mut stream = kube::runtime::reflector(writer, watcher(api, config))
                .default_backoff()
                .boxed();
            while let Ok(Some(event)) = stream.try_next().await {
                if matches!(event, watcher::Event::Init | watcher::Event::InitApply(_)) {
                    continue;
                }
                let union = store
                    .state()
                    .iter()
                    .flat_map(|s| s.endpoints.iter().flat_map(|e| e.addresses.clone()))
                    .collect();
                sink.lock().unwrap().push(union);
            }
        });
        Self { unions, task }
    }

    fn unions(&self) -> Vec<BTreeSet<String>> {
        self.unions.lock().unwrap().clone()
    }
}

impl Drop for TwinsAddresses {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// API writes for services and imports (member status writes left out).
fn service_writes(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("causeway_controller_api_writes_total"))
        .filter(|l| !l.contains("clustersetmember"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn a_member_without_the_namespace_gets_no_import_until_the_namespace_exists() {
    on_lab(2, missing_namespace).await;
}

async fn missing_namespace(lab: Lab, ns: String) {
    let (c1, c2) = (lab.client(1), lab.client(2));
    let namespaces: Api<Namespace> = Api::all(c2.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    eventually(60, "the namespace gone from cluster 2", || async {
        namespaces.get_opt(&ns).await.ok()?.is_none().then_some(())
    })
    .await;
    let port = free_port();
    let _s1 = controller(&lab, 1, &ns, "127.0.0.1:0").await;
    let s2 = controller(&lab, 2, &ns, &format!("127.0.0.1:{port}")).await;
    let id1 = cluster_id(&c1).await;
    let ports = json!({"ports": [{"port": 80, "targetPort": 8080}]});
    workload(&c1, &ns, "solo", "10.42.10.1", ports.clone()).await;
    export(&c1, &ns, "solo", json!({}), json!({})).await;
    import_where(&c1, &ns, "solo", "in cluster 1", |i| {
        exporters(i) == [id1.clone()]
    })
    .await;
    eventually(20, "solo endpoints in cluster 1", || async {
        (!mcs_slices(&c1, &ns, "solo").await.is_empty()).then_some(())
    })
    .await;
    // Cluster 2 has seen the export (it is up) but writes nothing and retries nothing.
    eventually(20, "cluster 2's controller serving metrics", || async {
        metrics(port).await
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = metrics(port).await.unwrap();
    assert_eq!(
        service_writes(&text),
        0,
        "no writes for a namespace cluster 2 lacks:\n{text}"
    );
    let log = s2.log_text();
    assert!(
        !log.contains("sync write failed") && !log.contains("failed writes"),
        "no error loop:\n{log}"
    );
    assert!(
        namespaces.get_opt(&ns).await.unwrap().is_none(),
        "causeway creates no namespaces"
    );
    // It still syncs: a second export, then the namespace appears in cluster 2 and both
    // imports follow with cluster 1's endpoints.
    workload(&c1, &ns, "later", "10.42.10.2", ports).await;
    export(&c1, &ns, "later", json!({}), json!({})).await;
    import_where(&c1, &ns, "later", "in cluster 1", |i| {
        exporters(i) == [id1.clone()]
    })
    .await;
    let t = Instant::now();
    let obj: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    namespaces
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
    for (name, ip) in [("solo", "10.42.10.1"), ("later", "10.42.10.2")] {
        import_where(&c2, &ns, name, "once the namespace exists", |i| {
            exporters(i) == [id1.clone()] && i.spec.ips.as_ref().is_some_and(|ips| ips.len() == 1)
        })
        .await;
        let eps = eventually(20, &format!("{name} endpoints in cluster 2"), || async {
            let s = by_cluster(&mcs_slices(&c2, &ns, name).await);
            (!s.is_empty()).then_some(s)
        })
        .await;
        assert_eq!(eps, want(&[(&id1, &[ip])]));
    }
    eprintln!(
        "namespace created → imports with endpoints in cluster 2: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let log = s2.log_text();
    assert!(!log.contains("failed writes"), "{log}");
}
