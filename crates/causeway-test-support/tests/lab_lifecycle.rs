//! The lab's own lifecycle: `down` leaves no process (kube-proxies, kubelets, containerds and
//! the containers in the nodes' cgroups included), cgroup, mount, namespace, device or file (in
//! the lab directory or in the host directories the node daemons write to) behind; a dead
//! kube-proxy or kubelet is restarted by `up` alone; a lab started
//! with the older layout (one node in cluster 1) is grown to the current one by `up`, its pods
//! reaching the new node; bad input (a port in use, a half-written lab directory, an unknown
//! cluster index) gets a clear error and no leftovers.
//!
//! Ignored by default because it stops the shared lab: `make test` runs it last, alone
//! (`cargo test -p causeway-test-support --test lab_lifecycle -- --ignored`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::net::TcpListener;

use causeway_lab::layout::{DEFAULT_ETCD_PORT, VXLAN_DEVICE};
use causeway_lab::state::LabState;
use causeway_lab::{Error, LabPaths, UpOptions, netdev, process};
use causeway_test_support::lab;
use causeway_test_support::net::{EchoServer, probe_async};
use causeway_test_support::pods::TestPod;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams};

/// Turns the running lab into one started with the older layout (cluster 1 with node `c1-n1`
/// only: no `c1-n2` namespace, kube-proxy, Node object or flannel entries on `c1-n1`), then
/// checks that `up` adds `c1-n2` without restarting anything else, and that a pod on `c1-n1`
/// reaches one on `c1-n2` over flannel.1.
async fn older_layout_is_grown(paths: &LabPaths) {
    let mut state = LabState::load(paths).unwrap().unwrap();
    let c1n1 = state.node("c1-n1").unwrap();
    let c1n2 = state.node("c1-n2").unwrap();
    process::stop_one(
        &paths.pid_dir(),
        &c1n2.proxy_component(),
        std::time::Duration::from_secs(5),
    );
    causeway_lab::node_runtime::stop_node(paths, &c1n2).unwrap();
    netdev::run("ip", &["netns", "del", &c1n2.netns]).unwrap();
    let ns = c1n1.netns.as_str();
    netdev::run("ip", &["-n", ns, "route", "del", &c1n2.pod_cidr()]).unwrap();
    netdev::run(
        "ip",
        &[
            "-n",
            ns,
            "neigh",
            "del",
            &c1n2.pod_net.to_string(),
            "dev",
            VXLAN_DEVICE,
        ],
    )
    .unwrap();
    netdev::run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "bridge",
            "fdb",
            "del",
            &c1n2.vtep_mac,
            "dev",
            VXLAN_DEVICE,
        ],
    )
    .unwrap();
    let c1 = causeway_lab::admin_client(paths, 1).await.unwrap();
    Api::<Node>::all(c1.clone())
        .delete(&c1n2.name, &DeleteParams::default())
        .await
        .unwrap();
    state.nodes = vec![1, 2];
    state.save(paths).unwrap();
    let before: Vec<process::PidFile> = process::list(&paths.pid_dir());

    let grown = causeway_lab::up(paths, &UpOptions { clusters: 2 })
        .await
        .unwrap();
    assert!(!grown.started, "the control plane was reused");
    assert_eq!(grown.state.nodes, vec![2, 2]);
    assert!(
        LabState::load(paths).unwrap().unwrap().nodes == [2, 2],
        "state file records the grown layout"
    );
    let after = process::list(&paths.pid_dir());
    for p in &before {
        assert!(
            after.iter().any(|a| a.pid == p.pid),
            "{} (pid {}) was restarted",
            p.name,
            p.pid
        );
    }
    for component in [
        c1n2.proxy_component(),
        c1n2.kubelet_component(),
        c1n2.containerd_component(),
    ] {
        assert!(
            after
                .iter()
                .any(|p| p.name == component && process::alive(p.pid, &p.exe)),
            "{component} runs: {after:?}"
        );
    }
    let node = Api::<Node>::all(c1).get(&c1n2.name).await.unwrap();
    assert_eq!(node.spec.unwrap().pod_cidr.as_deref(), Some("10.42.2.0/24"));
    let route = netdev::run("ip", &["-n", ns, "route", "show", &c1n2.pod_cidr()]).unwrap();
    assert!(
        route.contains("via 10.42.2.0 dev flannel.1 onlink"),
        "c1-n1 learnt the route to its new sibling: {route:?}"
    );
    let server = TestPod::create(&paths.clone(), &c1n2, "grown");
    let client = TestPod::create(&paths.clone(), &c1n1, "grown");
    let echo = EchoServer::start(&server.netns, server.ip, 0);
    // A probe gives up after 1 s, when TCP would resend a lost first SYN: allow a second try.
    causeway_test_support::eventually(10, "pod on c1-n1 → pod on the added c1-n2", || async {
        (probe_async(&client.netns, echo.addr).await == Ok(client.ip.to_string())).then_some(())
    })
    .await;
}

/// Starts a pod (a container under containerd) on every node of the lab, so `down` has
/// containers, shims, overlay mounts and pod network namespaces to remove.
async fn run_a_pod_on_every_node(running: &causeway_test_support::Lab) {
    let images = causeway_lab::images::ImageSet::find(&causeway_lab::images::dir()).unwrap();
    let toolbox = images.reference("toolbox", None).unwrap();
    for cluster in 1..=2u8 {
        let ds = serde_json::json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "everywhere", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "everywhere"}},
             "template": {"metadata": {"labels": {"app": "everywhere"}}, "spec": {
               "nodeSelector": {causeway_lab::layout::LAB_NODE_LABEL: "true"},
               "containers": [{"name": "c", "image": toolbox, "imagePullPolicy": "Never",
                 "command": ["sleep", "3600"]}]}}}});
        let (ok, _, err) = running
            .kubectl_in(cluster, &["apply", "-f", "-"], Some(&ds.to_string()))
            .await;
        assert!(ok, "{err}");
        let pods: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(running.client(cluster.into()), "default");
        causeway_test_support::eventually(120, "a running pod on every node", || async {
            let list = pods
                .list(&kube::api::ListParams::default().labels("app=everywhere"))
                .await
                .ok()?;
            (list.items.len() == 2
                && list
                    .items
                    .iter()
                    .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")))
            .then_some(())
        })
        .await;
    }
}

fn assert_nothing_left(paths: &LabPaths, pids: &[process::PidFile], host_dirs: &[String]) {
    assert_eq!(
        causeway_lab::cgroup::lab_cgroups(),
        Vec::<String>::new(),
        "node cgroups left behind"
    );
    assert_eq!(
        causeway_lab::mounts::under(paths.root()),
        Vec::<std::path::PathBuf>::new(),
        "mounts under the lab directory left behind"
    );
    assert_eq!(
        causeway_lab::host_paths::leftovers(paths.root(), host_dirs),
        Vec::<std::path::PathBuf>::new(),
        "files of the lab left in host directories"
    );
    for p in pids {
        assert!(
            !process::alive(p.pid, &p.exe),
            "{} (pid {}) still runs",
            p.name,
            p.pid
        );
    }
    assert_eq!(
        netdev::lab_links(),
        Vec::<String>::new(),
        "lab devices left behind"
    );
    assert_eq!(
        netdev::lab_netns(),
        Vec::<String>::new(),
        "lab namespaces left behind"
    );
    assert!(
        !paths.root().exists(),
        "lab directory {} left behind",
        paths.root().display()
    );
    TcpListener::bind(("127.0.0.1", DEFAULT_ETCD_PORT)).expect("etcd port is free again");
}

#[tokio::test]
#[ignore = "stops the shared lab; run alone, last"]
async fn down_after_up_leaves_nothing_and_bad_input_is_handled() {
    let paths = LabPaths::from_env();
    // Start from a fresh two-cluster lab (earlier tests may have grown it to three).
    causeway_lab::down::down(&paths).unwrap();
    let kernel = || -> Vec<String> {
        causeway_lab::node_runtime::KUBELET_SYSCTLS
            .iter()
            .map(|(key, _)| std::fs::read_to_string(format!("/proc/sys/{key}")).unwrap())
            .collect()
    };
    let kernel_before = kernel();
    let running = lab(2).await;
    assert_eq!(
        kernel(),
        kernel_before,
        "the kubelets changed no host kernel setting ({:?})",
        causeway_lab::node_runtime::KUBELET_SYSCTLS
    );
    let pids = process::list(&paths.pid_dir());
    assert_eq!(
        pids.len(),
        19,
        "etcd + 2 apiservers + 2 controller-managers + 2 schedulers + 4 kube-proxies + 4 \
         kubelets + 4 containerds: {pids:?}"
    );
    assert!(pids.iter().all(|p| process::alive(p.pid, &p.exe)));
    let mut namespaces = netdev::lab_netns();
    namespaces.sort();
    assert_eq!(
        namespaces,
        ["cwl-c1-n1", "cwl-c1-n2", "cwl-c2-n1", "cwl-c2-n2"],
        "one namespace per node (no pods of other tests: this test runs alone)"
    );

    // An unknown cluster index is an error naming the range, not a panic.
    let err = running.state.check_index(7).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cluster 7 does not exist: the lab has clusters 1..=2"
    );

    run_a_pod_on_every_node(&running).await;
    let host_dirs = causeway_lab::host_paths::created(&paths);
    let containers: Vec<i32> = ["cwl-c1-n1", "cwl-c2-n2"]
        .iter()
        .flat_map(|n| causeway_lab::cgroup::pids(n))
        .collect();
    assert!(
        containers.len() > 4,
        "node cgroups hold daemons and containers: {containers:?}"
    );
    let removed = causeway_lab::down::down(&paths).unwrap();
    assert_eq!(removed.processes.len(), 19);
    assert_nothing_left(&paths, &pids, &host_dirs);
    for pid in containers {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} of a node cgroup still runs"
        );
    }

    // A port in use: one clear error naming the component and address, nothing left behind.
    {
        let _squatter = TcpListener::bind(("127.0.0.1", DEFAULT_ETCD_PORT)).unwrap();
        let err = causeway_lab::up(&paths, &UpOptions { clusters: 2 })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PortInUse { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("etcd") && msg.contains("127.0.0.1:32379"),
            "{msg}"
        );
        assert!(process::list(&paths.pid_dir()).is_empty());
        assert_eq!(netdev::lab_links(), Vec::<String>::new());
    }

    // A half-written lab directory from a killed run is cleaned up and replaced.
    std::fs::create_dir_all(paths.pid_dir()).unwrap();
    let half = LabState {
        clusters: 2,
        bin_dir: "/nonexistent".into(),
        etcd_port: DEFAULT_ETCD_PORT,
        complete: false,
        nodes: Vec::new(),
    };
    half.save(&paths).unwrap();
    std::fs::write(
        paths.pid_dir().join("etcd.pid"),
        "999999\n/nonexistent/etcd\n",
    )
    .unwrap();
    let info = causeway_lab::up(&paths, &UpOptions { clusters: 2 })
        .await
        .unwrap();
    assert!(info.started);
    eprintln!(
        "lab: two clusters and four nodes with kube-proxy up in {:.1} s (binaries cached)",
        info.seconds
    );
    assert_eq!(info.state.nodes, vec![2, 2]);
    // A dead kube-proxy does not make the lab look broken: the next `up` restarts only it.
    let proxy = process::list(&paths.pid_dir())
        .into_iter()
        .find(|p| p.name == "c2-n2-kube-proxy")
        .unwrap();
    process::stop_one(
        &paths.pid_dir(),
        &proxy.name,
        std::time::Duration::from_secs(5),
    );
    let etcd_before = process::list(&paths.pid_dir())
        .into_iter()
        .find(|p| p.name == "etcd")
        .unwrap();
    // Idempotent: a second up reuses it.
    // A dead kubelet likewise.
    process::stop_one(
        &paths.pid_dir(),
        "c1-n1-kubelet",
        std::time::Duration::from_secs(5),
    );
    let again = causeway_lab::up(&paths, &UpOptions { clusters: 2 })
        .await
        .unwrap();
    assert!(!again.started);
    let after = process::list(&paths.pid_dir());
    assert_eq!(after.len(), 19, "{after:?}");
    assert!(after.iter().all(|p| process::alive(p.pid, &p.exe)));
    assert!(
        after
            .iter()
            .any(|p| p.name == "etcd" && p.pid == etcd_before.pid),
        "the control plane was reused"
    );
    older_layout_is_grown(&paths).await;

    // Asking for more clusters grows the running lab; the first two keep running untouched.
    let before: Vec<u32> = process::list(&paths.pid_dir())
        .iter()
        .filter(|p| p.name.starts_with("c1-") || p.name.starts_with("c2-") || p.name == "etcd")
        .map(|p| p.pid)
        .collect();
    let grown = causeway_lab::up(&paths, &UpOptions { clusters: 3 })
        .await
        .unwrap();
    assert_eq!(grown.state.clusters, 3);
    let c3 = causeway_lab::admin_client(&paths, 3).await.unwrap();
    assert!(causeway_lab::ready::readyz(&c3).await, "cluster 3 serves");
    let after = process::list(&paths.pid_dir());
    for pid in &before {
        assert!(
            after
                .iter()
                .any(|p| p.pid == *pid && process::alive(p.pid, &p.exe)),
            "pid {pid} untouched"
        );
    }
    // Asking for fewer reuses it.
    let again = causeway_lab::up(&paths, &UpOptions { clusters: 2 })
        .await
        .unwrap();
    assert!(!again.started);

    let pids = process::list(&paths.pid_dir());
    let host_dirs = causeway_lab::host_paths::created(&paths);
    causeway_lab::down::down(&paths).unwrap();
    assert_nothing_left(&paths, &pids, &host_dirs);
}
