//! `causeway-lab status`: each recorded component with its PID, whether it runs, each
//! apiserver's `/readyz`, and the nodes a lab started with an older layout lacks.

use crate::state::LabState;
use crate::{LabPaths, Result, process, ready};

/// One line of status.
#[derive(Clone, Debug)]
pub struct ComponentStatus {
    /// Component name.
    pub name: String,
    /// PID.
    pub pid: u32,
    /// Whether it runs.
    pub running: bool,
}

/// The lab's status.
#[derive(Clone, Debug)]
pub struct LabStatus {
    /// State file contents, if any.
    pub state: Option<LabState>,
    /// Recorded components.
    pub components: Vec<ComponentStatus>,
    /// Per cluster: `/readyz` ok?
    pub apiservers_ready: Vec<(u8, bool)>,
    /// Nodes of the current layout the lab lacks (`up` adds them).
    pub missing_nodes: Vec<String>,
}

/// Collects the status.
pub async fn status(paths: &LabPaths) -> Result<LabStatus> {
    let state = LabState::load(paths)?;
    let components = process::list(&paths.pid_dir())
        .into_iter()
        .map(|p| ComponentStatus {
            running: process::alive(p.pid, &p.exe),
            name: p.name,
            pid: p.pid,
        })
        .collect();
    let mut apiservers_ready = Vec::new();
    if let Some(st) = &state {
        for i in 1..=st.clusters {
            let ok = match crate::admin_client(paths, i).await {
                Ok(c) => ready::readyz(&c).await,
                Err(_) => false,
            };
            apiservers_ready.push((i, ok));
        }
    }
    let missing_nodes = state.as_ref().map_or_else(Vec::new, |st| {
        crate::layout::missing_nodes(st.clusters, &st.nodes)
    });
    Ok(LabStatus {
        state,
        components,
        apiservers_ready,
        missing_nodes,
    })
}
