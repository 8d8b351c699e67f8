//! Drift triggers: rtnetlink link events (`RTNLGRP_LINK`) for the VXLAN device, desired-state
//! updates and a periodic resync all lead to the same [`reconcile_once`].
//!
//! When flannel deletes and recreates `flannel.1` (restart, reboot, MAC regeneration) the kernel
//! drops every neighbour, FDB entry and route on it. [`LinkWatcher`] sees the `RTM_NEWLINK` /
//! `RTM_DELLINK` messages for that name and [`keep_reconciled`] re-applies right away.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use rtnetlink::MulticastGroup;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::dataplane::Dataplane;
use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::reconcile::reconcile_once;

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
/// every `resync`, and [`RETRY`] after a failure (e.g. device recreated but still down).
pub async fn keep_reconciled<D: Dataplane>(
    dataplane: &mut D,
    mut desired: watch::Receiver<Arc<Desired>>,
    resync: Duration,
) -> Result<()> {
    let device = desired.borrow().ownership.vxlan_device.clone();
    let mut links = watch_link(&device)?;
    loop {
        let current = Arc::clone(&desired.borrow_and_update());
        let wait = match reconcile_once(dataplane, &current).await {
            Ok(_) => resync,
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
