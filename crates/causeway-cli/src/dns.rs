//! `causeway dns`: wiring of the causeway-dns crate into the CLI (being written).

use clap::Args;

/// `causeway dns` flags.
#[derive(Debug, Args)]
pub struct DnsCommand {}

impl DnsCommand {
    #[allow(clippy::unused_async, reason = "placeholder until the daemon is wired")]
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {} = self;
        anyhow::bail!("causeway dns is not available in this build yet")
    }
}
