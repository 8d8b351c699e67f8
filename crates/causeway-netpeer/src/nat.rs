//! NAT exemption in causeway's own nftables table: [`NatRules`] in, one atomic `nft -j -f` batch
//! out; and the reverse, `nft -j list table` back to [`NatRules`]. Used unless the node's flannel
//! masquerades with iptables-legacy ([`crate::firewall`] detects it; then [`crate::iptables`]).
//!
//! # Why a null SNAT and not `accept`
//!
//! Flannel masquerades with iptables (`-s 10.42.0.0/16 ! -d 10.42.0.0/16 -j MASQUERADE`), through
//! iptables-nft or iptables-legacy. An `accept` in another nftables base chain does not stop it:
//! the kernel's NAT core (`nf_nat_inet_fn`) runs every NAT chain registered on the hook, in
//! priority order, until one of them sets up a binding. An `accept` sets none, so the next chain
//! (flannel's, at `srcnat` = 100) still masquerades. Checked on the lab kernel (6.18) against both
//! iptables backends: the receiver saw the node IP.
//!
//! What works is a binding to the packet's own source, `snat to ip saddr`, in a chain at priority
//! `srcnat - 1` (99). The NAT core sees a binding after our chain and skips the later NAT chains
//! (legacy iptables' nat table included: it registers on the same NAT hook list). The receiver
//! sees the sender's pod IP. (A `RETURN` in a user chain jumped to from `POSTROUTING` also fails:
//! it returns into `POSTROUTING`, which then jumps to flannel's masquerade; iptables `ACCEPT`
//! works but needs the backend flannel uses, whereas the null binding works for both. The
//! issue asks for causeway's own legacy chain where flannel uses iptables-legacy, so such nodes
//! get [`crate::iptables`]; `tests/legacy_iptables.rs` checks both against legacy masquerade.)
//!
//! The table is `ip causeway-netpeer`; causeway owns all of it. Every apply is one transaction
//! (`add table; delete table; add table; add chain; add rule…`), so it is atomic, repairs any
//! drift, and a second apply leaves the same ruleset. Cleanup deletes only this table.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{Expression, NamedExpression, Payload, PayloadField, Prefix};
use nftables::schema::{Chain, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{Match, NAT, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::error::{Error, Result};
use crate::state::{NatExemption, NatRules};

/// causeway-netpeer's nftables table (family `ip`).
pub const TABLE: &str = "causeway-netpeer";
/// The NAT chain in [`TABLE`].
pub const CHAIN: &str = "postrouting";
/// Chain priority: `srcnat - 1`, before flannel's and kube-proxy's masquerade (100).
pub const PRIORITY: i32 = 99;

/// The batch that makes causeway's table hold exactly `rules`.
pub fn apply_batch(rules: &NatRules) -> Nftables<'static> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(table()));
    batch.delete(NfListObject::Table(table()));
    batch.add(NfListObject::Table(table()));
    batch.add(NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: TABLE.into(),
        name: CHAIN.into(),
        _type: Some(NfChainType::NAT),
        hook: Some(NfHook::Postrouting),
        prio: Some(PRIORITY),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }));
    for rule in rules {
        batch.add(NfListObject::Rule(Rule {
            family: NfFamily::IP,
            table: TABLE.into(),
            chain: CHAIN.into(),
            expr: Cow::Owned(rule_statements(*rule)),
            ..Rule::default()
        }));
    }
    batch.to_nftables()
}

/// The batch that removes causeway's table (and nothing else); succeeds when it is absent.
pub fn delete_batch() -> Nftables<'static> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(table()));
    batch.delete(NfListObject::Table(table()));
    batch.to_nftables()
}

fn table() -> Table<'static> {
    Table {
        family: NfFamily::IP,
        name: TABLE.into(),
        handle: None,
    }
}

/// `ip saddr SRC ip daddr DST snat to ip saddr`.
fn rule_statements(rule: NatExemption) -> Vec<Statement<'static>> {
    vec![
        Statement::Match(Match {
            left: ip_field("saddr"),
            right: prefix(rule.src),
            op: Operator::EQ,
        }),
        Statement::Match(Match {
            left: ip_field("daddr"),
            right: prefix(rule.dst),
            op: Operator::EQ,
        }),
        Statement::SNAT(Some(NAT {
            addr: Some(ip_field("saddr")),
            family: None,
            port: None,
            flags: None,
        })),
    ]
}

fn ip_field(field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: "ip".into(),
            field: field.into(),
        },
    )))
}

fn prefix(net: Ipv4Net) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(net.network().to_string().into())),
        len: u32::from(net.prefix_len()),
    }))
}

/// Reads causeway's rules back from `nft -j list table` output.
///
/// Returns `None` when the table or a correctly hooked chain is missing. A rule that is not
/// exactly one of ours makes the result include [`DRIFT_MARKER`], so it can never equal a
/// desired set and the next apply rewrites the table.
pub fn parse_ruleset(ruleset: &Nftables<'_>) -> Option<NatRules> {
    let mut chain_ok = false;
    let mut rules = NatRules::new();
    for object in ruleset.objects.iter() {
        match object {
            NfObject::ListObject(NfListObject::Chain(c)) if c.table == TABLE && c.name == CHAIN => {
                chain_ok = c._type == Some(NfChainType::NAT)
                    && c.hook == Some(NfHook::Postrouting)
                    && c.prio == Some(PRIORITY);
            }
            NfObject::ListObject(NfListObject::Rule(r)) if r.table == TABLE => {
                let parsed = (r.chain == CHAIN).then(|| parse_rule(&r.expr)).flatten();
                rules.insert(parsed.unwrap_or(DRIFT_MARKER));
            }
            _ => {}
        }
    }
    chain_ok.then_some(rules)
}

/// Stand-in for a rule causeway did not write (0.0.0.0/0 → 0.0.0.0/0, never desired).
pub const DRIFT_MARKER: NatExemption = NatExemption {
    src: Ipv4Net::new_assert(Ipv4Addr::UNSPECIFIED, 0),
    dst: Ipv4Net::new_assert(Ipv4Addr::UNSPECIFIED, 0),
};

fn parse_rule(statements: &[Statement<'_>]) -> Option<NatExemption> {
    let [
        Statement::Match(src),
        Statement::Match(dst),
        Statement::SNAT(Some(nat)),
    ] = statements
    else {
        return None;
    };
    let src_ok = src.op == Operator::EQ && src.left == ip_field("saddr");
    let dst_ok = dst.op == Operator::EQ && dst.left == ip_field("daddr");
    let nat_ok = nat.addr.as_ref() == Some(&ip_field("saddr")) && nat.port.is_none();
    if !(src_ok && dst_ok && nat_ok) {
        return None;
    }
    Some(NatExemption {
        src: parse_net(&src.right)?,
        dst: parse_net(&dst.right)?,
    })
}

fn parse_net(expr: &Expression<'_>) -> Option<Ipv4Net> {
    match expr {
        Expression::Named(NamedExpression::Prefix(p)) => {
            let Expression::String(addr) = p.addr.as_ref() else {
                return None;
            };
            let len = u8::try_from(p.len).ok()?;
            Ipv4Net::new(addr.parse::<Ipv4Addr>().ok()?, len).ok()
        }
        Expression::String(addr) => Ipv4Net::new(addr.parse::<Ipv4Addr>().ok()?, 32).ok(),
        _ => None,
    }
}

/// Reads causeway's NAT rules from the kernel (`None` when the table does not exist).
pub async fn read() -> Result<Option<NatRules>> {
    let tables = nftables::helper::get_current_ruleset_with_args_async(
        nftables::helper::DEFAULT_NFT,
        ["list", "tables", "ip"],
    )
    .await
    .map_err(|source| Error::Nftables {
        operation: "list tables",
        source: Box::new(source),
    })?;
    let exists = tables
        .objects
        .iter()
        .any(|o| matches!(o, NfObject::ListObject(NfListObject::Table(t)) if t.name == TABLE));
    if !exists {
        return Ok(None);
    }
    let ruleset = nftables::helper::get_current_ruleset_with_args_async(
        nftables::helper::DEFAULT_NFT,
        ["list", "table", "ip", TABLE],
    )
    .await
    .map_err(|source| Error::Nftables {
        operation: "list table",
        source: Box::new(source),
    })?;
    Ok(parse_ruleset(&ruleset))
}

/// Applies `rules` atomically.
pub async fn apply(rules: &NatRules) -> Result<()> {
    nftables::helper::apply_ruleset_async(&apply_batch(rules))
        .await
        .map_err(|source| Error::Nftables {
            operation: "apply exemption table",
            source: Box::new(source),
        })
}

/// Deletes causeway's table (no-op when absent).
pub async fn delete() -> Result<()> {
    nftables::helper::apply_ruleset_async(&delete_batch())
        .await
        .map_err(|source| Error::Nftables {
            operation: "delete exemption table",
            source: Box::new(source),
        })
}

#[cfg(test)]
mod tests;
