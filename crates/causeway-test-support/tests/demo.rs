//! `causeway-lab demo` on the shared lab, with fewer requests: the same library function the
//! command runs. It reuses the running lab (started here if absent, and then left running like
//! every other lab test) and must remove exactly what it added: namespace `demo`, its daemons,
//! pods and Lease, and netpeer's entries. Asserts the demo's claims: both clusters answer on the
//! ClusterSet VIP and on `serve.demo.svc.clusterset.local`, the migration loses no request, and
//! afterwards only cluster 2 answers.
//!
//! Runs the `causeway` binary of the same target directory (`make test` builds it first; after
//! changing causeway-cli, run `cargo build -p causeway-cli` before this test alone).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use causeway_lab::demo::client::Phase;
use causeway_lab::demo::{DemoOptions, demo};
use causeway_lab::{netdev, netns, process};
use causeway_test_support::lab;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;

fn causeway_bin() -> PathBuf {
    // target/debug/deps/demo-<hash> → target/debug/causeway
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("causeway");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p causeway-cli` (make test does)",
        bin.display()
    );
    bin
}

#[tokio::test]
async fn demo_migrates_serve_with_no_failed_request_and_cleans_up() {
    let lab = lab(2).await;
    let mut opts = DemoOptions::new(causeway_bin());
    opts.requests = 600;
    opts.grace = Duration::from_secs(2);
    let mut out = Vec::new();
    let result = demo(&lab.paths, &opts, &mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let report = match result {
        Ok(r) => r,
        Err(err) => panic!("demo failed: {err}\n{text}"),
    };
    eprintln!("{text}");
    assert!(
        !report.lab_started,
        "the lab was running: the demo must not own it"
    );
    assert_eq!(report.failed(), 0, "failed requests:\n{text}");
    assert!(report.total() >= 600, "{} requests", report.total());
    assert_eq!(report.dns_answer, report.vip, "DNS answers the VIP");
    let both = &report.tallies[Phase::Both as usize];
    assert!(
        both.from_cluster("1") > 0 && both.from_cluster("2") > 0,
        "{text}"
    );
    assert!(both.dns.0 > 0 && both.vip.0 > 0, "{text}");
    let migrating = &report.tallies[Phase::Migrating as usize];
    assert!(migrating.by_pod.contains_key("c2/serve-c2-2"), "{text}");
    let after = &report.tallies[Phase::After as usize];
    assert_eq!(
        after.from_cluster("1"),
        0,
        "cluster 1 answered after the move:\n{text}"
    );
    assert!(after.from_cluster("2") > 0, "{text}");

    // Removed exactly what it added; the lab itself keeps running.
    for (i, client) in (1u8..).zip(&lab.clients[..2]) {
        let ns = Api::<Namespace>::all(client.clone())
            .get_opt("demo")
            .await
            .unwrap();
        assert!(ns.is_none(), "namespace demo still exists in cluster {i}");
    }
    let pid_files: Vec<String> = process::list(&lab.paths.pod_pid_dir())
        .into_iter()
        .map(|p| p.name)
        .filter(|n| n.starts_with("demo-") || n.contains("-pdemo-"))
        .collect();
    assert!(pid_files.is_empty(), "demo processes left: {pid_files:?}");
    let namespaces: Vec<String> = netdev::lab_netns()
        .into_iter()
        .filter(|n| n.contains("-pdemo-"))
        .collect();
    assert!(namespaces.is_empty(), "demo pods left: {namespaces:?}");
    for node in lab.state.node_plans().unwrap() {
        if node.cluster > 2 {
            continue;
        }
        assert!(netns::exists(&node.netns), "node {} is gone", node.name);
        let routes = netdev::run(
            "ip",
            &["-n", &node.netns, "-4", "route", "show", "proto", "156"],
        )
        .unwrap();
        assert_eq!(routes.trim(), "", "netpeer routes left on {}", node.name);
    }
    assert!(
        causeway_lab::state::LabState::load(&lab.paths)
            .unwrap()
            .is_some()
    );
}
