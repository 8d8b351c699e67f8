//! The load: a dnsperf query file mixing the record forms, dnsperf runs (saturation, and a
//! fixed-rate verbose pass for latency percentiles) and their output parsed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

use super::objects::{Kind, Mix, PORT_NAME};
use crate::objects::import_name;

/// One line of the query file: a name and a record type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Fully qualified name, no trailing dot.
    pub name: String,
    /// `A` or `SRV`.
    pub qtype: &'static str,
}

/// Shares of the query mix, in percent (they add up to 100).
pub const MIX: [(&str, usize); 4] = [
    ("A ClusterSetIP", 60),
    ("A Headless", 20),
    ("SRV _http._tcp ClusterSetIP", 10),
    ("SRV _http._tcp Headless", 10),
];

/// The FQDN of import `i` in `ns`.
pub fn service_fqdn(i: usize, ns: &str, zone: &str) -> String {
    format!("{}.{ns}.svc.{zone}", import_name(i))
}

/// `lines` queries over the imports of `mix` in the shares of [`MIX`], each picking an import
/// with a fixed-seed generator, so both servers get the same file and every import is likely
/// asked.
pub fn queries(mix: Mix, ns: &str, zone: &str, lines: usize) -> Vec<Query> {
    let clusterset = mix.indices(Kind::ClusterSetIp);
    let headless = mix.indices(Kind::Headless);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| -> usize {
        // xorshift64*: deterministic and good enough to spread picks.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let r = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        usize::try_from(r).unwrap_or(0) % n.max(1)
    };
    let mut out = Vec::with_capacity(lines);
    for line in 0..lines {
        let bucket = line % 100;
        let (pool, srv) = if bucket < 60 {
            (&clusterset, false)
        } else if bucket < 80 {
            (&headless, false)
        } else if bucket < 90 {
            (&clusterset, true)
        } else {
            (&headless, true)
        };
        // Fall back to the other pool when one kind is absent (0 % or 100 % headless).
        let pool = if pool.is_empty() {
            if clusterset.is_empty() {
                &headless
            } else {
                &clusterset
            }
        } else {
            pool
        };
        let Some(&i) = pool.get(next(pool.len())) else {
            continue;
        };
        let fqdn = service_fqdn(i, ns, zone);
        out.push(if srv {
            Query {
                name: format!("_{PORT_NAME}._tcp.{fqdn}"),
                qtype: "SRV",
            }
        } else {
            Query {
                name: fqdn,
                qtype: "A",
            }
        });
    }
    out
}

/// The query file's text: `name type` per line.
pub fn render_queries(queries: &[Query]) -> String {
    let mut out = String::new();
    for q in queries {
        let _ = writeln!(out, "{} {}", q.name, q.qtype);
    }
    out
}

/// How to run dnsperf.
#[derive(Clone, Debug)]
pub struct Load {
    /// `-c`: client sockets.
    pub clients: usize,
    /// `-T`: threads.
    pub threads: usize,
    /// `-q`: queries outstanding.
    pub outstanding: usize,
    /// `-t`: seconds before a query counts as lost.
    pub timeout_s: u64,
}

/// What one dnsperf run reported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Queries sent.
    pub sent: u64,
    /// Queries completed.
    pub completed: u64,
    /// Queries lost.
    pub lost: u64,
    /// Queries per second.
    pub qps: f64,
    /// Average latency, seconds.
    pub avg_s: f64,
    /// Latency standard deviation, seconds.
    pub stddev_s: f64,
    /// `Response codes:` line as printed (e.g. `NOERROR 1000 (100.00%)`).
    pub rcodes: String,
    /// Share of completed queries answered NOERROR, percent.
    pub noerror_pct: f64,
    /// Per-query latencies, seconds (verbose runs only).
    pub latencies: Vec<f64>,
}

/// Runs dnsperf against `addr` for `seconds`, at most `qps` queries per second when given;
/// `verbose` adds `-v` and collects per-query latencies.
pub async fn dnsperf(
    bin: &Path,
    addr: std::net::SocketAddr,
    file: &Path,
    seconds: u64,
    qps: Option<u64>,
    verbose: bool,
    load: &Load,
) -> anyhow::Result<Stats> {
    let mut args: Vec<String> = vec![
        "-s".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
        "-d".into(),
        file.display().to_string(),
        "-l".into(),
        seconds.to_string(),
        "-c".into(),
        load.clients.to_string(),
        "-T".into(),
        load.threads.to_string(),
        "-q".into(),
        load.outstanding.to_string(),
        "-t".into(),
        load.timeout_s.to_string(),
    ];
    if let Some(q) = qps {
        args.extend(["-Q".into(), q.to_string()]);
    }
    if verbose {
        args.push("-v".into());
    }
    let out = Command::new(bin)
        .args(&args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("failed to run {}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "dnsperf {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            stdout.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
    }
    parse(&stdout).with_context(|| format!("unexpected dnsperf output:\n{stdout}"))
}

/// Parses dnsperf's statistics block (and, from `-v`, its per-response `> RCODE name type
/// latency` lines).
pub fn parse(text: &str) -> anyhow::Result<Stats> {
    let mut s = Stats::default();
    let first = |v: &str| v.split_whitespace().next().unwrap_or("").to_owned();
    let mut seen_qps = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("> ") {
            if let Some(lat) = rest
                .split_whitespace()
                .last()
                .and_then(|v| v.parse::<f64>().ok())
            {
                s.latencies.push(lat);
            }
            continue;
        }
        let line = line.trim();
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "Queries sent" => s.sent = first(value).parse().unwrap_or(0),
            "Queries completed" => s.completed = first(value).parse().unwrap_or(0),
            "Queries lost" => s.lost = first(value).parse().unwrap_or(0),
            "Queries per second" => {
                s.qps = first(value).parse().unwrap_or(0.0);
                seen_qps = true;
            }
            "Average Latency (s)" => s.avg_s = first(value).parse().unwrap_or(0.0),
            "Latency StdDev (s)" => s.stddev_s = first(value).parse().unwrap_or(0.0),
            "Response codes" => {
                value.clone_into(&mut s.rcodes);
                s.noerror_pct = value
                    .split(',')
                    .find_map(|part| {
                        let part = part.trim();
                        let rest = part.strip_prefix("NOERROR ")?;
                        let pct = rest.split_once('(')?.1.split_once('%')?.0;
                        pct.parse().ok()
                    })
                    .unwrap_or(0.0);
            }
            _ => {}
        }
    }
    if !seen_qps {
        bail!("no \"Queries per second\" line");
    }
    Ok(s)
}

/// The `q`-quantile (0..=1) of `sorted` by nearest rank; `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Finds dnsperf on PATH; when missing, installs the Debian package (`apt-get update` +
/// `apt-get install -y dnsperf`).
pub async fn ensure_dnsperf() -> anyhow::Result<std::path::PathBuf> {
    if let Some(p) = which("dnsperf") {
        return Ok(p);
    }
    eprintln!("causeway-bench: dnsperf missing; apt-get update && apt-get install -y dnsperf");
    let ok = |s: std::io::Result<std::process::ExitStatus>| s.is_ok_and(|s| s.success());
    let update = Command::new("apt-get")
        .args(["update", "-q"])
        .stdout(Stdio::null())
        .status()
        .await;
    let install = Command::new("apt-get")
        .args(["install", "-y", "-q", "dnsperf"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .await;
    if !ok(update) || !ok(install) {
        bail!("failed to install dnsperf (apt-get install -y dnsperf)");
    }
    which("dnsperf").context("dnsperf installed but not on PATH")
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests;
