//! `causeway`: parses the command line and dispatches to a daemon or a user verb. The cargo
//! features `dns`, `netpeer` and `tools` (all default) add their commands; without them the
//! binary is the controller's lean image build (`controller` and `crds`).

mod controller;
#[cfg(feature = "dns")]
mod dns;
#[cfg(feature = "tools")]
mod import_slices;
#[cfg(feature = "tools")]
mod join;
#[cfg(feature = "netpeer")]
mod netpeer;
#[cfg(feature = "tools")]
mod serve;
#[cfg(feature = "tools")]
mod status;
#[cfg(feature = "tools")]
mod status_dns;
mod version;

use std::io::Write;
use std::process::ExitCode;

use causeway_runtime::LogArgs;
use clap::{Parser, Subcommand};

/// `causeway --version`: the crate version and the git commit it was built from (`build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CAUSEWAY_COMMIT"),
    ")"
);

/// This binary's version and commit, for `causeway_build_info` and the daemons' `starting` line.
pub(crate) const BUILD: causeway_runtime::BuildInfo = causeway_runtime::BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    commit: env!("CAUSEWAY_COMMIT"),
};

/// Kubernetes Multi-Cluster Services (KEP-1645): controller, DNS, pod-network peering and tools.
#[derive(Debug, Parser)]
#[command(name = "causeway", version = VERSION, about)]
struct Cli {
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once; without the other commands the controller's flags are the largest variant.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Print the CustomResourceDefinitions causeway uses (ServiceExport, ServiceImport,
    /// ClusterProperty) as YAML, ready for `kubectl apply -f -`.
    Crds,
    /// Run the controller: every ClusterSetIP ServiceImport gets a derived Service whose cluster
    /// IP is the ClusterSet VIP (recorded in spec.ips), and its MCS EndpointSlices are routed to
    /// it. Replicas elect a leader on a Lease; only the leader writes.
    Controller(controller::ControllerCommand),
    /// Serve the clusterset.local DNS zone (MCS DNS specification 1.0.0) from the cluster's
    /// ServiceImports and MCS EndpointSlices; plug it into any CoreDNS as a stub zone.
    #[cfg(feature = "dns")]
    Dns(dns::DnsCommand),
    /// Keep cross-cluster pod routing (flannel VXLAN peering) right on this node.
    #[cfg(feature = "netpeer")]
    Netpeer(netpeer::NetpeerCommand),
    /// Put this cluster and a peer in one clusterset (ClusterProperty `clusterset.k8s.io`) and let
    /// this cluster read the peer (read-only credential stored as a peer Secret); `--both` also
    /// the other way round.
    #[cfg(feature = "tools")]
    Join(join::JoinCommand),
    /// Copy a Service's EndpointSlices from a source cluster into a target cluster as MCS
    /// EndpointSlices (the seed's manual step 4, idempotent; stale copies are removed).
    #[cfg(feature = "tools")]
    ImportSlices(import_slices::ImportSlicesCommand),
    /// Show this cluster's view of the clusterset: members and their reachability, per
    /// service the exporting clusters, conflicts and endpoints per cluster, and whether
    /// clusterset.local resolves from here (run it on a node or in a pod to ask as pods do).
    #[cfg(feature = "tools")]
    Status(status::StatusCommand),
    /// Answer every HTTP request with `hello from cluster <N> (Node: … Pod: … Address: …)`: the
    /// demo workload.
    #[cfg(feature = "tools")]
    Serve(serve::ServeCommand),
    /// Print this binary's version, git commit and commit date, and the Kubernetes API versions
    /// it speaks.
    Version(version::VersionCommand),
    /// Print a shell completion script for causeway.
    #[cfg(feature = "tools")]
    #[command(after_help = "Examples:
  source <(causeway completion bash)                        # this bash session
  causeway completion bash > /etc/bash_completion.d/causeway
  causeway completion zsh > \"${fpath[1]}/_causeway\"         # zsh (compinit enabled)
  causeway completion fish > ~/.config/fish/completions/causeway.fish")]
    Completion {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// Shells `causeway completion` writes scripts for.
#[cfg(feature = "tools")]
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("causeway: failed to start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("causeway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { log, command } = cli;
    match command {
        Command::Crds => {
            let mut out = std::io::stdout().lock();
            out.write_all(causeway_api::crds_yaml().as_bytes())?;
            Ok(())
        }
        Command::Controller(cmd) => {
            causeway_runtime::log::init(&log)?;
            cmd.run().await
        }
        #[cfg(feature = "dns")]
        Command::Dns(cmd) => {
            causeway_runtime::log::init(&dns::log_args(&log))?;
            cmd.run().await
        }
        #[cfg(feature = "netpeer")]
        Command::Netpeer(cmd) => {
            causeway_runtime::log::init(&log)?;
            cmd.run().await
        }
        #[cfg(feature = "tools")]
        Command::ImportSlices(cmd) => cmd.run().await,
        #[cfg(feature = "tools")]
        Command::Join(cmd) => cmd.run().await,
        #[cfg(feature = "tools")]
        Command::Status(cmd) => cmd.run().await,
        #[cfg(feature = "tools")]
        Command::Serve(cmd) => cmd.run().await,
        Command::Version(cmd) => cmd.run(),
        #[cfg(feature = "tools")]
        Command::Completion { shell } => {
            use clap::CommandFactory;
            use clap_complete::Shell;
            let shell = match shell {
                CompletionShell::Bash => Shell::Bash,
                CompletionShell::Zsh => Shell::Zsh,
                CompletionShell::Fish => Shell::Fish,
            };
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "causeway", &mut out);
            out.flush()?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
