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
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl Election {
    /// Gives the Lease up (if held) and waits for that write (at most 5 s).
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
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
            stop: Some(tx),
            task: None,
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
    let lease = format!(
        "{}/{}",
        args.leader_election_namespace, args.leader_election_id
    );
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
                "failed to set up the Lease {lease} (does namespace {} exist?): {e}",
                args.leader_election_namespace
            )
        })?;
    let (leader_tx, is_leader) = watch::channel(false);
    let (stop, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = stop_rx.changed() => break,
                changed = manager.changed() => match changed {
                    Ok(state) => {
                        let _ = leader_tx.send(state);
                    }
                    Err(err) => {
                        // Not leading while the Lease cannot be read or renewed.
                        let _ = leader_tx.send(false);
                        tracing::warn!(lease = %lease, error = %err, "lease update failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                },
            }
        }
        let _ = leader_tx.send(false);
        match manager.release().await {
            Ok(()) => tracing::info!(lease = %lease, "lease released"),
            Err(err) => tracing::warn!(lease = %lease, error = %err, "failed to release the lease"),
        }
    });
    Ok(Election {
        is_leader,
        stop: Some(stop),
        task: Some(task),
    })
}
