//! Flags of `causeway controller`.

use causeway_runtime::LeaseArgs;
use clap::Args;

/// `causeway controller` flags.
#[derive(Clone, Debug, Args)]
pub struct ControllerArgs {
    /// Leader election.
    #[command(flatten)]
    pub lease: LeaseArgs,
    /// Serve only this namespace (default: all namespaces).
    #[arg(long, env = "CAUSEWAY_NAMESPACE")]
    pub namespace: Option<String>,
    /// Imports reconciled at the same time.
    #[arg(long, env = "CAUSEWAY_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
}
