//! TCP probes between lab pod namespaces: an [`EchoServer`] that answers every connection with
//! the source address it saw (so tests can tell whether traffic was masqueraded), and [`probe`],
//! a client that connects from inside another namespace.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use causeway_lab::netns;

/// A TCP server inside a namespace that writes the peer's IP to each connection and closes it.
pub struct EchoServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EchoServer {
    /// Listens on `ip:port` (port 0: any) inside `netns`.
    pub fn start(netns_name: &str, ip: Ipv4Addr, port: u16) -> Self {
        let listener = netns::run_in(netns_name, move || TcpListener::bind((ip, port)))
            .unwrap_or_else(|e| panic!("cannot enter {netns_name}: {e}"))
            .unwrap_or_else(|e| panic!("cannot listen on {ip}:{port} in {netns_name}: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("listener address: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("non-blocking listener: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        // The socket belongs to the namespace it was created in; any thread may accept on it.
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, peer)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.write_all(peer.ip().to_string().as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects from inside `netns` to `addr` (1 s timeout) and returns what the server wrote: for an
/// [`EchoServer`], the source IP it saw.
pub fn probe(netns_name: &str, addr: SocketAddr) -> Result<String, String> {
    netns::run_in(netns_name, move || {
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        let mut seen = String::new();
        stream
            .read_to_string(&mut seen)
            .map_err(|e| e.to_string())?;
        Ok(seen)
    })
    .map_err(|e| e.to_string())?
}

/// [`probe`] on a blocking thread, for async tests.
pub async fn probe_async(netns_name: &str, addr: SocketAddr) -> Result<String, String> {
    let ns = netns_name.to_owned();
    tokio::task::spawn_blocking(move || probe(&ns, addr))
        .await
        .map_err(|e| e.to_string())?
}

/// An HTTP/1.0 GET from inside `netns`; the body on status 200.
pub async fn http_get(netns_name: &str, addr: SocketAddr, path: &str) -> Option<String> {
    let ns = netns_name.to_owned();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || netns::http_get(&ns, addr, &path))
        .await
        .ok()
        .flatten()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
}
