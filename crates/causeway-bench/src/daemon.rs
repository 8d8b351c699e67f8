//! A daemon under test (a controller, a DNS server) as a real child process: started with its output in a log file,
//! SIGTERMed (then killed) on stop, killed when dropped; its CPU and memory come from `/proc`,
//! and causeway's admin server (`/readyz`, `/metrics`) is read over plain HTTP/1.0 on loopback.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::{procfs, prom};

/// A running daemon process.
pub struct Daemon {
    child: Child,
    /// Its PID.
    pub pid: u32,
    /// Its log file.
    pub log: PathBuf,
    /// causeway's admin address, when it has one.
    pub admin: Option<SocketAddr>,
    /// When it was spawned.
    pub started: Instant,
}

impl Daemon {
    /// Starts `bin args…` with `env`, logging to `log`.
    pub fn start(
        bin: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: &Path,
        admin: Option<SocketAddr>,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        let file = std::fs::File::create(log)
            .with_context(|| format!("failed to create {}", log.display()))?;
        let err = file.try_clone().context("failed to clone a log handle")?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("failed to start {}", bin.display()))?;
        let pid = child.id().context("the started process has no PID")?;
        Ok(Self {
            child,
            pid,
            log: log.to_owned(),
            admin,
            started,
        })
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory now (`VmRSS`), KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        procfs::status_kib(self.pid, "VmRSS")
    }

    /// Peak resident memory (`VmHWM`), KiB.
    pub fn peak_kib(&self) -> Option<u64> {
        procfs::status_kib(self.pid, "VmHWM")
    }

    /// Anonymous resident memory now (`RssAnon`: heap and stacks, not the mapped binary), KiB.
    pub fn anon_kib(&self) -> Option<u64> {
        procfs::status_kib(self.pid, "RssAnon")
    }

    /// CPU seconds used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        procfs::cpu_seconds(self.pid)
    }

    /// SIGTERM, wait up to 15 s, then SIGKILL.
    pub async fn stop(&mut self) {
        if self.alive()
            && let Ok(pid) = i32::try_from(self.pid)
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits until `/readyz` answers 200 (up to `timeout`).
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<f64> {
        let addr = self.admin.context("no admin address")?;
        let t = Instant::now();
        while t.elapsed() < timeout {
            if !self.alive() {
                bail!(
                    "the controller exited; log {}:\n{}",
                    self.log.display(),
                    self.log_tail(20)
                );
            }
            if matches!(http_get(addr, "/readyz").await, Ok((200, _))) {
                return Ok(self.started.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("/readyz of {addr} not 200 after {timeout:?}")
    }

    /// The admin server's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let addr = self.admin.context("no admin address")?;
        let (code, body) = http_get(addr, "/metrics").await?;
        if code != 200 {
            bail!("GET http://{addr}/metrics answered {code}");
        }
        Ok(body)
    }

    /// `causeway_controller_api_writes_total`, summed over kinds.
    pub async fn writes(&self) -> Option<f64> {
        let text = self.metrics().await.ok()?;
        let s = prom::samples(&text, "causeway_controller_api_writes_total");
        Some(prom::sum_where(&s, |_| true))
    }

    /// Sync passes so far and the seconds they took in all
    /// (`causeway_controller_sync_pass_duration_seconds` count and sum).
    pub async fn passes(&self) -> Option<(f64, f64)> {
        let text = self.metrics().await.ok()?;
        let metric = "causeway_controller_sync_pass_duration_seconds";
        let count = prom::samples(&text, &format!("{metric}_count"));
        let sum = prom::samples(&text, &format!("{metric}_sum"));
        Some((
            prom::sum_where(&count, |_| true),
            prom::sum_where(&sum, |_| true),
        ))
    }

    /// The buckets of histogram `metric` (see [`prom::buckets`]).
    pub async fn buckets(&self, metric: &str) -> Vec<(f64, f64)> {
        match self.metrics().await {
            Ok(text) => prom::buckets(&text, metric),
            Err(_) => Vec::new(),
        }
    }

    /// `causeway_controller_api_writes_total` by kind.
    pub async fn writes_by_kind(&self) -> Vec<(String, f64)> {
        let Ok(text) = self.metrics().await else {
            return Vec::new();
        };
        prom::samples(&text, "causeway_controller_api_writes_total")
            .into_iter()
            .map(|s| (s.labels.get("kind").cloned().unwrap_or_default(), s.value))
            .collect()
    }

    /// Waits until `causeway_controller_leader` is 1 (up to `timeout`); false on timeout.
    pub async fn wait_leader(&self, timeout: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if let Ok(text) = self.metrics().await {
                let s = prom::samples(&text, "causeway_controller_leader");
                if prom::sum_where(&s, |_| true) >= 1.0 {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }

    /// Waits until the process has been quiet for 3 s (under 0.05 CPU s per second and, with an
    /// admin server, no new writes), at least `min` after the call and at most `max`.
    pub async fn wait_quiet(&mut self, min: Duration, max: Duration) -> bool {
        let t = Instant::now();
        let mut quiet_since: Option<Instant> = None;
        let mut last_cpu = self.cpu_seconds().unwrap_or(0.0);
        let mut last_writes = self.writes().await;
        while t.elapsed() < max {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !self.alive() {
                return false;
            }
            let cpu = self.cpu_seconds().unwrap_or(0.0);
            let writes = self.writes().await;
            let quiet = cpu - last_cpu < 0.05 && writes == last_writes;
            last_cpu = cpu;
            last_writes = writes;
            if !quiet {
                quiet_since = None;
                continue;
            }
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(3) && t.elapsed() >= min {
                return true;
            }
        }
        false
    }
}

/// A free loopback TCP address (bound, then released for the daemon to take).
pub fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("failed to bind a loopback port")?;
    Ok(listener.local_addr()?)
}

/// `GET path` over HTTP/1.0 (no chunked replies); returns status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let io = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .with_context(|| format!("GET http://{addr}{path} timed out"))?
        .with_context(|| format!("GET http://{addr}{path} failed"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("GET http://{addr}{path}: no HTTP status line"))?;
    Ok((code, body.to_owned()))
}

/// Namespace of the benchmarks' Leases.
pub const LEASE_NAMESPACE: &str = "causeway-system";

/// `causeway controller` flags for a benchmark: admin server on `admin`, a short Lease `lease` in
/// [`LEASE_NAMESPACE`] (fast takeover), scoped to namespace `ns`.
pub fn controller_args(kubeconfig: &Path, admin: SocketAddr, lease: &str, ns: &str) -> Vec<String> {
    [
        "controller",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--admin-addr",
        &admin.to_string(),
        "--leader-election-namespace",
        LEASE_NAMESPACE,
        "--leader-election-id",
        lease,
        "--leader-election-lease-duration",
        "4",
        "--leader-election-renew-grace",
        "2",
        "--namespace",
        ns,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}
