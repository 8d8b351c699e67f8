//! A causeway daemon started by a test as a real process: its output goes to a log file under the
//! lab directory (printed when the test fails), and it is killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

/// A running daemon process.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// Its log file.
    pub log: PathBuf,
    name: String,
}

impl Daemon {
    /// Starts `bin args…` with `env`, logging to `<lab>/test-logs/<name>.log`.
    pub fn start(
        bin: &Path,
        name: &str,
        args: &[String],
        env: &[(&str, &str)],
        lab_root: &Path,
    ) -> Self {
        let dir = lab_root.join("test-logs");
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = file
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log handle: {e}"));
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Self {
            child,
            log,
            name: name.to_owned(),
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs the daemon and waits for it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERMs the daemon and waits up to 10 s for it to exit; returns its exit status.
    pub async fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- log of {} ({}) ----\n{}",
                self.name,
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// The flags of a `causeway controller` for lab cluster `cluster`, running as the lab user
/// `causeway-controller`, reconciling only namespace `ns`, leading with Lease
/// `causeway-system/<lease>`, serving its admin endpoints on `admin`; `extra` flags are appended.
pub fn controller_args(
    lab: &crate::Lab,
    cluster: u8,
    ns: &str,
    lease: &str,
    admin: &str,
    extra: &[&str],
) -> Vec<String> {
    let kubeconfig = lab.paths.user_kubeconfig(cluster, "causeway-controller");
    let kubeconfig = kubeconfig.display().to_string();
    [
        "controller",
        "--kubeconfig",
        &kubeconfig,
        "--admin-addr",
        admin,
        "--leader-election-namespace",
        "causeway-system",
        "--leader-election-id",
        lease,
        "--namespace",
        ns,
    ]
    .iter()
    .chain(extra)
    .map(|s| (*s).to_owned())
    .collect()
}
