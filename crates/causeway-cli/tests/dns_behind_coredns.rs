//! The stub zone of deploy/dns/coredns.md, on a real CoreDNS: the Corefile block is taken from
//! the document itself (only the causeway-dns address and the listening port are filled in), run
//! by CoreDNS built from the Go module proxy (tools/coredns/build.sh, cached), in front of the real
//! `causeway dns` fed from the lab's apiserver. Two CoreDNS releases run it: v1.14.7, and v1.8.0,
//! the one kubeadm 1.21 and RKE1's Kubernetes 1.21 deploy (the migration's old cluster). Clients ask CoreDNS, as pods do, over UDP and TCP:
//! a ClusterSetIP name, an SRV, NXDOMAIN for an unknown service, and a headless answer too big
//! for UDP, which comes back truncated over UDP and whole over TCP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use causeway_api::ServiceImport;
use causeway_dns::proto::op::ResponseCode;
use causeway_dns::proto::rr::{RData, RecordType};
use causeway_test_support::daemon::Daemon;
use causeway_test_support::dns::{addrs, free_port, tcp, try_udp};
use causeway_test_support::{eventually, lab, rbac, with_temp_ns};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use serde_json::json;

const GUIDE: &str = include_str!("../../../deploy/dns/coredns.md");
const RBAC: &str = include_str!("../../../deploy/dns/rbac.yaml");
const USER: &str = "causeway-dns";
const CLUSTER: u8 = 1;
/// Ready endpoints of the big headless service: 60 A records do not fit in 512 bytes.
const BIG: u8 = 60;

/// CoreDNS of `wrapper` (tools/coredns/build.sh's argument: "" for v1.14.7, "v1.8.0"), built or
/// found in its cache.
fn coredns_bin(wrapper: &str) -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/coredns/build.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args((!wrapper.is_empty()).then_some(wrapper))
        .output()
        .expect("run tools/coredns/build.sh");
    assert!(
        out.status.success(),
        "tools/coredns/build.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// The first fenced block of the guide that declares the `clusterset.local` server block.
fn guide_block() -> String {
    GUIDE
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|b| b.trim_start_matches(|c: char| c.is_ascii_alphanumeric()))
        .find(|b| b.contains("clusterset.local:53 {"))
        .expect("deploy/dns/coredns.md shows a clusterset.local:53 block")
        .trim()
        .to_owned()
}

/// The guide's block with the address filled in, on `port` and loopback only, next to a root
/// block that answers nothing (standing for the cluster's `.:53` block).
fn corefile(causeway: SocketAddr, port: u16) -> String {
    let block = guide_block();
    assert!(
        block.contains("<causeway-dns ClusterIP>"),
        "the guide's block names the address to fill in: {block}"
    );
    let block = block
        .replace("<causeway-dns ClusterIP>", &causeway.to_string())
        .replace(
            "clusterset.local:53 {",
            &format!("clusterset.local:{port} {{\n    bind 127.0.0.1"),
        );
    format!(".:{port} {{\n    bind 127.0.0.1\n    errors\n}}\n{block}\n")
}

fn import(name: &str, spec: serde_json::Value) -> ServiceImport {
    let mut obj = json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "metadata": {"name": name},
    });
    obj["spec"] = spec;
    serde_json::from_value(obj).unwrap()
}

#[tokio::test]
async fn the_guides_stub_zone_on_coredns_1_14_serves_clusterset_local() {
    stub_zone_serves_clusterset_local(&coredns_bin("")).await;
}

/// Kubernetes 1.21's CoreDNS: the old cluster keeps its DNS and only gets the block.
#[tokio::test]
async fn the_guides_stub_zone_on_kubernetes_1_21_coredns_1_8_serves_clusterset_local() {
    let coredns = coredns_bin("v1.8.0");
    let version = std::process::Command::new(&coredns)
        .arg("-version")
        .output()
        .expect("coredns -version");
    assert!(
        String::from_utf8_lossy(&version.stdout).contains("CoreDNS-1.8.0"),
        "tools/coredns/build.sh v1.8.0 builds CoreDNS 1.8.0: {version:?}"
    );
    stub_zone_serves_clusterset_local(&coredns).await;
}

async fn stub_zone_serves_clusterset_local(coredns: &std::path::Path) {
    let coredns = coredns.to_owned();
    let lab = lab(2).await;
    rbac::install_for_user(&lab.client(CLUSTER.into()), RBAC, USER).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let client = lab.client(CLUSTER.into());
        let imports: Api<ServiceImport> = Api::namespaced(client.clone(), &ns);
        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
        let pp = PostParams::default();
        imports
            .create(
                &pp,
                &import(
                    "web",
                    json!({"type": "ClusterSetIP", "ips": ["10.43.77.7"],
                           "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
                ),
            )
            .await
            .unwrap();
        imports
            .create(
                &pp,
                &import(
                    "big",
                    json!({"type": "Headless",
                           "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
                ),
            )
            .await
            .unwrap();
        let endpoints: Vec<_> = (1..=BIG)
            .map(|i| json!({"addresses": [format!("10.42.9.{i}")], "conditions": {"ready": true}}))
            .collect();
        let big: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "big-c1", "labels": {
                "multicluster.kubernetes.io/service-name": "big",
                "multicluster.kubernetes.io/source-cluster": "c1",
            }},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            "endpoints": endpoints,
        }))
        .unwrap();
        slices.create(&pp, &big).await.unwrap();

        let causeway = SocketAddr::from(([127, 0, 0, 1], free_port(Ipv4Addr::LOCALHOST)));
        let kubeconfig = lab.paths.user_kubeconfig(CLUSTER, USER);
        let dns_args: Vec<String> = [
            "dns",
            "--kubeconfig",
            &kubeconfig.display().to_string(),
            "--listen",
            &causeway.to_string(),
            "--admin-addr",
            "127.0.0.1:0",
            "--write-conditions=false",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let _dns = Daemon::start(
            env!("CARGO_BIN_EXE_causeway").as_ref(),
            &format!("dns-{ns}"),
            &dns_args,
            &[("CAUSEWAY_LOG", "info,kube=warn")],
            lab.paths.root(),
        );

        let port = free_port(Ipv4Addr::LOCALHOST);
        let corefile_path = lab.paths.root().join(format!("Corefile-{ns}"));
        std::fs::write(&corefile_path, corefile(causeway, port)).unwrap();
        let core_args = vec!["-conf".to_owned(), corefile_path.display().to_string()];
        let core = Daemon::start(
            &coredns,
            &format!("coredns-{ns}"),
            &core_args,
            &[],
            lab.paths.root(),
        );
        let front = SocketAddr::from(([127, 0, 0, 1], port));
        let web = format!("web.{ns}.svc.clusterset.local.");

        // Through CoreDNS, as a pod asks: the VIP, once causeway dns has synced.
        let answer = eventually(30, "web's VIP through CoreDNS", || async {
            let msg = try_udp(front, &web, RecordType::A).await?;
            (addrs(&msg) == BTreeSet::from(["10.43.77.7".to_owned()])).then_some(msg)
        })
        .await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            addrs(&tcp(front, &web, RecordType::A).await),
            BTreeSet::from(["10.43.77.7".to_owned()]),
            "TCP through CoreDNS too: {}",
            core.log_text()
        );
        let srv = try_udp(front, &format!("_http._tcp.{web}"), RecordType::SRV)
            .await
            .expect("SRV reply");
        let targets: Vec<String> = srv
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some(format!("{} {}", s.port, s.target)),
                _ => None,
            })
            .collect();
        assert_eq!(targets, vec![format!("80 {web}")]);
        let missing = try_udp(
            front,
            &format!("nope.{ns}.svc.clusterset.local."),
            RecordType::A,
        )
        .await
        .expect("NXDOMAIN reply");
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);

        // Too big for UDP: truncated there, whole over TCP (the client's retry).
        let big_name = format!("big.{ns}.svc.clusterset.local.");
        let over_udp = try_udp(front, &big_name, RecordType::A)
            .await
            .expect("UDP reply for the big headless name");
        assert!(
            over_udp.metadata.truncation,
            "{BIG} A records over plain UDP come back with TC set; got {} answers",
            over_udp.answers.len()
        );
        let over_tcp = tcp(front, &big_name, RecordType::A).await;
        assert!(!over_tcp.metadata.truncation);
        let expected: BTreeSet<String> = (1..=BIG).map(|i| format!("10.42.9.{i}")).collect();
        assert_eq!(addrs(&over_tcp), expected, "every ready endpoint over TCP");
        std::fs::remove_file(&corefile_path).ok();
    })
    .await;
}
