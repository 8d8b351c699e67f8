//! What an operator sees of a daemon's build on the lab (issue #13, observability hygiene):
//! `causeway_build_info{version,commit} 1` on `/metrics`, a `starting` log line with the
//! version and commit, and the lab's `insecure-skip-tls-verify` kubeconfig warned about once per
//! process instead of kube's `Server cert bypassed` on every TLS handshake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use causeway_test_support::admin::{free_port, metrics};
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::{eventually, lab, rbac, unique_name, with_temp_ns};

const CONTROLLER_RBAC: &str = include_str!("../../../deploy/controller/rbac.yaml");
const DNS_RBAC: &str = include_str!("../../../deploy/dns/rbac.yaml");
const INSECURE_WARNING: &str = "TLS verification of the apiserver is disabled";

/// Waits for `daemon`'s `/metrics` on `port` and checks build info and its log.
async fn check(daemon: &Daemon, port: u16, ready_line: &str) {
    let text = eventually(30, "the admin server's /metrics", || async {
        metrics(port)
            .await
            .filter(|t| t.contains("causeway_build_info"))
    })
    .await;
    let expected = format!(
        "causeway_build_info{{version=\"{}\",commit=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION"),
        env!("CAUSEWAY_COMMIT")
    );
    assert!(text.contains(&expected), "{expected} missing from:\n{text}");
    // Several TLS handshakes have happened once the daemon is working.
    eventually(30, ready_line, || async {
        daemon.log_text().contains(ready_line).then_some(())
    })
    .await;
    let log = daemon.log_text();
    assert!(
        log.lines().next().is_some_and(|l| l.contains("starting")),
        "the first line announces the version:\n{log}"
    );
    let starting = log
        .lines()
        .find(|l| l.contains("starting"))
        .unwrap_or_else(|| panic!("no starting line in:\n{log}"));
    assert!(starting.contains(env!("CARGO_PKG_VERSION")), "{starting}");
    assert!(starting.contains(env!("CAUSEWAY_COMMIT")), "{starting}");
    assert_eq!(log.matches(INSECURE_WARNING).count(), 1, "{log}");
    assert!(!log.contains("Server cert bypassed"), "{log}");
}

#[tokio::test]
async fn controller_and_dns_expose_build_info_and_warn_about_insecure_tls_once() {
    let lab = lab(1).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let client = lab.client(1);
        rbac::install_for_user(&client, CONTROLLER_RBAC, "causeway-controller").await;
        rbac::install_for_user(&client, DNS_RBAC, "causeway-dns").await;
        let bin: &std::path::Path = env!("CARGO_BIN_EXE_causeway").as_ref();

        let port = free_port();
        let lease = unique_name("build-info");
        let args = controller_args(&lab, 1, &ns, &lease, &format!("127.0.0.1:{port}"), &[]);
        let controller = Daemon::start(bin, &lease, &args, &[], lab.paths.root());
        check(&controller, port, "lease acquired").await;

        let port = free_port();
        let kubeconfig = lab.paths.user_kubeconfig(1, "causeway-dns");
        let listen = format!("127.0.0.1:{}", free_port());
        let args: Vec<String> = [
            "dns",
            "--kubeconfig",
            &kubeconfig.display().to_string(),
            "--listen",
            &listen,
            "--admin-addr",
            &format!("127.0.0.1:{port}"),
            "--leader-elect",
            "false",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let dns = Daemon::start(
            bin,
            &unique_name("build-info-dns"),
            &args,
            &[],
            lab.paths.root(),
        );
        check(&dns, port, "DNS ready").await;
    })
    .await;
}
