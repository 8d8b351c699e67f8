//! The lab's data-plane nodes: two per cluster, Node objects carry flannel's annotations and match
//! the namespaces' real devices and flannel's intra-cluster entries; a real kube-proxy runs in
//! every node namespace and programs ClusterIPs from hand-made EndpointSlices, so pod → ClusterIP
//! → pod works on one node and across nodes over flannel.1 (both clusters), without
//! masquerading the client; pod processes are tracked by PID file and stopped on delete.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use causeway_lab::layout::VXLAN_DEVICE;
use causeway_lab::{NodePlan, netdev, netns, nodes, pods, process};
use causeway_test_support::net::{EchoServer, probe_async};
use causeway_test_support::pods::TestPod;
use causeway_test_support::{Lab, eventually, lab, with_temp_ns};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use serde_json::json;

/// The nodes of clusters 1 and 2 (other tests may have grown the shared lab to more clusters).
fn node_plans(lab: &Lab) -> Vec<NodePlan> {
    lab.state
        .node_plans()
        .unwrap()
        .into_iter()
        .filter(|n| n.cluster <= 2)
        .collect()
}

fn node(lab: &Lab, name: &str) -> NodePlan {
    lab.state.node(name).unwrap()
}

#[tokio::test]
async fn nodes_exist_with_flannel_annotations_and_run_kube_proxy() {
    let lab = lab(2).await;
    assert_eq!(lab.state.nodes[..2], [2, 2], "nodes per cluster");
    let plans = node_plans(&lab);
    assert_eq!(
        plans.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["c1-n1", "c1-n2", "c2-n1", "c2-n2"]
    );
    assert_eq!(
        plans
            .iter()
            .map(|n| (n.ip.to_string(), n.pod_cidr()))
            .collect::<Vec<_>>(),
        [
            ("198.51.100.11".to_owned(), "10.42.1.0/24".to_owned()),
            ("198.51.100.12".to_owned(), "10.42.2.0/24".to_owned()),
            ("198.51.100.21".to_owned(), "10.44.1.0/24".to_owned()),
            ("198.51.100.22".to_owned(), "10.44.2.0/24".to_owned()),
        ]
    );
    for plan in &plans {
        let api: Api<Node> = Api::all(lab.client(plan.cluster.into()));
        let node = api.get(&plan.name).await.unwrap();
        let ann = node.metadata.annotations.clone().unwrap_or_default();
        let mac = netdev::run(
            "ip",
            &["-n", &plan.netns, "-br", "link", "show", VXLAN_DEVICE],
        )
        .unwrap();
        assert!(mac.contains(&plan.vtep_mac), "{}: {mac}", plan.name);
        assert_eq!(
            ann.get("flannel.alpha.coreos.com/public-ip"),
            Some(&plan.ip.to_string())
        );
        assert_eq!(
            ann.get("flannel.alpha.coreos.com/backend-type")
                .map(String::as_str),
            Some("vxlan")
        );
        assert_eq!(
            ann.get("flannel.alpha.coreos.com/kube-subnet-manager")
                .map(String::as_str),
            Some("true")
        );
        let data: serde_json::Value =
            serde_json::from_str(&ann["flannel.alpha.coreos.com/backend-data"]).unwrap();
        assert_eq!(data, json!({"VNI": 1, "VtepMAC": plan.vtep_mac}));
        let spec = node.spec.clone().unwrap();
        assert_eq!(spec.pod_cidr, Some(plan.pod_cidr()));
        assert_eq!(spec.pod_cidrs, Some(vec![plan.pod_cidr()]));
        let addresses = node.status.unwrap().addresses.unwrap();
        assert!(
            addresses
                .iter()
                .any(|a| a.type_ == "InternalIP" && a.address == plan.ip.to_string()),
            "{addresses:?}"
        );

        // kube-proxy runs (PID file, same executable) and is healthy inside the namespace.
        let proxy = process::list(&lab.paths.pid_dir())
            .into_iter()
            .find(|p| p.name == plan.proxy_component())
            .unwrap_or_else(|| panic!("no PID file for {}", plan.proxy_component()));
        assert!(process::alive(proxy.pid, &proxy.exe));
        let healthz: SocketAddr = nodes::PROXY_HEALTHZ.parse().unwrap();
        let (status, _) = netns::http_get(&plan.netns, healthz, "/healthz").unwrap();
        assert_eq!(status, 200, "{} kube-proxy /healthz", plan.name);
        let ours = std::fs::read_link(format!("/proc/{}/ns/net", proxy.pid)).unwrap();
        let ns_inode = std::fs::metadata(netns::path(&plan.netns)).unwrap();
        assert_eq!(
            ours.display().to_string(),
            format!("net:[{}]", std::os::unix::fs::MetadataExt::ino(&ns_inode)),
            "kube-proxy of {} runs in its node namespace",
            plan.name
        );

        // flanneld's intra-cluster entries towards every sibling (none towards the other cluster).
        let fdb = netdev::run(
            "ip",
            &[
                "netns",
                "exec",
                &plan.netns,
                "bridge",
                "fdb",
                "show",
                "dev",
                VXLAN_DEVICE,
            ],
        )
        .unwrap();
        for other in plans.iter().filter(|o| o.name != plan.name) {
            let route = netdev::run(
                "ip",
                &["-n", &plan.netns, "route", "show", &other.pod_cidr()],
            )
            .unwrap();
            let neigh = netdev::run(
                "ip",
                &[
                    "-n",
                    &plan.netns,
                    "neigh",
                    "show",
                    &other.pod_net.to_string(),
                ],
            )
            .unwrap();
            let entry = format!("{} dst {}", other.vtep_mac, other.ip);
            if other.cluster == plan.cluster {
                assert!(
                    route.contains(&format!("via {} dev flannel.1 onlink", other.pod_net)),
                    "{} → {}: {route:?}",
                    plan.name,
                    other.name
                );
                assert!(neigh.contains(&other.vtep_mac), "{}: {neigh:?}", plan.name);
                assert!(fdb.contains(&entry), "{}: {fdb}", plan.name);
            } else {
                assert!(!fdb.contains(&entry), "{}: {fdb}", plan.name);
            }
        }

        // Containment: no default route in a node namespace.
        let routes = netdev::run("ip", &["-n", &plan.netns, "route", "show", "default"]).unwrap();
        assert!(routes.trim().is_empty(), "{}: {routes}", plan.name);
    }
}

/// Creates a selector-less Service (port 80 → 8080) and an EndpointSlice pointing at `ip`.
async fn service_for(client: &kube::Client, ns: &str, name: &str, ip: Ipv4Addr) -> Ipv4Addr {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .unwrap();
    let svc = Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-lab"), "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip.to_string()]}],
        "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]
    }))
    .unwrap();
    Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &slice)
        .await
        .unwrap();
    svc.spec.unwrap().cluster_ip.unwrap().parse().unwrap()
}

#[tokio::test]
async fn kube_proxy_serves_a_cluster_ip_on_one_node_and_across_nodes() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        // (cluster, client node, server node)
        for (cluster, client_node, server_node) in [
            (1u8, "c1-n1", "c1-n1"),
            (1, "c1-n2", "c1-n1"),
            (2, "c2-n1", "c2-n2"),
        ] {
            let server = TestPod::create(&lab.paths, &node(&lab, server_node), "srv");
            let client = TestPod::create(&lab.paths, &node(&lab, client_node), "cli");
            let echo = EchoServer::start(&server.netns, server.ip, 8080);
            assert_eq!(echo.addr.port(), 8080);
            // Pod to pod first: same node over cni0, or across nodes over flannel.1. A probe gives
            // up after 1 s, when TCP would resend a lost first SYN into a new pod: allow retries.
            let seen = eventually(10, &format!("cluster {cluster} pod → pod"), || async {
                probe_async(&client.netns, echo.addr).await.ok()
            })
            .await;
            assert_eq!(seen, client.ip.to_string(), "cluster {cluster} pod → pod");

            let t0 = Instant::now();
            let name = format!("echo-{client_node}");
            let vip = service_for(&lab.client(cluster.into()), &ns, &name, server.ip).await;
            let vip_addr = SocketAddr::from((vip, 80));
            let seen = eventually(20, &format!("ClusterIP {vip} in cluster {cluster}"), || {
                let ns = client.netns.clone();
                async move { probe_async(&ns, vip_addr).await.ok() }
            })
            .await;
            eprintln!(
                "cluster {cluster}: {client_node} → ClusterIP {vip} → {server_node} after {:?}",
                t0.elapsed()
            );
            assert_eq!(
                seen,
                client.ip.to_string(),
                "kube-proxy keeps the client IP"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn pod_processes_are_tracked_and_stopped_on_delete() {
    let lab = lab(2).await;
    let n = node(&lab, "c2-n2");
    let pod = pods::create(
        &lab.paths,
        &n,
        &causeway_test_support::unique_name("sleeper"),
    )
    .unwrap();
    assert!(netns::exists(&pod.netns));
    assert!(pod.netns.starts_with("cwl-c2-p"));
    let started = pods::spawn(
        &lab.paths,
        &pod,
        "sleep",
        "/bin/sleep".as_ref(),
        &["300".to_owned()],
    )
    .unwrap();
    let exe = std::fs::read_link(format!("/proc/{}/exe", started.pid)).unwrap();
    assert!(process::alive(started.pid, &exe));
    let recorded = process::list(&lab.paths.pod_pid_dir());
    assert!(
        recorded.iter().any(|p| p.pid == started.pid),
        "{recorded:?}"
    );
    // Addresses are unique: a second pod on the same node gets another one.
    let other = pods::create(&lab.paths, &n, &causeway_test_support::unique_name("other")).unwrap();
    assert_ne!(other.ip, pod.ip);
    pods::delete(&lab.paths, &other).unwrap();

    pods::delete(&lab.paths, &pod).unwrap();
    assert!(!process::alive(started.pid, &exe), "pod process stopped");
    assert!(!netns::exists(&pod.netns));
    let veths = netdev::run("ip", &["-n", &n.netns, "-br", "link"]).unwrap();
    assert!(!veths.contains(&pod.node_veth), "{veths}");
}
