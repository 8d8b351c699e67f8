//! `causeway-bench dns`: `causeway dns` against CoreDNS's kubernetes plugin with its
//! `multicluster` option, on the same ServiceImports of one lab cluster, in the same run.
//!
//! Order: (1) in a fresh namespace, N ServiceImports (about 80 % ClusterSetIP with `spec.ips`
//! set directly, 20 % Headless with one MCS EndpointSlice of a few endpoints with hostnames),
//! while tools/coredns/build.sh builds (or finds) CoreDNS; (2) both servers on 127.0.0.1, each
//! timed from spawn until it answers the last created ClusterSetIP and Headless names; a sample
//! of the query file asked of both to check they agree on code and answer count; (3) one server
//! at a time: dnsperf at saturation for `--duration` s (QPS, losses, response codes, CPU per
//! query), then a fixed-rate verbose pass (`--latency-qps`) whose per-query latencies give p50,
//! p99 and p99.9; VmRSS and VmHWM after the load; (4) with both running, `--new-imports` more
//! imports created one at a time, each polled on both servers with a UDP query every 5 ms until
//! it resolves: time from the create request to the first answer; (5) both stopped and the
//! namespace deleted.

mod objects;
mod perf;
mod server;
mod wire;

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use causeway_lab::LabPaths;

use crate::setup::{ensure_lab, run_tag};

use self::objects::{Kind, Mix};
use self::perf::{Load, Stats};
use self::server::Server;
use crate::procfs;
use crate::table::Table;

/// The zone both servers serve.
const ZONE: &str = "clusterset.local";
/// How long the servers may take to answer the last created names.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a namespace may take to disappear.
const NAMESPACE_TIMEOUT: Duration = Duration::from_secs(600);
/// Poll period of the time-to-resolvable probe.
const PROBE_PERIOD: Duration = Duration::from_millis(5);
/// Queries of the file asked of both servers to compare their answers.
const AGREEMENT_SAMPLE: usize = 200;

/// Arguments of `dns`.
#[derive(Debug, clap::Args)]
pub struct DnsArgs {
    /// Number of ServiceImports.
    #[arg(long, default_value_t = 10_000)]
    imports: usize,
    /// Percent of the imports that are Headless (the rest are ClusterSetIP).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    headless_percent: u8,
    /// Endpoints (with hostnames) in each Headless import's EndpointSlice.
    #[arg(long, default_value_t = 3)]
    endpoints: usize,
    /// Seconds of saturation load per server.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Rate of the latency pass, queries per second (the same for both servers).
    #[arg(long, default_value_t = 5000)]
    latency_qps: u64,
    /// Seconds of the latency pass per server.
    #[arg(long, default_value_t = 5)]
    latency_duration: u64,
    /// dnsperf client sockets (-c).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// dnsperf threads (-T).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// dnsperf queries outstanding (-q).
    #[arg(long, default_value_t = 100)]
    outstanding: usize,
    /// Lines of the query file.
    #[arg(long, default_value_t = 20_000)]
    query_lines: usize,
    /// Imports created one by one at the end to time how soon each resolves.
    #[arg(long, default_value_t = 5)]
    new_imports: usize,
    /// Create requests in flight while creating the imports.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The `causeway` binary (default: next to this binary, then ./target/{release,debug}).
    /// Build it with `cargo build --release -p causeway-cli` for meaningful numbers.
    #[arg(long, env = "CAUSEWAY_BIN")]
    causeway_bin: Option<PathBuf>,
    /// The CoreDNS binary (default: built and cached by tools/coredns/build.sh).
    #[arg(long)]
    coredns_bin: Option<PathBuf>,
    /// Skip CoreDNS (causeway's row only).
    #[arg(long)]
    skip_coredns: bool,
    /// Lab cluster to run on.
    #[arg(long, default_value_t = 1)]
    cluster: u8,
}

/// One server's results.
#[derive(Debug, Default)]
struct Row {
    name: String,
    start_s: Option<f64>,
    saturation: Option<Stats>,
    cpu_us_per_query: Option<f64>,
    latency: Option<Stats>,
    rss_kib: Option<u64>,
    peak_kib: Option<u64>,
    resolvable_ms: Vec<f64>,
    error: Option<String>,
}

/// What the run measured.
struct Report {
    mix: Mix,
    cluster: u8,
    ns: String,
    causeway_bin: PathBuf,
    create_s: f64,
    duration: u64,
    latency_qps: u64,
    latency_duration: u64,
    load: Load,
    query_lines: usize,
    disagreements: Option<(usize, usize)>,
    rows: Vec<Row>,
    coredns_error: Option<String>,
}

/// Runs the benchmark; see the module docs.
pub async fn run(args: DnsArgs) -> anyhow::Result<ExitCode> {
    let paths = LabPaths::from_env();
    ensure_lab(&paths, args.cluster).await?;
    let client = causeway_lab::admin_client(&paths, args.cluster)
        .await
        .with_context(|| format!("failed to build a client for lab cluster {}", args.cluster))?;
    let kubeconfig = paths.admin_kubeconfig(args.cluster);
    let causeway_bin = crate::lab::find_binary("causeway", args.causeway_bin.as_deref())?;
    if causeway_bin.components().any(|c| c.as_os_str() == "debug") {
        eprintln!(
            "causeway-bench: NOTE {} is a debug build; build with \
             `cargo build --release -p causeway-cli` for meaningful numbers",
            causeway_bin.display()
        );
    }
    let dnsperf = perf::ensure_dnsperf().await?;
    let mix = Mix {
        count: args.imports,
        headless_percent: usize::from(args.headless_percent),
        endpoints: args.endpoints.max(1),
    };
    let log_dir = paths.root().join("bench-logs");
    let ns = format!("cw-bench-dns-{}", run_tag());

    crate::objects::create_namespace(&client, &ns, "dns").await?;
    eprintln!(
        "causeway-bench: creating {} ServiceImports ({} % Headless with {} endpoints each) in \
         {ns}, {} in flight",
        mix.count, mix.headless_percent, mix.endpoints, args.concurrency
    );
    let coredns_bin = async {
        match (&args.coredns_bin, args.skip_coredns) {
            (_, true) => Err("skipped (--skip-coredns)".to_owned()),
            (Some(p), false) if p.is_file() => Ok(p.clone()),
            (Some(p), false) => Err(format!("{} does not exist", p.display())),
            (None, false) => server::build_coredns().await,
        }
    };
    let (created, coredns_bin) = tokio::join!(
        objects::create_all(&client, &ns, mix, args.concurrency),
        coredns_bin
    );
    let measured = match created {
        Ok(create_s) => {
            eprintln!("causeway-bench: created in {create_s:.1} s");
            let ctx = Ctx {
                client: &client,
                ns: &ns,
                mix,
                kubeconfig: &kubeconfig,
                log_dir: &log_dir,
                dnsperf: &dnsperf,
                args: &args,
            };
            measure(&ctx, &causeway_bin, coredns_bin.clone())
                .await
                .map(|m| (create_s, m))
        }
        Err(e) => Err(e),
    };
    eprintln!("causeway-bench: deleting namespace {ns}");
    match crate::objects::delete_namespace(&client, &ns, NAMESPACE_TIMEOUT).await {
        Ok(s) => eprintln!("causeway-bench: namespace {ns} gone after {s:.1} s"),
        Err(err) => eprintln!("causeway-bench: WARNING: {err:#}"),
    }
    let (create_s, (rows, disagreements)) = measured?;
    let report = Report {
        mix,
        cluster: args.cluster,
        ns,
        causeway_bin,
        create_s,
        duration: args.duration,
        latency_qps: args.latency_qps,
        latency_duration: args.latency_duration,
        load: load(&args),
        query_lines: args.query_lines,
        disagreements,
        rows,
        coredns_error: coredns_bin.err(),
    };
    let mut out = std::io::stdout().lock();
    write!(out, "{}", render(&report))?;
    Ok(ExitCode::SUCCESS)
}

fn load(args: &DnsArgs) -> Load {
    Load {
        clients: args.clients.max(1),
        threads: args.threads.max(1),
        outstanding: args.outstanding.max(1),
        timeout_s: 2,
    }
}

/// What `measure` needs besides the binaries.
struct Ctx<'a> {
    client: &'a kube::Client,
    ns: &'a str,
    mix: Mix,
    kubeconfig: &'a Path,
    log_dir: &'a Path,
    dnsperf: &'a Path,
    args: &'a DnsArgs,
}

/// Steps (2) to (4) of the module docs; the servers are stopped before it returns.
async fn measure(
    ctx: &Ctx<'_>,
    causeway_bin: &Path,
    coredns_bin: Result<PathBuf, String>,
) -> anyhow::Result<(Vec<Row>, Option<(usize, usize)>)> {
    let mut servers: Vec<(Server, Row)> = Vec::new();
    let ours = Server::causeway(
        causeway_bin,
        ctx.kubeconfig,
        wire::free_port()?,
        wire::free_port()?,
        &ctx.log_dir.join(format!("causeway-dns-{}.log", ctx.ns)),
    )?;
    eprintln!(
        "causeway-bench: causeway dns pid {} on {} (log {})",
        ours.pid,
        ours.addr,
        ours.log.display()
    );
    servers.push((
        ours,
        Row {
            name: "causeway dns".to_owned(),
            ..Row::default()
        },
    ));
    let coredns_error = match coredns_bin {
        Ok(bin) => {
            let name = server::coredns_version(&bin).await;
            match Server::coredns(
                &name,
                &bin,
                ctx.kubeconfig,
                wire::free_port()?,
                &ctx.log_dir.join(format!("coredns-{}.log", ctx.ns)),
            ) {
                Ok(s) => {
                    eprintln!(
                        "causeway-bench: {name} pid {} on {} (log {}, Corefile {})",
                        s.pid,
                        s.addr,
                        s.log.display(),
                        s.log.with_extension("Corefile").display()
                    );
                    servers.push((
                        s,
                        Row {
                            name,
                            ..Row::default()
                        },
                    ));
                    None
                }
                Err(e) => Some(format!("{e:#}")),
            }
        }
        Err(e) => Some(e),
    };
    if let Some(e) = &coredns_error {
        eprintln!("causeway-bench: CoreDNS unavailable: {e}");
    }

    // (2) Both up: time until each answers the last created names.
    let last = last_names(ctx.mix, ctx.ns);
    let waits = servers.iter().map(|(s, _)| wait_answering(s, &last));
    let started = futures::future::join_all(waits).await;
    for ((s, row), r) in servers.iter_mut().zip(started) {
        match r {
            Ok(d) => {
                row.start_s = Some(d.as_secs_f64());
                eprintln!(
                    "causeway-bench: {} answers the last created names {:.2} s after spawn",
                    row.name,
                    d.as_secs_f64()
                );
            }
            Err(e) => {
                row.error = Some(format!(
                    "{e:#}; log {}:\n{}",
                    s.log.display(),
                    s.log_tail(15)
                ));
            }
        }
    }
    let queries = perf::queries(ctx.mix, ctx.ns, ZONE, ctx.args.query_lines.max(1));
    let file = ctx.log_dir.join(format!("dnsperf-{}.queries", ctx.ns));
    std::fs::write(&file, perf::render_queries(&queries))
        .with_context(|| format!("failed to write {}", file.display()))?;
    let disagreements = if servers.len() == 2 && servers.iter().all(|(_, r)| r.error.is_none()) {
        Some(agreement(&servers[0].0, &servers[1].0, &queries).await?)
    } else {
        None
    };

    // (3) Load, one server at a time.
    let load = load(ctx.args);
    for (s, row) in &mut servers {
        if row.error.is_some() {
            continue;
        }
        if let Err(e) = load_one(ctx, &load, &file, s, row).await {
            row.error = Some(format!("{e:#}"));
        }
    }

    // (4) Time to resolvable, both servers polled at once.
    let live: Vec<usize> = (0..servers.len())
        .filter(|i| servers[*i].1.error.is_none())
        .collect();
    for k in 0..ctx.args.new_imports {
        let i = ctx.mix.count + k;
        let name = perf::service_fqdn(i, ctx.ns, ZONE);
        let t0 = Instant::now();
        let probes = live.iter().map(|&j| {
            let addr = servers[j].0.addr;
            let name = &name;
            async move {
                let mut prober = wire::Prober::new().await?;
                prober
                    .until_answered(
                        addr,
                        name,
                        wire::TYPE_A,
                        t0,
                        PROBE_PERIOD,
                        Duration::from_secs(30),
                    )
                    .await
            }
        });
        let create = objects::create_one(ctx.client, ctx.ns, i, Kind::ClusterSetIp, 1);
        let (created, times) = tokio::join!(create, futures::future::join_all(probes));
        created?;
        for (&j, t) in live.iter().zip(times) {
            match t {
                Ok(d) => {
                    let ms = d.as_secs_f64() * 1000.0;
                    eprintln!(
                        "causeway-bench: {}: {name} resolvable after {ms:.1} ms",
                        servers[j].1.name
                    );
                    servers[j].1.resolvable_ms.push(ms);
                }
                Err(e) => eprintln!("causeway-bench: {}: {e:#}", servers[j].1.name),
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let mut rows = Vec::new();
    for (mut s, mut row) in servers {
        if !s.alive() && row.error.is_none() {
            row.error = Some(format!("exited; log {}", s.log.display()));
        }
        s.stop().await;
        rows.push(row);
    }
    if let Some(e) = coredns_error {
        rows.push(Row {
            name: "CoreDNS".to_owned(),
            error: Some(e),
            ..Row::default()
        });
    }
    Ok((rows, disagreements))
}

/// The last created ClusterSetIP and Headless names (asked as A).
fn last_names(mix: Mix, ns: &str) -> Vec<String> {
    [Kind::ClusterSetIp, Kind::Headless]
        .iter()
        .filter_map(|k| mix.indices(*k).last().copied())
        .map(|i| perf::service_fqdn(i, ns, ZONE))
        .collect()
}

/// Polls `server` until every one of `names` has an A answer; the time since its spawn.
async fn wait_answering(server: &Server, names: &[String]) -> anyhow::Result<Duration> {
    let mut prober = wire::Prober::new().await?;
    for name in names {
        prober
            .until_answered(
                server.addr,
                name,
                wire::TYPE_A,
                server.started,
                Duration::from_millis(50),
                START_TIMEOUT,
            )
            .await?;
    }
    Ok(server.started.elapsed())
}

/// Asks both servers the first [`AGREEMENT_SAMPLE`] queries; returns (differing, asked). A
/// difference is another response code or answer count; the first few go to stderr.
async fn agreement(
    a: &Server,
    b: &Server,
    queries: &[perf::Query],
) -> anyhow::Result<(usize, usize)> {
    let mut pa = wire::Prober::new().await?;
    let mut pb = wire::Prober::new().await?;
    let (mut differ, mut asked) = (0, 0);
    let wait = Duration::from_secs(2);
    for q in queries.iter().take(AGREEMENT_SAMPLE) {
        let qtype = if q.qtype == "SRV" {
            wire::TYPE_SRV
        } else {
            wire::TYPE_A
        };
        let ra = pa.ask(a.addr, &q.name, qtype, wait).await?;
        let rb = pb.ask(b.addr, &q.name, qtype, wait).await?;
        asked += 1;
        let key = |r: Option<wire::Reply>| r.map(|r| (r.rcode, r.answers));
        if key(ra) != key(rb) {
            differ += 1;
            if differ <= 5 {
                eprintln!(
                    "causeway-bench: answers differ for {} {}: {} {:?}, {} {:?} (rcode, answers)",
                    q.name,
                    q.qtype,
                    a.name,
                    key(ra),
                    b.name,
                    key(rb)
                );
            }
        }
    }
    Ok((differ, asked))
}

/// Saturation, then the latency pass, then memory, for one server.
async fn load_one(
    ctx: &Ctx<'_>,
    load: &Load,
    file: &Path,
    s: &mut Server,
    row: &mut Row,
) -> anyhow::Result<()> {
    let addr: SocketAddr = s.addr;
    eprintln!(
        "causeway-bench: {}: dnsperf saturation, {} s",
        row.name, ctx.args.duration
    );
    let cpu0 = s.cpu_seconds();
    let sat = perf::dnsperf(
        ctx.dnsperf,
        addr,
        file,
        ctx.args.duration.max(1),
        None,
        false,
        load,
    )
    .await?;
    let cpu1 = s.cpu_seconds();
    if let (Some(c0), Some(c1)) = (cpu0, cpu1)
        && sat.completed > 0
    {
        #[allow(clippy::cast_precision_loss)]
        let per = (c1 - c0) / sat.completed as f64 * 1e6;
        row.cpu_us_per_query = Some(per);
    }
    eprintln!(
        "causeway-bench: {}: {:.0} QPS, lost {}, codes {}",
        row.name, sat.qps, sat.lost, sat.rcodes
    );
    #[allow(clippy::cast_precision_loss)]
    if sat.qps < ctx.args.latency_qps as f64 * 1.25 {
        eprintln!(
            "causeway-bench: WARNING: {} saturates at {:.0} QPS, close to or below the latency \
             pass's {} QPS: its percentiles include queueing",
            row.name, sat.qps, ctx.args.latency_qps
        );
    }
    row.saturation = Some(sat);
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!(
        "causeway-bench: {}: dnsperf latency pass, {} QPS for {} s",
        row.name, ctx.args.latency_qps, ctx.args.latency_duration
    );
    let mut lat = perf::dnsperf(
        ctx.dnsperf,
        addr,
        file,
        ctx.args.latency_duration.max(1),
        Some(ctx.args.latency_qps.max(1)),
        true,
        load,
    )
    .await?;
    lat.latencies.sort_by(f64::total_cmp);
    row.latency = Some(lat);
    row.rss_kib = s.rss_kib();
    row.peak_kib = s.peak_kib();
    if !s.alive() {
        anyhow::bail!(
            "{} exited under load; log {}:\n{}",
            row.name,
            s.log.display(),
            s.log_tail(15)
        );
    }
    Ok(())
}

fn ms(seconds: f64) -> String {
    format!("{:.3}", seconds * 1000.0)
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "-".to_owned(), f)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    perf::quantile(&v, 0.5)
}

fn p(row: &Row, q: f64) -> Option<f64> {
    row.latency
        .as_ref()
        .and_then(|l| perf::quantile(&l.latencies, q))
}

fn cells(row: &Row) -> Vec<String> {
    let sat = row.saturation.as_ref();
    #[allow(clippy::cast_precision_loss)]
    let lost_pct = sat.map(|s| 100.0 * s.lost as f64 / (s.sent.max(1)) as f64);
    let resolvable = if row.resolvable_ms.is_empty() {
        "-".to_owned()
    } else {
        format!(
            "{:.0} / {:.0}",
            median(&row.resolvable_ms).unwrap_or_default(),
            row.resolvable_ms.iter().copied().fold(0.0, f64::max)
        )
    };
    vec![
        row.name.clone(),
        opt(row.start_s, |s| format!("{s:.2}")),
        opt(sat, |s| format!("{:.0}", s.qps)),
        opt(lost_pct, |l| format!("{l:.2}")),
        opt(sat, |s| format!("{:.1}", s.noerror_pct)),
        opt(sat, |s| ms(s.avg_s)),
        opt(p(row, 0.5), ms),
        opt(p(row, 0.99), ms),
        opt(p(row, 0.999), ms),
        opt(row.rss_kib, |k| format!("{:.1}", procfs::mib(k))),
        opt(row.peak_kib, |k| format!("{:.1}", procfs::mib(k))),
        opt(row.cpu_us_per_query, |c| format!("{c:.1}")),
        resolvable,
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
        "server",
        "start s",
        "QPS (sat.)",
        "lost %",
        "NOERROR %",
        "avg ms (sat.)",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "VmRSS MiB",
        "VmHWM MiB",
        "CPU us/query",
        "resolvable ms (median / max)",
    ]);
    let ok: Vec<&Row> = r.rows.iter().filter(|row| row.error.is_none()).collect();
    for row in &ok {
        t.row(cells(row));
    }
    if let [ours, theirs] = ok.as_slice() {
        let qps = |row: &Row| row.saturation.as_ref().map(|s| s.qps);
        let avg = |row: &Row| row.saturation.as_ref().map(|s| s.avg_s);
        let kib = |k: Option<u64>| k.map(|k| k as f64);
        t.row(vec![
            format!("{} / {}", ours.name, theirs.name),
            ratio(ours.start_s, theirs.start_s),
            ratio(qps(ours), qps(theirs)),
            String::new(),
            String::new(),
            ratio(avg(ours), avg(theirs)),
            ratio(p(ours, 0.5), p(theirs, 0.5)),
            ratio(p(ours, 0.99), p(theirs, 0.99)),
            ratio(p(ours, 0.999), p(theirs, 0.999)),
            ratio(kib(ours.rss_kib), kib(theirs.rss_kib)),
            ratio(kib(ours.peak_kib), kib(theirs.peak_kib)),
            ratio(ours.cpu_us_per_query, theirs.cpu_us_per_query),
            ratio(median(&ours.resolvable_ms), median(&theirs.resolvable_ms)),
        ]);
    }
    let headless = r.mix.indices(Kind::Headless).len();
    let mut out = format!(
        "causeway-bench dns: {} ServiceImports on lab cluster {} ({} ClusterSetIP with spec.ips, \
         {headless} Headless with one MCS EndpointSlice of {} endpoints with hostnames), created \
         in {:.1} s in {}; causeway binary {}\n\n",
        r.mix.count,
        r.cluster,
        r.mix.count - headless,
        r.mix.endpoints,
        r.create_s,
        r.ns,
        r.causeway_bin.display(),
    );
    out.push_str(&t.render());
    let shares: Vec<String> = perf::MIX
        .iter()
        .map(|(what, pct)| format!("{pct} % {what}"))
        .collect();
    let _ = writeln!(
        out,
        "\nLoad: dnsperf over UDP on 127.0.0.1, one server at a time, {} queries ({}), \
             -c {} -T {} -q {} -t {}. QPS (sat.), lost, NOERROR and avg: {} s unthrottled; \
             p50/p99/p99.9: a separate {} s pass at -Q {} with -v (per-query latencies, {}). \
             start s: spawn until the last created names answer. VmRSS/VmHWM after the load. CPU \
             us/query: the server's CPU time during the saturation pass / queries completed. \
             resolvable: a new ClusterSetIP import, from the create request to the first A \
             answer, UDP probe every {} ms, both servers at once, {} samples. Targets: causeway \
             >= 1.5x CoreDNS QPS, lower p99, lower RSS.",
        r.query_lines,
        shares.join(", "),
        r.load.clients,
        r.load.threads,
        r.load.outstanding,
        r.load.timeout_s,
        r.duration,
        r.latency_duration,
        r.latency_qps,
        ok.iter()
            .map(|row| format!(
                "{} {}",
                row.name,
                row.latency.as_ref().map_or(0, |l| l.latencies.len())
            ))
            .collect::<Vec<_>>()
            .join(", "),
        PROBE_PERIOD.as_millis(),
        r.rows.first().map_or(0, |row| row.resolvable_ms.len()),
    );
    if let Some((differ, asked)) = r.disagreements {
        let _ = writeln!(
            out,
            "Agreement: {differ} of the first {asked} queries got a different response code or \
             answer count from the two servers."
        );
    }
    for row in &r.rows {
        if let Some(sat) = &row.saturation {
            let _ = writeln!(out, "{} response codes: {}", row.name, sat.rcodes);
        }
    }
    for row in r.rows.iter().filter(|row| row.error.is_some()) {
        let _ = writeln!(
            out,
            "{}: NOT MEASURED: {}",
            row.name,
            row.error.as_deref().unwrap_or_default()
        );
    }
    if let Some(e) = &r.coredns_error
        && !r.rows.iter().any(|row| row.error.as_deref() == Some(e))
    {
        let _ = writeln!(out, "CoreDNS: {e}");
    }
    out
}

#[cfg(test)]
mod tests;
