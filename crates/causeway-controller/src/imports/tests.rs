//! The import reconciler against a mock apiserver: the order of its writes, its 422 answers and
//! leadership lost in the middle of a reconcile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use causeway_api::names::FIELD_MANAGER_CONTROLLER;
use causeway_api::{ServiceImportSpec, ServiceImportType};
use causeway_test_support::mock_api::{Call, MockApiServer, mock_client};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use super::*;
use crate::metrics::Metrics;
use crate::slice_index::SliceIndex;

fn context() -> (Arc<Context>, watch::Sender<bool>, MockApiServer) {
    let (client, server) = mock_client();
    let (tx, rx) = watch::channel(true);
    let metrics = Metrics::register(&mut Registry::default());
    let ctx = Context {
        client: client.clone(),
        writer: Writer::new(
            client.clone(),
            rx.clone(),
            metrics.clone(),
            FIELD_MANAGER_CONTROLLER,
        ),
        imports: reflector::store().0,
        services: reflector::store().0,
        slices: Arc::new(SliceIndex::default()),
        is_leader: rx,
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "causeway-controller".into(),
                instance: None,
            },
        ),
        metrics,
        failures: Mutex::new(HashMap::new()),
        caches_synced: AtomicBool::new(true),
        written: Mutex::new(HashMap::new()),
    };
    (Arc::new(ctx), tx, server)
}

fn new_import(ips: &[&str]) -> ServiceImport {
    ServiceImport {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some("web".into()),
            uid: Some("uid-web".into()),
            generation: Some(1),
            resource_version: Some("5".into()),
            ..ObjectMeta::default()
        },
        spec: ServiceImportSpec {
            type_: ServiceImportType::ClusterSetIP,
            ports: vec![causeway_api::ServicePort {
                name: None,
                protocol: Some("TCP".into()),
                app_protocol: None,
                port: 80,
            }],
            ips: (!ips.is_empty()).then(|| ips.iter().map(|&s| s.to_owned()).collect()),
            ..ServiceImportSpec::default()
        },
        status: None,
    }
}

/// Answers a Service apply as the apiserver does: the applied object with `ip` allocated.
fn allocate(call: Call, ip: &str) {
    let mut svc = call.body.clone();
    svc["metadata"]["resourceVersion"] = json!("10");
    svc["spec"]["clusterIP"] = json!(ip);
    svc["spec"]["clusterIPs"] = json!([ip]);
    svc["spec"]["ipFamilies"] = json!(["IPv4"]);
    call.ok(&svc);
}

/// Answers an import write with the import at generation 2.
fn import_written(call: Call, import: &ServiceImport) {
    let mut body = serde_json::to_value(import).unwrap();
    body["metadata"]["generation"] = json!(2);
    body["metadata"]["resourceVersion"] = json!("11");
    call.ok(&body);
}

fn derived() -> String {
    derived_service_name("ns", "web")
}

#[tokio::test]
async fn a_new_import_gets_its_service_then_its_vip_then_ready() {
    let (ctx, _tx, mut server) = context();
    let import = new_import(&[]);
    let reconcile = reconcile(Arc::new(import.clone()), ctx.clone());
    let apiserver = async {
        let svc = server.next().await.expect("the derived Service first");
        assert!(svc.is_forced_apply_by(FIELD_MANAGER_CONTROLLER));
        assert!(
            svc.path.ends_with(&format!("/services/{}", derived())),
            "{}",
            svc.path
        );
        assert_eq!(
            svc.body["spec"].get("clusterIPs"),
            None,
            "a new VIP is allocated"
        );
        allocate(svc, "10.43.0.10");
        let addresses = server.next().await.expect("then the import's addresses");
        assert!(
            addresses.path.ends_with("/serviceimports/web"),
            "{}",
            addresses.path
        );
        assert_eq!(addresses.body["spec"]["ips"], json!(["10.43.0.10"]));
        import_written(addresses, &import);
        let ready = server.next().await.expect("then Ready");
        assert!(
            ready.path.ends_with("/serviceimports/web/status"),
            "{}",
            ready.path
        );
        let condition = &ready.body["status"]["conditions"][0];
        assert_eq!(condition["status"], "True");
        assert_eq!(
            condition["observedGeneration"], 2,
            "the generation the write returned"
        );
        import_written(ready, &import);
        server.assert_quiet(Duration::from_millis(200)).await;
    };
    let (result, ()) = tokio::join!(reconcile, apiserver);
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn leadership_lost_mid_reconcile_no_write_after_the_loss() {
    let (ctx, tx, mut server) = context();
    let reconcile = reconcile(Arc::new(new_import(&[])), ctx.clone());
    let apiserver = async {
        let svc = server.next().await.unwrap();
        tx.send(false).unwrap();
        allocate(svc, "10.43.0.10");
        server.assert_quiet(Duration::from_millis(300)).await;
    };
    let (result, ()) = tokio::join!(reconcile, apiserver);
    assert!(
        result.is_ok(),
        "not an error to back off from: the new leader reconciles it: {result:?}"
    );
    let failures = ctx
        .metrics
        .errors
        .get_or_create(&crate::metrics::ReasonLabel {
            reason: "apply_import",
        });
    assert_eq!(failures.get(), 0);
}

#[tokio::test]
async fn an_unavailable_vip_is_replaced_by_a_new_one_with_an_event() {
    let (ctx, _tx, mut server) = context();
    let import = new_import(&["10.99.0.1"]);
    let reconcile = reconcile(Arc::new(import.clone()), ctx.clone());
    let apiserver = async {
        let asked = server.next().await.unwrap();
        assert_eq!(asked.body["spec"]["clusterIPs"], json!(["10.99.0.1"]));
        asked.fail(
            422,
            "Invalid",
            "spec.clusterIPs: Invalid value: \"10.99.0.1\": not in range",
        );
        let event = server.next().await.expect("a Warning Event");
        assert_eq!(event.method, http::Method::POST);
        assert!(event.path.contains("/events"), "{}", event.path);
        assert_eq!(event.body["reason"], "ClusterSetIPChanged");
        let body = event.body.clone();
        event.ok(&body);
        let fresh = server.next().await.expect("a fresh apply");
        assert_eq!(fresh.body["spec"].get("clusterIPs"), None, "{}", fresh.body);
        allocate(fresh, "10.43.0.11");
        let addresses = server.next().await.unwrap();
        assert_eq!(addresses.body["spec"]["ips"], json!(["10.43.0.11"]));
        import_written(addresses, &import);
        let ready = server.next().await.unwrap();
        import_written(ready, &import);
        server.assert_quiet(Duration::from_millis(200)).await;
    };
    let (result, ()) = tokio::join!(reconcile, apiserver);
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn an_unservable_ip_family_becomes_a_condition_not_a_retry() {
    let (ctx, _tx, mut server) = context();
    let mut import = new_import(&[]);
    import.spec.ip_families = Some(vec!["IPv6".into()]);
    let reconcile = reconcile(Arc::new(import.clone()), ctx.clone());
    let apiserver = async {
        server.next().await.unwrap().fail(
            422,
            "Invalid",
            "spec.ipFamilies[0]: Invalid value: \"IPv6\": not configured on this cluster",
        );
        let event = server.next().await.unwrap();
        assert_eq!(
            event.body["reason"],
            condition::ready::IP_FAMILY_NOT_SUPPORTED
        );
        let body = event.body.clone();
        event.ok(&body);
        let ready = server.next().await.unwrap();
        let c = &ready.body["status"]["conditions"][0];
        assert_eq!(
            (c["status"].clone(), c["reason"].clone()),
            (
                json!("False"),
                json!(condition::ready::IP_FAMILY_NOT_SUPPORTED)
            )
        );
        import_written(ready, &import);
        server.assert_quiet(Duration::from_millis(200)).await;
    };
    let (result, ()) = tokio::join!(reconcile, apiserver);
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_server_error_is_retried_with_back_off() {
    let (ctx, _tx, mut server) = context();
    let reconcile = reconcile(Arc::new(new_import(&[])), ctx.clone());
    let apiserver = async {
        server
            .next()
            .await
            .unwrap()
            .fail(500, "InternalError", "etcdserver: request timed out");
        server.assert_quiet(Duration::from_millis(200)).await;
    };
    let (result, ()) = tokio::join!(reconcile, apiserver);
    let err = result.unwrap_err();
    assert_eq!(err.metric_label(), "apply_service");
    assert!(err.to_string().contains(&derived()), "{err}");
}
