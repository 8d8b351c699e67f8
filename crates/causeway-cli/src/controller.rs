//! `causeway controller`: wires client, metrics, admin server, leader election and the
//! controller, and releases the Lease on SIGTERM.

use std::sync::Arc;

use causeway_api::names::FIELD_MANAGER_CONTROLLER;
use causeway_controller::ControllerArgs;
use causeway_controller::metrics::Metrics;
use causeway_runtime::{AdminArgs, ClientArgs, admin, lease, shutdown};
use clap::Args;
use tokio::sync::watch;

/// `causeway controller` flags.
#[derive(Debug, Args)]
pub struct ControllerCommand {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    controller: ControllerArgs,
}

impl ControllerCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            client,
            admin,
            controller,
        } = self;
        let ControllerArgs {
            lease: lease_args,
            namespace,
            sync,
            members_namespace,
            peer_grace,
            concurrency,
        } = controller;
        let sync = sync.then(|| causeway_controller::sync::engine::SyncSettings {
            members_namespace,
            peer_grace: std::time::Duration::from_secs(peer_grace),
            namespace: namespace.clone(),
        });
        let mut registry = crate::BUILD.start("controller");
        let client = client.client().await?;
        let metrics = Metrics::register(registry.sub_registry_with_prefix("controller"));
        let (ready_tx, ready_rx) = watch::channel(false);
        let addr = admin::serve(admin.admin_addr, Arc::new(registry), ready_rx).await?;
        tracing::info!(admin = %addr, "admin server listening");
        let election = lease::elect(client.clone(), &lease_args, FIELD_MANAGER_CONTROLLER).await?;
        let (stop_tx, mut stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown::signal().await;
            let _ = stop_tx.send(true);
        });
        let stopped = async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        };
        let result = causeway_controller::run(
            client,
            causeway_controller::run::RunOptions {
                namespace,
                sync,
                concurrency,
            },
            metrics,
            election.is_leader.clone(),
            ready_tx,
            stopped,
        )
        .await;
        election.release().await;
        tracing::info!("controller stopped");
        result
    }
}
