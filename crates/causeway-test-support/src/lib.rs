//! Test support for integration tests against the lab's real apiservers.
//!
//! [`lab`] returns admin clients for clusters 1..=N of the running lab, starting it when absent
//! and reusing it when present (the lab's lock makes parallel test binaries safe).
//! [`with_temp_ns`] runs a test body in a fresh namespace created in every cluster and deleted
//! afterwards, also when the body panics, so tests can run in parallel. [`pods::TestPod`] is a lab
//! pod namespace deleted on drop; [`net`] probes TCP between pods. [`mock_api`] is a mock
//! apiserver for unit tests that need no lab.

pub mod admin;
pub mod daemon;
pub mod dns;
pub mod exported;
pub mod mock_api;
pub mod net;
pub mod pods;
pub mod rbac;
pub mod workloads;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};

use causeway_lab::state::LabState;
use causeway_lab::{LabPaths, UpOptions};
use futures::FutureExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};

/// Clients for the running lab.
#[derive(Clone)]
pub struct Lab {
    /// Admin clients, index 0 = cluster 1.
    pub clients: Vec<kube::Client>,
    /// The lab's paths (kubeconfigs, logs).
    pub paths: LabPaths,
    /// The lab's state (binary directory, cluster count).
    pub state: LabState,
}

impl Lab {
    /// Admin client of cluster `index` (1-based).
    pub fn client(&self, index: usize) -> kube::Client {
        self.clients[index - 1].clone()
    }

    /// Path of the lab's kubectl.
    pub fn kubectl(&self) -> std::path::PathBuf {
        self.state.bin_dir.join("kubectl")
    }

    /// Runs the lab's kubectl as admin of cluster `index` with `args` (and `stdin`, if any);
    /// returns its exit success, stdout and stderr.
    pub async fn kubectl_in(
        &self,
        index: u8,
        args: &[&str],
        stdin: Option<&str>,
    ) -> (bool, String, String) {
        use tokio::io::AsyncWriteExt;
        let mut child = match tokio::process::Command::new(self.kubectl())
            .arg(format!(
                "--kubeconfig={}",
                self.paths.admin_kubeconfig(index).display()
            ))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!("cannot run kubectl: {e}"),
        };
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(text) = stdin {
                let _ = pipe.write_all(text.as_bytes()).await;
            }
            drop(pipe);
        }
        match child.wait_with_output().await {
            Ok(out) => (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ),
            Err(e) => panic!("kubectl did not finish: {e}"),
        }
    }
}

/// Clients for a lab of at least `clusters` clusters, started if needed.
///
/// Panics with the lab's error (which names the failing component and its log) when it cannot
/// start; tests cannot run without it.
pub async fn lab(clusters: u8) -> Lab {
    let paths = LabPaths::from_env();
    let running = LabState::load(&paths)
        .ok()
        .flatten()
        .filter(|s| s.complete && s.clusters >= clusters);
    let reused = running.is_some();
    let state = match running {
        Some(state) => state,
        None => match causeway_lab::up(&paths, &UpOptions { clusters }).await {
            Ok(info) => info.state,
            Err(err) => panic!("the lab could not start: {err}"),
        },
    };
    let mut clients = Vec::new();
    for i in 1..=state.clusters {
        match causeway_lab::admin_client(&paths, i).await {
            Ok(c) => clients.push(c),
            Err(err) => panic!("no client for lab cluster {i}: {err}"),
        }
    }
    if reused {
        // A lab started by an older build has that build's CRDs: apply this build's (server-side
        // apply, a no-op when nothing changed).
        for (i, client) in (1..).zip(&clients) {
            if let Err(err) = causeway_lab::ready::install_crds(client, i).await {
                panic!("cannot apply the CRDs to lab cluster {i}: {err}");
            }
        }
    }
    Lab {
        clients,
        paths,
        state,
    }
}

/// A namespace name unique to this process and call.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xffff)
}

/// Runs `body(lab, namespace)` with `namespace` created in every cluster of the lab; deletes it
/// everywhere afterwards, with the cluster-scoped Nodes the body labelled
/// `causeway-test=<namespace>` (kubelet-less Nodes for its pods, peer Nodes for netpeer), then
/// re-raises a panic of the body. A failed test leaves nothing behind.
pub async fn with_temp_ns<F, Fut>(lab: &Lab, body: F)
where
    F: FnOnce(Lab, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let ns = unique_name("cw-test");
    for client in &lab.clients {
        let api: Api<Namespace> = Api::all(client.clone());
        let obj = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        if let Err(err) = api.create(&PostParams::default(), &obj).await {
            panic!("failed to create test namespace {ns}: {err}");
        }
    }
    let result = AssertUnwindSafe(body(lab.clone(), ns.clone()))
        .catch_unwind()
        .await;
    for client in &lab.clients {
        // No kubelet finishes a graceful pod deletion here: remove pods at once, or the
        // namespace would stay Terminating forever.
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), &ns);
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        let _ = pods
            .delete_collection(&now, &kube::api::ListParams::default())
            .await;
        let api: Api<Namespace> = Api::all(client.clone());
        let _ = api.delete(&ns, &DeleteParams::default()).await;
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
        let _ = nodes
            .delete_collection(
                &DeleteParams::default(),
                &kube::api::ListParams::default().labels(&format!("causeway-test={ns}")),
            )
            .await;
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `secs` seconds with `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
