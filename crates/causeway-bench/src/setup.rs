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
