use super::*;

#[test]
fn committed_crds_match_the_types() {
    let committed = include_str!("../../../../charts/causeway/crds/causeway-crds.yaml");
    assert!(
        committed == crds_yaml(),
        "charts/causeway/crds/causeway-crds.yaml is stale: run `make crds` (causeway crds into the chart, then tools/helm/render-deploy.sh for deploy/crds/)"
    );
}

#[test]
fn mcs_crds_serve_both_versions_and_store_v1beta1() {
    for crd in all_crds()
        .into_iter()
        .filter(|c| c.spec.group != crate::clusterset_member::GROUP)
    {
        let mut versions: Vec<_> = crd
            .spec
            .versions
            .iter()
            .map(|v| (v.name.as_str(), v.served, v.storage))
            .collect();
        versions.sort_unstable();
        assert_eq!(
            versions,
            vec![("v1alpha1", true, false), ("v1beta1", true, true)],
            "{}",
            crd.spec.names.kind
        );
        for v in &crd.spec.versions {
            let sub = v.subresources.as_ref().expect("subresources");
            assert!(
                sub.status.is_some(),
                "{} {} has a status subresource",
                crd.spec.names.kind,
                v.name
            );
        }
    }
}

#[test]
fn import_crd_has_columns_short_names_and_guard_labels() {
    let crds = all_crds();
    let import = crds
        .iter()
        .find(|c| c.spec.names.kind == "ServiceImport")
        .expect("import crd");
    assert_eq!(
        import.metadata.name.as_deref(),
        Some("serviceimports.multicluster.x-k8s.io")
    );
    assert_eq!(
        import.spec.names.short_names.clone().unwrap_or_default(),
        vec!["svcim".to_string(), "svcimport".to_string()]
    );
    let cols: Vec<_> = import.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        cols,
        vec![
            ("Type", ".spec.type"),
            ("IP", ".spec.ips[0]"),
            ("Ready", ".status.conditions[?(@.type==\"Ready\")].status"),
            ("First-Cluster", ".status.clusters[0].cluster"),
            ("Age", ".metadata.creationTimestamp")
        ]
    );
    let labels = import.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(LABEL_RELEASE_VERSION).map(String::as_str),
        Some("v0.5.0")
    );
    assert_eq!(
        labels.get(LABEL_CRD_SCHEMA_REVISION).map(String::as_str),
        Some("0")
    );
    let prop = crds
        .iter()
        .find(|c| c.spec.names.kind == "ClusterProperty")
        .expect("property crd");
    assert_eq!(prop.spec.scope, "Cluster");
    assert_eq!(
        prop.spec.names.categories.clone().unwrap_or_default(),
        vec!["multicluster".to_string()]
    );
}

#[test]
fn import_ports_always_serialize() {
    let spec = crate::ServiceImportSpec::default();
    let json = serde_json::to_value(&spec).expect("json");
    assert_eq!(json["ports"], serde_json::json!([]));
    assert_eq!(json["type"], "ClusterSetIP");
}

#[test]
fn export_spec_is_optional() {
    let crds = all_crds();
    let export = crds
        .iter()
        .find(|c| c.spec.names.kind == "ServiceExport")
        .expect("export crd");
    for v in &export.spec.versions {
        let schema = v
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema");
        assert!(
            !schema.required.iter().flatten().any(|r| r == "spec"),
            "{}",
            v.name
        );
    }
}

#[test]
fn member_crd_is_namespaced_v1alpha1_with_status_and_columns() {
    let crds = all_crds();
    let member = crds
        .iter()
        .find(|c| c.spec.names.kind == "ClusterSetMember")
        .expect("member crd");
    assert_eq!(
        member.metadata.name.as_deref(),
        Some("clustersetmembers.causeway.multicluster.x-k8s.io")
    );
    assert_eq!(member.spec.scope, "Namespaced");
    assert_eq!(member.spec.versions.len(), 1);
    let v = &member.spec.versions[0];
    assert_eq!(
        (v.name.as_str(), v.served, v.storage),
        ("v1alpha1", true, true)
    );
    assert!(
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let cols: Vec<_> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        cols,
        vec![
            ("Cluster", ".status.clusterID"),
            (
                "Reachable",
                ".status.conditions[?(@.type==\"Reachable\")].status"
            ),
            ("Stale", ".status.conditions[?(@.type==\"Stale\")].status"),
            ("Age", ".metadata.creationTimestamp")
        ]
    );
    let status = v
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| s.properties.as_ref())
        .and_then(|p| p.get("status"))
        .and_then(|s| s.properties.as_ref())
        .expect("status schema");
    let conditions = status.get("conditions").expect("conditions");
    assert_eq!(conditions.x_kubernetes_list_type.as_deref(), Some("map"));
    assert!(status.contains_key("clusterID"));
}

/// Upstream's wire name is `clientIP` (as in core/v1 Services): an import written by another
/// implementation, or by the sync from a Service, must keep its session-affinity timeout.
#[test]
fn session_affinity_config_uses_the_upstream_client_ip_field() {
    let import: crate::ServiceImport = serde_json::from_value(serde_json::json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "metadata": {"name": "web"},
        "spec": {"type": "ClusterSetIP", "ports": [], "sessionAffinity": "ClientIP",
                 "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}},
    }))
    .unwrap();
    let config = import.spec.session_affinity_config.as_ref().unwrap();
    assert_eq!(
        config.client_ip.as_ref().and_then(|c| c.timeout_seconds),
        Some(600)
    );
    let json = serde_json::to_value(&import).unwrap();
    assert_eq!(
        json["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        600
    );
    let yaml = crds_yaml();
    assert!(yaml.contains("clientIP:") && !yaml.contains("clientIp:"));
}

/// Every description `kubectl explain` shows, walked from each version's root schema.
fn descriptions(
    schema: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps,
    path: &str,
    out: &mut Vec<(String, Option<String>)>,
) {
    out.push((path.to_owned(), schema.description.clone()));
    for (name, prop) in schema.properties.iter().flatten() {
        descriptions(prop, &format!("{path}.{name}"), out);
    }
    if let Some(
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(items),
    ) = &schema.items
        && items.type_.as_deref() == Some("object")
    {
        // `kubectl explain` shows a list of scalars as `[]string`; only object items carry text.
        descriptions(items, &format!("{path}[]"), out);
    }
}

#[test]
fn every_field_has_a_written_description() {
    for crd in all_crds() {
        for version in &crd.spec.versions {
            let root = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("schema");
            let mut found = Vec::new();
            descriptions(root, &crd.spec.names.kind, &mut found);
            for (path, description) in found {
                let text = description.unwrap_or_default();
                assert!(
                    !text.trim().is_empty(),
                    "{path} ({}) has no description",
                    version.name
                );
                for generated in ["Auto-generated", "via `CustomResource`", "twin"] {
                    assert!(
                        !text.contains(generated),
                        "{path} ({}): {text}",
                        version.name
                    );
                }
            }
        }
    }
}

#[test]
fn export_crd_shows_its_conditions_as_columns() {
    let crds = all_crds();
    let export = crds
        .iter()
        .find(|c| c.spec.names.kind == "ServiceExport")
        .expect("export crd");
    for version in &export.spec.versions {
        let cols: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            cols,
            vec![
                ("Valid", ".status.conditions[?(@.type==\"Valid\")].status"),
                ("Ready", ".status.conditions[?(@.type==\"Ready\")].status"),
                (
                    "Conflict",
                    ".status.conditions[?(@.type==\"Conflict\")].reason"
                ),
                ("Age", ".metadata.creationTimestamp")
            ]
        );
    }
}
