//! Drift triggers: rtnetlink link events (`RTNLGRP_LINK`) for the VXLAN device, desired-state
//! updates and a periodic resync all lead to the same [`reconcile_once`].
//!
//! When flannel deletes and recreates `flannel.1` (restart, reboot, MAC regeneration) the kernel
//! drops every neighbour, FDB entry and route on it. [`LinkWatcher`] sees the `RTM_NEWLINK` /
//! `RTM_DELLINK` messages for that name and [`keep_reconciled`] re-applies right away.
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
use tracing::{error, info, warn};

use crate::dataplane::Dataplane;
use crate::desired::Desired;
use crate::error::{Error, Result};
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

/// Delay before retrying a failed reconcile.
pub const RETRY: Duration = Duration::from_millis(500);

/// Keeps the node reconciled until the desired-state sender is dropped.
///
/// Reconciles at start, on every link event for the VXLAN device, on every desired-state update,
/// every `resync`, and [`RETRY`] after a failure (e.g. device recreated but still down). A
/// configuration error (VNI or UDP port mismatch) is logged as an error and retried every
/// `resync`, or at once when the device changes.
pub async fn keep_reconciled<D: Dataplane>(
    dataplane: &mut D,
    mut desired: watch::Receiver<Arc<Desired>>,
    resync: Duration,
) -> Result<()> {
    let device = desired.borrow().ownership.vxlan_device.clone();
    let mut links = watch_link(&device)?;
    let mut mtu_checked = false;
    loop {
        let current = Arc::clone(&desired.borrow_and_update());
        let wait = match reconcile_once(dataplane, &current).await {
            Ok(plan) => {
                let only = mtu_checked.then(|| fdb_destinations(&plan));
                if only.as_ref().is_none_or(|o| !o.is_empty()) {
                    warn_mtu(dataplane, &current, only.as_ref()).await;
                    mtu_checked = true;
                }
                resync
            }
            Err(err) if err.is_config() => {
                error!(
                    error = &err as &dyn std::error::Error,
                    reason = err.metric_label(),
                    "netpeer cannot peer this node; nothing was changed"
                );
                resync
            }
            Err(err) => {
                warn!(
                    error = &err as &dyn std::error::Error,
                    "netpeer reconcile failed"
                );
                RETRY
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
