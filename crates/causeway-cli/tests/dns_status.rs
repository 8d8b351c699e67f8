//! `causeway status`'s check of whether clusterset.local resolves from inside the cluster, on the
//! lab: real `causeway dns` processes on cluster 1's lab bridge address behind real ClusterIP
//! Services, reached through the real kube-proxy of node `c1-n1` by running status in that
//! node's network namespace (`ip netns exec`), as on a node.
//!
//! The lab runs no cluster DNS (no kube-system/kube-dns), so the "cluster DNS" here is a Service
//! named with `--cluster-dns-service`: once a causeway dns that serves clusterset.local (standing
//! for a CoreDNS with the stub zone), once a causeway dns serving another zone (standing for a
//! CoreDNS without it, which does not resolve the name). CoreDNS itself is not run.

// The lean build (`--no-default-features`) has no `dns` command.
#![cfg(feature = "dns")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::net::SocketAddr;

use causeway_lab::{ClusterPlan, NodePlan};
use causeway_test_support::daemon::Daemon;
use causeway_test_support::dns::free_port;
use causeway_test_support::{Lab, eventually, lab, rbac, with_temp_ns};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const DNS_RBAC: &str = include_str!("../../../deploy/dns/rbac.yaml");
const CLUSTER: u8 = 1;

/// `causeway dns` for `zone` on the cluster's lab bridge address (reachable from its nodes), not
/// writing conditions.
fn start_dns(lab: &Lab, name: &str, zone: &str) -> (Daemon, SocketAddr) {
    let ip = ClusterPlan::new(CLUSTER).unwrap().api_ip;
    let addr = SocketAddr::from((ip, free_port(ip)));
    let kubeconfig = lab.paths.user_kubeconfig(CLUSTER, "causeway-dns");
    let args: Vec<String> = [
        "dns",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--listen",
        &addr.to_string(),
        "--admin-addr",
        "127.0.0.1:0",
        "--zone",
        zone,
        "--write-conditions=false",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let daemon = Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        name,
        &args,
        &[("CAUSEWAY_LOG", "info,kube=warn")],
        lab.paths.root(),
    );
    (daemon, addr)
}

/// A selector-less Service on `port` (UDP and TCP) whose one endpoint is `backend`, as the
/// causeway-dns Service or a cluster DNS Service would route.
async fn dns_service(client: &kube::Client, ns: &str, name: &str, port: u16, backend: SocketAddr) {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"ports": [
            {"name": "dns", "port": port, "protocol": "UDP", "targetPort": backend.port()},
            {"name": "dns-tcp", "port": port, "protocol": "TCP", "targetPort": backend.port()},
        ]},
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {
            "name": format!("{name}-lab"),
            "labels": {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "causeway-test",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [backend.ip().to_string()], "conditions": {"ready": true}}],
        "ports": [
            {"name": "dns", "port": backend.port(), "protocol": "UDP"},
            {"name": "dns-tcp", "port": backend.port(), "protocol": "TCP"},
        ],
    }))
    .unwrap();
    Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &slice)
        .await
        .unwrap();
}

/// `causeway status -o json` with `args`, in node `netns` when given: its `dns.checks`.
async fn status_dns(lab: &Lab, netns: Option<&str>, ns: &str, args: &[&str]) -> Vec<Value> {
    let kubeconfig = lab.paths.admin_kubeconfig(CLUSTER).display().to_string();
    let bin = env!("CARGO_BIN_EXE_causeway");
    let mut command: Vec<&str> = Vec::new();
    if let Some(netns) = netns {
        command.extend(["ip", "netns", "exec", netns]);
    }
    command.extend([
        bin,
        "status",
        "--kubeconfig",
        &kubeconfig,
        "-n",
        ns,
        "-o",
        "json",
        "--dns-timeout-ms",
        "1000",
    ]);
    command.extend(args);
    let out = tokio::process::Command::new(command[0])
        .args(&command[1..])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    report["dns"]["checks"].as_array().unwrap().clone()
}

fn result(check: &Value) -> (&str, &str) {
    (
        check["result"].as_str().unwrap(),
        check["detail"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn status_tells_whether_clusterset_local_resolves_from_inside_the_cluster() {
    let lab = lab(2).await;
    let admin = lab.client(CLUSTER.into());
    rbac::install_for_user(&admin, DNS_RBAC, "causeway-dns").await;
    with_temp_ns(&lab, |lab, ns| async move {
        let admin = lab.client(CLUSTER.into());
        let node = NodePlan::new(&ClusterPlan::new(CLUSTER).unwrap(), 1).unwrap();
        let (_served, served_addr) =
            start_dns(&lab, &format!("status-dns-{ns}"), "clusterset.local");
        let (_other, other_addr) = start_dns(&lab, &format!("status-other-{ns}"), "example.org");
        dns_service(&admin, &ns, "causeway-dns", 53, served_addr).await;
        dns_service(&admin, &ns, "no-stub", 53, other_addr).await;
        // The same server on port 5353: this sandbox's network answers every UDP packet to port
        // 53 itself (NXDOMAIN, whatever the address), so "unreachable" shows only elsewhere.
        dns_service(&admin, &ns, "causeway-dns-5353", 5353, served_addr).await;
        let causeway_dns = format!("{ns}/causeway-dns");
        let no_stub = format!("{ns}/no-stub");
        let cluster_ip = |name: &'static str| {
            let services = Api::<Service>::namespaced(admin.clone(), &ns);
            async move {
                services
                    .get(name)
                    .await
                    .unwrap()
                    .spec
                    .unwrap()
                    .cluster_ip
                    .unwrap()
            }
        };
        let ip_53 = cluster_ip("causeway-dns").await;
        let ip_5353 = cluster_ip("causeway-dns-5353").await;

        // On the node: the causeway-dns Service resolves; a cluster DNS without the stub zone
        // answers, but does not resolve the name. (kube-proxy and the servers' initial lists
        // may take a moment.)
        let checks = eventually(
            30,
            "status on the node to resolve through causeway-dns",
            || {
                let (lab, ns, no_stub, causeway_dns, netns) =
                    (&lab, &ns, &no_stub, &causeway_dns, &node.netns);
                async move {
                    let checks = status_dns(
                        lab,
                        Some(netns),
                        ns,
                        &[
                            "--cluster-dns-service",
                            no_stub,
                            "--dns-service",
                            causeway_dns,
                        ],
                    )
                    .await;
                    (result(&checks[1]).0 == "resolves" && result(&checks[0]).0 != "cannot reach")
                        .then_some(checks)
                }
            },
        )
        .await;
        assert_eq!(checks[0]["server"], "cluster DNS");
        assert_eq!(checks[0]["service"], no_stub.as_str());
        let (res, detail) = result(&checks[0]);
        assert_eq!(res, "does not resolve", "{detail}");
        assert!(
            detail.contains("REFUSED") || detail.contains("Refused"),
            "{detail}"
        );
        assert!(detail.contains("coredns.md"), "{detail}");
        assert_eq!(checks[1]["server"], "causeway-dns");
        assert_eq!(checks[1]["address"], format!("{ip_53}:53").as_str());
        assert_eq!(result(&checks[1]), ("resolves", "schema version 1.0.0"));

        // A cluster DNS that forwards the zone (here: the same server) resolves it.
        let on_5353 = format!("{ns}/causeway-dns-5353");
        let checks = status_dns(
            &lab,
            Some(&node.netns),
            &ns,
            &[
                "--cluster-dns-service",
                &causeway_dns,
                "--dns-service",
                &on_5353,
            ],
        )
        .await;
        assert_eq!(result(&checks[0]).0, "resolves", "{checks:?}");
        assert_eq!(result(&checks[1]).0, "resolves", "{checks:?}");
        assert_eq!(checks[1]["address"], format!("{ip_5353}:5353").as_str());

        // The default search finds the lab's real cluster DNS (CoreDNS behind kube-system/kube-dns,
        // with no stub zone for clusterset.local): status says it does not resolve, and how to fix.
        let checks = status_dns(
            &lab,
            Some(&node.netns),
            &ns,
            &["--dns-service", &causeway_dns],
        )
        .await;
        let (res, detail) = result(&checks[0]);
        assert_eq!(res, "does not resolve", "{detail}");
        assert_eq!(checks[0]["service"], "kube-system/kube-dns");
        assert!(detail.contains("coredns.md"), "{detail}");

        // A cluster DNS Service that does not exist: status says so and names the flag.
        let missing = format!("{ns}/no-such-dns");
        let checks = status_dns(
            &lab,
            Some(&node.netns),
            &ns,
            &[
                "--cluster-dns-service",
                &missing,
                "--dns-service",
                &causeway_dns,
            ],
        )
        .await;
        let (res, detail) = result(&checks[0]);
        assert_eq!(res, "no service", "{detail}");
        assert_eq!(checks[0]["service"], missing.as_str());
        assert!(detail.contains("--cluster-dns-service"), "{detail}");

        // Off the cluster's network (this host has no kube-proxy), the ClusterIP is unreachable,
        // and status says where to run it instead.
        let checks = status_dns(
            &lab,
            None,
            &ns,
            &["--cluster-dns-service", &on_5353, "--dns-service", &on_5353],
        )
        .await;
        for check in &checks {
            let (res, detail) = result(check);
            assert_eq!(res, "cannot reach", "{detail}");
            assert!(
                detail.starts_with(&format!("cannot reach {ip_5353} from here"))
                    && detail.ends_with("run status on a node or in a pod"),
                "{detail}"
            );
        }

        // A missing causeway-dns Service is named, and --skip-dns skips the check.
        let checks = status_dns(
            &lab,
            Some(&node.netns),
            &ns,
            &["--dns-service", &format!("{ns}/nope")],
        )
        .await;
        assert_eq!(result(&checks[1]).0, "no service");
        assert!(
            status_dns(&lab, None, &ns, &["--skip-dns"])
                .await
                .is_empty()
        );
    })
    .await;
}
