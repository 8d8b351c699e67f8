//! The real dataplane: rtnetlink for neighbours, FDB entries and routes; nft or iptables-legacy
//! for the NAT exemption ([`crate::firewall`] detects which).
//!
//! Reads dump the kernel tables and keep only what netpeer may see (see [`Dataplane`]). Writes use
//! `NLM_F_REPLACE`, so re-applying is harmless; removals tolerate entries that are already gone.
//! [`NetlinkDataplane::onlink_subnets`] reads the node's link-scope routes for `DirectRouting`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric,
    RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::error::{Error, Result};
use crate::firewall::{self, Tools};
use crate::link::{FLANNEL_VXLAN_PORT, PathMtu, VxlanLink};
use crate::mac::MacAddr;
use crate::plan::Plan;
use crate::state::{FdbEntry, Neighbour, NetState, Ownership, ROUTE_PROTOCOL, Route};

use super::Dataplane;

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const ENODEV: i32 = 19;
const ENETUNREACH: i32 = 101;
const EHOSTUNREACH: i32 = 113;

/// rtnetlink + nft dataplane for the network namespace it was created in.
#[derive(Clone, Debug)]
pub struct NetlinkDataplane {
    handle: Handle,
    manage_nat: bool,
    tools: Tools,
}

impl NetlinkDataplane {
    /// Opens a netlink socket in the current thread's network namespace and spawns its
    /// connection task on the current tokio runtime.
    pub fn connect() -> Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(Error::NetlinkSocket)?;
        tokio::spawn(connection);
        Ok(Self {
            handle,
            manage_nat: true,
            tools: Tools::from_env(),
        })
    }

    /// Leaves the NAT table alone (reads report none, NAT changes are skipped).
    #[must_use]
    pub fn without_nat(mut self) -> Self {
        self.manage_nat = false;
        self
    }

    async fn link_index(&self, name: &str) -> Result<Option<u32>> {
        Ok(self.link_by_name(name).await?.map(|l| l.header.index))
    }

    async fn link_by_name(&self, name: &str) -> Result<Option<LinkMessage>> {
        let found = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_next()
            .await;
        match found {
            Ok(link) => Ok(link),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code().abs() == ENODEV => Ok(None),
            Err(source) => Err(netlink_err(format!("get link {name}"), source)),
        }
    }

    async fn read_vxlan_link(&self, device: &str) -> Result<VxlanLink> {
        let link = self
            .link_by_name(device)
            .await?
            .ok_or_else(|| Error::LinkNotFound {
                name: device.to_owned(),
            })?;
        Ok(vxlan_link(device, &link))
    }

    async fn route_mtu(&self, dst: Ipv4Addr) -> Result<Option<PathMtu>> {
        let found = self
            .handle
            .route()
            .get(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .destination_prefix(dst, 32)
                    .build(),
            )
            .execute()
            .try_next()
            .await;
        let route = match found {
            Ok(Some(route)) => route,
            Ok(None) => return Ok(None),
            Err(rtnetlink::Error::NetlinkError(e))
                if matches!(e.raw_code().abs(), ENETUNREACH | EHOSTUNREACH) =>
            {
                return Ok(None);
            }
            Err(source) => return Err(netlink_err(format!("get route to {dst}"), source)),
        };
        let mut oif = None;
        let mut metric_mtu = None;
        for attr in &route.attributes {
            match attr {
                RouteAttribute::Oif(i) => oif = Some(*i),
                RouteAttribute::Metrics(metrics) => {
                    metric_mtu = metrics.iter().find_map(|m| match m {
                        RouteMetric::Mtu(mtu) if *mtu > 0 => Some(*mtu),
                        _ => None,
                    });
                }
                _ => {}
            }
        }
        let Some(oif) = oif else {
            return Ok(None);
        };
        let link = self
            .handle
            .link()
            .get()
            .match_index(oif)
            .execute()
            .try_next()
            .await
            .map_err(|e| netlink_err(format!("get link {oif}"), e))?;
        let Some(link) = link else {
            return Ok(None);
        };
        let (name, link_mtu) = name_and_mtu(&link);
        Ok(Some(PathMtu {
            device: name.unwrap_or_else(|| oif.to_string()),
            mtu: metric_mtu.unwrap_or(link_mtu),
        }))
    }

    /// The node's on-link IPv4 subnets: main-table unicast routes of scope `link` without a
    /// gateway, except those on `vxlan_device`. A peer whose public IP lies in one is reached
    /// without a router, which is flannel's test for `DirectRouting` (`ip route get` has no
    /// gateway), read once instead of per peer.
    pub async fn onlink_subnets(&self, vxlan_device: &str) -> Result<Vec<Ipv4Net>> {
        let exclude = self.link_index(vxlan_device).await?;
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(|e| netlink_err("dump routes".to_owned(), e))?;
        let mut subnets: Vec<Ipv4Net> = routes.iter().filter_map(|r| onlink(r, exclude)).collect();
        subnets.sort();
        subnets.dedup();
        Ok(subnets)
    }

    async fn link_names(&self) -> Result<HashMap<u32, String>> {
        let links: Vec<_> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| netlink_err("dump links".to_owned(), e))?;
        Ok(links
            .into_iter()
            .filter_map(|l| {
                l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some((l.header.index, n.clone())),
                    _ => None,
                })
            })
            .collect())
    }

    async fn read_state(&self, scope: &Ownership) -> Result<NetState> {
        let device = &scope.vxlan_device;
        let index = self
            .link_index(device)
            .await?
            .ok_or_else(|| Error::LinkNotFound {
                name: device.clone(),
            })?;
        let mut state = NetState::default();

        let neighbours: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet)
            .execute()
            .try_collect()
            .await
            .map_err(|e| netlink_err("dump neighbours".to_owned(), e))?;
        for msg in neighbours.iter().filter(|m| m.header.ifindex == index) {
            if msg.header.state != NeighbourState::Permanent {
                continue;
            }
            if let (Some(IpAddr::V4(ip)), Some(mac)) = (neigh_dst(msg), neigh_mac(msg)) {
                state.neighbours.insert(Neighbour {
                    device: device.clone(),
                    ip,
                    mac,
                });
            }
        }

        let fdb: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute()
            .try_collect()
            .await
            .map_err(|e| netlink_err("dump fdb".to_owned(), e))?;
        for msg in fdb.iter().filter(|m| m.header.ifindex == index) {
            if msg.header.state != NeighbourState::Permanent {
                continue;
            }
            if let (Some(IpAddr::V4(dst)), Some(mac)) = (neigh_dst(msg), neigh_mac(msg))
                && mac.is_unicast()
            {
                state.fdb.insert(FdbEntry {
                    device: device.clone(),
                    mac,
                    dst,
                });
            }
        }

        let names = self.link_names().await?;
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(|e| netlink_err("dump routes".to_owned(), e))?;
        for msg in &routes {
            if let Some(route) = parse_route(msg, &names) {
                state.routes.insert(route);
            } else if let Some((dst, text)) = foreign_route(msg, &names, &scope.peer_cluster_cidrs)
            {
                state.foreign_routes.insert(dst, text);
            }
        }

        if self.manage_nat {
            let found = firewall::read(self.tools, &scope.local_cluster_cidrs).await?;
            state.nat = found.rules;
            state.nat_backend = found.backend;
            state.nat_leftover = found.leftover;
        }
        Ok(state)
    }

    async fn apply_plan(&self, plan: &Plan) -> Result<()> {
        let mut links = Links::default();
        self.apply_writes(plan, &mut links).await?;
        if self.manage_nat {
            for (backend, change) in &plan.nat {
                firewall::apply(self.tools, *backend, change).await?;
            }
        }
        self.apply_removals(plan, &mut links).await
    }

    /// Neighbour → FDB → route, all `NLM_F_REPLACE`.
    async fn apply_writes(&self, plan: &Plan, links: &mut Links) -> Result<()> {
        for n in plan.neighbours.writes() {
            let index = links
                .index(self, &n.device)
                .await?
                .ok_or_else(|| Error::LinkNotFound {
                    name: n.device.clone(),
                })?;
            self.handle
                .neighbours()
                .add(index, IpAddr::V4(n.ip))
                .link_layer_address(&n.mac.octets())
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(|e| netlink_err(format!("replace neighbour {n}"), e))?;
        }
        for e in plan.fdb.writes() {
            let index = links
                .index(self, &e.device)
                .await?
                .ok_or_else(|| Error::LinkNotFound {
                    name: e.device.clone(),
                })?;
            self.handle
                .neighbours()
                .add_bridge(index, &e.mac.octets())
                .destination(IpAddr::V4(e.dst))
                .flags(NeighbourFlags::Own)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(|err| netlink_err(format!("replace fdb {e}"), err))?;
        }
        for r in plan.routes.writes() {
            let index = match &r.device {
                Some(d) => Some(
                    links
                        .index(self, d)
                        .await?
                        .ok_or_else(|| Error::LinkNotFound { name: d.clone() })?,
                ),
                None => None,
            };
            self.handle
                .route()
                .add(route_message(r, index))
                .replace()
                .execute()
                .await
                .map_err(|e| netlink_err(format!("replace route {r}"), e))?;
        }
        Ok(())
    }

    /// Route → FDB → neighbour; entries already gone (or gone with their device) are fine.
    async fn apply_removals(&self, plan: &Plan, links: &mut Links) -> Result<()> {
        for r in &plan.routes.remove {
            let index = match &r.device {
                Some(d) => links.index(self, d).await?,
                None => None,
            };
            let result = self
                .handle
                .route()
                .del(route_message(r, index))
                .execute()
                .await;
            tolerate_missing(result).map_err(|e| netlink_err(format!("delete route {r}"), e))?;
        }
        for e in &plan.fdb.remove {
            let Some(index) = links.index(self, &e.device).await? else {
                continue;
            };
            let result = self
                .handle
                .neighbours()
                .del(fdb_message(e, index))
                .execute()
                .await;
            tolerate_missing(result).map_err(|err| netlink_err(format!("delete fdb {e}"), err))?;
        }
        for n in &plan.neighbours.remove {
            let Some(index) = links.index(self, &n.device).await? else {
                continue;
            };
            let result = self
                .handle
                .neighbours()
                .del(neigh_message(n, index))
                .execute()
                .await;
            tolerate_missing(result)
                .map_err(|e| netlink_err(format!("delete neighbour {n}"), e))?;
        }
        Ok(())
    }
}

/// Device name → index, looked up once per apply.
#[derive(Default)]
struct Links(HashMap<String, Option<u32>>);

impl Links {
    async fn index(&mut self, dp: &NetlinkDataplane, name: &str) -> Result<Option<u32>> {
        if let Some(i) = self.0.get(name) {
            return Ok(*i);
        }
        let i = dp.link_index(name).await?;
        self.0.insert(name.to_owned(), i);
        Ok(i)
    }
}

impl Dataplane for NetlinkDataplane {
    fn read(&mut self, scope: &Ownership) -> impl Future<Output = Result<NetState>> + Send {
        let this = self.clone();
        let scope = scope.clone();
        async move { this.read_state(&scope).await }
    }

    fn apply(&mut self, plan: &Plan) -> impl Future<Output = Result<()>> + Send {
        let this = self.clone();
        let plan = plan.clone();
        async move { this.apply_plan(&plan).await }
    }

    fn vxlan_link(&mut self, device: &str) -> impl Future<Output = Result<VxlanLink>> + Send {
        let this = self.clone();
        let device = device.to_owned();
        async move { this.read_vxlan_link(&device).await }
    }

    fn path_mtu(&mut self, dst: Ipv4Addr) -> impl Future<Output = Result<Option<PathMtu>>> + Send {
        let this = self.clone();
        async move { this.route_mtu(dst).await }
    }
}

fn name_and_mtu(link: &LinkMessage) -> (Option<String>, u32) {
    let mut name = None;
    let mut mtu = 0;
    for attr in &link.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => mtu = *m,
            _ => {}
        }
    }
    (name, mtu)
}

/// `device`'s VNI (if it is a VXLAN device), UDP port and MTU.
fn vxlan_link(device: &str, link: &LinkMessage) -> VxlanLink {
    let (_, mtu) = name_and_mtu(link);
    let mut vni = None;
    // The kernel always reports the port; 8472 is its default if it ever did not.
    let mut port = FLANNEL_VXLAN_PORT;
    for attr in &link.attributes {
        let LinkAttribute::LinkInfo(infos) = attr else {
            continue;
        };
        for info in infos {
            let LinkInfo::Data(InfoData::Vxlan(data)) = info else {
                continue;
            };
            for d in data {
                match d {
                    InfoVxlan::Id(id) => vni = Some(*id),
                    InfoVxlan::Port(p) => port = *p,
                    _ => {}
                }
            }
        }
    }
    VxlanLink {
        name: device.to_owned(),
        vni,
        port,
        mtu,
    }
}

/// The destination of an on-link route (see [`NetlinkDataplane::onlink_subnets`]).
fn onlink(msg: &RouteMessage, exclude_oif: Option<u32>) -> Option<Ipv4Net> {
    if msg.header.address_family != AddressFamily::Inet
        || msg.header.scope != RouteScope::Link
        || msg.header.kind != RouteType::Unicast
    {
        return None;
    }
    let mut table = u32::from(msg.header.table);
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut oif = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = *a,
            RouteAttribute::Gateway(_) | RouteAttribute::Via(_) => return None,
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) || oif.is_none() || oif == exclude_oif {
        return None;
    }
    Ipv4Net::new(dst, msg.header.destination_prefix_length).ok()
}

fn netlink_err(operation: String, source: rtnetlink::Error) -> Error {
    Error::Netlink {
        operation,
        source: Box::new(source),
    }
}

fn tolerate_missing(result: Result<(), rtnetlink::Error>) -> Result<(), rtnetlink::Error> {
    match result {
        Err(rtnetlink::Error::NetlinkError(e))
            if matches!(e.raw_code().abs(), ENOENT | ESRCH | ENODEV) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn neigh_dst(msg: &NeighbourMessage) -> Option<IpAddr> {
    msg.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
        // AF_BRIDGE (FDB) messages: the family says nothing about NDA_DST, so it stays raw.
        NeighbourAttribute::Destination(NeighbourAddress::Other(raw)) => match raw.len() {
            4 => <[u8; 4]>::try_from(raw.as_slice()).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(raw.as_slice()).ok().map(IpAddr::from),
            _ => None,
        },
        _ => None,
    })
}

fn neigh_mac(msg: &NeighbourMessage) -> Option<MacAddr> {
    msg.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(bytes) => MacAddr::from_slice(bytes),
        _ => None,
    })
}

/// A main-table IPv4 route with causeway's protocol, as a [`Route`].
fn parse_route(msg: &RouteMessage, names: &HashMap<u32, String>) -> Option<Route> {
    if msg.header.protocol != RouteProtocol::Other(ROUTE_PROTOCOL)
        || msg.header.address_family != AddressFamily::Inet
    {
        return None;
    }
    let mut table = u32::from(msg.header.table);
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut via = None;
    let mut device = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = *a,
            RouteAttribute::Gateway(RouteAddress::Inet(a)) => via = Some(*a),
            RouteAttribute::Oif(i) => device = names.get(i).cloned(),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    Some(Route {
        dst: Ipv4Net::new(dst, msg.header.destination_prefix_length).ok()?,
        via: via?,
        device,
        onlink: msg.header.flags.contains(RouteFlags::Onlink),
    })
}

/// A main-table IPv4 unicast route into `peer_cidrs` that is not causeway's, with its `ip route`
/// text (destination, gateway, device, `onlink`, protocol, metric).
fn foreign_route(
    msg: &RouteMessage,
    names: &HashMap<u32, String>,
    peer_cidrs: &[Ipv4Net],
) -> Option<(Ipv4Net, String)> {
    if msg.header.protocol == RouteProtocol::Other(ROUTE_PROTOCOL)
        || msg.header.address_family != AddressFamily::Inet
        || msg.header.kind != RouteType::Unicast
    {
        return None;
    }
    let mut table = u32::from(msg.header.table);
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut via = None;
    let mut device = None;
    let mut metric = 0;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = *a,
            RouteAttribute::Gateway(RouteAddress::Inet(a)) => via = Some(*a),
            RouteAttribute::Oif(i) => device = names.get(i).cloned(),
            RouteAttribute::Priority(p) => metric = *p,
            _ => {}
        }
    }
    let dst = Ipv4Net::new(dst, msg.header.destination_prefix_length).ok()?;
    if table != u32::from(RouteHeader::RT_TABLE_MAIN)
        || !peer_cidrs.iter().any(|c| c.contains(&dst))
    {
        return None;
    }
    let mut text = dst.to_string();
    if let Some(via) = via {
        let _ = write!(text, " via {via}");
    }
    if let Some(device) = device {
        let _ = write!(text, " dev {device}");
    }
    if msg.header.flags.contains(RouteFlags::Onlink) {
        text.push_str(" onlink");
    }
    let proto = match msg.header.protocol {
        RouteProtocol::Kernel => "kernel".to_owned(),
        RouteProtocol::Boot => "boot".to_owned(),
        RouteProtocol::Static => "static".to_owned(),
        RouteProtocol::Dhcp => "dhcp".to_owned(),
        other => u8::from(other).to_string(),
    };
    let _ = write!(text, " proto {proto}");
    if metric != 0 {
        let _ = write!(text, " metric {metric}");
    }
    Some((dst, text))
}

fn route_message(route: &Route, index: Option<u32>) -> RouteMessage {
    let mut builder = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(route.dst.network(), route.dst.prefix_len())
        .gateway(route.via)
        .protocol(RouteProtocol::Other(ROUTE_PROTOCOL));
    if let Some(index) = index {
        builder = builder.output_interface(index);
    }
    if route.onlink {
        builder = builder.onlink();
    }
    builder.build()
}

fn fdb_message(entry: &FdbEntry, index: u32) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Bridge;
    msg.header.ifindex = index;
    msg.header.state = NeighbourState::Permanent;
    msg.header.flags = NeighbourFlags::Own;
    msg.attributes.push(NeighbourAttribute::LinkLayerAddress(
        entry.mac.octets().to_vec(),
    ));
    msg.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            entry.dst,
        )));
    msg
}

fn neigh_message(n: &Neighbour, index: u32) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.ifindex = index;
    msg.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            n.ip,
        )));
    msg
}
