//! Clusterset membership (mcs-spec.md §7.2, §7.3) on two real clusters: `causeway join` puts
//! both clusters in one clusterset (ClusterProperty `clusterset.k8s.io`) and refuses another
//! clusterset or a cluster id a member already has; the controller syncs only peers of its own
//! clusterset (a peer of another one gets `Reachable=False/NotInClusterSet` naming both values
//! and its service is withdrawn), marks the later of two members with one cluster id
//! `DuplicateClusterID`, and without a clusterset of its own pauses the sync and says so (log,
//! /metrics, member status). Changes the shared lab's `clusterset.k8s.io` properties for a while;
//! a guard puts them back even when the test fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::path::PathBuf;
use std::time::Duration;

use causeway_api::names::{
    LABEL_PEER, LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER, PROPERTY_CLUSTERSET,
};
use causeway_api::{ClusterProperty, ClusterSetMember, Condition, ServiceImport};
use causeway_test_support::admin::{free_port, metrics, sample};
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name, with_temp_ns};
use causeway_test_support::{admin, exported};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const RBAC: &str = include_str!("../../../deploy/controller/rbac.yaml");

/// Puts the lab's `clusterset.k8s.io` properties back as they were (also when the test panics),
/// so later tests' `causeway join` finds the clusterset it expects.
struct RestoreClusterset {
    kubectl: PathBuf,
    original: Vec<(PathBuf, Option<String>)>,
}

impl RestoreClusterset {
    async fn save(lab: &Lab, clusters: &[u8]) -> Self {
        let mut original = Vec::new();
        for &i in clusters {
            original.push((
                lab.paths.admin_kubeconfig(i),
                clusterset(&lab.client(i.into())).await,
            ));
        }
        Self {
            kubectl: lab.kubectl(),
            original,
        }
    }
}

impl Drop for RestoreClusterset {
    fn drop(&mut self) {
        for (kubeconfig, value) in &self.original {
            let mut cmd = std::process::Command::new(&self.kubectl);
            cmd.arg("--kubeconfig").arg(kubeconfig);
            let status = match value {
                Some(v) => {
                    let yaml = format!(
                        "apiVersion: about.k8s.io/v1beta1\nkind: ClusterProperty\nmetadata: {{name: {PROPERTY_CLUSTERSET}}}\nspec: {{value: {v:?}}}\n"
                    );
                    let path =
                        std::env::temp_dir().join(format!("cw-restore-{}.yaml", unique_name("cs")));
                    std::fs::write(&path, yaml).unwrap();
                    let status = cmd
                        .args(["apply", "--server-side", "--force-conflicts", "-f"])
                        .arg(&path)
                        .status();
                    let _ = std::fs::remove_file(&path);
                    status
                }
                None => cmd
                    .args([
                        "delete",
                        "clusterproperty",
                        PROPERTY_CLUSTERSET,
                        "--ignore-not-found",
                    ])
                    .status(),
            };
            if !status.is_ok_and(|s| s.success()) {
                eprintln!(
                    "could not restore {PROPERTY_CLUSTERSET} through {}",
                    kubeconfig.display()
                );
            }
        }
    }
}

async fn clusterset(client: &kube::Client) -> Option<String> {
    Api::<ClusterProperty>::all(client.clone())
        .get_opt(PROPERTY_CLUSTERSET)
        .await
        .unwrap()
        .map(|p| p.spec.value)
}

async fn set_clusterset(client: &kube::Client, value: &str) {
    let patch = json!({"apiVersion": "about.k8s.io/v1beta1", "kind": "ClusterProperty", "metadata": {"name": PROPERTY_CLUSTERSET}, "spec": {"value": value}});
    Api::<ClusterProperty>::all(client.clone())
        .patch(
            PROPERTY_CLUSTERSET,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&patch),
        )
        .await
        .unwrap();
}

async fn delete_clusterset(client: &kube::Client) {
    let _ = Api::<ClusterProperty>::all(client.clone())
        .delete(PROPERTY_CLUSTERSET, &DeleteParams::default())
        .await;
}

/// Runs `causeway join` from cluster `a` to cluster `b` with this test's members namespace and
/// `extra` flags.
async fn join(lab: &Lab, a: u8, b: u8, ns: &str, extra: &[&str]) -> std::process::Output {
    let mut flags = vec!["--members-namespace", ns];
    flags.extend_from_slice(extra);
    admin::join(env!("CARGO_BIN_EXE_causeway").as_ref(), lab, a, b, &flags).await
}

/// Grants the controller user read access to peer Secrets in the test namespace, which serves as
/// its members namespace so this test's members affect no other test.
async fn members_role(client: &kube::Client, ns: &str) {
    let yaml = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: members, namespace: {ns}}}\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"secrets\"]\n    verbs: [\"get\", \"list\", \"watch\"]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: members, namespace: {ns}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: members}}\nsubjects: []\n"
    );
    rbac::install_for_user(client, &yaml, "causeway-controller").await;
}

fn controller(lab: &Lab, ns: &str, admin_port: u16) -> Daemon {
    let lease = unique_name("member");
    let admin = format!("127.0.0.1:{admin_port}");
    let args = controller_args(
        lab,
        1,
        ns,
        &lease,
        &admin,
        &["--members-namespace", ns, "--peer-grace", "4"],
    );
    Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        &format!("c1-{lease}"),
        &args,
        &[("POD_NAME", "ctl")],
        lab.paths.root(),
    )
}

/// The import `web` in cluster 1 and the source clusters of its MCS slices.
async fn web_in_c1(client: &kube::Client, ns: &str) -> (bool, Vec<String>) {
    let import = Api::<ServiceImport>::namespaced(client.clone(), ns)
        .get_opt("web")
        .await
        .unwrap()
        .is_some();
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}=web")))
        .await
        .unwrap();
    let mut sources: Vec<String> = slices
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
    sources.sort();
    (import, sources)
}

/// Waits until member `name` has condition `type_` with `status`/`reason`; returns it.
async fn member_is(
    client: &kube::Client,
    ns: &str,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Condition {
    let what = format!("ClusterSetMember {name}: {type_}={status}/{reason}");
    let members: Api<ClusterSetMember> = Api::namespaced(client.clone(), ns);
    eventually(30, &what, || async {
        let m = members.get_opt(name).await.ok()??;
        let c = m.condition(type_)?.clone();
        (c.status == status && c.reason == reason).then_some(c)
    })
    .await
}

#[tokio::test]
async fn join_sets_membership_and_the_sync_honours_it() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let (c1, c2) = (lab.client(1), lab.client(2));
        let _restore = RestoreClusterset::save(&lab, &[1, 2]).await;
        for (i, c) in [(1, &c1), (2, &c2)] {
            causeway_lab::ready::install_crds(c, i).await.unwrap();
            rbac::install_for_user(c, RBAC, "causeway-controller").await;
            members_role(c, &ns).await;
        }
        let id1 = causeway_controller::sync::identity::cluster_id(&c1, true).await.unwrap();
        let id2 = causeway_controller::sync::identity::cluster_id(&c2, true).await.unwrap();

        // Neither cluster in a clusterset: join puts both in the default one.
        delete_clusterset(&c1).await;
        delete_clusterset(&c2).await;
        let out = join(&lab, 1, 2, &ns, &["--both"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(clusterset(&c1).await.as_deref(), Some("clusterset"), "{stderr}");
        assert_eq!(clusterset(&c2).await.as_deref(), Some("clusterset"), "{stderr}");
        assert!(stderr.contains("joined clusterset clusterset"), "{stderr}");

        // Another clusterset is refused, and nothing changes.
        let out = join(&lab, 1, 2, &ns, &["--clusterset", "other"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "joining another clusterset must fail");
        assert!(stderr.contains("is in clusterset \"clusterset\"") && stderr.contains("\"other\""), "{stderr}");
        assert_eq!(clusterset(&c1).await.as_deref(), Some("clusterset"));
        // So is a peer with this cluster's own id.
        let out = join(&lab, 1, 1, &ns, &[]).await;
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("both kubeconfigs point at cluster {id1}")));

        let port = free_port();
        let mut ctl = controller(&lab, &ns, port);
        exported::node(&c2, &ns, "198.51.100.252").await;
        exported::service(&c2, &ns, "web", "10.44.0.61").await;
        let good = format!("peer-{id2}");
        member_is(&c1, &ns, &good, "Reachable", "True", "Connected").await;
        eventually(20, "cluster 2's web imported in cluster 1", || async {
            let (import, sources) = web_in_c1(&c1, &ns).await;
            (import && sources == vec![id2.clone()]).then_some(())
        })
        .await;

        // The peer moves to another clusterset: it is no longer synced, and says why.
        set_clusterset(&c2, "other").await;
        let excluded = member_is(&c1, &ns, &good, "Reachable", "False", "NotInClusterSet").await;
        assert!(excluded.message.contains("\"other\"") && excluded.message.contains("\"clusterset\""), "{}", excluded.message);
        member_is(&c1, &ns, &good, "Stale", "True", "Excluded").await;
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(c1.clone(), &ns);
        let event = eventually(20, "a MemberExcluded event on the peer Secret", || async {
            events.list(&ListParams::default()).await.ok()?.items.into_iter().find(|e| {
                e.reason.as_deref() == Some("MemberExcluded")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(good.as_str())
            })
        })
        .await;
        assert!(event.note.unwrap_or_default().starts_with("NotInClusterSet: "));
        eventually(20, "cluster 2's web withdrawn from cluster 1", || async {
            (web_in_c1(&c1, &ns).await == (false, vec![])).then_some(())
        })
        .await;
        let text = metrics(port).await.unwrap();
        assert_eq!(sample(&text, &format!("causeway_controller_peer_up{{cluster=\"{id2}\"}}")), Some(0.0), "{text}");
        // Back in the same clusterset: synced again.
        set_clusterset(&c2, "clusterset").await;
        member_is(&c1, &ns, &good, "Reachable", "True", "Connected").await;
        eventually(20, "cluster 2's web back in cluster 1", || async {
            let (import, sources) = web_in_c1(&c1, &ns).await;
            (import && sources == vec![id2.clone()]).then_some(())
        })
        .await;

        // A second member with the same cluster id (a copy of the peer Secret, made later): it
        // is marked and ignored, the first keeps syncing, nothing is duplicated.
        let secrets: Api<Secret> = Api::namespaced(c1.clone(), &ns);
        let original = secrets.get(&good).await.unwrap();
        let copy: Secret = serde_json::from_value(json!({"metadata": {"name": "peer-copy", "labels": {LABEL_PEER: "true"}}, "data": original.data})).unwrap();
        secrets.create(&PostParams::default(), &copy).await.unwrap();
        let duplicate = member_is(&c1, &ns, "peer-copy", "Reachable", "False", "DuplicateClusterID").await;
        assert!(duplicate.message.contains(&id2) && duplicate.message.contains(&good), "{}", duplicate.message);
        let still = member_is(&c1, &ns, &good, "Reachable", "True", "Connected").await;
        assert_eq!(web_in_c1(&c1, &ns).await, (true, vec![id2.clone()]), "no duplicate slices");
        // join refuses to add cluster 2 again while another member has its id.
        let out = join(&lab, 1, 2, &ns, &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a duplicate cluster id must be refused");
        assert!(stderr.contains("peer-copy") && stderr.contains(&id2) && stderr.contains("must not share an id"), "{stderr}");
        secrets.delete("peer-copy", &DeleteParams::default()).await.unwrap();
        let out = join(&lab, 1, 2, &ns, &[]).await;
        assert!(out.status.success(), "re-joining the same peer is fine: {}", String::from_utf8_lossy(&out.stderr));

        // This cluster leaves the clusterset: the sync pauses (nothing deleted) and says so.
        delete_clusterset(&c1).await;
        let paused = member_is(&c1, &ns, &good, "Reachable", "False", "NotInClusterSet").await;
        assert!(paused.message.contains(&format!("this cluster ({id1})")) && paused.message.contains("causeway join"), "{}", paused.message);
        // Condition times have whole seconds, and the pause may land in the same second.
        assert!(paused.last_transition_time.0 >= still.last_transition_time.0);
        let text = metrics(port).await.unwrap();
        assert_eq!(sample(&text, "causeway_controller_clusterset_member"), Some(0.0), "{text}");
        assert!(ctl.log_text().contains("not a clusterset member"), "{}", ctl.log_text());
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(web_in_c1(&c1, &ns).await, (true, vec![id2.clone()]), "a paused sync deletes nothing");
        // Joining again resumes it.
        let out = join(&lab, 1, 2, &ns, &[]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        member_is(&c1, &ns, &good, "Reachable", "True", "Connected").await;
        let text = metrics(port).await.unwrap();
        assert_eq!(sample(&text, "causeway_controller_clusterset_member"), Some(1.0), "{text}");

        assert!(ctl.child.try_wait().unwrap().is_none(), "controller still runs");
        ctl.terminate().await;
    })
    .await;
}
