//! Between the pure answer and the wire: [`Rr`]s become hickory [`Record`]s, [`Rcode`]s become
//! [`ResponseCode`]s, the response EDNS is derived from the request's, and [`encode`] writes a
//! message with the same size limits hickory's server applies (512 bytes or the EDNS payload
//! size over UDP, setting TC when the answer does not fit; 64 KiB over TCP).

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, NS, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{Name, RData, Record};
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};

use crate::answer::{Rcode, RecordData, Rr};

/// The largest UDP payload this server advertises and sends (the DNS flag day 2020 value, which
/// avoids IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// The EDNS version this server speaks.
const EDNS_VERSION: u8 = 0;

/// A response ready to send: everything [`MessageResponseBuilder::build`] needs.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Header fields.
    pub metadata: Metadata,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authorities: Vec<Record>,
    /// Additional section (the OPT record is added from `edns` when encoding).
    pub additionals: Vec<Record>,
    /// The response OPT record, present iff the request had one.
    pub edns: Option<Edns>,
}

impl Reply {
    /// A reply with only a response code.
    pub fn code(request: &Metadata, code: ResponseCode, edns: Option<Edns>) -> Self {
        let mut metadata = Metadata::response_from_request(request);
        metadata.response_code = code;
        Self {
            metadata,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            edns,
        }
    }

    /// The size limit for this reply over `protocol`.
    pub fn max_size(&self, protocol: Protocol) -> u16 {
        match protocol {
            Protocol::Udp => self.edns.as_ref().map_or(512, Edns::max_payload),
            _ => u16::MAX,
        }
    }

    /// Over a size-limited transport, additional records are optional (RFC 2181 §9): drop them
    /// rather than letting them set TC when the required sections fit without them.
    pub fn fit_additionals(&mut self, queries: &Queries, protocol: Protocol) {
        if self.additionals.is_empty() || protocol != Protocol::Udp {
            return;
        }
        let fits =
            |reply: &Self| encode(reply, queries, protocol).is_some_and(|bytes| !truncated(&bytes));
        if fits(self) {
            return;
        }
        let additionals = std::mem::take(&mut self.additionals);
        if !fits(self) {
            // The required sections are truncated anyway; the client will retry over TCP.
            self.additionals = additionals;
        }
    }
}

/// Whether an encoded message has the TC bit set.
pub(crate) fn truncated(bytes: &[u8]) -> bool {
    bytes.get(2).is_some_and(|flags| flags & 0x02 != 0)
}

/// Encodes `reply` to the wire as hickory's server would for `protocol`. `None` only when
/// encoding fails, which valid records never cause.
pub fn encode(reply: &Reply, queries: &Queries, protocol: Protocol) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(reply.max_size(protocol));
    MessageResponseBuilder::new(queries, reply.edns.as_ref())
        .build(
            reply.metadata,
            reply.answers.iter(),
            reply.authorities.iter(),
            [],
            reply.additionals.iter(),
        )
        .destructive_emit(&mut encoder)
        .ok()?;
    Some(bytes)
}

/// The response OPT record for a request OPT record: version 0 and a payload size between 512
/// and [`MAX_UDP_PAYLOAD`].
pub fn response_edns(request: &Edns) -> Edns {
    let mut edns = Edns::new();
    edns.set_version(EDNS_VERSION);
    edns.set_max_payload(request.max_payload().clamp(512, MAX_UDP_PAYLOAD));
    edns
}

/// Whether the request's EDNS version is one this server does not speak (answer `BADVERS`).
pub fn bad_edns_version(request: &Edns) -> bool {
    request.version() > EDNS_VERSION
}

/// Maps the answer's code to the wire code.
pub fn response_code(rcode: Rcode) -> ResponseCode {
    match rcode {
        Rcode::NoError => ResponseCode::NoError,
        Rcode::NxDomain => ResponseCode::NXDomain,
        Rcode::Refused => ResponseCode::Refused,
        Rcode::NotImp => ResponseCode::NotImp,
        Rcode::FormErr => ResponseCode::FormErr,
        Rcode::ServFail => ResponseCode::ServFail,
    }
}

/// Converts records, skipping any whose names cannot be wire names (e.g. a label over 63
/// octets built from index data): such a record cannot be sent, and the rest still can.
/// `owner` is the query name as received, reused for records whose owner is the query name.
pub fn records(rrs: &[Rr], owner: (&str, &Name)) -> Vec<Record> {
    rrs.iter().filter_map(|rr| record(rr, owner)).collect()
}

fn name(text: &str, owner: (&str, &Name)) -> Option<Name> {
    if text == owner.0 {
        return Some(owner.1.clone());
    }
    let mut name = Name::from_ascii(text).ok()?;
    name.set_fqdn(true);
    Some(name)
}

fn record(rr: &Rr, owner: (&str, &Name)) -> Option<Record> {
    let data = match &rr.data {
        RecordData::A(ip) => RData::A(A(*ip)),
        RecordData::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(*priority, *weight, *port, name(target, owner)?)),
        RecordData::Txt(text) => RData::TXT(TXT::new(vec![text.clone()])),
        RecordData::Ptr(target) => RData::PTR(PTR(name(target, owner)?)),
        RecordData::Ns(target) => RData::NS(NS(name(target, owner)?)),
        RecordData::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => RData::SOA(SOA::new(
            name(mname, owner)?,
            name(rname, owner)?,
            *serial,
            *refresh,
            *retry,
            *expire,
            *minimum,
        )),
    };
    Some(Record::from_rdata(name(&rr.name, owner)?, rr.ttl, data))
}
