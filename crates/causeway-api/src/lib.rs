//! causeway's wire contract: the MCS API kinds (`ServiceExport`, `ServiceImport`), the About API
//! kind (`ClusterProperty`), causeway's own `ClusterSetMember` (a peer's reachability, next to its
//! peer Secret), and the well-known labels, annotations and condition reasons.
//!
//! Data flows one way: each upstream kind is declared once per API version by a macro in its
//! module, so `v1alpha1` and `v1beta1` carry identical schemas (causeway's own kind has only
//! `v1alpha1`); [`crds`] merges the versions into the
//! `apiextensions.k8s.io/v1` CustomResourceDefinitions that `causeway crds` prints and that are
//! committed under `charts/causeway/crds/` (and rendered to `deploy/crds/`). Every other crate reads and writes these types only.

pub mod cluster_property;
pub mod clusterset_member;
pub mod crds;
pub mod names;
pub mod service_export;
pub mod service_import;

pub use cluster_property::v1beta1::{ClusterProperty, ClusterPropertySpec};
pub use clusterset_member::{ClusterSetMember, ClusterSetMemberSpec, ClusterSetMemberStatus};
pub use crds::{all_crds, crds_yaml};
pub use service_export::v1beta1::{ServiceExport, ServiceExportSpec, ServiceExportStatus};
pub use service_import::v1beta1::{
    ClusterStatus, ServiceImport, ServiceImportSpec, ServiceImportStatus, ServiceImportType,
    ServicePort,
};

/// `metav1.Condition`, as used in every status of these kinds.
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
