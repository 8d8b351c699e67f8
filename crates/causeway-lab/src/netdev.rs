//! Lab-owned network devices in the host namespace (only `cwl-*`), through iproute2.
//!
//! The host gets exactly one device, the bridge `cwl-br0`, with one /32 per apiserver plus the
//! /24 connected route of the documentation range 198.51.100.0/24; nothing else in the host's
//! routing or firewall is touched.

use std::process::Command;

use crate::layout::{BRIDGE, DEVICE_PREFIX};
use crate::{ClusterPlan, Error, Result};

/// Runs a command, turning a non-zero exit into [`Error::Command`].
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(Error::io("failed to run", program))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Creates the lab bridge (if missing) with every cluster's apiserver address, and brings it up.
pub fn ensure_bridge(clusters: &[ClusterPlan]) -> Result<()> {
    if run("ip", &["link", "show", BRIDGE]).is_err() {
        run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
    }
    let existing = run("ip", &["-o", "-4", "addr", "show", "dev", BRIDGE])?;
    for (i, c) in clusters.iter().enumerate() {
        let prefix = if i == 0 { 24 } else { 32 };
        let cidr = format!("{}/{prefix}", c.api_ip);
        if !existing.contains(&format!("inet {cidr} ")) {
            run("ip", &["addr", "add", &cidr, "dev", BRIDGE])?;
        }
    }
    run("ip", &["link", "set", BRIDGE, "up"])?;
    Ok(())
}

/// Names of lab-owned links in the host namespace.
pub fn lab_links() -> Vec<String> {
    run("ip", &["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_owned())
        .filter(|n| n.starts_with(DEVICE_PREFIX))
        .collect()
}

/// Names of lab-owned network namespaces.
pub fn lab_netns() -> Vec<String> {
    run("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(DEVICE_PREFIX))
        .map(str::to_owned)
        .collect()
}

/// Deletes every lab-owned namespace and link; returns what was removed.
pub fn remove_all() -> Vec<String> {
    let mut removed = Vec::new();
    for ns in lab_netns() {
        if run("ip", &["netns", "del", &ns]).is_ok() {
            removed.push(format!("netns {ns}"));
        }
    }
    for link in lab_links() {
        if run("ip", &["link", "del", &link]).is_ok() {
            removed.push(format!("link {link}"));
        }
    }
    removed
}
