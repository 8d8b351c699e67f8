//! causeway-netpeer: the node agent that keeps cross-cluster pod routing for flannel VXLAN
//! clusters.
//!
//! Data flow, one reconcile:
//!
//! 1. [`peer`]: peer-cluster `Node`s (or a seed `ConfigMap` via [`oneshot`]) → validated
//!    [`PeerNode`]s; bad Nodes are rejected with an error naming them and the fix.
//! 2. [`desired`]: local config + peers → desired [`NetState`] (neighbour, FDB entry and onlink
//!    route per peer node on `flannel.1`, or a plain route with `DirectRouting`) + NAT exemptions.
//! 3. [`link`]: the local VXLAN device's VNI and UDP port must match the peers' (checked before
//!    anything is written); [`Dataplane::read`]: the kernel → actual [`NetState`] (only what
//!    netpeer may see).
//! 4. [`mod@diff`]: desired + actual + [`Ownership`] → [`Plan`], touching only causeway's objects
//!    (routes with protocol [`ROUTE_PROTOCOL`], neighbours in the peer cluster CIDR on the VXLAN
//!    device, their FDB entries, the `ip causeway-netpeer` nft table or, where flannel masquerades
//!    with iptables-legacy, the `CAUSEWAY-NETPEER` legacy chain: [`firewall`] detects which).
//! 5. [`Dataplane::apply`]: the plan → netlink messages and one nft batch or legacy restore.
//!
//! [`reconcile`] runs 3–5; [`watch`] re-runs it when `flannel.1` is recreated (backing off and
//! logging each distinct failure once); [`health`] turns rejected peers and reconcile outcomes
//! into metrics and readiness (`/readyz` false while a node configuration error persists).
//! A foreign route at a destination causeway adds (the seed's `create-routes.sh`) is adopted
//! with a warning. [`agent`] feeds
//! step 1 from a watch on the peer cluster's Nodes through the [`index`]; [`check`] reports per
//! peer node what is in place. [`link::mtu_warnings`] flags VXLAN peers whose route cannot carry
//! `flannel.1`'s MTU plus the VXLAN overhead (a warning; nothing is refused).

pub mod agent;
pub mod check;
pub mod dataplane;
pub mod desired;
pub mod diff;
pub mod error;
pub mod firewall;
pub mod health;
pub mod index;
pub mod iptables;
pub mod link;
pub mod mac;
pub mod nat;
pub mod oneshot;
pub mod peer;
pub mod plan;
pub mod reconcile;
pub mod state;
pub mod watch;

pub use dataplane::{Dataplane, FakeDataplane, NetlinkDataplane};
pub use desired::{Desired, LocalConfig, desired_state};
pub use diff::diff;
pub use error::{Error, Result};
pub use ipnet;
pub use mac::MacAddr;
pub use peer::{ParsedPeers, PeerNode, parse_peers};
pub use plan::Plan;
pub use reconcile::{cleanup, reconcile_once};
pub use state::{NetState, Ownership, ROUTE_PROTOCOL};
