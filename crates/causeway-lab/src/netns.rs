//! Running code inside a lab network namespace: a fresh thread joins the namespace (`setns`), so
//! sockets it opens live there, and the caller's thread never changes namespace.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Result};

/// The bind-mounted namespace file `ip netns add` creates.
pub fn path(netns: &str) -> PathBuf {
    PathBuf::from("/var/run/netns").join(netns)
}

/// True when namespace `netns` exists.
pub fn exists(netns: &str) -> bool {
    path(netns).exists()
}

/// Runs `f` on a new thread inside network namespace `netns` and returns its result.
pub fn run_in<T, F>(netns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file_path = path(netns);
    let file = File::open(&file_path).map_err(Error::io("failed to open", &file_path))?;
    let handle = std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
        Ok::<T, std::io::Error>(f())
    });
    match handle.join() {
        Ok(result) => result.map_err(Error::io("failed to enter network namespace", file_path)),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A plain HTTP/1.0 GET to `addr` from inside `netns`: the status code and body, or `None`.
pub fn http_get(netns: &str, addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let path = path.to_owned();
    run_in(netns, move || {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        // One write: a server that reads the request once would reset on unread bytes.
        let head = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(head.as_bytes()).ok()?;
        let mut buf = String::new();
        stream.read_to_string(&mut buf).ok()?;
        let status = buf.split_whitespace().nth(1)?.parse().ok()?;
        let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((status, body))
    })
    .ok()
    .flatten()
}
