//! The DNS server: a UDP and a TCP transport in front of the [`Handler`].
//!
//! [`Listening::bind`] binds both sockets on one address (port 0 picks a free port for UDP and
//! reuses it for TCP) and starts the transports (`udp`, `tcp`): each passes the raw bytes of
//! every request to [`Handler::handle_wire`], which decodes it with hickory, answers it from the
//! shared index and encodes the reply, and sends that reply back. The server and the fuzz target
//! thus run exactly the same code on the bytes. Requests shorter than a header and responses
//! (QR=1, even malformed ones: answering them would make the server a reflector) get no reply;
//! other undecodable requests get `FORMERR`, counted like every other reply. The transports
//! bound concurrent work ([`Limits`]: in-flight UDP requests, open TCP connections, the TCP
//! idle timeout). [`Listening::run`] serves until a transport fails, [`Listening::run_until`]
//! also until a stop signal, and [`Listening::shutdown`] stops gracefully.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::{Error, Result};

mod handler;
pub mod limits;
mod tcp;
#[cfg(test)]
mod tests;
mod udp;
pub mod wire;

pub use handler::Handler;
pub use limits::Limits;

/// Attempts to find a port free for both UDP and TCP when binding port 0.
const BIND_ATTEMPTS: usize = 8;

/// A bound, serving DNS server.
#[derive(Debug)]
pub struct Listening {
    udp: SocketAddr,
    tcp: SocketAddr,
    stop: watch::Sender<bool>,
    transports: JoinSet<(&'static str, std::io::Result<()>)>,
}

impl Listening {
    /// Binds UDP and TCP on `addr` and starts answering with `handler`, with the default
    /// [`Limits`].
    pub async fn bind(addr: SocketAddr, handler: Handler) -> Result<Self> {
        Self::bind_with(addr, handler, Limits::default()).await
    }

    /// Binds UDP and TCP on `addr` and starts answering with `handler` within `limits`.
    pub async fn bind_with(addr: SocketAddr, handler: Handler, limits: Limits) -> Result<Self> {
        let (udp, tcp) = bind_pair(addr).await?;
        let udp_addr = udp.local_addr().map_err(Error::LocalAddr)?;
        let tcp_addr = tcp.local_addr().map_err(Error::LocalAddr)?;
        let (stop, stopped) = watch::channel(false);
        let mut transports = JoinSet::new();
        let (udp_handler, udp_stop) = (handler.clone(), stopped.clone());
        transports.spawn(async move {
            let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.udp_in_flight));
            let result = udp::serve(udp, udp_handler, permits, udp_stop).await;
            ("udp", result)
        });
        transports.spawn(async move { ("tcp", tcp::serve(tcp, handler, limits, stopped).await) });
        Ok(Self {
            udp: udp_addr,
            tcp: tcp_addr,
            stop,
            transports,
        })
    }

    /// The bound UDP address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
    }

    /// Serves until a transport fails.
    pub async fn run(mut self) -> Result<()> {
        self.until_done().await
    }

    /// Serves until a transport fails or `stop` resolves; then stops gracefully (see
    /// [`Listening::shutdown`]).
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> Result<()> {
        tokio::select! {
            // `until_done` only awaits a `JoinSet`, which is cancel-safe.
            result = self.until_done() => return result,
            () = stop => {}
        }
        self.shutdown().await
    }

    /// Stops accepting requests, closes the sockets and waits for the requests and connections
    /// in progress to end.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop.send_replace(true);
        self.until_done().await
    }

    async fn until_done(&mut self) -> Result<()> {
        while let Some(joined) = self.transports.join_next().await {
            let (protocol, result) = joined
                .unwrap_or_else(|error| ("udp/tcp", Err(std::io::Error::other(error.to_string()))));
            result.map_err(|source| Error::Transport { protocol, source })?;
        }
        Ok(())
    }
}

/// Resolves once `stop` is `true` (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener)> {
    let bind_udp = |addr| async move {
        UdpSocket::bind(addr).await.map_err(|source| Error::Bind {
            protocol: "udp",
            addr,
            source,
        })
    };
    let bind_tcp = |addr| async move {
        TcpListener::bind(addr).await.map_err(|source| Error::Bind {
            protocol: "tcp",
            addr,
            source,
        })
    };
    if addr.port() != 0 {
        return Ok((bind_udp(addr).await?, bind_tcp(addr).await?));
    }
    let mut attempt = 1;
    loop {
        let udp = bind_udp(addr).await?;
        let port = udp.local_addr().map_err(Error::LocalAddr)?.port();
        match bind_tcp(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) if attempt >= BIND_ATTEMPTS => return Err(error),
            Err(_) => attempt += 1,
        }
    }
}
