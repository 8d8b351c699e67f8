//! Convergence: polls the namespace with list calls until every import has its derived Service,
//! `spec.ips` (and, for causeway, `Ready=True`) and every slice carries
//! `kubernetes.io/service-name=<derived>`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use causeway_api::names::{ANNOTATION_DERIVED_SERVICE, LABEL_K8S_SERVICE_NAME};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DynamicObject, ListParams};

use super::objects::slice_name;
use crate::objects::service_import_resource;

/// How far a namespace has converged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Imports in the namespace.
    pub imports: usize,
    /// Imports whose derived-service annotation names an existing Service.
    pub services: usize,
    /// Imports with a non-empty `spec.ips`.
    pub ips: usize,
    /// Imports with `Ready=True`.
    pub ready: usize,
    /// Imports whose slice carries `kubernetes.io/service-name=<derived>`.
    pub labelled: usize,
}

impl Progress {
    /// True when all `expected` imports are done (Ready only when `need_ready`).
    pub fn done(&self, expected: usize, need_ready: bool) -> bool {
        self.imports == expected
            && self.services == expected
            && self.ips == expected
            && self.labelled == expected
            && (!need_ready || self.ready == expected)
    }
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} imports: {} with ips, {} ready",
            self.imports, self.ips, self.ready
        )?;
        if self.services == 0 && self.labelled == 0 {
            // Services and slices are listed only once every import has its ips.
            write!(f, "; services and slices not checked yet")
        } else {
            write!(
                f,
                "; {} services, {} slices labelled",
                self.services, self.labelled
            )
        }
    }
}

/// The pure check: imports (name → derived name, has ips, ready), existing Service names, and
/// slice name → its `kubernetes.io/service-name` label.
pub fn progress(
    imports: &BTreeMap<String, ImportState>,
    services: &BTreeSet<String>,
    slice_labels: &BTreeMap<String, String>,
) -> Progress {
    let mut p = Progress {
        imports: imports.len(),
        ..Progress::default()
    };
    for (name, import) in imports {
        p.ips += usize::from(import.has_ips);
        p.ready += usize::from(import.ready);
        let Some(derived) = import.derived.as_deref() else {
            continue;
        };
        p.services += usize::from(services.contains(derived));
        p.labelled += usize::from(
            slice_labels
                .get(&slice_name(name))
                .is_some_and(|l| l == derived),
        );
    }
    p
}

/// What the benchmark reads from one ServiceImport.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportState {
    /// The derived-service annotation.
    pub derived: Option<String>,
    /// `spec.ips` is non-empty.
    pub has_ips: bool,
    /// A `Ready` condition with status `True`.
    pub ready: bool,
}

impl ImportState {
    /// Reads an import.
    pub fn of(obj: &DynamicObject) -> Self {
        let derived = obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_DERIVED_SERVICE))
            .filter(|d| !d.is_empty())
            .cloned();
        let has_ips = obj.data["spec"]["ips"]
            .as_array()
            .is_some_and(|ips| !ips.is_empty());
        let ready = obj.data["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        Self {
            derived,
            has_ips,
            ready,
        }
    }
}

/// What converged means for one run.
#[derive(Clone, Copy, Debug)]
pub struct Goal {
    /// Number of imports.
    pub expected: usize,
    /// Also require `Ready=True` (causeway writes it; upstream does not).
    pub need_ready: bool,
}

/// How often and how long to poll.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Poll interval.
    pub interval: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

/// One poll: lists imports; only when every import has ips (and Ready, when needed) also lists
/// Services and slices (metadata only), keeping the poll's own load on the apiserver low.
pub async fn poll(client: &kube::Client, ns: &str, goal: Goal) -> anyhow::Result<Progress> {
    let Goal {
        expected,
        need_ready,
    } = goal;
    let imports: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &service_import_resource());
    let list = imports.list(&ListParams::default()).await?;
    let states: BTreeMap<String, ImportState> = list
        .items
        .iter()
        .filter_map(|o| Some((o.metadata.name.clone()?, ImportState::of(o))))
        .collect();
    let pre = progress(&states, &BTreeSet::new(), &BTreeMap::new());
    if pre.ips < expected || (need_ready && pre.ready < expected) {
        return Ok(pre);
    }
    let services: BTreeSet<String> = Api::<Service>::namespaced(client.clone(), ns)
        .list_metadata(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    let slice_labels: BTreeMap<String, String> =
        Api::<EndpointSlice>::namespaced(client.clone(), ns)
            .list_metadata(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|s| {
                let label = s.metadata.labels?.get(LABEL_K8S_SERVICE_NAME)?.clone();
                Some((s.metadata.name?, label))
            })
            .collect();
    Ok(progress(&states, &services, &slice_labels))
}

/// Polls every `interval` until done or `timeout`; returns (seconds since `start`, last
/// progress), seconds `None` on timeout. `alive` is checked each round; a dead process ends the
/// wait early.
pub async fn wait(
    client: &kube::Client,
    ns: &str,
    goal: Goal,
    start: Instant,
    timing: Timing,
    alive: impl Fn() -> bool,
) -> anyhow::Result<(Option<f64>, Progress)> {
    let Timing { interval, timeout } = timing;
    let mut last = Progress::default();
    let mut reported = Instant::now();
    loop {
        match poll(client, ns, goal).await {
            Ok(p) => last = p,
            Err(err) => eprintln!("causeway-bench: poll of {ns} failed (continuing): {err:#}"),
        }
        if last.done(goal.expected, goal.need_ready) {
            return Ok((Some(start.elapsed().as_secs_f64()), last));
        }
        if start.elapsed() > timeout {
            eprintln!("causeway-bench: {ns} did not converge within {timeout:?}: {last}");
            return Ok((None, last));
        }
        if !alive() {
            eprintln!("causeway-bench: the controller exited before {ns} converged: {last}");
            return Ok((None, last));
        }
        if reported.elapsed() > Duration::from_secs(5) {
            reported = Instant::now();
            eprintln!(
                "causeway-bench:   {:>5.1} s  {last}",
                start.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests;
