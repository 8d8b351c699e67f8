//! The lab's own lifecycle: `down` leaves no process (kube-proxies in node namespaces included),
//! namespace, device or file behind; a dead kube-proxy is restarted by `up` alone; bad
//! input (a port in use, a half-written lab directory, an unknown cluster index) gets a clear
//! error and no leftovers.
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

use causeway_lab::layout::DEFAULT_ETCD_PORT;
use causeway_lab::state::LabState;
use causeway_lab::{Error, LabPaths, UpOptions, netdev, process};
use causeway_test_support::lab;

fn assert_nothing_left(paths: &LabPaths, pids: &[process::PidFile]) {
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
    let running = lab(2).await;
    let pids = process::list(&paths.pid_dir());
    assert_eq!(
        pids.len(),
        8,
        "etcd + 2 apiservers + 2 controller-managers + 3 kube-proxies: {pids:?}"
    );
    assert!(pids.iter().all(|p| process::alive(p.pid, &p.exe)));
    assert_eq!(
        netdev::lab_netns(),
        ["cwl-c1-n1", "cwl-c2-n1", "cwl-c2-n2"],
        "one namespace per node (no pods of other tests: this test runs alone)"
    );

    // An unknown cluster index is an error naming the range, not a panic.
    let err = running.state.check_index(7).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cluster 7 does not exist: the lab has clusters 1..=2"
    );

    let removed = causeway_lab::down::down(&paths).unwrap();
    assert_eq!(removed.processes.len(), 8);
    assert_nothing_left(&paths, &pids);

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
        "lab: two clusters and three nodes with kube-proxy up in {:.1} s (binaries cached)",
        info.seconds
    );
    assert_eq!(info.state.nodes, vec![1, 2]);
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
    let again = causeway_lab::up(&paths, &UpOptions { clusters: 2 })
        .await
        .unwrap();
    assert!(!again.started);
    let after = process::list(&paths.pid_dir());
    assert_eq!(after.len(), 8, "{after:?}");
    assert!(after.iter().all(|p| process::alive(p.pid, &p.exe)));
    assert!(
        after
            .iter()
            .any(|p| p.name == "etcd" && p.pid == etcd_before.pid),
        "the control plane was reused"
    );
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
    causeway_lab::down::down(&paths).unwrap();
    assert_nothing_left(&paths, &pids);
}
