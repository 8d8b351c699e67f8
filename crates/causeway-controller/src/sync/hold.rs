//! Which stale ServiceImports may go while some members are held (failing within
//! `--peer-grace`, or still connecting). Pure: the plan passes what each held member is known to
//! export.
//!
//! Data flow: a pass builds the imports it wants from the usable members; every other import the
//! sync made is stale, and [`may_delete`] decides whether it goes now. It stays while a held
//! member's last complete list of ServiceExports names it, or while a held member has no list at
//! all (it could export anything: nothing is deleted on partial information). Unrelated imports
//! go at once instead of waiting for the grace period to end.

use std::collections::BTreeSet;

/// What a held member is known to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeldExports {
    /// Its ServiceExports as of its last complete list (`(namespace, name)`); a failing watch
    /// keeps the last list.
    Listed(BTreeSet<(String, String)>),
    /// No list ever completed on its current connection (never connected, connecting, or a new
    /// credential): it may export anything.
    Unknown,
}

/// Whether the stale import `key` (wanted by no usable member) may be deleted now.
pub fn may_delete(key: &(String, String), held: &[HeldExports]) -> bool {
    held.iter().all(|h| match h {
        HeldExports::Listed(keys) => !keys.contains(key),
        HeldExports::Unknown => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, name: &str) -> (String, String) {
        (ns.to_owned(), name.to_owned())
    }

    fn listed(keys: &[(&str, &str)]) -> HeldExports {
        HeldExports::Listed(keys.iter().map(|(n, s)| key(n, s)).collect())
    }

    #[test]
    fn without_held_members_every_stale_import_goes() {
        assert!(may_delete(&key("a", "web"), &[]));
    }

    #[test]
    fn an_import_a_held_member_exported_stays() {
        let held = [listed(&[("a", "web")])];
        assert!(!may_delete(&key("a", "web"), &held));
    }

    #[test]
    fn an_unrelated_import_goes_while_a_member_is_held() {
        let held = [listed(&[("a", "web")]), listed(&[])];
        assert!(may_delete(&key("a", "db"), &held));
        assert!(
            may_delete(&key("b", "web"), &held),
            "same name, other namespace"
        );
    }

    #[test]
    fn a_held_member_without_any_list_keeps_everything() {
        let held = [listed(&[]), HeldExports::Unknown];
        assert!(!may_delete(&key("a", "db"), &held));
    }
}
