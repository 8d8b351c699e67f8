//! Query-name parsing: a query name becomes a [`QueryName`] (owner spelling plus lower-case
//! labels), which is either a reverse name or classified into a [`Node`] of the zone.
//!
//! Zone layout, relative to `<zone>` (labels left to right):
//! (empty) apex · `dns-version` · `dns`, `ns.dns` (the NS host) · `svc` · `<ns>.svc` ·
//! `<svc>.<ns>.svc` · `_<proto>.<svc>.<ns>.svc` · `<clusterid>.<svc>.<ns>.svc` (forbidden) ·
//! `_<port>._<proto>.<svc>.<ns>.svc` · `<hostname>.<clusterid>.<svc>.<ns>.svc`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Zone;

/// A parsed query name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueryName {
    /// The name as asked, with a trailing dot: the owner of every answer record.
    pub(crate) owner: String,
    /// Lower-case labels, left to right.
    labels: Vec<String>,
}

/// Where a name sits in the zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Node<'q> {
    /// `<zone>`: SOA and NS.
    Apex,
    /// `dns-version.<zone>`: TXT.
    Version,
    /// `dns.<zone>`: empty non-terminal above the NS host.
    DnsParent,
    /// `ns.dns.<zone>`: the NS target; exists, holds no addresses.
    NsHost,
    /// `svc.<zone>`: empty non-terminal while any service is imported.
    Svc,
    /// `<ns>.svc.<zone>`: empty non-terminal while a service is imported in `ns`.
    Namespace { ns: &'q str },
    /// `<svc>.<ns>.svc.<zone>`.
    Service { ns: &'q str, svc: &'q str },
    /// `_<proto>.<svc>.<ns>.svc.<zone>`: empty non-terminal above port SRV names.
    Proto {
        ns: &'q str,
        svc: &'q str,
        proto: &'q str,
    },
    /// `<clusterid>.<svc>.<ns>.svc.<zone>`: forbidden by the MCS DNS spec §6.3, never exists.
    Cluster,
    /// `_<port>._<proto>.<svc>.<ns>.svc.<zone>`: SRV.
    PortSrv {
        ns: &'q str,
        svc: &'q str,
        port: &'q str,
        proto: &'q str,
    },
    /// `<hostname>.<clusterid>.<svc>.<ns>.svc.<zone>`: per-pod A/AAAA of a headless service.
    Pod {
        ns: &'q str,
        svc: &'q str,
        cluster: &'q str,
        host: &'q str,
    },
    /// Anything else under the zone: does not exist.
    Unknown,
}

impl QueryName {
    /// Parses a presentation-form name (RFC 1035 §5.1 escapes `\.` and `\DDD` understood); a
    /// trailing dot is optional. `None` for empty labels (`a..b`) or broken escapes.
    pub(crate) fn parse(qname: &str) -> Option<Self> {
        let (labels, absolute) = split_labels(qname)?;
        let owner = if labels.is_empty() {
            ".".to_owned()
        } else if absolute {
            qname.to_owned()
        } else {
            format!("{qname}.")
        };
        Some(Self { owner, labels })
    }

    /// The address of a complete reverse name (`4.3.2.1.in-addr.arpa`, 32 nibbles + `ip6.arpa`).
    pub(crate) fn reverse_ip(&self) -> Option<IpAddr> {
        match self.labels.as_slice() {
            [d, c, b, a, in_addr, arpa] if in_addr == "in-addr" && arpa == "arpa" => {
                let octet = |s: &str| s.parse::<u8>().ok().filter(|o| o.to_string() == s);
                Some(IpAddr::V4(Ipv4Addr::new(
                    octet(a)?,
                    octet(b)?,
                    octet(c)?,
                    octet(d)?,
                )))
            }
            [nibbles @ .., ip6, arpa] if ip6 == "ip6" && arpa == "arpa" && nibbles.len() == 32 => {
                let mut value: u128 = 0;
                for nibble in nibbles.iter().rev() {
                    let mut chars = nibble.chars();
                    let digit = chars.next()?.to_digit(16)?;
                    if chars.next().is_some() {
                        return None;
                    }
                    value = (value << 4) | u128::from(digit);
                }
                Some(IpAddr::V6(Ipv6Addr::from(value)))
            }
            _ => None,
        }
    }

    /// Classifies the name within `zone`; `None` when it is outside the zone.
    pub(crate) fn node_in(&self, zone: &Zone) -> Option<Node<'_>> {
        let zone_labels: Vec<&str> = zone.name().split('.').collect();
        let split = self.labels.len().checked_sub(zone_labels.len())?;
        let (relative, suffix) = self.labels.split_at(split);
        if !suffix.iter().zip(&zone_labels).all(|(a, b)| a == b) {
            return None;
        }
        let rel: Vec<&str> = relative.iter().map(String::as_str).collect();
        Some(classify(&rel))
    }
}

/// Splits a presentation-form name into lower-case labels, decoding escapes (bytes above 127
/// become the Latin-1 character of the same value, which no zone name contains). Returns the
/// labels and whether the name ended with an unescaped dot.
fn split_labels(name: &str) -> Option<(Vec<String>, bool)> {
    let bytes = name.as_bytes();
    let mut labels = Vec::new();
    let mut label = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let byte = match bytes[i] {
            b'.' => {
                if label.is_empty() && !(labels.is_empty() && bytes.len() == 1) {
                    return None;
                }
                if !label.is_empty() {
                    labels.push(std::mem::take(&mut label));
                }
                i += 1;
                continue;
            }
            b'\\' => {
                let rest = bytes.get(i + 1..)?;
                match rest {
                    [a, b, c, ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
                        i += 4;
                        let value = u32::from(a - b'0') * 100
                            + u32::from(b - b'0') * 10
                            + u32::from(c - b'0');
                        u8::try_from(value).ok()?
                    }
                    [next, ..] => {
                        i += 2;
                        *next
                    }
                    [] => return None,
                }
            }
            other => {
                i += 1;
                other
            }
        };
        label.push(char::from(byte.to_ascii_lowercase()));
    }
    let absolute = label.is_empty() && !bytes.is_empty();
    if !label.is_empty() {
        labels.push(label);
    }
    Some((labels, absolute))
}

fn classify<'q>(rel: &[&'q str]) -> Node<'q> {
    let underscore = |l: &'q str| l.strip_prefix('_').filter(|rest| !rest.is_empty());
    match *rel {
        [] => Node::Apex,
        ["dns-version"] => Node::Version,
        ["dns"] => Node::DnsParent,
        ["ns", "dns"] => Node::NsHost,
        ["svc"] => Node::Svc,
        [ns, "svc"] => Node::Namespace { ns },
        [svc, ns, "svc"] => Node::Service { ns, svc },
        [first, svc, ns, "svc"] => match underscore(first) {
            Some(proto) => Node::Proto { ns, svc, proto },
            None => Node::Cluster,
        },
        [first, second, svc, ns, "svc"] => match (underscore(first), underscore(second)) {
            (Some(port), Some(proto)) => Node::PortSrv {
                ns,
                svc,
                port,
                proto,
            },
            (None, None) => Node::Pod {
                ns,
                svc,
                cluster: second,
                host: first,
            },
            _ => Node::Unknown,
        },
        _ => Node::Unknown,
    }
}

/// The dashed form of an IP used as hostname when an endpoint has none, as `CoreDNS` does:
/// `10.1.2.3` → `10-1-2-3`, `fd00::1` → `fd00--1` (RFC 5952 text, dots and colons become `-`).
pub(crate) fn dashed_ip(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}
