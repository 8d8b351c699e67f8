//! The two DNS servers as child processes on 127.0.0.1: `causeway dns` and CoreDNS with its
//! kubernetes plugin's `multicluster` option; both read the same lab apiserver with the same
//! admin kubeconfig. Started with output in a log file, SIGTERMed (then killed) on stop, killed
//! when dropped; memory and CPU come from `/proc`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use tokio::process::Command;

use crate::daemon::Daemon;

/// A running DNS server: a [`Daemon`] that answers on `addr`.
pub struct Server {
    /// Row label (`causeway dns`, `CoreDNS v1.14.7`).
    pub name: String,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    daemon: Daemon,
}

impl std::ops::Deref for Server {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
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
        Ok(Self {
            name: name.to_owned(),
            addr,
            daemon: Daemon::start(bin, args, env, log, None)?,
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
            // Serving only: the benchmark measures answers, not DnsResolvable status writes.
            "--write-conditions=false",
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
    crate::setup::build_tool("coredns").await
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
