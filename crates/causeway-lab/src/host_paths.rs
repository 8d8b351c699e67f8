//! The few host paths outside the lab directory that the node daemons write to, because their
//! place is compiled in: the kubelet's device-plugin socket (`/var/lib/kubelet/device-plugins`),
//! its container log symlinks (`/var/log/containers`), containerd's shim sockets
//! (`/run/containerd/s`) and libcni's result cache (`/var/lib/cni/results`).
//!
//! Flow: [`record_missing`] notes, before the first node daemon starts, which of these
//! directories did not exist ([`LabPaths::root`]`/host-dirs`); [`clean`] at `down` removes those
//! directories whole, and in the ones that existed before only what is the lab's by name or
//! target: symlinks into the lab directory and CNI results of the lab's networks (`cwl-*`, and the
//! loopback results of the same containers).

use std::path::{Path, PathBuf};

use crate::LabPaths;

/// Host directories the node daemons create or write to.
pub const HOST_DIRS: [&str; 4] = [
    "/var/lib/kubelet",
    "/var/log/containers",
    "/run/containerd",
    "/var/lib/cni",
];

fn record(paths: &LabPaths) -> PathBuf {
    paths.root().join("host-dirs")
}

/// Records which of [`HOST_DIRS`] do not exist yet (once per lab: a later call keeps the first
/// record, made before any node daemon ran).
pub fn record_missing(paths: &LabPaths) -> std::io::Result<()> {
    let file = record(paths);
    if file.exists() {
        return Ok(());
    }
    let missing: Vec<&str> = HOST_DIRS
        .iter()
        .copied()
        .filter(|d| !Path::new(d).exists())
        .collect();
    std::fs::write(file, missing.join("\n"))
}

/// Removes what the lab left in the host directories (see the module docs). Returns what it
/// removed.
pub fn clean(paths: &LabPaths) -> Vec<PathBuf> {
    let created = created(paths);
    let mut removed = Vec::new();
    // Symlinks into the lab directory (container logs).
    for entry in read_dir("/var/log/containers") {
        if std::fs::read_link(&entry).is_ok_and(|t| t.starts_with(paths.root()))
            && std::fs::remove_file(&entry).is_ok()
        {
            removed.push(entry);
        }
    }
    // CNI results of the lab's networks, and the loopback results of the same containers.
    let results = Path::new("/var/lib/cni/results");
    let lab_results: Vec<PathBuf> = read_dir(results)
        .into_iter()
        .filter(|p| file_name(p).starts_with(crate::layout::DEVICE_PREFIX))
        .collect();
    let ids: Vec<String> = lab_results
        .iter()
        .filter_map(|p| container_id(&file_name(p)))
        .collect();
    for entry in read_dir(results) {
        let name = file_name(&entry);
        let ours = name.starts_with(crate::layout::DEVICE_PREFIX)
            || (name.starts_with("cni-loopback-")
                && container_id(&name).is_some_and(|id| ids.contains(&id)));
        if ours && std::fs::remove_file(&entry).is_ok() {
            removed.push(entry);
        }
    }
    for dir in created {
        let dir = PathBuf::from(dir);
        if HOST_DIRS.iter().any(|d| Path::new(d) == dir)
            && dir.exists()
            && std::fs::remove_dir_all(&dir).is_ok()
        {
            removed.push(dir);
        }
    }
    removed
}

/// The container ID in a libcni result name `<network>-<64 hex>-<interface>`.
fn container_id(name: &str) -> Option<String> {
    name.split('-')
        .find(|part| part.len() == 64 && part.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_owned)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_dir(dir: impl AsRef<Path>) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// What of the lab is still in the host directories: symlinks into `root`, `cwl-*` CNI
/// results, and directories the record says the lab created. Empty after [`clean`].
pub fn leftovers(root: &Path, created_before_down: &[String]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = read_dir("/var/log/containers")
        .into_iter()
        .filter(|p| std::fs::read_link(p).is_ok_and(|t| t.starts_with(root)))
        .collect();
    out.extend(
        read_dir("/var/lib/cni/results")
            .into_iter()
            .filter(|p| file_name(p).starts_with(crate::layout::DEVICE_PREFIX)),
    );
    out.extend(
        created_before_down
            .iter()
            .map(PathBuf::from)
            .filter(|d| d.exists()),
    );
    out
}

/// The directories the lab's record says it created (read before `down` removes the record).
pub fn created(paths: &LabPaths) -> Vec<String> {
    std::fs::read_to_string(record(paths))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_come_out_of_cni_result_names() {
        let id = "9537669e22b3032d71aa713c9cd961669f3fcd2ab6ea5b1cb767a17db4285463";
        assert_eq!(
            container_id(&format!("cwl-c1-n1-{id}-eth0")).as_deref(),
            Some(id)
        );
        assert_eq!(
            container_id(&format!("cni-loopback-{id}-lo")).as_deref(),
            Some(id)
        );
        assert_eq!(container_id("cwl-c1-n1-eth0"), None);
    }
}
