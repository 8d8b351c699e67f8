//! `causeway`: parses the command line and dispatches to a daemon or a user verb.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Kubernetes Multi-Cluster Services (KEP-1645): controller, DNS, pod-network peering and tools.
#[derive(Debug, Parser)]
#[command(name = "causeway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions causeway uses (ServiceExport, ServiceImport,
    /// ClusterProperty) as YAML, ready for `kubectl apply -f -`.
    Crds,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("causeway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { command } = cli;
    match command {
        Command::Crds => {
            let mut out = std::io::stdout().lock();
            out.write_all(causeway_api::crds_yaml().as_bytes())?;
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
