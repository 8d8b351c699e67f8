//! `causeway status`'s DNS check: does `clusterset.local` resolve from inside the cluster?
//!
//! Flow: find the cluster's DNS Service (`--cluster-dns-service`, else the first of
//! [`CLUSTER_DNS_SERVICES`] that exists) and the causeway-dns Service (`--dns-service`) → read
//! each one's ClusterIP and UDP port → ask `dns-version.<zone>. TXT` there, exactly as a pod's
//! resolver would → [`classify`] the outcome: `resolves` (with the schema version),
//! `does not resolve` (the server answered, but not with the version: e.g. NXDOMAIN from a
//! CoreDNS without the stub zone), `cannot reach` (no answer: a ClusterIP is only routed on the
//! cluster's nodes and in its pods, so run status there) or `no service`. Asking the cluster DNS
//! answers "can pods resolve it"; asking causeway-dns directly tells a CoreDNS problem from a
//! causeway-dns problem.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use causeway_dns::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use causeway_dns::proto::rr::{Name, RData, RecordType};
use clap::Args;
use k8s_openapi::api::core::v1::Service;
use kube::api::Api;
use serde::Serialize;
use tokio::net::UdpSocket;

#[cfg(test)]
mod tests;

/// Cluster DNS Services tried in order when `--cluster-dns-service` is not given: kubeadm and
/// RKE1 (`kube-dns`), RKE2 (`rke2-coredns-rke2-coredns`), and charts that keep the name `coredns`.
pub const CLUSTER_DNS_SERVICES: [&str; 3] = [
    "kube-system/kube-dns",
    "kube-system/rke2-coredns-rke2-coredns",
    "kube-system/coredns",
];

/// Flags of the DNS check.
#[derive(Debug, Args)]
pub struct DnsCheckArgs {
    /// Skip the check of whether the clusterset zone resolves from inside the cluster.
    #[arg(long)]
    skip_dns: bool,
    /// The cluster DNS Service pods use, as `namespace/name` (default: the first that exists of
    /// kube-system/kube-dns, kube-system/rke2-coredns-rke2-coredns, kube-system/coredns).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    cluster_dns_service: Option<String>,
    /// The causeway-dns Service, as `namespace/name`.
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        default_value = "causeway-system/causeway-dns"
    )]
    dns_service: String,
    /// The clusterset zone.
    #[arg(long, default_value = "clusterset.local")]
    dns_zone: String,
    /// How long to wait for each DNS answer, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    dns_timeout_ms: u64,
}

/// The DNS part of the status report.
#[derive(Debug, Serialize)]
pub struct DnsReport {
    /// The name asked (`dns-version.<zone>.`, TXT).
    pub query: String,
    /// One check per server (empty when skipped).
    pub checks: Vec<DnsCheck>,
}

/// One server asked.
#[derive(Debug, Serialize)]
pub struct DnsCheck {
    /// `cluster DNS` or `causeway-dns`.
    pub server: String,
    /// The Service, `namespace/name` (or the list tried when none exists).
    pub service: String,
    /// `ClusterIP:port` asked.
    pub address: Option<String>,
    /// `resolves`, `does not resolve`, `cannot reach` or `no service`.
    pub result: &'static str,
    /// What was answered, or what to do.
    pub detail: String,
}

/// What asking one server gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    /// A response (its code and the TXT strings of its answers).
    Answered {
        /// Response code.
        rcode: ResponseCode,
        /// TXT answer strings.
        txt: Vec<String>,
    },
    /// No response within the timeout, or the network refused.
    NoAnswer(String),
}

/// Result names.
const RESOLVES: &str = "resolves";
const DOES_NOT_RESOLVE: &str = "does not resolve";
const CANNOT_REACH: &str = "cannot reach";
const NO_SERVICE: &str = "no service";

/// Runs the check (nothing when `--skip-dns`). Never fails: every problem is a result.
pub async fn check(client: &kube::Client, args: &DnsCheckArgs) -> DnsReport {
    let query = format!("dns-version.{}.", args.dns_zone.trim_end_matches('.'));
    if args.skip_dns {
        return DnsReport {
            query,
            checks: Vec::new(),
        };
    }
    let timeout = Duration::from_millis(args.dns_timeout_ms);
    let candidates: Vec<String> = match &args.cluster_dns_service {
        Some(service) => vec![service.clone()],
        None => CLUSTER_DNS_SERVICES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    let mut cluster_dns = None;
    for service in &candidates {
        if let Some(found) = lookup_service(client, service).await {
            cluster_dns = Some((service.clone(), found));
            break;
        }
    }
    let mut checks = Vec::new();
    checks.push(match cluster_dns {
        Some((service, found)) => ask_service("cluster DNS", service, found, &query, timeout).await,
        None => DnsCheck {
            server: "cluster DNS".to_owned(),
            service: candidates.join(", "),
            address: None,
            result: NO_SERVICE,
            detail: "no cluster DNS Service found; name it with --cluster-dns-service".to_owned(),
        },
    });
    checks.push(match lookup_service(client, &args.dns_service).await {
        Some(found) => {
            ask_service(
                "causeway-dns",
                args.dns_service.clone(),
                found,
                &query,
                timeout,
            )
            .await
        }
        None => DnsCheck {
            server: "causeway-dns".to_owned(),
            service: args.dns_service.clone(),
            address: None,
            result: NO_SERVICE,
            detail: "not found or without a ClusterIP; deploy deploy/dns (or pass --dns-service)"
                .to_owned(),
        },
    });
    DnsReport { query, checks }
}

/// Prints the DNS section of the table.
pub fn print(out: &mut impl Write, report: &DnsReport) -> std::io::Result<()> {
    writeln!(out, "\nDNS ({} TXT, from here)", report.query)?;
    if report.checks.is_empty() {
        writeln!(out, "  (skipped)")?;
    }
    for c in &report.checks {
        writeln!(
            out,
            "  {:<13} {:<17} {:<22} {} ({})",
            c.server,
            c.result.to_uppercase(),
            c.address.as_deref().unwrap_or("-"),
            c.detail,
            c.service,
        )?;
    }
    Ok(())
}

/// The ClusterIP and UDP port of Service `namespace/name`; `None` when it does not exist, cannot
/// be read, or has no ClusterIP.
async fn lookup_service(client: &kube::Client, service: &str) -> Option<SocketAddr> {
    let (ns, name) = service.split_once('/')?;
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let svc = api.get_opt(name).await.ok()??;
    service_address(&svc)
}

/// The address a resolver would ask: the ClusterIP and the Service's UDP port (53 when it names
/// none). `None` for headless or IP-less Services.
pub fn service_address(svc: &Service) -> Option<SocketAddr> {
    let spec = svc.spec.as_ref()?;
    let ip: IpAddr = spec.cluster_ip.as_deref()?.parse().ok()?;
    let port = spec
        .ports
        .iter()
        .flatten()
        .find(|p| p.protocol.as_deref().unwrap_or("TCP") == "UDP")
        .and_then(|p| u16::try_from(p.port).ok())
        .unwrap_or(53);
    Some(SocketAddr::new(ip, port))
}

async fn ask_service(
    server: &str,
    service: String,
    addr: SocketAddr,
    query: &str,
    timeout: Duration,
) -> DnsCheck {
    let asked = ask(addr, query, timeout).await;
    let (result, detail) = classify(&asked, addr);
    DnsCheck {
        server: server.to_owned(),
        service,
        address: Some(addr.to_string()),
        result,
        detail,
    }
}

/// Sends one TXT question over UDP and waits for the matching response.
async fn ask(addr: SocketAddr, name: &str, timeout: Duration) -> Asked {
    let id = query_id();
    let bytes = match query(id, name) {
        Ok(bytes) => bytes,
        Err(err) => return Asked::NoAnswer(err),
    };
    let exchange = async {
        let bind: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind).await?;
        socket.connect(addr).await?;
        socket.send(&bytes).await?;
        let mut buf = vec![0u8; 4096];
        loop {
            let len = socket.recv(&mut buf).await?;
            if let Ok(msg) = Message::from_vec(&buf[..len])
                && msg.metadata.id == id
            {
                return Ok::<_, std::io::Error>(msg);
            }
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(msg)) => Asked::Answered {
            rcode: msg.metadata.response_code,
            txt: msg
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(txt.to_string()),
                    _ => None,
                })
                .collect(),
        },
        Ok(Err(err)) => Asked::NoAnswer(err.to_string()),
        Err(_) => Asked::NoAnswer(format!("no answer within {} ms", timeout.as_millis())),
    }
}

fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    u16::try_from(nanos % 65_536).unwrap_or_default()
}

/// The wire form of a recursion-desired `TXT` question for `name`.
pub fn query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let name = Name::from_ascii(name).map_err(|e| format!("invalid name {name:?}: {e}"))?;
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name, RecordType::TXT));
    msg.to_vec().map_err(|e| e.to_string())
}

/// The result and its detail for what `addr` gave.
pub fn classify(asked: &Asked, addr: SocketAddr) -> (&'static str, String) {
    match asked {
        Asked::Answered { rcode, txt } if *rcode == ResponseCode::NoError && !txt.is_empty() => {
            (RESOLVES, format!("schema version {}", txt.join(",")))
        }
        Asked::Answered { rcode, .. } if *rcode == ResponseCode::NoError => (
            DOES_NOT_RESOLVE,
            "answered without a TXT record (NODATA): is the zone served by causeway dns?"
                .to_owned(),
        ),
        Asked::Answered { rcode, .. } if *rcode == ResponseCode::ServFail => (
            DOES_NOT_RESOLVE,
            "answered SERVFAIL: causeway dns has not finished its first sync (see its /readyz and log), or CoreDNS cannot reach the causeway-dns Service its stub zone forwards to, or the cluster DNS has no stub zone for it and nowhere to forward it (add the stub zone, deploy/dns/coredns.md)".to_owned(),
        ),
        Asked::Answered { rcode, .. } => (
            DOES_NOT_RESOLVE,
            format!(
                "answered {rcode}: the zone is not forwarded to causeway dns (add the stub zone, deploy/dns/coredns.md) or causeway dns serves another --zone"
            ),
        ),
        Asked::NoAnswer(why) => (
            CANNOT_REACH,
            format!(
                "cannot reach {} from here ({why}); run status on a node or in a pod",
                addr.ip()
            ),
        ),
    }
}
