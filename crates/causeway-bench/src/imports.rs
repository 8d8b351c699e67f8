//! `causeway-bench imports`: causeway's controller against the upstream mcs-api servicecontroller
//! on the same lab cluster, in the same run, each in its own fresh namespace.
//!
//! Order (so exactly one controller acts on each namespace, and no deletion overlaps a
//! measurement): (1) the apiserver's ceiling in a scratch namespace, deleted before going on;
//! (2) causeway: create N imports + slices, start `causeway controller --namespace <ns>`, poll
//! until converged, let it settle, count writes; restart it for a full resync and count again;
//! delete its namespace while it still runs (its finalizers need it), then stop it; (3) upstream:
//! same objects in a second namespace, start the servicecontroller (it watches every namespace,
//! but only this one has unconverged objects by then), converge, settle, restart for a resync,
//! stop it, delete the namespace. Convergence is timed from the controller's spawn, objects
//! already present.

mod apiserver;
mod converge;
mod objects;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use causeway_lab::LabPaths;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams};

use self::apiserver::Writes;
use self::converge::Goal;
use crate::daemon::{Daemon, LEASE_NAMESPACE, controller_args, free_loopback_addr};
use crate::procfs;
use crate::setup::{ensure_lab, run_tag};
use crate::table::Table;

/// Namespace of the benchmark's Lease.
/// How long a namespace may take to disappear.
const NAMESPACE_TIMEOUT: Duration = Duration::from_secs(300);

/// Arguments of `imports`.
#[derive(Debug, clap::Args)]
pub struct ImportsArgs {
    /// Number of ServiceImports (each with one EndpointSlice).
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Endpoints per EndpointSlice.
    #[arg(long, default_value_t = 10)]
    endpoints: usize,
    /// Skip the upstream mcs-api servicecontroller.
    #[arg(long)]
    skip_upstream: bool,
    /// Requests in flight while creating objects and in the ceiling loop.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The `causeway` binary (default: next to this binary, then ./target/{release,debug}).
    /// Build it with `cargo build --release -p causeway-cli` for meaningful numbers.
    #[arg(long, env = "CAUSEWAY_BIN")]
    causeway_bin: Option<PathBuf>,
    /// The upstream servicecontroller binary (default: built and cached by
    /// tools/mcs-servicecontroller/build.sh).
    #[arg(long)]
    upstream_bin: Option<PathBuf>,
    /// Lab cluster to run on.
    #[arg(long, default_value_t = 1)]
    cluster: u8,
    /// Poll interval of the convergence check, milliseconds.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    /// Give up on convergence after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

/// One controller's results.
#[derive(Debug, Default)]
struct Row {
    name: String,
    converged_s: Option<f64>,
    progress: converge::Progress,
    api_writes: Writes,
    ctl_writes: Option<f64>,
    ctl_by_kind: Vec<(String, f64)>,
    resync_api: Writes,
    resync_ctl: Option<f64>,
    peak_kib: Option<u64>,
    anon_kib: Option<u64>,
    cpu_s: Option<f64>,
}

/// What the run measured.
struct Report {
    count: usize,
    endpoints: usize,
    cluster: u8,
    causeway_bin: PathBuf,
    create_s: f64,
    ceiling: Option<(usize, f64)>,
    ours: Option<Row>,
    upstream: Result<Row, String>,
}

/// Runs the benchmark; see the module docs.
pub async fn run(args: ImportsArgs) -> anyhow::Result<ExitCode> {
    let ImportsArgs {
        count,
        endpoints,
        skip_upstream,
        concurrency,
        causeway_bin,
        upstream_bin,
        cluster,
        poll_ms,
        timeout,
    } = args;
    let paths = LabPaths::from_env();
    ensure_lab(&paths, cluster).await?;
    let client = causeway_lab::admin_client(&paths, cluster)
        .await
        .with_context(|| format!("failed to build a client for lab cluster {cluster}"))?;
    let kubeconfig = paths.admin_kubeconfig(cluster);
    let causeway_bin = crate::lab::find_binary("causeway", causeway_bin.as_deref())?;
    if causeway_bin.components().any(|c| c.as_os_str() == "debug") {
        eprintln!(
            "causeway-bench: NOTE {} is a debug build; build with \
             `cargo build --release -p causeway-cli` for meaningful numbers",
            causeway_bin.display()
        );
    }
    let upstream_bin: Option<Result<PathBuf, String>> = if skip_upstream {
        None
    } else {
        Some(match upstream_bin {
            Some(p) => Ok(p),
            None => build_upstream().await,
        })
    };
    let opts = Opts {
        count,
        endpoints,
        concurrency,
        timing: converge::Timing {
            interval: Duration::from_millis(poll_ms.max(10)),
            timeout: Duration::from_secs(timeout),
        },
    };
    let log_dir = paths.root().join("bench-logs");
    let tag = run_tag();
    objects::ensure_namespace(&client, LEASE_NAMESPACE).await?;

    // (1) The apiserver's ceiling.
    let ceiling_ns = format!("cw-bench-ceiling-{tag}");
    crate::objects::create_namespace(&client, &ceiling_ns, "imports").await?;
    eprintln!(
        "causeway-bench: apiserver ceiling: {count} Service creates + {count} PATCHes, \
         {concurrency} in flight, in {ceiling_ns}"
    );
    let ceiling = objects::ceiling(&client, &ceiling_ns, count, concurrency).await;
    cleanup(&client, &ceiling_ns).await;
    let ceiling = ceiling?;

    // (2) causeway.
    let ours_ns = format!("cw-bench-causeway-{tag}");
    let ours = run_ours(
        &client,
        &kubeconfig,
        &causeway_bin,
        &ours_ns,
        &tag,
        &opts,
        &log_dir,
    )
    .await;
    if ours.is_err() {
        cleanup(&client, &ours_ns).await; // on success, run_ours deleted it already
    }
    let (ours, create_s) = ours?;

    // (3) upstream.
    let upstream = match upstream_bin {
        None => Err("skipped (--skip-upstream)".to_owned()),
        Some(Err(e)) => Err(e),
        Some(Ok(bin)) => {
            let ns = format!("cw-bench-upstream-{tag}");
            let row = run_upstream(&client, &kubeconfig, &bin, &ns, &opts, &log_dir).await;
            cleanup(&client, &ns).await;
            row.map_err(|e| format!("{e:#}"))
        }
    };

    let report = Report {
        count,
        endpoints,
        cluster,
        causeway_bin,
        create_s,
        ceiling: Some(ceiling),
        ours: Some(ours),
        upstream,
    };
    let mut out = std::io::stdout().lock();
    write!(out, "{}", render(&report))?;
    Ok(ExitCode::SUCCESS)
}

/// Sizes and timing shared by both controllers' runs.
struct Opts {
    count: usize,
    endpoints: usize,
    concurrency: usize,
    timing: converge::Timing,
}

/// Deletes a benchmark namespace, waiting for it to go; failures are reported, not fatal.
async fn cleanup(client: &kube::Client, ns: &str) {
    eprintln!("causeway-bench: deleting namespace {ns}");
    match crate::objects::delete_namespace(client, ns, NAMESPACE_TIMEOUT).await {
        Ok(s) => eprintln!("causeway-bench: namespace {ns} gone after {s:.1} s"),
        Err(err) => eprintln!("causeway-bench: WARNING: {err:#}"),
    }
}

/// Builds (or finds cached) the upstream servicecontroller; the error is the script's own output.
async fn build_upstream() -> Result<PathBuf, String> {
    crate::setup::build_tool("mcs-servicecontroller").await
}

/// True when `causeway controller --help` lists `flag`.
async fn supports_flag(bin: &Path, flag: &str) -> bool {
    tokio::process::Command::new(bin)
        .args(["controller", "--help"])
        .output()
        .await
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
}

fn causeway_args(
    kubeconfig: &Path,
    admin: std::net::SocketAddr,
    lease: &str,
    ns: &str,
    no_sync: bool,
) -> Vec<String> {
    let mut args = controller_args(kubeconfig, admin, lease, ns);
    if no_sync {
        // The import side only, like the upstream controller: no member clusters, no exports.
        args.push("--sync=false".to_owned());
    }
    args
}

/// Causeway's phase; returns its row and the seconds object creation took.
async fn run_ours(
    client: &kube::Client,
    kubeconfig: &Path,
    bin: &Path,
    ns: &str,
    tag: &str,
    opts: &Opts,
    log_dir: &Path,
) -> anyhow::Result<(Row, f64)> {
    let lease = format!("cw-bench-{tag}");
    let no_sync = supports_flag(bin, "--sync").await;
    crate::objects::create_namespace(client, ns, "imports").await?;
    let create_s = create(client, ns, opts).await?;
    let mut row = Row {
        name: "causeway".to_owned(),
        ..Row::default()
    };
    let before = apiserver::snapshot(client).await?;
    let admin = free_loopback_addr()?;
    let env = [("CAUSEWAY_LOG", "info,kube=warn"), ("POD_NAME", "bench-1")];
    let mut ctl = Daemon::start(
        bin,
        &causeway_args(kubeconfig, admin, &lease, ns, no_sync),
        &env,
        &log_dir.join(format!("causeway-{ns}.log")),
        Some(admin),
    )?;
    eprintln!(
        "causeway-bench: causeway controller pid {} on {ns} (log {})",
        ctl.pid,
        ctl.log.display()
    );
    let goal = Goal {
        expected: opts.count,
        need_ready: true,
    };
    let (converged, progress) = {
        let start = ctl.started;
        let alive = || procfs::exists(ctl.pid);
        converge::wait(client, ns, goal, start, opts.timing, alive).await?
    };
    row.converged_s = converged;
    row.progress = progress;
    eprintln!("causeway-bench: causeway converged: {converged:?} s; settling");
    ctl.wait_quiet(Duration::from_secs(2), Duration::from_secs(60))
        .await;
    row.api_writes = apiserver::delta(&before, &apiserver::snapshot(client).await?);
    row.ctl_writes = ctl.writes().await;
    row.ctl_by_kind = ctl
        .writes_by_kind()
        .await
        .into_iter()
        .map(|(k, n)| (format!("causeway_controller_api_writes_total kind={k}"), n))
        .collect();
    row.peak_kib = ctl.peak_kib();
    row.anon_kib = ctl.anon_kib();
    row.cpu_s = ctl.cpu_seconds();

    // Forced full resync: a fresh process relists everything.
    eprintln!("causeway-bench: restarting causeway for a full resync");
    let before = apiserver::snapshot(client).await?;
    ctl.stop().await;
    let admin = free_loopback_addr()?;
    let env = [("CAUSEWAY_LOG", "info,kube=warn"), ("POD_NAME", "bench-2")];
    let mut ctl = Daemon::start(
        bin,
        &causeway_args(kubeconfig, admin, &lease, ns, no_sync),
        &env,
        &log_dir.join(format!("causeway-{ns}-resync.log")),
        Some(admin),
    )?;
    ctl.wait_ready(Duration::from_secs(120)).await?;
    if !ctl.wait_leader(Duration::from_secs(30)).await {
        eprintln!("causeway-bench: WARNING: the restarted controller did not lead within 30 s");
    }
    ctl.wait_quiet(Duration::from_secs(0), Duration::from_secs(60))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    row.resync_api = apiserver::delta(&before, &apiserver::snapshot(client).await?);
    row.resync_ctl = ctl.writes().await;

    // Delete the namespace while the controller still runs (its finalizers need it).
    cleanup(client, ns).await;
    ctl.stop().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let _ = leases.delete(&lease, &DeleteParams::default()).await;
    Ok((row, create_s))
}

/// The upstream phase.
async fn run_upstream(
    client: &kube::Client,
    kubeconfig: &Path,
    bin: &Path,
    ns: &str,
    opts: &Opts,
    log_dir: &Path,
) -> anyhow::Result<Row> {
    crate::objects::create_namespace(client, ns, "imports").await?;
    create(client, ns, opts).await?;
    let mut row = Row {
        name: "mcs-api upstream".to_owned(),
        ..Row::default()
    };
    let args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--metrics-addr=0".to_owned(),
    ];
    eprintln!(
        "causeway-bench: WARNING: the upstream servicecontroller watches every namespace of \
         cluster 1 while it runs; it relabels any MCS EndpointSlice there"
    );
    let before = apiserver::snapshot(client).await?;
    let mut up = Daemon::start(
        bin,
        &args,
        &[],
        &log_dir.join(format!("upstream-{ns}.log")),
        None,
    )?;
    eprintln!(
        "causeway-bench: upstream servicecontroller pid {} (log {})",
        up.pid,
        up.log.display()
    );
    let goal = Goal {
        expected: opts.count,
        need_ready: false,
    };
    let (converged, progress) = {
        let start = up.started;
        let alive = || procfs::exists(up.pid);
        converge::wait(client, ns, goal, start, opts.timing, alive).await?
    };
    row.converged_s = converged;
    row.progress = progress;
    eprintln!("causeway-bench: upstream converged: {converged:?} s; settling");
    up.wait_quiet(Duration::from_secs(2), Duration::from_secs(60))
        .await;
    row.api_writes = apiserver::delta(&before, &apiserver::snapshot(client).await?);
    let (mine, elsewhere) = upstream_log_writes(&up.log, ns);
    row.ctl_writes = Some(mine);
    row.ctl_by_kind = vec![("logged, in other namespaces".to_owned(), elsewhere)];
    row.peak_kib = up.peak_kib();
    row.anon_kib = up.anon_kib();
    row.cpu_s = up.cpu_seconds();

    eprintln!("causeway-bench: restarting upstream for a full resync");
    let before = apiserver::snapshot(client).await?;
    up.stop().await;
    let mut up = Daemon::start(
        bin,
        &args,
        &[],
        &log_dir.join(format!("upstream-{ns}-resync.log")),
        None,
    )?;
    // No readiness endpoint (--metrics-addr=0): wait for its initial sync to go quiet.
    up.wait_quiet(Duration::from_secs(3), Duration::from_secs(120))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    row.resync_api = apiserver::delta(&before, &apiserver::snapshot(client).await?);
    let (mine, elsewhere) = upstream_log_writes(&up.log, ns);
    row.resync_ctl = Some(mine);
    row.ctl_by_kind
        .push(("logged in resync, other namespaces".to_owned(), elsewhere));
    up.stop().await;
    Ok(row)
}

/// The upstream controller's own writes, from its log: each write it makes is followed by exactly
/// one of these messages (the load-balancer status update, made only for imports created with
/// `spec.ips`, is not logged and does not happen here). Returns (in `ns`, in other namespaces).
fn upstream_log_writes(log: &Path, ns: &str) -> (f64, f64) {
    const WRITES: &[&str] = &[
        "\tadded annotation\t",
        "\tcreated service\t",
        "\tupdated serviceimport ip\t",
        "\tadded label\t",
    ];
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let needle = format!("\"namespace\":\"{ns}\"");
    let (mut mine, mut elsewhere) = (0.0, 0.0);
    for line in text
        .lines()
        .filter(|l| WRITES.iter().any(|w| l.contains(w)))
    {
        if line.contains(&needle) {
            mine += 1.0;
        } else {
            elsewhere += 1.0;
        }
    }
    (mine, elsewhere)
}

async fn create(client: &kube::Client, ns: &str, opts: &Opts) -> anyhow::Result<f64> {
    eprintln!(
        "causeway-bench: creating {} ServiceImports + EndpointSlices ({} endpoints) in {ns}",
        opts.count, opts.endpoints
    );
    let s =
        objects::create_imports(client, ns, opts.count, opts.endpoints, opts.concurrency).await?;
    eprintln!("causeway-bench: created in {s:.1} s");
    Ok(s)
}

fn per_import(total: f64, count: usize) -> String {
    #[allow(clippy::cast_precision_loss)]
    let n = count.max(1) as f64;
    format!("{:.2}", total / n)
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "-".to_owned(), f)
}

fn cells(row: &Row, count: usize) -> Vec<String> {
    let api = apiserver::total(&row.api_writes);
    let converged = match row.converged_s {
        Some(s) => format!("{s:.2}"),
        None => format!("timeout ({})", row.progress),
    };
    let rate = row
        .converged_s
        .filter(|s| *s > 0.0)
        .map(|s| format!("{:.0}", api / s));
    let resync = apiserver::total(&row.resync_api);
    vec![
        row.name.clone(),
        converged,
        per_import(api, count),
        opt(row.ctl_writes, |w| per_import(w, count)),
        match row.resync_ctl {
            Some(c) => format!("{resync:.0} ({c:.0})"),
            None => format!("{resync:.0}"),
        },
        opt(row.peak_kib, |k| format!("{:.1}", procfs::mib(k))),
        opt(row.anon_kib, |k| format!("{:.1}", procfs::mib(k))),
        opt(row.cpu_s, |c| format!("{c:.2}")),
        opt(rate, |r| r),
    ]
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".to_owned(),
    }
}

#[allow(clippy::cast_precision_loss)]
fn render(r: &Report) -> String {
    let mut t = Table::new(&[
        "controller",
        "converge s",
        "writes/import (apiserver)",
        "writes/import (controller)",
        "resync writes (ctl)",
        "peak RSS MiB",
        "anon RSS MiB",
        "CPU s",
        "writes/s",
    ]);
    if let Some(ours) = &r.ours {
        t.row(cells(ours, r.count));
    }
    match &r.upstream {
        Ok(up) => {
            t.row(cells(up, r.count));
            if let Some(ours) = &r.ours {
                let api = |row: &Row| Some(apiserver::total(&row.api_writes));
                t.row(vec![
                    "causeway / upstream".to_owned(),
                    ratio(ours.converged_s, up.converged_s),
                    ratio(api(ours), api(up)),
                    String::new(),
                    String::new(),
                    ratio(
                        ours.peak_kib.map(|k| k as f64),
                        up.peak_kib.map(|k| k as f64),
                    ),
                    ratio(
                        ours.anon_kib.map(|k| k as f64),
                        up.anon_kib.map(|k| k as f64),
                    ),
                    ratio(ours.cpu_s, up.cpu_s),
                    String::new(),
                ]);
            }
        }
        Err(e) => t.row(vec![format!("mcs-api upstream: {e}")]),
    }
    if let Some((writes, secs)) = r.ceiling {
        t.row(vec![
            "apiserver ceiling (bare client)".to_owned(),
            format!("{secs:.2}"),
            per_import(writes as f64, r.count),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            format!("{:.0}", writes as f64 / secs.max(f64::EPSILON)),
        ]);
    }
    let mut out = format!(
        "causeway-bench imports: {} ClusterSetIP ServiceImports x 1 EndpointSlice of {} endpoints, \
         lab cluster {}; causeway binary {}; objects created in {:.1} s before each controller \
         starts; convergence timed from the controller's spawn\n\n",
        r.count,
        r.endpoints,
        r.cluster,
        r.causeway_bin.display(),
        r.create_s
    );
    out.push_str(&t.render());
    out.push_str(
        "\nwrites/import (apiserver): apiserver_request_total delta, verbs POST/PUT/PATCH/APPLY/\
         DELETE on services, serviceimports, endpointslices (cluster-wide: concurrent clients \
         count too); (controller): causeway_controller_api_writes_total, for upstream its logged writes in the \
         namespace. resync: writes after a \
         restart (target 0). peak RSS: VmHWM, including the mapped binary's pages; anon RSS: \
         RssAnon (heap and stacks) once converged. apiserver ceiling: N Service creates + N merge PATCHes; its \
         writes/s is the rate to compare with.\n",
    );
    let mut detail = Table::new(&["writes by resource and verb", "convergence", "resync"]);
    let rows = std::iter::once(r.ours.as_ref())
        .chain(std::iter::once(r.upstream.as_ref().ok()))
        .flatten();
    for row in rows {
        let keys: std::collections::BTreeSet<&String> =
            row.api_writes.keys().chain(row.resync_api.keys()).collect();
        for k in keys {
            detail.row(vec![
                format!("{}: {k}", row.name),
                format!("{:.0}", row.api_writes.get(k).copied().unwrap_or(0.0)),
                format!("{:.0}", row.resync_api.get(k).copied().unwrap_or(0.0)),
            ]);
        }
        for (kind, n) in &row.ctl_by_kind {
            detail.row(vec![
                format!("{}: {kind}", row.name),
                format!("{n:.0}"),
                String::new(),
            ]);
        }
    }
    out.push('\n');
    out.push_str(&detail.render());
    out
}

#[cfg(test)]
mod tests;
