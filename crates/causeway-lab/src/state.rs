//! The lab's state file: what `up` started, so `status`, `kubeconfig` and `down` agree.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Error, LabPaths, Result};

/// Contents of `state.json`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct LabState {
    /// Number of clusters.
    pub clusters: u8,
    /// Directory of the Kubernetes binaries in use.
    pub bin_dir: PathBuf,
    /// etcd client port on 127.0.0.1.
    pub etcd_port: u16,
    /// True once every component was ready.
    pub complete: bool,
    /// Data-plane nodes per cluster (index 0 = cluster 1); empty for a lab started before nodes
    /// existed, which `up` then completes.
    #[serde(default)]
    pub nodes: Vec<u8>,
}

impl LabState {
    /// Reads the state file; `None` when there is none.
    pub fn load(paths: &LabPaths) -> Result<Option<Self>> {
        let file = paths.state_file();
        match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| Error::State { path: file, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("failed to read", file)(e)),
        }
    }

    /// Writes the state file atomically.
    pub fn save(&self, paths: &LabPaths) -> Result<()> {
        let file = paths.state_file();
        let tmp = file.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| Error::State {
            path: file.clone(),
            source,
        })?;
        std::fs::write(&tmp, bytes).map_err(Error::io("failed to write", &tmp))?;
        std::fs::rename(&tmp, &file).map_err(Error::io("failed to write", &file))
    }

    /// The data-plane nodes of every cluster, as recorded.
    pub fn node_plans(&self) -> Result<Vec<crate::layout::NodePlan>> {
        let mut out = Vec::new();
        for (i, count) in (1..=self.clusters).zip(self.nodes.iter().copied()) {
            out.extend(crate::ClusterPlan::new(i)?.nodes(count)?);
        }
        Ok(out)
    }

    /// Node `name` (`c<i>-n<j>`) of the running lab.
    pub fn node(&self, name: &str) -> Result<crate::layout::NodePlan> {
        self.node_plans()?
            .into_iter()
            .find(|n| n.name == name)
            .ok_or_else(|| Error::NoSuchNode {
                node: name.to_owned(),
            })
    }

    /// Fails with [`Error::NoSuchCluster`] unless `index` is one of the lab's clusters.
    pub fn check_index(&self, index: u8) -> Result<()> {
        if index == 0 || index > self.clusters {
            return Err(Error::NoSuchCluster {
                index,
                clusters: self.clusters,
            });
        }
        Ok(())
    }
}
