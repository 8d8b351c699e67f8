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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ControllerArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ControllerArgs,
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let args = Cli::try_parse_from(["causeway"]).unwrap().args;
        assert_eq!(args.peer_grace, 60, "a failing peer's endpoints stay 60 s");
        assert!(args.sync, "the sync is on unless --sync=false");
        assert_eq!(args.members_namespace, "causeway-system");
        assert_eq!(args.namespace, None, "all namespaces");
    }

    #[test]
    fn the_grace_and_the_sync_can_be_set() {
        let args = Cli::try_parse_from(["causeway", "--peer-grace", "5", "--sync=false"])
            .unwrap()
            .args;
        assert_eq!(args.peer_grace, 5);
        assert!(!args.sync);
    }
}
