//! Which firewall backend holds causeway's NAT exemption on this node, and the NAT part of a
//! read or an apply.
//!
//! Flow: [`Tools`] (which of `nft` / `iptables-legacy` are in `PATH`, looked up once) +
//! [`LegacyNat`] (does this network namespace have a legacy `nat` table, and what
//! `iptables-legacy-save -t nat` prints) → [`choose`] → a [`NatBackend`]. [`read`] then reads
//! causeway's exemptions from that backend (and notes a leftover table/chain in the other one);
//! [`apply`] writes one [`NatChange`] to one backend.
//!
//! # Detection
//!
//! Flannel masquerades with iptables, through iptables-nft or iptables-legacy (whichever its image
//! picks). When the legacy `nat` table holds flannel's MASQUERADE rule ([`flannel_masquerade`]:
//! source in the local cluster CIDR, or in flannel's own chain), flannel uses iptables-legacy and causeway keeps its own legacy
//! chain ([`crate::iptables`]): `ACCEPT` there, jumped to first from `POSTROUTING`, ends the legacy
//! nat table before flannel's rule. Otherwise causeway keeps its own nftables table
//! ([`crate::nat`]), whose null SNAT at priority 99 wins over any later NAT chain, legacy
//! masquerade included; that is also the fallback when the legacy table cannot be read
//! (`iptables-legacy` missing, or refused for lack of `CAP_NET_RAW`, which its raw socket
//! needs and the nftables path does not). The legacy
//! table is looked for in `/proc/thread-self/net/ip_tables_names`, which lists only tables that
//! exist, so detection never creates one on an nftables node.

use std::fmt;
use std::path::Path;

use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::plan::NatChange;
use crate::state::NatRules;
use crate::{iptables, nat};

/// Where causeway's NAT exemption lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NatBackend {
    /// The nftables table `ip causeway-netpeer`.
    #[default]
    Nftables,
    /// The iptables-legacy chain `CAUSEWAY-NETPEER` in table `nat`.
    IptablesLegacy,
}

impl NatBackend {
    /// The other backend.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Nftables => Self::IptablesLegacy,
            Self::IptablesLegacy => Self::Nftables,
        }
    }
}

impl fmt::Display for NatBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nftables => write!(f, "nftables table ip {}", nat::TABLE),
            Self::IptablesLegacy => write!(
                f,
                "iptables-legacy chain {} in table nat, jumped to first from POSTROUTING",
                iptables::CHAIN
            ),
        }
    }
}

/// Which firewall programs this node (container) can run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tools {
    /// `nft` is in `PATH`.
    pub nft: bool,
    /// `iptables-legacy-save` and `iptables-legacy-restore` are in `PATH`.
    pub iptables_legacy: bool,
}

impl Tools {
    /// Looks the programs up in `path` (a `PATH` value) with `is_program`.
    pub fn find(path: &std::ffi::OsStr, is_program: impl Fn(&Path) -> bool) -> Self {
        let found = |name: &str| std::env::split_paths(path).any(|dir| is_program(&dir.join(name)));
        Self {
            nft: found("nft"),
            iptables_legacy: found("iptables-legacy-save") && found("iptables-legacy-restore"),
        }
    }

    /// Looks the programs up in this process's `PATH`.
    pub fn from_env() -> Self {
        let path = std::env::var_os("PATH").unwrap_or_default();
        Self::find(&path, |p| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    }
}

/// The legacy `nat` table of this network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegacyNat {
    /// No legacy `nat` table exists.
    Absent,
    /// It exists but `iptables-legacy-save` is not available.
    Unreadable,
    /// `iptables-legacy-save -t nat` output.
    Saved(String),
}

/// True when `save` (`iptables-legacy-save -t nat`) holds flannel's masquerade: a MASQUERADE
/// rule outside kube-proxy's `KUBE-*` chains that is in flannel's `FLANNEL-POSTRTG` chain or
/// matches a source inside `local_cidrs` (the local cluster CIDRs; with none given, e.g. for
/// cleanup, any such MASQUERADE rule counts). So Docker's legacy masquerade for 172.17.0.0/16 on
/// a node whose flannel uses nftables does not count. Pure.
pub fn flannel_masquerade(save: &str, local_cidrs: &[Ipv4Net]) -> bool {
    save.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["-A", chain, ..] = words.as_slice() else {
            return false;
        };
        if chain.starts_with("KUBE-") || !words.windows(2).any(|w| w == ["-j", "MASQUERADE"]) {
            return false;
        }
        let source = words
            .windows(2)
            .enumerate()
            .find(|(i, w)| w[0] == "-s" && (*i == 0 || words[i - 1] != "!"))
            .and_then(|(_, w)| w[1].parse::<Ipv4Net>().ok());
        *chain == "FLANNEL-POSTRTG"
            || local_cidrs.is_empty()
            || source.is_some_and(|s| local_cidrs.iter().any(|c| c.contains(&s) || s.contains(c)))
    })
}

/// The backend for this node. Pure.
///
/// Flannel's masquerade (see [`flannel_masquerade`]) in iptables-legacy →
/// [`NatBackend::IptablesLegacy`]; else nft →
/// [`NatBackend::Nftables`]; neither usable → [`Error::NoNatTool`].
pub fn choose(tools: Tools, legacy: &LegacyNat, local_cidrs: &[Ipv4Net]) -> Result<NatBackend> {
    if let LegacyNat::Saved(save) = legacy
        && flannel_masquerade(save, local_cidrs)
    {
        return Ok(NatBackend::IptablesLegacy);
    }
    if tools.nft {
        return Ok(NatBackend::Nftables);
    }
    Err(Error::NoNatTool {
        legacy_masquerade: matches!(legacy, LegacyNat::Unreadable),
    })
}

/// Reads this network namespace's legacy `nat` table (never creates one).
pub async fn legacy_nat(tools: Tools) -> Result<LegacyNat> {
    let names = tokio::fs::read_to_string("/proc/thread-self/net/ip_tables_names")
        .await
        .unwrap_or_default();
    if !names.lines().any(|t| t.trim() == "nat") {
        return Ok(LegacyNat::Absent);
    }
    if !tools.iptables_legacy {
        return Ok(LegacyNat::Unreadable);
    }
    match iptables::save().await {
        Ok(save) => Ok(LegacyNat::Saved(save)),
        // iptables-legacy talks to the kernel through a raw socket: without CAP_NET_RAW it is
        // refused, and the node is served from nftables (whose null SNAT also beats legacy
        // masquerade).
        Err(Error::Iptables { detail, .. }) if detail.contains("Permission denied") => {
            Ok(LegacyNat::Unreadable)
        }
        Err(err) => Err(err),
    }
}

/// causeway's NAT exemption as found on the node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatActual {
    /// The backend flannel's masquerade calls for.
    pub backend: NatBackend,
    /// causeway's exemptions in that backend (`None`: its table/chain does not exist).
    pub rules: Option<NatRules>,
    /// causeway's table/chain also exists in the other backend (a leftover to delete).
    pub leftover: bool,
}

/// Detects the backend (flannel's masquerade for `local_cidrs`) and reads causeway's exemptions
/// from both backends.
pub async fn read(tools: Tools, local_cidrs: &[Ipv4Net]) -> Result<NatActual> {
    let legacy = legacy_nat(tools).await?;
    let backend = choose(tools, &legacy, local_cidrs)?;
    let nft = if tools.nft { nat::read().await? } else { None };
    let chain = match &legacy {
        LegacyNat::Saved(save) => iptables::parse_save(save).rules,
        LegacyNat::Absent | LegacyNat::Unreadable => None,
    };
    let (rules, other) = match backend {
        NatBackend::Nftables => (nft, chain),
        NatBackend::IptablesLegacy => (chain, nft),
    };
    Ok(NatActual {
        backend,
        rules,
        leftover: other.is_some(),
    })
}

/// Applies one change to one backend; deleting from a backend whose tool is missing is a no-op
/// (causeway cannot have created anything there).
pub async fn apply(tools: Tools, backend: NatBackend, change: &NatChange) -> Result<()> {
    match (backend, change) {
        (NatBackend::Nftables, NatChange::Apply(rules)) => nat::apply(rules).await,
        (NatBackend::Nftables, NatChange::Delete) if tools.nft => nat::delete().await,
        (NatBackend::IptablesLegacy, NatChange::Apply(rules)) => iptables::apply(rules).await,
        (NatBackend::IptablesLegacy, NatChange::Delete) => {
            if matches!(legacy_nat(tools).await?, LegacyNat::Saved(_)) {
                iptables::delete().await
            } else {
                Ok(())
            }
        }
        (NatBackend::Nftables, NatChange::Delete) => Ok(()),
    }
}

#[cfg(test)]
mod tests;
