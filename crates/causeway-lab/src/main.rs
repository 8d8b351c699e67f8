//! `causeway-lab`: the development lab's command line (up, down, status, kubeconfig, demo).

use std::io::Write;
use std::process::ExitCode;

use causeway_lab::demo::DemoOptions;
use causeway_lab::state::LabState;
use causeway_lab::{LabPaths, UpOptions};
use clap::{Parser, Subcommand};

/// Real Kubernetes clusters (etcd, kube-apiserver, kube-controller-manager built from the Go
/// module proxy) on this Linux machine, for developing and testing causeway. Needs root.
///
/// The lab lives in $CAUSEWAY_LAB_DIR (default /tmp/causeway-lab); binaries are cached in
/// $CAUSEWAY_KUBEBIN (default ~/.cache/causeway/kubebin).
#[derive(Debug, Parser)]
#[command(name = "causeway-lab", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the lab (idempotent): cluster 1 = pods 10.42/16, services 10.43/16; cluster 2 =
    /// 10.44/16, 10.45/16; cluster N = 10.(40+2N)/16, 10.(41+2N)/16. Each cluster gets data-plane
    /// nodes (cluster 1 one, cluster 2 two) as network namespaces running kube-proxy.
    Up {
        /// Number of clusters.
        #[arg(long, default_value_t = 2, env = "CAUSEWAY_LAB_CLUSTERS")]
        clusters: u8,
    },
    /// Stop every lab process and remove every lab file, namespace and device.
    Down,
    /// Show the lab's components and whether each apiserver is ready.
    Status,
    /// The seed's migration scenario end to end: two clusters, `serve` in both, causeway's
    /// netpeer, controllers and DNS, a client in cluster 1 asking the ClusterSet VIP and
    /// serve.demo.svc.clusterset.local while `serve` moves to cluster 2; prints who answered and
    /// how many requests failed. Reuses a running lab (and removes only what it added) or starts
    /// one (and stops it at the end).
    Demo {
        /// Leave everything running at the end and print commands to explore it.
        #[arg(long)]
        keep: bool,
        /// Requests the client sends at least.
        #[arg(long, default_value_t = 2000)]
        requests: u64,
        /// The `causeway` binary (default: next to causeway-lab).
        #[arg(long, env = "CAUSEWAY_BIN")]
        causeway_bin: Option<std::path::PathBuf>,
    },
    /// Print the path of cluster <INDEX>'s admin kubeconfig (use with kubectl --kubeconfig).
    Kubeconfig {
        /// Cluster index, from 1.
        index: u8,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("causeway-lab: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let paths = LabPaths::from_env();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Up { clusters } => {
            let info = causeway_lab::up(&paths, &UpOptions { clusters }).await?;
            let verb = if info.started {
                "started"
            } else {
                "already up"
            };
            writeln!(
                out,
                "lab {verb}: {} clusters ready in {:.1} s",
                info.state.clusters, info.seconds
            )?;
            for i in 1..=info.state.clusters {
                writeln!(
                    out,
                    "  kubectl --kubeconfig {} get ns",
                    paths.admin_kubeconfig(i).display()
                )?;
            }
            writeln!(
                out,
                "  kubectl: {}",
                info.state.bin_dir.join("kubectl").display()
            )?;
            for node in info.state.node_plans()? {
                writeln!(
                    out,
                    "  node {:<6} {:<15} pods {:<14} netns {}",
                    node.name,
                    node.ip,
                    node.pod_cidr(),
                    node.netns
                )?;
            }
        }
        Command::Down => {
            let removed = causeway_lab::down::down(&paths)?;
            writeln!(
                out,
                "lab down: stopped {} processes, removed {} namespaces/devices{}",
                removed.processes.len(),
                removed.devices.len(),
                if removed.directory {
                    ", removed the lab directory"
                } else {
                    ""
                }
            )?;
        }
        Command::Status => {
            let st = causeway_lab::status::status(&paths).await?;
            let Some(state) = &st.state else {
                writeln!(out, "lab is down")?;
                return Ok(());
            };
            writeln!(
                out,
                "lab: {} clusters in {} (binaries {})",
                state.clusters,
                paths.root().display(),
                state.bin_dir.display()
            )?;
            writeln!(out, "{:<32} {:>8}  STATE", "COMPONENT", "PID")?;
            for c in &st.components {
                writeln!(
                    out,
                    "{:<32} {:>8}  {}",
                    c.name,
                    c.pid,
                    if c.running { "running" } else { "DEAD" }
                )?;
            }
            for (i, ok) in &st.apiservers_ready {
                writeln!(
                    out,
                    "cluster {i}: /readyz {}  kubeconfig {}",
                    if *ok { "ok" } else { "NOT READY" },
                    paths.admin_kubeconfig(*i).display()
                )?;
            }
            if !st.missing_nodes.is_empty() {
                writeln!(
                    out,
                    "nodes {} are missing (the lab was started with an older layout): run \
                     `causeway-lab up` to add them",
                    st.missing_nodes.join(", ")
                )?;
            }
        }
        Command::Demo {
            keep,
            requests,
            causeway_bin,
        } => {
            let causeway_bin = match causeway_bin {
                Some(bin) => bin,
                None => std::env::current_exe()?
                    .parent()
                    .map(|dir| dir.join("causeway"))
                    .unwrap_or_default(),
            };
            let mut opts = DemoOptions::new(causeway_bin);
            opts.keep = keep;
            opts.requests = requests;
            let report = causeway_lab::demo::demo(&paths, &opts, &mut out).await?;
            if report.failed() > 0 {
                anyhow::bail!("{} of {} requests failed", report.failed(), report.total());
            }
        }
        Command::Kubeconfig { index } => {
            let state = LabState::load(&paths)?.ok_or(causeway_lab::Error::NotUp)?;
            state.check_index(index)?;
            writeln!(out, "{}", paths.admin_kubeconfig(index).display())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
