//! `causeway netpeer` on the real kernel, in network namespaces of this test's own
//! (`cwl-npk-<n>`, deleted at the end), with peer Nodes in the lab's real cluster-2 apiserver.
//! Each namespace looks like a flannel VXLAN node: `eth0` (on the lab bridge as
//! 198.51.100.2xx/24 when the agent must reach the apiservers, else 192.0.2.1/24 on a veth of its
//! own), a default route via .254 of that subnet, `flannel.1` (VNI 1, port 8472, MTU 1450).
//! Proves, asserting on `ip route` / `ip neigh` / `bridge fdb` inside the namespace:
//!
//! * `--direct-routing`: a peer whose public IP is on-link (in `eth0`'s subnet) gets a plain
//!   route via that IP and no neighbour or FDB entry; an off-link peer gets flannel's VXLAN
//!   entries; when the on-link peer's public IP moves off-link, it switches to VXLAN entries;
//! * a VtepMAC change in the peer Node (a patch in the apiserver) replaces its neighbour and FDB
//!   entry and removes the old FDB entry; a public-IP change replaces the FDB entry;
//! * a peer whose route cannot carry flannel.1's MTU + 50 gets an MTU warning (agent log and
//!   `check`); a peer Node with another VNI is rejected by name;
//! * a VNI or UDP-port mismatch of the local flannel.1 fails `oneshot`, `check` and `run
//!   --dry-run` with an error naming the fix, and nothing is applied; so do a missing flannel.1
//!   (`oneshot`, `check`) and overlapping Service CIDRs (`check`, `run`, `run --dry-run`);
//! * flannel's masquerade in iptables-legacy: with NET_RAW, netpeer plans (`--dry-run`),
//!   applies and cleans up its own legacy chain, jumped to first; with NET_ADMIN only it plans
//!   its nftables table;
//! * a route left by the seed's create-routes.sh (proto boot) is adopted with a warning and
//!   removed by cleanup;
//! * the agent's condition: `/readyz` and `causeway_netpeer_config_error{reason}` follow a
//!   flannel.1 that goes missing, comes back with the wrong VNI, then right; the missing device
//!   is logged once, not every retry; a malformed peer Node shows in
//!   `causeway_netpeer_rejected_peers{reason}`.
//!
//! The peer Nodes use pod CIDRs in 10.77.0.0/16, outside cluster 2's 10.44.0.0/16, so agents of
//! other tests on the lab's nodes reject them and program nothing for them; this test's agent
//! (peer cluster CIDR 10.77.0.0/16) likewise ignores the lab's own Nodes. The condition story
//! uses 10.78.0.0/16 the same way, so the two lab stories can run at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::sync::atomic::{AtomicU32, Ordering};

use causeway_lab::layout::BRIDGE;
use causeway_lab::netdev;
use causeway_test_support::daemon::Daemon;
use causeway_test_support::net::http_get;
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name, with_temp_ns};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const PEER_RBAC: &str = include_str!("../../../deploy/netpeer/peer-rbac.yaml");
const CAUSEWAY: &str = env!("CARGO_BIN_EXE_causeway");
const LOCAL_CIDR: &str = "10.76.0.0/16";
const PEER_CIDR: &str = "10.77.0.0/16";
const DEV: &str = "flannel.1";

/// A flannel-like node namespace, deleted on drop (its veth goes with it).
struct NodeNs {
    name: String,
    /// `eth0`'s address, flannel's public IP of this node.
    ip: String,
}

impl NodeNs {
    /// With `lab_bridge`, `eth0` is a veth on the lab bridge (198.51.100.2xx/24, so the agent
    /// reaches the apiservers); otherwise a veth whose other end stays inside (192.0.2.1/24).
    /// The default route goes via .254 of that subnet, which makes every other subnet off-link.
    fn create(lab_bridge: bool) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = std::process::id() % 10_000 * 10 + SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("cwl-npk-{seq}");
        netdev::run("ip", &["netns", "add", &name]).unwrap();
        let ip = if lab_bridge {
            format!("198.51.100.{}", 200 + seq % 50)
        } else {
            "192.0.2.1".to_owned()
        };
        let ns = Self { name, ip };
        let gateway = ns.gateway();
        ns.ip(&["link", "set", "lo", "up"]);
        if lab_bridge {
            let host = format!("cwl-npk{seq}");
            netdev::run(
                "ip",
                &[
                    "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
                ],
            )
            .unwrap();
            netdev::run("ip", &["link", "set", &host, "master", BRIDGE, "up"]).unwrap();
        } else {
            ns.ip(&[
                "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
            ]);
            ns.ip(&["link", "set", "eth1", "up"]);
        }
        let cidr = format!("{}/24", ns.ip);
        for args in [
            &["addr", "add", &cidr, "dev", "eth0"][..],
            &["link", "set", "eth0", "up"],
            &["route", "add", "default", "via", &gateway, "dev", "eth0"],
        ] {
            ns.ip(args);
        }
        ns.add_flannel("1");
        ns
    }

    /// Creates `flannel.1` as flannel does, with VXLAN id `vni`.
    fn add_flannel(&self, vni: &str) {
        self.ip(&[
            "link",
            "add",
            DEV,
            "address",
            "0e:c0:76:00:00:01",
            "mtu",
            "1450",
            "type",
            "vxlan",
            "id",
            vni,
            "local",
            &self.ip,
            "dev",
            "eth0",
            "dstport",
            "8472",
            "nolearning",
        ]);
        self.ip(&["addr", "add", "10.76.1.0/32", "dev", DEV]);
        self.ip(&["link", "set", DEV, "up"]);
    }

    /// .254 of `eth0`'s subnet (nobody answers there; no test traffic leaves the subnet).
    fn gateway(&self) -> String {
        let (net, _) = self.ip.rsplit_once('.').unwrap();
        format!("{net}.254")
    }

    /// An on-link address of `eth0`'s subnet that no one uses.
    fn onlink_peer(&self) -> String {
        let (net, _) = self.ip.rsplit_once('.').unwrap();
        format!("{net}.190")
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        netdev::run("ip", &full).unwrap()
    }

    fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", self.name.as_str()];
        full.extend_from_slice(args);
        netdev::run("ip", &full).unwrap()
    }

    fn routes(&self) -> String {
        self.ip(&["-4", "route", "show", "proto", "156"])
    }

    fn neighbours(&self) -> String {
        self.ip(&["-4", "neigh", "show", "nud", "permanent"])
    }

    fn fdb(&self) -> String {
        self.exec(&["bridge", "fdb", "show", "dev", DEV])
    }

    /// Everything netpeer could touch, for before/after comparisons.
    fn snapshot(&self) -> String {
        let missing = !self
            .ip(&["-o", "link", "show"])
            .contains(&format!(": {DEV}:"));
        [
            self.ip(&["-4", "route", "show", "table", "main"]),
            self.neighbours(),
            if missing {
                format!("(no {DEV})")
            } else {
                self.fdb()
            },
            self.exec(&["nft", "list", "tables"]),
        ]
        .join("\n----\n")
    }

    /// `ip netns exec <ns> setpriv (only CAP_NET_ADMIN) causeway netpeer <args>`.
    fn netpeer_argv(&self, args: &[String]) -> Vec<String> {
        self.netpeer_argv_caps("+net_admin", args)
    }

    /// [`Self::netpeer_argv`] with the capabilities `caps` (setpriv syntax, e.g. `+net_admin`).
    fn netpeer_argv_caps(&self, caps: &str, args: &[String]) -> Vec<String> {
        let bounding = format!("--bounding-set=-all,{caps}");
        let mut full: Vec<String> = [
            "netns",
            "exec",
            &self.name,
            "setpriv",
            &bounding,
            "--inh-caps=-all",
            CAUSEWAY,
            "netpeer",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        full.extend_from_slice(args);
        full
    }

    /// Runs a netpeer subcommand to completion; (success, stdout + stderr).
    async fn netpeer(&self, args: &[String]) -> (bool, String) {
        self.netpeer_caps("+net_admin", args).await
    }

    /// [`Self::netpeer`] with the capabilities `caps`.
    async fn netpeer_caps(&self, caps: &str, args: &[String]) -> (bool, String) {
        let out = tokio::process::Command::new("ip")
            .args(self.netpeer_argv_caps(caps, args))
            .env("CAUSEWAY_LOG", "warn")
            .output()
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

impl Drop for NodeNs {
    fn drop(&mut self) {
        let _ = netdev::run("ip", &["netns", "del", &self.name]);
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn peer_node(name: &str, label: &str, public_ip: &str, vni: u32, mac: &str, cidr: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {"causeway-test": label},
            "annotations": {
                "flannel.alpha.coreos.com/public-ip": public_ip,
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/backend-data":
                    format!(r#"{{"VNI":{vni},"VtepMAC":"{mac}"}}"#),
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            },
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
    }))
    .unwrap()
}

async fn annotate(api: &Api<Node>, name: &str, key: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn cluster_flags(peer_kubeconfig: &str) -> Vec<String> {
    cluster_flags_for(peer_kubeconfig, PEER_CIDR)
}

fn cluster_flags_for(peer_kubeconfig: &str, peer_cidr: &str) -> Vec<String> {
    strings(&[
        "--peer-kubeconfig",
        peer_kubeconfig,
        "--cluster-cidr",
        LOCAL_CIDR,
        "--peer-cluster-cidr",
        peer_cidr,
        "--direct-routing",
    ])
}

fn peer_kubeconfig(lab: &Lab) -> String {
    lab.paths
        .user_kubeconfig(2, "causeway-netpeer")
        .display()
        .to_string()
}

/// Lines of `text` that mention `needle`.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[tokio::test]
async fn direct_routing_mac_and_public_ip_changes_on_the_real_kernel() {
    let lab = lab(2).await;
    rbac::install_for_user(&lab.client(2), PEER_RBAC, "causeway-netpeer").await;
    // The peer Nodes are labelled `causeway-test=<namespace>`: with_temp_ns removes them.
    with_temp_ns(&lab, |lab, label| async move {
        let nodes: Api<Node> = Api::all(lab.client(2));
        peering_story(&lab, &nodes, &label).await;
    })
    .await;
}

async fn peering_story(lab: &Lab, nodes: &Api<Node>, label: &str) {
    let ns = NodeNs::create(true);
    let onlink = ns.onlink_peer();
    let gateway = ns.gateway();
    // The route to one peer allows only 1400 bytes: flannel.1's 1450 + 50 do not fit.
    ns.ip(&[
        "route",
        "add",
        "203.0.113.30/32",
        "via",
        &gateway,
        "dev",
        "eth0",
        "mtu",
        "lock",
        "1400",
    ]);
    let before = ns.snapshot();

    let vx = format!("{label}-vx");
    let direct = format!("{label}-direct");
    let small = format!("{label}-small-mtu");
    let vni2 = format!("{label}-vni2");
    let (mac_vx, mac_vx_new) = ("0e:c0:77:00:00:01", "0e:c0:77:00:00:11");
    let mac_direct = "0e:c0:77:00:00:02";
    for node in [
        peer_node(&vx, label, "203.0.113.10", 1, mac_vx, "10.77.1.0/24"),
        peer_node(&direct, label, &onlink, 1, mac_direct, "10.77.2.0/24"),
        peer_node(
            &small,
            label,
            "203.0.113.30",
            1,
            "0e:c0:77:00:00:03",
            "10.77.3.0/24",
        ),
        peer_node(
            &vni2,
            label,
            "203.0.113.40",
            2,
            "0e:c0:77:00:00:04",
            "10.77.4.0/24",
        ),
    ] {
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }

    let kubeconfig = peer_kubeconfig(lab);
    let mut args = strings(&[
        "run",
        "--node-name",
        "npk",
        "--admin-addr",
        "127.0.0.1:0",
        "--resync-seconds",
        "2",
    ]);
    args.extend(cluster_flags(&kubeconfig));
    let mut agent = Daemon::start(
        "ip".as_ref(),
        &unique_name("netpeer-kernel"),
        &ns.netpeer_argv(&args),
        &[("CAUSEWAY_LOG", "info,kube=warn")],
        lab.paths.root(),
    );

    // (a) DirectRouting: the on-link peer gets a plain route via its public IP on eth0.
    eventually(20, "routes for the three accepted peers", || async {
        (ns.routes().lines().count() == 3).then_some(())
    })
    .await;
    let routes = ns.routes();
    // (`ip route show proto 156` leaves the protocol out of its lines.)
    for want in [
        "10.77.1.0/24 via 10.77.1.0 dev flannel.1 onlink".to_owned(),
        format!("10.77.2.0/24 via {onlink} dev eth0"),
        "10.77.3.0/24 via 10.77.3.0 dev flannel.1 onlink".to_owned(),
    ] {
        assert!(
            routes.lines().any(|l| l.trim() == want),
            "want {want:?} in:\n{routes}\n{}",
            agent.log_text()
        );
    }
    assert!(
        !routes.contains("10.77.4.0"),
        "VNI-2 peer rejected:\n{routes}"
    );
    let get = ns.ip(&["route", "get", "10.77.2.5"]);
    assert!(get.contains(&format!("via {onlink} dev eth0")), "{get}");
    let neigh = ns.neighbours();
    assert!(
        neigh.contains(&format!(
            "10.77.1.0 dev flannel.1 lladdr {mac_vx} PERMANENT"
        )),
        "{neigh}"
    );
    assert!(neigh.contains("10.77.3.0 dev flannel.1"), "{neigh}");
    assert!(
        !neigh.contains("10.77.2.0") && !neigh.contains(&onlink),
        "no neighbour for the direct peer:\n{neigh}"
    );
    let fdb = ns.fdb();
    assert!(
        fdb.contains(&format!("{mac_vx} dst 203.0.113.10 self permanent")),
        "{fdb}"
    );
    assert!(
        !fdb.contains(mac_direct) && !fdb.contains(&onlink),
        "no FDB entry for the direct peer:\n{fdb}"
    );

    // MTU: the agent warns about the peer behind the 1400-byte route, and only that one.
    eventually(10, "MTU warning in the agent log", || async {
        agent
            .log_text()
            .contains("exceed the MTU of the route to it")
            .then_some(())
    })
    .await;
    let log = agent.log_text();
    let warned = lines_with(&log, "exceed the MTU of the route to it");
    assert_eq!(warned.len(), 1, "{log}");
    assert!(warned[0].contains(&small), "{log}");

    // check: device ok, entries ok, the VNI-2 peer rejected by name, the MTU warning.
    let mut check = strings(&["check"]);
    check.extend(cluster_flags(&kubeconfig));
    let (ok, report) = ns.netpeer(&check).await;
    assert!(ok, "{report}");
    assert!(
        report.contains("vxlan device flannel.1: VNI 1, UDP port 8472, MTU 1450: ok"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "rejected: node {vni2} uses VXLAN VNI 2 but the local cluster uses VNI 1"
        )),
        "{report}"
    );
    let mtu = lines_with(&report, "mtu warning:");
    assert_eq!(mtu.len(), 1, "{report}");
    assert!(
        mtu[0].contains(&format!("node {small} (203.0.113.30)"))
            && mtu[0].contains("via eth0 allows 1400"),
        "{report}"
    );
    assert!(
        report.contains("flannel.1 MTU 1450 needs 1500 bytes on the route to each VXLAN peer: too small for 1 of 2"),
        "{report}"
    );
    assert!(!report.contains("MISSING"), "{report}");

    // (b) VtepMAC change (flannel < 0.24.1 regenerates it on reboot): neighbour and FDB entry
    // replaced, the old FDB entry gone.
    annotate(
        nodes,
        &vx,
        "flannel.alpha.coreos.com/backend-data",
        &format!(r#"{{"VNI":1,"VtepMAC":"{mac_vx_new}"}}"#),
    )
    .await;
    eventually(
        10,
        "neighbour and FDB entry follow the new VtepMAC",
        || async {
            let neigh = ns.neighbours();
            let fdb = ns.fdb();
            (neigh.contains(&format!(
                "10.77.1.0 dev flannel.1 lladdr {mac_vx_new} PERMANENT"
            )) && fdb.contains(&format!("{mac_vx_new} dst 203.0.113.10 self permanent"))
                && !fdb.contains(mac_vx))
            .then_some(())
        },
    )
    .await;
    assert_eq!(lines_with(&ns.neighbours(), "10.77.1.0 ").len(), 1);
    assert!(!ns.neighbours().contains(mac_vx), "{}", ns.neighbours());
    assert_eq!(
        lines_with(&ns.fdb(), "203.0.113.10").len(),
        1,
        "{}",
        ns.fdb()
    );

    // (c) Public-IP change: the FDB entry points at the new address, the old one is gone.
    annotate(
        nodes,
        &vx,
        "flannel.alpha.coreos.com/public-ip",
        "203.0.113.11",
    )
    .await;
    eventually(10, "FDB entry follows the new public IP", || async {
        let fdb = ns.fdb();
        (fdb.contains(&format!("{mac_vx_new} dst 203.0.113.11 self permanent"))
            && !fdb.contains("203.0.113.10"))
        .then_some(())
    })
    .await;
    assert_eq!(lines_with(&ns.fdb(), mac_vx_new).len(), 1, "{}", ns.fdb());
    assert!(
        ns.neighbours().contains(&format!(
            "10.77.1.0 dev flannel.1 lladdr {mac_vx_new} PERMANENT"
        )),
        "neighbour unchanged: {}",
        ns.neighbours()
    );
    assert!(
        ns.routes()
            .contains("10.77.1.0/24 via 10.77.1.0 dev flannel.1")
    );

    // The direct peer moves off-link: its plain route becomes flannel's VXLAN entries.
    annotate(
        nodes,
        &direct,
        "flannel.alpha.coreos.com/public-ip",
        "203.0.113.20",
    )
    .await;
    eventually(10, "the formerly direct peer switches to VXLAN", || async {
        (ns.routes()
            .contains("10.77.2.0/24 via 10.77.2.0 dev flannel.1 onlink")
            && ns
                .fdb()
                .contains(&format!("{mac_direct} dst 203.0.113.20 self permanent"))
            && ns.neighbours().contains(&format!(
                "10.77.2.0 dev flannel.1 lladdr {mac_direct} PERMANENT"
            )))
        .then_some(())
    })
    .await;
    assert!(!ns.routes().contains(&onlink), "{}", ns.routes());

    // A port mismatch seen by check (the peer said to use 4789): exit 1, nothing changes.
    let applied = ns.snapshot();
    let mut check = strings(&["check", "--peer-vxlan-port", "4789"]);
    check.extend(cluster_flags(&kubeconfig));
    let (ok, report) = ns.netpeer(&check).await;
    assert!(!ok, "{report}");
    assert!(
        report.contains("MISMATCH: flannel.1 on this node uses VXLAN UDP port 8472 but the peer cluster's flannel uses port 4789"),
        "{report}"
    );

    let status = agent.terminate().await;
    assert!(status.is_some_and(|s| s.success()), "{}", agent.log_text());
    assert_eq!(ns.snapshot(), applied, "check changed nothing");

    let (ok, out) = ns
        .netpeer(&strings(&["cleanup", "--peer-cluster-cidr", PEER_CIDR]))
        .await;
    assert!(ok && out.contains("route del"), "{out}");
    assert_eq!(ns.snapshot(), before, "cleanup restores the namespace");
}

/// The seed's keys for one peer node in 10.77.0.0/16.
fn seed_args() -> Vec<String> {
    strings(&[
        "oneshot",
        "--node-ip",
        "203.0.113.10",
        "--node-mac",
        "0e:c0:77:00:00:01",
        "--node-subnet",
        "10.77.1.0/24",
        "--cidr1",
        LOCAL_CIDR,
        "--cidr2",
        PEER_CIDR,
    ])
}

#[tokio::test]
async fn vni_and_port_mismatches_apply_nothing_on_the_real_kernel() {
    let ns = NodeNs::create(false);
    let before = ns.snapshot();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--vni", "2"],
            "flannel.1 on this node uses VXLAN VNI 1 but --vni is 2; both clusters' flannel must use the same Backend.VNI",
        ),
        (
            &["--peer-vxlan-port", "4789"],
            "flannel.1 on this node uses VXLAN UDP port 8472 but the peer cluster's flannel uses port 4789 (--peer-vxlan-port)",
        ),
        (
            &["--vxlan-device", "eth0"],
            "network device eth0 on this node is not a VXLAN device",
        ),
        (
            &["--dry-run", "--peer-vxlan-port", "4789"],
            "uses VXLAN UDP port 8472 but the peer cluster's flannel uses port 4789",
        ),
    ];
    for (extra, want) in cases {
        let mut args = seed_args();
        args.extend(strings(extra));
        let (ok, out) = ns.netpeer(&args).await;
        assert!(!ok, "{extra:?} must fail:\n{out}");
        assert!(out.contains(want), "{extra:?}: want {want:?} in:\n{out}");
        assert!(out.contains("nothing was changed"), "{out}");
        assert_eq!(ns.snapshot(), before, "{extra:?}: nothing applied");
    }

    // A device on another port is refused the same way, seen from the other side.
    ns.ip(&["link", "del", DEV]);
    ns.ip(&[
        "link",
        "add",
        DEV,
        "type",
        "vxlan",
        "id",
        "1",
        "local",
        "192.0.2.1",
        "dev",
        "eth0",
        "dstport",
        "4789",
        "nolearning",
    ]);
    ns.ip(&["link", "set", DEV, "up"]);
    let before_4789 = ns.snapshot();
    let (ok, out) = ns.netpeer(&seed_args()).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("flannel.1 on this node uses VXLAN UDP port 4789 but the peer cluster's flannel uses port 8472"),
        "{out}"
    );
    assert_eq!(ns.snapshot(), before_4789, "nothing applied");
    // With the peer's port declared the same, everything applies in one go, and again not at all.
    let mut args = seed_args();
    args.extend(strings(&["--peer-vxlan-port", "4789"]));
    let (ok, out) = ns.netpeer(&args).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("route add 10.77.1.0/24 via 10.77.1.0 dev flannel.1 onlink proto 156")
            && out.contains("fdb add 0e:c0:77:00:00:01 dst 203.0.113.10"),
        "{out}"
    );
    let (ok, out) = ns.netpeer(&args).await;
    assert!(ok && out.trim() == "no changes", "{out}");
    let (ok, out) = ns
        .netpeer(&strings(&["cleanup", "--peer-cluster-cidr", PEER_CIDR]))
        .await;
    assert!(ok, "{out}");
    assert_eq!(ns.snapshot(), before_4789, "cleanup restores the namespace");
}

/// The condition story's peer cluster CIDR (apart from [`PEER_CIDR`] of the other lab story).
const CONDITION_PEER_CIDR: &str = "10.78.0.0/16";

/// The agent's admin server inside its namespace (the namespace's own loopback).
const ADMIN: &str = "127.0.0.1:9991";

async fn admin_get(ns: &NodeNs, path: &str) -> Option<String> {
    http_get(&ns.name, ADMIN.parse().unwrap(), path).await
}

/// The value of one series in `/metrics`, e.g. `causeway_netpeer_peers`.
fn metric(text: &str, series: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
}

#[tokio::test]
async fn agent_condition_follows_a_missing_or_wrong_flannel_1_on_the_real_kernel() {
    let lab = lab(2).await;
    rbac::install_for_user(&lab.client(2), PEER_RBAC, "causeway-netpeer").await;
    // The peer Nodes are labelled `causeway-test=<namespace>`: with_temp_ns removes them.
    with_temp_ns(&lab, |lab, label| async move {
        let nodes: Api<Node> = Api::all(lab.client(2));
        condition_story(&lab, &nodes, &label).await;
    })
    .await;
}

async fn condition_story(lab: &Lab, nodes: &Api<Node>, label: &str) {
    let ns = NodeNs::create(true);
    let before = ns.snapshot();
    // A peer cluster CIDR of its own: the other story runs at the same time against the same
    // apiserver, and each agent rejects the other's Nodes as outside its peer cluster CIDR.
    let good = format!("{label}-good");
    let bad = format!("{label}-bad-json");
    nodes
        .create(
            &PostParams::default(),
            &peer_node(
                &good,
                label,
                "203.0.113.50",
                1,
                "0e:c0:77:00:00:21",
                "10.78.21.0/24",
            ),
        )
        .await
        .unwrap();
    let mut malformed = peer_node(
        &bad,
        label,
        "203.0.113.51",
        1,
        "0e:c0:77:00:00:22",
        "10.78.22.0/24",
    );
    malformed.metadata.annotations.as_mut().unwrap().insert(
        "flannel.alpha.coreos.com/backend-data".to_owned(),
        "{not json".to_owned(),
    );
    nodes
        .create(&PostParams::default(), &malformed)
        .await
        .unwrap();

    let kubeconfig = peer_kubeconfig(lab);
    let node_name = "npk-health";
    let mut args = strings(&[
        "run",
        "--node-name",
        node_name,
        "--admin-addr",
        ADMIN,
        "--resync-seconds",
        "2",
    ]);
    args.extend(cluster_flags_for(&kubeconfig, CONDITION_PEER_CIDR));
    let mut agent = Daemon::start(
        "ip".as_ref(),
        &unique_name("netpeer-condition"),
        &ns.netpeer_argv(&args),
        &[("CAUSEWAY_LOG", "info,kube=warn")],
        lab.paths.root(),
    );

    // Healthy: ready, the good peer programmed, the malformed one counted by reason and logged
    // by name with the fix.
    eventually(20, "/readyz 200 and the good peer's route", || async {
        (admin_get(&ns, "/readyz").await.is_some() && ns.routes().contains("10.78.21.0/24"))
            .then_some(())
    })
    .await;
    let metrics = admin_get(&ns, "/metrics").await.unwrap();
    assert_eq!(
        metric(
            &metrics,
            r#"causeway_netpeer_rejected_peers{reason="malformed_backend_data"}"#
        )
        .as_deref(),
        Some("1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("causeway_netpeer_config_error{"),
        "no configuration error yet:\n{metrics}"
    );
    let log = agent.log_text();
    assert!(
        log.contains(&format!(
            "node {bad} has malformed annotation flannel.alpha.coreos.com/backend-data; expected JSON"
        )),
        "{log}"
    );

    // flannel.1 deleted: not ready, config_error{link_not_found} = 1, logged once.
    ns.ip(&["link", "del", DEV]);
    let missing = eventually(10, "config_error link_not_found", || async {
        let m = admin_get(&ns, "/metrics").await?;
        (metric(
            &m,
            r#"causeway_netpeer_config_error{reason="link_not_found"}"#,
        )
        .as_deref()
            == Some("1"))
        .then_some(m)
    })
    .await;
    assert!(
        admin_get(&ns, "/readyz").await.is_none(),
        "not ready while flannel.1 is missing:\n{missing}"
    );
    // `check` and `oneshot` say the same through the binary, and change nothing.
    let snapshot = ns.snapshot();
    let mut check = strings(&["check"]);
    check.extend(cluster_flags_for(&kubeconfig, CONDITION_PEER_CIDR));
    let (ok, report) = ns.netpeer(&check).await;
    assert!(!ok, "{report}");
    assert!(
        report.contains("network device flannel.1 not found on this node; flannel creates it when it starts: check that flannel runs on this node"),
        "{report}"
    );
    assert_eq!(ns.snapshot(), snapshot, "check changed nothing");
    // Two resyncs (2 s each) later, still one log line about it.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let log = agent.log_text();
    let lines = lines_with(&log, "network device flannel.1 not found");
    assert_eq!(lines.len(), 1, "logged once, not every retry:\n{log}");
    assert!(
        lines[0].contains(&format!("netpeer cannot peer node {node_name}:"))
            && lines[0].contains("--vxlan-device"),
        "names the node and the fix: {}",
        lines[0]
    );
    assert!(admin_get(&ns, "/readyz").await.is_none());

    // Recreated with the wrong VNI: another configuration error, still not ready.
    ns.add_flannel("2");
    let metrics = eventually(10, "config_error local_vni_mismatch", || async {
        let m = admin_get(&ns, "/metrics").await?;
        (metric(
            &m,
            r#"causeway_netpeer_config_error{reason="local_vni_mismatch"}"#,
        )
        .as_deref()
            == Some("1"))
        .then_some(m)
    })
    .await;
    assert_eq!(
        metric(
            &metrics,
            r#"causeway_netpeer_config_error{reason="link_not_found"}"#
        )
        .as_deref(),
        Some("0"),
        "{metrics}"
    );
    assert!(admin_get(&ns, "/readyz").await.is_none());
    assert!(
        agent
            .log_text()
            .contains("flannel.1 on this node uses VXLAN VNI 2 but --vni is 1"),
        "{}",
        agent.log_text()
    );
    assert!(ns.routes().is_empty(), "nothing applied:\n{}", ns.routes());

    // Fixed: ready again, entries back, the condition cleared.
    ns.ip(&["link", "del", DEV]);
    ns.add_flannel("1");
    eventually(10, "/readyz 200 again with the route back", || async {
        (admin_get(&ns, "/readyz").await.is_some() && ns.routes().contains("10.78.21.0/24"))
            .then_some(())
    })
    .await;
    let metrics = admin_get(&ns, "/metrics").await.unwrap();
    assert_eq!(
        metric(
            &metrics,
            r#"causeway_netpeer_config_error{reason="local_vni_mismatch"}"#
        )
        .as_deref(),
        Some("0"),
        "{metrics}"
    );
    assert!(
        agent
            .log_text()
            .contains("netpeer reconcile succeeded again")
    );

    let status = agent.terminate().await;
    assert!(status.is_some_and(|s| s.success()), "{}", agent.log_text());
    let (ok, out) = ns
        .netpeer(&strings(&[
            "cleanup",
            "--peer-cluster-cidr",
            CONDITION_PEER_CIDR,
        ]))
        .await;
    assert!(ok, "{out}");
    assert_eq!(ns.snapshot(), before, "cleanup restores the namespace");
}

#[tokio::test]
async fn missing_flannel_1_and_overlapping_service_cidrs_apply_nothing() {
    let ns = NodeNs::create(false);
    ns.ip(&["link", "del", DEV]);
    let before = ns.snapshot();
    for extra in [&[][..], &["--dry-run"]] {
        let mut args = seed_args();
        args.extend(strings(extra));
        let (ok, out) = ns.netpeer(&args).await;
        assert!(!ok, "{extra:?}: {out}");
        assert!(
            out.contains(
                "network device flannel.1 not found on this node; flannel creates it when it starts"
            ) && out.contains("--vxlan-device")
                && out.contains("nothing was changed"),
            "{extra:?}: {out}"
        );
        assert_eq!(ns.snapshot(), before, "{extra:?}: nothing applied");
    }

    // Overlapping Service CIDRs are refused before any peer cluster access or kernel change.
    let overlap = [
        "--peer-kubeconfig",
        "/nonexistent/peer.kubeconfig",
        "--cluster-cidr",
        LOCAL_CIDR,
        "--peer-cluster-cidr",
        PEER_CIDR,
        "--local-service-cidr",
        "10.96.0.0/12",
        "--peer-service-cidr",
        "10.100.0.0/16",
    ];
    for sub in [
        &["check"][..],
        &["run", "--node-name", "n"],
        &["run", "--node-name", "n", "--dry-run"],
    ] {
        let mut args = strings(sub);
        args.extend(strings(&overlap));
        let (ok, out) = ns.netpeer(&args).await;
        assert!(!ok, "{sub:?}: {out}");
        assert!(
            out.contains(
                "local service CIDR 10.96.0.0/12 overlaps peer service CIDR 10.100.0.0/16"
            ) && out.contains("--peer-service-cidr")
                && out.contains("nothing was changed"),
            "{sub:?}: {out}"
        );
        assert!(
            !out.contains("peer.kubeconfig"),
            "{sub:?}: failed before reading it: {out}"
        );
        assert_eq!(ns.snapshot(), before, "{sub:?}: nothing applied");
    }
}

#[tokio::test]
async fn a_route_left_by_create_routes_sh_is_adopted_and_cleaned_up() {
    let ns = NodeNs::create(false);
    let before_seed = ns.snapshot();
    // What the seed's create-routes.sh leaves for one peer node (its `ip route add` is proto boot).
    ns.ip(&[
        "neigh",
        "add",
        "10.77.1.0",
        "lladdr",
        "0e:c0:77:00:00:01",
        "dev",
        DEV,
        "nud",
        "permanent",
    ]);
    ns.exec(&[
        "bridge",
        "fdb",
        "append",
        "0e:c0:77:00:00:01",
        "dev",
        DEV,
        "dst",
        "203.0.113.10",
        "self",
        "permanent",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.77.1.0/24",
        "via",
        "10.77.1.0",
        "dev",
        DEV,
        "onlink",
    ]);

    let (ok, out) = ns.netpeer(&seed_args()).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "route adopt 10.77.1.0/24 via 10.77.1.0 dev flannel.1 onlink proto boot (not causeway's"
        ) && out.contains("route add 10.77.1.0/24 via 10.77.1.0 dev flannel.1 onlink proto 156"),
        "{out}"
    );
    assert!(
        out.contains("replaced a route to a peer pod CIDR that causeway did not install"),
        "warned:\n{out}"
    );
    let routes = ns.ip(&["-4", "route", "show", "10.77.1.0/24"]);
    assert_eq!(
        routes.trim(),
        "10.77.1.0/24 via 10.77.1.0 dev flannel.1 proto 156 onlink",
        "one route, causeway's"
    );
    let (ok, out) = ns.netpeer(&seed_args()).await;
    assert!(ok && out.trim() == "no changes", "{out}");

    // Cleanup removes the adopted route with the rest: the node is as before the seed's script.
    let (ok, out) = ns
        .netpeer(&strings(&["cleanup", "--peer-cluster-cidr", PEER_CIDR]))
        .await;
    assert!(ok, "{out}");
    assert_eq!(
        ns.snapshot(),
        before_seed,
        "no seed leftovers after cleanup"
    );
}

/// iptables-legacy opens a raw socket: the agent needs `NET_RAW` besides `NET_ADMIN` to keep
/// its own legacy chain.
const LEGACY_CAPS: &str = "+net_admin,+net_raw";

#[tokio::test]
async fn legacy_masquerade_gets_the_legacy_chain_through_the_binary() {
    let ns = NodeNs::create(false);
    // flannel's masquerade through iptables-legacy (the local cluster is 10.76.0.0/16).
    ns.exec(&[
        "iptables-legacy",
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        LOCAL_CIDR,
        "!",
        "-d",
        LOCAL_CIDR,
        "-j",
        "MASQUERADE",
    ]);
    let legacy_rules = || ns.exec(&["iptables-legacy", "-t", "nat", "-S"]);
    let before = (ns.snapshot(), legacy_rules());
    let mut dry = seed_args();
    dry.push("--dry-run".to_owned());

    // With NET_ADMIN only, iptables-legacy is refused: netpeer plans its nftables table, whose
    // null SNAT also beats legacy masquerade (tests/legacy_iptables.rs in causeway-netpeer).
    let (ok, out) = ns.netpeer(&dry).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("nft apply table ip causeway-netpeer (2 exemptions)"),
        "{out}"
    );

    // With NET_RAW too: the legacy chain, planned by --dry-run, applied, idempotent, cleaned.
    let (ok, out) = ns.netpeer_caps(LEGACY_CAPS, &dry).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("iptables-legacy apply chain CAUSEWAY-NETPEER in table nat (jumped to first from POSTROUTING) (2 exemptions)")
            && !out.contains("nft apply"),
        "--dry-run plans the legacy chain:\n{out}"
    );
    assert_eq!((ns.snapshot(), legacy_rules()), before, "dry run");

    let (ok, out) = ns.netpeer_caps(LEGACY_CAPS, &seed_args()).await;
    assert!(ok, "{out}");
    let rules = legacy_rules();
    let postrouting: Vec<&str> = lines_with(&rules, "-A POSTROUTING");
    assert_eq!(
        postrouting[0], "-A POSTROUTING -j CAUSEWAY-NETPEER",
        "{rules}"
    );
    assert!(
        rules.contains(&format!(
            "-A CAUSEWAY-NETPEER -s {LOCAL_CIDR} -d {PEER_CIDR} -m comment --comment causeway-netpeer -j ACCEPT"
        )),
        "{rules}"
    );
    assert!(
        !ns.exec(&["nft", "list", "tables"])
            .contains("causeway-netpeer"),
        "no nftables table on a legacy node"
    );
    let (ok, out) = ns.netpeer_caps(LEGACY_CAPS, &seed_args()).await;
    assert!(ok && out.trim() == "no changes", "{out}");

    let (ok, out) = ns
        .netpeer_caps(
            LEGACY_CAPS,
            &strings(&["cleanup", "--peer-cluster-cidr", PEER_CIDR]),
        )
        .await;
    assert!(
        ok && out.contains("iptables-legacy delete chain CAUSEWAY-NETPEER"),
        "{out}"
    );
    assert_eq!(
        (ns.snapshot(), legacy_rules()),
        before,
        "cleanup restores the namespace"
    );
}
