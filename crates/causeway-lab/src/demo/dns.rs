//! A minimal DNS stub for the demo's client: one `A` question over UDP, the first `A` answer
//! back. Just enough to resolve `serve.demo.svc.clusterset.local` from inside a pod namespace
//! without a resolver library (the pod has no `/etc/resolv.conf` of its own).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// Why a lookup gave no address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// Sending or receiving failed (timeout included).
    Io(String),
    /// The answer was not a well-formed response to our question.
    Malformed,
    /// The server answered with this RCODE (3 = NXDOMAIN).
    Rcode(u8),
    /// No `A` record in the answer (NODATA).
    NoAddress,
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "DNS query failed: {e}"),
            Self::Malformed => f.write_str("malformed DNS answer"),
            Self::Rcode(3) => f.write_str("NXDOMAIN"),
            Self::Rcode(c) => write!(f, "DNS error code {c}"),
            Self::NoAddress => f.write_str("no A record (NODATA)"),
        }
    }
}

/// The wire form of a recursive-desired `A`/`IN` question for `name` with message id `id`.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        // Labels are at most 63 bytes; longer ones are truncated (never the case in the demo).
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(u8::try_from(bytes.len()).unwrap_or(63));
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&[0, 0, 1, 0, 1]);
    out
}

/// Skips a (possibly compressed) name starting at `pos`; returns the position after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        if len & 0xc0 == 0xc0 {
            return Some(pos + 2);
        }
        if len == 0 {
            return Some(pos + 1);
        }
        pos += 1 + usize::from(len);
    }
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// The first `A` record of a response to query `id`.
pub fn parse_answer(id: u16, msg: &[u8]) -> Result<Ipv4Addr, LookupError> {
    let header = |pos| u16_at(msg, pos).ok_or(LookupError::Malformed);
    let flags = header(2)?;
    if header(0)? != id || flags & 0x8000 == 0 {
        return Err(LookupError::Malformed);
    }
    let rcode = u8::try_from(flags & 0x000f).unwrap_or_default();
    if rcode != 0 {
        return Err(LookupError::Rcode(rcode));
    }
    let (questions, answers) = (header(4)?, header(6)?);
    let mut pos = 12;
    for _ in 0..questions {
        pos = skip_name(msg, pos).ok_or(LookupError::Malformed)? + 4;
    }
    for _ in 0..answers {
        pos = skip_name(msg, pos).ok_or(LookupError::Malformed)?;
        let (rtype, class) = (header(pos)?, header(pos + 2)?);
        let len = usize::from(header(pos + 8)?);
        let data = msg
            .get(pos + 10..pos + 10 + len)
            .ok_or(LookupError::Malformed)?;
        if rtype == 1 && class == 1 && len == 4 {
            return Ok(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        pos += 10 + len;
    }
    Err(LookupError::NoAddress)
}

/// Resolves `name` to its first IPv4 address over UDP, like a stub resolver: a query, and up to
/// two more after a 1 s timeout each (glibc's `attempts`), since UDP may lose a datagram.
pub fn lookup(server: SocketAddr, name: &str, id: u16) -> Result<Ipv4Addr, LookupError> {
    let io = |e: std::io::Error| LookupError::Io(e.to_string());
    let socket = UdpSocket::bind(("0.0.0.0", 0)).map_err(io)?;
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(io)?;
    socket.connect(server).map_err(io)?;
    let mut last = LookupError::Io("no attempt".into());
    for attempt in 0..3u16 {
        let qid = id.wrapping_add(attempt);
        socket.send(&query(qid, name)).map_err(io)?;
        let mut buf = [0u8; 1500];
        match socket.recv(&mut buf) {
            Ok(n) => return parse_answer(qid, &buf[..n]),
            Err(e) => last = io(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests;
