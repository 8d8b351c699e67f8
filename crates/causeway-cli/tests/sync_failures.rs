//! Sync failure semantics on two real clusters: bad peer credentials (a malformed kubeconfig, a
//! token the peer rejects, a token without RBAC) each get a clear `Reachable=False` reason on
//! their ClusterSetMember while the healthy member stays `Reachable=True` and keeps syncing; a
//! controller restart that finds nothing to change (zero writes after a complete sync pass with
//! the peer connected); a peer's apiserver stopped (`Reachable=False/Unreachable`,
//! `Stale=True/InGrace`, its endpoints and the import only it exports stay for `--peer-grace`,
//! then are withdrawn, while an unrelated import goes at once when its export goes; after it
//! returns everything is back without duplicates, with exactly the writes that re-create what was
//! withdrawn, and the member is `Reachable=True`, `Stale=False`). `causeway status` shows the
//! controller's view. Alone in its test binary because it stops an apiserver.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use causeway_api::names::{LABEL_PEER, LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER};
use causeway_api::{ClusterSetMember, Condition, ServiceExport, ServiceImport};
use causeway_test_support::admin::{free_port, metrics, sample};
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::exported;
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name, with_temp_ns};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
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
    let lease = unique_name("fail");
    let admin = format!("127.0.0.1:{admin_port}");
    let args = controller_args(
        lab,
        cluster,
        ns,
        &lease,
        &admin,
        &["--members-namespace", ns, "--peer-grace", "4"],
    );
    Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        &format!("c{cluster}-{lease}"),
        &args,
        &[("POD_NAME", "ctl")],
        lab.paths.root(),
    )
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
    writes_by_kind(metrics).values().sum()
}

/// `causeway_controller_api_writes_total` by `kind`.
fn writes_by_kind(metrics: &str) -> BTreeMap<String, u64> {
    metrics
        .lines()
        .filter(|l| l.starts_with("causeway_controller_api_writes_total{"))
        .filter_map(|l| {
            let kind = l.split("kind=\"").nth(1)?.split('"').next()?.to_owned();
            Some((kind, l.rsplit(' ').next()?.parse::<u64>().ok()?))
        })
        .collect()
}

/// The sync's writes of imports, slices and exports since `before`, by kind (the import side's
/// writes follow from them; member status writes are counted on their own).
fn sync_writes_since(
    before: &BTreeMap<String, u64>,
    now: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    now.iter()
        .filter(|(k, _)| k.starts_with("sync_") && !k.contains("clustersetmember"))
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Waits until the controller's write count stood still for 3 s; returns the writes by kind.
async fn settled_writes(port: u16, ctl: &Daemon) -> BTreeMap<String, u64> {
    let mut last = (
        writes_by_kind(&metrics(port).await.unwrap()),
        Instant::now(),
    );
    let start = Instant::now();
    while last.1.elapsed() < Duration::from_secs(3) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the controller never stopped writing:\n{}",
            ctl.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = writes_by_kind(&metrics(port).await.unwrap());
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    last.0
}

/// The test's lab Node and Service `serve` with one ready pod at `ip`, exported.
async fn workload(client: &kube::Client, ns: &str, ip: &str) {
    exported::node(client, ns, "198.51.100.251").await;
    exported::service(client, ns, "serve", ip).await;
}

async fn import_exists(client: &kube::Client, ns: &str, name: &str) -> bool {
    Api::<ServiceImport>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
        .is_some()
}

async fn sources(client: &kube::Client, ns: &str) -> Vec<String> {
    service_sources(client, ns, "serve").await
}

/// The source clusters of the MCS slices of import `service`.
async fn service_sources(client: &kube::Client, ns: &str, service: &str) -> Vec<String> {
    let list = Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}={service}")))
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

/// The `(status, reason)` of condition `type_` of member `name`, with the condition.
async fn member_condition(
    client: &kube::Client,
    ns: &str,
    name: &str,
    type_: &str,
) -> Option<(String, String, Condition)> {
    let m = Api::<ClusterSetMember>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .ok()??;
    let c = m.condition(type_)?.clone();
    Some((c.status.clone(), c.reason.clone(), c))
}

/// Waits until member `name` has condition `type_` with `status`/`reason`; returns it.
async fn member_is(
    client: &kube::Client,
    ns: &str,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
    secs: u64,
) -> Condition {
    let what = format!("ClusterSetMember {name}: {type_}={status}/{reason}");
    eventually(secs, &what, || async {
        let (s, r, c) = member_condition(client, ns, name, type_).await?;
        (s == status && r == reason).then_some(c)
    })
    .await
}

/// A peer Secret with the kubeconfig of Secret `from`, its token replaced by `token`.
async fn peer_secret_with_token(
    client: &kube::Client,
    ns: &str,
    from: &str,
    name: &str,
    token: &str,
) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let good = secrets.get(from).await.unwrap();
    let text = String::from_utf8(good.data.unwrap()["kubeconfig"].0.clone()).unwrap();
    // JSON is YAML: no YAML library needed (the lean build has none).
    let kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
    let mut kc = serde_json::to_value(&kc).unwrap();
    for user in kc["users"].as_array_mut().unwrap() {
        user["user"]["token"] = json!(token);
    }
    let yaml = serde_json::to_string(&kc).unwrap();
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": name, "labels": {LABEL_PEER: "true"}}, "stringData": {"kubeconfig": yaml}})).unwrap();
    secrets.create(&PostParams::default(), &s).await.unwrap();
}

/// A token of a fresh ServiceAccount in `ns` that nothing grants any access.
async fn token_without_rbac(client: &kube::Client, ns: &str) -> String {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "nobody"}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.unwrap();
    sas.create_token_request("nobody", &PostParams::default(), &TokenRequest::default())
        .await
        .unwrap()
        .status
        .unwrap()
        .token
}

async fn status_json(lab: &Lab, ns: &str) -> serde_json::Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_causeway"))
        .args([
            "status",
            "--kubeconfig",
            &lab.paths.admin_kubeconfig(1).display().to_string(),
            "--members-namespace",
            ns,
            "-n",
            ns,
            "-o",
            "json",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn member<'a>(status: &'a serde_json::Value, secret: &str) -> &'a serde_json::Value {
    status["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["secret"] == secret)
        .unwrap_or_else(|| panic!("member {secret} in {status:#}"))
}

/// How often the failure reason of a member changed, from the controller's log.
fn reason_changes(log: &str) -> u64 {
    let reasons = log
        .lines()
        .filter(|l| l.contains("watch of a member cluster failed"))
        .filter_map(|l| {
            let rest = l.split("reason=").nth(1)?;
            Some(
                rest.split_whitespace()
                    .next()?
                    .trim_matches(|c: char| !c.is_alphanumeric())
                    .to_owned(),
            )
        });
    let mut changes = 0;
    let mut last: Option<String> = None;
    for r in reasons {
        if last.as_ref().is_some_and(|l| *l != r) {
            changes += 1;
        }
        last = Some(r);
    }
    changes
}

#[tokio::test]
async fn peer_outage_bad_credentials_and_restart() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let (c1, c2) = (lab.client(1), lab.client(2));
        for (i, c) in [(1, &c1), (2, &c2)] {
            // The lab may predate the ClusterSetMember CRD.
            causeway_lab::ready::install_crds(c, i).await.unwrap();
            rbac::install_for_user(c, RBAC, "causeway-controller").await;
            members_role(c, &ns).await;
        }
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_causeway"))
            .args(["join", "--kubeconfig", &lab.paths.admin_kubeconfig(1).display().to_string(), "--peer-kubeconfig", &lab.paths.admin_kubeconfig(2).display().to_string(), "--members-namespace", &ns])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let id2 = causeway_controller::sync::identity::cluster_id(&c2, true).await.unwrap();
        let good = format!("peer-{id2}");
        // Three broken members: a malformed kubeconfig, a token the peer rejects, and a valid
        // token of a ServiceAccount without any RBAC.
        let bad: Secret = serde_json::from_value(json!({"metadata": {"name": "peer-broken", "labels": {LABEL_PEER: "true"}}, "stringData": {"kubeconfig": "token: [s3cr3t-value"}})).unwrap();
        Api::<Secret>::namespaced(c1.clone(), &ns).create(&PostParams::default(), &bad).await.unwrap();
        peer_secret_with_token(&c1, &ns, &good, "peer-badtoken", "not-a-token").await;
        let nobody = token_without_rbac(&c2, &ns).await;
        peer_secret_with_token(&c1, &ns, &good, "peer-norbac", &nobody).await;

        let port = free_port();
        let mut ctl = controller(&lab, 1, &ns, port);
        workload(&c1, &ns, "10.42.0.51").await;
        workload(&c2, &ns, "10.44.0.51").await;
        // The broken members do not stop the good one.
        let both = eventually(20, "both clusters' slices in cluster 1", || async {
            let s = sources(&c1, &ns).await;
            (s.len() == 2).then_some(s)
        })
        .await;
        assert!(both.contains(&id2));
        // One service exported only by cluster 2, one only by cluster 1: both imported here.
        exported::service(&c2, &ns, "only2", "10.44.0.52").await;
        exported::service(&c1, &ns, "local1", "10.42.0.53").await;
        eventually(20, "imports only2 and local1 in cluster 1", || async {
            (import_exists(&c1, &ns, "only2").await && import_exists(&c1, &ns, "local1").await).then_some(())
        })
        .await;
        assert!(ctl.log_text().contains("peer-broken"), "the broken member is named in the log:\n{}", ctl.log_text());
        // Each bad credential gets a clear reason on its ClusterSetMember.
        let broken = member_is(&c1, &ns, "peer-broken", "Reachable", "False", "InvalidKubeconfig", 20).await;
        assert!(broken.message.contains("causeway join"), "{}", broken.message);
        assert!(!broken.message.contains("s3cr3t"), "no Secret data in the message: {}", broken.message);
        assert!(!ctl.log_text().contains("s3cr3t"), "no Secret data in the log:\n{}", ctl.log_text());
        let unauthorized = member_is(&c1, &ns, "peer-badtoken", "Reachable", "False", "Unauthorized", 20).await;
        assert!(unauthorized.message.contains("401"), "{}", unauthorized.message);
        let forbidden = member_is(&c1, &ns, "peer-norbac", "Reachable", "False", "Forbidden", 20).await;
        assert!(forbidden.message.contains("peer-reader.yaml"), "{}", forbidden.message);
        let (stale, _, _) = member_condition(&c1, &ns, "peer-norbac", "Stale").await.unwrap();
        assert_eq!(stale, "True", "a member that never connected is stale");
        // The healthy member: connected, live, its cluster id recorded, owned by its Secret.
        let healthy = member_is(&c1, &ns, &good, "Reachable", "True", "Connected", 20).await;
        member_is(&c1, &ns, &good, "Stale", "False", "Live", 20).await;
        let m = Api::<ClusterSetMember>::namespaced(c1.clone(), &ns).get(&good).await.unwrap();
        assert_eq!(m.status.as_ref().and_then(|s| s.cluster_id.as_deref()), Some(id2.as_str()));
        assert_eq!(m.spec.secret_name, good);
        let secret_uid = Api::<Secret>::namespaced(c1.clone(), &ns).get(&good).await.unwrap().metadata.uid;
        assert_eq!(m.metadata.owner_references.unwrap_or_default().first().map(|o| (o.kind.clone(), Some(o.uid.clone()))), Some(("Secret".into(), secret_uid)));
        // `causeway status` shows its own probe and the controller's view side by side.
        let status = status_json(&lab, &ns).await;
        let norbac = member(&status, "peer-norbac");
        assert_eq!(norbac["reachable"], false);
        assert_eq!(norbac["reason"], "Forbidden");
        assert_eq!(norbac["controller"]["reachable"]["reason"], "Forbidden");
        let up = member(&status, &good);
        assert_eq!(up["reachable"], true);
        assert_eq!(up["cluster"], id2.as_str());
        assert_eq!(up["controller"]["reachable"]["status"], "True");
        assert_eq!(up["controller"]["stale"]["reason"], "Live");
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(c1.clone(), &ns);
        for name in ["peer-broken", "peer-badtoken", "peer-norbac"] {
            let ev = eventually(20, "a MemberUnavailable event on the broken peer Secret", || async {
                events.list(&ListParams::default()).await.ok()?.items.into_iter().find(|e| {
                    e.reason.as_deref() == Some("MemberUnavailable")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                })
            })
            .await;
            assert!(ev.note.unwrap_or_default().contains("other members keep syncing"));
        }
        // Throughout, the healthy member never flipped.
        let still = member_is(&c1, &ns, &good, "Reachable", "True", "Connected", 1).await;
        assert_eq!(still.last_transition_time, healthy.last_transition_time);
        let secrets = Api::<Secret>::namespaced(c1.clone(), &ns);
        for name in ["peer-broken", "peer-badtoken", "peer-norbac"] {
            secrets.delete(name, &DeleteParams::default()).await.unwrap();
        }
        // Their ClusterSetMembers go with them.
        let members: Api<ClusterSetMember> = Api::namespaced(c1.clone(), &ns);
        eventually(30, "the broken members' ClusterSetMembers gone", || async {
            let names: Vec<String> = members.list(&ListParams::default()).await.ok()?.items.into_iter().filter_map(|m| m.metadata.name).collect();
            (names == vec![good.clone()]).then_some(())
        })
        .await;
        // Let everything settle first (the controller-manager may still be publishing slices):
        // the controller's write count must stand still for 3 s.
        settled_writes(port, &ctl).await;

        // Restart: nothing changed, so nothing is written, even after complete passes that saw
        // the peer connected (not just because the sync had not started yet).
        ctl.terminate().await;
        let mut ctl = controller(&lab, 1, &ns, port);
        eventually(20, "restarted controller ready", || async { readyz(port).await.then_some(()) }).await;
        let peer_up = format!("causeway_controller_peer_up{{cluster=\"{id2}\"}}");
        let passes_with_peer = eventually(30, "the restarted controller sees the peer up", || async {
            let text = metrics(port).await?;
            (sample(&text, &peer_up) == Some(1.0)).then(|| sample(&text, "causeway_controller_sync_passes_total"))?
        })
        .await;
        eventually(20, "two more complete sync passes with the peer up", || async {
            let text = metrics(port).await?;
            let passes = sample(&text, "causeway_controller_sync_passes_total")?;
            (passes >= passes_with_peer + 2.0 && sample(&text, &peer_up) == Some(1.0)).then_some(())
        })
        .await;
        let text = metrics(port).await.unwrap();
        let written: Vec<&str> = text.lines().filter(|l| l.starts_with("causeway_controller_api_writes_total")).collect();
        assert_eq!(writes(&text), 0, "a restart that finds nothing to change writes nothing: {written:?}");
        assert_eq!(sample(&text, "causeway_controller_clusterset_member"), Some(1.0), "{text}");

        // Peer apiserver down: its endpoints stay for the grace period, then are withdrawn; the
        // import stays because cluster 1 still exports. The member says so while it happens.
        let down = Instant::now();
        let paths = lab.paths.clone();
        causeway_lab::process::stop_one(&paths.pid_dir(), "c2-kube-apiserver", Duration::from_secs(5));
        let unreachable = member_is(&c1, &ns, &good, "Reachable", "False", "Unreachable", 4).await;
        assert!(unreachable.last_transition_time.0 > healthy.last_transition_time.0);
        let in_grace = member_is(&c1, &ns, &good, "Stale", "True", "InGrace", 4).await;
        assert!(in_grace.message.contains("kept until"), "{}", in_grace.message);
        eprintln!("member Unreachable/InGrace {:.1} s after its apiserver stopped", down.elapsed().as_secs_f64());
        // While the peer is held, an unrelated unexport takes effect at once: its import goes
        // while the peer's endpoints (withdrawn in the same pass as imports at the end of the
        // grace period, before them) and the import only the peer exports are still there.
        Api::<ServiceExport>::namespaced(c1.clone(), &ns).delete("local1", &DeleteParams::default()).await.unwrap();
        eventually(10, "import local1 deleted in cluster 1", || async {
            (!import_exists(&c1, &ns, "local1").await).then_some(())
        })
        .await;
        eprintln!("unrelated import deleted {:.1} s after the peer's apiserver stopped", down.elapsed().as_secs_f64());
        assert!(sources(&c1, &ns).await.contains(&id2), "the unrelated import went before the peer's grace period ended:\n{}", ctl.log_text());
        assert!(import_exists(&c1, &ns, "only2").await, "within the grace period the import only the peer exports stays");
        if let Some(rest) = Duration::from_secs(2).checked_sub(down.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        assert!(sources(&c1, &ns).await.contains(&id2), "within the grace period the peer's endpoints stay");
        assert!(import_exists(&c1, &ns, "only2").await, "within the grace period the import only the peer exports stays");
        eventually(30, "the peer's endpoints withdrawn after the grace period", || async {
            (!sources(&c1, &ns).await.contains(&id2)).then_some(())
        })
        .await;
        eprintln!("peer endpoints withdrawn {:.1} s after its apiserver stopped (grace 4 s)", down.elapsed().as_secs_f64());
        eventually(10, "the import only the peer exports deleted after the grace period", || async {
            (!import_exists(&c1, &ns, "only2").await).then_some(())
        })
        .await;
        assert!(import_exists(&c1, &ns, "serve").await, "cluster 1 still exports serve");
        let expired = member_is(&c1, &ns, &good, "Stale", "True", "Expired", 10).await;
        assert_eq!(expired.last_transition_time, in_grace.last_transition_time, "InGrace to Expired is no transition of Stale");
        let status = status_json(&lab, &ns).await;
        let stale = member(&status, &good);
        assert_eq!(stale["reachable"], false, "{stale:#}");
        assert_eq!(stale["reason"], "Unreachable", "{stale:#}");
        assert_eq!(stale["controller"]["stale"]["reason"], "Expired", "{stale:#}");

        // Back: everything returns, once, with exactly the writes that re-create what was
        // withdrawn (no churn).
        let before_return = settled_writes(port, &ctl).await;
        causeway_lab::up::restart_apiserver(&paths, 2).await.unwrap();
        let back = Instant::now();
        let s = eventually(60, "the peer's endpoints back", || async {
            let s = sources(&c1, &ns).await;
            (s.len() == 2).then_some(s)
        })
        .await;
        assert!(s.contains(&id2));
        eprintln!("peer endpoints back {:.1} s after its apiserver returned", back.elapsed().as_secs_f64());
        member_is(&c1, &ns, &good, "Reachable", "True", "Connected", 20).await;
        member_is(&c1, &ns, &good, "Stale", "False", "Live", 20).await;
        let only2 = eventually(20, "import only2 and its slice back", || async {
            let s = service_sources(&c1, &ns, "only2").await;
            (s.len() == 1).then_some(s)
        })
        .await;
        assert_eq!(only2, vec![id2.clone()]);
        assert_eq!(sources(&c1, &ns).await.len(), 2, "no duplicate slices");
        let after_return = settled_writes(port, &ctl).await;
        let resync = sync_writes_since(&before_return, &after_return);
        eprintln!("sync writes on reconnect: {resync:?}");
        // serve: the peer's slice and status.clusters; only2: the import, its status.clusters
        // and its slice. Nothing else (no export conditions, no rewrites).
        let want: BTreeMap<String, u64> = [("sync_endpointslice", 2), ("sync_serviceimport", 1), ("sync_serviceimport_status", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(resync, want, "a reconnect re-creates what was withdrawn and nothing else:\n{}", ctl.log_text());
        // Member status is written on transitions only: Unreachable/InGrace, Expired, Live, plus
        // one per change of failure reason the controller saw (a restarting apiserver may answer
        // 403 for a moment before its RBAC cache is filled; the member shows that while it lasts).
        let log = ctl.log_text();
        assert!(!log.contains('\x1b'), "a log that is not a terminal has no colour codes:\n{log}");
        let reason_changes = reason_changes(&log);
        let text = metrics(port).await.unwrap();
        let member_writes: u64 = text
            .lines()
            .filter(|l| l.starts_with("causeway_controller_api_writes_total") && l.contains("clustersetmember"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        eprintln!("ClusterSetMember writes during the outage and return: {member_writes} (failure reason changes: {reason_changes})");
        assert!((3..=3 + reason_changes).contains(&member_writes), "one status write per transition: {member_writes} writes, {reason_changes} reason changes:\n{}", ctl.log_text());
        assert!(ctl.child.try_wait().unwrap().is_none(), "controller still runs");
        ctl.terminate().await;
    })
    .await;
}

#[test]
fn reason_changes_counts_changes_of_the_logged_reason() {
    let line = |r: &str| {
        format!(
            "ts  WARN causeway_controller::sync::cluster: watch of a member cluster failed; retrying cluster=c2 reason=\"{r}\" error=x\n"
        )
    };
    let log = [
        line("Unreachable"),
        line("Unreachable"),
        "other\n".into(),
        line("Forbidden"),
        line("Unreachable"),
    ]
    .concat();
    assert_eq!(reason_changes(&log), 2);
    assert_eq!(reason_changes(&line("Unreachable")), 0);
}
