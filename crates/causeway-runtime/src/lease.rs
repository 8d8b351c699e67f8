//! Leader election on a `coordination.k8s.io/v1` Lease (kube-lease-manager): [`elect`] returns a
//! `watch::Receiver<bool>` that is `true` while this replica holds the Lease, and a handle that
//! releases it on shutdown. With `--leader-elect=false` the replica is always the leader.

use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::LeaseArgs;

/// The election's outcome channel and its background task.
pub struct Election {
    /// `true` while this replica leads.
    pub is_leader: watch::Receiver<bool>,
    task: Option<JoinHandle<()>>,
    keep_sender: Option<watch::Sender<bool>>,
}

impl Election {
    /// Gives the Lease up (if held) and waits for that write.
    pub async fn release(mut self) {
        let Self {
            is_leader,
            task,
            keep_sender,
        } = &mut self;
        drop(keep_sender.take());
        // Dropping every receiver makes the lease task release the Lease and exit.
        let (_, dummy) = watch::channel(false);
        drop(std::mem::replace(is_leader, dummy));
        if let Some(task) = task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
    }
}

/// Starts leader election (or a permanent leader when disabled).
pub async fn elect(
    client: kube::Client,
    args: &LeaseArgs,
    field_manager: &str,
) -> anyhow::Result<Election> {
    if !args.leader_elect {
        let (tx, rx) = watch::channel(true);
        return Ok(Election {
            is_leader: rx,
            task: None,
            keep_sender: Some(tx),
        });
    }
    if args.leader_election_renew_grace >= args.leader_election_lease_duration {
        anyhow::bail!(
            "--leader-election-renew-grace ({}) must be below --leader-election-lease-duration ({})",
            args.leader_election_renew_grace,
            args.leader_election_lease_duration
        );
    }
    let identity = args.leader_election_identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let manager = LeaseManagerBuilder::new(client, &args.leader_election_id)
        .with_namespace(&args.leader_election_namespace)
        .with_identity(&identity)
        .with_field_manager(field_manager)
        .with_duration(args.leader_election_lease_duration)
        .with_grace(args.leader_election_renew_grace)
        .build()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "failed to set up the Lease {}/{}: {e}",
                args.leader_election_namespace,
                args.leader_election_id
            )
        })?;
    let (is_leader, handle) = manager.watch().await;
    let lease = format!(
        "{}/{}",
        args.leader_election_namespace, args.leader_election_id
    );
    let task = tokio::spawn(async move {
        match handle.await {
            Ok(Ok(_)) => tracing::info!(lease = %lease, "lease released"),
            Ok(Err(err)) => tracing::error!(lease = %lease, error = %err, "lease task failed"),
            Err(err) => tracing::error!(lease = %lease, error = %err, "lease task panicked"),
        }
    });
    Ok(Election {
        is_leader,
        task: Some(task),
        keep_sender: None,
    })
}
