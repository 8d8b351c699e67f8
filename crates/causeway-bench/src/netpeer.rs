//! `causeway-bench netpeer` (being written).

use std::process::ExitCode;

use clap::Args;

/// `causeway-bench netpeer` flags.
#[derive(Debug, Args)]
pub struct NetpeerArgs {}

#[allow(clippy::unused_async, reason = "placeholder")]
pub async fn run(args: NetpeerArgs) -> anyhow::Result<ExitCode> {
    let NetpeerArgs {} = args;
    anyhow::bail!("causeway-bench netpeer is not available in this build yet")
}
