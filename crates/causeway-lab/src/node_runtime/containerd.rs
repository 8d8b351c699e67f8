//! containerd of a lab node, as configuration (pure): every path it owns under the node's
//! directory (root, state, temp, sockets, `opt`), no plugin reaching a host-wide path (NRI and
//! tracing off, no config imports), the CRI plugin with runc from Debian, the node's CNI
//! configuration, pod network namespaces under its state directory instead of `/run/netns`, the
//! lab's own pause image as the sandbox image, and `restrict_oom_score_adj` (these machines deny
//! lowering `oom_score_adj`, which the pod sandbox asks for: lab-notes §10).

use std::path::{Path, PathBuf};

use crate::LabPaths;
use crate::layout::NodePlan;

/// The node's containerd files, under [`LabPaths::node_dir`].
pub struct ContainerdFiles {
    /// The directory everything lives in.
    pub dir: PathBuf,
    /// `--config`.
    pub config: PathBuf,
    /// The CRI/gRPC socket (the kubelet's `containerRuntimeEndpoint`, `ctr --address`).
    pub socket: PathBuf,
    /// The CNI configuration directory.
    pub cni_conf_dir: PathBuf,
    /// host-local's allocation records.
    pub ipam_dir: PathBuf,
}

impl ContainerdFiles {
    /// The files of `node`.
    pub fn of(paths: &LabPaths, node: &NodePlan) -> Self {
        let dir = paths.node_dir(&node.name);
        Self {
            config: dir.join("containerd.toml"),
            socket: dir.join("containerd.sock"),
            cni_conf_dir: dir.join("cni"),
            ipam_dir: dir.join("cni-ipam"),
            dir: dir.join("containerd"),
        }
    }
}

fn q(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// The `config.toml` (version 3) of the node's containerd.
pub fn config(files: &ContainerdFiles, sandbox_image: &str, runc: &Path, cni_bin: &Path) -> String {
    let d = &files.dir;
    format!(
        "version = 3
root = {root}
state = {state}
temp = {temp}
imports = []
disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.internal.v1.tracing', 'io.containerd.tracing.processor.v1.otlp', 'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.erofs', 'io.containerd.differ.v1.erofs']

[grpc]
  address = {socket}

[ttrpc]
  address = {ttrpc}

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '{sandbox_image}'
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = ''

  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = {runc}
          Root = {runc_root}
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [{cni_bin}]
      conf_dir = {cni_conf}
      max_conf_num = 1

  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'

  [plugins.'io.containerd.internal.v1.opt']
    path = {opt}

  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = {verifier}
",
        root = q(&d.join("root")),
        state = q(&d.join("state")),
        temp = q(&d.join("tmp")),
        socket = q(&files.socket),
        ttrpc = q(&files.socket.with_extension("sock.ttrpc")),
        runc = q(runc),
        runc_root = q(&d.join("runc")),
        cni_bin = q(cni_bin),
        cni_conf = q(&files.cni_conf_dir),
        opt = q(&d.join("opt")),
        verifier = q(&d.join("image-verifier")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterPlan;

    #[test]
    fn every_path_is_the_nodes_own() {
        let paths = LabPaths::at("/tmp/lab");
        let node = NodePlan::new(&ClusterPlan::new(1).unwrap(), 1).unwrap();
        let files = ContainerdFiles::of(&paths, &node);
        let text = config(
            &files,
            "localhost/pause:3.10",
            Path::new("/usr/sbin/runc"),
            Path::new("/usr/lib/cni"),
        );
        for line in text.lines().filter(|l| l.contains("= '/")) {
            let path = line.split('\'').nth(1).unwrap();
            assert!(
                path.starts_with("/tmp/lab/nodes/c1-n1/")
                    || path == "/usr/sbin/runc"
                    || path == "/usr/lib/cni",
                "{line}"
            );
        }
        assert!(text.contains("restrict_oom_score_adj = true"));
        assert!(text.contains("sandbox = 'localhost/pause:3.10'"));
        assert!(text.contains("address = '/tmp/lab/nodes/c1-n1/containerd.sock'"));
    }
}
