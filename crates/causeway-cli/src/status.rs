//! `causeway status`: what this cluster sees of the clusterset — its id, each member (this
//! command's own probe with the peer credential, next to the controller's `Reachable` and
//! `Stale` conditions from the member's ClusterSetMember), and per imported service: type, VIP,
//! exporting clusters, conflicts and ready endpoints per source cluster. Reads only.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context as _;
use causeway_api::clusterset_member::condition::{REACHABLE, STALE};
use causeway_api::names::{LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER};
use causeway_api::{ClusterSetMember, Condition, ServiceExport, ServiceImport, ServiceImportType};
use causeway_controller::sync::{identity, members};
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
        let member_reports = member_reports(&client, &members_namespace).await;
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
            let conflict = exports
                .items
                .iter()
                .find(|e| e.namespace().as_deref() == Some(ns.as_str()) && e.name_any() == name)
                .and_then(|e| {
                    e.status
                        .as_ref()?
                        .conditions
                        .as_ref()?
                        .iter()
                        .find(|c| c.type_ == "Conflict" && c.status == "True")
                        .map(|c| format!("{}: {}", c.reason, c.message))
                });
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
            });
        }
        let report = Report {
            cluster,
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

/// Each peer Secret probed with its credential, with the controller's ClusterSetMember view.
async fn member_reports(client: &kube::Client, members_namespace: &str) -> Vec<MemberReport> {
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
            Ok((_, id)) => MemberReport {
                secret: secret.name,
                cluster: Some(id),
                reachable: true,
                reason: None,
                error: None,
                controller,
            },
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
    reports
}

fn print_table(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    writeln!(out, "cluster: {}", r.cluster)?;
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
    }
    crate::status_dns::print(out, &r.dns)
}
