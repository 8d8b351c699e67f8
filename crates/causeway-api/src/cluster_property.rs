//! `ClusterProperty` (`about.k8s.io`, cluster-scoped): one named fact about this cluster, such as
//! its clusterset id (`cluster.clusterset.k8s.io`). Declared for `v1alpha1` and `v1beta1`.

/// Declares the ClusterProperty types for one API version.
macro_rules! cluster_property_version {
    ($version:literal) => {
        use kube::CustomResource;
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};

        /// The property's value.
        #[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
        #[kube(
            group = "about.k8s.io",
            version = $version,
            kind = "ClusterProperty",
            plural = "clusterproperties",
            singular = "clusterproperty",
            category = "multicluster",
            status = "ClusterPropertyStatus",
            doc = "ClusterProperty is a cluster-scoped name/value fact about this cluster (KEP-2149), e.g. `cluster.clusterset.k8s.io` (this cluster's id) and `clusterset.k8s.io` (the clusterset it belongs to).",
            printcolumn = r#"{"name":"value","type":"string","jsonPath":".spec.value"}"#,
            printcolumn = r#"{"name":"age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
            derive = "PartialEq",
            derive = "Default"
        )]
        pub struct ClusterPropertySpec {
            /// The value of the property (at least one character).
            #[schemars(length(min = 1))]
            pub value: String,
        }

        /// ClusterProperty status: empty by definition.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
        pub struct ClusterPropertyStatus {}
    };
}

/// `about.k8s.io/v1alpha1`: served, not stored.
pub mod v1alpha1 {
    cluster_property_version!("v1alpha1");
}

/// `about.k8s.io/v1beta1`: served and stored.
pub mod v1beta1 {
    cluster_property_version!("v1beta1");
}
