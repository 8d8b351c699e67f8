//! Wires the controller: reflectors for imports, derived Services and MCS slices; the import
//! reconciler; the orphan clean-up; readiness once every cache synced; a full reconcile whenever
//! this replica becomes leader; graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use causeway_api::ServiceImport;
use causeway_api::names::{FIELD_MANAGER_CONTROLLER, LABEL_DERIVED_FROM, LABEL_SERVICE_NAME};
use causeway_runtime::timeouts::watch_config;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt, reflector};
use tokio::sync::{Notify, watch};

use causeway_runtime::synced::wait_synced;

use crate::context::Context;
use crate::metrics::Metrics;
use crate::slice_index::SliceIndex;
use crate::writer::Writer;
use crate::{imports, orphans, trim};

/// Objects per page of a watch's initial list: a page is parsed whole (a slice with all its
/// endpoints) before `.modify` trims it, so smaller pages keep the start-up peak down.
const LIST_PAGE: u32 = 100;

/// What the controller serves.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Only this namespace (default: all).
    pub namespace: Option<String>,
    /// Cross-cluster sync, when enabled.
    pub sync: Option<crate::sync::engine::SyncSettings>,
    /// Imports reconciled at the same time.
    pub concurrency: u16,
}

/// Runs the controller until `shutdown` resolves. `ready` turns true once every cache synced;
/// `is_leader` gates every write.
#[allow(
    clippy::too_many_lines,
    reason = "linear wiring of reflectors and tasks"
)]
pub async fn run(
    client: kube::Client,
    options: RunOptions,
    metrics: Metrics,
    is_leader: watch::Receiver<bool>,
    ready: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let RunOptions {
        namespace,
        sync,
        concurrency,
    } = options;
    let scoped = |client: &kube::Client| match &namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    let (imports_api, service_api, slice_api): (
        Api<ServiceImport>,
        Api<Service>,
        Api<EndpointSlice>,
    ) = scoped(&client);
    imports_api.list(&ListParams::default().limit(1)).await.context(
        "cannot list serviceimports.multicluster.x-k8s.io: install the CRDs (`causeway crds | kubectl apply -f -`) and grant the controller's RBAC (deploy/)",
    )?;

    let (import_reader, import_writer) = reflector::store();
    let (service_reader, service_writer) = reflector::store();
    let slice_index = Arc::new(SliceIndex::default());
    let identity =
        std::env::var("POD_NAME").unwrap_or_else(|_| format!("pid-{}", std::process::id()));
    let ctx = Arc::new(Context {
        client: client.clone(),
        writer: Writer::new(
            client.clone(),
            is_leader.clone(),
            metrics.clone(),
            FIELD_MANAGER_CONTROLLER,
        ),
        imports: import_reader.clone(),
        services: service_reader.clone(),
        slices: slice_index.clone(),
        is_leader: is_leader.clone(),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "causeway-controller".into(),
                instance: Some(identity),
            },
        ),
        metrics: metrics.clone(),
        failures: Mutex::new(HashMap::new()),
        written: Mutex::new(HashMap::new()),
        caches_synced: std::sync::atomic::AtomicBool::new(false),
    });

    let poke = Arc::new(Notify::new());
    let on_delete = poke.clone();
    let on_import = ctx.clone();
    // Caches keep only what reconciles read (`trim`, before the reflector stores).
    let import_stream = reflector(
        import_writer,
        watcher::watcher(imports_api, watch_config().page_size(LIST_PAGE)).modify(trim::import),
    )
    .backoff(causeway_runtime::backoff::watch())
    .inspect(move |ev| match ev {
        Ok(watcher::Event::Delete(_)) => on_delete.notify_one(),
        Ok(watcher::Event::Apply(i) | watcher::Event::InitApply(i)) => on_import.observed(
            &["serviceimport", "serviceimport_status"],
            &i.namespace().unwrap_or_default(),
            &i.name_any(),
            &i.resource_version().unwrap_or_default(),
        ),
        _ => {}
    })
    .applied_objects();

    let on_service = ctx.clone();
    let service_stream = reflector(
        service_writer,
        watcher::watcher(
            service_api,
            watch_config()
                .labels(LABEL_DERIVED_FROM)
                .page_size(LIST_PAGE),
        )
        .modify(trim::service),
    )
    .backoff(causeway_runtime::backoff::watch())
    .inspect(move |ev| match ev {
        Ok(watcher::Event::Delete(svc)) => on_service.forget_write(
            "service",
            &svc.namespace().unwrap_or_default(),
            &svc.name_any(),
        ),
        Ok(watcher::Event::Apply(svc) | watcher::Event::InitApply(svc)) => on_service.observed(
            &["service"],
            &svc.namespace().unwrap_or_default(),
            &svc.name_any(),
            &svc.resource_version().unwrap_or_default(),
        ),
        _ => {}
    })
    .touched_objects();

    let on_slice = ctx.clone();
    // Slices are not cached: the index keeps, per slice, the few facts the import side reads.
    let index = slice_index.clone();
    let slice_stream = watcher::watcher(
        slice_api,
        watch_config()
            .labels(LABEL_SERVICE_NAME)
            .page_size(LIST_PAGE),
    )
    .backoff(causeway_runtime::backoff::watch())
    .inspect(move |ev| {
        if let Ok(ev) = ev {
            index.apply(ev);
        }
        if let Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) = ev {
            on_slice.observed(
                &["endpointslice"],
                &s.namespace().unwrap_or_default(),
                &s.name_any(),
                &s.resource_version().unwrap_or_default(),
            );
        }
    })
    .touched_objects();

    {
        let (imports, services, slices) = (
            import_reader.clone(),
            service_reader.clone(),
            slice_index.clone(),
        );
        let ctx = ctx.clone();
        tokio::spawn(async move {
            wait_synced(&imports).await;
            wait_synced(&services).await;
            slices.wait_synced().await;
            ctx.caches_synced
                .store(true, std::sync::atomic::Ordering::Release);
            tracing::info!("caches synced; ready");
            let _ = ready.send(true);
        });
    }
    tokio::spawn(orphans::run(ctx.clone(), import_reader.clone(), poke));
    if let Some(settings) = sync {
        tokio::spawn(crate::sync::engine::run(
            ctx.client.clone(),
            settings,
            is_leader.clone(),
            metrics.clone(),
        ));
    }

    let leader_edges = leader_edges(is_leader, metrics);

    Controller::for_stream(import_stream, import_reader)
        .owns_stream(service_stream)
        .watches_stream(slice_stream, imports::slice_to_import)
        .reconcile_all_on(leader_edges)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(imports::reconcile, imports::error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// A stream that yields once each time this replica becomes leader, keeping the leader gauge.
fn leader_edges(
    is_leader: watch::Receiver<bool>,
    metrics: Metrics,
) -> impl futures::Stream<Item = ()> {
    futures::stream::unfold((is_leader, false), move |(mut rx, mut was)| {
        let metrics = metrics.clone();
        async move {
            loop {
                let now = *rx.borrow_and_update();
                metrics.leader.set(i64::from(now));
                if now && !was {
                    tracing::info!("leadership acquired; reconciling every import");
                } else if !now && was {
                    tracing::info!("leadership lost; standing by with warm caches");
                }
                let rising = now && !was;
                was = now;
                if rising {
                    return Some(((), (rx, was)));
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        }
    })
}
