//! `causeway netpeer`: wiring of the causeway-netpeer crate into the CLI (being written).

use clap::Args;

/// `causeway netpeer` flags.
#[derive(Debug, Args)]
pub struct NetpeerCommand {}

impl NetpeerCommand {
    #[allow(clippy::unused_async, reason = "placeholder until the daemon is wired")]
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {} = self;
        anyhow::bail!("causeway netpeer is not available in this build yet")
    }
}
