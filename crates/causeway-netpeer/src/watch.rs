//! Drift triggers: rtnetlink link events (`RTNLGRP_LINK`) for the VXLAN device, desired-state
//! updates and a periodic resync all lead to the same [`reconcile_once`].
//!
//! When flannel deletes and recreates `flannel.1` (restart, reboot, MAC regeneration) the kernel
//! drops every neighbour, FDB entry and route on it. [`LinkWatcher`] sees the `RTM_NEWLINK` /
//! `RTM_DELLINK` messages for that name and [`keep_reconciled`] re-applies right away.
//!
//! Every outcome goes to a [`Health`] (metrics, readiness); failures back off ([`retry_delay`])
//! and are logged once per distinct message.
//!
//! After the first successful reconcile, and after every one that wrote FDB entries, the VXLAN
//! peers concerned get a path-MTU check ([`mtu_check`]); each finding is logged as a warning.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use rtnetlink::MulticastGroup;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::dataplane::Dataplane;
use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::health::Health;
use crate::plan::Plan;
use crate::reconcile::{mtu_check, reconcile_once};

/// What happened to the watched device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// Created or changed (flags, address, MTU, up/down).
    Changed,
    /// Deleted.
    Deleted,
}

/// Link notifications for one device name, from a multicast rtnetlink socket.
pub struct LinkWatcher {
    device: String,
    messages: UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
}

/// Subscribes to link events for `device` in the current thread's network namespace (spawns the
/// socket task on the current tokio runtime).
pub fn watch_link(device: &str) -> Result<LinkWatcher> {
    let (connection, _handle, messages) =
        rtnetlink::new_multicast_connection(&[MulticastGroup::Link])
            .map_err(Error::NetlinkSocket)?;
    tokio::spawn(connection);
    Ok(LinkWatcher {
        device: device.to_owned(),
        messages,
    })
}

impl LinkWatcher {
    /// Waits for the next event on the device; `None` when the socket closed.
    pub async fn next(&mut self) -> Option<LinkEvent> {
        while let Some((message, _)) = self.messages.next().await {
            let event = match message.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                    is_named(&link, &self.device).then_some(LinkEvent::Changed)
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                    is_named(&link, &self.device).then_some(LinkEvent::Deleted)
                }
                _ => None,
            };
            if event.is_some() {
                return event;
            }
        }
        None
    }
}

fn is_named(link: &LinkMessage, name: &str) -> bool {
    link.attributes
        .iter()
        .any(|a| matches!(a, LinkAttribute::IfName(n) if n == name))
}

/// Delay before the first retry of a failed reconcile.
pub const RETRY: Duration = Duration::from_millis(500);

/// Longest delay between retries of a transient failure.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// Delay after the `failures`-th consecutive failure: [`RETRY`] doubled per failure, at most
/// [`MAX_RETRY`] and `resync`; a configuration error waits `resync` (an operator must act; the
/// link watch and a desired-state change still wake the reconciler at once). Pure.
pub fn retry_delay(failures: u32, config_error: bool, resync: Duration) -> Duration {
    if config_error {
        return resync;
    }
    let doubled = RETRY.saturating_mul(1 << failures.saturating_sub(1).min(10));
    doubled.min(MAX_RETRY).min(resync)
}

/// Keeps the node reconciled until the desired-state sender is dropped.
///
/// Reconciles at start, on every link event for the VXLAN device, on every desired-state update,
/// every `resync`, and after a failure with [`retry_delay`]. Every outcome goes to `health`. A
/// failure is logged when its message differs from the last one logged (a configuration error as
/// an error naming this node and the fix, anything else as a warning), so a missing `flannel.1`
/// is logged once, not every retry; recovery is logged once too.
pub async fn keep_reconciled<D: Dataplane>(
    dataplane: &mut D,
    mut desired: watch::Receiver<Arc<Desired>>,
    resync: Duration,
    health: &Health,
) -> Result<()> {
    let device = desired.borrow().ownership.vxlan_device.clone();
    let node = health.node().to_owned();
    let mut links = watch_link(&device)?;
    let mut mtu_checked = false;
    let mut failures: u32 = 0;
    let mut last_logged: Option<String> = None;
    loop {
        let current = Arc::clone(&desired.borrow_and_update());
        let outcome = reconcile_once(dataplane, &current).await;
        health.reconciled(outcome.as_ref().map(|_| ()));
        let wait = match outcome {
            Ok(plan) => {
                if failures > 0 {
                    info!(node = %node, failures, "netpeer reconcile succeeded again");
                }
                failures = 0;
                last_logged = None;
                let only = mtu_checked.then(|| fdb_destinations(&plan));
                if only.as_ref().is_none_or(|o| !o.is_empty()) {
                    warn_mtu(dataplane, &current, only.as_ref()).await;
                    mtu_checked = true;
                }
                resync
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                let text = err.to_string();
                let config = err.is_config();
                if last_logged.as_deref() == Some(text.as_str()) {
                    debug!(node = %node, failures, reason = err.metric_label(), "netpeer reconcile still failing");
                } else if config {
                    error!(
                        node = %node,
                        reason = err.metric_label(),
                        "netpeer cannot peer node {node}: {text}"
                    );
                } else {
                    warn!(
                        node = %node,
                        error = &err as &dyn std::error::Error,
                        reason = err.metric_label(),
                        "netpeer reconcile failed; retrying with backoff"
                    );
                }
                last_logged = Some(text);
                retry_delay(failures, config, resync)
            }
        };
        tokio::select! {
            event = links.next() => match event {
                Some(event) => info!(device = %device, ?event, "vxlan device changed"),
                None => return Err(Error::LinkNotFound { name: device }),
            },
            changed = desired.changed() => if changed.is_err() { return Ok(()) },
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Public IPs of the FDB entries `plan` writes (peers added or changed).
fn fdb_destinations(plan: &Plan) -> BTreeSet<Ipv4Addr> {
    plan.fdb.writes().map(|e| e.dst).collect()
}

/// Logs a warning per VXLAN peer (of `only`, or all) whose route cannot carry the VXLAN MTU.
async fn warn_mtu<D: Dataplane>(
    dataplane: &mut D,
    desired: &Desired,
    only: Option<&BTreeSet<Ipv4Addr>>,
) {
    match mtu_check(dataplane, desired, only).await {
        Ok(findings) => {
            for finding in findings {
                warn!(
                    peer = %finding.node,
                    public_ip = %finding.public_ip,
                    vxlan_mtu = finding.vxlan_mtu,
                    path_mtu = finding.path.mtu,
                    detail = %finding,
                    "VXLAN packets to a peer node exceed the MTU of the route to it"
                );
            }
        }
        Err(err) => warn!(
            error = &err as &dyn std::error::Error,
            "path MTU check failed"
        ),
    }
}

#[cfg(test)]
mod tests;
