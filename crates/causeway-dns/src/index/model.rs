//! Plain data stored in the index: what the DNS answers need from a `ServiceImport`
//! ([`ImportData`]) and from an MCS `EndpointSlice` ([`SliceData`]), nothing more; plus what the
//! `DnsResolvable` writer needs to know of an import's status ([`ImportStatus`]), which never
//! affects an answer.

use std::net::IpAddr;

use causeway_api::Condition;

/// How a clusterset service is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImportType {
    /// Served through the VIPs in [`ImportData::vips`].
    #[default]
    ClusterSetIp,
    /// Served through DNS to the ready endpoint addresses.
    Headless,
}

/// One port of a service or of a slice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortData {
    /// Port name; unnamed ports get no `_<port>._<proto>` SRV record.
    pub name: Option<String>,
    /// Protocol in upper case as Kubernetes spells it (`TCP`, `UDP`, `SCTP`).
    pub protocol: String,
    /// Port number.
    pub port: u16,
}

impl PortData {
    /// A port; `protocol` is upper-cased.
    pub fn new(name: Option<&str>, protocol: &str, port: u16) -> Self {
        Self {
            name: name.filter(|n| !n.is_empty()).map(str::to_owned),
            protocol: protocol.to_ascii_uppercase(),
            port,
        }
    }
}

/// What the DNS server needs from one `ServiceImport`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportData {
    /// `ClusterSetIP` or `Headless`.
    pub type_: ImportType,
    /// `ClusterSet` VIPs (both families for dual-stack); empty for headless imports.
    pub vips: Vec<IpAddr>,
    /// Ports of the service.
    pub ports: Vec<PortData>,
}

/// Address family of an `EndpointSlice`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressType {
    /// `IPv4` addresses.
    Ipv4,
    /// `IPv6` addresses.
    Ipv6,
}

impl AddressType {
    /// Whether `ip` belongs to this family.
    pub fn matches(self, ip: IpAddr) -> bool {
        matches!(
            (self, ip),
            (Self::Ipv4, IpAddr::V4(_)) | (Self::Ipv6, IpAddr::V6(_))
        )
    }
}

/// One endpoint of a slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointData {
    /// Addresses of the endpoint, all of the slice's family.
    pub addresses: Vec<IpAddr>,
    /// The endpoint's `hostname`; when absent DNS uses the dashed IP.
    pub hostname: Option<String>,
    /// The `ready` condition (an absent condition counts as ready, as Kubernetes specifies).
    pub ready: bool,
}

/// What the DNS server needs from one MCS `EndpointSlice`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceData {
    /// The `ServiceImport` the slice belongs to (`multicluster.kubernetes.io/service-name`).
    pub service: String,
    /// Cluster id of the exporting cluster (`multicluster.kubernetes.io/source-cluster`).
    pub cluster: String,
    /// Address family of the slice.
    pub address_type: AddressType,
    /// Endpoints of the slice.
    pub endpoints: Vec<EndpointData>,
    /// Ports the endpoints listen on.
    pub ports: Vec<PortData>,
}

/// What a `ServiceImport` says about itself that the `DnsResolvable` writer compares against: its
/// generation and the `DnsResolvable` condition it carries (if any). Kept apart from
/// [`ImportData`] so that a status write never changes the DNS data or the SOA serial.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportStatus {
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The `DnsResolvable` entry of `status.conditions`.
    pub dns_resolvable: Option<Condition>,
}
