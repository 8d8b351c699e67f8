//! causeway's CRDs on the lab's real apiservers: CRUD, watch and status of every kind on two
//! clusters, validation the apiserver enforces, version skew, and kubectl's printer columns.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::time::Duration;

use causeway_api::service_export::v1alpha1::ServiceExport as ServiceExportV1alpha1;
use causeway_api::service_import::v1alpha1::ServiceImport as ServiceImportV1alpha1;
use causeway_api::{
    ClusterProperty, ClusterPropertySpec, ClusterStatus, Condition, ServiceExport,
    ServiceExportStatus, ServiceImport, ServiceImportSpec, ServiceImportStatus, ServiceImportType,
    ServicePort,
};
use causeway_test_support::{lab, unique_name, with_temp_ns};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::json;

fn import(name: &str, ips: &[&str]) -> ServiceImport {
    ServiceImport::new(
        name,
        ServiceImportSpec {
            ports: vec![ServicePort {
                name: Some("http".into()),
                protocol: Some("TCP".into()),
                app_protocol: None,
                port: 80,
            }],
            ips: Some(ips.iter().map(|s| (*s).to_owned()).collect()),
            type_: ServiceImportType::ClusterSetIP,
            ip_families: Some(vec!["IPv4".into()]),
            ..ServiceImportSpec::default()
        },
    )
}

fn condition(type_: &str, status: &str, reason: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: "set by test".into(),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
        observed_generation: None,
    }
}

#[tokio::test]
async fn every_kind_supports_create_get_list_watch_status_and_delete_on_two_clusters() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        for (i, client) in lab.clients.iter().enumerate() {
            let exports: Api<ServiceExport> = Api::namespaced(client.clone(), &ns);
            let imports: Api<ServiceImport> = Api::namespaced(client.clone(), &ns);
            let mut events = Box::pin(watcher(imports.clone(), watcher::Config::default()));

            // An export as users write it: metadata only, no spec.
            let raw: ServiceExport = serde_json::from_value(json!({
                "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
                "metadata": {"name": "serve"}
            }))
            .unwrap();
            exports.create(&PostParams::default(), &raw).await.unwrap();
            let got = exports.get("serve").await.unwrap();
            assert_eq!(got.spec.exported_labels, None, "cluster {}", i + 1);
            let status = ServiceExportStatus {
                conditions: Some(vec![condition("Valid", "True", "Valid")]),
            };
            exports
                .patch_status(
                    "serve",
                    &PatchParams::apply("causeway-test").force(),
                    &Patch::Apply(json!({
                        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
                        "status": status
                    })),
                )
                .await
                .unwrap();
            let got = exports.get_status("serve").await.unwrap();
            let conds = got.status.and_then(|s| s.conditions).unwrap_or_default();
            assert_eq!(conds.len(), 1);
            assert_eq!(conds[0].reason, "Valid");
            assert_eq!(
                exports.list(&Default::default()).await.unwrap().items.len(),
                1
            );

            imports
                .create(&PostParams::default(), &import("serve", &["10.43.0.10"]))
                .await
                .unwrap();
            let seen = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(ev) = events.next().await {
                    match ev.unwrap() {
                        watcher::Event::Apply(o) | watcher::Event::InitApply(o)
                            if o.metadata.name.as_deref() == Some("serve") =>
                        {
                            return o;
                        }
                        _ => {}
                    }
                }
                panic!("watch ended")
            })
            .await
            .expect("watch delivers the created import");
            assert_eq!(
                seen.spec.ips.as_deref(),
                Some(&["10.43.0.10".to_string()][..])
            );

            let mut with_status = imports.get("serve").await.unwrap();
            with_status.status = Some(ServiceImportStatus {
                clusters: Some(vec![ClusterStatus {
                    cluster: "c1".into(),
                }]),
                conditions: Some(vec![condition("Ready", "True", "Ready")]),
            });
            imports
                .replace_status("serve", &PostParams::default(), &with_status)
                .await
                .unwrap();
            let got = imports.get("serve").await.unwrap();
            assert_eq!(
                got.status.clone().unwrap().clusters.unwrap()[0].cluster,
                "c1"
            );

            // Spec edits go through the main resource; ports stay a complete list.
            let mut edited = got.clone();
            edited.spec.ports.push(ServicePort {
                name: Some("grpc".into()),
                protocol: None,
                app_protocol: Some("kubernetes.io/h2c".into()),
                port: 9090,
            });
            edited.metadata.managed_fields = None;
            imports
                .replace("serve", &PostParams::default(), &edited)
                .await
                .unwrap();
            assert_eq!(imports.get("serve").await.unwrap().spec.ports.len(), 2);

            imports
                .delete("serve", &DeleteParams::default())
                .await
                .unwrap();
            exports
                .delete("serve", &DeleteParams::default())
                .await
                .unwrap();
            assert!(imports.get_opt("serve").await.unwrap().is_none());
            assert!(exports.get_opt("serve").await.unwrap().is_none());

            // ClusterProperty is cluster-scoped.
            let props: Api<ClusterProperty> = Api::all(client.clone());
            let name = format!("{}.test.example.com", unique_name("prop"));
            props
                .create(
                    &PostParams::default(),
                    &ClusterProperty::new(
                        &name,
                        ClusterPropertySpec {
                            value: format!("cluster-{}", i + 1),
                        },
                    ),
                )
                .await
                .unwrap();
            assert_eq!(
                props.get(&name).await.unwrap().spec.value,
                format!("cluster-{}", i + 1)
            );
            assert!(
                props
                    .list(&Default::default())
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .any(|p| p.metadata.name.as_deref() == Some(&name))
            );
            props.delete(&name, &DeleteParams::default()).await.unwrap();
        }
    })
    .await;
}

fn dynamic(client: &kube::Client, ns: &str, version: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("multicluster.x-k8s.io", version, "ServiceImport");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "serviceimports"),
    )
}

async fn create_raw(
    api: &Api<DynamicObject>,
    spec: serde_json::Value,
) -> Result<DynamicObject, kube::Error> {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {"name": unique_name("bad")}, "spec": spec
    }))
    .unwrap();
    api.create(&PostParams::default(), &obj).await
}

fn assert_invalid(result: Result<DynamicObject, kube::Error>, field: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains(field),
                "message names {field}: {}",
                status.message
            );
        }
        other => panic!("expected 422 Invalid naming {field}, got {other:?}"),
    }
}

#[tokio::test]
async fn apiserver_rejects_invalid_service_imports() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let api = dynamic(&lab.client(1), &ns, "v1beta1");
        assert_invalid(create_raw(&api, json!({"type": "ClusterSetIP"})).await, "spec.ports");
        assert_invalid(create_raw(&api, json!({"type": "Foo", "ports": [{"port": 80}]})).await, "spec.type");
        assert_invalid(
            create_raw(&api, json!({"type": "ClusterSetIP", "ports": [{"port": 80}], "ips": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]})).await,
            "spec.ips",
        );
        assert_invalid(create_raw(&api, json!({"type": "ClusterSetIP", "ports": [{"name": "x"}]})).await, "port");
        // A valid one is accepted, so the failures above are about the fields named.
        create_raw(&api, json!({"type": "Headless", "ports": [{"port": 80}]})).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn both_versions_serve_the_same_objects() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let client = lab.client(2);
        let v1beta1: Api<ServiceImport> = Api::namespaced(client.clone(), &ns);
        v1beta1
            .create(&PostParams::default(), &import("skew", &["10.45.0.20"]))
            .await
            .unwrap();
        // CoreDNS reads v1alpha1; upstream conformance writes v1beta1.
        let v1alpha1: Api<ServiceImportV1alpha1> = Api::namespaced(client.clone(), &ns);
        let old = v1alpha1.get("skew").await.unwrap();
        assert_eq!(
            old.spec.ips.as_deref(),
            Some(&["10.45.0.20".to_string()][..])
        );
        let exports: Api<ServiceExportV1alpha1> = Api::namespaced(client, &ns);
        exports
            .create(
                &PostParams::default(),
                &ServiceExportV1alpha1::new("skew", Default::default()),
            )
            .await
            .unwrap();
        assert!(exports.get_opt("skew").await.unwrap().is_some());
    })
    .await;
}

/// Runs kubectl against lab cluster 1 and returns its stdout, failing on a non-zero exit.
async fn kubectl(lab: &causeway_test_support::Lab, args: &[&str]) -> String {
    let out = tokio::process::Command::new(lab.kubectl())
        .arg("--kubeconfig")
        .arg(lab.paths.admin_kubeconfig(1))
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl get` output as rows of whitespace-separated cells, header first.
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn kubectl_get_serviceimports_prints_type_and_ip_columns() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let imports: Api<ServiceImport> = Api::namespaced(lab.client(1), &ns);
        imports
            .create(&PostParams::default(), &import("serve", &["10.43.7.7"]))
            .await
            .unwrap();
        let status = ServiceImportStatus {
            clusters: Some(vec![
                ClusterStatus {
                    cluster: "c1".into(),
                },
                ClusterStatus {
                    cluster: "c2".into(),
                },
            ]),
            conditions: Some(vec![condition("Ready", "True", "Ready")]),
        };
        imports
            .patch_status(
                "serve",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .unwrap();
        let rows = table(&kubectl(&lab, &["get", "svcim", "-n", &ns]).await);
        assert_eq!(rows[0], ["NAME", "TYPE", "IP", "READY", "AGE"]);
        assert_eq!(
            &rows[1][..4],
            ["serve", "ClusterSetIP", "10.43.7.7", "True"]
        );
        let rows = table(&kubectl(&lab, &["get", "svcim", "-n", &ns, "-o", "wide"]).await);
        assert_eq!(
            rows[0],
            ["NAME", "TYPE", "IP", "READY", "FIRST-CLUSTER", "AGE"]
        );
        assert_eq!(
            &rows[1][..5],
            ["serve", "ClusterSetIP", "10.43.7.7", "True", "c1"]
        );

        let exports: Api<ServiceExport> = Api::namespaced(lab.client(1), &ns);
        exports
            .create(
                &PostParams::default(),
                &ServiceExport::new("serve", Default::default()),
            )
            .await
            .unwrap();
        let rows = table(&kubectl(&lab, &["get", "svcex", "-n", &ns]).await);
        assert_eq!(rows[0], ["NAME", "VALID", "READY", "CONFLICT", "AGE"]);
        // No status yet: kubectl leaves the condition cells blank.
        assert_eq!(rows[1].len(), 2, "{rows:?}");
        let status = ServiceExportStatus {
            conditions: Some(vec![
                condition("Valid", "True", "Valid"),
                condition("Ready", "False", "Pending"),
                condition("Conflict", "True", "PortConflict,TypeConflict"),
            ]),
        };
        exports
            .patch_status(
                "serve",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .unwrap();
        let rows = table(&kubectl(&lab, &["get", "svcex", "-n", &ns]).await);
        assert_eq!(
            &rows[1][..4],
            ["serve", "True", "False", "PortConflict,TypeConflict"]
        );
    })
    .await;
}

#[tokio::test]
async fn kubectl_explain_reads_as_documentation() {
    let lab = lab(2).await;
    for kind in [
        "serviceexport",
        "serviceexport.spec",
        "serviceexport.status.conditions",
        "serviceimport",
        "serviceimport.spec",
        "serviceimport.status",
        "clusterproperty",
        "clustersetmember",
    ] {
        // The apiserver republishes its OpenAPI a moment after `lab()` applied this build's CRDs.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let text = loop {
            let text = kubectl(&lab, &["explain", kind]).await;
            let generated = ["Auto-generated", "CustomResource", "twin", "<empty>"]
                .into_iter()
                .any(|g| text.contains(g));
            if !generated || std::time::Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        for generated in ["Auto-generated", "CustomResource", "twin", "<empty>"] {
            assert!(!text.contains(generated), "kubectl explain {kind}:\n{text}");
        }
        assert!(
            text.contains("DESCRIPTION:"),
            "kubectl explain {kind}:\n{text}"
        );
    }
    let export = kubectl(&lab, &["explain", "serviceexport"]).await;
    assert!(
        export.contains("ServiceExport exports the Service of the same name"),
        "{export}"
    );
}
