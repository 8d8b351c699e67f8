//! Test fixtures for the sync: a [`World`] of member clusters held in real reflector stores, and
//! a simulated apiserver that applies a [`SyncPlan`] to this cluster's stores as the real one
//! would (new resourceVersions, the import's UID), so tests can run pass after pass.
//!
//! Data flow: a test builds a [`World`], adds exports to members ([`World::export`]), asks for a
//! plan ([`World::plan`]), checks it, and applies it ([`World::apply`]) before the next pass;
//! [`World::converge`] repeats that until a pass plans nothing.

use std::collections::BTreeMap;

use causeway_api::names::LABEL_K8S_SERVICE_NAME;
use causeway_api::{ClusterStatus, ServiceExport, ServiceExportStatus, ServiceImport};
use k8s_openapi::api::core::v1::{Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;

use super::memo::Memo;
use super::patches;
use super::plan::{self, Inputs, Member, Standing, SyncPlan, Write};

/// A store and the writer that fills it.
pub struct Cache<K: kube::Resource<DynamicType = ()> + Clone + 'static> {
    /// What the plan reads.
    pub store: Store<K>,
    writer: Writer<K>,
}

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Default for Cache<K> {
    fn default() -> Self {
        let writer = Writer::default();
        Self {
            store: writer.as_reader(),
            writer,
        }
    }
}

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Cache<K> {
    /// Adds or replaces an object.
    pub fn put(&mut self, object: K) {
        self.writer.apply_watcher_event(&Event::Apply(object));
    }

    /// Removes an object.
    pub fn remove(&mut self, ns: &str, name: &str) {
        if let Some(o) = self.store.get(&ObjectRef::new(name).within(ns)) {
            self.writer
                .apply_watcher_event(&Event::Delete(o.as_ref().clone()));
        }
    }
}

/// One member cluster's caches and health.
#[derive(Default)]
pub struct Cluster {
    /// ServiceExports.
    pub exports: Cache<ServiceExport>,
    /// Services.
    pub services: Cache<Service>,
    /// Controller-manager EndpointSlices.
    pub slices: Cache<EndpointSlice>,
}

/// Member clusters (`c1`, this one, first) and this cluster's caches.
pub struct World {
    /// Cluster ids.
    pub ids: Vec<String>,
    /// Each member's caches.
    pub clusters: Vec<Cluster>,
    /// Each member's standing, whether it is synced and whether its exports listed.
    pub health: Vec<(Standing, bool, bool)>,
    /// This cluster's ServiceImports.
    pub imports: Cache<ServiceImport>,
    /// This cluster's MCS slices.
    pub slices: Cache<EndpointSlice>,
    /// This cluster's MCS slices no causeway wrote.
    pub foreign_slices: Cache<EndpointSlice>,
    /// This cluster's namespaces.
    pub namespaces: Cache<PartialObjectMeta<Namespace>>,
    /// The memo kept across passes, as the engine keeps it.
    pub memo: Memo,
    rv: u64,
}

/// Metadata `ns/name` at resourceVersion `rv`.
pub fn meta(ns: &str, name: &str, rv: u64) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(ns.into()),
        name: Some(name.into()),
        resource_version: Some(rv.to_string()),
        ..ObjectMeta::default()
    }
}

impl World {
    /// `n` live, synced members `c1`..`cn`, each with namespace `ns` here.
    pub fn new(n: usize) -> Self {
        let mut w = Self {
            ids: (1..=n).map(|i| format!("c{i}")).collect(),
            clusters: (0..n).map(|_| Cluster::default()).collect(),
            health: vec![(Standing::Live, true, true); n],
            imports: Cache::default(),
            slices: Cache::default(),
            foreign_slices: Cache::default(),
            namespaces: Cache::default(),
            memo: Memo::default(),
            rv: 100,
        };
        let mut ns = PartialObjectMeta::<Namespace>::default();
        ns.metadata.name = Some("ns".into());
        w.namespaces.put(ns);
        w
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Member `c` exports `ns/name`: a ServiceExport created at `created` (seconds), a ClusterIP
    /// Service with one TCP port `port` and `affinity`, and one source slice with `ip`.
    pub fn export(&mut self, c: usize, name: &str, created: i64, port: i32, ip: &str) {
        self.export_with(c, name, created, port, ip, "None");
    }

    /// As [`Self::export`], with the Service's session affinity.
    pub fn export_with(
        &mut self,
        c: usize,
        name: &str,
        created: i64,
        port: i32,
        ip: &str,
        affinity: &str,
    ) {
        let rv = self.next_rv();
        let mut export_meta = meta("ns", name, rv);
        export_meta.creation_timestamp = Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(created).unwrap_or_default(),
        ));
        export_meta.generation = Some(1);
        self.clusters[c].exports.put(ServiceExport {
            metadata: export_meta,
            spec: causeway_api::ServiceExportSpec::default(),
            status: None,
        });
        self.clusters[c].services.put(Service {
            metadata: meta("ns", name, rv),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                cluster_ip: Some("10.0.0.1".into()),
                ports: Some(vec![ServicePort {
                    port,
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                }]),
                session_affinity: Some(affinity.into()),
                ..ServiceSpec::default()
            }),
            status: None,
        });
        self.source_slice(c, name, &format!("{name}-abc"), port, ip);
    }

    /// Member `c`'s controller-manager slice `slice` of Service `service` with one endpoint.
    pub fn source_slice(&mut self, c: usize, service: &str, slice: &str, port: i32, ip: &str) {
        let rv = self.next_rv();
        let mut m = meta("ns", slice, rv);
        m.labels = Some(BTreeMap::from([(
            LABEL_K8S_SERVICE_NAME.to_owned(),
            service.to_owned(),
        )]));
        self.clusters[c].slices.put(EndpointSlice {
            metadata: m,
            address_type: "IPv4".into(),
            endpoints: vec![Endpoint {
                addresses: vec![ip.into()],
                ..Endpoint::default()
            }],
            ports: Some(vec![EndpointPort {
                port: Some(port),
                protocol: Some("TCP".into()),
                name: Some(String::new()),
                ..EndpointPort::default()
            }]),
        });
    }

    /// Member `c` no longer exports `ns/name` (its Service and slices stay).
    pub fn unexport(&mut self, c: usize, name: &str) {
        self.clusters[c].exports.remove("ns", name);
    }

    /// The members as a pass sees them.
    pub fn members(&self) -> Vec<Member<'_>> {
        self.ids
            .iter()
            .zip(&self.clusters)
            .zip(&self.health)
            .map(|((id, c), (standing, synced, listed))| Member {
                id,
                standing: *standing,
                synced: *synced,
                exports_listed: *listed,
                exports: &c.exports.store,
                services: &c.services.store,
                slices: &c.slices.store,
            })
            .collect()
    }

    /// Plans a pass with the kept memo.
    pub fn plan(&mut self) -> SyncPlan {
        let mut memo = std::mem::take(&mut self.memo);
        let plan = self.plan_with(&mut memo);
        self.memo = memo;
        plan
    }

    /// Plans a pass with `memo`.
    pub fn plan_with(&self, memo: &mut Memo) -> SyncPlan {
        let members = self.members();
        let inputs = Inputs {
            local_id: &self.ids[0],
            members: &members,
            imports: &self.imports.store,
            slices: &self.slices.store,
            foreign_slices: &self.foreign_slices.store,
            namespaces: &self.namespaces.store,
            now: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        };
        plan::plan(&inputs, memo)
    }

    /// What the apiserver does with every write of `plan` (all succeed); outcomes go into the
    /// memo as `execute` stores them.
    pub fn apply(&mut self, plan: SyncPlan) {
        for service in plan.services {
            let (ns, name) = service.key.clone();
            for write in &service.writes {
                self.write(&ns, &name, write);
            }
            self.memo
                .store(service.key, service.fingerprint, service.outcome);
        }
        for super::plan::StaleSlice {
            key: (ns, name), ..
        } in plan.delete_slices
        {
            self.slices.remove(&ns, &name);
        }
        for a in plan.apply_slices {
            let rv = self.next_rv();
            let mut slice = a.slice.as_ref().clone();
            slice.metadata.resource_version = Some(rv.to_string());
            self.memo
                .record_applied(a.key, &a.slice, &rv.to_string(), a.replaced.as_deref());
            self.slices.put(slice);
        }
        for (ns, name) in plan.delete_imports {
            self.imports.remove(&ns, &name);
        }
    }

    fn write(&mut self, ns: &str, name: &str, write: &Write) {
        let rv = self.next_rv();
        let live = self.imports.store.get(&ObjectRef::new(name).within(ns));
        match write {
            Write::ExportConditions(conditions) => {
                let at = ObjectRef::new(name).within(ns);
                if let Some(e) = self.clusters[0].exports.store.get(&at) {
                    let mut e = e.as_ref().clone();
                    e.metadata.resource_version = Some(rv.to_string());
                    e.status = Some(ServiceExportStatus {
                        conditions: Some(conditions.clone()),
                    });
                    self.clusters[0].exports.put(e);
                }
            }
            Write::Import(view) => {
                let patch = patches::import(name, view);
                let mut import: ServiceImport =
                    serde_json::from_value(patch).expect("the import patch is a ServiceImport");
                import.metadata.namespace = Some(ns.into());
                import.metadata.uid = Some(format!("uid-{name}"));
                import.metadata.resource_version = Some(rv.to_string());
                import.status = live.and_then(|l| l.status.clone());
                self.imports.put(import);
            }
            Write::ImportClusters(clusters) => {
                let mut import = live
                    .expect("status is written to an existing import")
                    .as_ref()
                    .clone();
                import.metadata.resource_version = Some(rv.to_string());
                import.status.get_or_insert_default().clusters = Some(
                    clusters
                        .iter()
                        .map(|c| ClusterStatus { cluster: c.clone() })
                        .collect(),
                );
                self.imports.put(import);
            }
        }
    }

    /// Plans and applies until a pass plans nothing; returns how many passes wrote.
    pub fn converge(&mut self) -> usize {
        for passes in 0..10 {
            let plan = self.plan();
            let empty = plan.is_empty();
            self.apply(plan);
            if empty {
                return passes;
            }
        }
        panic!("no convergence in 10 passes");
    }

    /// This cluster's import `ns/name`, if any.
    pub fn import(&self, name: &str) -> Option<ServiceImport> {
        self.imports
            .store
            .get(&ObjectRef::new(name).within("ns"))
            .map(|i| i.as_ref().clone())
    }

    /// Names of this cluster's MCS slices.
    pub fn slice_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .slices
            .store
            .state()
            .iter()
            .map(|s| s.name_any())
            .collect();
        names.sort();
        names
    }
}

/// The number of writes `execute` would send for `plan`.
pub fn writes(plan: &SyncPlan) -> usize {
    plan.services.iter().map(|s| s.writes.len()).sum::<usize>()
        + plan.delete_slices.len()
        + plan.apply_slices.len()
        + plan.delete_imports.len()
}
