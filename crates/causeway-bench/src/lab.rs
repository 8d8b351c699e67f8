//! `causeway-bench lab --yes`: runs `causeway-lab down`, then `causeway-lab up --clusters 2` (the
//! Kubernetes binaries and images must already be built, so `up` measures start-up, not a build;
//! `up` returns once every node is Ready under its kubelet and CoreDNS is available), and sums
//! `VmRSS` of every process in the lab's PID directory, plus every other process in the nodes'
//! cgroups (containerd shims, pause and CoreDNS containers), once `up` returns. RSS counts shared
//! pages in each process, so the total is an upper bound.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use causeway_lab::LabPaths;

use crate::procfs;
use crate::table::Table;

/// Arguments of `lab`.
#[derive(Debug, clap::Args)]
pub struct LabArgs {
    /// Really restart the shared lab (stops every lab process; tests running on it fail).
    #[arg(long)]
    yes: bool,
    /// The `causeway-lab` binary (default: next to this binary, then ./target/{release,debug}).
    #[arg(long, env = "CAUSEWAY_LAB_BIN")]
    lab_bin: Option<PathBuf>,
    /// Number of clusters to start.
    #[arg(long, default_value_t = 2)]
    clusters: u8,
}

const WARNING: &str = "WARNING: `causeway-bench lab` runs `causeway-lab down` and `up`: it stops \
the shared lab, so every test, demo or daemon using it fails. Re-run with --yes to do it anyway.";

/// Runs the benchmark; see the module docs.
pub async fn run(args: LabArgs) -> anyhow::Result<ExitCode> {
    let LabArgs {
        yes,
        lab_bin,
        clusters,
    } = args;
    eprintln!("{WARNING}");
    if !yes {
        return Ok(ExitCode::from(2));
    }
    let bin = find_binary("causeway-lab", lab_bin.as_deref())?;
    let paths = LabPaths::from_env();

    let t = Instant::now();
    run_lab(&bin, &["down"]).await?;
    let down_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    run_lab(&bin, &["up", "--clusters", &clusters.to_string()]).await?;
    let up_s = t.elapsed().as_secs_f64();

    let mut rss = Table::new(&["process", "pid", "VmRSS MiB"]);
    let mut total_kib = 0;
    for pid_file in causeway_lab::process::list(&paths.pid_dir()) {
        let kib = procfs::status_kib(pid_file.pid, "VmRSS");
        total_kib += kib.unwrap_or(0);
        rss.row(vec![
            pid_file.name,
            pid_file.pid.to_string(),
            kib.map_or_else(|| "gone".to_owned(), |k| format!("{:.1}", procfs::mib(k))),
        ]);
    }
    let recorded: Vec<u32> = causeway_lab::process::list(&paths.pid_dir())
        .iter()
        .map(|p| p.pid)
        .collect();
    for cgroup in causeway_lab::cgroup::lab_cgroups() {
        let pids: Vec<u32> = causeway_lab::cgroup::pids(&cgroup)
            .into_iter()
            .filter_map(|p| u32::try_from(p).ok())
            .filter(|p| !recorded.contains(p))
            .collect();
        let kib: u64 = pids
            .iter()
            .filter_map(|p| procfs::status_kib(*p, "VmRSS"))
            .sum();
        total_kib += kib;
        rss.row(vec![
            format!("{cgroup}: shims and containers"),
            format!("{} processes", pids.len()),
            format!("{:.1}", procfs::mib(kib)),
        ]);
    }
    rss.row(vec![
        "total".to_owned(),
        String::new(),
        format!("{:.1}", procfs::mib(total_kib)),
    ]);
    let mut summary = Table::new(&["lab", "clusters", "down s", "up s", "RSS MiB"]);
    summary.row(vec![
        "causeway-lab".to_owned(),
        clusters.to_string(),
        format!("{down_s:.1}"),
        format!("{up_s:.1}"),
        format!("{:.1}", procfs::mib(total_kib)),
    ]);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", summary.render())?;
    write!(out, "{}", rss.render())?;
    Ok(ExitCode::SUCCESS)
}

async fn run_lab(bin: &Path, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("causeway-bench: {} {}", bin.display(), args.join(" "));
    let out = tokio::process::Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("failed to run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "`causeway-lab {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `explicit`, else `name` next to this executable, else `./target/release/<name>`, else
/// `./target/debug/<name>`.
pub fn find_binary(name: &str, explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_owned());
        }
        bail!("{} does not exist", p.display());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)));
    let candidates = beside.into_iter().chain(
        ["target/release", "target/debug"]
            .iter()
            .map(|d| Path::new(d).join(name)),
    );
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no {name} binary found next to causeway-bench or in ./target/{{release,debug}}; build it \
         (cargo build --release -p causeway-cli -p causeway-lab) or pass its path"
    )
}
