//! The member set: one [`Peer`] per peer Secret, each with its [`ClusterWatch`].
//!
//! Data flow: a complete list of the Secrets ([`Peers::update`]) adds, replaces (new resource
//! version) or drops members; connecting (building the client, reading the peer's cluster id)
//! runs in a spawned task per member, so a dead or slow peer never blocks the others, and its
//! result comes back through a channel ([`Peers::collect`]): success starts the watches, failure
//! marks the member failing (classified) and schedules a retry with back-off
//! ([`Peers::retry_due`]). A member not connected keeps its last known cluster id, so what it
//! contributed stays held for `--peer-grace` instead of vanishing at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use tracing::Instrument as _;

use super::cluster::ClusterWatch;
use super::failure::MemberFailure;
use super::members::{self, PeerSecret};

/// First retry of a failed connection; doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(5);
/// Longest wait between connection attempts.
const RETRY_MAX: Duration = Duration::from_secs(60);

/// One member.
pub struct Peer {
    /// Its Secret.
    pub secret: PeerSecret,
    /// Its caches and health (no watches until connected).
    pub watch: ClusterWatch,
    /// The peer's cluster id, once known (this connection, an earlier one, or the recorded
    /// ClusterSetMember status).
    pub known_id: Option<String>,
    /// The last failed connection attempt, while not connected.
    pub connect_failure: Option<MemberFailure>,
    attempts: u32,
    next_try: Instant,
    connecting: bool,
}

/// A finished connection attempt.
struct Attempt {
    name: String,
    version: String,
    result: Result<(kube::Client, String), MemberFailure>,
}

/// All members.
pub struct Peers {
    entries: BTreeMap<String, Peer>,
    tx: mpsc::UnboundedSender<Attempt>,
    rx: mpsc::UnboundedReceiver<Attempt>,
    listed: bool,
    namespace: Option<String>,
    notify: Arc<Notify>,
}

impl Peers {
    /// No members yet; watches will cover `namespace` (all when `None`).
    pub fn new(namespace: Option<String>, notify: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            entries: BTreeMap::new(),
            tx,
            rx,
            listed: false,
            namespace,
            notify,
        }
    }

    /// True once a list of the Secrets succeeded: only then is the member set complete.
    pub fn listed(&self) -> bool {
        self.listed
    }

    /// The members, by Secret name.
    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.entries.values()
    }

    /// Applies a complete list of peer Secrets: a new Secret or a new resource version starts
    /// connecting (with the last known id); a Secret gone drops its member.
    pub fn update(&mut self, secrets: Vec<PeerSecret>, recorded: impl Fn(&str) -> Option<String>) {
        self.listed = true;
        let mut changed = secrets.len() != self.entries.len();
        let mut next = BTreeMap::new();
        for secret in secrets {
            let previous = match self.entries.remove(&secret.name) {
                Some(same) if same.secret.version == secret.version => {
                    next.insert(secret.name.clone(), same);
                    continue;
                }
                other => other,
            };
            changed = true;
            let known_id = previous
                .and_then(|p| p.known_id)
                .or_else(|| recorded(&secret.name));
            let mut peer = Peer {
                watch: ClusterWatch::placeholder(placeholder_id(&secret.name, known_id.as_ref())),
                secret,
                known_id,
                connect_failure: None,
                attempts: 0,
                next_try: Instant::now(),
                connecting: false,
            };
            self.spawn_connect(&mut peer);
            next.insert(peer.secret.name.clone(), peer);
        }
        for gone in self.entries.keys() {
            tracing::info!(peer = %gone, "member removed: its peer Secret is gone");
        }
        self.entries = next;
        if changed {
            self.notify.notify_one();
        }
    }

    /// Gives members that never connected the cluster id recorded in their ClusterSetMember.
    pub fn adopt_recorded_ids(&mut self, recorded: impl Fn(&str) -> Option<String>) {
        for peer in self.entries.values_mut() {
            if peer.known_id.is_none()
                && let Some(id) = recorded(&peer.secret.name)
            {
                peer.watch.id.clone_from(&id);
                peer.known_id = Some(id);
            }
        }
    }

    /// Starts the retries that are due.
    pub fn retry_due(&mut self) {
        let due: Vec<String> = self
            .entries
            .values()
            .filter(|p| !p.connecting && !p.watch.connected() && p.next_try <= Instant::now())
            .map(|p| p.secret.name.clone())
            .collect();
        for name in due {
            if let Some(mut peer) = self.entries.remove(&name) {
                self.spawn_connect(&mut peer);
                self.entries.insert(name, peer);
            }
        }
    }

    /// Takes the finished connection attempts.
    pub fn collect(&mut self) {
        while let Ok(attempt) = self.rx.try_recv() {
            let Some(peer) = self.entries.get_mut(&attempt.name) else {
                continue;
            };
            if peer.secret.version != attempt.version {
                continue; // a newer Secret's attempt is running
            }
            peer.connecting = false;
            match attempt.result {
                Ok((client, id)) => {
                    tracing::info!(peer = %peer.secret.name, cluster = %id, "member connected");
                    peer.watch = ClusterWatch::start(
                        id.clone(),
                        false,
                        &client,
                        self.namespace.as_deref(),
                        &self.notify,
                    );
                    peer.known_id = Some(id);
                    peer.connect_failure = None;
                    peer.attempts = 0;
                }
                Err(failure) => {
                    if peer.connect_failure.as_ref().map(|f| f.reason) == Some(failure.reason) {
                        tracing::debug!(peer = %peer.secret.name, reason = failure.reason.as_str(), "member still failing");
                    } else {
                        tracing::error!(peer = %peer.secret.name, reason = failure.reason.as_str(), error = %failure.detail, "member unreachable, unauthorised or misconfigured; other members keep syncing");
                    }
                    peer.watch.health.fail(failure.clone());
                    peer.connect_failure = Some(failure);
                    peer.attempts = peer.attempts.saturating_add(1);
                    peer.next_try = Instant::now() + retry_delay(peer.attempts);
                }
            }
        }
    }

    fn spawn_connect(&self, peer: &mut Peer) {
        peer.connecting = true;
        let (tx, notify, secret) = (self.tx.clone(), self.notify.clone(), peer.secret.clone());
        let span = tracing::info_span!("connect", peer = %secret.name);
        tokio::spawn(
            async move {
                let result = members::connect(&secret).await;
                let _ = tx.send(Attempt {
                    name: secret.name,
                    version: secret.version,
                    result,
                });
                notify.notify_one();
            }
            .instrument(span),
        );
    }
}

/// The id a member that never connected goes by (it matches no real cluster's slices).
fn placeholder_id(name: &str, known: Option<&String>) -> String {
    known.cloned().unwrap_or_else(|| format!("secret-{name}"))
}

/// 5 s, 10 s, 20 s, 40 s, then every 60 s.
fn retry_delay(attempts: u32) -> Duration {
    RETRY_MIN
        .saturating_mul(1 << attempts.saturating_sub(1).min(4))
        .min(RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_minute() {
        let delays: Vec<u64> = (1..=7).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 60, 60, 60]);
    }
}
