//! What a pass wants to exist locally, and from that, what the sync made that must change or go.
//!
//! Data flow: every service's [`Outcome`] (planned or reused) is added to [`Wanted`]. [`slices`]
//! walks the live MCS slices (the local cache holds only the sync's, by label): one nobody wants
//! is deleted unless a held member made it; a wanted one is applied unless the [`Memo`] or
//! [`slice_matches`] shows the live slice equal to it. [`imports`] deletes the sync's imports no
//! member exports, except those a held member may still export ([`hold::may_delete`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use causeway_api::ServiceImport;
use causeway_api::names::{LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER, LABEL_SYNCED};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::runtime::reflector::Store;

use super::matches::slice_matches;
use super::{SliceApply, StaleSlice};
use crate::sync::hold::{self, HeldExports};
use crate::sync::memo::{Key, Memo, Outcome};

/// What one pass wants to exist locally; anything else the sync made is stale.
#[derive(Debug, Default)]
pub struct Wanted {
    /// Imports, by `(namespace, name)`.
    pub imports: BTreeSet<Key>,
    /// MCS slices, by `(namespace, name)`.
    pub slices: BTreeMap<Key, Arc<EndpointSlice>>,
}

impl Wanted {
    /// Adds a service's outcome.
    pub fn add(&mut self, key: &Key, outcome: &Outcome) {
        if outcome.import {
            self.imports.insert(key.clone());
        }
        for slice in &outcome.slices {
            self.slices
                .insert((key.0.clone(), slice.name_any()), slice.clone());
        }
    }
}

/// The live MCS slices to delete (wanted by nobody, made from no held member) and the desired
/// ones to apply; records in `memo` the live slices found equal to the desired ones.
pub fn slices(
    live: &Store<EndpointSlice>,
    wanted: &Wanted,
    held: &BTreeSet<&str>,
    memo: &mut Memo,
) -> (Vec<StaleSlice>, Vec<SliceApply>) {
    let wanted = &wanted.slices;
    let existing = live.state();
    let mut delete = Vec::new();
    for slice in &existing {
        let key = (slice.namespace().unwrap_or_default(), slice.name_any());
        if wanted.contains_key(&key) || !slice.labels().contains_key(LABEL_SYNCED) {
            continue;
        }
        let source = slice
            .labels()
            .get(LABEL_SOURCE_CLUSTER)
            .map(String::as_str)
            .unwrap_or_default();
        if held.contains(source) {
            continue;
        }
        let service = slice
            .labels()
            .get(LABEL_SERVICE_NAME)
            .cloned()
            .unwrap_or_default();
        delete.push(StaleSlice { key, service });
    }
    let by_key: HashMap<Key, &Arc<EndpointSlice>> = existing
        .iter()
        .map(|s| ((s.namespace().unwrap_or_default(), s.name_any()), s))
        .collect();
    memo.retain_slices(|k| wanted.contains_key(k));
    let mut apply = Vec::new();
    for (key, slice) in wanted {
        let current = by_key.get(key);
        let live_version = current.and_then(|c| c.resource_version());
        if memo.verified(key, slice, live_version.as_deref()) {
            continue;
        }
        if let (Some(current), Some(live)) = (current, &live_version)
            && slice_matches(current, slice)
        {
            memo.record_verified(key.clone(), slice, live);
            continue;
        }
        apply.push(SliceApply {
            key: key.clone(),
            slice: slice.clone(),
            replaced: live_version,
        });
    }
    (delete, apply)
}

/// The sync's imports (label `LABEL_SYNCED=true`) that no usable member exports and no held
/// member may export, not already being deleted.
pub fn imports(live: &Store<ServiceImport>, wanted: &Wanted, held: &[HeldExports]) -> Vec<Key> {
    live.state()
        .iter()
        .filter(|i| i.labels().get(LABEL_SYNCED).map(String::as_str) == Some("true"))
        .filter(|i| i.metadata.deletion_timestamp.is_none())
        .map(|i| (i.namespace().unwrap_or_default(), i.name_any()))
        .filter(|key| !wanted.imports.contains(key) && hold::may_delete(key, held))
        .collect()
}
