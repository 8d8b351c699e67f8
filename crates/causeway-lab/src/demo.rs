//! `causeway-lab demo`: the seed's migration scenario, end to end, on the lab's real clusters.
//!
//! Flow: [`fn@crate::up`] (2 clusters: old 10.42/10.43, new 10.44/10.45) → namespace `demo` and
//! Service `serve` in both, one replica each: a real Pod of the `causeway-serve` image on a
//! kubelet node ([`replicas`]) → [`daemons`]: netpeer on every node, two leader-electing controllers and one
//! `causeway dns` per cluster, `causeway join --both`, ServiceExport `serve` in both → the
//! [`client`] loop in a pod of cluster 1 sends one new connection per request to the
//! ServiceImport's VIP and to `serve.demo.svc.clusterset.local` (resolved through causeway dns)
//! → migration while it runs: a replica on c2-n2, then cluster 1's replica gracefully to zero →
//! a summary of who answered and how many requests failed → teardown. The teardown removes exactly
//! what the demo added (its daemons, pods, namespace, Lease and netpeer entries) from a lab that
//! was already running, or stops the lab when the demo started it; `--keep` leaves everything
//! running. SIGINT and SIGTERM run the same teardown.

pub mod client;
pub mod daemons;
pub mod dns;
pub mod rbac;
pub mod replicas;

use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use causeway_api::{ServiceExport, ServiceImport};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod as PodObject, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use nix::fcntl::{Flock, FlockArg};
use serde_json::json;

use self::client::{PHASES, Phase, RequestLoop, Tally, Targets};
use self::replicas::{NAMESPACE, Replica, SERVICE};
use crate::state::LabState;
use crate::{Error, LabPaths, NodePlan, Result, UpOptions, pods};

const FIELD_MANAGER: &str = "causeway-lab-demo";

/// Options of the demo.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The `causeway` binary to run.
    pub causeway_bin: PathBuf,
    /// Requests the client sends at least (over all phases).
    pub requests: u64,
    /// Leave everything running at the end.
    pub keep: bool,
    /// Time between an endpoint leaving every cluster's slices and its process being stopped.
    pub grace: Duration,
    /// Pause between two requests of the client.
    pub pace: Duration,
}

impl DemoOptions {
    /// Defaults for `causeway` binary `causeway_bin`.
    pub fn new(causeway_bin: PathBuf) -> Self {
        Self {
            causeway_bin,
            requests: 2000,
            keep: false,
            grace: Duration::from_secs(3),
            pace: Duration::from_millis(2),
        }
    }
}

/// What the demo measured.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// Wall time of the whole demo, teardown excluded.
    pub seconds: f64,
    /// True when the demo started the lab (and so stops it unless `--keep`).
    pub lab_started: bool,
    /// The ServiceImport's VIP in cluster 1.
    pub vip: Ipv4Addr,
    /// What `serve.demo.svc.clusterset.local` resolved to from the client pod.
    pub dns_answer: Ipv4Addr,
    /// Seconds from `causeway join` + ServiceExport to both replicas routed in both clusters.
    pub import_seconds: f64,
    /// Seconds until the new replica was in every cluster's slices.
    pub scale_up_seconds: f64,
    /// Seconds from NotReady until the old replica had left every cluster's slices.
    pub scale_down_seconds: f64,
    /// Tallies per phase ([`PHASES`]).
    pub tallies: [Tally; 3],
}

impl DemoReport {
    /// Requests sent over all phases.
    pub fn total(&self) -> u64 {
        self.tallies.iter().map(Tally::total).sum()
    }

    /// Requests that failed over all phases.
    pub fn failed(&self) -> u64 {
        self.tallies.iter().map(Tally::failed).sum()
    }
}

/// Progress output: each line prefixed with the seconds since the start.
struct Progress<'a> {
    out: &'a mut dyn Write,
    t0: Instant,
}

impl Progress<'_> {
    fn step(&mut self, text: &str) {
        let _ = writeln!(
            self.out,
            "\n[{:6.1}s] == {text}",
            self.t0.elapsed().as_secs_f64()
        );
        let _ = self.out.flush();
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "           {text}");
        let _ = self.out.flush();
    }
}

/// What the teardown must remove.
struct Teardown {
    lab_started: bool,
    client: Option<RequestLoop>,
    clients: Vec<kube::Client>,
    netpeer_started: bool,
}

/// Runs the demo (see the module docs), printing progress to `out`.
pub async fn demo(paths: &LabPaths, opts: &DemoOptions, out: &mut dyn Write) -> Result<DemoReport> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::NotRoot);
    }
    if !opts.causeway_bin.is_file() {
        return Err(Error::NoCausewayBinary {
            path: opts.causeway_bin.clone(),
        });
    }
    let _lock = demo_lock(paths)?;
    let was_up = LabState::load(paths)?.is_some_and(|s| s.complete);
    let mut td = Teardown {
        lab_started: !was_up,
        client: None,
        clients: Vec::new(),
        netpeer_started: false,
    };
    let t0 = Instant::now();
    let mut progress = Progress { out, t0 };
    let result = tokio::select! {
        r = steps(paths, opts, &mut progress, &mut td) => r,
        signal = interrupted() => Err(Error::Interrupted { signal }),
    };
    if let Some(mut client) = td.client.take() {
        client.stop();
    }
    if opts.keep && result.is_ok() {
        explore(paths, &mut progress);
        return result;
    }
    if matches!(result, Err(Error::Interrupted { .. })) {
        progress.step("interrupted: removing everything the demo started");
    } else {
        progress.step("teardown");
    }
    if td.lab_started {
        let removed = crate::down::down(paths)?;
        progress.line(&format!(
            "lab down (the demo started it): stopped {} processes, removed {} namespaces/devices",
            removed.processes.len(),
            removed.devices.len()
        ));
    } else {
        let causeway = opts.causeway_bin.clone();
        let (what, problems) = remove_demo(paths, &td.clients, &causeway, td.netpeer_started).await;
        progress.line(&format!(
            "removed what the demo added to the running lab: {what}"
        ));
        if !problems.is_empty() && result.is_ok() {
            return Err(step_err("teardown", problems.join("; ")));
        }
        for problem in problems {
            progress.line(&format!("teardown problem: {problem}"));
        }
    }
    result
}

fn demo_lock(paths: &LabPaths) -> Result<Flock<File>> {
    let path = paths.root().with_extension("demo.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io("failed to open lock file", &path))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| Error::DemoBusy { lock: path })
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

fn step_err(step: &'static str, detail: impl Into<String>) -> Error {
    Error::DemoStep {
        step,
        detail: detail.into(),
    }
}

async fn steps(
    paths: &LabPaths,
    opts: &DemoOptions,
    p: &mut Progress<'_>,
    td: &mut Teardown,
) -> Result<DemoReport> {
    let causeway = opts.causeway_bin.as_path();
    p.step("1/5 two real clusters: the old one (cluster 1) and the new one (cluster 2)");
    // A running lab may have grown beyond two clusters (tests use a third): keep its size.
    let clusters = LabState::load(paths)?
        .filter(|s| s.complete)
        .map_or(2, |s| s.clusters.max(2));
    let info = crate::up(paths, &UpOptions { clusters }).await?;
    td.lab_started = info.started;
    p.line(&format!(
        "lab {} in {:.1} s (etcd, 2 × kube-apiserver + kube-controller-manager + kube-scheduler + CoreDNS; kubelet, containerd and kube-proxy per node)",
        if info.started {
            "started"
        } else {
            "already up, reused"
        },
        info.seconds
    ));
    for i in 1..=2u8 {
        let plan = crate::ClusterPlan::new(i)?;
        p.line(&format!(
            "cluster {i}: apiserver {}  pods {}  services {}",
            plan.server_url(),
            plan.pod_cidr,
            plan.service_cidr
        ));
    }
    let state = info.state;
    for i in 1..=2u8 {
        td.clients.push(crate::admin_client(paths, i).await?);
    }
    let clients = td.clients.clone();
    let (leftovers, problems) = remove_demo(paths, &clients, causeway, stale_netpeer(paths)).await;
    if !problems.is_empty() {
        return Err(step_err(
            "remove an earlier demo's leftovers",
            problems.join("; "),
        ));
    }
    if leftovers != "nothing" {
        p.line(&format!("removed an earlier demo's leftovers: {leftovers}"));
    }
    let node = |name: &str| state.node(name);
    let images = crate::images::ImageSet::find(&crate::images::dir())?;
    for (i, client) in (1u8..).zip(&clients) {
        rbac::ensure_namespace(client, i, NAMESPACE).await?;
        apply_service(client, i).await?;
    }
    p.line(
        "namespace demo and Service serve (port 80 → 8080, selector app=serve) in both clusters",
    );
    let mut replicas = Vec::new();
    for (name, node_name) in [("serve-c1-1", "c1-n1"), ("serve-c2-1", "c2-n1")] {
        let n = node(node_name)?;
        let client = &clients[usize::from(n.cluster - 1)];
        let r = replicas::start(client, &images, &n, name).await?;
        p.line(&format!(
            "cluster {}: pod {name} on {node_name}, IP {}, Ready",
            r.cluster,
            r.ip()
        ));
        replicas.push(r);
    }

    p.step("2/5 causeway: netpeer on every node, 2 controllers + dns per cluster, join, export");
    for (i, client) in (1u8..).zip(&clients) {
        rbac::install_for_user(client, i, rbac::CONTROLLER, "causeway-controller").await?;
        rbac::install_for_user(client, i, rbac::DNS, "causeway-dns").await?;
        rbac::install_for_user(client, i, rbac::NETPEER_PEER, "causeway-netpeer").await?;
    }
    p.line("RBAC from deploy/{controller,dns,netpeer} bound to the lab users");
    td.netpeer_started = true;
    for n in demo_nodes(&state)? {
        let d = daemons::start_netpeer(paths, causeway, &n)?;
        p.line(&format!(
            "netpeer on {:<6} pid {:>7}  (CAP_NET_ADMIN only, peer read-only credential)",
            n.name, d.pid
        ));
    }
    for i in 1..=2u8 {
        for replica in ["a", "b"] {
            let d = daemons::start_controller(paths, causeway, i, replica)?;
            p.line(&format!(
                "controller {replica} of cluster {i} pid {:>7}  (Lease causeway-system/{})",
                d.pid,
                daemons::LEASE
            ));
        }
        let d = daemons::start_dns(paths, causeway, i)?;
        p.line(&format!(
            "dns of cluster {i} pid {:>7} on {}",
            d.pid,
            daemons::dns_addr(i)?
        ));
    }
    let t_join = Instant::now();
    daemons::join(paths, causeway).await?;
    p.line("causeway join --both: each cluster reads the other with a read-only credential");
    for (i, client) in (1u8..).zip(&clients) {
        let export = json!({
            "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE},
        });
        Api::<ServiceExport>::namespaced(client.clone(), NAMESPACE)
            .patch(
                SERVICE,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&export),
            )
            .await
            .map_err(Error::kube("failed to apply the ServiceExport", i))?;
    }
    p.line("ServiceExport demo/serve in both clusters");
    let vip = wait_vip(paths, &clients[0]).await?;
    for r in &replicas {
        replicas::wait_routed(&clients, r.ip(), true, Duration::from_secs(30)).await?;
        daemons::check_alive(paths)?;
    }
    let import_seconds = t_join.elapsed().as_secs_f64();
    p.line(&format!(
        "ServiceImport demo/serve in cluster 1: VIP {vip}; both pods in both clusters' EndpointSlices after {import_seconds:.1} s"
    ));

    p.step("3/5 a client pod in cluster 1 asks the VIP and serve.demo.svc.clusterset.local");
    let c1n1 = node("c1-n1")?;
    let client_pod = pods::create(paths, &c1n1, "demo-client")?;
    p.line(&format!(
        "client pod {} on c1-n1, IP {}",
        client_pod.netns, client_pod.ip
    ));
    for r in &replicas {
        wait_direct(paths, &client_pod, r).await?;
    }
    p.line("pod → pod across the clusters works (netpeer's VXLAN routes)");
    let dns_server = daemons::dns_addr(1)?;
    let name = format!("{SERVICE}.{NAMESPACE}.svc.clusterset.local");
    let dns_answer = wait_dns(&client_pod, dns_server, &name, vip).await?;
    p.line(&format!(
        "DNS from the pod: {name} A {dns_answer} (asked {dns_server})"
    ));
    let warm = wait_vip_answers(&client_pod, SocketAddr::from((vip, 80))).await?;
    p.line(&format!(
        "the VIP answers from both clusters (kube-proxy on c1-n1 programmed it; {warm} probes)"
    ));
    let targets = Targets {
        vip: SocketAddr::from((vip, 80)),
        dns_server,
        name,
        port: 80,
    };
    td.client = Some(RequestLoop::start(&client_pod.netns, targets, opts.pace)?);
    let both_min = (opts.requests / 5).max(50);
    wait_tally(td, Phase::Both, Duration::from_secs(30), |t| {
        t.total() >= both_min && t.from_cluster("1") > 0 && t.from_cluster("2") > 0
    })
    .await
    .map_err(|t| {
        step_err(
            "both clusters answer",
            format!("after {} requests: {}", t.total(), describe(&t)),
        )
    })?;
    let t = tally(td, Phase::Both);
    p.line(&format!(
        "{} requests (one new connection each), answers: {}",
        t.total(),
        describe(&t)
    ));

    p.step("4/5 migration while the client keeps asking: scale up in cluster 2, down to 0 in cluster 1");
    set_phase(td, Phase::Migrating);
    let c2n2 = node("c2-n2")?;
    let new = replicas::start(&clients[1], &images, &c2n2, "serve-c2-2").await?;
    let scale_up_seconds =
        replicas::wait_routed(&clients, new.ip(), true, Duration::from_secs(30)).await?;
    p.line(&format!(
        "cluster 2: pod serve-c2-2 on c2-n2, IP {}, in every cluster's slices after {scale_up_seconds:.1} s",
        new.ip()
    ));
    wait_tally(td, Phase::Migrating, Duration::from_secs(20), |t| {
        t.by_pod.contains_key("c2/serve-c2-2")
    })
    .await
    .map_err(|t| {
        step_err(
            "scale up",
            format!("serve-c2-2 never answered: {}", describe(&t)),
        )
    })?;
    p.line("the client gets answers from serve-c2-2");
    let old = replicas.remove(0);
    p.line(&format!(
        "cluster 1: pod serve-c1-1 deleted with a {} s grace period (SIGTERM; it keeps answering for {} s, its endpoint turns terminating)",
        replicas::GRACE_PERIOD_SECONDS,
        replicas::SHUTDOWN_DELAY_SECONDS
    ));
    let scale_down_seconds = replicas::stop_gracefully(&clients, &old, opts.grace).await?;
    p.line(&format!(
        "its endpoint left every cluster's slices after {scale_down_seconds:.1} s; the kubelet then stopped and removed the pod"
    ));
    daemons::check_alive(paths)?;
    set_phase(td, Phase::After);
    let after_min = (opts.requests / 10).max(50);
    let total_before = td.client.as_ref().map_or(0, RequestLoop::total);
    let needed = opts.requests.saturating_sub(total_before).max(after_min);
    let deadline = Duration::from_secs(30 + needed / 50);
    wait_tally(td, Phase::After, deadline, |t| t.total() >= needed)
        .await
        .map_err(|t| step_err("after the move", format!("only {} requests", t.total())))?;
    let tallies = td
        .client
        .as_mut()
        .map(RequestLoop::stop)
        .unwrap_or_default();
    let after = &tallies[Phase::After as usize];
    p.line(&format!(
        "after the move: {} requests, answers: {}",
        after.total(),
        describe(after)
    ));

    p.step("5/5 summary");
    let report = DemoReport {
        seconds: p.t0.elapsed().as_secs_f64(),
        lab_started: td.lab_started,
        vip,
        dns_answer,
        import_seconds,
        scale_up_seconds,
        scale_down_seconds,
        tallies,
    };
    for line in summary(&report) {
        p.line(&line);
    }
    Ok(report)
}

fn set_phase(td: &Teardown, phase: Phase) {
    if let Some(c) = &td.client {
        c.set_phase(phase);
    }
}

fn tally(td: &Teardown, phase: Phase) -> Tally {
    td.client
        .as_ref()
        .map(|c| c.tallies()[phase as usize].clone())
        .unwrap_or_default()
}

/// Waits until `phase`'s tally satisfies `done`; the tally on timeout.
async fn wait_tally(
    td: &Teardown,
    phase: Phase,
    timeout: Duration,
    done: impl Fn(&Tally) -> bool,
) -> std::result::Result<(), Tally> {
    let t0 = Instant::now();
    loop {
        let t = tally(td, phase);
        if done(&t) {
            return Ok(());
        }
        if t0.elapsed() > timeout {
            return Err(t);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `cluster 1: N, cluster 2: M (pods …), failed F`.
pub fn describe(t: &Tally) -> String {
    let clusters: Vec<String> = t
        .by_cluster
        .iter()
        .map(|(c, n)| format!("cluster {c}: {n}"))
        .collect();
    let pods: Vec<String> = t.by_pod.iter().map(|(p, n)| format!("{p} {n}")).collect();
    let answers = if clusters.is_empty() {
        "no answers".to_owned()
    } else {
        format!("{} ({})", clusters.join(", "), pods.join(", "))
    };
    let first = t
        .errors
        .first()
        .map(|e| format!(" (first: {e})"))
        .unwrap_or_default();
    format!("{answers}, failed {}{first}", t.failed())
}

/// The summary table.
pub fn summary(r: &DemoReport) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<16} {:>8} {:>7} {:>10} {:>10} {:>8} {:>8}",
        "PHASE", "REQUESTS", "FAILED", "CLUSTER 1", "CLUSTER 2", "VIA VIP", "VIA DNS"
    )];
    let mut total = Tally::default();
    for (name, t) in PHASES.iter().zip(&r.tallies) {
        lines.push(format!(
            "{:<16} {:>8} {:>7} {:>10} {:>10} {:>8} {:>8}",
            name,
            t.total(),
            t.failed(),
            t.from_cluster("1"),
            t.from_cluster("2"),
            t.vip.0,
            t.dns.0
        ));
        for (c, n) in &t.by_cluster {
            *total.by_cluster.entry(c.clone()).or_default() += n;
        }
        total.vip.0 += t.vip.0;
        total.dns.0 += t.dns.0;
        total.vip.1 += t.vip.1;
        total.dns.1 += t.dns.1;
    }
    lines.push(format!(
        "{:<16} {:>8} {:>7} {:>10} {:>10} {:>8} {:>8}",
        "total",
        total.total(),
        total.failed(),
        total.from_cluster("1"),
        total.from_cluster("2"),
        total.vip.0,
        total.dns.0
    ));
    lines.push(String::new());
    lines.push(format!(
        "ClusterSet VIP {} (DNS answered {}); import ready {:.1} s after join; new replica routed in {:.1} s; old one withdrawn in {:.1} s",
        r.vip, r.dns_answer, r.import_seconds, r.scale_up_seconds, r.scale_down_seconds
    ));
    lines.push(format!(
        "failed requests: {} of {}; demo took {:.1} s",
        r.failed(),
        r.total(),
        r.seconds
    ));
    for (name, t) in PHASES.iter().zip(&r.tallies) {
        for e in &t.errors {
            lines.push(format!("  failure during {name}: {e}"));
        }
    }
    lines
}

async fn apply_service(client: &kube::Client, cluster: u8) -> Result<()> {
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE},
        "spec": {"selector": {"app": SERVICE},
                 "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]},
    });
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .patch(
            SERVICE,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&svc),
        )
        .await
        .map_err(Error::kube("failed to apply Service demo/serve", cluster))?;
    Ok(())
}

async fn wait_vip(paths: &LabPaths, client: &kube::Client) -> Result<Ipv4Addr> {
    let api: Api<ServiceImport> = Api::namespaced(client.clone(), NAMESPACE);
    let t0 = Instant::now();
    loop {
        let import = api
            .get_opt(SERVICE)
            .await
            .map_err(Error::kube("failed to read ServiceImport demo/serve", 1))?;
        let ip = import
            .and_then(|i| i.spec.ips)
            .and_then(|ips| ips.first().and_then(|ip| ip.parse().ok()));
        if let Some(ip) = ip {
            return Ok(ip);
        }
        daemons::check_alive(paths)?;
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(step_err(
                "ServiceImport",
                format!(
                    "ServiceImport demo/serve in cluster 1 has no VIP after 60 s; the controller logs are in {}",
                    daemons::log_dir(paths).display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_direct(paths: &LabPaths, from: &pods::Pod, to: &Replica) -> Result<()> {
    let addr = SocketAddr::from((to.ip(), replicas::TARGET_PORT));
    let t0 = Instant::now();
    loop {
        let ns = from.netns.clone();
        if crate::netns::run_in(&ns, move || client::request(addr).is_ok())? {
            return Ok(());
        }
        daemons::check_alive(paths)?;
        if t0.elapsed() > Duration::from_secs(30) {
            return Err(step_err(
                "pod network",
                format!(
                    "the client pod cannot reach {} ({addr}) after 30 s; netpeer logs are in {}",
                    to.name,
                    daemons::log_dir(paths).display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_dns(
    from: &pods::Pod,
    server: SocketAddr,
    name: &str,
    vip: Ipv4Addr,
) -> Result<Ipv4Addr> {
    let t0 = Instant::now();
    let mut id: u16 = 0x4000;
    loop {
        id = id.wrapping_add(1);
        let (ns, n) = (from.netns.clone(), name.to_owned());
        let answer = crate::netns::run_in(&ns, move || dns::lookup(server, &n, id))?;
        match answer {
            Ok(ip) if ip == vip => return Ok(ip),
            other if t0.elapsed() > Duration::from_secs(30) => {
                let got = match other {
                    Ok(ip) => ip.to_string(),
                    Err(e) => e.to_string(),
                };
                return Err(step_err(
                    "DNS",
                    format!("{name} from the client pod via {server}: {got}, want {vip}"),
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Probes `vip` from `from` until both clusters have answered; returns the number of probes.
async fn wait_vip_answers(from: &pods::Pod, vip: SocketAddr) -> Result<u32> {
    let t0 = Instant::now();
    let mut seen = std::collections::BTreeSet::new();
    let mut probes = 0;
    while seen.len() < 2 {
        probes += 1;
        let ns = from.netns.clone();
        if let Ok((cluster, _)) = crate::netns::run_in(&ns, move || client::request(vip))? {
            seen.insert(cluster);
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return Err(step_err(
                "VIP",
                format!("after 30 s only {seen:?} answered on {vip} from the client pod"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(probes)
}

/// The nodes of clusters 1 and 2 (the demo's clusters, whatever the lab's size).
fn demo_nodes(state: &LabState) -> Result<Vec<NodePlan>> {
    Ok(state
        .node_plans()?
        .into_iter()
        .filter(|n| n.cluster <= 2)
        .collect())
}

/// True when PID files of demo netpeer agents exist (an earlier demo's or this one's).
fn stale_netpeer(paths: &LabPaths) -> bool {
    crate::process::list(&paths.pod_pid_dir())
        .iter()
        .any(|p| p.name.starts_with("demo-netpeer-"))
}

/// The demo's pod namespaces recorded in the lab (the client and every replica).
fn demo_pods(paths: &LabPaths) -> Vec<pods::Pod> {
    let Ok(Some(state)) = LabState::load(paths) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(paths.pod_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let netns = e.file_name().to_str()?.to_owned();
            if !netns.contains("-pdemo-") {
                return None;
            }
            let text = std::fs::read_to_string(e.path()).ok()?;
            let mut lines = text.lines();
            let ip: Ipv4Addr = lines.next()?.trim().parse().ok()?;
            let node: NodePlan = state.node(lines.next()?.trim()).ok()?;
            Some(pods::Pod {
                netns,
                node,
                ip,
                node_veth: format!("vp{}", ip.octets()[3]),
            })
        })
        .collect()
}

/// Removes what the demo adds to a running lab: namespace `demo` (pods first, while the
/// controllers still run), its daemons, netpeer's entries (when `netpeer` says agents ran), its
/// pod namespaces and its Lease. Best effort: every part is tried. Returns a short description of
/// what was removed and the problems met.
async fn remove_demo(
    paths: &LabPaths,
    clients: &[kube::Client],
    causeway: &std::path::Path,
    netpeer: bool,
) -> (String, Vec<String>) {
    let mut removed = Vec::new();
    let mut problems = Vec::new();
    let mut deleting = Vec::new();
    for (i, client) in (1u8..).zip(clients) {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        match namespaces.get_opt(NAMESPACE).await {
            Ok(None) => continue,
            Ok(Some(_)) => {}
            Err(e) => {
                problems.push(format!("cannot read namespace demo in cluster {i} ({e})"));
                continue;
            }
        }
        let _ = Api::<PodObject>::namespaced(client.clone(), NAMESPACE)
            .delete_collection(
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..DeleteParams::default()
                },
                &ListParams::default(),
            )
            .await;
        let _ = namespaces.delete(NAMESPACE, &DeleteParams::default()).await;
        deleting.push((i, namespaces));
    }
    let t0 = Instant::now();
    for (i, namespaces) in deleting {
        loop {
            match namespaces.get_opt(NAMESPACE).await {
                Ok(None) => {
                    removed.push(format!("namespace demo in cluster {i}"));
                    break;
                }
                _ if t0.elapsed() > Duration::from_secs(60) => {
                    problems.push(format!(
                        "namespace demo in cluster {i} is still there after 60 s"
                    ));
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    let stopped = daemons::stop_all(paths);
    if !stopped.is_empty() {
        removed.push(format!("{} daemons", stopped.len()));
    }
    if netpeer && let Ok(Some(state)) = LabState::load(paths) {
        for n in demo_nodes(&state).unwrap_or_default() {
            if let Err(e) = daemons::cleanup_netpeer(causeway, &n) {
                problems.push(format!("netpeer cleanup on {}: {e}", n.name));
            }
        }
        removed.push("netpeer entries on every node".into());
    }
    let pods = demo_pods(paths);
    if !pods.is_empty() {
        removed.push(format!("{} pod namespaces", pods.len()));
    }
    for pod in pods {
        if let Err(e) = pods::delete(paths, &pod) {
            problems.push(format!("pod {}: {e}", pod.netns));
        }
    }
    for (i, client) in (1u8..).zip(clients) {
        let leases: Api<Lease> = Api::namespaced(client.clone(), "causeway-system");
        for lease in [daemons::LEASE, daemons::DNS_LEASE] {
            if let Ok(Some(_)) = leases.get_opt(lease).await {
                let _ = leases.delete(lease, &DeleteParams::default()).await;
                removed.push(format!("Lease {lease} in cluster {i}"));
            }
        }
    }
    let what = if removed.is_empty() {
        "nothing".to_owned()
    } else {
        removed.join(", ")
    };
    (what, problems)
}

fn explore(paths: &LabPaths, p: &mut Progress<'_>) {
    p.step("--keep: everything keeps running; explore with");
    let kubectl = LabState::load(paths)
        .ok()
        .flatten()
        .map_or_else(|| PathBuf::from("kubectl"), |s| s.bin_dir.join("kubectl"));
    let k = |i: u8| {
        format!(
            "{} --kubeconfig {}",
            kubectl.display(),
            paths.admin_kubeconfig(i).display()
        )
    };
    p.line(&format!(
        "{} get svcex,svcim,svc,endpointslices,pods -n demo -o wide",
        k(1)
    ));
    p.line(&format!("{} get svcim serve -n demo -o yaml", k(2)));
    p.line(&format!("{} get leases -n causeway-system", k(1)));
    p.line(&format!(
        "ip netns exec cwl-c1-pdemo-client curl -s http://$({} get svcim serve -n demo -o jsonpath='{{.spec.ips[0]}}')/",
        k(1)
    ));
    p.line(&format!(
        "ip netns exec cwl-c1-pdemo-client dig @{} -p {} +short serve.demo.svc.clusterset.local",
        crate::ClusterPlan::new(1)
            .map(|c| c.api_ip.to_string())
            .unwrap_or_default(),
        daemons::DNS_PORT
    ));
    p.line(&format!(
        "daemon logs: {}",
        daemons::log_dir(paths).display()
    ));
    p.line("run `causeway-lab demo` again to start over, `causeway-lab down` to stop everything");
}
