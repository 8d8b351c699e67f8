//! The two DNS servers as child processes on 127.0.0.1: `causeway dns` and CoreDNS with its
//! kubernetes plugin's `multicluster` option; both read the same lab apiserver with the same
//! admin kubeconfig. Started with output in a log file, SIGTERMed (then killed) on stop, killed
//! when dropped; memory and CPU come from `/proc`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::procfs;

/// A running DNS server.
pub struct Server {
    /// Row label (`causeway dns`, `CoreDNS v1.14.7`).
    pub name: String,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    /// Its PID.
    pub pid: u32,
    /// Its log file.
    pub log: PathBuf,
    /// When it was spawned.
    pub started: Instant,
    child: Child,
}

impl Server {
    /// Starts `bin args…` logging to `log`.
    fn spawn(
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(&str, &str)],
        addr: SocketAddr,
        log: &Path,
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
            name: name.to_owned(),
            addr,
            pid,
            log: log.to_owned(),
            started,
            child,
        })
    }

    /// `causeway dns --kubeconfig <kc> --listen 127.0.0.1:<port> --admin-addr 127.0.0.1:<port>`.
    pub fn causeway(
        bin: &Path,
        kubeconfig: &Path,
        port: u16,
        admin_port: u16,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let admin = SocketAddr::from((Ipv4Addr::LOCALHOST, admin_port));
        let args: Vec<String> = [
            "dns",
            "--kubeconfig",
            &kubeconfig.display().to_string(),
            "--listen",
            &addr.to_string(),
            "--admin-addr",
            &admin.to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        Self::spawn(
            "causeway dns",
            bin,
            &args,
            &[("CAUSEWAY_LOG", "info,kube=warn")],
            addr,
            log,
        )
    }

    /// CoreDNS with `corefile(kubeconfig, port)` written next to its log.
    pub fn coredns(
        name: &str,
        bin: &Path,
        kubeconfig: &Path,
        port: u16,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let conf = log.with_extension("Corefile");
        if let Some(dir) = conf.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        std::fs::write(&conf, corefile(kubeconfig, port))
            .with_context(|| format!("failed to write {}", conf.display()))?;
        let args = vec!["-conf".to_owned(), conf.display().to_string()];
        Self::spawn(name, bin, &args, &[], addr, log)
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

    /// CPU seconds used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        procfs::cpu_seconds(self.pid)
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
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
}

/// CoreDNS's configuration (lab-notes §9): the kubernetes plugin serving `cluster.local` and,
/// with `multicluster`, `clusterset.local`; bound to 127.0.0.1 only; no `forward` (nothing
/// outside is reachable), no `cache` and no `log` (causeway has neither).
pub fn corefile(kubeconfig: &Path, port: u16) -> String {
    format!(
        ".:{port} {{\n    bind 127.0.0.1\n    errors\n    kubernetes cluster.local clusterset.local {{\n        \
         kubeconfig {}\n        multicluster clusterset.local\n    }}\n}}\n",
        kubeconfig.display()
    )
}

/// Builds (or finds cached) CoreDNS with tools/coredns/build.sh; the error carries the script's
/// failing output.
pub async fn build_coredns() -> Result<PathBuf, String> {
    let script = [PathBuf::from("tools/coredns/build.sh")]
        .into_iter()
        .chain(std::iter::once(
            crate::workspace_root().join("tools/coredns/build.sh"),
        ))
        .find(|p| p.is_file())
        .ok_or_else(|| "tools/coredns/build.sh not found".to_owned())?;
    eprintln!("causeway-bench: bash {}", script.display());
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| format!("failed to run {}: {e}", script.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "CoreDNS build failed ({}): {}",
            out.status,
            tail.join("\n")
        ));
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "CoreDNS build printed no binary path; stderr: {stderr}"
        ))
    }
}

/// CoreDNS's version from `coredns -version` (`CoreDNS-1.14.7`), for the row label.
pub async fn coredns_version(bin: &Path) -> String {
    let out = Command::new(bin)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .await;
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("CoreDNS-").map(|v| format!("CoreDNS v{v}")))
        })
        .unwrap_or_else(|| "CoreDNS".to_owned())
}
