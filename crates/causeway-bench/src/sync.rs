//! `causeway-bench sync`: cross-cluster sync on lab clusters 1 and 2 with the real
//! `causeway controller` in both.
//!
//! Order: `causeway join --both` (admin kubeconfigs, idempotent); a fresh namespace in both
//! clusters and a Node of its own in cluster 2; in cluster 2, N selector Services, each backed by
//! E pods bound to that Node and made Running/Ready with a pod IP through `pods/status` (so the
//! real kube-controller-manager publishes their EndpointSlices), and a ServiceExport each; wait
//! until the kcm has published every endpoint. Then watches on cluster 1's MCS EndpointSlices and
//! ServiceImports start, both controllers start (`--namespace <ns>`, admin port on a free
//! loopback port), and the initial convergence is timed from cluster 1's controller spawn until
//! every Service has an import with `status.clusters` in cluster 1 and its MCS slices hold every
//! endpoint. Then C endpoint changes (a pod's IP through `pods/status`, at a bounded rate): each
//! change's latency runs from just before its PATCH in cluster 2 to the arrival, on the watch, of
//! a cluster 1 MCS slice carrying the new IP. Writes per change come from cluster 1's controller
//! (`causeway_controller_api_writes_total`) and apiserver (`apiserver_request_total`), after the
//! controller went quiet. Clean-up (also after a failure): pods, both namespaces (while the
//! controllers still run: their finalizers need them), the controllers, the Node, the Leases.
//!
//! Needs the lab; do not run it while `make test` runs (both load the same apiservers).

mod objects;
mod view;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use causeway_api::names::{LABEL_K8S_SERVICE_NAME, LABEL_SERVICE_NAME};
use causeway_lab::LabPaths;
use causeway_lab::state::LabState;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use self::objects::Workload;
use crate::daemon::{Daemon, LEASE_NAMESPACE, controller_args, free_loopback_addr};
use crate::table::Table;
use crate::{procfs, prom};

/// Namespace of the Leases (created by `causeway join`).
/// How long a namespace may take to disappear.
const NAMESPACE_TIMEOUT: Duration = Duration::from_secs(300);
/// Target: p99 change propagation.
const P99_TARGET_MS: f64 = 500.0;
/// The controller's histogram from a source slice change's arrival to the MCS slice write.
const SLICE_LATENCY: &str = "causeway_controller_sync_slice_latency_seconds";
/// Target: writes per change.
const WRITES_TARGET: f64 = 1.0;
/// Target: controller peak RSS, MiB.
const RSS_TARGET_MIB: f64 = 100.0;
/// Counted apiserver verbs.
const WRITE_VERBS: &[&str] = &["POST", "PUT", "PATCH", "APPLY", "DELETE"];
/// Counted apiserver resources.
const RESOURCES: &[&str] = &[
    "endpointslices",
    "serviceimports",
    "serviceexports",
    "services",
];

/// `causeway-bench sync` flags.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Exported Services (in cluster 2).
    #[arg(long, default_value_t = 1000)]
    services: usize,
    /// Pods (endpoints) per Service.
    #[arg(long, default_value_t = 10)]
    endpoints: usize,
    /// Endpoint changes (pod IP changes in cluster 2) after the initial convergence.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
    /// Endpoint changes per second.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Requests in flight while creating objects and making changes.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The `causeway` binary (default: next to this binary, then ./target/{release,debug}).
    /// Build it with `cargo build --release -p causeway-cli` for meaningful numbers.
    #[arg(long, env = "CAUSEWAY_BIN")]
    causeway_bin: Option<PathBuf>,
    /// Give up on the kcm's slices, and on the initial convergence, after this many seconds each.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Give up on changes not seen in cluster 1 this many seconds after the last one was made.
    #[arg(long, default_value_t = 60)]
    change_timeout: u64,
}

/// One controller's figures.
#[derive(Debug, Default)]
struct Ctl {
    initial_writes: Option<f64>,
    change_writes: Option<f64>,
    by_kind: Vec<(String, f64, f64)>,
    peak_kib: Option<u64>,
    cpu_s: Option<f64>,
    change_cpu_s: Option<f64>,
    /// Sync passes during the changes, and their mean duration in ms.
    change_passes: Option<(f64, f64)>,
    /// The controller's own slice latency histogram over the changes: p50 and p99 bucket bounds.
    slice_latency: (Option<f64>, Option<f64>),
}

/// What the run measured.
#[derive(Debug, Default)]
struct Report {
    services: usize,
    endpoints: usize,
    rate: u32,
    ns: String,
    bin: PathBuf,
    create_s: f64,
    kcm_s: f64,
    ready_s: Option<f64>,
    converge_s: Option<f64>,
    converged: usize,
    issued: usize,
    failed_patches: usize,
    latencies_ms: Vec<f64>,
    /// PATCH → the new IP in cluster 2's kcm slice.
    kcm_ms: Vec<f64>,
    /// cluster 2's kcm slice → cluster 1's MCS slice (causeway's part).
    hop_ms: Vec<f64>,
    api_initial: BTreeMap<String, f64>,
    api_changes: BTreeMap<String, f64>,
    c1: Ctl,
    c2: Ctl,
    watch_errors: usize,
}

/// Runs the benchmark; see the module docs.
pub async fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let SyncArgs {
        services,
        endpoints,
        changes,
        rate,
        concurrency,
        causeway_bin,
        timeout,
        change_timeout,
    } = args;
    if services == 0 || endpoints == 0 || services * endpoints > objects::MAX_ENDPOINTS {
        bail!(
            "--services x --endpoints must be 1..={}",
            objects::MAX_ENDPOINTS
        );
    }
    if changes > objects::MAX_CHANGES || rate == 0 {
        bail!(
            "--changes must be at most {} and --rate > 0",
            objects::MAX_CHANGES
        );
    }
    eprintln!(
        "causeway-bench: sync needs the lab (clusters 1 and 2) and loads both apiservers; do not \
         run it while `make test` runs"
    );
    let paths = LabPaths::from_env();
    let running = LabState::load(&paths)
        .ok()
        .flatten()
        .is_some_and(|s| s.complete && s.clusters >= 2);
    if !running {
        bail!("no running lab with 2 clusters; start one with `causeway-lab up`");
    }
    let bin = crate::lab::find_binary("causeway", causeway_bin.as_deref())?;
    if bin.components().any(|c| c.as_os_str() == "debug") {
        eprintln!(
            "causeway-bench: NOTE {} is a debug build; build with \
             `cargo build --release -p causeway-cli` for meaningful numbers",
            bin.display()
        );
    }
    let c1 = causeway_lab::admin_client(&paths, 1).await?;
    let c2 = causeway_lab::admin_client(&paths, 2).await?;
    join(&bin, &paths).await?;
    let tag = {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        format!("{}-{:04x}", std::process::id(), nanos & 0xffff)
    };
    let ns = format!("cw-bench-sync-{tag}");
    let mut report = Report {
        services,
        endpoints,
        rate,
        ns: ns.clone(),
        bin: bin.clone(),
        ..Report::default()
    };
    let mut daemons: Vec<Daemon> = Vec::new();
    let setup = Setup {
        paths: &paths,
        bin: &bin,
        c1: &c1,
        c2: &c2,
        ns: &ns,
        lease: &ns,
        w: Workload {
            services,
            endpoints,
            concurrency,
        },
        changes,
        timeout: Duration::from_secs(timeout),
        change_timeout: Duration::from_secs(change_timeout),
    };
    let result = measure(&setup, &mut daemons, &mut report).await;
    cleanup(&setup, &mut daemons).await;
    result?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", render(&report))?;
    Ok(ExitCode::SUCCESS)
}

/// Everything the phases share.
struct Setup<'a> {
    paths: &'a LabPaths,
    bin: &'a Path,
    c1: &'a kube::Client,
    c2: &'a kube::Client,
    ns: &'a str,
    lease: &'a str,
    w: Workload,
    changes: usize,
    timeout: Duration,
    change_timeout: Duration,
}

/// `causeway join --both` between clusters 1 and 2.
async fn join(bin: &Path, paths: &LabPaths) -> anyhow::Result<()> {
    let run = tokio::process::Command::new(bin)
        .args(["join", "--kubeconfig"])
        .arg(paths.admin_kubeconfig(1))
        .arg("--peer-kubeconfig")
        .arg(paths.admin_kubeconfig(2))
        .arg("--both")
        .env("CAUSEWAY_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .context("causeway join timed out")?
        .context("failed to run causeway join")?;
    if !out.status.success() {
        bail!(
            "causeway join failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn start_controller(s: &Setup<'_>, cluster: u8) -> anyhow::Result<Daemon> {
    let admin = free_loopback_addr()?;
    let args = controller_args(&s.paths.admin_kubeconfig(cluster), admin, s.lease, s.ns);
    let log = s
        .paths
        .root()
        .join("bench-logs")
        .join(format!("sync-{}-c{cluster}.log", s.ns));
    let d = Daemon::start(s.bin, &args, &[], &log, Some(admin))?;
    eprintln!(
        "causeway-bench: cluster {cluster} controller pid {} admin {admin} (log {})",
        d.pid,
        log.display()
    );
    Ok(d)
}

/// The apiserver's write counters (resource[/subresource] VERB → count).
async fn apiserver_writes(client: &kube::Client) -> anyhow::Result<BTreeMap<String, f64>> {
    let req = http::Request::get("/metrics")
        .body(Vec::new())
        .context("failed to build a /metrics request")?;
    let text = client
        .request_text(req)
        .await
        .context("failed to read the apiserver's /metrics")?;
    let mut out = BTreeMap::new();
    for s in prom::samples(&text, "apiserver_request_total") {
        let get = |k: &str| s.labels.get(k).map_or("", String::as_str);
        let (resource, sub, verb) = (get("resource"), get("subresource"), get("verb"));
        if !RESOURCES.contains(&resource) || !WRITE_VERBS.contains(&verb) {
            continue;
        }
        let key = if sub.is_empty() {
            format!("{resource} {verb}")
        } else {
            format!("{resource}/{sub} {verb}")
        };
        *out.entry(key).or_default() += s.value;
    }
    Ok(out)
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| d.abs() > f64::EPSILON)
        .collect()
}

async fn by_kind(d: &Daemon) -> BTreeMap<String, f64> {
    d.writes_by_kind().await.into_iter().collect()
}

async fn measure(
    setup: &Setup<'_>,
    daemons: &mut Vec<Daemon>,
    r: &mut Report,
) -> anyhow::Result<()> {
    let Setup { c1, c2, ns, w, .. } = *setup;
    for client in [c1, c2] {
        objects::create_namespace(client, ns).await?;
    }
    objects::create_node(c2, ns).await?;
    eprintln!(
        "causeway-bench: creating {} Services x {} pods + ServiceExports in cluster 2, {ns}",
        w.services, w.endpoints
    );
    r.create_s = objects::create_workload(c2, ns, ns, w).await?;
    eprintln!("causeway-bench: created in {:.1} s", r.create_s);

    // The kcm's slices in cluster 2 must be complete before the controllers start.
    let want = w.services * w.endpoints;
    let since = Instant::now();
    loop {
        let ready = objects::kcm_ready_endpoints(c2, ns).await?;
        if ready >= want {
            break;
        }
        if since.elapsed() > setup.timeout {
            bail!(
                "the kcm published {ready}/{want} ready endpoints after {:?}",
                setup.timeout
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    r.kcm_s = since.elapsed().as_secs_f64();
    eprintln!(
        "causeway-bench: kcm slices complete after {:.1} s more",
        r.kcm_s
    );

    let expected: Vec<(String, Vec<String>)> = (0..w.services)
        .map(|i| {
            let ips = (0..w.endpoints)
                .map(|p| objects::initial_ip(i, p, w.endpoints).to_string())
                .collect();
            (objects::service_name(i), ips)
        })
        .collect();
    let watches = view::start(c1, ns, LABEL_SERVICE_NAME, true);
    let kcm = view::start(c2, ns, LABEL_K8S_SERVICE_NAME, false);
    tokio::time::sleep(Duration::from_millis(500)).await; // let the watches list
    let api_before = apiserver_writes(c1).await?;
    daemons.push(start_controller(setup, 1)?);
    daemons.push(start_controller(setup, 2)?);
    let started = daemons[0].started;
    r.ready_s = daemons[0].wait_ready(Duration::from_secs(120)).await.ok();

    // Initial convergence.
    let mut last_progress = Instant::now();
    loop {
        let (done, counts) = {
            let v = watches.lock();
            let done = expected
                .iter()
                .filter(|(n, ips)| v.complete(n, ips))
                .count();
            (done, v.counts())
        };
        r.converged = done;
        if done == w.services {
            r.converge_s = Some(started.elapsed().as_secs_f64());
            break;
        }
        if started.elapsed() > setup.timeout {
            eprintln!(
                "causeway-bench: WARNING: not converged after {:?}",
                setup.timeout
            );
            break;
        }
        for d in daemons.iter_mut() {
            if !d.alive() {
                bail!(
                    "a controller exited; log {}:\n{}",
                    d.log.display(),
                    d.log_tail(20)
                );
            }
        }
        if last_progress.elapsed() > Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "causeway-bench: {done}/{} services converged ({} imports with clusters, {} MCS \
                 slices) after {:.0} s",
                w.services,
                counts.0,
                counts.1,
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("causeway-bench: converged: {:?} s; settling", r.converge_s);
    for d in daemons.iter_mut() {
        d.wait_quiet(Duration::from_secs(2), Duration::from_secs(60))
            .await;
    }
    let api_mid = apiserver_writes(c1).await?;
    r.api_initial = delta(&api_before, &api_mid);
    r.c1.initial_writes = daemons[0].writes().await;
    r.c2.initial_writes = daemons[1].writes().await;
    if r.converge_s.is_none() || setup.changes == 0 {
        return finish(daemons, r, &watches).await;
    }

    // Endpoint changes.
    let kinds_before = [by_kind(&daemons[0]).await, by_kind(&daemons[1]).await];
    let writes_before = [daemons[0].writes().await, daemons[1].writes().await];
    let cpu_before = [daemons[0].cpu_seconds(), daemons[1].cpu_seconds()];
    let passes_before = [daemons[0].passes().await, daemons[1].passes().await];
    let latency_before = daemons[0].buckets(SLICE_LATENCY).await;
    eprintln!(
        "causeway-bench: {} endpoint changes at {}/s in cluster 2",
        setup.changes, r.rate
    );
    let pods: Api<Pod> = Api::namespaced(c2.clone(), ns);
    let interval = Duration::from_secs_f64(1.0 / f64::from(r.rate));
    let t0 = tokio::time::Instant::now();
    let issued: Vec<(usize, Instant, bool)> = futures::stream::iter(0..setup.changes)
        .map(|j| {
            let pods = &pods;
            async move {
                tokio::time::sleep_until(t0 + interval * u32::try_from(j).unwrap_or(u32::MAX))
                    .await;
                let (svc, pod) = objects::change_target(j, w.services, w.endpoints);
                let status = objects::running_status(objects::change_ip(j));
                let name = objects::pod_name(svc, pod);
                let params = PatchParams::default();
                let merge = Patch::Merge(&status);
                let at = Instant::now();
                let patch = pods.patch_status(&name, &params, &merge);
                let ok = matches!(
                    tokio::time::timeout(Duration::from_secs(10), patch).await,
                    Ok(Ok(_))
                );
                (j, at, ok)
            }
        })
        .buffer_unordered(w.concurrency.max(1))
        .collect()
        .await;
    r.issued = issued.len();
    r.failed_patches = issued.iter().filter(|(_, _, ok)| !ok).count();
    let waiting: Vec<(String, Instant)> = issued
        .iter()
        .filter(|(_, _, ok)| *ok)
        .map(|(j, at, _)| (objects::change_ip(*j).to_string(), *at))
        .collect();
    let deadline = Instant::now() + setup.change_timeout;
    loop {
        let seen = {
            let v = watches.lock();
            waiting
                .iter()
                .filter(|(ip, _)| v.first_seen.contains_key(ip))
                .count()
        };
        if seen == waiting.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let v = watches.lock();
        let k = kcm.lock();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        for (ip, at) in &waiting {
            let c1_seen = v.first_seen.get(ip);
            let c2_seen = k.first_seen.get(ip);
            if let Some(seen) = c1_seen {
                r.latencies_ms.push(ms(seen.duration_since(*at)));
            }
            if let Some(c2) = c2_seen {
                r.kcm_ms.push(ms(c2.duration_since(*at)));
                if let Some(c1) = c1_seen {
                    r.hop_ms.push(ms(c1.saturating_duration_since(*c2)));
                }
            }
        }
    }
    for d in daemons.iter_mut() {
        d.wait_quiet(Duration::from_secs(2), Duration::from_secs(60))
            .await;
    }
    r.api_changes = delta(&api_mid, &apiserver_writes(c1).await?);
    for (k, ctl) in [&mut r.c1, &mut r.c2].into_iter().enumerate() {
        let after = daemons[k].writes().await;
        ctl.change_writes = after.zip(writes_before[k]).map(|(a, b)| a - b);
        ctl.change_cpu_s = daemons[k]
            .cpu_seconds()
            .zip(cpu_before[k])
            .map(|(a, b)| a - b);
        if k == 0 {
            let after = daemons[0].buckets(SLICE_LATENCY).await;
            ctl.slice_latency = (
                prom::quantile_bound(&latency_before, &after, 0.5),
                prom::quantile_bound(&latency_before, &after, 0.99),
            );
        }
        ctl.change_passes =
            daemons[k]
                .passes()
                .await
                .zip(passes_before[k])
                .map(|((n1, s1), (n0, s0))| {
                    let n = n1 - n0;
                    (n, if n > 0.0 { (s1 - s0) * 1000.0 / n } else { 0.0 })
                });
        let now = by_kind(&daemons[k]).await;
        ctl.by_kind = now
            .iter()
            .map(|(kind, v)| {
                let before = kinds_before[k].get(kind).copied().unwrap_or(0.0);
                (kind.clone(), before, v - before)
            })
            .collect();
    }
    finish(daemons, r, &watches).await
}

async fn finish(daemons: &[Daemon], r: &mut Report, watches: &view::Watches) -> anyhow::Result<()> {
    for (k, ctl) in [&mut r.c1, &mut r.c2].into_iter().enumerate() {
        ctl.peak_kib = daemons[k].peak_kib();
        ctl.cpu_s = daemons[k].cpu_seconds();
        if ctl.by_kind.is_empty() {
            ctl.by_kind = by_kind(&daemons[k])
                .await
                .into_iter()
                .map(|(kind, v)| (kind, v, 0.0))
                .collect();
        }
    }
    r.watch_errors = watches.lock().errors;
    Ok(())
}

async fn cleanup(s: &Setup<'_>, daemons: &mut [Daemon]) {
    objects::delete_pods(s.c2, s.ns).await;
    let t = Instant::now();
    let (a, b) = tokio::join!(
        crate::objects::delete_namespace(s.c1, s.ns, NAMESPACE_TIMEOUT),
        crate::objects::delete_namespace(s.c2, s.ns, NAMESPACE_TIMEOUT)
    );
    for (cluster, res) in [(1, a), (2, b)] {
        if let Err(err) = res {
            eprintln!("causeway-bench: WARNING: cluster {cluster}: {err:#}");
        }
    }
    eprintln!(
        "causeway-bench: namespace {} deleted in both clusters after {:.1} s",
        s.ns,
        t.elapsed().as_secs_f64()
    );
    for d in daemons.iter_mut() {
        d.stop().await;
    }
    objects::delete_node(s.c2, s.ns).await;
    for client in [s.c1, s.c2] {
        let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
        let _ = leases.delete(s.lease, &DeleteParams::default()).await;
    }
}

/// The nearest-rank percentile `p` (0–100) of sorted `v`.
fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v.get(rank.clamp(1, v.len()) - 1).copied()
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.digits$}"))
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "ok",
        Some(false) => "MISSED",
        None => "",
    }
}

#[allow(clippy::cast_precision_loss, clippy::too_many_lines)]
fn render(r: &Report) -> String {
    let mut out = format!(
        "causeway-bench sync: {} Services x {} endpoints (pods in cluster 2, EndpointSlices by \
         the kcm) exported from lab cluster 2 to cluster 1; `causeway controller --namespace {}` \
         in both clusters ({}); objects created in {:.1} s, kcm slices complete {:.1} s later\n\n",
        r.services,
        r.endpoints,
        r.ns,
        r.bin.display(),
        r.create_s,
        r.kcm_s
    );
    let mut sorted = r.latencies_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let p99 = percentile(&sorted, 99.0);
    let changes = r.issued.max(1) as f64;
    let per_change = |w: Option<f64>| w.map(|w| w / changes);
    let api_slices: f64 = r
        .api_changes
        .iter()
        .filter(|(k, _)| k.starts_with("endpointslices"))
        .map(|(_, v)| v)
        .sum::<f64>()
        + 0.0;
    let c1_writes = per_change(r.c1.change_writes);
    let c1_rss = r.c1.peak_kib.map(procfs::mib);
    let mut t = Table::new(&["measure", "value", "target", ""]);
    let mut row = |name: &str, value: String, target: &str, ok: Option<bool>| {
        t.row(vec![
            name.to_owned(),
            value,
            target.to_owned(),
            verdict(ok).to_owned(),
        ]);
    };
    row(
        "initial convergence s (from controller spawn)",
        match r.converge_s {
            Some(s) => format!("{s:.2}"),
            None => format!("timeout ({}/{})", r.converged, r.services),
        },
        "",
        None,
    );
    row("  controller /readyz s", opt(r.ready_s, 2), "", None);
    row(
        "  cluster 1 controller writes per service",
        opt(r.c1.initial_writes.map(|w| w / r.services as f64), 2),
        "",
        None,
    );
    row(
        "changes seen in cluster 1 / made",
        format!(
            "{}/{} ({} PATCH failures)",
            r.latencies_ms.len(),
            r.issued,
            r.failed_patches
        ),
        "",
        Some(r.latencies_ms.len() == r.issued && r.issued > 0),
    );
    row(
        "change propagation p50 ms",
        opt(percentile(&sorted, 50.0), 0),
        "",
        None,
    );
    row(
        "change propagation p99 ms",
        opt(p99, 0),
        "<= 500",
        p99.map(|p| p <= P99_TARGET_MS),
    );
    row(
        "change propagation max ms",
        opt(sorted.last().copied(), 0),
        "",
        None,
    );
    let mut kcm = r.kcm_ms.clone();
    kcm.sort_by(f64::total_cmp);
    let mut hop = r.hop_ms.clone();
    hop.sort_by(f64::total_cmp);
    for (name, v) in [
        ("  of which PATCH -> cluster 2 kcm slice", &kcm),
        (
            "  of which cluster 2 kcm slice -> cluster 1 (causeway)",
            &hop,
        ),
    ] {
        row(
            &format!("{name} p50/p99/max ms"),
            format!(
                "{} / {} / {}",
                opt(percentile(v, 50.0), 0),
                opt(percentile(v, 99.0), 0),
                opt(v.last().copied(), 0)
            ),
            "",
            None,
        );
    }
    row(
        "cluster 1 controller writes per change",
        opt(c1_writes, 2),
        "1",
        c1_writes.map(|w| w <= WRITES_TARGET + 0.005),
    );
    row(
        "cluster 1 apiserver endpointslice writes per change",
        format!("{:.2}", api_slices / changes),
        "1",
        Some(r.issued > 0 && api_slices / changes <= WRITES_TARGET + 0.005),
    );
    row(
        "cluster 2 controller writes per change",
        opt(per_change(r.c2.change_writes), 2),
        "",
        None,
    );
    row(
        "cluster 1 controller peak RSS MiB (VmHWM)",
        opt(c1_rss, 1),
        "<= 100",
        c1_rss.map(|m| m <= RSS_TARGET_MIB),
    );
    let bound =
        |b: Option<f64>| b.map_or_else(|| "-".to_owned(), |s| format!("<= {:.0}", s * 1000.0));
    row(
        "  cluster 1 controller's own slice latency p50 / p99 ms (histogram)",
        format!(
            "{} / {}",
            bound(r.c1.slice_latency.0),
            bound(r.c1.slice_latency.1)
        ),
        "",
        None,
    );
    row(
        "  cluster 1 sync passes during the changes / mean pass ms",
        r.c1.change_passes
            .map_or_else(|| "-".to_owned(), |(n, mean)| format!("{n:.0} / {mean:.1}")),
        "",
        None,
    );
    row(
        "cluster 1 controller CPU s (total / changes)",
        format!("{} / {}", opt(r.c1.cpu_s, 2), opt(r.c1.change_cpu_s, 2)),
        "",
        None,
    );
    row(
        "cluster 2 controller peak RSS MiB / CPU s",
        format!(
            "{} / {}",
            opt(r.c2.peak_kib.map(procfs::mib), 1),
            opt(r.c2.cpu_s, 2)
        ),
        "",
        None,
    );
    out.push_str(&t.render());
    let _ = write!(
        out,
        "\nchanges: {} pod IP changes in cluster 2 at {}/s (a pods/status PATCH each, a different \
         Service each time until every Service had one); latency from just before the PATCH to the \
         arrival of cluster 1's MCS EndpointSlice with the new IP on a watch. Writes counted after \
         the controllers went quiet; apiserver counts are cluster-wide (other clients count too). \
         Watch errors: {}.\n\n",
        r.issued, r.rate, r.watch_errors
    );
    let mut detail = Table::new(&["writes by kind", "initial", "changes"]);
    for (name, ctl) in [
        ("cluster 1 controller", &r.c1),
        ("cluster 2 controller", &r.c2),
    ] {
        for (kind, initial, changes) in &ctl.by_kind {
            detail.row(vec![
                format!("{name}: {kind}"),
                format!("{initial:.0}"),
                format!("{changes:.0}"),
            ]);
        }
    }
    let keys: std::collections::BTreeSet<&String> =
        r.api_initial.keys().chain(r.api_changes.keys()).collect();
    for k in keys {
        detail.row(vec![
            format!("cluster 1 apiserver: {k}"),
            format!("{:.0}", r.api_initial.get(k).copied().unwrap_or(0.0)),
            format!("{:.0}", r.api_changes.get(k).copied().unwrap_or(0.0)),
        ]);
    }
    out.push_str(&detail.render());
    out
}

#[cfg(test)]
mod tests;
