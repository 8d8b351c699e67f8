//! `causeway-bench sync` (being written).

use std::process::ExitCode;

use clap::Args;

/// `causeway-bench sync` flags.
#[derive(Debug, Args)]
pub struct SyncArgs {}

#[allow(clippy::unused_async, reason = "placeholder")]
pub async fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let SyncArgs {} = args;
    anyhow::bail!("causeway-bench sync is not available in this build yet")
}
