//! NAT exemption in causeway's own iptables-legacy chain, for nodes whose flannel masquerades
//! with iptables-legacy: [`NatRules`] in, one `iptables-legacy-restore --noflush` script out; and
//! the reverse, `iptables-legacy-save -t nat` back to [`NatRules`].
//!
//! The chain `CAUSEWAY-NETPEER` in table `nat` holds one rule per exemption,
//! `-s SRC -d DST -m comment --comment causeway-netpeer -j ACCEPT`, and `POSTROUTING` jumps to it
//! as its first rule. `ACCEPT` (not `RETURN`, which would fall back into `POSTROUTING` and on to
//! flannel's MASQUERADE) ends the legacy nat table for that packet, so flannel's rule never sees
//! it. Every apply is one restore script (one table commit, atomic): flush the chain, write the
//! rules, remove every jump to it and insert one at position 1. Cleanup removes the jumps and the
//! chain, nothing else. A jump that is not first, or a rule causeway did not write, reads back
//! with [`DRIFT_MARKER`], so the next reconcile rewrites the chain.

use std::fmt::Write as _;
use std::process::Stdio;

use ipnet::Ipv4Net;
use tokio::io::AsyncWriteExt as _;

use crate::error::{Error, Result};
use crate::nat::DRIFT_MARKER;
use crate::state::{NatExemption, NatRules};

/// causeway-netpeer's chain in the legacy `nat` table.
pub const CHAIN: &str = "CAUSEWAY-NETPEER";
/// The comment on every rule in [`CHAIN`].
pub const COMMENT: &str = "causeway-netpeer";

/// causeway's chain as read from `iptables-legacy-save -t nat`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedChain {
    /// The exemptions (`None`: the chain does not exist); includes [`DRIFT_MARKER`] for a
    /// foreign rule or a jump that is missing, duplicated or not first in `POSTROUTING`.
    pub rules: Option<NatRules>,
    /// Jumps from `POSTROUTING` to the chain.
    pub jumps: usize,
}

fn jump_rule() -> String {
    format!("-A POSTROUTING -j {CHAIN}")
}

fn rule_line(rule: NatExemption) -> String {
    format!(
        "-A {CHAIN} -s {} -d {} -m comment --comment {COMMENT} -j ACCEPT",
        rule.src, rule.dst
    )
}

/// Parses `iptables-legacy-save -t nat` output. Pure.
pub fn parse_save(save: &str) -> SavedChain {
    let mut exists = false;
    let mut rules = NatRules::new();
    let mut jumps = 0;
    let mut first_postrouting = None;
    for line in save.lines().map(str::trim) {
        if line.split_whitespace().next() == Some(&format!(":{CHAIN}")) {
            exists = true;
        } else if line.starts_with("-A POSTROUTING ") {
            let is_jump = line == jump_rule();
            first_postrouting.get_or_insert(is_jump);
            jumps += usize::from(is_jump);
        } else if line.starts_with(&format!("-A {CHAIN} ")) {
            rules.insert(parse_rule(line).unwrap_or(DRIFT_MARKER));
        }
    }
    if jumps != 1 || first_postrouting != Some(true) {
        rules.insert(DRIFT_MARKER);
    }
    SavedChain {
        rules: exists.then_some(rules),
        jumps,
    }
}

fn parse_rule(line: &str) -> Option<NatExemption> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [_, _, "-s", src, "-d", dst, ..] = words.as_slice() else {
        return None;
    };
    let rule = NatExemption {
        src: src.parse::<Ipv4Net>().ok()?,
        dst: dst.parse::<Ipv4Net>().ok()?,
    };
    (rule_line(rule) == line).then_some(rule)
}

/// The restore script that makes the chain hold exactly `rules` and be jumped to first, given
/// `jumps` existing jumps. Pure.
pub fn apply_script(rules: &NatRules, jumps: usize) -> String {
    let mut s = format!("*nat\n:{CHAIN} - [0:0]\n");
    for rule in rules {
        let _ = writeln!(s, "{}", rule_line(*rule));
    }
    for _ in 0..jumps {
        let _ = writeln!(s, "-D POSTROUTING -j {CHAIN}");
    }
    let _ = writeln!(s, "-I POSTROUTING 1 -j {CHAIN}\nCOMMIT");
    s
}

/// The restore script that removes the chain and its `jumps` jumps. Pure.
pub fn delete_script(jumps: usize) -> String {
    let mut s = format!("*nat\n:{CHAIN} - [0:0]\n");
    for _ in 0..jumps {
        let _ = writeln!(s, "-D POSTROUTING -j {CHAIN}");
    }
    let _ = writeln!(s, "-X {CHAIN}\nCOMMIT");
    s
}

/// `iptables-legacy-save -t nat`.
pub async fn save() -> Result<String> {
    let out = tokio::process::Command::new("iptables-legacy-save")
        .args(["-t", "nat"])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| iptables_err("iptables-legacy-save -t nat", &e.to_string()))?;
    if !out.status.success() {
        return Err(iptables_err(
            "iptables-legacy-save -t nat",
            &String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn restore(script: &str, operation: &'static str) -> Result<()> {
    let mut child = tokio::process::Command::new("iptables-legacy-restore")
        .args(["-w", "5", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| iptables_err(operation, &e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| iptables_err(operation, &e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| iptables_err(operation, &e.to_string()))?;
    if !out.status.success() {
        return Err(iptables_err(
            operation,
            &String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(())
}

/// Makes the chain hold exactly `rules`, jumped to first (one commit).
pub async fn apply(rules: &NatRules) -> Result<()> {
    let jumps = parse_save(&save().await?).jumps;
    restore(&apply_script(rules, jumps), "apply chain CAUSEWAY-NETPEER").await
}

/// Removes the chain and its jumps (no-op when absent).
pub async fn delete() -> Result<()> {
    let saved = parse_save(&save().await?);
    if saved.rules.is_none() && saved.jumps == 0 {
        return Ok(());
    }
    restore(&delete_script(saved.jumps), "delete chain CAUSEWAY-NETPEER").await
}

fn iptables_err(operation: &'static str, detail: &str) -> Error {
    Error::Iptables {
        operation,
        detail: detail.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests;
