//! `causeway version`: what this binary is (version, commit, commit date) and which Kubernetes
//! APIs it speaks, as text, JSON or YAML.

use std::io::Write;

use clap::{Args, ValueEnum};
use serde::Serialize;

/// The oldest Kubernetes release causeway supports: the workspace's `k8s-openapi` version
/// feature (`v1_33`); newer servers work too.
const MIN_KUBERNETES: &str = "1.33";

/// Output format of `causeway version`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    Text,
    Json,
    Yaml,
}

/// `causeway version` flags.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  causeway version              # text: version, commit, commit date, API versions
  causeway version -o json      # the same as JSON, e.g. for `jq -r .commit`
  causeway version -o yaml")]
pub struct VersionCommand {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// What `causeway version` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// The crate version.
    pub version: &'static str,
    /// The git commit the binary was built from (`build.rs`), `unknown` outside a checkout.
    pub commit: &'static str,
    /// That commit's date (UTC), `unknown` outside a checkout.
    pub commit_date: &'static str,
    /// The oldest supported Kubernetes release.
    pub min_kubernetes: &'static str,
    /// The API versions of causeway's kinds, storage version first.
    pub apis: Vec<ApiInfo>,
}

/// One group/version causeway serves (its CRDs) and reads.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiInfo {
    /// `group/version`.
    pub api_version: String,
    /// Kinds served in it.
    pub kinds: Vec<String>,
    /// Whether it is the storage version.
    pub storage: bool,
}

impl VersionInfo {
    /// This binary's version information, the API list taken from the CRDs it installs.
    pub fn current() -> Self {
        let mut apis: Vec<ApiInfo> = Vec::new();
        for crd in causeway_api::all_crds() {
            for v in &crd.spec.versions {
                let api_version = format!("{}/{}", crd.spec.group, v.name);
                match apis.iter_mut().find(|a| a.api_version == api_version) {
                    Some(api) => api.kinds.push(crd.spec.names.kind.clone()),
                    None => apis.push(ApiInfo {
                        api_version,
                        kinds: vec![crd.spec.names.kind.clone()],
                        storage: v.storage,
                    }),
                }
            }
        }
        apis.sort_by(|a, b| {
            (a.api_version.split('/').next(), !a.storage, &a.api_version).cmp(&(
                b.api_version.split('/').next(),
                !b.storage,
                &b.api_version,
            ))
        });
        Self {
            version: env!("CARGO_PKG_VERSION"),
            commit: env!("CAUSEWAY_COMMIT"),
            commit_date: env!("CAUSEWAY_COMMIT_DATE"),
            min_kubernetes: MIN_KUBERNETES,
            apis,
        }
    }
}

impl VersionCommand {
    /// Prints the version information.
    pub fn run(self) -> anyhow::Result<()> {
        let Self { output } = self;
        let info = VersionInfo::current();
        let mut out = std::io::stdout().lock();
        match output {
            Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&info)?)?,
            Output::Yaml => write!(out, "{}", serde_saphyr::to_string(&info)?)?,
            Output::Text => {
                writeln!(out, "causeway {}", info.version)?;
                writeln!(out, "commit:      {}", info.commit)?;
                writeln!(out, "commit date: {}", info.commit_date)?;
                writeln!(out, "kubernetes:  {} or newer", info.min_kubernetes)?;
                writeln!(out, "APIs:")?;
                for api in &info.apis {
                    let storage = if api.storage { " (storage)" } else { "" };
                    writeln!(
                        out,
                        "  {}{storage}: {}",
                        api.api_version,
                        api.kinds.join(", ")
                    )?;
                }
            }
        }
        Ok(())
    }
}
