//! `ServiceImport` (`multicluster.x-k8s.io`): the clusterset view of a service in one cluster.
//!
//! Declared once by `service_import_version!` for `v1alpha1` and `v1beta1`, field for field as
//! mcs-api v0.5.0 (mcs-spec.md §1.6). `spec.ports` is always serialized, never `null`.

/// Declares the ServiceImport types for one API version.
macro_rules! service_import_version {
    ($version:literal) => {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
        use kube::CustomResource;
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};

        /// Desired state of a ServiceImport: what the clusterset service looks like.
        #[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
        #[kube(
            group = "multicluster.x-k8s.io",
            version = $version,
            kind = "ServiceImport",
            plural = "serviceimports",
            singular = "serviceimport",
            shortname = "svcim",
            shortname = "svcimport",
            namespaced,
            status = "ServiceImportStatus",
            doc = "ServiceImport is the clusterset view of a service in this cluster: the merged ports, type and VIPs of every cluster's export of the same name and namespace. The mcs-controller writes it; users do not.",
            printcolumn = r#"{"name":"Type","type":"string","description":"The type of this ServiceImport.","jsonPath":".spec.type"}"#,
            printcolumn = r#"{"name":"IP","type":"string","description":"The (first) VIP for this ServiceImport.","jsonPath":".spec.ips[0]"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","description":"Whether the import is usable in this cluster (condition Ready).","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"First-Cluster","type":"string","priority":1,"description":"The first exporting cluster; .status.clusters lists them all (a printer column cannot count them).","jsonPath":".status.clusters[0].cluster"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
            derive = "PartialEq",
            derive = "Default"
        )]
        #[serde(rename_all = "camelCase")]
        pub struct ServiceImportSpec {
            /// Ports of the clusterset service.
            #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
            pub ports: Vec<ServicePort>,
            /// VIPs of a `ClusterSetIP` import, ordered like `ipFamilies`; empty for `Headless`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 2))]
            pub ips: Option<Vec<String>>,
            /// `ClusterSetIP` or `Headless`.
            #[serde(rename = "type")]
            pub type_: ServiceImportType,
            /// `ClientIP` or `None`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub session_affinity: Option<String>,
            /// Session affinity configuration.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub session_affinity_config: Option<SessionAffinityConfig>,
            /// IP families of the VIPs, in the order of `ips`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 2))]
            pub ip_families: Option<Vec<String>>,
            /// `Cluster` or `Local`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub internal_traffic_policy: Option<String>,
            /// Traffic distribution preference, e.g. `PreferClose`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub traffic_distribution: Option<String>,
        }

        /// The type of a ServiceImport.
        #[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ServiceImportType {
            /// Served through one VIP per family.
            #[default]
            ClusterSetIP,
            /// No VIP: served through DNS to endpoint addresses.
            Headless,
        }

        /// One port of a ServiceImport. There is no `targetPort`.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[serde(rename_all = "camelCase")]
        pub struct ServicePort {
            /// DNS_LABEL name; must match the EndpointSlice port name.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
            /// `TCP`, `UDP` or `SCTP`; absent means `TCP`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub protocol: Option<String>,
            /// Application protocol of the port.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub app_protocol: Option<String>,
            /// Port number.
            pub port: i32,
        }

        /// Session affinity configuration.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
        #[serde(rename_all = "camelCase")]
        pub struct SessionAffinityConfig {
            /// Client-IP based affinity settings (`clientIP` on the wire, as in core/v1 and
            /// upstream's ServiceImport).
            #[serde(rename = "clientIP", default, skip_serializing_if = "Option::is_none")]
            pub client_ip: Option<ClientIpConfig>,
        }

        /// Client-IP based session affinity settings.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
        #[serde(rename_all = "camelCase")]
        pub struct ClientIpConfig {
            /// Affinity timeout in seconds.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub timeout_seconds: Option<i32>,
        }

        /// Observed state of a ServiceImport.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub struct ServiceImportStatus {
            /// Clusters exporting this service.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["cluster"]))]
            pub clusters: Option<Vec<ClusterStatus>>,
            /// `Ready` condition.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
            pub conditions: Option<Vec<Condition>>,
        }

        /// One exporting cluster.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct ClusterStatus {
            /// Cluster id of the exporting cluster.
            pub cluster: String,
        }

    };
}

/// `multicluster.x-k8s.io/v1alpha1`: served, not stored; CoreDNS reads this version.
pub mod v1alpha1 {
    service_import_version!("v1alpha1");
}

/// `multicluster.x-k8s.io/v1beta1`: served and stored.
pub mod v1beta1 {
    service_import_version!("v1beta1");
}
