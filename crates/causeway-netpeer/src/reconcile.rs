//! One reconcile: read actual state → [`diff`] against the desired state → apply the plan.
//!
//! The plan is returned so callers can log it, count it or print it (`--dry-run` uses
//! [`plan_once`], which stops before applying). A converged node returns an empty plan.

use tracing::{debug, info};

use crate::dataplane::Dataplane;
use crate::desired::Desired;
use crate::diff::{diff, removal};
use crate::error::{Error, Result};
use crate::plan::{NatChange, Plan};
use crate::state::Ownership;

/// Computes the plan without applying it (dry run).
pub async fn plan_once<D: Dataplane>(dataplane: &mut D, desired: &Desired) -> Result<Plan> {
    let actual = dataplane.read(&desired.ownership).await?;
    Ok(diff(&desired.state, &actual, &desired.ownership))
}

/// Brings the node to `desired` and returns what was changed.
pub async fn reconcile_once<D: Dataplane>(dataplane: &mut D, desired: &Desired) -> Result<Plan> {
    let plan = plan_once(dataplane, desired).await?;
    if plan.is_empty() {
        debug!("netpeer state already converged");
        return Ok(plan);
    }
    dataplane.apply(&plan).await?;
    info!(changes = plan.len(), "netpeer state reconciled");
    Ok(plan)
}

/// Removes everything causeway owns under `ownership` and returns what was removed.
///
/// When the VXLAN device is gone, the kernel already dropped its neighbours, FDB entries and
/// routes; only the NAT table is deleted then.
pub async fn cleanup<D: Dataplane>(dataplane: &mut D, ownership: &Ownership) -> Result<Plan> {
    let plan = match dataplane.read(ownership).await {
        Ok(actual) => removal(&actual, ownership),
        Err(Error::LinkNotFound { .. }) => Plan {
            nat: Some(NatChange::Delete),
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
