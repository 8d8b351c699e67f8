//! Prometheus metrics of the DNS server (prometheus-client).
//!
//! The handler records every response in [`DnsMetrics`] (queries by record type, response code
//! and transport, including the `FORMERR`s for requests that do not decode; a latency histogram;
//! truncated UDP responses); the transports record what the flood bounds did (UDP requests
//! dropped at the in-flight limit, TCP connections evicted at the connection limit, open TCP
//! connections). The index size is not pushed by
//! anyone: an `IndexCollector` reads it from the shared index at scrape time, so it can never
//! drift from what the server answers from. The `DnsResolvable` writer counts its condition
//! writes in [`ConditionMetrics`]. Labels take only fixed values (see [`qtype_label`] and
//! [`rcode_label`]); names and IPs never become label values.

use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::ResponseCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::answer::QueryType;
use crate::index::{self, SharedIndex};

#[cfg(test)]
mod tests;

/// Labels of `queries_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    /// Record type asked for ([`qtype_label`]).
    r#type: &'static str,
    /// Response code ([`rcode_label`]).
    rcode: &'static str,
    /// `udp` or `tcp`.
    protocol: &'static str,
}

/// Counters and histograms the handler records into. Cloning shares the metrics.
#[derive(Clone, Debug)]
pub struct DnsMetrics {
    queries: Family<QueryLabels, Counter>,
    duration: Histogram,
    truncated: Counter,
    udp_dropped: Counter,
    tcp_evicted: Counter,
    tcp_open: Gauge,
}

impl Default for DnsMetrics {
    /// Metrics that are recorded but not registered anywhere (for tests and embedding).
    fn default() -> Self {
        Self {
            queries: Family::default(),
            // 10 µs … ~330 ms.
            duration: Histogram::new(exponential_buckets(0.000_01, 2.0, 16)),
            truncated: Counter::default(),
            udp_dropped: Counter::default(),
            tcp_evicted: Counter::default(),
            tcp_open: Gauge::default(),
        }
    }
}

impl DnsMetrics {
    /// Registers the DNS metrics into `registry` (callers pass the `dns` sub-registry), including
    /// a collector that reports the size of `index` at scrape time.
    pub fn register(registry: &mut Registry, index: SharedIndex) -> Self {
        let metrics = Self::default();
        registry.register(
            "queries",
            "DNS queries answered, by record type, response code and transport",
            metrics.queries.clone(),
        );
        registry.register(
            "query_duration_seconds",
            "Time to compute a DNS response",
            metrics.duration.clone(),
        );
        registry.register(
            "truncated_responses",
            "UDP responses sent with the TC bit because they exceeded the payload size",
            metrics.truncated.clone(),
        );
        registry.register(
            "dropped_udp_requests",
            "UDP requests dropped unanswered because --max-udp-in-flight requests were being answered",
            metrics.udp_dropped.clone(),
        );
        registry.register(
            "tcp_connections_evicted",
            "Idle TCP connections closed to admit a new one at --max-tcp-connections",
            metrics.tcp_evicted.clone(),
        );
        registry.register(
            "tcp_connections",
            "Open TCP connections",
            metrics.tcp_open.clone(),
        );
        registry.register_collector(Box::new(IndexCollector { index }));
        metrics
    }

    /// Records one response.
    pub(crate) fn observe(
        &self,
        qtype: Option<QueryType>,
        rcode: ResponseCode,
        protocol: Protocol,
        elapsed: Duration,
    ) {
        let labels = QueryLabels {
            r#type: qtype.map_or("NONE", qtype_label),
            rcode: rcode_label(rcode),
            protocol: if protocol == Protocol::Udp {
                "udp"
            } else {
                "tcp"
            },
        };
        self.queries.get_or_create(&labels).inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Records one response sent with TC.
    pub(crate) fn observe_truncated(&self) {
        self.truncated.inc();
    }

    /// Records one UDP request dropped at the in-flight limit.
    pub(crate) fn observe_udp_dropped(&self) {
        self.udp_dropped.inc();
    }

    /// Records one TCP connection evicted at the connection limit.
    pub(crate) fn observe_tcp_evicted(&self) {
        self.tcp_evicted.inc();
    }

    /// The gauge of open TCP connections.
    pub(crate) fn tcp_open(&self) -> &Gauge {
        &self.tcp_open
    }
}

/// Labels of `condition_writes_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    /// `written` or `failed`.
    result: &'static str,
}

/// Writes of the `DnsResolvable` condition. Cloning shares the counters.
#[derive(Clone, Debug, Default)]
pub struct ConditionMetrics {
    writes: Family<WriteLabels, Counter>,
}

impl ConditionMetrics {
    /// Registers `condition_writes_total` into `registry` (the `dns` sub-registry), with both
    /// results present from the start so that "no write" reads as 0.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        for result in ["written", "failed"] {
            drop(metrics.writes.get_or_create(&WriteLabels { result }));
        }
        registry.register(
            "condition_writes",
            "DnsResolvable condition writes onto ServiceImports (only real changes are written)",
            metrics.writes.clone(),
        );
        metrics
    }

    /// Counts one successful write.
    pub(crate) fn written(&self) {
        self.writes
            .get_or_create(&WriteLabels { result: "written" })
            .inc();
    }

    /// Counts one failed write.
    pub(crate) fn failed(&self) {
        self.writes
            .get_or_create(&WriteLabels { result: "failed" })
            .inc();
    }

    /// Successful writes so far.
    pub fn written_count(&self) -> u64 {
        self.writes
            .get_or_create(&WriteLabels { result: "written" })
            .get()
    }
}

/// The fixed label value of a query type.
pub fn qtype_label(qtype: QueryType) -> &'static str {
    match qtype {
        QueryType::A => "A",
        QueryType::Aaaa => "AAAA",
        QueryType::Srv => "SRV",
        QueryType::Txt => "TXT",
        QueryType::Ptr => "PTR",
        QueryType::Soa => "SOA",
        QueryType::Ns => "NS",
        QueryType::Any => "ANY",
        QueryType::Meta(_) => "META",
        QueryType::Other(_) => "OTHER",
    }
}

/// The fixed label value of a response code.
pub fn rcode_label(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::BADVERS => "BADVERS",
        _ => "OTHER",
    }
}

/// Reports the index size at scrape time.
#[derive(Debug)]
struct IndexCollector {
    index: SharedIndex,
}

impl Collector for IndexCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (services, slices, endpoints) = {
            let index = index::read(&self.index);
            (index.len(), index.slice_count(), index.endpoint_count())
        };
        for (name, help, value) in [
            (
                "index_services",
                "Imported services in the DNS index",
                services,
            ),
            ("index_slices", "EndpointSlices in the DNS index", slices),
            ("index_endpoints", "Endpoints in the DNS index", endpoints),
        ] {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}
