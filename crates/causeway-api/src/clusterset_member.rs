//! `ClusterSetMember` (`causeway.multicluster.x-k8s.io/v1alpha1`, namespaced): the controller's
//! view of one peer, next to the peer Secret it describes.
//!
//! Data flow: `causeway join` writes a peer Secret (labelled `causeway.multicluster.x-k8s.io/peer`)
//! in the members namespace; the controller's sync (lease holder only) keeps one ClusterSetMember
//! of the same name there, owned by that Secret (so it goes when the Secret goes), and writes its
//! status: the peer's cluster id and the `Reachable` and `Stale` conditions. `causeway status`
//! and `kubectl get clustersetmembers` read it. Secrets cannot carry conditions; this kind does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of causeway's own kinds.
pub const GROUP: &str = "causeway.multicluster.x-k8s.io";
/// `apiVersion` of [`ClusterSetMember`].
pub const API_VERSION: &str = "causeway.multicluster.x-k8s.io/v1alpha1";

/// Which peer Secret this member is.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "causeway.multicluster.x-k8s.io",
    version = "v1alpha1",
    kind = "ClusterSetMember",
    plural = "clustersetmembers",
    singular = "clustersetmember",
    shortname = "csmember",
    category = "multicluster",
    namespaced,
    status = "ClusterSetMemberStatus",
    doc = "ClusterSetMember names a peer cluster of this clusterset by the Secret holding its kubeconfig. causeway's controller watches every member's exports and imports and reports here whether the peer is reachable.",
    printcolumn = r#"{"name":"Cluster","type":"string","description":"The peer's cluster id.","jsonPath":".status.clusterID"}"#,
    printcolumn = r#"{"name":"Reachable","type":"string","jsonPath":".status.conditions[?(@.type==\"Reachable\")].status"}"#,
    printcolumn = r#"{"name":"Stale","type":"string","jsonPath":".status.conditions[?(@.type==\"Stale\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSetMemberSpec {
    /// The peer Secret (same namespace) holding the peer's kubeconfig under key `kubeconfig`.
    pub secret_name: String,
}

/// What the controller last saw of the peer.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct ClusterSetMemberStatus {
    /// The peer's cluster id (ClusterProperty `cluster.clusterset.k8s.io`), once known.
    #[serde(rename = "clusterID", default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// `Reachable` and `Stale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Option<Vec<Condition>>,
}

impl ClusterSetMember {
    /// The condition of type `type_`, if set.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == type_)
    }
}

/// Condition types and reasons of a ClusterSetMember.
pub mod condition {
    /// The controller can read the peer with its credential (True/`Connected`).
    pub const REACHABLE: &str = "Reachable";
    /// The peer's endpoints are not fresh: held during `--peer-grace`, then withdrawn.
    pub const STALE: &str = "Stale";

    /// Reasons of `Reachable`.
    pub mod reachable {
        /// Connected and watching.
        pub const CONNECTED: &str = "Connected";
        /// The Secret's `kubeconfig` is missing, not YAML, or unusable.
        pub const INVALID_KUBECONFIG: &str = "InvalidKubeconfig";
        /// The peer rejected the credential (HTTP 401: expired or revoked token).
        pub const UNAUTHORIZED: &str = "Unauthorized";
        /// The credential lacks read access in the peer (HTTP 403).
        pub const FORBIDDEN: &str = "Forbidden";
        /// The peer's apiserver cannot be reached (connection, TLS, timeout, 5xx).
        pub const UNREACHABLE: &str = "Unreachable";
        /// The peer has no usable cluster id.
        pub const NO_CLUSTER_ID: &str = "NoClusterID";
        /// A kind the controller reads is not served by the peer (HTTP 404: CRDs missing).
        pub const NOT_SERVED: &str = "NotServed";
        /// The peer's ClusterProperty `clusterset.k8s.io` is absent or differs from this
        /// cluster's, or this cluster has none: the member is not synced.
        pub const NOT_IN_CLUSTER_SET: &str = "NotInClusterSet";
        /// This cluster or an earlier member already has the peer's cluster id: the member is
        /// not synced.
        pub const DUPLICATE_CLUSTER_ID: &str = "DuplicateClusterID";
    }

    /// Reasons of `Stale`.
    pub mod stale {
        /// The peer is live: its endpoints are current.
        pub const LIVE: &str = "Live";
        /// The peer is failing; its last endpoints are kept until the grace period ends.
        pub const IN_GRACE: &str = "InGrace";
        /// The grace period ended; the peer's endpoints were withdrawn.
        pub const EXPIRED: &str = "Expired";
        /// The peer takes no part in the sync (see the `Reachable` reason); its endpoints are
        /// not used.
        pub const EXCLUDED: &str = "Excluded";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_uses_the_cluster_id_spelling_and_omits_unset_fields() {
        let status = ClusterSetMemberStatus {
            cluster_id: Some("c2".into()),
            conditions: None,
        };
        let json = serde_json::to_value(&status).expect("json");
        assert_eq!(json, serde_json::json!({"clusterID": "c2"}));
        let member = ClusterSetMember::new(
            "peer-c2",
            ClusterSetMemberSpec {
                secret_name: "peer-c2".into(),
            },
        );
        let json = serde_json::to_value(&member).expect("json");
        assert_eq!(json["apiVersion"], API_VERSION);
        assert_eq!(json["spec"], serde_json::json!({"secretName": "peer-c2"}));
    }
}
