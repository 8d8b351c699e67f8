//! The request handler: a decoded [`Request`] in, a [`Reply`] out, computed synchronously from
//! a snapshot of the index by the pure [`answer`] function; nothing here waits on the API.
//!
//! [`Handler::handle_wire`] is what the transports call for every request (and what the fuzz
//! target drives): raw bytes → hickory's decoding (no reply for input shorter than a header or
//! for a response, `FORMERR` for the rest of what does not decode) → [`Handler::respond`], which
//! holds the decisions about the request (opcode, question count, class, EDNS version) and asks
//! the pure [`answer`] function → [`wire::encode`] with the transport's size limit (TC over UDP).
//! Until the index has synced (see [`Handler::with_synced`]), names of the zone get `SERVFAIL`
//! rather than answers from an index that is still empty.
//!
//! What the reply echoes as its question section ([`echo`]) was shaped by two fuzzer findings:
//! - only a single question is echoed: a request with several is answered FORMERR or NOTIMP, and
//!   echoing them could exceed 512 bytes over UDP, leaving a reply that cannot be encoded
//!   (hickory would then send a bare SERVFAIL and log an error per packet);
//! - hickory echoes the question's bytes as received; a question whose name is compressed (a
//!   pointer, e.g. into the request header, which differs from the response header) would make
//!   the reply undecodable, so such a question is re-encoded.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Header, MessageType, OpCode, ResponseCode};
use hickory_server::proto::rr::DNSClass;
use hickory_server::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};
use hickory_server::server::Request;
use hickory_server::zone_handler::Queries;
use tokio::sync::watch;

use super::wire::{self, Reply};
use crate::answer::{self, QueryType, Rcode, Zone, answer};
use crate::index::{self, SharedIndex};
use crate::metrics::DnsMetrics;

/// Answers queries for one zone from a shared index.
#[derive(Clone, Debug)]
pub struct Handler {
    index: SharedIndex,
    zone: Arc<Zone>,
    metrics: DnsMetrics,
    synced: watch::Receiver<bool>,
}

impl Handler {
    /// A handler answering for `zone` from `index`, recording into `metrics`; the index counts
    /// as synced (see [`Handler::with_synced`]).
    pub fn new(index: SharedIndex, zone: Zone, metrics: DnsMetrics) -> Self {
        Self {
            index,
            zone: Arc::new(zone),
            metrics,
            synced: watch::channel(true).1,
        }
    }

    /// Answers names of the zone `SERVFAIL` while `synced` is `false`, i.e. until the initial
    /// lists are in the index: an empty index would otherwise deny (NXDOMAIN, cached by
    /// resolvers) names that exist.
    #[must_use]
    pub fn with_synced(mut self, synced: watch::Receiver<bool>) -> Self {
        self.synced = synced;
        self
    }

    /// The metrics recorded into.
    pub(crate) fn metrics(&self) -> &DnsMetrics {
        &self.metrics
    }

    /// The zone served.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Computes the reply to a decoded request, to be sent with the question section `echoed`
    /// (see `echo`), and records its metrics.
    pub fn respond(&self, request: &Request, echoed: &Queries) -> Reply {
        let started = Instant::now();
        let (reply, qtype) = self.reply(request, echoed);
        self.metrics.observe(
            qtype,
            reply.metadata.response_code,
            request.protocol(),
            started.elapsed(),
        );
        reply
    }

    fn reply(&self, request: &Request, echoed: &Queries) -> (Reply, Option<QueryType>) {
        let edns = request.edns.as_ref().map(wire::response_edns);
        let code = |code| Reply::code(&request.metadata, code, edns.clone());
        if request.edns.as_ref().is_some_and(wire::bad_edns_version) {
            return (code(ResponseCode::BADVERS), None);
        }
        if request.metadata.op_code != OpCode::Query {
            return (code(ResponseCode::NotImp), None);
        }
        let [query] = request.queries.queries() else {
            return (code(ResponseCode::FormErr), None);
        };
        let qtype = QueryType::from(u16::from(query.query_type()));
        if query.query_class() != DNSClass::IN {
            return (code(ResponseCode::Refused), Some(qtype));
        }
        let qname = query.original().name();
        let qname_text = qname.to_ascii();
        let synced = *self.synced.borrow();
        let found = {
            let index = index::read(&self.index);
            if synced {
                answer(&index, &qname_text, qtype, &self.zone)
            } else {
                answer::not_loaded(&qname_text, &self.zone)
            }
        };
        let owner = (qname_text.as_str(), qname);
        let mut reply = code(wire::response_code(found.rcode));
        reply.metadata.authoritative = found.authoritative;
        reply.answers = wire::records(&found.answers, owner);
        reply.authorities = wire::records(&found.authority, owner);
        reply.additionals = wire::records(&found.additionals, owner);
        if found.rcode == Rcode::NoError && !found.answers.is_empty() && reply.answers.is_empty() {
            // Every answer record had a name hickory cannot encode (the answer function already
            // drops those it knows are too long): still a NODATA, which carries the SOA.
            let soa = answer::soa(&index::read(&self.index), &self.zone);
            reply.authorities = wire::records(&[soa], owner);
        }
        reply.fit_additionals(echoed, request.protocol());
        (reply, Some(qtype))
    }

    /// Runs raw request bytes through the same steps as the server: `None` when no response is
    /// sent (shorter than a header, or itself a response), `FORMERR` when the header parses but
    /// the rest does not, otherwise the encoded reply with the size limit of `protocol`.
    pub fn handle_wire(&self, bytes: &[u8], protocol: Protocol) -> Option<Vec<u8>> {
        let header = Header::read(&mut BinDecoder::new(bytes)).ok()?;
        let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
        let Ok(request) = Request::from_bytes(bytes.to_vec(), src, protocol) else {
            if header.metadata.message_type == MessageType::Response {
                return None;
            }
            let empty = no_queries()?;
            let reply = Reply::code(&header.metadata, ResponseCode::FormErr, None);
            self.metrics.observe(
                None,
                ResponseCode::FormErr,
                protocol,
                std::time::Duration::ZERO,
            );
            return wire::encode(&reply, &empty, protocol);
        };
        if request.metadata.message_type == MessageType::Response {
            return None;
        }
        let echo = echo(&request.queries);
        let echoed = echo.as_ref().unwrap_or(&request.queries);
        let reply = self.respond(&request, echoed);
        let bytes = wire::encode(&reply, echoed, protocol)?;
        if wire::truncated(&bytes) {
            self.metrics.observe_truncated();
        }
        Some(bytes)
    }
}

/// An empty question section (`None` never happens: reading zero questions cannot fail).
fn no_queries() -> Option<Queries> {
    Queries::read(&mut BinDecoder::new(&[]), 0).ok()
}

/// The question section to echo when it is not the request's own (`None`): none for a request
/// with other than one question, a re-encoded copy for a question with a compressed name (see
/// the module docs).
pub(crate) fn echo(request: &Queries) -> Option<Queries> {
    if request.len() != 1 {
        return no_queries();
    }
    if !has_pointer(request.as_bytes()) {
        return None;
    }
    let mut bytes = Vec::with_capacity(request.as_bytes().len() + 64);
    let mut encoder = BinEncoder::new(&mut bytes);
    for query in request.queries() {
        if query.original().emit(&mut encoder).is_err() {
            return no_queries();
        }
    }
    Queries::read(&mut BinDecoder::new(&bytes), request.len())
        .ok()
        .or_else(no_queries)
}

/// Whether the wire form of one question (`name type class`) has a compression pointer in its
/// name. Malformed input counts as compressed (it is then re-encoded from the parsed form).
fn has_pointer(question: &[u8]) -> bool {
    let mut at = 0;
    loop {
        match question.get(at) {
            Some(0) => return false,
            Some(&len) if len & 0xc0 == 0 => at += 1 + usize::from(len),
            _ => return true,
        }
    }
}
