//! `causeway join` on the lab's real apiservers (issue #16, item 4): cluster 1 joins cluster 2
//! twice, into two members namespaces; both readers can still read cluster 2 with the credential
//! join stored for them, and a repeated join changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use causeway_api::names::PEER_SECRET_KEY;
use causeway_test_support::{Lab, admin, lab, with_temp_ns};
use futures::FutureExt as _;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

async fn cluster_id(client: &kube::Client) -> String {
    causeway_controller::sync::identity::cluster_id(client, true)
        .await
        .unwrap()
}

/// `causeway join` from cluster 1 to cluster 2 with `--members-namespace ns`.
async fn join(lab: &Lab, ns: &str) {
    let out = admin::join(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        lab,
        1,
        2,
        &["--members-namespace", ns],
    )
    .await;
    assert!(
        out.status.success(),
        "join into {ns} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client for cluster 2 from the peer Secret join stored in cluster 1's namespace `ns`.
async fn reader(lab: &Lab, ns: &str, id2: &str) -> kube::Client {
    let secret = Api::<Secret>::namespaced(lab.client(1), ns)
        .get(&format!("peer-{id2}"))
        .await
        .unwrap();
    let bytes = secret.data.unwrap().remove(PEER_SECRET_KEY).unwrap().0;
    let kubeconfig = Kubeconfig::from_yaml(std::str::from_utf8(&bytes).unwrap()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Lists Services in cluster 2 with the reader credential of namespace `ns` (RBAC changes reach
/// the authorizer within moments: up to 10 s are allowed); panics with the last refusal.
async fn can_read(lab: &Lab, ns: &str, id2: &str) {
    let services: Api<Service> = Api::all(reader(lab, ns, id2).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match services.list(&ListParams::default().limit(1)).await {
            Ok(_) => return,
            Err(err) if tokio::time::Instant::now() >= deadline => {
                panic!("the reader joined into {ns} cannot list Services in cluster 2: {err}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The resourceVersions of what a join into `ns` writes.
async fn versions(lab: &Lab, ns: &str, id1: &str, id2: &str) -> Vec<(String, Option<String>)> {
    let (c1, c2) = (lab.client(1), lab.client(2));
    let secret = format!("peer-{id2}");
    let sa = format!("causeway-reader-{id1}");
    let binding = format!("causeway-reader-{id1}.{ns}");
    vec![
        (
            format!("cluster 1 Secret {ns}/{secret}"),
            Api::<Secret>::namespaced(c1, ns)
                .get(&secret)
                .await
                .unwrap()
                .metadata
                .resource_version,
        ),
        (
            format!("cluster 2 ServiceAccount {ns}/{sa}"),
            Api::<ServiceAccount>::namespaced(c2.clone(), ns)
                .get(&sa)
                .await
                .unwrap()
                .metadata
                .resource_version,
        ),
        (
            format!("cluster 2 ClusterRoleBinding {binding}"),
            Api::<ClusterRoleBinding>::all(c2.clone())
                .get(&binding)
                .await
                .unwrap()
                .metadata
                .resource_version,
        ),
        (
            "cluster 2 ClusterRole causeway-peer-reader".to_owned(),
            Api::<ClusterRole>::all(c2)
                .get("causeway-peer-reader")
                .await
                .unwrap()
                .metadata
                .resource_version,
        ),
    ]
}

#[tokio::test]
async fn joins_into_two_namespaces_compose_and_a_repeated_join_changes_nothing() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, x| async move {
        with_temp_ns(&lab, |lab, y| async move {
            let id1 = cluster_id(&lab.client(1)).await;
            let id2 = cluster_id(&lab.client(2)).await;
            let checks = async {
                join(&lab, &x).await;
                can_read(&lab, &x, &id2).await;
                join(&lab, &y).await;
                can_read(&lab, &y, &id2).await;
                can_read(&lab, &x, &id2).await;
                let before = versions(&lab, &x, &id1, &id2).await;
                join(&lab, &x).await;
                assert_eq!(
                    versions(&lab, &x, &id1, &id2).await,
                    before,
                    "a repeated join changed nothing"
                );
                can_read(&lab, &x, &id2).await;
                can_read(&lab, &y, &id2).await;
            };
            let result = AssertUnwindSafe(checks).catch_unwind().await;
            // The bindings are cluster-scoped: they do not go with the namespaces.
            let bindings: Api<ClusterRoleBinding> = Api::all(lab.client(2));
            for ns in [&x, &y] {
                let _ = bindings
                    .delete(
                        &format!("causeway-reader-{id1}.{ns}"),
                        &DeleteParams::default(),
                    )
                    .await;
            }
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
        })
        .await;
    })
    .await;
}
