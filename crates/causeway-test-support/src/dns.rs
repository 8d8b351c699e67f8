//! DNS from a test's side: a port free for both UDP and TCP to start a server on, and queries
//! sent over real sockets (UDP, TCP) whose replies are decoded with the wire types causeway dns
//! itself uses.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use causeway_dns::proto::op::{Message, MessageType, OpCode, Query};
use causeway_dns::proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one exchange may take before the test calls it lost.
pub const WAIT: Duration = Duration::from_secs(3);

/// A port free for both UDP and TCP on `ip` (both bound, read, released).
pub fn free_port(ip: Ipv4Addr) -> u16 {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        let port = udp.local_addr().map_or(0, |a| a.port());
        if port != 0 && std::net::TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on {ip}");
}

/// A recursion-desired query for `name` `rtype`, with an id that differs between calls.
pub fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos());
    let mut msg = Message::new(
        u16::try_from(id % 65_536).unwrap_or(1),
        MessageType::Query,
        OpCode::Query,
    );
    msg.metadata.recursion_desired = true;
    let name = Name::from_ascii(name).unwrap_or_else(|e| panic!("bad name {name}: {e}"));
    msg.add_query(Query::query(name, rtype));
    msg.to_vec().unwrap_or_else(|e| panic!("encode query: {e}"))
}

/// Sends raw bytes over UDP; `None` when no reply came within `wait`.
pub async fn udp_raw(server: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    socket
        .send_to(bytes, server)
        .await
        .unwrap_or_else(|e| panic!("send to {server}: {e}"));
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(wait, socket.recv(&mut buf)).await {
        Ok(Ok(len)) => Some(buf[..len].to_vec()),
        Ok(Err(e)) => panic!("recv from {server}: {e}"),
        Err(_) => None,
    }
}

/// Asks over UDP; `None` when no reply came within [`WAIT`]. The reply carries the query's id.
pub async fn try_udp(server: SocketAddr, name: &str, rtype: RecordType) -> Option<Message> {
    let bytes = query(name, rtype);
    let reply = udp_raw(server, &bytes, WAIT).await?;
    let msg = Message::from_vec(&reply).unwrap_or_else(|e| panic!("bad reply from {server}: {e}"));
    assert_eq!(msg.metadata.id, u16::from_be_bytes([bytes[0], bytes[1]]));
    Some(msg)
}

/// Asks over UDP and panics when no reply comes.
pub async fn udp(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    try_udp(server, name, rtype)
        .await
        .unwrap_or_else(|| panic!("no UDP reply to {name} {rtype} from {server}"))
}

/// Asks over TCP (length-prefixed) and panics when no reply comes within [`WAIT`].
pub async fn tcp(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let bytes = query(name, rtype);
    let mut stream = TcpStream::connect(server)
        .await
        .unwrap_or_else(|e| panic!("connect {server}: {e}"));
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    stream
        .write_all(&len.to_be_bytes())
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    stream
        .write_all(&bytes)
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut len = [0u8; 2];
    tokio::time::timeout(WAIT, stream.read_exact(&mut len))
        .await
        .unwrap_or_else(|_| panic!("no TCP reply to {name} {rtype} from {server}"))
        .unwrap_or_else(|e| panic!("read: {e}"));
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .await
        .unwrap_or_else(|e| panic!("read: {e}"));
    Message::from_vec(&buf).unwrap_or_else(|e| panic!("bad reply from {server}: {e}"))
}

/// The A and AAAA addresses among the answers.
pub fn addrs(msg: &Message) -> BTreeSet<String> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}
