//! Lab pods owned by a test: created behind a lab node with a unique name, deleted (processes,
//! veth, namespace, address) when dropped, also when the test panics.

use std::ops::Deref;

use causeway_lab::pods::{self, Pod};
use causeway_lab::{LabPaths, NodePlan};

/// A lab pod deleted on drop.
pub struct TestPod {
    pod: Pod,
    paths: LabPaths,
}

impl TestPod {
    /// Creates a pod behind `node` named `<name>-<unique suffix>`.
    pub fn create(paths: &LabPaths, node: &NodePlan, name: &str) -> Self {
        let unique = crate::unique_name(name);
        let pod = pods::create(paths, node, &unique)
            .unwrap_or_else(|e| panic!("cannot create pod {unique} on {}: {e}", node.name));
        Self {
            pod,
            paths: paths.clone(),
        }
    }
}

impl Deref for TestPod {
    type Target = Pod;

    fn deref(&self) -> &Pod {
        &self.pod
    }
}

impl Drop for TestPod {
    fn drop(&mut self) {
        if let Err(err) = pods::delete(&self.paths, &self.pod) {
            eprintln!("failed to delete pod {}: {err}", self.pod.netns);
        }
    }
}
