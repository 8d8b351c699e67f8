//! Cross-cluster sync (KEP-1645's mcs-controller), without a hub: every member cluster runs it,
//! reads every peer read-only and writes only into its own cluster.
//!
//! Data flow: [`members`] turns the peer Secrets into clients and [`peers`] keeps one member per
//! Secret, connecting in the background and retrying with back-off; [`cluster::ClusterWatch`] keeps
//! label-selected caches of each member's ServiceExports, Services and EndpointSlices (the local
//! cluster included) and its health, and [`local`] this cluster's imports, MCS slices and
//! namespaces. On any change the [`engine`] loop runs a pass: [`plan`] recomputes the clusterset
//! view with `causeway-core::clusterset` (deterministic, so all members agree) and lists, without
//! I/O, only the difference: ServiceImports, `status.clusters`, per-source-cluster MCS
//! EndpointSlices and the local ServiceExports' conditions ([`memo`] skips unchanged services);
//! [`execute`] writes that plan through the leader-gated `crate::writer::Writer`, which sends
//! nothing once this replica has lost the Lease. Only members of the same clusterset take part
//! ([`membership`]: ClusterProperty `clusterset.k8s.io` equal to this cluster's, a cluster id no
//! other member has); without a `clusterset.k8s.io` of its own this cluster syncs with no peer.
//! Nothing is deleted on partial information: a member that has not synced yet, or failed less
//! than `--peer-grace` ago, keeps its previous contribution ([`hold`]), while what no member
//! holds goes at once.
//! Failures are classified ([`failure`]) into the `Reachable` reason of the member's
//! `ClusterSetMember`, whose `Reachable`/`Stale` conditions [`member_conditions`] computes and
//! [`member_status`] writes (lease holder only, only on change); connection failures also raise a
//! `MemberUnavailable` Event on the Secret ([`events`]).

pub mod cluster;
pub mod engine;
pub mod events;
pub mod execute;
pub mod failure;
#[cfg(test)]
pub mod fixtures;
pub mod hold;
pub mod identity;
pub mod local;
pub mod member_conditions;
pub mod member_status;
pub mod members;
pub mod membership;
pub mod memo;
pub mod patches;
pub mod peers;
pub mod plan;
pub mod received;
