//! The cluster id (mcs-spec.md §7.2) on a real apiserver, as `causeway controller` and `causeway
//! join` read it: created from the kube-system namespace UID when absent, a value the user set is
//! kept as it is, the legacy `id.k8s.io` is recognised, and a value that cannot be one DNS label
//! is refused with a message naming the property and the fix. Cluster 1's original property is
//! put back at the end, even when an assertion fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use causeway_api::names::{PROPERTY_CLUSTER_ID, PROPERTY_CLUSTER_ID_LEGACY};
use causeway_api::{ClusterProperty, ClusterPropertySpec};
use causeway_controller::sync::identity::cluster_id;
use causeway_lab::LabPaths;
use causeway_test_support::lab;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};

const CLUSTER: u8 = 1;

/// Puts the original properties back when dropped: on a runtime and a client of its own, since
/// the test's runtime is blocked while this runs.
struct Restore {
    paths: LabPaths,
    original: Vec<ClusterProperty>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let paths = self.paths.clone();
        let original = std::mem::take(&mut self.original);
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let client = causeway_lab::admin_client(&paths, CLUSTER).await.unwrap();
                let props: Api<ClusterProperty> = Api::all(client);
                for name in [PROPERTY_CLUSTER_ID, PROPERTY_CLUSTER_ID_LEGACY] {
                    if let Err(e) = props.delete(name, &DeleteParams::default()).await {
                        eprintln!("restore: delete {name}: {e}");
                    }
                }
                for p in original {
                    let fresh = ClusterProperty::new(&p.name_any(), p.spec.clone());
                    if let Err(e) = props.create(&PostParams::default(), &fresh).await {
                        eprintln!("restore: create {}: {e}", p.name_any());
                    }
                }
            });
        })
        .join()
        .unwrap();
    }
}

async fn set(props: &Api<ClusterProperty>, name: &str, value: &str) {
    let _ = props.delete(name, &DeleteParams::default()).await;
    let p = ClusterProperty::new(
        name,
        ClusterPropertySpec {
            value: value.to_owned(),
        },
    );
    props.create(&PostParams::default(), &p).await.unwrap();
}

async fn remove(props: &Api<ClusterProperty>, name: &str) {
    let _ = props.delete(name, &DeleteParams::default()).await;
}

#[tokio::test]
async fn the_cluster_id_comes_from_kube_system_unless_set_and_must_be_a_label() {
    let lab = lab(2).await;
    let client = lab.client(CLUSTER.into());
    let props: Api<ClusterProperty> = Api::all(client.clone());
    let mut original = Vec::new();
    for name in [PROPERTY_CLUSTER_ID, PROPERTY_CLUSTER_ID_LEGACY] {
        if let Some(p) = props.get_opt(name).await.unwrap() {
            original.push(p);
        }
    }
    let _restore = Restore {
        paths: lab.paths.clone(),
        original,
    };
    let uid = Api::<Namespace>::all(client.clone())
        .get("kube-system")
        .await
        .unwrap()
        .uid()
        .unwrap();

    // Absent: a reader (a standby, `causeway status`) gets the UID without writing it …
    remove(&props, PROPERTY_CLUSTER_ID).await;
    remove(&props, PROPERTY_CLUSTER_ID_LEGACY).await;
    assert_eq!(cluster_id(&client, false).await.unwrap(), uid);
    assert!(props.get_opt(PROPERTY_CLUSTER_ID).await.unwrap().is_none());
    // … and the leader creates the property from it.
    assert_eq!(cluster_id(&client, true).await.unwrap(), uid);
    assert_eq!(
        props.get(PROPERTY_CLUSTER_ID).await.unwrap().spec.value,
        uid
    );

    // A value the user set is kept, never replaced by the UID.
    set(&props, PROPERTY_CLUSTER_ID, "old-cluster").await;
    assert_eq!(cluster_id(&client, true).await.unwrap(), "old-cluster");
    assert_eq!(
        props.get(PROPERTY_CLUSTER_ID).await.unwrap().spec.value,
        "old-cluster"
    );

    // The legacy name is read when the current one is absent (migration), and not rewritten.
    remove(&props, PROPERTY_CLUSTER_ID).await;
    set(&props, PROPERTY_CLUSTER_ID_LEGACY, "legacy-id").await;
    assert_eq!(cluster_id(&client, true).await.unwrap(), "legacy-id");
    assert!(props.get_opt(PROPERTY_CLUSTER_ID).await.unwrap().is_none());
    remove(&props, PROPERTY_CLUSTER_ID_LEGACY).await;

    // Not one DNS label: refused, naming the property and what to do.
    set(&props, PROPERTY_CLUSTER_ID, "rke1.old-cluster").await;
    let err = format!("{:#}", cluster_id(&client, true).await.unwrap_err());
    assert!(
        err.contains(PROPERTY_CLUSTER_ID) && err.contains("single lowercase DNS label"),
        "{err}"
    );
}
