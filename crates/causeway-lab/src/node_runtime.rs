//! Real kubelet nodes: every lab node runs its own containerd and a kubelet, both in the node's
//! network namespace (entered with `nsenter --net`: `ip netns exec` would also remount `/sys` and
//! hide the cgroup mounts, lab-notes §10), in a mount namespace of the node's own (so their
//! mounts stay out of the host's table and the kubelet changes no global kernel setting) and in
//! the node's cgroup ([`crate::cgroup`]), with every file under the lab directory
//! ([`LabPaths::node_dir`]).
//!
//! Flow per node ([`ensure`]): the node's cgroup → containerd's config ([`containerd`]), the
//! CNI config ([`cni`]) and the kubelet's ([`kubelet`]) written → containerd started (unless it
//! runs) and answering → the built images ([`crate::images`]) imported with `ctr` when the list
//! changed → the kubelet started (unless it runs). Then [`wait_ready`] waits for the Node's
//! `Ready` condition, which the kubelet reports once containerd and the CNI config work.
//!
//! Why kubelet v1.36 with containerd v2.2 (both built from the Go module proxy) and not Debian's
//! containerd 1.6: Kubernetes 1.36 supports containerd 2.x only; runc and the CNI plugins come
//! from Debian (`runc`, `containernetworking-plugins`).

pub mod cni;
pub mod containerd;
pub mod kubelet;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};

use crate::images::ImageSet;
use crate::layout::NodePlan;
use crate::netdev::run;
use crate::process::{self, Started};
use crate::{ClusterPlan, Error, LabPaths, Result, cgroup, host_paths, netns};

/// Debian's runc.
pub const RUNC: &str = "/usr/sbin/runc";
/// Debian's CNI plugins (`containernetworking-plugins`).
pub const CNI_BIN: &str = "/usr/lib/cni";
/// How long a node may take to report Ready.
pub const NODE_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// What the node daemons run from.
#[derive(Clone, Debug)]
pub struct NodeBinaries {
    /// kubelet (and the other Kubernetes binaries).
    pub kube: PathBuf,
    /// containerd, containerd-shim-runc-v2, ctr.
    pub containerd: PathBuf,
}

/// Fails naming the Debian package when a runtime dependency from Debian is missing.
pub fn check_host() -> Result<()> {
    for (path, package) in [
        (RUNC, "runc"),
        ("/usr/lib/cni/bridge", "containernetworking-plugins"),
        ("/usr/lib/cni/host-local", "containernetworking-plugins"),
        ("/usr/bin/nsenter", "util-linux"),
    ] {
        if !Path::new(path).exists() {
            return Err(Error::Command {
                command: format!("find {path}"),
                stderr: format!("missing; install it: apt-get install {package}"),
            });
        }
    }
    Ok(())
}

fn write(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io("failed to create", dir))?;
    }
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents).map_err(Error::io("failed to write", path))
}

fn running(paths: &LabPaths, name: &str) -> bool {
    process::list(&paths.pid_dir())
        .into_iter()
        .any(|p| p.name == name && process::alive(p.pid, &p.exe))
}

/// The kernel settings the kubelet insists on (it writes any that differ, and they are global:
/// they are not the node's to change), as `/proc/sys` paths and the values it wants.
pub const KUBELET_SYSCTLS: [(&str, &str); 6] = [
    ("vm/overcommit_memory", "1"),
    ("vm/panic_on_oom", "0"),
    ("kernel/panic", "10"),
    ("kernel/panic_on_oops", "1"),
    ("kernel/keys/root_maxkeys", "1000000"),
    ("kernel/keys/root_maxbytes", "25000000"),
];

/// The node's own mount namespace, pinned at `<node dir>/mntns`, which containerd and the kubelet
/// share: their mounts (overlays, volumes, pod network namespaces) stay out of the host's mount
/// table, and the host's kernel settings the kubelet would change read, inside it only, as the
/// values it wants (files bind-mounted over `/proc/sys/...`), so it changes none of them.
/// Created once; `down` unmounts the pin.
fn ensure_mount_namespace(paths: &LabPaths, node: &NodePlan) -> Result<PathBuf> {
    let dir = paths.node_dir(&node.name);
    let pin = dir.join("mntns");
    if crate::mounts::under(&pin).contains(&pin) {
        return Ok(pin);
    }
    let sysctl_dir = dir.join("sysctl");
    std::fs::create_dir_all(&sysctl_dir).map_err(Error::io("failed to create", &sysctl_dir))?;
    std::fs::write(&pin, "").map_err(Error::io("failed to create", &pin))?;
    let pin_arg = format!("--mount={}", pin.display());
    run("unshare", &[&pin_arg, "--propagation", "private", "true"])?;
    let mut script = String::new();
    for (key, value) in KUBELET_SYSCTLS {
        let file = sysctl_dir.join(key.replace('/', "."));
        std::fs::write(&file, format!("{value}\n")).map_err(Error::io("failed to write", &file))?;
        let _ = write!(
            script,
            "mount --bind {} /proc/sys/{key} && ",
            file.display()
        );
    }
    script.push_str("true");
    run("nsenter", &[&pin_arg, "sh", "-c", &script])?;
    Ok(pin)
}

/// The wrapper every node daemon starts under: into the node's cgroup, then (with `PATH` first
/// listing `path_first`, where containerd finds its shim) into the node's mount and network
/// namespaces.
fn wrapper(node: &NodePlan, mount_ns: &Path, path_first: &Path) -> Vec<String> {
    let host_path =
        std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    vec![
        "bash".into(),
        "-c".into(),
        format!("{} exec \"$@\"", cgroup::enter_script(&node.cgroup())),
        "node-daemon".into(),
        "env".into(),
        format!("PATH={}:{host_path}", path_first.display()),
        "nsenter".into(),
        format!("--mount={}", mount_ns.display()),
        format!("--net={}", netns::path(&node.netns).display()),
    ]
}

/// Starts node daemon `name` (`bin args…`) under the node's [`wrapper`], logging to the
/// cluster's directory and recorded in the lab's PID directory.
fn spawn_daemon(
    paths: &LabPaths,
    bins: &NodeBinaries,
    node: &NodePlan,
    name: &str,
    bin: &Path,
    args: &[String],
) -> Result<Started> {
    let mount_ns = ensure_mount_namespace(paths, node)?;
    process::spawn_wrapped(
        name,
        &wrapper(node, &mount_ns, &bins.containerd),
        bin,
        args,
        &paths.log(node.cluster, name),
        &paths.pid_dir(),
    )
}

fn ctr(bins: &NodeBinaries, socket: &Path, args: &[&str]) -> Result<String> {
    let ctr = bins.containerd.join("ctr");
    let mut full = vec![
        "--address",
        socket.to_str().unwrap_or_default(),
        "-n",
        "k8s.io",
    ];
    full.extend_from_slice(args);
    run(ctr.to_str().unwrap_or("ctr"), &full)
}

/// Starts containerd on `node` unless it runs, and waits until it answers.
fn ensure_containerd(
    paths: &LabPaths,
    bins: &NodeBinaries,
    node: &NodePlan,
    images: &ImageSet,
) -> Result<()> {
    let files = containerd::ContainerdFiles::of(paths, node);
    let sandbox = images.reference("pause", None)?;
    write(
        &files.config,
        &containerd::config(&files, &sandbox, Path::new(RUNC), Path::new(CNI_BIN)),
    )?;
    let conflist = cni::conflist(node, &files.ipam_dir);
    write(
        &files.cni_conf_dir.join("10-flannel.conflist"),
        &serde_json::to_string_pretty(&conflist).unwrap_or_default(),
    )?;
    let name = node.containerd_component();
    if !running(paths, &name) {
        let _ = std::fs::remove_file(&files.socket);
        let bin = bins.containerd.join("containerd");
        let args = [format!("--config={}", files.config.display())];
        let started = spawn_daemon(paths, bins, node, &name, &bin, &args)?;
        wait_containerd(bins, &files.socket, &started, &bin)?;
    }
    import_images(paths, bins, node, &files.socket, images)
}

fn wait_containerd(
    bins: &NodeBinaries,
    socket: &Path,
    started: &Started,
    bin: &Path,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        crate::ready::check_running(started, bin)?;
        if socket.exists() && ctr(bins, socket, &["version"]).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::ComponentExited {
                component: started.name.clone(),
                log: started.log.clone(),
                tail: process::tail(&started.log, 15),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Imports every built image into the node's containerd when the list differs from what was
/// imported last (a stamp file holds that list).
fn import_images(
    paths: &LabPaths,
    bins: &NodeBinaries,
    node: &NodePlan,
    socket: &Path,
    images: &ImageSet,
) -> Result<()> {
    let stamp = paths.node_dir(&node.name).join("images.imported");
    let want = images.references.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == want) {
        return Ok(());
    }
    for archive in images.archives() {
        let file = archive.to_str().unwrap_or_default();
        ctr(bins, socket, &["images", "import", "--local", file])?;
    }
    write(&stamp, &want)
}

/// Starts the kubelet on `node` unless it runs.
fn ensure_kubelet(
    paths: &LabPaths,
    bins: &NodeBinaries,
    cluster: &ClusterPlan,
    node: &NodePlan,
) -> Result<()> {
    let files = kubelet::KubeletFiles::of(paths, node);
    let socket = containerd::ContainerdFiles::of(paths, node).socket;
    let config = kubelet::config(cluster, node, &files, &socket);
    write(
        &files.config,
        &serde_json::to_string_pretty(&config).unwrap_or_default(),
    )?;
    write(
        &files.resolv_conf,
        &format!(
            "nameserver {}\nsearch cluster.local\noptions ndots:5\n",
            cluster.dns_ip()
        ),
    )?;
    let name = node.kubelet_component();
    if running(paths, &name) {
        return Ok(());
    }
    let bin = bins.kube.join("kubelet");
    let args = kubelet::args(paths, node, &files);
    let started = spawn_daemon(paths, bins, node, &name, &bin, &args)?;
    crate::ready::check_running(&started, &bin)
}

/// Makes `node`'s containerd and kubelet run (see the module docs).
pub fn ensure(
    paths: &LabPaths,
    bins: &NodeBinaries,
    cluster: &ClusterPlan,
    node: &NodePlan,
    images: &ImageSet,
) -> Result<()> {
    host_paths::record_missing(paths).map_err(Error::io(
        "failed to write the host directory record in",
        paths.root(),
    ))?;
    cgroup::ensure(&node.cgroup())?;
    ensure_containerd(paths, bins, node, images)?;
    ensure_kubelet(paths, bins, cluster, node)
}

/// Waits until every node in `nodes` of cluster `cluster` reports `Ready`.
pub async fn wait_ready(
    paths: &LabPaths,
    client: &kube::Client,
    cluster: u8,
    nodes: &[NodePlan],
) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + NODE_READY_TIMEOUT;
    for node in nodes {
        loop {
            let ready = api
                .get_opt(&node.name)
                .await
                .ok()
                .flatten()
                .is_some_and(|n| {
                    n.status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                });
            if ready {
                untaint(&api, cluster, &node.name).await?;
                break;
            }
            let log = paths.log(cluster, &node.kubelet_component());
            if !running(paths, &node.kubelet_component()) || Instant::now() > deadline {
                return Err(Error::NodeNotReady {
                    node: node.name.clone(),
                    seconds: NODE_READY_TIMEOUT.as_secs(),
                    tail: process::tail(&log, 15),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// The taint a kubelet registers its Node with until the node lifecycle controller sees it Ready.
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// Removes [`NOT_READY_TAINT`] from a Ready node, as the node lifecycle controller does. The lab
/// runs no such controller: it would also mark the kubelet-less Nodes of tests NotReady and
/// their pods unready.
async fn untaint(api: &Api<Node>, cluster: u8, name: &str) -> Result<()> {
    let node = api
        .get(name)
        .await
        .map_err(Error::kube("read node", cluster))?;
    let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
    if !taints.iter().any(|t| t.key == NOT_READY_TAINT) {
        return Ok(());
    }
    let kept: Vec<_> = taints
        .into_iter()
        .filter(|t| t.key != NOT_READY_TAINT)
        .collect();
    let patch = serde_json::json!({"spec": {"taints": kept}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("remove the not-ready taint", cluster))?;
    Ok(())
}

/// Stops `node`'s kubelet and containerd and everything in its cgroup (a node taken away, as a
/// lab from an older layout lacks it).
pub fn stop_node(paths: &LabPaths, node: &NodePlan) -> Result<()> {
    let grace = Duration::from_secs(5);
    process::stop_one(&paths.pid_dir(), &node.kubelet_component(), grace);
    process::stop_one(&paths.pid_dir(), &node.containerd_component(), grace);
    cgroup::remove(&node.cgroup())?;
    Ok(())
}

/// Stops the kubelets and containerds of every node (kubelets first, so none restarts a pod),
/// then kills whatever still runs in the nodes' cgroups (shims, containers) and removes those
/// cgroups. Returns the names of what it stopped and any cgroup it could not remove.
pub fn stop_all(paths: &LabPaths) -> (Vec<String>, Vec<String>) {
    let grace = Duration::from_secs(5);
    let mut stopped = process::stop_where(&paths.pid_dir(), grace, |n| n.ends_with("-kubelet"));
    stopped.extend(process::stop_where(&paths.pid_dir(), grace, |n| {
        n.ends_with("-containerd")
    }));
    let mut failed = Vec::new();
    for name in cgroup::lab_cgroups() {
        if let Err(e) = cgroup::remove(&name) {
            failed.push(format!("{name}: {e}"));
        }
    }
    (stopped, failed)
}
