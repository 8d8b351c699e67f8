//! Finds or builds the Kubernetes binaries: runs `tools/kubebins/build.sh`, which returns a cached
//! build keyed by release and `go.sum` at once, or builds one (progress on stderr).

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

/// Returns the directory holding etcd, kube-apiserver, kube-controller-manager, kube-proxy and
/// kubectl, building them first when the cache lacks them.
pub fn ensure() -> Result<PathBuf> {
    let script = script();
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(Error::io("failed to run", &script))?;
    if !out.status.success() {
        return Err(Error::KubeBuild {
            script,
            status: out.status.to_string(),
        });
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(dir)
}
