//! The import side's index of MCS EndpointSlices: for each slice, the import it names and what
//! the labelling decision reads (`slices::SliceMarks`), never the slice itself. The slice watch
//! feeds it every event ([`SliceIndex::apply`]); a relist replaces it whole once complete, so a
//! broken watch never empties it. Reconciles ask for one import's slices ([`SliceIndex::of_import`],
//! by a per-import index), the orphan sweep for the slices causeway marked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use causeway_api::names::LABEL_SERVICE_NAME;
use causeway_core::slices::SliceMarks;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

/// One slice as the index knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedSlice {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The import it names (`multicluster.kubernetes.io/service-name`).
    pub import: String,
    /// Its resourceVersion when last seen.
    pub resource_version: String,
    /// What the labelling decision reads.
    pub marks: SliceMarks,
}

impl IndexedSlice {
    /// The entry of `slice`; `None` without a namespace, name or import label.
    pub fn of(slice: &EndpointSlice) -> Option<Self> {
        let meta = &slice.metadata;
        let empty = BTreeMap::new();
        let labels = meta.labels.as_ref().unwrap_or(&empty);
        Some(Self {
            namespace: meta.namespace.clone()?,
            name: meta.name.clone()?,
            import: labels.get(LABEL_SERVICE_NAME)?.clone(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            marks: SliceMarks::of(labels, meta.annotations.as_ref().unwrap_or(&empty)),
        })
    }
}

/// What an entry is stored under: (namespace, name) and (namespace, import).
type Key = (String, String);

#[derive(Debug, Default)]
struct Entries {
    /// By (namespace, name): the import and the rest.
    slices: HashMap<Key, Entry>,
    /// By (namespace, import): slice names.
    by_import: HashMap<Key, BTreeSet<String>>,
}

#[derive(Debug)]
struct Entry {
    import: String,
    resource_version: String,
    marks: SliceMarks,
}

impl Entries {
    fn insert(&mut self, s: IndexedSlice) {
        let key = (s.namespace, s.name);
        if let Some(old) = self.slices.get(&key)
            && old.import != s.import
        {
            let old_import = (key.0.clone(), old.import.clone());
            self.unlink(&old_import, &key.1);
        }
        self.by_import
            .entry((key.0.clone(), s.import.clone()))
            .or_default()
            .insert(key.1.clone());
        self.slices.insert(
            key,
            Entry {
                import: s.import,
                resource_version: s.resource_version,
                marks: s.marks,
            },
        );
    }

    fn remove(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(old) = self.slices.remove(&key) {
            self.unlink(&(key.0, old.import), name);
        }
    }

    fn unlink(&mut self, import: &Key, name: &str) {
        if let Some(names) = self.by_import.get_mut(import) {
            names.remove(name);
            if names.is_empty() {
                self.by_import.remove(import);
            }
        }
    }

    fn get(&self, namespace: &str, name: &str) -> Option<IndexedSlice> {
        let e = self.slices.get(&(namespace.to_owned(), name.to_owned()))?;
        Some(IndexedSlice {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            import: e.import.clone(),
            resource_version: e.resource_version.clone(),
            marks: e.marks.clone(),
        })
    }
}

#[derive(Debug, Default)]
struct State {
    entries: Entries,
    /// A relist in progress: replaces `entries` when complete.
    relist: Option<Entries>,
}

/// The index; shared by the watch task (writer) and reconciles (readers).
#[derive(Debug)]
pub struct SliceIndex {
    state: Mutex<State>,
    synced: watch::Sender<bool>,
}

impl Default for SliceIndex {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            synced: watch::channel(false).0,
        }
    }
}

impl SliceIndex {
    /// Applies one watch event.
    pub fn apply(&self, event: &Event<EndpointSlice>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match event {
            Event::Init => state.relist = Some(Entries::default()),
            Event::InitApply(slice) => {
                if let (Some(relist), Some(s)) = (state.relist.as_mut(), IndexedSlice::of(slice)) {
                    relist.insert(s);
                }
            }
            Event::InitDone => {
                if let Some(fresh) = state.relist.take() {
                    state.entries = fresh;
                }
                self.synced.send_replace(true);
            }
            Event::Apply(slice) => {
                let (ns, name) = (
                    slice.metadata.namespace.as_deref(),
                    slice.metadata.name.as_deref(),
                );
                match IndexedSlice::of(slice) {
                    Some(s) => state.entries.insert(s),
                    // It no longer names an import: it left the watch's selector.
                    None => {
                        if let (Some(ns), Some(name)) = (ns, name) {
                            state.entries.remove(ns, name);
                        }
                    }
                }
            }
            Event::Delete(slice) => {
                if let (Some(ns), Some(name)) = (
                    slice.metadata.namespace.as_deref(),
                    slice.metadata.name.as_deref(),
                ) {
                    state.entries.remove(ns, name);
                }
            }
        }
    }

    /// The slices naming import `namespace/import`, by name.
    pub fn of_import(&self, namespace: &str, import: &str) -> Vec<IndexedSlice> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        let key = (namespace.to_owned(), import.to_owned());
        state
            .entries
            .by_import
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|name| state.entries.get(namespace, name))
            .collect()
    }

    /// The slices carrying causeway's marker annotation.
    pub fn marked(&self) -> Vec<IndexedSlice> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        state
            .entries
            .slices
            .iter()
            .filter(|(_, e)| e.marks.added_by_us)
            .filter_map(|((ns, name), _)| state.entries.get(ns, name))
            .collect()
    }

    /// Number of slices indexed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.entries.slices.len())
    }

    /// True once the first list completed.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Resolves once the first list completed.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

#[cfg(test)]
mod tests;
