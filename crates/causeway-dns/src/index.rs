//! The synchronous in-memory index that every DNS answer is computed from.
//!
//! Data flows one way: the [`feed`](crate::feed) turns watch events on `ServiceImports` and MCS
//! `EndpointSlices` into plain data ([`ImportData`], [`SliceData`], built by the pure conversions
//! in `convert`) and applies them here with `apply_*`, `delete_*` and `reset_*` (the latter on
//! every relist). The index keeps, per `(namespace, service)`, the import (type, VIPs, ports) and
//! the slices that name that service, grouped by source cluster on read. It never performs I/O:
//! the server holds it in a [`SharedIndex`] and the pure [`answer`](fn@crate::answer) function
//! reads a snapshot under a short read lock.
//!
//! For the [`resolvable`](crate::resolvable) writer it also keeps each import's [`ImportStatus`]
//! (never part of an answer) and, once [`Index::track_changes`] is called, the set of services
//! whose data or status changed since the writer last called [`Index::take_changed`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

mod convert;
mod model;
#[cfg(test)]
mod tests;

pub use model::{
    AddressType, EndpointData, ImportData, ImportStatus, ImportType, PortData, SliceData,
};

/// The index as shared between the feed (writer) and the DNS handler (readers).
pub type SharedIndex = Arc<RwLock<Index>>;

/// Creates an empty [`SharedIndex`].
pub fn shared() -> SharedIndex {
    Arc::new(RwLock::new(Index::default()))
}

/// Takes the read lock, ignoring poisoning: the index holds plain data that every mutation
/// leaves consistent, so a panicked writer cannot leave it half-updated in a harmful way.
pub fn read(index: &SharedIndex) -> RwLockReadGuard<'_, Index> {
    index.read().unwrap_or_else(PoisonError::into_inner)
}

/// Takes the write lock, ignoring poisoning (see [`read`]).
pub fn write(index: &SharedIndex) -> RwLockWriteGuard<'_, Index> {
    index.write().unwrap_or_else(PoisonError::into_inner)
}

/// Key of one service: `(namespace, name)`.
pub type ServiceKey = (String, String);
type Key = ServiceKey;

/// What the index knows about one `(namespace, service)`.
#[derive(Clone, Debug, Default, PartialEq)]
struct Entry {
    import: Option<ImportData>,
    /// What the import's object says of itself; present iff `import` is.
    status: Option<ImportStatus>,
    /// Slices naming this service, by slice name.
    slices: BTreeMap<String, SliceData>,
}

impl Entry {
    fn is_empty(&self) -> bool {
        self.import.is_none() && self.slices.is_empty()
    }
}

/// `ServiceImports` and MCS `EndpointSlices`, indexed by `(namespace, service)`.
///
/// A service exists for DNS only while its `ServiceImport` exists; slices that arrive before their
/// import are kept and become visible when it does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Index {
    services: BTreeMap<Key, Entry>,
    /// Which service each slice `(namespace, slice name)` is filed under, so a slice whose
    /// service label changes moves instead of being duplicated.
    slice_owner: HashMap<Key, String>,
    revision: u32,
    /// Services changed since the last [`Index::take_changed`]; `None` until
    /// [`Index::track_changes`] (nobody drains it otherwise).
    changed: Option<BTreeSet<Key>>,
}

/// A read-only view of one imported service.
#[derive(Clone, Copy, Debug)]
pub struct ServiceView<'a> {
    /// Namespace of the service.
    pub namespace: &'a str,
    /// Name of the service.
    pub name: &'a str,
    /// The `ServiceImport` data.
    pub import: &'a ImportData,
    slices: &'a BTreeMap<String, SliceData>,
}

impl<'a> ServiceView<'a> {
    /// All slices of the service, from every cluster.
    pub fn slices(&self) -> impl Iterator<Item = &'a SliceData> + 'a {
        self.slices.values()
    }

    /// Slices grouped by source cluster id, clusters in sorted order.
    pub fn slices_by_cluster(&self) -> BTreeMap<&'a str, Vec<&'a SliceData>> {
        let mut out: BTreeMap<&'a str, Vec<&'a SliceData>> = BTreeMap::new();
        for slice in self.slices.values() {
            out.entry(slice.cluster.as_str()).or_default().push(slice);
        }
        out
    }

    /// `(slice, endpoint)` for every ready endpoint of every cluster.
    pub fn ready_endpoints(&self) -> impl Iterator<Item = (&'a SliceData, &'a EndpointData)> + 'a {
        self.slices
            .values()
            .flat_map(|s| s.endpoints.iter().filter(|e| e.ready).map(move |e| (s, e)))
    }
}

impl Index {
    /// Adds or replaces the `ServiceImport` `namespace/name`.
    pub fn apply_import(&mut self, namespace: &str, name: &str, import: ImportData) {
        let entry = self.entry(namespace, name);
        if entry.import.as_ref() != Some(&import) {
            entry.import = Some(import);
            entry.status.get_or_insert_with(ImportStatus::default);
            self.bump();
            self.mark(namespace, name);
        }
    }

    /// Records what the `ServiceImport` `namespace/name` says of its own status (ignored while
    /// the import is not indexed). Changes no answer and not the revision.
    pub fn observe_import(&mut self, namespace: &str, name: &str, status: ImportStatus) {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(entry) = self.services.get_mut(&key)
            && entry.import.is_some()
            && entry.status.as_ref() != Some(&status)
        {
            entry.status = Some(status);
            self.mark(namespace, name);
        }
    }

    /// Removes the `ServiceImport` `namespace/name`; its slices stay indexed.
    pub fn delete_import(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(entry) = self.services.get_mut(&key)
            && entry.import.take().is_some()
        {
            entry.status = None;
            self.prune(&key);
            self.bump();
            self.mark(namespace, name);
        }
    }

    /// Adds or replaces the `EndpointSlice` `namespace/slice_name`, filed under `slice.service`.
    pub fn apply_slice(&mut self, namespace: &str, slice_name: &str, slice: SliceData) {
        let slice_key = (namespace.to_owned(), slice_name.to_owned());
        if let Some(old_service) = self.slice_owner.get(&slice_key)
            && *old_service != slice.service
        {
            let old_service = old_service.clone();
            self.remove_slice_from(namespace, &old_service, slice_name);
        }
        self.slice_owner.insert(slice_key, slice.service.clone());
        let service = slice.service.clone();
        let entry = self.entry(namespace, &service);
        if entry.slices.get(slice_name) != Some(&slice) {
            entry.slices.insert(slice_name.to_owned(), slice);
            self.bump();
            self.mark(namespace, &service);
        }
    }

    /// Removes the `EndpointSlice` `namespace/slice_name`.
    pub fn delete_slice(&mut self, namespace: &str, slice_name: &str) {
        let slice_key = (namespace.to_owned(), slice_name.to_owned());
        if let Some(service) = self.slice_owner.remove(&slice_key) {
            self.remove_slice_from(namespace, &service, slice_name);
        }
    }

    /// Replaces every `ServiceImport` with `imports` (a relist): imports not listed are removed.
    pub fn reset_imports(
        &mut self,
        imports: impl IntoIterator<Item = (String, String, ImportData)>,
    ) {
        let mut live: BTreeMap<Key, ImportData> = BTreeMap::new();
        for (namespace, name, import) in imports {
            live.insert((namespace, name), import);
        }
        let stale: Vec<Key> = self
            .services
            .iter()
            .filter(|(key, entry)| entry.import.is_some() && !live.contains_key(*key))
            .map(|(key, _)| key.clone())
            .collect();
        for (namespace, name) in stale {
            self.delete_import(&namespace, &name);
        }
        for ((namespace, name), import) in live {
            self.apply_import(&namespace, &name, import);
        }
    }

    /// Replaces every `EndpointSlice` with `slices` (a relist): slices not listed are removed.
    pub fn reset_slices(&mut self, slices: impl IntoIterator<Item = (String, String, SliceData)>) {
        let mut live: BTreeMap<Key, SliceData> = BTreeMap::new();
        for (namespace, slice_name, slice) in slices {
            live.insert((namespace, slice_name), slice);
        }
        let stale: Vec<Key> = self
            .slice_owner
            .keys()
            .filter(|key| !live.contains_key(*key))
            .cloned()
            .collect();
        for (namespace, slice_name) in stale {
            self.delete_slice(&namespace, &slice_name);
        }
        for ((namespace, slice_name), slice) in live {
            self.apply_slice(&namespace, &slice_name, slice);
        }
    }

    /// The imported service `namespace/name`, if its `ServiceImport` exists.
    pub fn service(&self, namespace: &str, name: &str) -> Option<ServiceView<'_>> {
        let ((ns, svc), entry) = self
            .services
            .get_key_value(&(namespace.to_owned(), name.to_owned()))?;
        entry.import.as_ref().map(|import| ServiceView {
            namespace: ns,
            name: svc,
            import,
            slices: &entry.slices,
        })
    }

    /// The last observed status of the imported service `namespace/name`.
    pub fn import_status(&self, namespace: &str, name: &str) -> Option<&ImportStatus> {
        self.services
            .get(&(namespace.to_owned(), name.to_owned()))
            .and_then(|e| e.status.as_ref())
    }

    /// Starts recording which services change (for [`Index::take_changed`]). Idempotent.
    pub fn track_changes(&mut self) {
        self.changed.get_or_insert_with(BTreeSet::new);
    }

    /// Whether a service changed since the last [`Index::take_changed`].
    pub fn has_changes(&self) -> bool {
        self.changed.as_ref().is_some_and(|c| !c.is_empty())
    }

    /// The services (imported or just deleted) whose data or status changed since the last call,
    /// in order; empty unless tracking.
    pub fn take_changed(&mut self) -> Vec<ServiceKey> {
        self.changed
            .as_mut()
            .map(|c| std::mem::take(c).into_iter().collect())
            .unwrap_or_default()
    }

    /// Marks every imported service as changed (e.g. when the writer becomes leader and must
    /// check all of them once).
    pub fn mark_all_changed(&mut self) {
        let keys: Vec<Key> = self
            .services
            .iter()
            .filter(|(_, e)| e.import.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        if let Some(changed) = self.changed.as_mut() {
            changed.extend(keys);
        }
    }

    /// Every imported service, ordered by namespace then name.
    pub fn services(&self) -> impl Iterator<Item = ServiceView<'_>> {
        self.services.iter().filter_map(|((ns, svc), entry)| {
            entry.import.as_ref().map(|import| ServiceView {
                namespace: ns,
                name: svc,
                import,
                slices: &entry.slices,
            })
        })
    }

    /// Whether any service is imported in `namespace`.
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.services
            .range((namespace.to_owned(), String::new())..)
            .take_while(|((ns, _), _)| ns == namespace)
            .any(|(_, entry)| entry.import.is_some())
    }

    /// Imported `ClusterSetIP` services that have `ip` among their VIPs (a linear scan; PTR
    /// queries are rare).
    pub fn services_with_vip(&self, ip: IpAddr) -> impl Iterator<Item = ServiceView<'_>> {
        self.services().filter(move |svc| {
            svc.import.type_ == ImportType::ClusterSetIp && svc.import.vips.contains(&ip)
        })
    }

    /// Number of imported services.
    pub fn len(&self) -> usize {
        self.services().count()
    }

    /// Whether no service is imported.
    pub fn is_empty(&self) -> bool {
        self.services().next().is_none()
    }

    /// Number of indexed `EndpointSlices` (including those whose import does not exist yet).
    pub fn slice_count(&self) -> usize {
        self.slice_owner.len()
    }

    /// Number of endpoints across all indexed slices.
    pub fn endpoint_count(&self) -> usize {
        self.services
            .values()
            .flat_map(|e| e.slices.values())
            .map(|s| s.endpoints.len())
            .sum()
    }

    /// A counter that changes whenever the indexed data changes (used as the SOA serial).
    pub fn revision(&self) -> u32 {
        self.revision
    }

    fn entry(&mut self, namespace: &str, name: &str) -> &mut Entry {
        self.services
            .entry((namespace.to_owned(), name.to_owned()))
            .or_default()
    }

    fn remove_slice_from(&mut self, namespace: &str, service: &str, slice_name: &str) {
        let key = (namespace.to_owned(), service.to_owned());
        if let Some(entry) = self.services.get_mut(&key)
            && entry.slices.remove(slice_name).is_some()
        {
            self.prune(&key);
            self.bump();
            self.mark(namespace, service);
        }
    }

    fn prune(&mut self, key: &Key) {
        if self.services.get(key).is_some_and(Entry::is_empty) {
            self.services.remove(key);
        }
    }

    fn mark(&mut self, namespace: &str, name: &str) {
        if let Some(changed) = self.changed.as_mut() {
            changed.insert((namespace.to_owned(), name.to_owned()));
        }
    }

    fn bump(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }
}
