//! A cluster as the benchmark sees it: a watch on EndpointSlices (cluster 1's MCS slices, label
//! `multicluster.kubernetes.io/service-name`, or cluster 2's kcm slices, label
//! `kubernetes.io/service-name`) and optionally on ServiceImports in the benchmark namespace,
//! folded into per-service endpoint sets, the set of imports with `status.clusters`, and the time
//! each endpoint address first arrived (the change latencies are read from it).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use causeway_api::ServiceImport;
use futures::StreamExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher::Event;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::task::JoinHandle;

/// The folded state.
#[derive(Debug, Default)]
pub struct View {
    /// Slice name → (service, addresses).
    slices: HashMap<String, (String, Vec<String>)>,
    /// Service → its slices' names.
    by_service: HashMap<String, HashSet<String>>,
    /// Address → when a slice first carried it.
    pub first_seen: HashMap<String, Instant>,
    /// Imports whose `status.clusters` is non-empty.
    imports_ready: HashSet<String>,
    /// Watch errors seen (each followed by the watcher's backoff).
    pub errors: usize,
}

impl View {
    fn apply_slice(&mut self, slice: &EndpointSlice, label: &str, now: Instant) {
        let Some(name) = slice.metadata.name.clone() else {
            return;
        };
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(label))
            .cloned()
            .unwrap_or_default();
        let addresses: Vec<String> = slice
            .endpoints
            .iter()
            .flat_map(|e| e.addresses.iter().cloned())
            .collect();
        for a in &addresses {
            self.first_seen.entry(a.clone()).or_insert(now);
        }
        self.by_service
            .entry(service.clone())
            .or_default()
            .insert(name.clone());
        if let Some((old, _)) = self
            .slices
            .insert(name.clone(), (service.clone(), addresses))
            && old != service
            && let Some(set) = self.by_service.get_mut(&old)
        {
            set.remove(&name);
        }
    }

    fn delete_slice(&mut self, slice: &EndpointSlice) {
        if let Some(name) = &slice.metadata.name
            && let Some((service, _)) = self.slices.remove(name)
            && let Some(set) = self.by_service.get_mut(&service)
        {
            set.remove(name);
        }
    }

    fn apply_import(&mut self, import: &ServiceImport) {
        let Some(name) = import.metadata.name.clone() else {
            return;
        };
        let ready = import
            .status
            .as_ref()
            .and_then(|s| s.clusters.as_ref())
            .is_some_and(|c| !c.is_empty());
        if ready {
            self.imports_ready.insert(name);
        } else {
            self.imports_ready.remove(&name);
        }
    }

    /// True when `service` has a ready import and its slices hold every address in `want`.
    pub fn complete(&self, service: &str, want: &[String]) -> bool {
        if !self.imports_ready.contains(service) {
            return false;
        }
        let Some(names) = self.by_service.get(service) else {
            return want.is_empty();
        };
        let have: HashSet<&str> = names
            .iter()
            .filter_map(|n| self.slices.get(n))
            .flat_map(|(_, a)| a.iter().map(String::as_str))
            .collect();
        want.iter().all(|w| have.contains(w.as_str()))
    }

    /// Imports with `status.clusters`, and MCS slices, currently seen.
    pub fn counts(&self) -> (usize, usize) {
        (self.imports_ready.len(), self.slices.len())
    }
}

/// The shared view and its two watch tasks (aborted on drop).
pub struct Watches {
    /// The view.
    pub view: Arc<Mutex<View>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Watches {
    /// Locks the view (a poisoned lock still holds usable data).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts a watch on the EndpointSlices labelled `label` in `ns` of `client`'s cluster and, with
/// `imports`, one on its ServiceImports.
pub fn start(client: &kube::Client, ns: &str, label: &'static str, imports: bool) -> Watches {
    let view = Arc::new(Mutex::new(View::default()));
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let v = view.clone();
    let slice_task = tokio::spawn(async move {
        let config = watcher::Config::default().labels(label);
        let mut stream = watcher(slices, config)
            .backoff(causeway_runtime::backoff::watch())
            .boxed();
        while let Some(ev) = stream.next().await {
            let now = Instant::now();
            let mut view = v.lock().unwrap_or_else(PoisonError::into_inner);
            match ev {
                Ok(Event::Apply(s) | Event::InitApply(s)) => view.apply_slice(&s, label, now),
                Ok(Event::Delete(s)) => view.delete_slice(&s),
                Ok(Event::Init | Event::InitDone) => {}
                Err(_) => view.errors += 1,
            }
        }
    });
    let mut tasks = vec![slice_task];
    if !imports {
        return Watches { view, tasks };
    }
    let api = Api::<ServiceImport>::namespaced(client.clone(), ns);
    let v = view.clone();
    tasks.push(tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default())
            .backoff(causeway_runtime::backoff::watch())
            .boxed();
        while let Some(ev) = stream.next().await {
            let mut view = v.lock().unwrap_or_else(PoisonError::into_inner);
            match ev {
                Ok(Event::Apply(i) | Event::InitApply(i)) => view.apply_import(&i),
                Ok(Event::Delete(i)) => {
                    if let Some(n) = &i.metadata.name {
                        view.imports_ready.remove(n);
                    }
                }
                Ok(Event::Init | Event::InitDone) => {}
                Err(_) => view.errors += 1,
            }
        }
    }));
    Watches { view, tasks }
}
