//! Errors of the lab: each names the component or resource and says how to fix it.

use std::path::PathBuf;

/// A lab failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lab needs root for its bridge and namespaces.
    #[error(
        "causeway-lab must run as root (it creates the bridge cwl-br0 and network namespaces); re-run with sudo"
    )]
    NotRoot,
    /// A port the lab needs is taken.
    #[error(
        "{what} cannot listen on {addr}: the address is already in use by another process; stop that process, or run `causeway-lab down` if it is a leftover lab"
    )]
    PortInUse {
        /// Component that wanted the port.
        what: String,
        /// The address.
        addr: String,
    },
    /// Building the Kubernetes binaries failed.
    #[error(
        "building the Kubernetes binaries with {script} failed ({status}); the lines above name the cause"
    )]
    KubeBuild {
        /// The build script.
        script: PathBuf,
        /// Its exit status.
        status: String,
    },
    /// `make images` has not run (or wrote elsewhere).
    #[error(
        "no images list at {list}; build the images first: `make images` (or set CAUSEWAY_IMAGES to where they are)"
    )]
    NoImages {
        /// The list file looked for.
        list: PathBuf,
    },
    /// An image the lab needs is not among the built ones.
    #[error("image {image} is not in {list}; rebuild the images: `make images`")]
    MissingImage {
        /// The image (`name:tag`).
        image: String,
        /// The list file.
        list: PathBuf,
    },
    /// A node's kubelet did not register a Ready Node in time.
    #[error("node {node} did not become Ready within {seconds} s; kubelet log {log}:\n{tail}")]
    NodeNotReady {
        /// Node name.
        node: String,
        /// How long the lab waited.
        seconds: u64,
        /// The kubelet's log.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },
    /// A lab add-on (CoreDNS) did not become available in time.
    #[error("{what} in cluster {cluster} is not available after {seconds} s: {detail}")]
    AddonNotReady {
        /// Which add-on.
        what: &'static str,
        /// Cluster index.
        cluster: u8,
        /// How long the lab waited.
        seconds: u64,
        /// What was seen last.
        detail: String,
    },
    /// A component exited during start-up.
    #[error("{component} exited during start-up; its log is {log}:\n{tail}")]
    ComponentExited {
        /// Which component.
        component: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// A component did not become ready in time.
    #[error("{component} did not become ready within {seconds} s; its log is {log}")]
    NotReady {
        /// Which component.
        component: String,
        /// How long the lab waited.
        seconds: u64,
        /// Its log file.
        log: PathBuf,
    },
    /// The cluster index is outside the lab.
    #[error("cluster {index} does not exist: the lab has clusters 1..={clusters}")]
    NoSuchCluster {
        /// Index asked for.
        index: u8,
        /// Clusters in the lab.
        clusters: u8,
    },
    /// Too many or too few clusters.
    #[error("--clusters must be between 1 and {max}, got {got}")]
    ClusterCount {
        /// Asked for.
        got: u8,
        /// The maximum.
        max: u8,
    },
    /// Too many or too few nodes in a cluster.
    #[error("a cluster has between 1 and {max} nodes, got node index {got}")]
    NodeCount {
        /// Asked for.
        got: u8,
        /// The maximum.
        max: u8,
    },
    /// kube-proxy in a node namespace did not report healthy in time.
    #[error(
        "kube-proxy of node {node} did not become healthy within {seconds} s; its log is {log}:\n{tail}"
    )]
    ProxyNotReady {
        /// Node name.
        node: String,
        /// How long the lab waited.
        seconds: u64,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// A pod's node does not exist in the running lab.
    #[error("node {node} is not part of the running lab; run `causeway-lab up`")]
    NoSuchNode {
        /// Node name.
        node: String,
    },
    /// A pod's node has no free address left.
    #[error("node {node} has no free pod address left in {cidr}; delete pods you no longer need")]
    PodCidrFull {
        /// Node name.
        node: String,
        /// Its pod CIDR.
        cidr: String,
    },
    /// The lab is not running.
    #[error("the lab is not up; run `causeway-lab up` first")]
    NotUp,
    /// An external command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed.
        stderr: String,
    },
    /// Another `causeway-lab demo` is running.
    #[error(
        "another causeway-lab demo is running (it holds {lock}); wait for it to finish, or stop it with Ctrl-C"
    )]
    DemoBusy {
        /// The demo's lock file.
        lock: PathBuf,
    },
    /// The `causeway` binary the demo runs is missing.
    #[error(
        "the causeway binary {path} does not exist; build it with `cargo build -p causeway-cli` or pass --causeway-bin"
    )]
    NoCausewayBinary {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A demo step did not reach its goal.
    #[error("demo step \"{step}\" failed: {detail}")]
    DemoStep {
        /// The step.
        step: &'static str,
        /// What was wrong, with the log to read.
        detail: String,
    },
    /// The demo was stopped by a signal (after removing what it started).
    #[error("the demo was interrupted by {signal}; everything it started has been removed")]
    Interrupted {
        /// SIGINT or SIGTERM.
        signal: &'static str,
    },
    /// A file or process operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A Kubernetes API call failed.
    #[error("{action} on cluster {cluster}")]
    Kube {
        /// What was being done.
        action: &'static str,
        /// Cluster index.
        cluster: u8,
        /// The cause.
        #[source]
        source: Box<kube::Error>,
    },
    /// A kubeconfig could not be loaded.
    #[error("failed to load kubeconfig {path}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The state file is unreadable.
    #[error("the lab state file {path} is corrupt; run `causeway-lab down` to clean up")]
    State {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Lab result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the action and path.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }

    /// Wraps a kube error with the action and cluster.
    pub fn kube(action: &'static str, cluster: u8) -> impl FnOnce(kube::Error) -> Self {
        move |source| Self::Kube {
            action,
            cluster,
            source: Box::new(source),
        }
    }
}
