//! Just enough of the DNS wire format for probes: one-question queries and the header fields of
//! a reply (id, response code, answer count); plus a UDP probe on loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::net::UdpSocket;

/// Record type `A`.
pub const TYPE_A: u16 = 1;
/// Record type `SRV`.
pub const TYPE_SRV: u16 = 33;

/// A one-question query (`IN` class, recursion desired) for `name` (with or without a trailing
/// dot) and `qtype`.
pub fn query(id: u16, name: &str, qtype: u16) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(18 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00]); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1, AN=NS=AR=0
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .with_context(|| format!("bad label {label:?} in {name}"))?;
        out.push(len);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    Ok(out)
}

/// The header of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Message id.
    pub id: u16,
    /// RCODE (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED).
    pub rcode: u8,
    /// Records in the answer section.
    pub answers: u16,
}

/// The header of `bytes` when it is a response.
pub fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    if bytes.len() < 12 || bytes[2] & 0x80 == 0 {
        return None;
    }
    Some(Reply {
        id: u16::from_be_bytes([bytes[0], bytes[1]]),
        rcode: bytes[3] & 0x0f,
        answers: u16::from_be_bytes([bytes[6], bytes[7]]),
    })
}

/// A UDP client socket on loopback that asks one question at a time.
pub struct Prober {
    socket: UdpSocket,
    next_id: u16,
    buf: Vec<u8>,
}

impl Prober {
    /// Binds 127.0.0.1:0.
    pub async fn new() -> anyhow::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .context("failed to bind a UDP socket on 127.0.0.1")?;
        Ok(Self {
            socket,
            next_id: 1,
            buf: vec![0; 65_535],
        })
    }

    /// Sends one query to `server` and waits up to `wait` for its reply (replies to earlier,
    /// timed-out queries are skipped). `None` when none came.
    pub async fn ask(
        &mut self,
        server: SocketAddr,
        name: &str,
        qtype: u16,
        wait: Duration,
    ) -> anyhow::Result<Option<Reply>> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let bytes = query(id, name, qtype)?;
        self.socket.send_to(&bytes, server).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.recv_from(&mut self.buf)).await {
                Err(_) => return Ok(None),
                Ok(Err(e)) => return Err(e).context("recv from a DNS server failed"),
                Ok(Ok((len, from))) => {
                    if from != server {
                        continue;
                    }
                    if let Some(reply) = parse_reply(&self.buf[..len])
                        && reply.id == id
                    {
                        return Ok(Some(reply));
                    }
                }
            }
        }
    }

    /// Asks every `period` until `name` has a NOERROR answer with at least one record; returns
    /// the time from `since` to that answer. Fails after `timeout`.
    pub async fn until_answered(
        &mut self,
        server: SocketAddr,
        name: &str,
        qtype: u16,
        since: Instant,
        period: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        loop {
            let sent = Instant::now();
            if let Some(reply) = self.ask(server, name, qtype, period).await?
                && reply.rcode == 0
                && reply.answers > 0
            {
                return Ok(since.elapsed());
            }
            if since.elapsed() > timeout {
                bail!("{server} did not answer {name} within {timeout:?}");
            }
            if let Some(rest) = period.checked_sub(sent.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 (both bound, read, released).
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no port free for both UDP and TCP on 127.0.0.1")
}

#[cfg(test)]
mod tests;
