//! Test fixture: two simulated flannel VXLAN clusters in network namespaces this test creates.
//!
//! Layout (all names prefixed `cwl-test-np<pid>-`, deleted on drop):
//! * `u`: the underlay router, bridges `br1` (198.51.100.1/24) and `br2` (203.0.113.1/24);
//! * `cCnN`: node N of cluster C: `eth0` on the underlay, `flannel.1` (VNI 1, dstport 8472,
//!   nolearning, address = podCIDR network /32), `cni0` bridge, a flannel-style MASQUERADE rule
//!   (through iptables-nft, or iptables-legacy with [`Lab::build_legacy`]) and flannel's
//!   intra-cluster neighbour/FDB/route entries, all programmed here as flannel would;
//! * `cCnNp`: the pod behind `cni0`, 10.4x.N.2, default route to its node.
//!
//! Nothing outside these namespaces is touched; node namespaces get no default route.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, NodeSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Whether real-kernel tests can run; prints why not (or panics under
/// `CAUSEWAY_REQUIRE_ROOT_TESTS=1`).
pub fn can_run() -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let tools = ["ip", "bridge", "nft", "iptables", "iptables-legacy"]
        .iter()
        .all(|t| Command::new(t).arg("-V").output().is_ok());
    let required = std::env::var("CAUSEWAY_REQUIRE_ROOT_TESTS").as_deref() == Ok("1");
    let why = if !root {
        "not root"
    } else if !tools {
        "ip/bridge/nft/iptables/iptables-legacy missing (apt-get install -y iproute2 nftables iptables)"
    } else {
        return true;
    };
    assert!(!required, "real-kernel test required but cannot run: {why}");
    eprintln!("skipping real-kernel test: {why}");
    false
}

/// Runs a command, panicking with its stderr on failure; returns stdout.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `f` on a thread inside namespace `ns` and returns its result.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("open netns");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("namespaced thread panicked")
}

/// Runs an async block on a current-thread runtime inside namespace `ns`.
pub fn in_ns_async<T, F, Fut>(ns: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    in_ns(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f())
    })
}

/// One simulated node and its pod.
#[derive(Clone, Debug)]
pub struct SimNode {
    pub name: String,
    pub ns: String,
    pub pod_ns: String,
    pub cluster: u8,
    pub index: u8,
    pub underlay_ip: Ipv4Addr,
    pub mac: String,
    pub pod_ip: Ipv4Addr,
    /// flannel's masquerade is in iptables-legacy (else iptables-nft).
    pub legacy: bool,
}

impl SimNode {
    pub fn octet(&self) -> u8 {
        if self.cluster == 1 { 42 } else { 44 }
    }
    pub fn pod_cidr(&self) -> String {
        format!("10.{}.{}.0/24", self.octet(), self.index)
    }
    pub fn vtep_ip(&self) -> String {
        format!("10.{}.{}.0", self.octet(), self.index)
    }
    pub fn cluster_cidr(&self) -> String {
        format!("10.{}.0.0/16", self.octet())
    }
    /// The Node object flannel would have written.
    pub fn k8s_node(&self) -> Node {
        let annotations = [
            (
                "flannel.alpha.coreos.com/public-ip",
                self.underlay_ip.to_string(),
            ),
            (
                "flannel.alpha.coreos.com/backend-data",
                format!(r#"{{"VNI":1,"VtepMAC":"{}"}}"#, self.mac),
            ),
            ("flannel.alpha.coreos.com/backend-type", "vxlan".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Node {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                pod_cidr: Some(self.pod_cidr()),
                pod_cidrs: Some(vec![self.pod_cidr()]),
                ..NodeSpec::default()
            }),
            status: None,
        }
    }
    fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", &self.ns];
        full.extend_from_slice(args);
        sh(&full)
    }
    fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.ns];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// Creates `flannel.1` as flannel does and programs flannel's entries for `same_cluster`.
    pub fn create_flannel(&self, same_cluster: &[SimNode]) {
        let local = self.underlay_ip.to_string();
        self.ip(&[
            "link",
            "add",
            "flannel.1",
            "address",
            &self.mac,
            "type",
            "vxlan",
            "id",
            "1",
            "local",
            &local,
            "dev",
            "eth0",
            "dstport",
            "8472",
            "nolearning",
        ]);
        self.ip(&[
            "addr",
            "add",
            &format!("{}/32", self.vtep_ip()),
            "dev",
            "flannel.1",
        ]);
        self.ip(&["link", "set", "flannel.1", "up"]);
        for other in same_cluster.iter().filter(|o| o.name != self.name) {
            let vtep = other.vtep_ip();
            self.ip(&[
                "neigh",
                "replace",
                &vtep,
                "lladdr",
                &other.mac,
                "dev",
                "flannel.1",
                "nud",
                "permanent",
            ]);
            self.exec(&[
                "bridge",
                "fdb",
                "append",
                &other.mac,
                "dev",
                "flannel.1",
                "dst",
                &other.underlay_ip.to_string(),
                "self",
                "permanent",
            ]);
            self.ip(&[
                "route",
                "replace",
                &other.pod_cidr(),
                "via",
                &vtep,
                "dev",
                "flannel.1",
                "onlink",
            ]);
        }
    }

    /// Everything netpeer could touch (IPv4 only; IPv6 link-local state of a recreated device
    /// comes back asynchronously and is not netpeer's), as text, for before/after comparisons.
    pub fn snapshot(&self) -> String {
        [
            self.ip(&["-4", "route", "show", "table", "all"]),
            self.ip(&["-4", "neigh", "show", "nud", "permanent"]),
            self.exec(&["bridge", "fdb", "show", "dev", "flannel.1"]),
            self.exec(&["nft", "-s", "list", "ruleset"]),
            self.exec(&[self.iptables(), "-t", "nat", "-S"]),
            self.legacy_save(),
        ]
        .join("\n----\n")
    }

    /// `iptables` or `iptables-legacy`, whichever holds this node's masquerade.
    pub fn iptables(&self) -> &'static str {
        if self.legacy {
            "iptables-legacy"
        } else {
            "iptables"
        }
    }

    /// `iptables-legacy-save -t nat` without its comment lines and packet counters (empty for a
    /// node without legacy masquerade: saving would create the legacy table).
    pub fn legacy_save(&self) -> String {
        if !self.legacy {
            return String::new();
        }
        self.exec(&["iptables-legacy-save", "-t", "nat"])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| match l.split_once(" [") {
                Some((chain, _)) if l.starts_with(':') => format!("{chain} [0:0]"),
                _ => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Routes with causeway's protocol.
    pub fn causeway_routes(&self) -> usize {
        self.ip(&["route", "show", "proto", "156"]).lines().count()
    }
}

/// The two clusters; namespaces are deleted on drop.
pub struct Lab {
    pub nodes: Vec<SimNode>,
    namespaces: Vec<String>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl Lab {
    pub fn cluster(&self, c: u8) -> Vec<SimNode> {
        self.nodes
            .iter()
            .filter(|n| n.cluster == c)
            .cloned()
            .collect()
    }

    fn add_ns(&mut self, name: &str) {
        sh(&["ip", "netns", "add", name]);
        self.namespaces.push(name.to_owned());
        sh(&["ip", "-n", name, "link", "set", "lo", "up"]);
    }

    /// flannel's masquerade through `iptables` (iptables-nft on this host).
    pub fn build() -> Self {
        Self::build_with(false)
    }

    /// flannel's masquerade through `iptables-legacy`.
    pub fn build_legacy() -> Self {
        Self::build_with(true)
    }

    fn build_with(legacy: bool) -> Self {
        let prefix = format!(
            "cwl-test-np{}{}",
            if legacy { "l" } else { "" },
            std::process::id()
        );
        let mut lab = Lab {
            nodes: Vec::new(),
            namespaces: Vec::new(),
        };
        let u = format!("{prefix}-u");
        lab.add_ns(&u);
        for (br, addr) in [("br1", "198.51.100.1/24"), ("br2", "203.0.113.1/24")] {
            sh(&["ip", "-n", &u, "link", "add", br, "type", "bridge"]);
            sh(&["ip", "-n", &u, "addr", "add", addr, "dev", br]);
            sh(&["ip", "-n", &u, "link", "set", br, "up"]);
        }
        sh(&[
            "ip",
            "netns",
            "exec",
            &u,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);

        for cluster in [1u8, 2] {
            for index in [1u8, 2] {
                let name = format!("c{cluster}n{index}");
                let ns = format!("{prefix}-{name}");
                let pod_ns = format!("{ns}p");
                let (underlay_ip, gw, other_underlay, br) = if cluster == 1 {
                    (
                        Ipv4Addr::new(198, 51, 100, 10 + index),
                        "198.51.100.1",
                        "203.0.113.0/24",
                        "br1",
                    )
                } else {
                    (
                        Ipv4Addr::new(203, 0, 113, 20 + index),
                        "203.0.113.1",
                        "198.51.100.0/24",
                        "br2",
                    )
                };
                let octet = if cluster == 1 { 42 } else { 44 };
                let node = SimNode {
                    name: name.clone(),
                    ns: ns.clone(),
                    pod_ns: pod_ns.clone(),
                    cluster,
                    index,
                    underlay_ip,
                    mac: format!("0e:cc:00:00:0{cluster}:0{index}"),
                    pod_ip: Ipv4Addr::new(10, octet, index, 2),
                    legacy,
                };
                lab.add_ns(&ns);
                lab.add_ns(&pod_ns);
                sh(&[
                    "ip", "-n", &u, "link", "add", &name, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ]);
                sh(&["ip", "-n", &u, "link", "set", &name, "master", br, "up"]);
                node.ip(&["addr", "add", &format!("{underlay_ip}/24"), "dev", "eth0"]);
                node.ip(&["link", "set", "eth0", "up"]);
                node.ip(&["route", "add", other_underlay, "via", gw]);
                node.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
                node.ip(&["link", "add", "cni0", "type", "bridge"]);
                node.ip(&[
                    "addr",
                    "add",
                    &format!("10.{octet}.{index}.1/24"),
                    "dev",
                    "cni0",
                ]);
                node.ip(&["link", "set", "cni0", "up"]);
                node.ip(&[
                    "link", "add", "vethp", "mtu", "1450", "type", "veth", "peer", "name", "eth0",
                    "netns", &pod_ns,
                ]);
                node.ip(&["link", "set", "vethp", "master", "cni0", "up"]);
                let pod = |args: &[&str]| {
                    let mut full = vec!["ip", "-n", pod_ns.as_str()];
                    full.extend_from_slice(args);
                    sh(&full);
                };
                pod(&["link", "set", "eth0", "mtu", "1450"]);
                pod(&["addr", "add", &format!("{}/24", node.pod_ip), "dev", "eth0"]);
                pod(&["link", "set", "eth0", "up"]);
                pod(&[
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("10.{octet}.{index}.1"),
                ]);
                // flannel's masquerade rule, exactly as the brief and flannel's iptables mode do it
                let cidr = node.cluster_cidr();
                node.exec(&[
                    node.iptables(),
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-s",
                    &cidr,
                    "!",
                    "-d",
                    &cidr,
                    "-j",
                    "MASQUERADE",
                ]);
                lab.nodes.push(node);
            }
        }
        for node in &lab.nodes {
            node.create_flannel(&lab.cluster(node.cluster));
        }
        lab
    }
}

/// Opens a TCP connection from `from`'s pod to `to`'s pod; returns the source address the
/// receiving pod saw, or the error.
pub fn probe(from: &SimNode, to: &SimNode) -> Result<Ipv4Addr, String> {
    let dst = to.pod_ip;
    let (tx, rx) = std::sync::mpsc::channel();
    let server = {
        let ns = to.pod_ns.clone();
        std::thread::spawn(move || {
            in_ns(&ns, move || {
                let listener = TcpListener::bind((dst, 0)).unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                listener.set_nonblocking(true).unwrap();
                let deadline = Instant::now() + Duration::from_secs(3);
                loop {
                    match listener.accept() {
                        Ok((mut stream, peer)) => {
                            let _ = stream.write_all(peer.ip().to_string().as_bytes());
                            return Some(peer);
                        }
                        Err(_) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => return None,
                    }
                }
            })
        })
    };
    let port = rx.recv().unwrap();
    let client = in_ns(&from.pod_ns, move || {
        let addr = SocketAddr::from((dst, port));
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut seen = String::new();
        stream
            .read_to_string(&mut seen)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(seen)
    });
    let seen_by_server = server.join().unwrap();
    let seen = client?;
    let server_peer = seen_by_server.ok_or("server saw no connection")?;
    assert_eq!(seen, server_peer.ip().to_string());
    match server_peer {
        SocketAddr::V4(v4) => Ok(*v4.ip()),
        SocketAddr::V6(_) => Err("v6 peer".into()),
    }
}
