//! The I/O edge: a [`Dataplane`] reads the actual [`NetState`] and applies a [`Plan`].
//!
//! [`NetlinkDataplane`] talks rtnetlink (neighbours, FDB, routes) and nft (NAT table);
//! [`FakeDataplane`] keeps everything in memory for unit tests. Reads return only what the
//! [`Ownership`] scope can see: permanent neighbours and FDB entries on the VXLAN device, routes
//! with causeway's protocol, and causeway's NAT table. The diff decides what is owned.

use std::future::Future;

use crate::error::Result;
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
}
