//! When each member's source EndpointSlice changes reached this controller, so the sync can time
//! how long a change takes to become an MCS slice write
//! (`causeway_controller_sync_slice_latency_seconds`).
//!
//! The member's slice watch [`record`](SliceChanges::record)s the first moment a slice changed
//! since it was last consumed; a pass that recomputes the slice's service
//! [`take`](SliceChanges::take)s the earliest of its slices' moments and, once the MCS slice
//! write succeeds, observes the time since. What no pass consumed (a slice of a Service nobody
//! exports) is dropped after each pass ([`SliceChanges::drop_before`]), so the map stays small.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Pending source slice changes of one member, by `(namespace, slice name)`.
#[derive(Debug, Default)]
pub struct SliceChanges {
    pending: Mutex<HashMap<(String, String), Instant>>,
}

impl SliceChanges {
    /// A slice changed at `at`; an earlier change not consumed yet keeps its moment.
    pub fn record(&self, namespace: &str, name: &str, at: Instant) {
        self.lock()
            .entry((namespace.to_owned(), name.to_owned()))
            .or_insert(at);
    }

    /// A slice is gone: nothing to time.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.lock().remove(&(namespace.to_owned(), name.to_owned()));
    }

    /// Consumes the pending changes of `names` in `namespace` that arrived before `before` (the
    /// pass's start: a later one is not in the slices the pass reads); the earliest, if any.
    pub fn take<'a>(
        &self,
        namespace: &str,
        names: impl Iterator<Item = &'a str>,
        before: Instant,
    ) -> Option<Instant> {
        let mut pending = self.lock();
        names
            .filter_map(|n| {
                let key = (namespace.to_owned(), n.to_owned());
                let at = *pending.get(&key)?;
                (at < before).then(|| pending.remove(&key)).flatten()
            })
            .min()
    }

    /// Drops changes that arrived before `start` and were not consumed.
    pub fn drop_before(&self, start: Instant) {
        self.lock().retain(|_, at| *at >= start);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Instant>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_unconsumed_change_counts_and_taking_consumes_it() {
        let c = SliceChanges::default();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(10);
        let t2 = t0 + Duration::from_millis(20);
        let pass = t0 + Duration::from_secs(1);
        c.record("ns", "a", t1);
        c.record("ns", "a", t2);
        c.record("ns", "b", t0);
        c.record("other", "a", t0);
        assert_eq!(
            c.take("ns", ["a"].into_iter(), pass),
            Some(t1),
            "the first change of a"
        );
        assert_eq!(c.take("ns", ["a"].into_iter(), pass), None, "consumed");
        assert_eq!(c.take("ns", ["a", "b"].into_iter(), pass), Some(t0));
        assert_eq!(
            c.take("other", ["a"].into_iter(), pass),
            Some(t0),
            "other/a is still pending"
        );
    }

    #[test]
    fn a_change_that_arrived_after_the_pass_began_waits_for_the_next_pass() {
        let c = SliceChanges::default();
        let t0 = Instant::now();
        let late = t0 + Duration::from_millis(10);
        c.record("ns", "a", late);
        assert_eq!(
            c.take("ns", ["a"].into_iter(), t0),
            None,
            "not in this pass's slices"
        );
        c.drop_before(t0);
        assert_eq!(
            c.take("ns", ["a"].into_iter(), late + Duration::from_millis(1)),
            Some(late)
        );
    }

    #[test]
    fn deleted_and_unconsumed_changes_are_dropped() {
        let c = SliceChanges::default();
        let t0 = Instant::now();
        let pass = t0 + Duration::from_secs(1);
        c.record("ns", "gone", t0);
        c.forget("ns", "gone");
        assert_eq!(c.take("ns", ["gone"].into_iter(), pass), None, "deleted");
        c.record("ns", "unexported", t0);
        c.record("ns", "later", t0 + Duration::from_millis(5));
        c.drop_before(t0 + Duration::from_millis(1));
        assert_eq!(
            c.take("ns", ["unexported"].into_iter(), pass),
            None,
            "dropped"
        );
        assert!(c.take("ns", ["later"].into_iter(), pass).is_some());
    }
}
