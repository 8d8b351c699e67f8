//! The table of open TCP connections behind `--max-tcp-connections`: [`Slots::admit`] gives each
//! new connection a slot and, when the table is full, takes the slot of the connection idle the
//! longest and tells it to close; a connection [`Slot::touch`]es its slot after every reply and
//! frees it when dropped. Only the choice of the victim ([`longest_idle`]) is logic; it is pure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;

#[cfg(test)]
mod tests;

/// One open connection as the table sees it.
#[derive(Debug)]
struct Entry {
    last_active: Instant,
    close: Arc<Notify>,
}

/// The connection table, shared by the accept loop and the connections.
#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    table: Mutex<Table>,
    open: Gauge,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    entries: HashMap<u64, Entry>,
}

/// A connection's slot; frees it when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    id: u64,
    /// Notified when the connection is evicted.
    pub(crate) close: Arc<Notify>,
}

impl Slots {
    /// A table of at most `max` (at least 1) connections, counting open ones in `open`.
    pub(crate) fn new(max: usize, open: Gauge) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            table: Mutex::new(Table::default()),
            open,
        })
    }

    /// A slot for a new connection, and whether another connection was evicted to make room.
    pub(crate) fn admit(self: &Arc<Self>, now: Instant) -> (Slot, bool) {
        let close = Arc::new(Notify::new());
        let (id, evicted) = {
            let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            let mut evicted = false;
            while table.entries.len() >= self.max {
                let Some(victim) =
                    longest_idle(table.entries.iter().map(|(id, e)| (*id, e.last_active)))
                else {
                    break;
                };
                if let Some(entry) = table.entries.remove(&victim) {
                    entry.close.notify_one();
                    evicted = true;
                }
            }
            let id = table.next_id;
            table.next_id += 1;
            table.entries.insert(
                id,
                Entry {
                    last_active: now,
                    close: close.clone(),
                },
            );
            (id, evicted)
        };
        self.open.inc();
        let slot = Slot {
            slots: self.clone(),
            id,
            close,
        };
        (slot, evicted)
    }

    /// Connections holding a slot.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }
}

impl Slot {
    /// Marks the connection active at `now` (it just answered a request).
    pub(crate) fn touch(&self, now: Instant) {
        let mut table = self
            .slots
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = table.entries.get_mut(&self.id) {
            entry.last_active = now;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .remove(&self.id);
        self.slots.open.dec();
    }
}

/// The connection whose last activity is oldest (the lowest id among equals, i.e. the oldest
/// connection).
pub(crate) fn longest_idle(entries: impl Iterator<Item = (u64, Instant)>) -> Option<u64> {
    entries
        .min_by_key(|(id, last_active)| (*last_active, *id))
        .map(|(id, _)| id)
}
