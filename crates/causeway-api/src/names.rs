//! Well-known names from mcs-spec.md §2-§3 and §7, in one place: groups, labels, annotations,
//! condition types and reasons, and causeway's own field managers.

/// API group of `ServiceExport` and `ServiceImport`.
pub const MCS_GROUP: &str = "multicluster.x-k8s.io";
/// API group of `ClusterProperty`.
pub const ABOUT_GROUP: &str = "about.k8s.io";
/// The mcs-api release our CRDs are equivalent to.
pub const MCS_RELEASE_VERSION: &str = "v0.5.0";
/// Schema revision within [`MCS_RELEASE_VERSION`].
pub const MCS_CRD_SCHEMA_REVISION: &str = "0";

/// CRD label: mcs-api release that produced the CRD.
pub const LABEL_RELEASE_VERSION: &str = "multicluster.x-k8s.io/release-version";
/// CRD label: schema revision within the release.
pub const LABEL_CRD_SCHEMA_REVISION: &str = "multicluster.x-k8s.io/crd-schema-revision";

/// MCS EndpointSlice label: the ServiceImport the slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "multicluster.kubernetes.io/service-name";
/// MCS EndpointSlice label: cluster id of the exporting cluster.
pub const LABEL_SOURCE_CLUSTER: &str = "multicluster.kubernetes.io/source-cluster";
/// EndpointSlice label naming the controller that manages it.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// Core EndpointSlice label read by kube-proxy.
pub const LABEL_K8S_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Value of [`LABEL_MANAGED_BY`] on slices causeway writes.
pub const MANAGED_BY_CAUSEWAY: &str = "causeway.multicluster.x-k8s.io";
/// Value of [`LABEL_MANAGED_BY`] the kube-controller-manager writes (never ours).
pub const MANAGED_BY_K8S: &str = "endpointslice-controller.k8s.io";

/// ServiceImport annotation: name of the derived Service.
pub const ANNOTATION_DERIVED_SERVICE: &str = "multicluster.kubernetes.io/derived-service";
/// Annotation causeway puts on a hand-made MCS slice when it added `kubernetes.io/service-name`,
/// so that only what causeway added is removed again.
pub const ANNOTATION_ADDED_SERVICE_NAME: &str = "causeway.multicluster.x-k8s.io/added-service-name";

/// Label on a derived Service naming its ServiceImport, so causeway watches only its own
/// Services.
pub const LABEL_DERIVED_FROM: &str = "causeway.multicluster.x-k8s.io/service-import";
/// Finalizer on ServiceImports: undo what causeway added to hand-made EndpointSlices.
pub const FINALIZER_IMPORT: &str = "causeway.multicluster.x-k8s.io/import-cleanup";

/// ClusterProperty holding this cluster's id.
pub const PROPERTY_CLUSTER_ID: &str = "cluster.clusterset.k8s.io";
/// Former name of [`PROPERTY_CLUSTER_ID`], read for migration only.
pub const PROPERTY_CLUSTER_ID_LEGACY: &str = "id.k8s.io";
/// ClusterProperty holding the clusterset membership.
pub const PROPERTY_CLUSTERSET: &str = "clusterset.k8s.io";

/// Field manager of `causeway controller`.
pub const FIELD_MANAGER_CONTROLLER: &str = "causeway-controller";
/// Field manager of the controller's cross-cluster sync (ServiceImport spec, `status.clusters`,
/// MCS slices, ServiceExport conditions); distinct from [`FIELD_MANAGER_CONTROLLER`] so neither
/// drops the other's fields.
pub const FIELD_MANAGER_SYNC: &str = "causeway-sync";
/// Label on ServiceImports and EndpointSlices the sync writes: only these does it delete.
pub const LABEL_SYNCED: &str = "causeway.multicluster.x-k8s.io/synced";
/// Label on Secrets (in the members namespace) that hold a peer cluster's kubeconfig.
pub const LABEL_PEER: &str = "causeway.multicluster.x-k8s.io/peer";
/// Key of the kubeconfig in a peer Secret.
pub const PEER_SECRET_KEY: &str = "kubeconfig";

/// Field manager of the user verbs of the `causeway` CLI.
pub const FIELD_MANAGER_CLI: &str = "causeway-cli";

/// Field manager of `causeway dns`: its Lease and the `DnsResolvable` condition on
/// ServiceImports (an entry of the `type`-keyed `status.conditions`, so the controller's `Ready`
/// under [`FIELD_MANAGER_CONTROLLER`] is kept).
pub const FIELD_MANAGER_DNS: &str = "causeway-dns";

/// Condition types and reasons (mcs-spec.md §2).
pub mod condition {
    /// ServiceExport condition: the local Service exists and can be exported.
    pub const VALID: &str = "Valid";
    /// Condition type `Ready` (both kinds).
    pub const READY: &str = "Ready";
    /// ServiceExport condition: exports of the service disagree.
    pub const CONFLICT: &str = "Conflict";
    /// ServiceImport condition (causeway's, written by `causeway dns`): the import's
    /// `<svc>.<ns>.svc.<zone>` name is answered.
    pub const DNS_RESOLVABLE: &str = "DnsResolvable";

    /// Reasons of the ServiceImport `DnsResolvable` condition.
    pub mod dns_resolvable {
        /// The name is in the DNS index and answers A and/or AAAA.
        pub const SERVED: &str = "Served";
        /// The name exists but has no address yet: a ClusterSetIP import without `spec.ips`, or
        /// a Headless import without ready endpoints.
        pub const NO_ADDRESSES: &str = "NoAddresses";
        /// The import has addresses but its name cannot be answered (not a valid DNS name).
        pub const INVALID_NAME: &str = "InvalidName";
    }

    /// Reasons of the ServiceExport `Valid` condition.
    pub mod valid {
        /// The Service exists and its type can be exported.
        pub const VALID: &str = "Valid";
        /// No Service with the export's name exists.
        pub const NO_SERVICE: &str = "NoService";
        /// The Service type cannot be exported (`ExternalName`).
        pub const INVALID_SERVICE_TYPE: &str = "InvalidServiceType";
    }

    /// Reasons of the `Ready` conditions.
    pub mod ready {
        /// ServiceExport: the export reached the clusterset (push model).
        pub const EXPORTED: &str = "Exported";
        /// ServiceImport: programmed and usable; ServiceExport: ready to be pulled.
        pub const READY: &str = "Ready";
        /// Still being set up, or not yet evaluated.
        pub const PENDING: &str = "Pending";
        /// ServiceExport: export failed.
        pub const FAILED: &str = "Failed";
        /// ServiceImport: its IP families cannot be served here.
        pub const IP_FAMILY_NOT_SUPPORTED: &str = "IPFamilyNotSupported";
    }

    /// Reasons of the ServiceExport `Conflict` condition, in the order mcs-spec.md §2.1 lists them
    /// (which is the order they are joined in).
    pub mod conflict {
        /// Port definitions differ.
        pub const PORT: &str = "PortConflict";
        /// Headless and non-headless exports are mixed.
        pub const TYPE: &str = "TypeConflict";
        /// `sessionAffinity` differs.
        pub const SESSION_AFFINITY: &str = "SessionAffinityConflict";
        /// `sessionAffinityConfig` differs.
        pub const SESSION_AFFINITY_CONFIG: &str = "SessionAffinityConfigConflict";
        /// `exportedLabels` differ.
        pub const LABELS: &str = "LabelsConflict";
        /// `exportedAnnotations` differ.
        pub const ANNOTATIONS: &str = "AnnotationsConflict";
        /// `internalTrafficPolicy` differs.
        pub const INTERNAL_TRAFFIC_POLICY: &str = "InternalTrafficPolicyConflict";
        /// `trafficDistribution` differs.
        pub const TRAFFIC_DISTRIBUTION: &str = "TrafficDistributionConflict";
        /// IP families differ.
        pub const IP_FAMILY: &str = "IPFamilyConflict";
        /// All exports agree.
        pub const NO_CONFLICTS: &str = "NoConflicts";
    }
}
