//! A [`Plan`]: the changes [`diff`](fn@crate::diff) found, in the order a dataplane applies them.
//!
//! Writes first (neighbour → FDB → route, all with replace semantics), then the NAT exemption
//! (nftables table or iptables-legacy chain, see [`crate::firewall`]), then
//! removals in reverse (route → FDB → neighbour). `Display` prints one `ip`/`bridge`/`nft`-like
//! line per change for `--dry-run`.

use std::fmt;

use crate::firewall::NatBackend;
use crate::state::{FdbEntry, NatRules, Neighbour, Route};

/// Adds, replacements (old, new) and removals of one kind of object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes<T> {
    /// Objects to create.
    pub add: Vec<T>,
    /// Objects to overwrite: `(old, new)`.
    pub replace: Vec<(T, T)>,
    /// Objects to delete.
    pub remove: Vec<T>,
}

impl<T> Default for Changes<T> {
    fn default() -> Self {
        Self {
            add: Vec::new(),
            replace: Vec::new(),
            remove: Vec::new(),
        }
    }
}

impl<T> Changes<T> {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.replace.is_empty() && self.remove.is_empty()
    }

    /// Objects to write (adds and the new side of replacements), in plan order.
    pub fn writes(&self) -> impl Iterator<Item = &T> {
        self.add
            .iter()
            .chain(self.replace.iter().map(|(_, new)| new))
    }
}

/// What to do with causeway's NAT-exemption table (nftables) or chain (iptables-legacy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatChange {
    /// Create the table if needed and make the chain hold exactly these exemptions (one batch).
    Apply(NatRules),
    /// Delete causeway's table.
    Delete,
}

/// Everything one reconcile changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Neighbour changes.
    pub neighbours: Changes<Neighbour>,
    /// FDB changes.
    pub fdb: Changes<FdbEntry>,
    /// Route changes.
    pub routes: Changes<Route>,
    /// Routes that are not causeway's (e.g. left by the seed's `create-routes.sh`) at the
    /// destination of a route this plan adds: the add replaces them (same metric) and causeway
    /// owns the destination from then on. As `ip route` prints them; informational.
    pub adopted: Vec<String>,
    /// NAT changes, each in one backend: the detected backend first, then a leftover deletion
    /// in the other one.
    pub nat: Vec<(NatBackend, NatChange)>,
}

impl Plan {
    /// True when the kernel already matches.
    pub fn is_empty(&self) -> bool {
        self.neighbours.is_empty()
            && self.fdb.is_empty()
            && self.routes.is_empty()
            && self.nat.is_empty()
    }

    /// Number of individual changes (a NAT apply counts once).
    pub fn len(&self) -> usize {
        let count = |a: usize, r: usize, d: usize| a + r + d;
        count(
            self.neighbours.add.len(),
            self.neighbours.replace.len(),
            self.neighbours.remove.len(),
        ) + count(
            self.fdb.add.len(),
            self.fdb.replace.len(),
            self.fdb.remove.len(),
        ) + count(
            self.routes.add.len(),
            self.routes.replace.len(),
            self.routes.remove.len(),
        ) + self.nat.len()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "no changes");
        }
        write_writes(f, "neigh", &self.neighbours)?;
        write_writes(f, "fdb", &self.fdb)?;
        for route in &self.adopted {
            writeln!(
                f,
                "route adopt {route} (not causeway's; replaced by its route below)"
            )?;
        }
        write_writes(f, "route", &self.routes)?;
        for (backend, change) in &self.nat {
            let object = match backend {
                NatBackend::Nftables => format!("nft {{}} table ip {}", crate::nat::TABLE),
                NatBackend::IptablesLegacy => format!(
                    "iptables-legacy {{}} chain {} in table nat (jumped to first from POSTROUTING)",
                    crate::iptables::CHAIN
                ),
            };
            match change {
                NatChange::Apply(rules) => {
                    let line = object.replace("{}", "apply");
                    writeln!(f, "{line} ({} exemptions)", rules.len())?;
                    for rule in rules {
                        writeln!(f, "  no masquerade {rule}")?;
                    }
                }
                NatChange::Delete => writeln!(f, "{}", object.replace("{}", "delete"))?,
            }
        }
        write_removes(f, "route", &self.routes)?;
        write_removes(f, "fdb", &self.fdb)?;
        write_removes(f, "neigh", &self.neighbours)
    }
}

fn write_writes<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    kind: &str,
    changes: &Changes<T>,
) -> fmt::Result {
    for item in &changes.add {
        writeln!(f, "{kind} add {item}")?;
    }
    for (old, new) in &changes.replace {
        writeln!(f, "{kind} replace {new} (was {old})")?;
    }
    Ok(())
}

fn write_removes<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    kind: &str,
    changes: &Changes<T>,
) -> fmt::Result {
    for item in &changes.remove {
        writeln!(f, "{kind} del {item}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
