//! The demo's client, like the seed's: a loop inside a pod namespace of cluster 1 that opens one
//! new TCP connection per request, alternating between the ServiceImport's VIP and the
//! `clusterset.local` name (resolved by a DNS query to `causeway dns` before every such request),
//! and tallies who answered, per phase of the demo.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::dns;
use crate::{Error, Result, netns};

/// Phases of the demo the tallies are kept apart for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// One replica in each cluster.
    Both = 0,
    /// Scaling up in cluster 2, then down to zero in cluster 1.
    Migrating = 1,
    /// Everything runs in cluster 2.
    After = 2,
}

/// Phase names, in order.
pub const PHASES: [&str; 3] = ["both clusters", "migration", "after the move"];

/// What one phase's requests got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Answers per cluster (`"1"`, `"2"`).
    pub by_cluster: BTreeMap<String, u64>,
    /// Answers per pod (`c<i>/<pod>`).
    pub by_pod: BTreeMap<String, u64>,
    /// Requests sent to the VIP, and how many of them failed.
    pub vip: (u64, u64),
    /// Requests sent to the DNS name (lookup + request), and how many of them failed.
    pub dns: (u64, u64),
    /// The first few failures, for the report.
    pub errors: Vec<String>,
}

impl Tally {
    /// Requests sent.
    pub fn total(&self) -> u64 {
        self.vip.0 + self.dns.0
    }

    /// Requests that failed.
    pub fn failed(&self) -> u64 {
        self.vip.1 + self.dns.1
    }

    /// Answers from cluster `name`.
    pub fn from_cluster(&self, name: &str) -> u64 {
        self.by_cluster.get(name).copied().unwrap_or_default()
    }
}

struct Shared {
    phase: AtomicUsize,
    stop: AtomicBool,
    tallies: Mutex<[Tally; 3]>,
}

/// Where the loop sends its requests.
#[derive(Clone, Debug)]
pub struct Targets {
    /// The ServiceImport's VIP and port.
    pub vip: SocketAddr,
    /// The `causeway dns` server.
    pub dns_server: SocketAddr,
    /// The name to resolve.
    pub name: String,
    /// The service port behind the name.
    pub port: u16,
}

/// A running request loop.
pub struct RequestLoop {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

/// `hello from cluster <N> (Node: <node> Pod: <pod> Address: <ip>)` → (N, pod).
pub fn parse_hello(body: &str) -> Option<(String, String)> {
    let rest = body.trim().strip_prefix("hello from cluster ")?;
    let (cluster, rest) = rest.split_once(' ')?;
    let pod = rest.split_once("Pod: ")?.1.split_whitespace().next()?;
    Some((cluster.to_owned(), pod.to_owned()))
}

/// One request on a new connection: the answering (cluster, pod).
pub fn request(addr: SocketAddr) -> std::result::Result<(String, String), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    // One write: `serve` reads the request once, and unread bytes would make its close a reset.
    let head = format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = String::new();
    stream.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let body = buf.split_once("\r\n\r\n").map_or(buf.as_str(), |(_, b)| b);
    parse_hello(body).ok_or_else(|| format!("unexpected answer {:?}", body.trim()))
}

impl RequestLoop {
    /// Starts the loop on its own thread inside `netns`, pausing `pace` between requests.
    pub fn start(netns_name: &str, targets: Targets, pace: Duration) -> Result<Self> {
        let path = netns::path(netns_name);
        let file = File::open(&path).map_err(Error::io("failed to open", &path))?;
        let shared = Arc::new(Shared {
            phase: AtomicUsize::new(Phase::Both as usize),
            stop: AtomicBool::new(false),
            tallies: Mutex::new(Default::default()),
        });
        let inner = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("demo-client".into())
            .spawn(move || {
                if nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
                    return;
                }
                run(&inner, &targets, pace);
            })
            .map_err(Error::io("failed to start the client thread in", path))?;
        Ok(Self {
            shared,
            handle: Some(handle),
        })
    }

    /// Counts the following requests under `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.shared.phase.store(phase as usize, Ordering::SeqCst);
    }

    /// The tallies so far, per phase.
    pub fn tallies(&self) -> [Tally; 3] {
        self.shared
            .tallies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Requests sent so far.
    pub fn total(&self) -> u64 {
        self.tallies().iter().map(Tally::total).sum()
    }

    /// Stops the loop and waits for its thread; returns the final tallies.
    pub fn stop(&mut self) -> [Tally; 3] {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        self.tallies()
    }
}

impl Drop for RequestLoop {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared, targets: &Targets, pace: Duration) {
    let mut id: u16 = 1;
    let mut use_dns = false;
    while !shared.stop.load(Ordering::SeqCst) {
        let phase = shared.phase.load(Ordering::SeqCst).min(2);
        let result = if use_dns {
            id = id.wrapping_add(1);
            dns::lookup(targets.dns_server, &targets.name, id)
                .map_err(|e| e.to_string())
                .and_then(|ip: Ipv4Addr| request(SocketAddr::from((ip, targets.port))))
        } else {
            request(targets.vip)
        };
        {
            let mut tallies = shared
                .tallies
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let tally = &mut tallies[phase];
            let counter = if use_dns {
                &mut tally.dns
            } else {
                &mut tally.vip
            };
            counter.0 += 1;
            match result {
                Ok((cluster, pod)) => {
                    *tally.by_pod.entry(format!("c{cluster}/{pod}")).or_default() += 1;
                    *tally.by_cluster.entry(cluster).or_default() += 1;
                }
                Err(err) => {
                    counter.1 += 1;
                    if tally.errors.len() < 5 {
                        let via = if use_dns { "DNS name" } else { "VIP" };
                        tally.errors.push(format!("{via}: {err}"));
                    }
                }
            }
        }
        use_dns = !use_dns;
        std::thread::sleep(pace);
    }
}

#[cfg(test)]
mod tests;
