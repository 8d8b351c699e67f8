//! `causeway status`: what this cluster sees of the clusterset — its id, each member (this
//! command's own probe with the peer credential, next to the controller's `Reachable` and
//! `Stale` conditions from the member's ClusterSetMember), and per imported service: type, VIP,
//! exporting clusters, conflicts and ready endpoints per source cluster. Reads only.
//!
//! The `Conflict` condition lives on the ServiceExports (every exporter carries the same one), so
//! for a service this cluster imports without exporting it, the conflict is read from a reachable
//! member's export with that member's read-only credential.
//!
//! Under each service, `warning:` lines say what the controller leaves alone and how to fix it,
//! as its Warning Events do: a hand-made import while clusters export the service, slices no
//! causeway wrote behind one of the sync's imports.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context as _;
use causeway_api::clusterset_member::condition::{REACHABLE, STALE};
use causeway_api::names::{LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER, PROPERTY_CLUSTERSET};
use causeway_api::{
    ClusterProperty, ClusterSetMember, Condition, ServiceExport, ServiceImport, ServiceImportType,
};
use causeway_controller::sync::plan::notices::Notice;
use causeway_controller::sync::plan::service::synced;
use causeway_controller::sync::{identity, members};
use causeway_core::mcs_slice::written_by_causeway;
use causeway_runtime::ClientArgs;
use clap::{Args, ValueEnum};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde::Serialize;

/// Output format.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    Table,
    Json,
}

/// `causeway status` flags.
#[derive(Debug, Args)]
pub struct StatusCommand {
    #[command(flatten)]
    client: ClientArgs,
    /// Namespace of the peer Secrets.
    #[arg(long, default_value = "causeway-system")]
    members_namespace: String,
    /// Only this namespace's services.
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(flatten)]
    dns: crate::status_dns::DnsCheckArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    cluster: String,
    /// ClusterProperty `clusterset.k8s.io`; `None`: not a member (the sync is paused).
    clusterset: Option<String>,
    members: Vec<MemberReport>,
    services: Vec<ServiceReport>,
    dns: crate::status_dns::DnsReport,
}

#[derive(Debug, Serialize)]
struct MemberReport {
    secret: String,
    cluster: Option<String>,
    /// This command's own probe with the peer credential.
    reachable: bool,
    /// The probe's failure reason (`Reachable` reasons of ClusterSetMember).
    reason: Option<String>,
    error: Option<String>,
    /// What the controller last wrote on the member's ClusterSetMember.
    controller: Option<ControllerView>,
}

/// The controller's view of a member (its ClusterSetMember status).
#[derive(Debug, Serialize)]
struct ControllerView {
    cluster: Option<String>,
    reachable: Option<ConditionView>,
    stale: Option<ConditionView>,
}

#[derive(Debug, Serialize)]
struct ConditionView {
    status: String,
    reason: String,
    message: String,
    last_transition_time: String,
}

impl ConditionView {
    fn of(c: &Condition) -> Self {
        Self {
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_transition_time: c.last_transition_time.0.to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
struct ServiceReport {
    namespace: String,
    name: String,
    #[serde(rename = "type")]
    type_: String,
    ips: Vec<String>,
    exported_by: Vec<String>,
    conflict: Option<String>,
    ready: Option<String>,
    endpoints: BTreeMap<String, usize>,
    /// What causeway leaves alone here and the fix (the controller's Warning Events).
    warnings: Vec<String>,
}

impl StatusCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            client,
            members_namespace,
            namespace,
            output,
            dns,
        } = self;
        let client = client.client().await?;
        let cluster = identity::cluster_id(&client, false).await?;
        let clusterset = Api::<ClusterProperty>::all(client.clone())
            .get_opt(PROPERTY_CLUSTERSET)
            .await
            .with_context(|| format!("failed to read ClusterProperty {PROPERTY_CLUSTERSET}"))?
            .map(|p| p.spec.value);
        let (member_reports, peers) = member_reports(&client, &members_namespace).await;
        let (imports, exports, slices) = match &namespace {
            Some(ns) => (
                Api::<ServiceImport>::namespaced(client.clone(), ns),
                Api::<ServiceExport>::namespaced(client.clone(), ns),
                Api::<EndpointSlice>::namespaced(client.clone(), ns),
            ),
            None => (
                Api::all(client.clone()),
                Api::all(client.clone()),
                Api::all(client.clone()),
            ),
        };
        let imports = imports
            .list(&ListParams::default())
            .await
            .context("failed to list ServiceImports")?;
        let exports = exports
            .list(&ListParams::default())
            .await
            .context("failed to list ServiceExports")?;
        let slices = slices
            .list(&ListParams::default().labels(LABEL_SERVICE_NAME))
            .await
            .context("failed to list MCS EndpointSlices")?;
        let unexported = imports.items.iter().any(|i| {
            !exports
                .items
                .iter()
                .any(|e| e.namespace() == i.namespace() && e.name_any() == i.name_any())
        });
        let peers = if unexported {
            peer_exports(peers, namespace.as_deref()).await
        } else {
            Vec::new()
        };
        let mut services = Vec::new();
        for import in &imports.items {
            let ns = import.namespace().unwrap_or_default();
            let name = import.name_any();
            let mut endpoints = BTreeMap::new();
            for s in slices.items.iter().filter(|s| {
                s.namespace().as_deref() == Some(ns.as_str())
                    && s.labels().get(LABEL_SERVICE_NAME) == Some(&name)
            }) {
                let source = s
                    .labels()
                    .get(LABEL_SOURCE_CLUSTER)
                    .cloned()
                    .unwrap_or_else(|| "(hand-made)".into());
                let ready = s
                    .endpoints
                    .iter()
                    .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
                    .count();
                *endpoints.entry(source).or_insert(0) += ready;
            }
            let local = exports
                .items
                .iter()
                .find(|e| e.namespace().as_deref() == Some(ns.as_str()) && e.name_any() == name);
            let warnings = notices(
                import,
                local.is_some().then_some(cluster.as_str()),
                &peers,
                &slices.items,
            )
            .iter()
            .map(Notice::message)
            .collect();
            let conflict = match local {
                Some(e) => conflict_of(e),
                None => peer_conflict(&peers, &ns, &name),
            };
            let ready = import
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                .map(|c| format!("{}/{}", c.status, c.reason));
            services.push(ServiceReport {
                namespace: ns,
                name,
                type_: match import.spec.type_ {
                    ServiceImportType::ClusterSetIP => "ClusterSetIP".into(),
                    ServiceImportType::Headless => "Headless".into(),
                },
                ips: import.spec.ips.clone().unwrap_or_default(),
                exported_by: import
                    .status
                    .as_ref()
                    .and_then(|s| s.clusters.as_ref())
                    .map(|cs| cs.iter().map(|c| c.cluster.clone()).collect())
                    .unwrap_or_default(),
                conflict,
                ready,
                endpoints,
                warnings,
            });
        }
        let report = Report {
            cluster,
            clusterset,
            members: member_reports,
            services,
            dns: crate::status_dns::check(&client, &dns).await,
        };
        let mut out = std::io::stdout().lock();
        match output {
            Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
            Output::Table => print_table(&mut out, &report)?,
        }
        Ok(())
    }
}

/// What the controller reports about `import` in Warning Events (`sync::plan::notices`): a
/// hand-made import (no `synced` label) while clusters export its service (`local`: this
/// cluster, if it exports it; `peers`: the members' exports), or slices no causeway wrote behind
/// an import the sync manages.
fn notices(
    import: &ServiceImport,
    local: Option<&str>,
    peers: &[(String, Vec<ServiceExport>)],
    slices: &[EndpointSlice],
) -> Vec<Notice> {
    let ns = import.namespace().unwrap_or_default();
    let name = import.name_any();
    let key = (ns.clone(), name.clone());
    let uid = import.uid().unwrap_or_default();
    if !synced(import) {
        let mut exporters: Vec<String> = local.map(str::to_owned).into_iter().collect();
        exporters.extend(
            peers
                .iter()
                .filter(|(_, exports)| {
                    exports.iter().any(|e| {
                        e.namespace().as_deref() == Some(ns.as_str()) && e.name_any() == name
                    })
                })
                .map(|(id, _)| id.clone()),
        );
        exporters.sort();
        exporters.dedup();
        if exporters.is_empty() {
            return Vec::new();
        }
        return vec![Notice::UnmanagedImport {
            key,
            uid,
            exporters,
        }];
    }
    let mut foreign: Vec<String> = slices
        .iter()
        .filter(|s| {
            s.namespace().as_deref() == Some(ns.as_str())
                && s.labels().get(LABEL_SERVICE_NAME) == Some(&name)
                && !written_by_causeway(s)
        })
        .map(ResourceExt::name_any)
        .collect();
    if foreign.is_empty() {
        return Vec::new();
    }
    foreign.sort();
    vec![Notice::ForeignSlices {
        key,
        uid,
        slices: foreign,
    }]
}

/// `reason: message` of an export's `Conflict=True` condition.
fn conflict_of(export: &ServiceExport) -> Option<String> {
    export
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Conflict" && c.status == "True")
        .map(|c| format!("{}: {}", c.reason, c.message))
}

/// The reachable members' ServiceExports (of `namespace`, or all), by cluster id: one list per
/// member, read with its read-only credential. A member whose list fails is left out.
async fn peer_exports(
    peers: Vec<(String, kube::Client)>,
    namespace: Option<&str>,
) -> Vec<(String, Vec<ServiceExport>)> {
    let mut out = Vec::new();
    for (id, peer) in peers {
        let api: Api<ServiceExport> = match namespace {
            Some(ns) => Api::namespaced(peer, ns),
            None => Api::all(peer),
        };
        match api.list(&ListParams::default()).await {
            Ok(list) => out.push((id, list.items)),
            Err(err) => tracing::debug!(
                cluster = %id,
                error = &err as &dyn std::error::Error,
                "cannot list the member's exports; its conflicts are not shown"
            ),
        }
    }
    out
}

/// The conflict of `ns/name` as a member that exports it reports it (every valid export of a
/// service carries the same `Conflict` condition).
fn peer_conflict(peers: &[(String, Vec<ServiceExport>)], ns: &str, name: &str) -> Option<String> {
    peers.iter().find_map(|(id, exports)| {
        exports
            .iter()
            .filter(|e| e.namespace().as_deref() == Some(ns) && e.name_any() == name)
            .find_map(conflict_of)
            .map(|c| format!("{c} (reported by cluster {id})"))
    })
}

/// Each peer Secret probed with its credential, with the controller's ClusterSetMember view; and
/// the reachable members' clients by cluster id.
async fn member_reports(
    client: &kube::Client,
    members_namespace: &str,
) -> (Vec<MemberReport>, Vec<(String, kube::Client)>) {
    let recorded: BTreeMap<String, ClusterSetMember> =
        match Api::<ClusterSetMember>::namespaced(client.clone(), members_namespace)
            .list(&ListParams::default())
            .await
        {
            Ok(list) => list.items.into_iter().map(|m| (m.name_any(), m)).collect(),
            Err(err) => {
                // Older installs lack the CRD; the probe below still works.
                tracing::debug!(
                    error = &err as &dyn std::error::Error,
                    "no ClusterSetMembers"
                );
                BTreeMap::new()
            }
        };
    let mut reports = Vec::new();
    let mut peers = Vec::new();
    for secret in members::list(client, members_namespace)
        .await
        .unwrap_or_default()
    {
        let controller = recorded.get(&secret.name).map(|m| ControllerView {
            cluster: m.status.as_ref().and_then(|s| s.cluster_id.clone()),
            reachable: m.condition(REACHABLE).map(ConditionView::of),
            stale: m.condition(STALE).map(ConditionView::of),
        });
        let probe = members::connect(&secret).await;
        let recorded_id = controller.as_ref().and_then(|c| c.cluster.clone());
        reports.push(match probe {
            Ok((peer, id)) => {
                peers.push((id.clone(), peer));
                MemberReport {
                    secret: secret.name,
                    cluster: Some(id),
                    reachable: true,
                    reason: None,
                    error: None,
                    controller,
                }
            }
            Err(failure) => MemberReport {
                secret: secret.name,
                cluster: recorded_id,
                reachable: false,
                reason: Some(failure.reason.as_str().to_owned()),
                error: Some(failure.message()),
                controller,
            },
        });
    }
    (reports, peers)
}

fn print_table(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    writeln!(out, "cluster: {}", r.cluster)?;
    match &r.clusterset {
        Some(set) => writeln!(out, "clusterset: {set}")?,
        None => writeln!(
            out,
            "clusterset: none (ClusterProperty {PROPERTY_CLUSTERSET} is absent: the sync is paused; run `causeway join`)"
        )?,
    }
    writeln!(out, "\nMEMBERS")?;
    if r.members.is_empty() {
        writeln!(out, "  (none: run `causeway join`)")?;
    }
    if !r.members.is_empty() {
        writeln!(
            out,
            "  {:<42} {:<37} {:<18} {:<23} STALE (controller)",
            "SECRET", "CLUSTER", "PROBE", "REACHABLE (controller)"
        )?;
    }
    for m in &r.members {
        let probe = if m.reachable {
            "Connected".to_owned()
        } else {
            m.reason.clone().unwrap_or_else(|| "failed".into())
        };
        let reachable = m.controller.as_ref().and_then(|c| c.reachable.as_ref());
        let stale = m.controller.as_ref().and_then(|c| c.stale.as_ref());
        let show = |c: Option<&ConditionView>| {
            c.map_or_else(|| "-".to_owned(), |c| format!("{}/{}", c.status, c.reason))
        };
        writeln!(
            out,
            "  {:<42} {:<37} {:<18} {:<23} {}",
            m.secret,
            m.cluster.clone().unwrap_or_else(|| "?".into()),
            probe,
            show(reachable),
            show(stale)
        )?;
        if let Some(e) = &m.error {
            writeln!(out, "      probe: {e}")?;
        }
        if let Some(c) = reachable.filter(|c| c.status != "True") {
            writeln!(
                out,
                "      controller: {} (since {})",
                c.message, c.last_transition_time
            )?;
        }
        if let Some(c) = stale.filter(|c| c.status == "True") {
            writeln!(out, "      stale: {}", c.message)?;
        }
        if m.controller.is_none() {
            writeln!(
                out,
                "      controller: no ClusterSetMember yet (is `causeway controller` running with the ClusterSetMember CRD installed?)"
            )?;
        }
    }
    writeln!(out, "\nSERVICES")?;
    writeln!(
        out,
        "  {:<20} {:<24} {:<13} {:<16} {:<9} ENDPOINTS (ready, by source cluster) / CONFLICT",
        "NAMESPACE", "NAME", "TYPE", "IP", "READY"
    )?;
    for s in &r.services {
        let eps: Vec<String> = s
            .endpoints
            .iter()
            .map(|(c, n)| format!("{c}={n}"))
            .collect();
        writeln!(
            out,
            "  {:<20} {:<24} {:<13} {:<16} {:<9} {}{}",
            s.namespace,
            s.name,
            s.type_,
            s.ips.join(","),
            s.ready.clone().unwrap_or_else(|| "-".into()),
            if eps.is_empty() {
                "-".into()
            } else {
                eps.join(" ")
            },
            s.conflict
                .as_ref()
                .map(|c| format!("  CONFLICT {c}"))
                .unwrap_or_default()
        )?;
        for w in &s.warnings {
            writeln!(out, "      warning: {w}")?;
        }
    }
    crate::status_dns::print(out, &r.dns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(ns: &str, name: &str, conflict: Option<(&str, &str)>) -> ServiceExport {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
            "metadata": {"name": name, "namespace": ns},
            "status": {"conditions": [{
                "type": "Conflict",
                "status": if conflict.is_some() { "True" } else { "False" },
                "reason": conflict.map_or("NoConflicts", |c| c.0),
                "message": conflict.map_or("", |c| c.1),
                "lastTransitionTime": "2026-01-01T00:00:00Z"
            }]}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_members_export_supplies_the_conflict_of_a_service_not_exported_here() {
        let peers = vec![
            (
                "c1".to_owned(),
                vec![export("demo", "other", Some(("PortConflict", "x")))],
            ),
            (
                "c2".to_owned(),
                vec![export(
                    "demo",
                    "api",
                    Some(("TypeConflict", "type: using Headless")),
                )],
            ),
        ];
        assert_eq!(
            peer_conflict(&peers, "demo", "api").as_deref(),
            Some("TypeConflict: type: using Headless (reported by cluster c2)")
        );
        assert_eq!(peer_conflict(&peers, "other-ns", "api"), None);
        let calm = vec![("c1".to_owned(), vec![export("demo", "api", None)])];
        assert_eq!(
            peer_conflict(&calm, "demo", "api"),
            None,
            "Conflict=False is no conflict"
        );
    }

    #[test]
    fn warnings_name_a_hand_made_import_and_slices_no_causeway_wrote() {
        let import = |synced: bool| -> ServiceImport {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
                "metadata": {"name": "serve", "namespace": "demo", "uid": "u1", "labels":
                    if synced { serde_json::json!({"causeway.multicluster.x-k8s.io/synced": "true"}) }
                    else { serde_json::json!({}) }},
                "spec": {"type": "ClusterSetIP", "ports": []}
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let slice = |name: &str, labels: serde_json::Value| -> EndpointSlice {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "demo", "labels": labels},
                "addressType": "IPv4", "endpoints": []
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let slices = [
            slice(
                "imported-serve-x7v4m",
                serde_json::json!({LABEL_SERVICE_NAME: "serve"}),
            ),
            slice(
                "serve-abc-123",
                serde_json::json!({LABEL_SERVICE_NAME: "serve",
                "causeway.multicluster.x-k8s.io/synced": "true",
                "endpointslice.kubernetes.io/managed-by": "causeway.multicluster.x-k8s.io"}),
            ),
            slice("other-x", serde_json::json!({LABEL_SERVICE_NAME: "other"})),
        ];
        let peers = vec![("c2".to_owned(), vec![export("demo", "serve", None)])];
        let hand_made = notices(&import(false), None, &peers, &slices);
        assert!(
            matches!(hand_made.as_slice(), [Notice::UnmanagedImport { exporters, .. }] if exporters == &["c2"]),
            "{hand_made:?}"
        );
        assert!(
            notices(&import(false), None, &[], &slices).is_empty(),
            "nobody exports it"
        );
        let copies = notices(&import(true), Some("c1"), &peers, &slices);
        assert!(
            matches!(copies.as_slice(), [Notice::ForeignSlices { slices, .. }] if slices == &["imported-serve-x7v4m"]),
            "{copies:?}"
        );
        assert!(
            copies[0]
                .message()
                .contains("kubectl delete endpointslice -n demo imported-serve-x7v4m")
        );
    }
}
