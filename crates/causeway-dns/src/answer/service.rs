//! Records of the forward zone: for a classified [`Node`], the records it holds (of every type
//! the query type may want), or `None` when the name does not exist.
//!
//! `ClusterSetIP` services publish their VIPs and one SRV per port targeting the service name;
//! headless services publish the addresses of their ready endpoints, one per-pod name per
//! endpoint (`<hostname>.<clusterid>.…`, dashed IP when there is no hostname) and SRV records
//! targeting those per-pod names with the slices' port numbers. SRV answers carry the targets'
//! addresses as additionals.

use std::net::IpAddr;

use super::name::{Node, QueryName, dashed_ip};
use super::records::{self, Rr};
use super::{NodeRecords, QueryType, Zone};
use crate::index::{EndpointData, ImportType, Index, PortData, ServiceView, SliceData};

/// The records at `node`, or `None` if the name does not exist.
pub(super) fn records(
    index: &Index,
    node: &Node<'_>,
    query: &QueryName,
    qtype: QueryType,
    zone: &Zone,
) -> Option<NodeRecords> {
    let owner = query.owner.as_str();
    match *node {
        Node::Apex => {
            let mut soa = records::soa(zone, index.revision());
            let mut ns = records::ns(zone);
            owner.clone_into(&mut soa.name);
            owner.clone_into(&mut ns.name);
            Some(answers(vec![soa, ns]))
        }
        Node::Version => Some(answers(vec![records::version(owner, zone)])),
        Node::DnsParent | Node::NsHost => Some(NodeRecords::default()),
        Node::Svc => (!index.is_empty()).then(NodeRecords::default),
        Node::Namespace { ns } => index.has_namespace(ns).then(NodeRecords::default),
        Node::Service { ns, svc } => {
            let ctx = Ctx::new(index.service(ns, svc)?, owner, qtype, zone)?;
            Some(ctx.service())
        }
        Node::Proto { ns, svc, proto } => {
            let ctx = Ctx::new(index.service(ns, svc)?, owner, qtype, zone)?;
            ctx.has_proto(proto).then(NodeRecords::default)
        }
        Node::PortSrv {
            ns,
            svc,
            port,
            proto,
        } => {
            let ctx = Ctx::new(index.service(ns, svc)?, owner, qtype, zone)?;
            let found = ctx.port_srv(port, proto);
            (!found.answers.is_empty()).then_some(found)
        }
        Node::Pod {
            ns,
            svc,
            cluster,
            host,
        } => {
            let ctx = Ctx::new(index.service(ns, svc)?, owner, qtype, zone)?;
            let found = ctx.pod(cluster, host);
            (!found.answers.is_empty()).then_some(found)
        }
        Node::Cluster | Node::Unknown => None,
    }
}

fn answers(answers: Vec<Rr>) -> NodeRecords {
    NodeRecords {
        answers,
        additionals: Vec::new(),
    }
}

/// One per-pod name of an endpoint with the addresses it resolves to.
struct PodName<'a> {
    host: String,
    cluster: &'a str,
    addresses: Vec<IpAddr>,
}

/// The per-pod names of a ready endpoint: its hostname with all its addresses, or one dashed
/// name per address when it has no hostname.
fn pod_names<'a>(slice: &'a SliceData, ep: &EndpointData) -> Vec<PodName<'a>> {
    match &ep.hostname {
        Some(host) => vec![PodName {
            host: host.to_ascii_lowercase(),
            cluster: &slice.cluster,
            addresses: ep.addresses.clone(),
        }],
        None => ep
            .addresses
            .iter()
            .map(|ip| PodName {
                host: dashed_ip(*ip),
                cluster: &slice.cluster,
                addresses: vec![*ip],
            })
            .collect(),
    }
}

/// Whether `port` is named `name` (lower-case, without `_`) with protocol `proto`.
fn port_matches(port: &PortData, name: &str, proto: &str) -> bool {
    port.name
        .as_deref()
        .is_some_and(|n| n.eq_ignore_ascii_case(name))
        && port.protocol.eq_ignore_ascii_case(proto)
}

/// An existing service being answered for.
struct Ctx<'a> {
    view: ServiceView<'a>,
    owner: &'a str,
    qtype: QueryType,
    ttl: u32,
    /// `<svc>.<ns>.svc.<zone>.` as stored.
    fqdn: String,
}

impl<'a> Ctx<'a> {
    /// `None` when the service has no name: a headless service without ready endpoints.
    fn new(view: ServiceView<'a>, owner: &'a str, qtype: QueryType, zone: &Zone) -> Option<Self> {
        if view.import.type_ == ImportType::Headless && view.ready_endpoints().next().is_none() {
            return None;
        }
        Some(Self {
            fqdn: format!("{}.{}.svc.{}.", view.name, view.namespace, zone.name()),
            view,
            owner,
            qtype,
            ttl: zone.ttl(),
        })
    }

    fn headless(&self) -> bool {
        self.view.import.type_ == ImportType::Headless
    }

    fn pod_fqdn(&self, pod: &PodName<'_>) -> String {
        format!("{}.{}.{}", pod.host, pod.cluster, self.fqdn)
    }

    /// Pods of every ready endpoint with the ports of their slice.
    fn pods(&self) -> impl Iterator<Item = (PodName<'a>, &'a [PortData])> + 'a {
        self.view.ready_endpoints().flat_map(|(slice, ep)| {
            pod_names(slice, ep)
                .into_iter()
                .map(move |pod| (pod, slice.ports.as_slice()))
        })
    }

    /// `<svc>.<ns>.svc.<zone>`: addresses and bare-name SRV (one per port, named or not).
    fn service(&self) -> NodeRecords {
        let mut out = NodeRecords::default();
        let want_addr = self.qtype.wants_any_of(&[QueryType::A, QueryType::Aaaa]);
        let want_srv = self.qtype.wants_any_of(&[QueryType::Srv]);
        if self.headless() {
            if want_addr {
                for (_, ep) in self.view.ready_endpoints() {
                    for ip in &ep.addresses {
                        out.answers.push(Rr::address(self.owner, self.ttl, *ip));
                    }
                }
            }
            if want_srv {
                for (pod, ports) in self.pods() {
                    self.pod_srv(&mut out, &pod, ports.iter());
                }
            }
        } else {
            if want_addr {
                for vip in &self.view.import.vips {
                    out.answers.push(Rr::address(self.owner, self.ttl, *vip));
                }
            }
            if want_srv {
                self.vip_srv(&mut out, self.view.import.ports.iter());
            }
        }
        out
    }

    /// Whether `_<proto>.<svc>…` has SRV names below it.
    fn has_proto(&self, proto: &str) -> bool {
        let named = |p: &PortData| p.name.is_some() && p.protocol.eq_ignore_ascii_case(proto);
        if self.headless() {
            self.pods().any(|(_, ports)| ports.iter().any(named))
        } else {
            self.view.import.ports.iter().any(named)
        }
    }

    /// `_<port>._<proto>.<svc>…`: SRV per matching named port.
    fn port_srv(&self, port: &str, proto: &str) -> NodeRecords {
        let mut out = NodeRecords::default();
        // Existence does not depend on the query type, so the SRV records are always built.
        if self.headless() {
            for (pod, ports) in self.pods() {
                let matching = ports.iter().filter(|p| port_matches(p, port, proto));
                self.pod_srv(&mut out, &pod, matching);
            }
        } else {
            let matching = self
                .view
                .import
                .ports
                .iter()
                .filter(|p| port_matches(p, port, proto));
            self.vip_srv(&mut out, matching);
        }
        // Records of other types never live here; the caller filters by type.
        out
    }

    /// `<hostname>.<clusterid>.<svc>…`: addresses of the ready endpoints with that name.
    fn pod(&self, cluster: &str, host: &str) -> NodeRecords {
        let mut out = NodeRecords::default();
        if !self.headless() {
            return out;
        }
        for (pod, _) in self.pods() {
            if pod.cluster.eq_ignore_ascii_case(cluster) && pod.host == host {
                for ip in pod.addresses {
                    out.answers.push(Rr::address(self.owner, self.ttl, ip));
                }
            }
        }
        out
    }

    fn vip_srv<'p>(&self, out: &mut NodeRecords, ports: impl Iterator<Item = &'p PortData>) {
        let mut any = false;
        for port in ports {
            any = true;
            out.answers
                .push(Rr::srv(self.owner, self.ttl, port.port, self.fqdn.as_str()));
        }
        if any {
            for vip in &self.view.import.vips {
                out.additionals
                    .push(Rr::address(self.fqdn.as_str(), self.ttl, *vip));
            }
        }
    }

    fn pod_srv<'p>(
        &self,
        out: &mut NodeRecords,
        pod: &PodName<'_>,
        ports: impl Iterator<Item = &'p PortData>,
    ) {
        let target = self.pod_fqdn(pod);
        let mut any = false;
        for port in ports {
            any = true;
            out.answers
                .push(Rr::srv(self.owner, self.ttl, port.port, target.as_str()));
        }
        if any {
            for ip in &pod.addresses {
                out.additionals
                    .push(Rr::address(target.as_str(), self.ttl, *ip));
            }
        }
    }
}
