//! The cgroups of the lab's kubelet nodes. Each node gets one cgroup, named like its network
//! namespace (`cwl-c<i>-n<j>`), in every cgroup hierarchy mounted under `/sys/fs/cgroup` (the
//! host is cgroup v1, with a cgroup2 hierarchy at `unified`): the kubelet's `cgroupRoot`, whose
//! `kubepods` child holds the pods. containerd and the kubelet start in its `system` child, so
//! every process of the node, containerd's shims and the containers included, is inside it.
//!
//! Flow: [`ensure`] before the node's daemons start → [`enter_script`] moves each daemon into
//! `system` before it execs → [`remove`] at `down` kills whatever still runs in the tree (only
//! processes of cgroups the lab created) and removes the directories, deepest first.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::{Error, Result};

/// Where the host mounts its cgroup hierarchies.
const CGROUP_FS: &str = "/sys/fs/cgroup";

/// The child of a node's cgroup that containerd and the kubelet run in.
pub const SYSTEM: &str = "system";

/// Mount points of every cgroup hierarchy (v1 and v2) under `/sys/fs/cgroup`.
pub fn hierarchies() -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut out: Vec<PathBuf> = mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _source = fields.next()?;
            let target = fields.next()?;
            let fstype = fields.next()?;
            (matches!(fstype, "cgroup" | "cgroup2") && target.starts_with(CGROUP_FS))
                .then(|| PathBuf::from(target))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Creates `name` and `name/system` in every hierarchy; in `cpuset`, copies the parent's CPUs
/// and memory nodes (a new v1 cpuset is empty and takes no process).
pub fn ensure(name: &str) -> Result<()> {
    for h in hierarchies() {
        let mut parent = h.clone();
        for part in [name, SYSTEM] {
            let dir = parent.join(part);
            if !dir.exists() {
                std::fs::create_dir(&dir).map_err(Error::io("failed to create cgroup", &dir))?;
            }
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let (from, to) = (parent.join(file), dir.join(file));
                if to.exists()
                    && std::fs::read_to_string(&to).is_ok_and(|v| v.trim().is_empty())
                    && let Ok(value) = std::fs::read_to_string(&from)
                {
                    std::fs::write(&to, value.trim()).map_err(Error::io("failed to write", &to))?;
                }
            }
            parent = dir;
        }
    }
    Ok(())
}

/// A shell snippet that moves the shell (`$$`) into `name/system` of every hierarchy; the
/// daemon it then `exec`s stays there, and so do its children.
pub fn enter_script(name: &str) -> String {
    hierarchies()
        .iter()
        .map(|h| {
            format!(
                "echo $$ > {}/cgroup.procs;",
                h.join(name).join(SYSTEM).display()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every directory of `root`'s tree, parents before children.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            stack.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
        out.push(dir);
    }
    out
}

/// PIDs of every process in `name`'s tree, over all hierarchies.
pub fn pids(name: &str) -> Vec<i32> {
    let mut out: Vec<i32> = hierarchies()
        .iter()
        .map(|h| h.join(name))
        .filter(|root| root.exists())
        .flat_map(|root| tree(&root))
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Kills every process still in `name`'s tree (SIGKILL: the node's daemons were asked to stop
/// before) and removes the tree from every hierarchy, deepest first. Returns how many processes
/// it killed; fails naming a directory it could not remove.
pub fn remove(name: &str) -> Result<usize> {
    let mut killed = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = pids(name);
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(Error::Command {
                command: format!("kill the processes of cgroup {name}"),
                stderr: format!("still running: {left:?}"),
            });
        }
        for pid in left {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for h in hierarchies() {
        let root = h.join(name);
        if !root.exists() {
            continue;
        }
        for dir in tree(&root).into_iter().rev() {
            // A cgroup whose last process just died may still be busy for a moment.
            let mut tries = 0;
            while let Err(e) = std::fs::remove_dir(&dir) {
                tries += 1;
                if tries > 50 || e.kind() == std::io::ErrorKind::NotFound {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        break;
                    }
                    return Err(Error::io("failed to remove cgroup", &dir)(e));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    Ok(killed)
}

/// Names of the lab's node cgroups (`cwl-*`) left in any hierarchy.
pub fn lab_cgroups() -> Vec<String> {
    let mut out: Vec<String> = hierarchies()
        .iter()
        .filter_map(|h| std::fs::read_dir(h).ok())
        .flat_map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(crate::layout::DEVICE_PREFIX))
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
