//! The `DnsResolvable` condition: tells consumers of a `ServiceImport` that causeway dns actually
//! answers its `<svc>.<ns>.svc.<zone>` name, so nobody has to poll DNS to find out.
//!
//! Data flows: the index (fed by the watches) → [`evaluate`] asks the pure
//! [`answer()`](crate::answer()) function exactly what a client would ask (`A` and `AAAA` of the
//! name) and turns the result into a [`DesiredCondition`] (`True`/`Served`, or `False` with
//! `NoAddresses` or `InvalidName`) → [`to_write`] compares it with the condition the object
//! carries ([`ImportStatus`]) and yields a condition only when status, reason, message or
//! observed generation differ (keeping `lastTransitionTime` while the status is unchanged) →
//! [`writer`] server-side applies it onto the status subresource under the field manager
//! `causeway-dns`. `status.conditions` is a map-list keyed by `type`, so the controller's `Ready`
//! (field manager `causeway-controller`) and this condition never remove each other.
//!
//! Only the replica holding the Lease writes; every replica serves. The condition follows the
//! writing replica's index, which the other replicas track within their watch latency.

use causeway_api::Condition;
use causeway_api::names::condition::{self, dns_resolvable};
use causeway_core::conditions::{self, DesiredCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use crate::answer::{QueryType, Rcode, Zone, answer};
use crate::index::{ImportStatus, ImportType, Index};

#[cfg(test)]
mod tests;
pub mod writer;

pub use writer::{POLL, Writer};

/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// The service's name in `zone`, without the trailing dot.
pub fn service_name(namespace: &str, name: &str, zone: &Zone) -> String {
    format!("{name}.{namespace}.svc.{}", zone.name())
}

/// What the `DnsResolvable` condition of the import `namespace/name` should say according to
/// `index`; `None` when the import is not indexed (deleted: nothing to write).
pub fn evaluate(
    index: &Index,
    zone: &Zone,
    namespace: &str,
    name: &str,
) -> Option<DesiredCondition> {
    let service = index.service(namespace, name)?;
    let fqdn = service_name(namespace, name, zone);
    let has_addresses = match service.import.type_ {
        ImportType::ClusterSetIp => !service.import.vips.is_empty(),
        ImportType::Headless => service.ready_endpoints().next().is_some(),
    };
    // A name with a dot would be read as a deeper name (e.g. a per-pod name of another
    // service), so only single labels can be answered as this service.
    let labels_ok = [namespace, name]
        .iter()
        .all(|l| !l.is_empty() && l.len() <= MAX_LABEL && !l.contains('.'));
    let families: Vec<&str> = if labels_ok {
        [(QueryType::A, "A"), (QueryType::Aaaa, "AAAA")]
            .into_iter()
            .filter(|(qtype, _)| {
                let found = answer(index, &format!("{fqdn}."), *qtype, zone);
                found.rcode == Rcode::NoError && !found.answers.is_empty()
            })
            .map(|(_, label)| label)
            .collect()
    } else {
        Vec::new()
    };
    let (status, reason, message) = if !families.is_empty() {
        (
            "True",
            dns_resolvable::SERVED,
            format!("{fqdn} answers {}", families.join(" and ")),
        )
    } else if has_addresses {
        (
            "False",
            dns_resolvable::INVALID_NAME,
            format!("{fqdn} is not a name DNS can answer (every part must be one DNS label)"),
        )
    } else {
        let why = match service.import.type_ {
            ImportType::ClusterSetIp => {
                "the ServiceImport has no ClusterSet IP in spec.ips yet (the controller sets it)"
            }
            ImportType::Headless => "no cluster has a ready endpoint for this headless service",
        };
        (
            "False",
            dns_resolvable::NO_ADDRESSES,
            format!("{fqdn} has no address: {why}"),
        )
    };
    Some(DesiredCondition::new(
        condition::DNS_RESOLVABLE,
        status,
        reason,
        message,
    ))
}

/// The condition to apply, or `None` when `observed` already carries `desired` for the same
/// generation. The `lastTransitionTime` is kept while the status does not change, else `now`.
pub fn to_write(
    observed: Option<&ImportStatus>,
    desired: &DesiredCondition,
    now: &Time,
) -> Option<Condition> {
    let generation = observed.and_then(|s| s.generation);
    let current: Vec<Condition> = observed
        .and_then(|s| s.dns_resolvable.clone())
        .into_iter()
        .collect();
    let desired = std::slice::from_ref(desired);
    if conditions::up_to_date(&current, desired, generation) {
        return None;
    }
    conditions::merge(&current, desired, generation, now)
        .into_iter()
        .find(|c| c.type_ == condition::DNS_RESOLVABLE)
}

/// Whether `a` and `b` say the same (ignoring `lastTransitionTime`).
pub fn same(a: &Condition, b: &Condition) -> bool {
    a.type_ == b.type_
        && a.status == b.status
        && a.reason == b.reason
        && a.message == b.message
        && a.observed_generation == b.observed_generation
}

/// The server-side apply body that sets exactly this one condition on a `ServiceImport`'s status.
pub fn patch(condition: &Condition) -> Value {
    json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "status": { "conditions": [condition] },
    })
}
