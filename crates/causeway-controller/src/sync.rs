//! Cross-cluster sync (KEP-1645's mcs-controller), without a hub: every member cluster runs it,
//! reads every peer read-only and writes only into its own cluster.
//!
//! Data flow: [`members`] turns the peer Secrets into clients; [`cluster::ClusterWatch`] keeps
//! label-selected caches of each member's ServiceExports, Services and EndpointSlices (the local
//! cluster included) and its health; on any change [`engine`] recomputes the clusterset view with
//! `causeway-core::clusterset` (deterministic, so all members agree) and writes only the
//! difference: ServiceImports, `status.clusters`, per-source-cluster MCS EndpointSlices and the
//! local ServiceExports' conditions. Nothing is deleted on partial information: a member that has
//! not synced yet, or failed less than `--peer-grace` ago, keeps its previous contribution.

pub mod cluster;
pub mod engine;
pub mod identity;
pub mod members;
