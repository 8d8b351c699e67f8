//! Finds or builds the Go binaries the lab runs: `tools/kubebins/build.sh` (the Kubernetes
//! components, etcd, kubectl) and `tools/containerd/build.sh` (containerd, its runc shim, ctr).
//! Each returns a cached build keyed by release and `go.sum` at once, or builds one (progress on
//! stderr).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// The build script: `$CAUSEWAY_KUBEBINS_SCRIPT`, else the one in this source tree.
pub fn script() -> PathBuf {
    std::env::var_os("CAUSEWAY_KUBEBINS_SCRIPT").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tools/kubebins/build.sh"
            ))
        },
        PathBuf::from,
    )
}

/// Returns the directory holding etcd, kube-apiserver, kube-controller-manager,
/// kube-scheduler, kube-proxy, kubelet and kubectl, building them first when the cache lacks
/// them.
pub fn ensure() -> Result<PathBuf> {
    run(&script())
}

/// Returns the directory holding containerd, containerd-shim-runc-v2 and ctr, building them first
/// when the cache lacks them (`$CAUSEWAY_CONTAINERD_SCRIPT` overrides the script).
pub fn ensure_containerd() -> Result<PathBuf> {
    let script = std::env::var_os("CAUSEWAY_CONTAINERD_SCRIPT").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tools/containerd/build.sh"
            ))
        },
        PathBuf::from,
    );
    run(&script)
}

fn run(script: &std::path::Path) -> Result<PathBuf> {
    let out = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(Error::io("failed to run", script))?;
    if !out.status.success() {
        return Err(Error::KubeBuild {
            script: script.to_owned(),
            status: out.status.to_string(),
        });
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(dir)
}
