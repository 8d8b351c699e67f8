//! The TCP transport: the accept loop admits each connection into the [`Slots`] table (evicting
//! the longest idle connection when `--max-tcp-connections` are open) and runs it on a task of
//! its own, which reads length-prefixed requests (RFC 1035 §4.2.2) one at a time, answers each
//! with [`Handler::handle_wire`] and writes the reply. A connection ends on EOF, on any I/O
//! error, when a complete request does not arrive within the idle timeout (so a client trickling
//! bytes cannot hold it either), when evicted, or on shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::net::xfer::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::limits::Limits;
use super::{Handler, stopped, udp::unrecoverable};

mod slots;

use slots::{Slot, Slots};

/// Pause after an accept error that may persist (e.g. out of file descriptors), so that the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Accepts and serves connections on `listener` until `stop` turns `true`; returns the accept
/// error that ended it otherwise.
pub(super) async fn serve(
    listener: TcpListener,
    handler: Handler,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let slots = Slots::new(limits.tcp_connections, handler.metrics().tcp_open().clone());
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) if unrecoverable(&error) => return Err(error),
                Err(error) => {
                    tracing::debug!(error = &error as &dyn std::error::Error, "TCP accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        while connections.try_join_next().is_some() {}
        let (slot, evicted) = slots.admit(Instant::now());
        if evicted {
            handler.metrics().observe_tcp_evicted();
        }
        connections.spawn(connection(
            stream,
            handler.clone(),
            slot,
            limits.tcp_idle,
            stop.clone(),
        ));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Serves one connection (see the module docs for when it ends).
async fn connection(
    mut stream: TcpStream,
    handler: Handler,
    slot: Slot,
    idle: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let close = Arc::clone(&slot.close);
    loop {
        let request = tokio::select! {
            read = tokio::time::timeout(idle, read_frame(&mut stream)) => match read {
                Ok(Ok(request)) => request,
                // EOF, an I/O error or the idle timeout.
                _ => break,
            },
            () = close.notified() => break,
            () = stopped(&mut stop) => break,
        };
        if let Some(reply) = handler.handle_wire(&request, Protocol::Tcp) {
            let Ok(len) = u16::try_from(reply.len()) else {
                break;
            };
            let mut framed = Vec::with_capacity(reply.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&reply);
            if !matches!(
                tokio::time::timeout(idle, stream.write_all(&framed)).await,
                Ok(Ok(()))
            ) {
                break;
            }
        }
        slot.touch(Instant::now());
    }
}

/// Reads one length-prefixed message.
async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut request).await?;
    Ok(request)
}
