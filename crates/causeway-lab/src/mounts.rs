//! Mounts the lab's nodes leave behind: containerd's overlay root file systems and `/dev/shm`
//! of pod sandboxes, the kubelet's volume mounts (tmpfs for projected tokens), the pods' network
//! namespace files. The node daemons run in the host's mount namespace (only their network
//! namespace is the node's), so these are host mounts, all under the lab directory.
//!
//! Flow: `down` stops the daemons and kills the node cgroups, then [`unmount_under`] detaches
//! every mount below the lab directory, deepest first, before the directory is removed.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, umount2};

/// Mount points at or below `root`, deepest first (from `/proc/self/mountinfo`; octal escapes
/// such as `\040` decoded).
pub fn under(root: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(root))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.by_ref().take(3).collect();
            if let Ok(v) = u8::from_str_radix(&digits, 8) {
                out.push(char::from(v));
                continue;
            }
            out.push(c);
            out.push_str(&digits);
        } else {
            out.push(c);
        }
    }
    out
}

/// Detaches every mount at or below `root` (lazily: a busy mount goes once its last user does).
/// Returns the mount points it detached.
pub fn unmount_under(root: &Path) -> Vec<PathBuf> {
    let mut done = Vec::new();
    // Stacked mounts on one point need one unmount each.
    for _ in 0..4 {
        let left = under(root);
        if left.is_empty() {
            break;
        }
        for p in left {
            if umount2(&p, MntFlags::MNT_DETACH).is_ok() {
                done.push(p);
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape("/plain/path"), "/plain/path");
    }
}
