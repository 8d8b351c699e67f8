//! Diff: desired [`NetState`] + actual [`NetState`] + [`Ownership`] in, [`Plan`] out. Pure.
//!
//! Objects that exist exactly as desired produce nothing, so a converged node yields an empty
//! plan. An object at the same key with different content becomes a replacement. Actual objects
//! that are not desired are removed only if causeway owns them (see [`Ownership`]); everything
//! else on the node (flannel's own entries, other routes) is left alone. The one exception: a
//! foreign route at the destination of a route causeway adds (the seed's `create-routes.sh`
//! leaves such routes) is replaced by the add and listed in [`Plan::adopted`].
//!
//! Every lookup goes through a map keyed like the kernel's tables ((device, address) for
//! neighbours, destination for routes), so a diff is O(n log n) in the number of peers: a no-op
//! resync over thousands of peer nodes costs a few milliseconds of CPU.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

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
    let backend = actual.nat_backend;
    let mut nat = Vec::new();
    match (&desired.nat, &actual.nat) {
        (Some(want), Some(have)) if want == have => {}
        (Some(want), _) => nat.push((backend, NatChange::Apply(want.clone()))),
        (None, Some(_)) => nat.push((backend, NatChange::Delete)),
        (None, None) => {}
    }
    if actual.nat_leftover {
        nat.push((backend.other(), NatChange::Delete));
    }
    let adopted = routes
        .add
        .iter()
        .filter_map(|r| actual.foreign_routes.get(&r.dst).cloned())
        .collect();
    Plan {
        neighbours,
        fdb,
        routes,
        adopted,
        nat,
    }
}

/// A plan that removes everything causeway owns in `actual` (for `cleanup`).
pub fn removal(actual: &NetState, ownership: &Ownership) -> Plan {
    diff(&NetState::default(), actual, ownership)
}

fn diff_neighbours(desired: &NetState, actual: &NetState, own: &Ownership) -> Changes<Neighbour> {
    let mut changes = Changes::default();
    let have_by_key = neighbour_keys(&actual.neighbours);
    for want in &desired.neighbours {
        match have_by_key.get(&(want.device.as_str(), want.ip)) {
            Some(have) if *have == want => {}
            Some(have) => changes.replace.push(((*have).clone(), want.clone())),
            None => changes.add.push(want.clone()),
        }
    }
    let want_by_key = neighbour_keys(&desired.neighbours);
    for have in &actual.neighbours {
        let desired_key = want_by_key.contains_key(&(have.device.as_str(), have.ip));
        if !desired_key && own.owns_neighbour(have) {
            changes.remove.push(have.clone());
        }
    }
    changes
}

/// Neighbours by their kernel key; the first (in set order) wins if a key repeats.
fn neighbour_keys(set: &BTreeSet<Neighbour>) -> BTreeMap<(&str, Ipv4Addr), &Neighbour> {
    let mut map = BTreeMap::new();
    for n in set {
        map.entry((n.device.as_str(), n.ip)).or_insert(n);
    }
    map
}

fn diff_fdb(
    desired: &NetState,
    actual: &NetState,
    own: &Ownership,
    owned_macs: &BTreeSet<MacAddr>,
) -> Changes<FdbEntry> {
    let mut changes = Changes::default();
    let mut replaced = BTreeSet::new();
    let mut by_mac: BTreeMap<(&str, MacAddr), Vec<&FdbEntry>> = BTreeMap::new();
    for e in &actual.fdb {
        by_mac
            .entry((e.device.as_str(), e.mac))
            .or_default()
            .push(e);
    }
    for want in &desired.fdb {
        if actual.fdb.contains(want) {
            continue;
        }
        let same_mac = by_mac
            .get(&(want.device.as_str(), want.mac))
            .and_then(|entries| entries.iter().find(|e| !replaced.contains(**e)))
            .copied();
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
    let have_by_dst = route_keys(&actual.routes);
    for want in &desired.routes {
        match have_by_dst.get(&want.dst) {
            Some(have) if want.satisfied_by(have) => {}
            Some(have) => changes.replace.push(((*have).clone(), want.clone())),
            None => changes.add.push(want.clone()),
        }
    }
    let want_by_dst = route_keys(&desired.routes);
    for have in &actual.routes {
        if !want_by_dst.contains_key(&have.dst) {
            changes.remove.push(have.clone());
        }
    }
    changes
}

/// Routes by destination; the first (in set order) wins if a destination repeats.
fn route_keys(set: &BTreeSet<Route>) -> BTreeMap<Ipv4Net, &Route> {
    let mut map = BTreeMap::new();
    for r in set {
        map.entry(r.dst).or_insert(r);
    }
    map
}

#[cfg(test)]
mod tests;
