//! Set-up shared by the benchmarks: a running lab, and a tag unique to one run.

use anyhow::Context as _;
use causeway_lab::{LabPaths, UpOptions};

/// Makes sure the lab runs with at least `cluster` clusters (and at least 2): `causeway-lab up`
/// reuses a running lab and grows a smaller one.
pub async fn ensure_lab(paths: &LabPaths, cluster: u8) -> anyhow::Result<()> {
    let info = causeway_lab::up(
        paths,
        &UpOptions {
            clusters: cluster.max(2),
        },
    )
    .await
    .context("failed to start the lab")?;
    if info.started {
        eprintln!("causeway-bench: started the lab in {:.1} s", info.seconds);
    }
    Ok(())
}

/// A short tag unique to this run, for namespace and Lease names.
pub fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{}-{:04x}", std::process::id(), nanos & 0xffff)
}

/// Runs `tools/<tool>/build.sh` (from the current directory or the workspace root), which builds
/// a reference binary from the Go module proxy or finds it in its cache and prints its path; the
/// error carries the tail of the script's own output.
pub async fn build_tool(tool: &str) -> Result<std::path::PathBuf, String> {
    let relative = format!("tools/{tool}/build.sh");
    let script = [
        std::path::PathBuf::from(&relative),
        crate::workspace_root().join(&relative),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .ok_or_else(|| format!("{relative} not found"))?;
    eprintln!("causeway-bench: bash {}", script.display());
    let out = tokio::process::Command::new("bash")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .await
        .map_err(|e| format!("failed to run {}: {e}", script.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{tool} build failed ({}): {}",
            out.status,
            tail.join("\n")
        ));
    }
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{tool} build printed no binary path; stderr: {stderr}"
        ))
    }
}
