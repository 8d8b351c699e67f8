//! The I/O edge: a [`Dataplane`] reads the actual [`NetState`] and applies a [`Plan`].
//!
//! [`NetlinkDataplane`] talks rtnetlink (neighbours, FDB, routes) and nft (NAT table);
//! [`FakeDataplane`] keeps everything in memory for unit tests. Reads return only what the
//! [`Ownership`] scope can see: permanent neighbours and FDB entries on the VXLAN device, routes
//! with causeway's protocol, and causeway's NAT table. The diff decides what is owned. Two small
//! lookups serve [`crate::link`]: the VXLAN device's settings and the route to a peer.

use std::future::Future;
use std::net::Ipv4Addr;

use crate::error::Result;
use crate::link::{PathMtu, VxlanLink};
use crate::plan::Plan;
use crate::state::{NetState, Ownership};

mod fake;
mod netlink;

pub use fake::FakeDataplane;
pub use netlink::NetlinkDataplane;

/// Reads and writes the node's routing state.
pub trait Dataplane {
    /// Reads the actual state visible under `scope`.
    fn read(&mut self, scope: &Ownership) -> impl Future<Output = Result<NetState>> + Send;

    /// Applies `plan`: writes neighbour → FDB → route (replace semantics), then NAT, then removals
    /// route → FDB → neighbour. Stops at the first error; the next reconcile finishes the job.
    fn apply(&mut self, plan: &Plan) -> impl Future<Output = Result<()>> + Send;

    /// Reads the VXLAN device's VNI, UDP port and MTU ([`Error::LinkNotFound`] when missing).
    ///
    /// [`Error::LinkNotFound`]: crate::Error::LinkNotFound
    fn vxlan_link(&mut self, device: &str) -> impl Future<Output = Result<VxlanLink>> + Send;

    /// The route to `dst` (`ip route get`): outgoing device and MTU; `None` when unreachable.
    fn path_mtu(&mut self, dst: Ipv4Addr) -> impl Future<Output = Result<Option<PathMtu>>> + Send;
}
