//! Clean-up of hand-made slices whose import is gone: causeway added `kubernetes.io/service-name`
//! to them (marked by an annotation) and removes exactly that, nothing else.
//!
//! Runs when an import is deleted (the import watch pokes [`Notify`]) and every 30 s, only on
//! the leader and only once both caches are synced, so a failed list never looks like "no
//! imports".

use std::sync::Arc;
use std::time::Duration;

use causeway_api::ServiceImport;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::Notify;

use causeway_runtime::synced::wait_synced;

use crate::context::Context;
use crate::imports::apply_slice_label;
use crate::writer::Writer;

/// Runs the clean-up loop forever.
pub async fn run(ctx: Arc<Context>, imports: Store<ServiceImport>, poke: Arc<Notify>) {
    wait_synced(&imports).await;
    ctx.slices.wait_synced().await;
    loop {
        ctx.metrics
            .imports
            .set(i64::try_from(imports.len()).unwrap_or(i64::MAX));
        if ctx.leads() {
            sweep(&ctx, &ctx.writer.session(), &imports).await;
        }
        tokio::select! {
            () = poke.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

async fn sweep(ctx: &Context, w: &Writer, imports: &Store<ServiceImport>) {
    for slice in ctx.slices.marked() {
        if imports
            .get(&ObjectRef::new(&slice.import).within(&slice.namespace))
            .is_some()
        {
            continue;
        }
        if let Err(err) = apply_slice_label(ctx, w, &slice, None).await {
            if err.not_leading() {
                return;
            }
            tracing::warn!(namespace = %slice.namespace, slice = %slice.name, error = &err as &dyn std::error::Error, "failed to remove causeway's label from an orphaned slice");
        }
    }
}
