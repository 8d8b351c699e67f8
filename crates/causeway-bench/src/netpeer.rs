//! `causeway-bench netpeer`: netpeer's data plane at scale and on the wire.
//!
//! 1. [`scratch`]: N synthetic peer nodes, reconciled from scratch by netpeer's real
//!    `NetlinkDataplane` (neighbour + FDB entry + onlink route per peer, plus the nft NAT table)
//!    in a network namespace of its own (`cwl-bench-np-<pid>`, deleted at the end), then no-op
//!    resyncs (empty plans). Targets: < 1 s from scratch, < 50 ms per no-op resync.
//! 2. [`iperf`]: iperf3 TCP throughput between lab pods across the netpeer peering vs within one
//!    cluster over the same flannel VXLAN; target ratio ≥ 0.95.
//!
//! Needs root and, for part 2, a running lab and `iperf3`. Results go to stdout as tables;
//! progress goes to stderr.

mod iperf;
mod scratch;

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use causeway_lab::LabPaths;

use crate::table::Table;

/// From-scratch target.
const SCRATCH_TARGET: Duration = Duration::from_secs(1);
/// No-op resync target.
const RESYNC_TARGET: Duration = Duration::from_millis(50);
/// Throughput ratio target (cross-cluster / intra-cluster).
const RATIO_TARGET: f64 = 0.95;

/// `causeway-bench netpeer` flags.
#[derive(Debug, clap::Args)]
pub struct NetpeerArgs {
    /// Synthetic peer nodes for the from-scratch reconcile.
    #[arg(long, default_value_t = 1000)]
    peers: usize,
    /// Seconds per iperf3 run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=30))]
    iperf_seconds: u64,
    /// iperf3 runs per path (intra-cluster and cross-cluster alternate).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=10))]
    iperf_runs: u64,
    /// Skip the iperf3 part (no lab needed then).
    #[arg(long)]
    skip_iperf: bool,
}

/// Runs the benchmark; see the module docs.
pub async fn run(args: NetpeerArgs) -> anyhow::Result<ExitCode> {
    let NetpeerArgs {
        peers,
        iperf_seconds,
        iperf_runs,
        skip_iperf,
    } = args;
    let scratch = tokio::task::spawn_blocking(move || scratch::run(peers)).await??;
    let iperf = if skip_iperf {
        Err("skipped (--skip-iperf)".to_owned())
    } else {
        let paths = LabPaths::from_env();
        let runs = usize::try_from(iperf_runs)?;
        iperf::run(&paths, iperf_seconds, runs)
            .await
            .map_err(|e| format!("{e:#}"))
    };
    let mut out = std::io::stdout().lock();
    write!(out, "{}", render(&scratch, &iperf))?;
    Ok(ExitCode::SUCCESS)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn render(s: &scratch::Scratch, iperf: &Result<iperf::Iperf, String>) -> String {
    let mut out = format!(
        "causeway-bench netpeer: {} synthetic peer nodes (public IPs 198.18.0.0/15, pod CIDRs /24 \
         of {}, local cluster {}) in namespace {} (deleted); netpeer's NetlinkDataplane + nft NAT \
         table\n\n",
        s.peers,
        scratch::PEER_CLUSTER_CIDR,
        scratch::LOCAL_CLUSTER_CIDR,
        s.netns
    );
    let mut sorted = s.resyncs.clone();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let max = sorted.last().copied().unwrap_or_default();
    let mut t = Table::new(&["reconcile", "ms", "changes", "target", ""]);
    t.row(vec![
        "from scratch".to_owned(),
        ms(s.initial),
        s.changes.to_string(),
        format!("< {} ms", SCRATCH_TARGET.as_millis()),
        verdict(s.initial < SCRATCH_TARGET).to_owned(),
    ]);
    t.row(vec![
        format!("no-op resync (median of {})", s.resyncs.len()),
        ms(median),
        s.resync_changes.to_string(),
        format!("< {} ms", RESYNC_TARGET.as_millis()),
        verdict(median < RESYNC_TARGET && s.resync_changes == 0).to_owned(),
    ]);
    t.row(vec![
        "no-op resync (max)".to_owned(),
        ms(max),
        String::new(),
        format!("< {} ms", RESYNC_TARGET.as_millis()),
        verdict(max < RESYNC_TARGET).to_owned(),
    ]);
    out.push_str(&t.render());
    let _ = write!(
        out,
        "\nchanges: neighbours + FDB entries + routes + the NAT table (1); {} causeway routes in \
         the kernel afterwards. Times are read + diff + apply, netlink socket already open.\n",
        s.kernel_routes
    );
    out.push('\n');
    match iperf {
        Err(e) => {
            let _ = writeln!(out, "iperf3: {e}");
        }
        Ok(r) => out.push_str(&render_iperf(r)),
    }
    out
}

fn render_iperf(r: &iperf::Iperf) -> String {
    let (a, b2, b1) = r.addresses;
    let mut out = format!(
        "iperf3 TCP, {} s per run, to the pod {b1} behind c2-n1: intra-cluster from {b2} (c2-n2, \
         flannel's VXLAN), cross-cluster from {a} (c1-n1, netpeer's peering over the same \
         VXLAN); peering added by this run on [{}], already present on [{}]\n\n",
        r.seconds,
        r.peered.join(", "),
        r.already.join(", ")
    );
    let mut t = Table::new(&[
        "path",
        "runs Gbit/s",
        "retransmits",
        "mean Gbit/s",
        "target",
    ]);
    for (path, name) in [
        (iperf::Path::Intra, "intra-cluster c2-n2 → c2-n1"),
        (iperf::Path::Cross, "cross-cluster c1-n1 → c2-n1"),
    ] {
        let runs: Vec<&iperf::Run> = r.runs.iter().filter(|x| x.path == path).collect();
        t.row(vec![
            name.to_owned(),
            runs.iter()
                .map(|x| format!("{:.2}", x.gbits))
                .collect::<Vec<_>>()
                .join(" "),
            runs.iter()
                .map(|x| x.retransmits.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            iperf::mean(&r.runs, path).map_or_else(|| "-".to_owned(), |m| format!("{m:.2}")),
            String::new(),
        ]);
    }
    let ratio = iperf::mean(&r.runs, iperf::Path::Cross)
        .zip(iperf::mean(&r.runs, iperf::Path::Intra))
        .filter(|(_, i)| *i > 0.0)
        .map(|(c, i)| c / i);
    t.row(vec![
        "cross / intra".to_owned(),
        String::new(),
        String::new(),
        ratio.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}")),
        format!(
            ">= {RATIO_TARGET} {}",
            verdict(ratio.is_some_and(|x| x >= RATIO_TARGET))
        ),
    ]);
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests;
