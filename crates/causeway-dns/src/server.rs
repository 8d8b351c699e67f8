//! The DNS server: hickory-server's UDP and TCP listeners in front of the [`Handler`].
//!
//! [`Listening::bind`] binds both sockets on one address (port 0 picks a free port for UDP and
//! reuses it for TCP) and registers them with a [`hickory_server::Server`]; every request is
//! decoded by hickory and answered by [`Handler`] from the shared index; [`Listening::run`]
//! serves until a listener fails, [`Listening::run_until`] also until a stop signal, and
//! [`Listening::shutdown`] stops gracefully. Malformed requests are answered `FORMERR` by
//! hickory (or dropped when not even the header parses) and never reach the handler.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

use crate::error::{Error, Result};

mod handler;
#[cfg(test)]
mod tests;
pub mod wire;

pub use handler::Handler;

/// Idle timeout of a TCP connection.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses buffered per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;
/// Attempts to find a port free for both UDP and TCP when binding port 0.
const BIND_ATTEMPTS: usize = 8;

/// A bound, serving DNS server.
pub struct Listening {
    udp: SocketAddr,
    tcp: SocketAddr,
    server: Server<Handler>,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("udp", &self.udp)
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl Listening {
    /// Binds UDP and TCP on `addr` and starts answering with `handler`.
    pub async fn bind(addr: SocketAddr, handler: Handler) -> Result<Self> {
        let (udp, tcp) = bind_pair(addr).await?;
        let udp_addr = udp.local_addr().map_err(Error::LocalAddr)?;
        let tcp_addr = tcp.local_addr().map_err(Error::LocalAddr)?;
        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, TCP_TIMEOUT, TCP_RESPONSE_BUFFER);
        Ok(Self {
            udp: udp_addr,
            tcp: tcp_addr,
            server,
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

    /// Serves until a listener fails.
    pub async fn run(mut self) -> Result<()> {
        self.server
            .block_until_done()
            .await
            .map_err(|e| Error::Server(Box::new(e)))
    }

    /// Serves until a listener fails or `stop` resolves; then stops gracefully (see
    /// [`Listening::shutdown`]).
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> Result<()> {
        tokio::select! {
            // `block_until_done` only awaits a `JoinSet`, which is cancel-safe.
            result = self.server.block_until_done() => {
                return result.map_err(|e| Error::Server(Box::new(e)));
            }
            () = stop => {}
        }
        self.shutdown().await
    }

    /// Stops accepting requests and waits for the listeners to finish.
    pub async fn shutdown(mut self) -> Result<()> {
        self.server
            .shutdown_gracefully()
            .await
            .map_err(|e| Error::Server(Box::new(e)))
    }
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
