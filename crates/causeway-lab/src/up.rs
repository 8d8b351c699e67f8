//! `causeway-lab up`: starts (or finds running) etcd and, per cluster, kube-apiserver and
//! kube-controller-manager; waits for readiness; installs causeway's CRDs; then builds the
//! clusters' data-plane nodes and runs kube-proxy in each ([`crate::nodes`]), a kube-scheduler
//! per cluster, containerd and a kubelet on every node ([`crate::node_runtime`]) and CoreDNS
//! per cluster ([`crate::coredns`]).
//!
//! Idempotent: a complete running lab of the same size is reused, and its nodes are completed
//! (missing namespaces built, dead kube-proxies restarted; a lab started with an older node
//! layout gets the nodes it lacks). A half-started lab (a killed run) is
//! torn down first. Any failure tears down what this run started and names the component
//! and its log.

use std::fmt::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::images::{self, ImageSet};
use crate::kubeconfig;
use crate::layout::{self, APISERVER_PORT, DEFAULT_ETCD_PORT, MAX_CLUSTERS};
use crate::lock::LabLock;
use crate::node_runtime::{self, NodeBinaries};
use crate::process;
use crate::ready;
use crate::state::LabState;
use crate::{ClusterPlan, Error, LabPaths, Result, coredns, down, kubebin, netdev, nodes};

/// Lab users: (kubeconfig name, user name, groups). Each causeway component has its own user, with
/// no rights beyond the RBAC its manifests grant.
pub const USERS: &[(&str, &str, &str)] = &[
    ("admin", "lab-admin", "system:masters"),
    (
        "kube-controller-manager",
        "system:kube-controller-manager",
        "system:masters",
    ),
    ("kube-proxy", "system:kube-proxy", ""),
    ("kube-scheduler", "system:kube-scheduler", ""),
    ("causeway-controller", "causeway-controller", "causeway"),
    ("causeway-dns", "causeway-dns", "causeway"),
    ("causeway-netpeer", "causeway-netpeer", "causeway"),
];

/// Options of `up`.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Number of clusters.
    pub clusters: u8,
}

/// What a running lab looks like.
#[derive(Clone, Debug)]
pub struct LabInfo {
    /// The lab's state.
    pub state: LabState,
    /// True when this call started it (false: it was already up).
    pub started: bool,
    /// Seconds from the call to a ready lab.
    pub seconds: f64,
}

/// Brings the lab up; see the module docs.
pub async fn up(paths: &LabPaths, opts: &UpOptions) -> Result<LabInfo> {
    if opts.clusters == 0 || opts.clusters > MAX_CLUSTERS {
        return Err(Error::ClusterCount {
            got: opts.clusters,
            max: MAX_CLUSTERS,
        });
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::NotRoot);
    }
    let t0 = Instant::now();
    let _lock = LabLock::acquire(paths)?;
    if let Some(state) = LabState::load(paths)? {
        // A lab started by a build from before real nodes has no kubelet credentials and its
        // apiservers lack the flags kubelets need: it cannot be completed in place.
        let predates_nodes = !paths.user_kubeconfig(1, "kubelet-c1-n1").exists();
        if state.complete && all_running(paths) && !predates_nodes {
            if state.clusters < opts.clusters {
                return grow(paths, state, opts.clusters, t0).await;
            }
            for i in 1..=state.clusters {
                let client = crate::admin_client(paths, i).await?;
                if !ready::readyz(&client).await {
                    return Err(Error::NotReady {
                        component: format!("c{i}-kube-apiserver"),
                        seconds: 3,
                        log: paths.log(i, "kube-apiserver"),
                    });
                }
            }
            let mut state = state;
            ensure_nodes(paths, &mut state).await?;
            return Ok(LabInfo {
                state,
                started: false,
                seconds: t0.elapsed().as_secs_f64(),
            });
        }
        if state.complete && predates_nodes {
            eprintln!(
                "lab: the lab in {} predates real nodes (kubelets); restarting it",
                paths.root().display()
            );
        } else {
            eprintln!(
                "lab: found a half-started or stopped lab in {} (a killed run?); removing it first",
                paths.root().display()
            );
        }
        down::down_locked(paths);
    } else if paths.root().exists() || !netdev::lab_links().is_empty() {
        eprintln!(
            "lab: removing leftovers of an earlier lab in {}",
            paths.root().display()
        );
        down::down_locked(paths);
    }
    match start(paths, opts, t0).await {
        Ok(info) => Ok(info),
        Err(err) if std::env::var_os("CAUSEWAY_LAB_KEEP_FAILED").is_some() => {
            eprintln!(
                "lab: start-up failed; CAUSEWAY_LAB_KEEP_FAILED is set, so it stays for a look"
            );
            Err(err)
        }
        Err(err) => {
            eprintln!("lab: start-up failed; removing everything this run started");
            down::down_locked(paths);
            Err(err)
        }
    }
}

/// True when every control-plane component runs (node components are restarted by
/// [`ensure_nodes`] instead).
fn all_running(paths: &LabPaths) -> bool {
    let pids: Vec<_> = process::list(&paths.pid_dir())
        .into_iter()
        .filter(|p| !down::is_node_component(&p.name))
        .collect();
    !pids.is_empty() && pids.iter().all(|p| process::alive(p.pid, &p.exe))
}

/// Builds (or completes) every cluster's data-plane nodes and records them in the state. A lab
/// started with an older layout (fewer nodes per cluster) grows to the current one.
async fn ensure_nodes(paths: &LabPaths, state: &mut LabState) -> Result<()> {
    let t0 = Instant::now();
    for name in layout::missing_nodes(state.clusters, &state.nodes) {
        eprintln!("lab: adding node {name} (the lab was started with an older node layout)");
    }
    let mut clusters = Vec::new();
    for (i, count) in (1..=state.clusters).zip(layout::node_counts(state.clusters, &state.nodes)) {
        let plan = ClusterPlan::new(i)?;
        let nodes = plan.nodes(count)?;
        clusters.push((plan, nodes));
    }
    // Checked before any node changes: a missing image or package fails with its fix.
    let images = ImageSet::find(&images::dir())?;
    node_runtime::check_host()?;
    let bins = NodeBinaries {
        kube: state.bin_dir.clone(),
        containerd: kubebin::ensure_containerd()?,
    };
    nodes::ensure_all(paths, &state.bin_dir, &clusters).await?;
    for (cluster, nodes) in &clusters {
        ensure_scheduler(paths, &state.bin_dir, cluster)?;
        for node in nodes {
            node_runtime::ensure(paths, &bins, cluster, node, &images)?;
        }
    }
    for (cluster, nodes) in &clusters {
        let client = crate::admin_client(paths, cluster.index).await?;
        node_runtime::wait_ready(paths, &client, cluster.index, nodes).await?;
        coredns::apply(
            paths,
            &state.bin_dir,
            cluster,
            &coredns::image(cluster, &images)?,
        )?;
    }
    for (cluster, _) in &clusters {
        let client = crate::admin_client(paths, cluster.index).await?;
        coredns::wait_available(&client, cluster.index).await?;
    }
    let counts: Vec<u8> = clusters
        .iter()
        .map(|(_, n)| u8::try_from(n.len()).unwrap_or(u8::MAX))
        .collect();
    if state.nodes != counts {
        state.nodes = counts;
        state.save(paths)?;
    }
    eprintln!(
        "lab: {} nodes (kubelet, containerd, kube-proxy) and CoreDNS ready in {:.1} s",
        clusters.iter().map(|(_, n)| n.len()).sum::<usize>(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn start(paths: &LabPaths, opts: &UpOptions, t0: Instant) -> Result<LabInfo> {
    let etcd_port = std::env::var("CAUSEWAY_LAB_ETCD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_ETCD_PORT);
    let plans: Vec<ClusterPlan> = (1..=opts.clusters)
        .map(ClusterPlan::new)
        .collect::<Result<_>>()?;
    // The nodes need the built images: fail before anything starts when they are missing.
    ImageSet::find(&images::dir())?;
    check_free("etcd", &format!("127.0.0.1:{etcd_port}"))?;
    check_free("etcd (peer)", &format!("127.0.0.1:{}", etcd_port + 1))?;

    eprintln!("lab: finding the Kubernetes binaries (built once, then cached)");
    let bin_dir = kubebin::ensure()?;
    std::fs::create_dir_all(paths.root()).map_err(Error::io("failed to create", paths.root()))?;
    let mut state = LabState {
        clusters: opts.clusters,
        bin_dir: bin_dir.clone(),
        etcd_port,
        complete: false,
        nodes: Vec::new(),
    };
    state.save(paths)?;

    eprintln!("lab: creating bridge cwl-br0 for the apiserver addresses");
    netdev::ensure_bridge(&plans)?;
    for plan in &plans {
        check_free(
            &format!("kube-apiserver of cluster {}", plan.index),
            &format!("{}:{APISERVER_PORT}", plan.api_ip),
        )?;
    }

    let sa_key = paths.root().join("sa.key");
    netdev::run(
        "openssl",
        &["genrsa", "-out", &sa_key.display().to_string(), "2048"],
    )?;

    eprintln!("lab: starting etcd on 127.0.0.1:{etcd_port}");
    let etcd_bin = bin_dir.join("etcd");
    let etcd = process::spawn(
        "etcd",
        &etcd_bin,
        &etcd_args(paths, etcd_port),
        &paths.etcd_log(),
        &paths.pid_dir(),
    )?;
    ready::wait_etcd(&etcd, &etcd_bin, etcd_port).await?;

    start_clusters(paths, &bin_dir, etcd_port, &plans, t0).await?;
    ensure_nodes(paths, &mut state).await?;
    state.complete = true;
    state.save(paths)?;
    Ok(LabInfo {
        state,
        started: true,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Starts kube-apiserver and kube-controller-manager of each cluster in `plans` and waits until
/// each is ready with causeway's CRDs installed.
async fn start_clusters(
    paths: &LabPaths,
    bin_dir: &Path,
    etcd_port: u16,
    plans: &[ClusterPlan],
    t0: Instant,
) -> Result<()> {
    let sa_key = paths.root().join("sa.key");
    let apiserver_bin = bin_dir.join("kube-apiserver");
    let mut apiservers = Vec::new();
    for plan in plans {
        let dir = paths.cluster_dir(plan.index);
        std::fs::create_dir_all(dir.join("pki")).map_err(Error::io("failed to create", &dir))?;
        write_users(paths, plan)?;
        eprintln!(
            "lab: starting kube-apiserver of cluster {} on {}",
            plan.index,
            plan.server_url()
        );
        let started = process::spawn(
            &format!("c{}-kube-apiserver", plan.index),
            &apiserver_bin,
            &apiserver_args(paths, plan, etcd_port, &sa_key),
            &paths.log(plan.index, "kube-apiserver"),
            &paths.pid_dir(),
        )?;
        apiservers.push(started);
    }
    let kcm_bin = bin_dir.join("kube-controller-manager");
    for (plan, apiserver) in plans.iter().zip(&apiservers) {
        let client = crate::admin_client(paths, plan.index).await?;
        ready::wait_apiserver(&client, apiserver, &apiserver_bin).await?;
        eprintln!(
            "lab: cluster {} apiserver ready after {:.1} s; starting kube-controller-manager",
            plan.index,
            t0.elapsed().as_secs_f64()
        );
        let kcm = process::spawn(
            &format!("c{}-kube-controller-manager", plan.index),
            &kcm_bin,
            &kcm_args(paths, plan),
            &paths.log(plan.index, "kube-controller-manager"),
            &paths.pid_dir(),
        )?;
        ready::install_crds(&client, plan.index).await?;
        ready::wait_default_sa(&client, plan.index, &kcm, &kcm_bin).await?;
        ready::wait_rbac(paths, plan.index).await?;
        eprintln!(
            "lab: cluster {} ready (CRDs installed) after {:.1} s",
            plan.index,
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Adds clusters to a running lab (e.g. a 3-cluster test after 2-cluster ones): the existing
/// clusters keep running untouched.
async fn grow(paths: &LabPaths, mut state: LabState, clusters: u8, t0: Instant) -> Result<LabInfo> {
    eprintln!(
        "lab: adding clusters {}..={clusters} to the running lab",
        state.clusters + 1
    );
    let all: Vec<ClusterPlan> = (1..=clusters)
        .map(ClusterPlan::new)
        .collect::<Result<_>>()?;
    netdev::ensure_bridge(&all)?;
    let new: Vec<ClusterPlan> = all
        .into_iter()
        .filter(|p| p.index > state.clusters)
        .collect();
    for plan in &new {
        check_free(
            &format!("kube-apiserver of cluster {}", plan.index),
            &format!("{}:{APISERVER_PORT}", plan.api_ip),
        )?;
    }
    state.complete = false;
    state.save(paths)?;
    let bin_dir = state.bin_dir.clone();
    start_clusters(paths, &bin_dir, state.etcd_port, &new, t0).await?;
    state.clusters = clusters;
    ensure_nodes(paths, &mut state).await?;
    state.complete = true;
    state.save(paths)?;
    Ok(LabInfo {
        state,
        started: true,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn check_free(what: &str, addr: &str) -> Result<()> {
    match TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(Error::PortInUse {
            what: what.to_owned(),
            addr: addr.to_owned(),
        }),
        Err(e) => Err(Error::io("cannot listen on", addr)(e)),
    }
}

fn token() -> Result<String> {
    let mut bytes = [0u8; 16];
    let mut f =
        std::fs::File::open("/dev/urandom").map_err(Error::io("failed to open", "/dev/urandom"))?;
    std::io::Read::read_exact(&mut f, &mut bytes)
        .map_err(Error::io("failed to read", "/dev/urandom"))?;
    Ok(bytes.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

fn write_users(paths: &LabPaths, plan: &ClusterPlan) -> Result<()> {
    let mut csv = String::new();
    for (file, user, groups) in USERS {
        let tok = token()?;
        let _ = writeln!(csv, "{tok},{user},{user},\"{groups}\"");
        let path = paths.user_kubeconfig(plan.index, file);
        let context = if *file == "admin" {
            format!("lab-c{}", plan.index)
        } else {
            format!("lab-c{}-{file}", plan.index)
        };
        kubeconfig::write(
            &path,
            &kubeconfig::render(&context, &plan.server_url(), user, &tok),
        )?;
    }
    // Each kubelet authenticates as its Node (`system:node:<name>` in `system:nodes`), so the
    // Node authorizer and NodeRestriction apply to it as in a real cluster; every node the layout
    // allows gets one, so a cluster can grow without an apiserver restart.
    for node in plan.nodes(crate::layout::MAX_NODES_PER_CLUSTER)? {
        let tok = token()?;
        let user = node.kubelet_user();
        let _ = writeln!(csv, "{tok},{user},{user},\"system:nodes\"");
        let file = format!("kubelet-{}", node.name);
        kubeconfig::write(
            &paths.user_kubeconfig(plan.index, &file),
            &kubeconfig::render(
                &format!("lab-c{}-{file}", plan.index),
                &plan.server_url(),
                &user,
                &tok,
            ),
        )?;
    }
    kubeconfig::write(&paths.cluster_dir(plan.index).join("tokens.csv"), &csv)
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn etcd_args(paths: &LabPaths, port: u16) -> Vec<String> {
    let client = format!("http://127.0.0.1:{port}");
    let peer = format!("http://127.0.0.1:{}", port + 1);
    vec![
        s("--name=lab"),
        format!("--data-dir={}", paths.etcd_dir().display()),
        s("--log-level=warn"),
        s("--unsafe-no-fsync"),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=lab={peer}"),
        s("--listen-metrics-urls="),
    ]
}

fn apiserver_args(
    paths: &LabPaths,
    plan: &ClusterPlan,
    etcd_port: u16,
    sa_key: &Path,
) -> Vec<String> {
    let dir: PathBuf = paths.cluster_dir(plan.index);
    vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        format!("--etcd-prefix={}", plan.etcd_prefix()),
        format!("--bind-address={}", plan.api_ip),
        format!("--advertise-address={}", plan.api_ip),
        format!("--secure-port={APISERVER_PORT}"),
        format!("--cert-dir={}", dir.join("pki").display()),
        format!("--token-auth-file={}", dir.join("tokens.csv").display()),
        s("--authorization-mode=Node,RBAC"),
        format!("--service-cluster-ip-range={}", plan.service_cidr),
        s("--service-account-issuer=https://kubernetes.default.svc"),
        format!("--service-account-key-file={}", sa_key.display()),
        format!("--service-account-signing-key-file={}", sa_key.display()),
        // The apiserver reaches kubelets (logs, exec, port-forward) at their node address: a
        // node name resolves nowhere here.
        s("--kubelet-preferred-address-types=InternalIP"),
        s("--allow-privileged=true"),
        s("--profiling=false"),
        s("--enable-priority-and-fairness=false"),
    ]
}

/// Starts cluster `plan`'s kube-scheduler unless it runs (it is restartable, like the node
/// components: `up` on a running lab starts a missing one).
fn ensure_scheduler(paths: &LabPaths, bin_dir: &Path, plan: &ClusterPlan) -> Result<()> {
    let name = format!("c{}-kube-scheduler", plan.index);
    let bin = bin_dir.join("kube-scheduler");
    if process::list(&paths.pid_dir())
        .iter()
        .any(|p| p.name == name && process::alive(p.pid, &p.exe))
    {
        return Ok(());
    }
    let started = process::spawn(
        &name,
        &bin,
        &[
            format!(
                "--kubeconfig={}",
                paths
                    .user_kubeconfig(plan.index, "kube-scheduler")
                    .display()
            ),
            s("--leader-elect=false"),
            s("--secure-port=0"),
        ],
        &paths.log(plan.index, "kube-scheduler"),
        &paths.pid_dir(),
    )?;
    ready::check_running(&started, &bin)
}

fn kcm_args(paths: &LabPaths, plan: &ClusterPlan) -> Vec<String> {
    vec![
        format!(
            "--kubeconfig={}",
            paths
                .user_kubeconfig(plan.index, "kube-controller-manager")
                .display()
        ),
        s("--leader-elect=false"),
        s("--secure-port=0"),
        // No node-lifecycle, taint-eviction or pod-GC controller: tests run kubelet-less stand-in
        // Nodes (no heartbeats) whose pods must stay as the tests set them.
        s(
            "--controllers=endpointslice-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,deployment-controller,replicaset-controller,daemonset-controller,statefulset-controller,disruption-controller,root-ca-certificate-publisher-controller",
        ),
        // Published as ConfigMap kube-root-ca.crt in every namespace, which pods' service
        // account volumes mount: the apiserver's self-signed certificate (with its CA).
        format!(
            "--root-ca-file={}",
            paths
                .cluster_dir(plan.index)
                .join("pki/apiserver.crt")
                .display()
        ),
        format!("--cluster-cidr={}", plan.pod_cidr),
        format!("--service-cluster-ip-range={}", plan.service_cidr),
        // The default client limit (20 requests/s, burst 30) caps the EndpointSlice controller at
        // 20 slice writes/s: `causeway-bench sync` at 50 pod changes/s would measure that queue,
        // not causeway. Production clusters with that churn raise it the same way.
        s("--kube-api-qps=200"),
        s("--kube-api-burst=400"),
    ]
}

/// Stops cluster `index`'s kube-apiserver and starts it again with the same flags, waiting until
/// it is ready (its controller-manager is restarted too): for tests that a component survives an
/// apiserver restart.
pub async fn restart_apiserver(paths: &LabPaths, index: u8) -> Result<()> {
    let state = LabState::load(paths)?.ok_or(Error::NotUp)?;
    state.check_index(index)?;
    let plan = ClusterPlan::new(index)?;
    let name = format!("c{index}-kube-apiserver");
    process::stop_one(&paths.pid_dir(), &name, std::time::Duration::from_secs(5));
    let bin = state.bin_dir.join("kube-apiserver");
    let sa_key = paths.root().join("sa.key");
    let started = process::spawn(
        &name,
        &bin,
        &apiserver_args(paths, &plan, state.etcd_port, &sa_key),
        &paths.log(index, "kube-apiserver"),
        &paths.pid_dir(),
    )?;
    let client = crate::admin_client(paths, index).await?;
    ready::wait_apiserver(&client, &started, &bin).await?;
    ready::wait_rbac(paths, index).await?;
    // The controller-manager's informers come back from a dead apiserver only after their
    // back-off, and its EndpointSlice controller meanwhile backs off on "Node not found" for
    // every new pod: restart it too, so the cluster is whole again when this returns.
    let kcm = format!("c{index}-kube-controller-manager");
    process::stop_one(&paths.pid_dir(), &kcm, std::time::Duration::from_secs(5));
    let kcm_bin = state.bin_dir.join("kube-controller-manager");
    let started = process::spawn(
        &kcm,
        &kcm_bin,
        &kcm_args(paths, &plan),
        &paths.log(index, "kube-controller-manager"),
        &paths.pid_dir(),
    )?;
    ready::check_running(&started, &kcm_bin)
}
