//! Reverse lookups (`PTR`) for `ClusterSet` VIPs.
//!
//! mcs-spec.md §6.2 does not require PTR records. This server is not authoritative for
//! `in-addr.arpa`/`ip6.arpa`, so it answers a reverse name only when the address is the VIP of
//! an imported `ClusterSetIP` service (PTR to `<svc>.<ns>.svc.<zone>.`, AA set); other types at
//! such a name get NOERROR with no records and no SOA (there is no reverse zone to cite). Every
//! other reverse name is `REFUSED`, so a resolver falls back to the real reverse zone instead of
//! caching a false NXDOMAIN.

use std::net::IpAddr;

use super::name::QueryName;
use super::records::{RecordData, Rr};
use super::{Answer, QueryType, Rcode, Zone, dedup};
use crate::index::Index;

/// Answers a complete reverse name for `ip`.
pub(super) fn answer(
    index: &Index,
    query: &QueryName,
    ip: IpAddr,
    qtype: QueryType,
    zone: &Zone,
) -> Answer {
    let mut answers: Vec<Rr> = index
        .services_with_vip(ip)
        .map(|svc| {
            Rr::new(
                query.owner.as_str(),
                zone.ttl(),
                RecordData::Ptr(format!(
                    "{}.{}.svc.{}.",
                    svc.name,
                    svc.namespace,
                    zone.name()
                )),
            )
        })
        .collect();
    if answers.is_empty() {
        return Answer::code(Rcode::Refused);
    }
    if let QueryType::Meta(_) = qtype {
        return Answer::code(Rcode::NotImp);
    }
    answers.retain(|rr| qtype.wants(&rr.data));
    dedup(&mut answers);
    Answer {
        rcode: Rcode::NoError,
        authoritative: true,
        answers,
        authority: Vec::new(),
        additionals: Vec::new(),
    }
}
