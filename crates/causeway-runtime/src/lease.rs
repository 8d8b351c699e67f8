//! Leader election on a `coordination.k8s.io/v1` Lease (kube-lease-manager): [`elect`] returns a
//! `watch::Receiver<bool>` that is `true` while this replica holds the Lease, and a handle that
//! releases it on shutdown. With `--leader-elect=false` the replica is always the leader.
//!
//! The lock is server-side apply's field ownership: a replica takes a free Lease by applying
//! `holderIdentity` (without force), and the apiserver refuses (409) the apply of a second
//! replica because a *different field manager* owns that field with another value. So every
//! replica applies under its own manager, [`field_manager`]`(component, identity)`; under one
//! shared manager a second apply simply succeeds and two replicas lead at once. Fields an old
//! manager left behind (a replica that died, or an older causeway that used one manager for all)
//! do not block a takeover: an expired Lease is cleared with a strategic-merge patch, which takes
//! every field from its owners, before the next apply.

use kube_lease_manager::LeaseManagerBuilder;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::LeaseArgs;

/// Longest field manager name the apiserver accepts.
const MAX_FIELD_MANAGER: usize = 128;

/// The field manager of replica `identity` of `component` on the Lease: `<component>-<identity>`,
/// or, when that is longer than 128 characters, cut and ended with 16 hex digits of
/// SHA-256(`identity`), so distinct identities always get distinct managers.
pub fn field_manager(component: &str, identity: &str) -> String {
    let name = format!("{component}-{identity}");
    if name.len() <= MAX_FIELD_MANAGER {
        return name;
    }
    let digest = Sha256::digest(identity.as_bytes());
    let hash = u64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ]);
    let hash = format!("{hash:016x}");
    let mut cut = MAX_FIELD_MANAGER - hash.len() - 1;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", &name[..cut])
}

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

/// Starts leader election (or a permanent leader when disabled) for `component` (e.g.
/// `causeway-controller`), which names this replica's field manager on the Lease.
pub async fn elect(
    client: kube::Client,
    args: &LeaseArgs,
    component: &str,
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
        .with_field_manager(field_manager(component, &identity))
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
                    Ok(state) => announce(&leader_tx, state, &lease, &identity),
                    Err(err) => {
                        // Not leading while the Lease cannot be read or renewed.
                        announce(&leader_tx, false, &lease, &identity);
                        tracing::warn!(lease = %lease, error = %err, "lease update failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                },
            }
        }
        announce(&leader_tx, false, &lease, &identity);
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

/// Publishes a change of leadership, logging `lease acquired` before writers may start and
/// `lease lost` after they were told to stop (so the log's interval covers every write).
fn announce(leader: &watch::Sender<bool>, leading: bool, lease: &str, identity: &str) {
    if leading && !*leader.borrow() {
        tracing::info!(lease = %lease, identity = %identity, "lease acquired");
    }
    let was = leader.send_replace(leading);
    if was && !leading {
        tracing::info!(lease = %lease, identity = %identity, "lease lost");
    }
}

#[cfg(test)]
mod tests;
