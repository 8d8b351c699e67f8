//! What the sync tells the user about objects it will not touch, decided without I/O.
//!
//! Two rules of "the sync deletes only what it wrote" need a word to the user, because leaving
//! the object alone is not what they may expect:
//!
//! - [`Notice::UnmanagedImport`]: a member exports a service whose ServiceImport here the sync did
//!   not write (no `causeway.multicluster.x-k8s.io/synced=true`; the README's manual path, a
//!   hand-made import fed by `causeway import-slices`). The sync leaves it, its VIP and its slices
//!   alone, and names the exporting clusters.
//! - [`Notice::ForeignSlices`]: EndpointSlices labelled `multicluster.kubernetes.io/service-name`
//!   that no causeway wrote (not the sync's, not `causeway import-slices`'s: no
//!   `endpointslice.kubernetes.io/managed-by=causeway.multicluster.x-k8s.io`), such as the
//!   seed's `kubectl get … | edit-meta.py | kubectl apply` copies, feed an import the sync
//!   manages: the VIP routes to them too. They are named, never deleted.
//!
//! Data flow: [`notices`] reads the pass's [`Inputs`] (this cluster's imports and the foreign
//! slices cache) and the usable members' exports; the engine raises one Warning Event per
//! notice and change (`sync::events::report_notices`).

use std::collections::BTreeMap;

use causeway_api::names::LABEL_SERVICE_NAME;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::service::synced;
use super::{Inputs, Member};
use crate::sync::memo::Key;

/// Something about a ServiceImport the user should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// An import the sync did not write, for a service these clusters export.
    UnmanagedImport {
        /// The import, `(namespace, name)`.
        key: Key,
        /// Its UID.
        uid: String,
        /// The exporting clusters, sorted.
        exporters: Vec<String>,
    },
    /// EndpointSlices no causeway wrote feeding an import the sync manages.
    ForeignSlices {
        /// The import, `(namespace, name)`.
        key: Key,
        /// Its UID.
        uid: String,
        /// The slices' names, sorted.
        slices: Vec<String>,
    },
}

impl Notice {
    /// The import it is about.
    pub fn key(&self) -> &Key {
        match self {
            Self::UnmanagedImport { key, .. } | Self::ForeignSlices { key, .. } => key,
        }
    }

    /// The Event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnmanagedImport { .. } => "ImportNotManaged",
            Self::ForeignSlices { .. } => "ForeignEndpointSlices",
        }
    }

    /// The Event note: what is wrong and the fix.
    pub fn message(&self) -> String {
        match self {
            Self::UnmanagedImport {
                key: (ns, name),
                exporters,
                ..
            } => format!(
                "ServiceImport {ns}/{name} was not created by causeway (no label causeway.multicluster.x-k8s.io/synced=true) and cluster(s) {} now export {ns}/{name}: causeway leaves this import, its VIP and its EndpointSlices as they are and syncs nothing into it; to let causeway manage it, delete this ServiceImport (kubectl delete serviceimport -n {ns} {name}) and causeway recreates it from the exports",
                exporters.join(",")
            ),
            Self::ForeignSlices {
                key: (ns, name),
                slices,
                ..
            } => format!(
                "EndpointSlice(s) {} carry multicluster.kubernetes.io/service-name={name} but were not written by causeway: the VIP of {ns}/{name} also routes to their endpoints, which duplicate or outlive those causeway syncs from the exporting clusters; delete them (kubectl delete endpointslice -n {ns} {}); causeway never deletes them",
                slices.join(","),
                slices.join(" ")
            ),
        }
    }
}

/// The notices of this pass, ordered by import.
pub fn notices(inputs: &Inputs<'_>, usable: &[(usize, &Member<'_>)]) -> Vec<Notice> {
    let mut out = Vec::new();
    for import in inputs.imports.state() {
        if synced(&import) || import.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let (ns, name) = (import.namespace().unwrap_or_default(), import.name_any());
        let at = ObjectRef::new(&name).within(&ns);
        let mut exporters: Vec<String> = usable
            .iter()
            .filter(|(_, m)| m.exports.get(&at).is_some())
            .map(|(_, m)| m.id.to_owned())
            .collect();
        if exporters.is_empty() {
            continue;
        }
        exporters.sort();
        exporters.dedup();
        out.push(Notice::UnmanagedImport {
            key: (ns, name),
            uid: import.uid().unwrap_or_default(),
            exporters,
        });
    }
    let mut foreign: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for slice in inputs.foreign_slices.state() {
        if causeway_core::mcs_slice::written_by_causeway(&slice) {
            continue;
        }
        if let Some(service) = slice.labels().get(LABEL_SERVICE_NAME) {
            let key = (slice.namespace().unwrap_or_default(), service.clone());
            foreign.entry(key).or_default().push(slice.name_any());
        }
    }
    for (key, mut slices) in foreign {
        let Some(import) = inputs.imports.get(&ObjectRef::new(&key.1).within(&key.0)) else {
            continue;
        };
        if !synced(&import) {
            continue;
        }
        slices.sort();
        out.push(Notice::ForeignSlices {
            uid: import.uid().unwrap_or_default(),
            key,
            slices,
        });
    }
    out.sort_by(|a, b| (a.key(), a.reason()).cmp(&(b.key(), b.reason())));
    out
}
