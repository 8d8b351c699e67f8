//! `causeway-bench`: benchmarks on the lab's real clusters. Not tests: `make test` only builds and
//! lints this crate; `make bench` runs it.
//!
//! - `lab` ([`lab`]): wall time of `causeway-lab down` + `up` (binaries cached) and the summed RSS
//!   of every process the lab records. Restarts the shared lab, so it needs `--yes`.
//! - `imports` ([`imports`]): N hand-made ServiceImports with one MCS EndpointSlice each, converged
//!   by the real `causeway controller` and then by the upstream mcs-api servicecontroller, each in
//!   its own fresh namespace; convergence time, API writes per import (apiserver and controller
//!   counters), writes of a forced full resync, peak RSS and CPU; plus the apiserver's own write
//!   ceiling for the same number of writes from a bare client loop.
//!
//! Results go to stdout as tables; progress goes to stderr.

mod daemon;
mod dns;
mod imports;
mod lab;
mod netpeer;
mod objects;
mod procfs;
mod prom;
mod setup;
mod sync;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Benchmarks on causeway's lab (real kube-apiservers on this machine). Needs root and a lab.
#[derive(Debug, Parser)]
#[command(name = "causeway-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Time `causeway-lab down` + `up` (2 clusters, binaries cached) and sum the lab's RSS.
    /// WARNING: restarts the shared lab, breaking anything running on it; needs --yes.
    Lab(lab::LabArgs),
    /// Converge N ServiceImports with causeway's controller and with the upstream mcs-api
    /// servicecontroller on lab cluster 1; compare time, API writes, resync writes, RSS and CPU.
    Imports(imports::ImportsArgs),
    /// Cross-cluster sync: N exported services across 2 lab clusters, then endpoint changes;
    /// propagation latency, writes per change, convergence time, controller RSS.
    Sync(sync::SyncArgs),
    /// netpeer: program N peer nodes from scratch in a namespace, then a no-op resync; and
    /// iperf3 throughput across the peering vs within one cluster.
    Netpeer(netpeer::NetpeerArgs),
    /// DNS: causeway dns against CoreDNS's multicluster option on the same imports, loaded by
    /// dnsperf: QPS, latency, RSS, time to resolvable.
    Dns(dns::DnsArgs),
}

/// Where the workspace's files live (for `tools/…` scripts), from the crate's build location.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(std::path::Path::parent)
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("causeway-bench: failed to start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Lab(args) => lab::run(args).await,
            Command::Imports(args) => imports::run(args).await,
            Command::Sync(args) => sync::run(args).await,
            Command::Netpeer(args) => netpeer::run(args).await,
            Command::Dns(args) => dns::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("causeway-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
