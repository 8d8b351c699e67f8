//! `causeway controller`, import side: every `ClusterSetIP` ServiceImport gets a derived Service
//! whose cluster IP is the ClusterSet VIP, and every MCS EndpointSlice of the import is routed to
//! it by kube-proxy.
//!
//! Data flow: one label-selected reflector each for ServiceImports, derived Services and MCS
//! EndpointSlices keeps warm caches on every replica ([`mod@run`]). The [`imports`] reconciler
//! reads an import and the cached Service and slices, asks `causeway-core` for the desired state
//! and writes only differences, with server-side apply as `causeway-controller`, and only while
//! this replica holds the Lease. [`orphans`] removes what causeway added to hand-made slices once
//! their import is gone. [`sync`] turns ServiceExports in every member cluster into this
//! cluster's ServiceImports and MCS EndpointSlices. Both write only through a [`writer::Writer`],
//! which checks leadership before every request. [`metrics`] counts reconciles, errors and API
//! writes.

pub mod args;
pub mod context;
pub mod error;
pub mod imports;
pub mod metrics;
pub mod orphans;
pub mod run;
pub mod slice_index;
pub mod sync;
pub mod trim;
pub mod writer;

pub use args::ControllerArgs;
pub use error::{Error, Result};
pub use run::run;
