//! Waiting for a reflector store's initial list.
//!
//! `Store::wait_until_ready` wakes only the most recent waiter (its oneshot keeps one waker), so
//! several tasks waiting on one store can sleep forever; [`wait_synced`] re-polls it with a short
//! timeout so every waiter notices.

use std::time::Duration;

use kube::runtime::reflector::{Lookup, Store};

/// Resolves once `store` has been filled by its first complete list.
pub async fn wait_synced<K>(store: &Store<K>)
where
    K: Lookup + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    loop {
        if let Ok(result) =
            tokio::time::timeout(Duration::from_millis(100), store.wait_until_ready()).await
        {
            if result.is_err() {
                // The writer is gone: the stream ended; never report synced.
                std::future::pending::<()>().await;
            }
            return;
        }
    }
}
