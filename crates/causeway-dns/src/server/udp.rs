//! The UDP transport: one receive loop per socket; each datagram takes a permit of the in-flight
//! bound (or is dropped and counted when none is left), is answered by
//! [`Handler::handle_wire`] on a task of its own, and the reply, if any, is sent back to its
//! source. Nothing is sent to a source that cannot be answered (port 0, unspecified address).

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_server::net::xfer::Protocol;
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::Handler;
use super::stopped;

/// The largest datagram read (a UDP payload cannot be larger).
const RECV_BUFFER: usize = 65_535;

/// Answers datagrams on `socket` until `stop` turns `true`, each holding one of `permits` while
/// it is answered; returns the receive error that ended it otherwise.
pub(super) async fn serve(
    socket: UdpSocket,
    handler: Handler,
    permits: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let socket = Arc::new(socket);
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let (len, src) = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(error) if unrecoverable(&error) => return Err(error),
                Err(error) => {
                    tracing::debug!(error = &error as &dyn std::error::Error, "UDP receive failed");
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        while tasks.try_join_next().is_some() {}
        if !answerable(src) {
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            handler.metrics().observe_udp_dropped();
            continue;
        };
        let packet = buf[..len].to_vec();
        let (socket, handler) = (socket.clone(), handler.clone());
        tasks.spawn(async move {
            let _permit = permit;
            if let Some(reply) = handler.handle_wire(&packet, Protocol::Udp)
                && let Err(error) = socket.send_to(&reply, src).await
            {
                tracing::debug!(error = &error as &dyn std::error::Error, %src, "UDP send failed");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Whether a reply can be sent to `src` (hickory's rule: not port 0, not an unspecified or
/// broadcast address).
fn answerable(src: SocketAddr) -> bool {
    let ip_ok = match src.ip() {
        std::net::IpAddr::V4(ip) => !ip.is_unspecified() && !ip.is_broadcast(),
        std::net::IpAddr::V6(ip) => !ip.is_unspecified(),
    };
    src.port() != 0 && ip_ok
}

/// Errors after which the socket cannot be used any more.
pub(super) fn unrecoverable(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotConnected | std::io::ErrorKind::ConnectionAborted
    )
}
