//! `causeway-bench dns` (being written).

use std::process::ExitCode;

use clap::Args;

/// `causeway-bench dns` flags.
#[derive(Debug, Args)]
pub struct DnsArgs {}

#[allow(clippy::unused_async, reason = "placeholder")]
pub async fn run(args: DnsArgs) -> anyhow::Result<ExitCode> {
    let DnsArgs {} = args;
    anyhow::bail!("causeway-bench dns is not available in this build yet")
}
