//! Command-line groups shared by causeway's daemons, flattened into each subcommand. Every flag
//! has a `CAUSEWAY_*` environment fallback.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// Logging flags.
#[derive(Clone, Debug, Args)]
pub struct LogArgs {
    /// Log filter in tracing EnvFilter syntax, e.g. `info` or `causeway=debug,kube=warn`.
    #[arg(long, global = true, env = "CAUSEWAY_LOG", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long, global = true, env = "CAUSEWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
}

/// Admin server flags.
#[derive(Clone, Debug, Args)]
pub struct AdminArgs {
    /// Address of the admin server (`/livez`, `/readyz`, `/metrics`). In a Pod, use
    /// `0.0.0.0:9990` so kubelet probes reach it.
    #[arg(long, env = "CAUSEWAY_ADMIN_ADDR", default_value = "127.0.0.1:9990")]
    pub admin_addr: SocketAddr,
}

/// How to reach the local cluster.
#[derive(Clone, Debug, Args)]
pub struct ClientArgs {
    /// Kubeconfig file; without it, the in-cluster config or `$KUBECONFIG`/`~/.kube/config`.
    #[arg(long, env = "CAUSEWAY_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Context in the kubeconfig.
    #[arg(long, env = "CAUSEWAY_CONTEXT")]
    pub context: Option<String>,
}

impl ClientArgs {
    /// A client for the local cluster.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let mut config = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .with_context(|| format!("failed to read kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .with_context(|| format!("failed to load kubeconfig {}", path.display()))?
            }
            None if self.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .context("failed to load the kubeconfig context")?,
            None => kube::Config::infer()
                .await
                .context("failed to find a cluster configuration (set --kubeconfig)")?,
        };
        crate::timeouts::limit(&mut config);
        kube::Client::try_from(config).context("failed to build a Kubernetes client")
    }
}

/// Leader election flags.
#[derive(Clone, Debug, Args)]
pub struct LeaseArgs {
    /// Elect a leader among replicas; only the leader writes. Disable only for a single replica.
    #[arg(long, env = "CAUSEWAY_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the `coordination.k8s.io/v1` Lease.
    #[arg(
        long,
        env = "CAUSEWAY_LEADER_ELECTION_ID",
        default_value = "causeway-controller"
    )]
    pub leader_election_id: String,
    /// Namespace of the Lease.
    #[arg(
        long,
        env = "CAUSEWAY_LEADER_ELECTION_NAMESPACE",
        default_value = "causeway-system"
    )]
    pub leader_election_namespace: String,
    /// Seconds a leader holds the Lease without renewing it; a standby takes over after this.
    #[arg(
        long,
        env = "CAUSEWAY_LEADER_ELECTION_LEASE_DURATION",
        default_value_t = 15
    )]
    pub leader_election_lease_duration: u64,
    /// Seconds before expiry at which the leader renews (must be below the lease duration).
    #[arg(
        long,
        env = "CAUSEWAY_LEADER_ELECTION_RENEW_GRACE",
        default_value_t = 5
    )]
    pub leader_election_renew_grace: u64,
    /// This replica's identity in the Lease (default: `$POD_NAME`, else hostname and PID).
    #[arg(long, env = "POD_NAME")]
    pub leader_election_identity: Option<String>,
}
