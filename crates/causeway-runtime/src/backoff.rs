//! How long a failed watch waits before it tries again.
//!
//! Every watch stream goes through `.backoff(backoff::watch())`: each error doubles the wait from
//! [`FIRST`] up to [`CONTROLLER_MAX`] (or the caller's cap), with up to half of it added at random
//! so replicas and nodes do not retry in step; any event resets it. kube's default caps at 30 s,
//! so after an apiserver restart a controller could sit for half a minute, and then once more for
//! the relist the expired resourceVersion forces, before it saw a change made meanwhile.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use kube::runtime::utils::Backoff;

/// The first wait after an error.
pub const FIRST: Duration = Duration::from_millis(400);
/// The longest wait of the controller and DNS watches: a handful of replicas per cluster.
pub const CONTROLLER_MAX: Duration = Duration::from_secs(8);
/// The longest wait of per-node agents (netpeer): one watch per node, so it backs off further.
pub const NODE_AGENT_MAX: Duration = Duration::from_secs(30);

/// Exponential backoff with jitter, reset by any successful event.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
    max: Duration,
    jitter: RandomState,
    tries: u64,
}

/// The backoff of controller and DNS watches.
#[must_use]
pub fn watch() -> WatchBackoff {
    WatchBackoff::new(CONTROLLER_MAX)
}

impl WatchBackoff {
    /// A backoff whose base wait never exceeds `max` (the jitter may add up to half of it).
    #[must_use]
    pub fn new(max: Duration) -> Self {
        Self {
            next: FIRST.min(max),
            max,
            jitter: RandomState::new(),
            tries: 0,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.next;
        self.next = (base * 2).min(self.max);
        self.tries += 1;
        let half = u64::try_from(base.as_millis() / 2).unwrap_or(u64::MAX);
        let extra = if half == 0 {
            0
        } else {
            self.jitter.hash_one(self.tries) % half
        };
        Some(base + Duration::from_millis(extra))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = FIRST.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_with_at_most_half_added() {
        let mut b = watch();
        let waits: Vec<Duration> = (0..8).map(|_| b.next().unwrap_or_default()).collect();
        let bases = [400, 800, 1600, 3200, 6400, 8000, 8000, 8000];
        for (wait, base) in waits.iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(
                *wait >= base && *wait < base + base / 2,
                "{wait:?} not in [{base:?}, 1.5×)"
            );
        }
    }

    #[test]
    fn an_event_resets_the_wait_to_the_first_one() {
        let mut b = watch();
        for _ in 0..6 {
            b.next();
        }
        b.reset();
        let wait = b.next().unwrap_or_default();
        assert!(wait < FIRST + FIRST / 2, "{wait:?}");
    }

    #[test]
    fn a_node_agent_backs_off_further_than_a_controller() {
        let mut b = WatchBackoff::new(NODE_AGENT_MAX);
        let last = (0..10).filter_map(|_| b.next()).last().unwrap_or_default();
        assert!(last >= NODE_AGENT_MAX, "{last:?}");
    }
}
