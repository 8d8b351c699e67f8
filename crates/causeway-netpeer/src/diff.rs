//! Diff: desired [`NetState`] + actual [`NetState`] + [`Ownership`] in, [`Plan`] out. Pure.
//!
//! Objects that exist exactly as desired produce nothing, so a converged node yields an empty
//! plan. An object at the same key with different content becomes a replacement. Actual objects
//! that are not desired are removed only if causeway owns them (see [`Ownership`]); everything
//! else on the node (flannel's own entries, other routes) is invisible to the plan.

use std::collections::BTreeSet;

use crate::mac::MacAddr;
use crate::plan::{Changes, NatChange, Plan};
use crate::state::{FdbEntry, Neighbour, NetState, Ownership, Route};

/// Computes the changes that turn `actual` into `desired` without touching foreign objects.
pub fn diff(desired: &NetState, actual: &NetState, ownership: &Ownership) -> Plan {
    let neighbours = diff_neighbours(desired, actual, ownership);
    let owned_macs: BTreeSet<MacAddr> = actual
        .neighbours
        .iter()
        .filter(|n| ownership.owns_neighbour(n))
        .map(|n| n.mac)
        .collect();
    let fdb = diff_fdb(desired, actual, ownership, &owned_macs);
    let routes = diff_routes(desired, actual);
    let nat = match (&desired.nat, &actual.nat) {
        (Some(want), Some(have)) if want == have => None,
        (Some(want), _) => Some(NatChange::Apply(want.clone())),
        (None, Some(_)) => Some(NatChange::Delete),
        (None, None) => None,
    };
    Plan {
        neighbours,
        fdb,
        routes,
        nat,
    }
}

/// A plan that removes everything causeway owns in `actual` (for `cleanup`).
pub fn removal(actual: &NetState, ownership: &Ownership) -> Plan {
    diff(&NetState::default(), actual, ownership)
}

fn diff_neighbours(desired: &NetState, actual: &NetState, own: &Ownership) -> Changes<Neighbour> {
    let mut changes = Changes::default();
    for want in &desired.neighbours {
        let same_key = actual
            .neighbours
            .iter()
            .find(|n| n.device == want.device && n.ip == want.ip);
        match same_key {
            Some(have) if have == want => {}
            Some(have) => changes.replace.push((have.clone(), want.clone())),
            None => changes.add.push(want.clone()),
        }
    }
    for have in &actual.neighbours {
        let desired_key = desired
            .neighbours
            .iter()
            .any(|n| n.device == have.device && n.ip == have.ip);
        if !desired_key && own.owns_neighbour(have) {
            changes.remove.push(have.clone());
        }
    }
    changes
}

fn diff_fdb(
    desired: &NetState,
    actual: &NetState,
    own: &Ownership,
    owned_macs: &BTreeSet<MacAddr>,
) -> Changes<FdbEntry> {
    let mut changes = Changes::default();
    let mut replaced = BTreeSet::new();
    for want in &desired.fdb {
        if actual.fdb.contains(want) {
            continue;
        }
        let same_mac = actual
            .fdb
            .iter()
            .find(|e| e.device == want.device && e.mac == want.mac && !replaced.contains(*e));
        match same_mac {
            Some(have) => {
                replaced.insert(have.clone());
                changes.replace.push((have.clone(), want.clone()));
            }
            None => changes.add.push(want.clone()),
        }
    }
    let desired_macs: BTreeSet<MacAddr> = desired.fdb.iter().map(|e| e.mac).collect();
    for have in &actual.fdb {
        let owned = have.device == own.vxlan_device
            && (owned_macs.contains(&have.mac) || desired_macs.contains(&have.mac));
        if owned && !desired.fdb.contains(have) && !replaced.contains(have) {
            changes.remove.push(have.clone());
        }
    }
    changes
}

fn diff_routes(desired: &NetState, actual: &NetState) -> Changes<Route> {
    let mut changes = Changes::default();
    for want in &desired.routes {
        let same_dst = actual.routes.iter().find(|r| r.dst == want.dst);
        match same_dst {
            Some(have) if want.satisfied_by(have) => {}
            Some(have) => changes.replace.push((have.clone(), want.clone())),
            None => changes.add.push(want.clone()),
        }
    }
    for have in &actual.routes {
        if !desired.routes.iter().any(|r| r.dst == have.dst) {
            changes.remove.push(have.clone());
        }
    }
    changes
}

#[cfg(test)]
mod tests;
