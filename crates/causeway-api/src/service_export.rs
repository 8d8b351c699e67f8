//! `ServiceExport` (`multicluster.x-k8s.io`): marks the same-named Service for export.
//!
//! Declared once by `service_export_version!` for `v1alpha1` and `v1beta1` (mcs-spec.md §1.5).
//! `spec` is optional upstream and most exports in the wild have none, so the root object is
//! written by hand with a defaulted `spec`; the derive only serves CRD generation.

/// Declares the ServiceExport types for one API version.
macro_rules! service_export_version {
    ($version:literal) => {
        use std::borrow::Cow;
        use std::collections::BTreeMap;

        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};

        /// A ServiceExport: exports the Service of the same name and namespace.
        #[derive(Clone, Debug, Default, Deserialize, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub struct ServiceExport {
            /// Object metadata.
            pub metadata: ObjectMeta,
            /// Optional spec; absent on the wire means all defaults.
            #[serde(default)]
            pub spec: ServiceExportSpec,
            /// Conditions written by the mcs-controller.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<ServiceExportStatus>,
        }

        impl ServiceExport {
            /// A ServiceExport named `name` with the given spec.
            pub fn new(name: &str, spec: ServiceExportSpec) -> Self {
                Self {
                    metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
                    spec,
                    status: None,
                }
            }
        }

        impl Serialize for ServiceExport {
            fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let fields = if self.status.is_some() { 5 } else { 4 };
                let mut obj = ser.serialize_struct("ServiceExport", fields)?;
                obj.serialize_field("apiVersion", concat!("multicluster.x-k8s.io/", $version))?;
                obj.serialize_field("kind", "ServiceExport")?;
                obj.serialize_field("metadata", &self.metadata)?;
                obj.serialize_field("spec", &self.spec)?;
                if let Some(status) = &self.status {
                    obj.serialize_field("status", status)?;
                }
                obj.end()
            }
        }

        impl kube::Resource for ServiceExport {
            type DynamicType = ();
            type Scope = kube::core::NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("ServiceExport")
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("multicluster.x-k8s.io")
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($version)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("serviceexports")
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl kube::core::object::HasStatus for ServiceExport {
            type Status = ServiceExportStatus;
            fn status(&self) -> Option<&ServiceExportStatus> {
                self.status.as_ref()
            }
            fn status_mut(&mut self) -> &mut Option<ServiceExportStatus> {
                &mut self.status
            }
        }

        /// What to carry onto the ServiceImport besides the Service itself.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub struct ServiceExportSpec {
            /// Labels to put on the ServiceImport.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub exported_labels: Option<BTreeMap<String, String>>,
            /// Annotations to put on the ServiceImport.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub exported_annotations: Option<BTreeMap<String, String>>,
        }

        /// Observed state of a ServiceExport.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub struct ServiceExportStatus {
            /// `Valid`, `Ready` and `Conflict` conditions.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
            pub conditions: Option<Vec<Condition>>,
        }

        /// CRD generation only: the derive needs a spec type of its own.
        pub(crate) mod schema {
            use kube::CustomResource;
            use schemars::JsonSchema;
            use serde::{Deserialize, Serialize};

            /// Optional: what to carry onto the ServiceImport besides the Service itself
            /// (ports, type and endpoints always come from the Service). Absent means none.
            #[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema)]
            #[kube(
                group = "multicluster.x-k8s.io",
                version = $version,
                kind = "ServiceExport",
                plural = "serviceexports",
                singular = "serviceexport",
                shortname = "svcex",
                shortname = "svcexport",
                namespaced,
                status = "super::ServiceExportStatus",
                doc = "ServiceExport exports the Service of the same name and namespace to every cluster of the clusterset. Its conditions say whether the Service can be exported (Valid), whether the export reached the clusterset (Ready) and whether the exports of this service disagree across clusters (Conflict).",
                printcolumn = r#"{"name":"Valid","type":"string","description":"Whether the Service exists and can be exported (condition Valid).","jsonPath":".status.conditions[?(@.type==\"Valid\")].status"}"#,
                printcolumn = r#"{"name":"Ready","type":"string","description":"Whether the export reached the clusterset (condition Ready).","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
                printcolumn = r#"{"name":"Conflict","type":"string","description":"Reason of condition Conflict: NoConflicts, or the fields the clusters disagree on.","jsonPath":".status.conditions[?(@.type==\"Conflict\")].reason"}"#,
                printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
            )]
            pub struct ExportSpecSchema {
                #[serde(flatten)]
                inner: super::ServiceExportSpec,
            }
        }
    };
}

/// `multicluster.x-k8s.io/v1alpha1`: served, not stored.
pub mod v1alpha1 {
    service_export_version!("v1alpha1");
}

/// `multicluster.x-k8s.io/v1beta1`: served and stored.
pub mod v1beta1 {
    service_export_version!("v1beta1");
}

#[cfg(test)]
mod tests {
    use super::v1beta1::ServiceExport;

    #[test]
    fn export_without_spec_deserializes() {
        let json = serde_json::json!({
            "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
            "metadata": {"name": "serve", "namespace": "demo"}
        });
        let export: ServiceExport = serde_json::from_value(json).expect("deserializes");
        assert_eq!(export.spec.exported_labels, None);
        assert_eq!(export.metadata.name.as_deref(), Some("serve"));
        let back = serde_json::to_value(&export).expect("serializes");
        assert_eq!(back["apiVersion"], "multicluster.x-k8s.io/v1beta1");
        assert_eq!(back["kind"], "ServiceExport");
        assert_eq!(back["spec"], serde_json::json!({}));
        assert!(back.get("status").is_none());
    }
}
