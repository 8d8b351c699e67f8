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
    /// Sync ServiceExports of every member cluster into this cluster's ServiceImports and
    /// EndpointSlices (`--sync=false` runs the import side only, like the upstream controller).
    /// Only members of this cluster's clusterset take part (ClusterProperty `clusterset.k8s.io`,
    /// set by `causeway join`); without one the sync pauses.
    #[arg(long, env = "CAUSEWAY_SYNC", default_value_t = true, action = clap::ArgAction::Set)]
    pub sync: bool,
    /// Namespace of the peer Secrets written by `causeway join`.
    #[arg(
        long,
        env = "CAUSEWAY_MEMBERS_NAMESPACE",
        default_value = "causeway-system"
    )]
    pub members_namespace: String,
    /// Seconds a failing peer's endpoints stay before they are withdrawn.
    #[arg(long, env = "CAUSEWAY_PEER_GRACE", default_value_t = 60)]
    pub peer_grace: u64,
    /// Imports reconciled at the same time.
    #[arg(long, env = "CAUSEWAY_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
}
