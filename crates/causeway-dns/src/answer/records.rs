//! Plain resource records ([`Rr`]) produced by the answer function, and constructors for the
//! zone's fixed records (SOA, NS, the `dns-version` TXT). Names are absolute presentation-form
//! strings (with the trailing dot); the server turns them into wire names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{DNS_SCHEMA_VERSION, Zone};

/// SOA refresh, in seconds.
const SOA_REFRESH: i32 = 7200;
/// SOA retry, in seconds.
const SOA_RETRY: i32 = 1800;
/// SOA expire, in seconds.
const SOA_EXPIRE: i32 = 86400;
/// SRV priority of every record (not prescribed by the spec).
pub(crate) const SRV_PRIORITY: u16 = 0;
/// SRV weight of every record (not prescribed by the spec).
pub(crate) const SRV_WEIGHT: u16 = 100;

/// One resource record of class IN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rr {
    /// Absolute owner name, with trailing dot.
    pub name: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Type and data.
    pub data: RecordData,
}

/// Type and data of a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Service locator (RFC 2782 field order).
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port number.
        port: u16,
        /// Absolute target name.
        target: String,
    },
    /// One text string.
    Txt(String),
    /// Pointer to an absolute name.
    Ptr(String),
    /// Name server.
    Ns(String),
    /// Start of authority.
    Soa {
        /// Primary name server.
        mname: String,
        /// Responsible mailbox, as a name.
        rname: String,
        /// Serial (the index revision).
        serial: u32,
        /// Refresh interval.
        refresh: i32,
        /// Retry interval.
        retry: i32,
        /// Expiry.
        expire: i32,
        /// Negative-caching TTL (the zone TTL).
        minimum: u32,
    },
}

impl Rr {
    /// Whether every name in the record (owner and targets) can be a wire name: at most 253
    /// characters without the trailing dot, labels of 1 to 63 octets.
    pub fn encodable(&self) -> bool {
        let targets: &[&str] = match &self.data {
            RecordData::Srv { target, .. } | RecordData::Ptr(target) | RecordData::Ns(target) => {
                &[target.as_str()]
            }
            RecordData::Soa { mname, rname, .. } => &[mname.as_str(), rname.as_str()],
            RecordData::A(_) | RecordData::Aaaa(_) | RecordData::Txt(_) => &[],
        };
        wire_name(&self.name) && targets.iter().all(|t| wire_name(t))
    }

    /// A record with `ttl`.
    pub fn new(name: impl Into<String>, ttl: u32, data: RecordData) -> Self {
        Self {
            name: name.into(),
            ttl,
            data,
        }
    }

    /// An A or AAAA record, by the family of `ip`.
    pub fn address(name: impl Into<String>, ttl: u32, ip: IpAddr) -> Self {
        let data = match ip {
            IpAddr::V4(v4) => RecordData::A(v4),
            IpAddr::V6(v6) => RecordData::Aaaa(v6),
        };
        Self::new(name, ttl, data)
    }

    /// An SRV record with the fixed priority and weight.
    pub fn srv(name: impl Into<String>, ttl: u32, port: u16, target: impl Into<String>) -> Self {
        Self::new(
            name,
            ttl,
            RecordData::Srv {
                priority: SRV_PRIORITY,
                weight: SRV_WEIGHT,
                port,
                target: target.into(),
            },
        )
    }
}

/// The zone's SOA record at the apex.
pub(crate) fn soa(zone: &Zone, serial: u32) -> Rr {
    Rr::new(
        zone.apex(),
        zone.ttl(),
        RecordData::Soa {
            mname: zone.ns_name(),
            rname: format!("hostmaster.{}", zone.apex()),
            serial,
            refresh: SOA_REFRESH,
            retry: SOA_RETRY,
            expire: SOA_EXPIRE,
            minimum: zone.ttl(),
        },
    )
}

/// The zone's NS record at the apex.
pub(crate) fn ns(zone: &Zone) -> Rr {
    Rr::new(zone.apex(), zone.ttl(), RecordData::Ns(zone.ns_name()))
}

/// The `dns-version.<zone>` TXT record.
pub(crate) fn version(owner: &str, zone: &Zone) -> Rr {
    Rr::new(
        owner,
        zone.ttl(),
        RecordData::Txt(DNS_SCHEMA_VERSION.to_owned()),
    )
}

/// Whether an absolute presentation name fits the wire limits (253 characters without the
/// trailing dot, labels of 1 to 63 octets).
fn wire_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.is_empty() || (name.len() <= 253 && name.split('.').all(|l| (1..=63).contains(&l.len())))
}
