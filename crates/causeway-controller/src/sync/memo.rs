//! What the previous passes computed, so a pass redoes only the services whose inputs changed.
//!
//! A pass visits every exported service. For each, the plan hashes the resourceVersions of
//! everything that service's outcome is computed from (each usable member's export, Service and
//! source slices, the local import and namespace, which members are held) into a
//! [`Fingerprint`]; when it equals the one stored after the last error-free computation, the
//! stored [`Outcome`] stands in for resolving, converting and comparing again. With 1000 exported
//! services, one endpoint change used to rebuild all of their desired slices on every pass.
//!
//! The same idea spares the deep comparison of desired and live MCS slices: once a live slice
//! was found equal to a desired one, or the sync applied it, that pair is remembered by the live
//! slice's resourceVersion and the desired slice's identity (`Verified`). An applied slice also
//! remembers the version it replaced, so a pass that runs before the watch delivers the write
//! does not apply it again.

use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::api::discovery::v1::EndpointSlice;

/// A service's key: `(namespace, name)`.
pub type Key = (String, String);

/// A hash of every input of one service's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(u64);

/// Builds a [`Fingerprint`]; items are fed in a fixed order, except [`Self::unordered`] ones.
#[derive(Default)]
pub struct FingerprintBuilder {
    hasher: DefaultHasher,
    unordered: u64,
}

impl FingerprintBuilder {
    /// Feeds an input whose position matters.
    pub fn add(&mut self, item: impl Hash) -> &mut Self {
        item.hash(&mut self.hasher);
        self
    }

    /// Feeds an input of a set whose order is arbitrary (a store's slices).
    pub fn unordered(&mut self, item: impl Hash) -> &mut Self {
        let mut h = DefaultHasher::new();
        item.hash(&mut h);
        self.unordered = self.unordered.wrapping_add(h.finish());
        self
    }

    /// The fingerprint: the positional inputs in order, then the unordered ones as one set.
    #[must_use]
    pub fn finish(&mut self) -> Fingerprint {
        self.unordered.hash(&mut self.hasher);
        Fingerprint(self.hasher.finish())
    }
}

/// What one service contributes to a pass once its writes succeeded.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Whether the service has an import in this cluster.
    pub import: bool,
    /// Its desired MCS slices, from every usable member.
    pub slices: Vec<Arc<EndpointSlice>>,
}

/// The outcomes of the last passes, by service.
#[derive(Debug, Default)]
pub struct Memo {
    outcomes: HashMap<Key, (Fingerprint, Outcome)>,
    verified: HashMap<Key, Verified>,
}

/// A desired slice found equal to the live slice at `resource_version`, or applied over what
/// the local cache showed then, which it may still show until the watch delivers the write.
#[derive(Debug)]
struct Verified {
    desired: Arc<EndpointSlice>,
    resource_version: String,
    replaced: Replaced,
}

/// What an applied slice replaced, as long as the cache has not shown the write.
#[derive(Debug)]
enum Replaced {
    /// The cache has shown `resource_version` (or the slice was found equal, not applied).
    Seen,
    /// The live slice at this version.
    Version(String),
    /// No slice.
    Nothing,
}

impl Memo {
    /// The stored outcome of `key` if it was computed from the same inputs.
    #[must_use]
    pub fn outcome(&self, key: &Key, fingerprint: Fingerprint) -> Option<&Outcome> {
        self.outcomes
            .get(key)
            .filter(|(f, _)| *f == fingerprint)
            .map(|(_, o)| o)
    }

    /// Stores an outcome computed without a failed write.
    pub fn store(&mut self, key: Key, fingerprint: Fingerprint, outcome: Outcome) {
        self.outcomes.insert(key, (fingerprint, outcome));
    }

    /// Forgets an outcome (its writes failed: the next pass computes it again).
    pub fn forget(&mut self, key: &Key) {
        self.outcomes.remove(key);
    }

    /// Drops the services no member exports any more.
    pub fn retain_services(&mut self, exported: &BTreeSet<Key>) {
        self.outcomes.retain(|k, _| exported.contains(k));
    }

    /// Whether `desired` is known to equal the live slice, which the cache shows at
    /// `live_version` (`None`: no slice). Once the cache shows the applied version, what it
    /// replaced no longer counts, so a later deletion is seen as one.
    pub fn verified(
        &mut self,
        key: &Key,
        desired: &Arc<EndpointSlice>,
        live_version: Option<&str>,
    ) -> bool {
        let Some(v) = self.verified.get_mut(key) else {
            return false;
        };
        if !Arc::ptr_eq(&v.desired, desired) {
            return false;
        }
        if live_version == Some(v.resource_version.as_str()) {
            v.replaced = Replaced::Seen;
            return true;
        }
        match (&v.replaced, live_version) {
            (Replaced::Version(r), Some(live)) => r == live,
            (Replaced::Nothing, None) => true,
            _ => false,
        }
    }

    /// Records that `desired` equals the live slice at `live_version`.
    pub fn record_verified(&mut self, key: Key, desired: &Arc<EndpointSlice>, live_version: &str) {
        self.verified.insert(
            key,
            Verified {
                desired: desired.clone(),
                resource_version: live_version.to_owned(),
                replaced: Replaced::Seen,
            },
        );
    }

    /// Records that `desired` was applied, making `applied_version` of the live slice that was at
    /// `replaced` (`None`: it did not exist).
    pub fn record_applied(
        &mut self,
        key: Key,
        desired: &Arc<EndpointSlice>,
        applied_version: &str,
        replaced: Option<&str>,
    ) {
        self.verified.insert(
            key,
            Verified {
                desired: desired.clone(),
                resource_version: applied_version.to_owned(),
                replaced: replaced.map_or(Replaced::Nothing, |r| Replaced::Version(r.to_owned())),
            },
        );
    }

    /// Drops the verifications of slices no longer desired.
    pub fn retain_slices(&mut self, desired: impl Fn(&Key) -> bool) {
        self.verified.retain(|k, _| desired(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        ("ns".into(), name.into())
    }

    fn fp(parts: &[&str], slices: &[&str]) -> Fingerprint {
        let mut b = FingerprintBuilder::default();
        for p in parts {
            b.add(p);
        }
        for s in slices {
            b.unordered(s);
        }
        b.finish()
    }

    #[test]
    fn the_order_of_a_stores_slices_does_not_change_the_fingerprint() {
        assert_eq!(fp(&["a"], &["s1@5", "s2@7"]), fp(&["a"], &["s2@7", "s1@5"]));
        assert_ne!(fp(&["a"], &["s1@5", "s2@7"]), fp(&["a"], &["s1@5", "s2@8"]));
        assert_ne!(fp(&["a"], &["s1@5"]), fp(&["a"], &["s1@5", "s2@7"]));
    }

    #[test]
    fn the_order_of_positional_inputs_changes_the_fingerprint() {
        assert_ne!(fp(&["c1", "c2"], &[]), fp(&["c2", "c1"], &[]));
    }

    #[test]
    fn an_outcome_is_reused_only_for_the_same_inputs_and_until_forgotten() {
        let mut memo = Memo::default();
        let (old, new) = (fp(&["rv1"], &[]), fp(&["rv2"], &[]));
        memo.store(
            key("a"),
            old,
            Outcome {
                import: true,
                slices: vec![],
            },
        );
        assert!(memo.outcome(&key("a"), old).is_some_and(|o| o.import));
        assert!(memo.outcome(&key("a"), new).is_none());
        assert!(memo.outcome(&key("b"), old).is_none());
        memo.forget(&key("a"));
        assert!(memo.outcome(&key("a"), old).is_none());
    }

    #[test]
    fn unexported_services_are_dropped() {
        let mut memo = Memo::default();
        let f = fp(&[], &[]);
        memo.store(key("a"), f, Outcome::default());
        memo.store(key("b"), f, Outcome::default());
        memo.retain_services(&BTreeSet::from([key("b")]));
        assert!(memo.outcome(&key("a"), f).is_none());
        assert!(memo.outcome(&key("b"), f).is_some());
    }

    #[test]
    fn a_verification_holds_for_the_same_desired_slice_and_live_version_only() {
        let mut memo = Memo::default();
        let desired = Arc::new(EndpointSlice::default());
        let rebuilt = Arc::new(EndpointSlice::default());
        memo.record_verified(key("s"), &desired, "10");
        assert!(memo.verified(&key("s"), &desired, Some("10")));
        assert!(!memo.verified(&key("s"), &desired, Some("11")), "changed");
        assert!(!memo.verified(&key("s"), &desired, None), "deleted");
        assert!(!memo.verified(&key("s"), &rebuilt, Some("10")), "rebuilt");
        memo.retain_slices(|_| false);
        assert!(!memo.verified(&key("s"), &desired, Some("10")));
    }

    #[test]
    fn an_applied_slice_is_not_applied_again_while_the_cache_shows_what_it_replaced() {
        let mut memo = Memo::default();
        let desired = Arc::new(EndpointSlice::default());
        memo.record_applied(key("s"), &desired, "12", Some("10"));
        assert!(
            memo.verified(&key("s"), &desired, Some("10")),
            "the watch lags"
        );
        assert!(
            !memo.verified(&key("s"), &desired, Some("13")),
            "another writer"
        );
        let rebuilt = Arc::new(EndpointSlice::default());
        assert!(
            !memo.verified(&key("s"), &rebuilt, Some("10")),
            "new desired"
        );
        assert!(memo.verified(&key("s"), &desired, Some("12")), "caught up");
        assert!(
            !memo.verified(&key("s"), &desired, Some("10")),
            "only once seen"
        );
    }

    #[test]
    fn a_created_slice_deleted_after_the_cache_saw_it_is_created_again() {
        let mut memo = Memo::default();
        let desired = Arc::new(EndpointSlice::default());
        memo.record_applied(key("s"), &desired, "12", None);
        assert!(memo.verified(&key("s"), &desired, None), "the watch lags");
        assert!(memo.verified(&key("s"), &desired, Some("12")), "caught up");
        assert!(!memo.verified(&key("s"), &desired, None), "deleted since");
    }
}
