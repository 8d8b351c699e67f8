//! One service's part of a pass: its inputs' fingerprint, and from its exports in every usable
//! member, the writes it needs and the MCS slices it contributes.
//!
//! Data flow: [`Context::fingerprint`] hashes the resourceVersions of what [`Context::plan`]
//! reads, so an unchanged service is skipped. [`Context::plan`] turns each member's export and
//! Service into an `ExportView`, resolves them (`causeway-core::clusterset::resolve`, the same on
//! every member), and compares the result with the live objects: the local export's conditions
//! ([`export_conditions`]), the import's spec ([`super::matches::import_matches`]) and
//! `status.clusters`. Desired slices are built only once the import exists, because they name it
//! as their owner; a held member's slices are left as they are. An import the sync did not write
//! (no [`LABEL_SYNCED`]) is the user's and gets no write at all.

use std::collections::BTreeSet;
use std::sync::Arc;

use causeway_api::names::{LABEL_SYNCED, condition};
use causeway_api::{Condition, ServiceExport, ServiceImport};
use causeway_core::clusterset::convert::{cluster_slices, export_view};
use causeway_core::clusterset::{ExportView, Resolution, Validity, endpoint_families, resolve};
use causeway_core::conditions::{self, DesiredCondition};
use causeway_core::derived::owner_reference;
use causeway_core::mcs_slice::SliceTarget;
use causeway_core::naming::derived_service_name;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::matches::import_matches;
use super::{Contribution, Inputs, Member, ServicePlan, SlicesByService, Write};
use crate::sync::memo::{Fingerprint, FingerprintBuilder, Key, Outcome};

/// What every service of a pass is planned from.
pub struct Context<'a> {
    /// The pass's inputs.
    pub inputs: &'a Inputs<'a>,
    /// Usable members with their index in `inputs.members`.
    pub usable: &'a [(usize, &'a Member<'a>)],
    /// Each usable member's source slices by service (same order as `usable`).
    pub sources: &'a [SlicesByService],
    /// Ids of the held members.
    pub held: &'a BTreeSet<&'a str>,
}

impl Context<'_> {
    /// A hash of everything [`Self::plan`] reads for `key`: each usable member's export,
    /// Service and source slices (by resourceVersion), whether it is held, and the local
    /// namespace and import.
    pub fn fingerprint(&self, key: &Key) -> Fingerprint {
        let export_at: ObjectRef<ServiceExport> = ObjectRef::new(&key.1).within(&key.0);
        let service_at: ObjectRef<Service> = ObjectRef::new(&key.1).within(&key.0);
        let mut b = FingerprintBuilder::default();
        for ((_, m), by_service) in self.usable.iter().zip(self.sources) {
            b.add(m.id).add(self.held.contains(m.id));
            b.add(m.exports.get(&export_at).map(|e| e.resource_version()));
            b.add(m.services.get(&service_at).map(|s| s.resource_version()));
            for slice in by_service.get(key).into_iter().flatten() {
                b.unordered((m.id, &slice.metadata.name, &slice.metadata.resource_version));
            }
        }
        let inputs = self.inputs;
        b.add(inputs.namespaces.get(&ObjectRef::new(&key.0)).is_some());
        b.add(
            inputs
                .imports
                .get(&ObjectRef::new(&key.1).within(&key.0))
                .map(|i| (i.resource_version(), i.uid())),
        );
        b.finish()
    }

    /// Resolves one service: the writes its local export and its import need, and what it
    /// contributes (its import, its desired slices).
    pub fn plan(&self, key: &Key, fingerprint: Fingerprint) -> ServicePlan {
        let (ns, name) = key;
        let inputs = self.inputs;
        let mut out = ServicePlan {
            key: key.clone(),
            fingerprint,
            writes: Vec::new(),
            outcome: Outcome::default(),
            contributions: Vec::new(),
            events: Vec::new(),
        };
        let views: Vec<ExportView> = self
            .usable
            .iter()
            .filter_map(|(_, m)| {
                let export = m.exports.get(&ObjectRef::new(name).within(ns))?;
                let service = m.services.get(&ObjectRef::new(name).within(ns));
                Some(export_view(m.id, &export, service.as_deref()))
            })
            .collect();
        let mut resolution = resolve(&views);
        if let Some(import) = resolution.import.as_mut()
            && import.headless
        {
            // No VIP: its families are those of its endpoints.
            let types: Vec<&str> = self
                .usable
                .iter()
                .zip(self.sources)
                .filter(|((_, m), _)| import.clusters.iter().any(|c| c == m.id))
                .flat_map(|(_, by_service)| by_service.get(key).into_iter().flatten())
                .map(|s| s.address_type.as_str())
                .collect();
            import.ip_families = endpoint_families(&import.ip_families, types);
        }
        if let Some(local_export) = inputs
            .members
            .first()
            .and_then(|local| local.exports.get(&ObjectRef::new(name).within(ns)))
        {
            let validity = views
                .iter()
                .find(|v| v.cluster == inputs.local_id)
                .map_or(Validity::NoService, ExportView::validity);
            if let Some(conditions) =
                export_conditions(&local_export, validity, &resolution, &inputs.now)
            {
                let live = local_export
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_deref())
                    .unwrap_or_default();
                out.events = super::export_events::export_events(
                    &local_export.uid().unwrap_or_default(),
                    live,
                    &conditions,
                    &resolution.conflicts.dissent,
                );
                out.writes.push(Write::ExportConditions(conditions));
            }
        }
        let Some(import) = &resolution.import else {
            return out;
        };
        if inputs.namespaces.get(&ObjectRef::new(ns)).is_none() {
            return out;
        }
        let current = inputs.imports.get(&ObjectRef::new(name).within(ns));
        if current.as_deref().is_some_and(|c| !synced(c)) {
            // An import the sync did not write (the manual path: a hand-made import fed by
            // `causeway import-slices`) is the user's: never adopted, never deleted, its spec,
            // status and slices left as they are ([`super::notices`] reports it).
            return out;
        }
        out.outcome.import = true;
        if current
            .as_deref()
            .is_none_or(|c| !import_matches(c, import))
        {
            out.writes.push(Write::Import(Box::new(import.clone())));
        }
        let Some(current) = current else {
            return out;
        };
        let live_clusters: Vec<String> = current
            .status
            .as_ref()
            .and_then(|s| s.clusters.as_ref())
            .map(|cs| cs.iter().map(|c| c.cluster.clone()).collect())
            .unwrap_or_default();
        if live_clusters != import.clusters {
            out.writes
                .push(Write::ImportClusters(import.clusters.clone()));
        }
        let derived = (!import.headless).then(|| derived_service_name(ns, name));
        for ((index, m), by_service) in self.usable.iter().zip(self.sources) {
            if self.held.contains(m.id) {
                continue;
            }
            let Some(served) = import.served_ports.get(m.id) else {
                continue;
            };
            let refs: Vec<&EndpointSlice> = by_service
                .get(key)
                .map(|v| v.iter().map(AsRef::as_ref).collect())
                .unwrap_or_default();
            let target = SliceTarget {
                namespace: ns,
                service: name,
                source_cluster: m.id,
                derived_service: derived.as_deref(),
                owner: Some(owner_reference(&current)),
            };
            let mut contribution = Contribution {
                member: *index,
                sources: refs
                    .iter()
                    .filter_map(|s| s.metadata.name.clone())
                    .collect(),
                slices: Vec::new(),
            };
            for mut slice in cluster_slices(&refs, served, &target) {
                slice
                    .metadata
                    .labels
                    .get_or_insert_default()
                    .insert(LABEL_SYNCED.to_owned(), "true".to_owned());
                contribution.slices.push(slice.name_any());
                out.outcome.slices.push(Arc::new(slice));
            }
            out.contributions.push(contribution);
        }
        out
    }
}

/// The local export's conditions merged with the live ones, or `None` when they are up to date.
pub fn export_conditions(
    export: &ServiceExport,
    validity: Validity,
    resolution: &Resolution,
    now: &Time,
) -> Option<Vec<Condition>> {
    let desired = desired_export_conditions(&export.name_any(), validity, resolution);
    let current: Vec<Condition> = export
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let generation = export.metadata.generation;
    if conditions::up_to_date(&current, &desired, generation) {
        return None;
    }
    Some(
        conditions::merge(&current, &desired, generation, now)
            .into_iter()
            .filter(|c| desired.iter().any(|d| d.type_ == c.type_))
            .collect(),
    )
}

/// `Valid`, `Ready` and `Conflict` of an export named `name`.
fn desired_export_conditions(
    name: &str,
    validity: Validity,
    resolution: &Resolution,
) -> [DesiredCondition; 3] {
    let valid = match validity {
        Validity::Valid => DesiredCondition::new(
            condition::VALID,
            "True",
            condition::valid::VALID,
            "the Service exists and can be exported",
        ),
        Validity::NoService => DesiredCondition::new(
            condition::VALID,
            "False",
            condition::valid::NO_SERVICE,
            format!("no Service named {name} in this namespace; create it or delete this export"),
        ),
        Validity::InvalidServiceType => DesiredCondition::new(
            condition::VALID,
            "False",
            condition::valid::INVALID_SERVICE_TYPE,
            "ExternalName Services cannot be exported",
        ),
    };
    let ready = match validity {
        Validity::Valid => DesiredCondition::new(
            condition::READY,
            "True",
            condition::ready::EXPORTED,
            "exported to the clusterset",
        ),
        Validity::NoService => DesiredCondition::new(
            condition::READY,
            "False",
            condition::ready::PENDING,
            "waiting for the Service",
        ),
        Validity::InvalidServiceType => DesiredCondition::new(
            condition::READY,
            "False",
            condition::ready::FAILED,
            "not exported: the Service type cannot be exported",
        ),
    };
    let conflict = if validity == Validity::Valid {
        DesiredCondition {
            type_: condition::CONFLICT,
            status: resolution.conflicts.status(),
            reason: resolution.conflicts.reason(),
            message: resolution.conflicts.message.clone(),
        }
    } else {
        DesiredCondition::new(
            condition::CONFLICT,
            "False",
            condition::conflict::NO_CONFLICTS,
            "",
        )
    };
    [valid, ready, conflict]
}

/// Whether the sync wrote `import` (it carries [`LABEL_SYNCED`]`=true`).
pub fn synced(import: &ServiceImport) -> bool {
    import.labels().get(LABEL_SYNCED).map(String::as_str) == Some("true")
}
