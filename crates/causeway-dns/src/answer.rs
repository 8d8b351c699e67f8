//! The pure answer function: `(index snapshot, query name, query type, zone) → response`.
//!
//! Data flows: the server decodes a request and calls [`answer`] with a read-locked [`Index`];
//! `name` classifies the query name into a `name::Node` of the zone (apex, `dns-version`,
//! service, SRV port name, per-pod name, …) or a reverse name; `service` and `reverse` build
//! the records for that node from the index; this module filters them by query type and picks
//! the response code (NXDOMAIN vs NODATA with the SOA in the authority section, REFUSED outside
//! the zone). The result is plain data ([`Answer`] of [`Rr`]s) that the server encodes; nothing
//! here does I/O, takes locks or knows about the wire format.
//!
//! Choices beyond mcs-spec.md §6 (all documented on the items that implement them):
//! - names outside the zone get `REFUSED` (we are authoritative for the zone only);
//! - `<clusterid>.<svc>.<ns>.svc.<zone>` is `NXDOMAIN` for every type, even though
//!   `<hostname>.<clusterid>.…` names exist below it (spec §6.3 wins over RFC 8020);
//! - reverse names answer `PTR` only for a known `ClusterSet` VIP; any other reverse name gets
//!   `REFUSED`, because this server is not authoritative for `in-addr.arpa`/`ip6.arpa`;
//! - only ready endpoints (an absent `ready` condition counts as ready) are published, in the
//!   headless A/AAAA answers, the per-pod names and the SRV records alike.

use crate::error::{Error, Result};
use crate::index::Index;

mod name;
mod records;
mod reverse;
mod service;
#[cfg(test)]
mod tests;

pub use records::{RecordData, Rr};

/// Default zone.
pub const DEFAULT_ZONE: &str = "clusterset.local";
/// Default TTL of every record, in seconds.
pub const DEFAULT_TTL: u32 = 5;
/// Schema version served at `dns-version.<zone>`.
pub const DNS_SCHEMA_VERSION: &str = "1.0.0";

/// The zone served and the TTL of its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// Lower-case zone name without the trailing dot.
    name: String,
    ttl: u32,
}

impl Default for Zone {
    fn default() -> Self {
        Self {
            name: DEFAULT_ZONE.to_owned(),
            ttl: DEFAULT_TTL,
        }
    }
}

impl Zone {
    /// A zone; `name` may carry a trailing dot and any case.
    pub fn new(name: &str, ttl: u32) -> Result<Self> {
        let trimmed = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let valid = !trimmed.is_empty()
            && trimmed.len() <= 253
            && trimmed.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err(Error::InvalidZone {
                zone: name.to_owned(),
            });
        }
        Ok(Self { name: trimmed, ttl })
    }

    /// Zone name, lower case, without trailing dot.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// TTL of every record.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// The zone apex as an absolute name (`clusterset.local.`).
    pub fn apex(&self) -> String {
        format!("{}.", self.name)
    }

    /// The name server name published in SOA and NS (`ns.dns.<zone>.`).
    pub fn ns_name(&self) -> String {
        format!("ns.dns.{}.", self.name)
    }
}

/// Query types the answer function distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Service locator.
    Srv,
    /// Text.
    Txt,
    /// Pointer (reverse lookups).
    Ptr,
    /// Start of authority.
    Soa,
    /// Name server.
    Ns,
    /// `ANY` (`*`): every record of the name.
    Any,
    /// Zone transfers and other meta queries this server does not implement.
    Meta(u16),
    /// Any other data type: always NODATA on an existing name.
    Other(u16),
}

impl From<u16> for QueryType {
    fn from(code: u16) -> Self {
        match code {
            1 => Self::A,
            28 => Self::Aaaa,
            33 => Self::Srv,
            16 => Self::Txt,
            12 => Self::Ptr,
            6 => Self::Soa,
            2 => Self::Ns,
            255 => Self::Any,
            // OPT, IXFR, AXFR, MAILB, MAILA and the TSIG/TKEY meta types.
            41 | 249..=254 => Self::Meta(code),
            other => Self::Other(other),
        }
    }
}

impl QueryType {
    /// Whether records of `data`'s type answer this query type.
    fn wants(self, data: &RecordData) -> bool {
        matches!(
            (self, data),
            (Self::Any, _)
                | (Self::A, RecordData::A(_))
                | (Self::Aaaa, RecordData::Aaaa(_))
                | (Self::Srv, RecordData::Srv { .. })
                | (Self::Txt, RecordData::Txt(_))
                | (Self::Ptr, RecordData::Ptr(_))
                | (Self::Soa, RecordData::Soa { .. })
                | (Self::Ns, RecordData::Ns(_))
        )
    }

    /// Whether the query type asks for any of `types` (lets builders skip unwanted records).
    fn wants_any_of(self, types: &[Self]) -> bool {
        self == Self::Any || types.contains(&self)
    }
}

/// Response codes the answer function produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rcode {
    /// Success, possibly with an empty answer (NODATA).
    NoError,
    /// The name does not exist.
    NxDomain,
    /// Not our zone.
    Refused,
    /// Query type not implemented (zone transfers, meta types).
    NotImp,
    /// Malformed question.
    FormErr,
    /// The zone is not loaded yet: the initial lists are not in the index.
    ServFail,
}

/// A response description, ready to be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Response code.
    pub rcode: Rcode,
    /// Whether the AA bit is set (every in-zone response).
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<Rr>,
    /// Authority section: the zone SOA on NXDOMAIN and NODATA.
    pub authority: Vec<Rr>,
    /// Additional section: addresses of SRV targets.
    pub additionals: Vec<Rr>,
}

impl Answer {
    /// A response with only a code.
    pub fn code(rcode: Rcode) -> Self {
        Self {
            rcode,
            authoritative: false,
            answers: Vec::new(),
            authority: Vec::new(),
            additionals: Vec::new(),
        }
    }

    fn negative(rcode: Rcode, zone: &Zone, index: &Index) -> Self {
        Self {
            rcode,
            authoritative: true,
            answers: Vec::new(),
            authority: vec![records::soa(zone, index.revision())],
            additionals: Vec::new(),
        }
    }
}

/// The records a node holds, before filtering by query type.
#[derive(Debug, Default)]
pub(crate) struct NodeRecords {
    pub(crate) answers: Vec<Rr>,
    pub(crate) additionals: Vec<Rr>,
}

/// Answers one question of class IN from `index` for `zone`.
///
/// `qname` may carry a trailing dot and any letter case; answer owner names repeat it exactly
/// (with a trailing dot added), records' targets are written as stored.
pub fn answer(index: &Index, qname: &str, qtype: QueryType, zone: &Zone) -> Answer {
    let Some(query) = name::QueryName::parse(qname) else {
        return Answer::code(Rcode::FormErr);
    };
    if let Some(ip) = query.reverse_ip() {
        return reverse::answer(index, &query, ip, qtype, zone);
    }
    let Some(node) = query.node_in(zone) else {
        return Answer::code(Rcode::Refused);
    };
    if let QueryType::Meta(code) = qtype {
        return Answer::code(if code == 41 {
            Rcode::FormErr
        } else {
            Rcode::NotImp
        });
    }
    let Some(mut found) = service::records(index, &node, &query, qtype, zone) else {
        return Answer::negative(Rcode::NxDomain, zone, index);
    };
    // A record whose names cannot be wire names (e.g. an SRV target over 253 characters built
    // from long pod, cluster, service and namespace names) cannot be sent; without any left the
    // name is NODATA for this type.
    found
        .answers
        .retain(|rr| qtype.wants(&rr.data) && rr.encodable());
    found.additionals.retain(Rr::encodable);
    dedup(&mut found.answers);
    if found.answers.is_empty() {
        return Answer::negative(Rcode::NoError, zone, index);
    }
    if qtype == QueryType::Srv || qtype == QueryType::Any {
        dedup(&mut found.additionals);
        found.additionals.retain(|rr| !found.answers.contains(rr));
    } else {
        found.additionals.clear();
    }
    Answer {
        rcode: Rcode::NoError,
        authoritative: true,
        answers: found.answers,
        authority: Vec::new(),
        additionals: found.additionals,
    }
}

/// The answer while the zone is not loaded (before the index has synced): `SERVFAIL` for every
/// name this server would answer for (the zone and the reverse names of `ClusterSet` IPs),
/// otherwise what [`answer`] says without looking at the index (`FORMERR`, `REFUSED`).
pub fn not_loaded(qname: &str, zone: &Zone) -> Answer {
    let Some(query) = name::QueryName::parse(qname) else {
        return Answer::code(Rcode::FormErr);
    };
    if query.reverse_ip().is_none() && query.node_in(zone).is_none() {
        return Answer::code(Rcode::Refused);
    }
    Answer::code(Rcode::ServFail)
}

/// The zone's SOA record, as NXDOMAIN and NODATA answers carry it.
pub fn soa(index: &Index, zone: &Zone) -> Rr {
    records::soa(zone, index.revision())
}

/// Removes repeated records, keeping the first occurrence (identical RRs are returned once).
fn dedup(records: &mut Vec<Rr>) {
    let mut seen = std::collections::HashSet::new();
    records.retain(|rr| seen.insert(rr.clone()));
}
