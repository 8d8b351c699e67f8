//! The request handler: a decoded [`Request`] in, a [`Reply`] out, computed synchronously from
//! a snapshot of the index by the pure [`answer`] function; nothing here waits on the API.
//!
//! [`Handler::respond`] holds the decisions hickory leaves to handlers (opcode, question count,
//! class, EDNS version); [`RequestHandler::handle_request`] sends its reply through hickory's
//! response path (which enforces the UDP size limit and sets TC); [`Handler::handle_wire`] runs
//! the same steps on raw bytes without sockets, for tests and the fuzz target.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Header, HeaderCounts, MessageType, OpCode, ResponseCode};
use hickory_server::proto::rr::DNSClass;
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};

use super::wire::{self, Reply};
use crate::answer::{QueryType, Zone, answer};
use crate::index::{self, SharedIndex};
use crate::metrics::DnsMetrics;

/// Answers queries for one zone from a shared index.
#[derive(Clone, Debug)]
pub struct Handler {
    index: SharedIndex,
    zone: Arc<Zone>,
    metrics: DnsMetrics,
}

impl Handler {
    /// A handler answering for `zone` from `index`, recording into `metrics`.
    pub fn new(index: SharedIndex, zone: Zone, metrics: DnsMetrics) -> Self {
        Self {
            index,
            zone: Arc::new(zone),
            metrics,
        }
    }

    /// The zone served.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Computes the reply to a decoded request and records its metrics.
    pub fn respond(&self, request: &Request) -> Reply {
        let started = Instant::now();
        let (reply, qtype) = self.reply(request);
        self.metrics.observe(
            qtype,
            reply.metadata.response_code,
            request.protocol(),
            started.elapsed(),
        );
        reply
    }

    fn reply(&self, request: &Request) -> (Reply, Option<QueryType>) {
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
        let found = {
            let index = index::read(&self.index);
            answer(&index, &qname_text, qtype, &self.zone)
        };
        let owner = (qname_text.as_str(), qname);
        let mut reply = code(wire::response_code(found.rcode));
        reply.metadata.authoritative = found.authoritative;
        reply.answers = wire::records(&found.answers, owner);
        reply.authorities = wire::records(&found.authority, owner);
        reply.additionals = wire::records(&found.additionals, owner);
        reply.fit_additionals(&request.queries, request.protocol());
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
            let empty = Queries::read(&mut BinDecoder::new(&[]), 0).ok()?;
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
        let reply = self.respond(&request);
        let bytes = wire::encode(&reply, &request.queries, protocol)?;
        if wire::truncated(&bytes) {
            self.metrics.observe_truncated();
        }
        Some(bytes)
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let reply = self.respond(request);
        let response = MessageResponseBuilder::new(&request.queries, reply.edns.as_ref()).build(
            reply.metadata,
            reply.answers.iter(),
            reply.authorities.iter(),
            [],
            reply.additionals.iter(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => {
                if info.truncation {
                    self.metrics.observe_truncated();
                }
                info
            }
            Err(error) => {
                tracing::debug!(
                    error = &error as &dyn std::error::Error,
                    "failed to send DNS response"
                );
                let mut metadata = reply.metadata;
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}
