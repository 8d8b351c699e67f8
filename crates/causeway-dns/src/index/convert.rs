//! Pure conversions from the kube types the feed watches into the index's plain data.
//!
//! Anything DNS cannot use is dropped here, so the rest of the crate never sees it: unparsable
//! IPs, out-of-range ports, FQDN slices, and slices without the MCS labels.

use std::net::IpAddr;

use causeway_api::names::{LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER, condition};
use causeway_api::{ServiceImport, ServiceImportType, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};

use super::model::{
    AddressType, EndpointData, ImportData, ImportStatus, ImportType, PortData, SliceData,
};

impl PortData {
    /// Reads a `ServiceImport` port; `None` when the number is out of range. An absent protocol
    /// means `TCP`.
    pub fn from_service_port(port: &ServicePort) -> Option<Self> {
        let number = u16::try_from(port.port).ok().filter(|p| *p != 0)?;
        Some(Self::new(
            port.name.as_deref(),
            port.protocol.as_deref().unwrap_or("TCP"),
            number,
        ))
    }
}

impl From<&ServiceImport> for ImportData {
    fn from(import: &ServiceImport) -> Self {
        let spec = &import.spec;
        let type_ = match spec.type_ {
            ServiceImportType::ClusterSetIP => ImportType::ClusterSetIp,
            ServiceImportType::Headless => ImportType::Headless,
        };
        let vips = match type_ {
            ImportType::ClusterSetIp => spec
                .ips
                .iter()
                .flatten()
                .filter_map(|ip| ip.parse::<IpAddr>().ok())
                .collect(),
            ImportType::Headless => Vec::new(),
        };
        let ports = spec
            .ports
            .iter()
            .filter_map(PortData::from_service_port)
            .collect();
        Self { type_, vips, ports }
    }
}

impl From<&ServiceImport> for ImportStatus {
    fn from(import: &ServiceImport) -> Self {
        Self {
            generation: import.metadata.generation,
            dns_resolvable: import
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == condition::DNS_RESOLVABLE))
                .cloned(),
        }
    }
}

impl SliceData {
    /// Reads an MCS `EndpointSlice`. Returns `None` for a slice DNS cannot serve: one without the
    /// `multicluster.kubernetes.io/service-name` or `…/source-cluster` label, or of address type
    /// `FQDN`.
    pub fn from_endpoint_slice(slice: &EndpointSlice) -> Option<Self> {
        let labels = slice.metadata.labels.as_ref()?;
        let service = labels.get(LABEL_SERVICE_NAME).filter(|s| !s.is_empty())?;
        let cluster = labels.get(LABEL_SOURCE_CLUSTER).filter(|s| !s.is_empty())?;
        let address_type = match slice.address_type.as_str() {
            "IPv4" => AddressType::Ipv4,
            "IPv6" => AddressType::Ipv6,
            _ => return None,
        };
        let endpoints = slice
            .endpoints
            .iter()
            .filter_map(|ep| endpoint(ep, address_type))
            .collect();
        let ports = slice.ports.iter().flatten().filter_map(port).collect();
        Some(Self {
            service: service.clone(),
            cluster: cluster.clone(),
            address_type,
            endpoints,
            ports,
        })
    }
}

fn endpoint(ep: &Endpoint, family: AddressType) -> Option<EndpointData> {
    let addresses: Vec<IpAddr> = ep
        .addresses
        .iter()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .filter(|ip| family.matches(*ip))
        .collect();
    if addresses.is_empty() {
        return None;
    }
    let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
    Some(EndpointData {
        addresses,
        hostname: ep.hostname.clone().filter(|h| !h.is_empty()),
        ready,
    })
}

fn port(port: &EndpointPort) -> Option<PortData> {
    // A slice port without a number means "all ports"; DNS has nothing to publish for it.
    let number = u16::try_from(port.port?).ok().filter(|p| *p != 0)?;
    Some(PortData::new(
        port.name.as_deref(),
        port.protocol.as_deref().unwrap_or("TCP"),
        number,
    ))
}
