//! The peer index: the peer cluster's Nodes as the watch reported them, kubert-style.
//!
//! Watch events become [`PeerIndex::apply`] / [`PeerIndex::delete`]; a re-list is buffered by
//! [`PeerIndex::begin_relist`] / [`PeerIndex::relist_apply`] and swapped in only by
//! [`PeerIndex::finish_relist`], so a list that fails half-way, or a watch that errors, never
//! removes a peer. Only a Delete event or a *completed* re-list that lacks a Node removes it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

/// Peer Nodes by name.
#[derive(Debug, Default)]
pub struct PeerIndex {
    nodes: BTreeMap<String, Node>,
    relist: Option<BTreeMap<String, Node>>,
    synced: bool,
}

impl PeerIndex {
    /// Adds or replaces a Node; returns true when the index changed.
    pub fn apply(&mut self, node: Node) -> bool {
        let Some(name) = node.metadata.name.clone() else {
            return false;
        };
        let changed = self.nodes.get(&name) != Some(&node);
        self.nodes.insert(name, node);
        changed
    }

    /// Removes a Node (a watch Delete event); returns true when the index changed.
    pub fn delete(&mut self, name: &str) -> bool {
        self.nodes.remove(name).is_some()
    }

    /// A (re-)list started: buffer until [`Self::finish_relist`].
    pub fn begin_relist(&mut self) {
        self.relist = Some(BTreeMap::new());
    }

    /// A Node of the running re-list.
    pub fn relist_apply(&mut self, node: Node) {
        let buffer = self.relist.get_or_insert_with(BTreeMap::new);
        if let Some(name) = node.metadata.name.clone() {
            buffer.insert(name, node);
        }
    }

    /// The re-list completed: its Nodes replace the index. Returns the names removed.
    pub fn finish_relist(&mut self) -> Vec<String> {
        let fresh = self.relist.take().unwrap_or_default();
        let removed = self
            .nodes
            .keys()
            .filter(|k| !fresh.contains_key(*k))
            .cloned()
            .collect();
        self.nodes = fresh;
        self.synced = true;
        removed
    }

    /// True once a first list completed.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The current Nodes, sorted by name.
    pub fn nodes(&self) -> Vec<Node> {
        self.nodes.values().cloned().collect()
    }

    /// Number of Nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests;
