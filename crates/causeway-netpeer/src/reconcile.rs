//! One reconcile: check the VXLAN device ([`check_link`]) → read actual state → [`diff`] against
//! the desired state → apply the plan.
//!
//! The plan is returned so callers can log it, count it or print it (`--dry-run` uses
//! [`plan_once`], which stops before applying). A converged node returns an empty plan. A device
//! whose VNI or UDP port does not match the peers fails before anything is read or written.
//! [`mtu_check`] looks up the route to VXLAN peers' public IPs and returns MTU warnings.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use tracing::{debug, info, warn};

use crate::dataplane::Dataplane;
use crate::desired::Desired;
use crate::diff::{diff, removal};
use crate::error::{Error, Result};
use crate::firewall::NatBackend;
use crate::link::{MtuWarning, check_link, mtu_warnings};
use crate::plan::{NatChange, Plan};
use crate::state::Ownership;

/// Computes the plan without applying it (dry run). Fails when the VXLAN device does not match
/// the peers (see [`check_link`]).
pub async fn plan_once<D: Dataplane>(dataplane: &mut D, desired: &Desired) -> Result<Plan> {
    let link = dataplane
        .vxlan_link(&desired.ownership.vxlan_device)
        .await?;
    check_link(&link, &desired.vxlan)?;
    let actual = dataplane.read(&desired.ownership).await?;
    Ok(diff(&desired.state, &actual, &desired.ownership))
}

/// MTU warnings for the VXLAN peers of `desired` (only those whose public IP is in `only`, when
/// given): one `ip route get` per peer, so callers pass the peers that just changed.
pub async fn mtu_check<D: Dataplane>(
    dataplane: &mut D,
    desired: &Desired,
    only: Option<&BTreeSet<Ipv4Addr>>,
) -> Result<Vec<MtuWarning>> {
    let link = dataplane
        .vxlan_link(&desired.ownership.vxlan_device)
        .await?;
    let mut paths = Vec::new();
    for (ip, name) in &desired.vxlan_peers {
        if only.is_some_and(|o| !o.contains(ip)) {
            continue;
        }
        paths.push((name.as_str(), *ip, dataplane.path_mtu(*ip).await?));
    }
    Ok(mtu_warnings(&link, paths))
}

/// Brings the node to `desired` and returns what was changed.
pub async fn reconcile_once<D: Dataplane>(dataplane: &mut D, desired: &Desired) -> Result<Plan> {
    let plan = plan_once(dataplane, desired).await?;
    if plan.is_empty() {
        debug!("netpeer state already converged");
        return Ok(plan);
    }
    dataplane.apply(&plan).await?;
    for route in &plan.adopted {
        warn!(
            route = %route,
            "replaced a route to a peer pod CIDR that causeway did not install (e.g. left by the \
             seed's create-routes.sh); causeway owns this destination now and `causeway netpeer \
             cleanup` removes it"
        );
    }
    info!(changes = plan.len(), "netpeer state reconciled");
    Ok(plan)
}

/// Removes everything causeway owns under `ownership` and returns what was removed.
///
/// When the VXLAN device is gone, the kernel already dropped its neighbours, FDB entries and
/// routes; only the NAT table and chain are deleted then (each a no-op when absent).
pub async fn cleanup<D: Dataplane>(dataplane: &mut D, ownership: &Ownership) -> Result<Plan> {
    let plan = match dataplane.read(ownership).await {
        Ok(actual) => removal(&actual, ownership),
        Err(Error::LinkNotFound { .. }) => Plan {
            nat: vec![
                (NatBackend::Nftables, NatChange::Delete),
                (NatBackend::IptablesLegacy, NatChange::Delete),
            ],
            ..Plan::default()
        },
        Err(err) => return Err(err),
    };
    if !plan.is_empty() {
        dataplane.apply(&plan).await?;
        info!(changes = plan.len(), "netpeer state cleaned up");
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
