//! `causeway netpeer`: the cross-cluster pod-network agent (causeway-netpeer) and its one-shot
//! tools.
//!
//! * `run`: watches the peer cluster's Nodes (read-only credential) and keeps this node's
//!   neighbour, FDB, route and NAT-exemption state right (the exemption in an nftables table, or
//!   in an iptables-legacy chain where flannel masquerades with iptables-legacy); `--dry-run`
//!   prints the plan once. `/readyz` is 200 while the last reconcile succeeded; `/metrics` has
//!   `causeway_netpeer_config_error{reason}` and `causeway_netpeer_rejected_peers{reason}`.
//! * `check`: per peer node, whether its entries are in place; optionally TCP-probes peer pods.
//! * `cleanup`: removes everything netpeer owns on this node.
//!
//! A route to a peer node's pod CIDR that netpeer did not install (the seed's `create-routes.sh`
//! leaves one per peer node) is replaced by netpeer's own route with a warning naming it, and is
//! then netpeer's: `cleanup` removes it with the rest (the seed's neighbour and FDB entries are in
//! the peer cluster CIDR on the VXLAN device, so they are netpeer's anyway).
//! * `oneshot`: the seed's `node-config` ConfigMap (flags or the ConfigMap file), applied
//!   idempotently.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use causeway_netpeer::agent::{self, AgentConfig, Metrics};
use causeway_netpeer::check::peer_status;
use causeway_netpeer::desired::{DEFAULT_VXLAN_DEVICE, LocalConfig, check_cidrs, desired_state};
use causeway_netpeer::ipnet::Ipv4Net;
use causeway_netpeer::link::{FLANNEL_VXLAN_PORT, VXLAN_OVERHEAD, check_link};
use causeway_netpeer::oneshot::SeedConfig;
use causeway_netpeer::reconcile::{mtu_check, plan_once};
use causeway_netpeer::{Dataplane, NetlinkDataplane, cleanup, parse_peers, reconcile_once};
use causeway_runtime::{AdminArgs, ClientArgs, admin, shutdown};
use clap::{Args, Subcommand};
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, ListParams};
use tokio::sync::watch;

/// `causeway netpeer` subcommands.
#[derive(Debug, Args)]
pub struct NetpeerCommand {
    #[command(subcommand)]
    command: NetpeerSubcommand,
}

#[derive(Debug, Subcommand)]
enum NetpeerSubcommand {
    /// Run the node agent: watch the peer cluster's Nodes and keep neighbour, FDB, route and
    /// NAT-exemption entries for every peer node on this node (one per node, hostNetwork).
    Run(RunArgs),
    /// Report, per peer node, whether this node holds its entries (exit code 1 if the VXLAN
    /// device's VNI or UDP port does not match the peers, an accepted peer's entries or the NAT
    /// table are missing, or a probe fails; rejected Nodes and MTU warnings are listed).
    Check(CheckArgs),
    /// Remove every entry netpeer owns on this node (routes with protocol 156, neighbours and FDB
    /// entries of the peer cluster on the VXLAN device, the nft table ip causeway-netpeer and the
    /// iptables-legacy chain CAUSEWAY-NETPEER).
    Cleanup(CleanupArgs),
    /// Apply the seed's node-config ConfigMap (node_ip, node_mac, node_subnet, cidr1, cidr2)
    /// once, idempotently.
    Oneshot(OneshotArgs),
}

/// The local node's VXLAN setup and the two clusters' CIDRs.
#[derive(Clone, Debug, Args)]
struct ClusterArgs {
    /// Local cluster CIDR(s) (flannel's Network), comma separated.
    #[arg(
        long,
        env = "CAUSEWAY_CLUSTER_CIDR",
        value_delimiter = ',',
        required = true
    )]
    cluster_cidr: Vec<Ipv4Net>,
    /// Peer cluster CIDR(s), comma separated.
    #[arg(
        long,
        env = "CAUSEWAY_PEER_CLUSTER_CIDR",
        value_delimiter = ',',
        required = true
    )]
    peer_cluster_cidr: Vec<Ipv4Net>,
    /// Local Service CIDR(s), only checked for overlaps.
    #[arg(long, env = "CAUSEWAY_LOCAL_SERVICE_CIDR", value_delimiter = ',')]
    local_service_cidr: Vec<Ipv4Net>,
    /// Peer Service CIDR(s), only checked for overlaps.
    #[arg(long, env = "CAUSEWAY_PEER_SERVICE_CIDR", value_delimiter = ',')]
    peer_service_cidr: Vec<Ipv4Net>,
    /// flannel's VXLAN device.
    #[arg(long, env = "CAUSEWAY_VXLAN_DEVICE", default_value = DEFAULT_VXLAN_DEVICE)]
    vxlan_device: String,
    /// flannel's VXLAN VNI; the local VXLAN device and every peer node must use the same.
    #[arg(long, env = "CAUSEWAY_VNI", default_value_t = 1)]
    vni: u32,
    /// The peer cluster's VXLAN UDP port (flannel's Backend.Port; not published in its Node
    /// annotations). The local VXLAN device must use the same; nothing is applied otherwise.
    #[arg(long, env = "CAUSEWAY_PEER_VXLAN_PORT", default_value_t = FLANNEL_VXLAN_PORT)]
    peer_vxlan_port: u16,
    /// flannel's DirectRouting: a peer node whose public IP is on-link (inside a link-scope
    /// route of this node, read at start) gets a plain route via that IP, no neighbour or FDB
    /// entry.
    #[arg(long, env = "CAUSEWAY_DIRECT_ROUTING")]
    direct_routing: bool,
}

impl ClusterArgs {
    /// The local config; with `--direct-routing`, reads this node's on-link subnets.
    async fn local_config(&self) -> anyhow::Result<LocalConfig> {
        let mut config = self.static_config()?;
        if config.direct_routing {
            let dataplane = NetlinkDataplane::connect()?;
            config.underlay_subnets = dataplane
                .onlink_subnets(&config.vxlan_device)
                .await
                .context("failed to read this node's on-link subnets for --direct-routing")?;
            tracing::info!(subnets = ?config.underlay_subnets, "direct routing to peers in these on-link subnets");
        }
        Ok(config)
    }

    fn static_config(&self) -> anyhow::Result<LocalConfig> {
        let Self {
            cluster_cidr,
            peer_cluster_cidr,
            local_service_cidr,
            peer_service_cidr,
            vxlan_device,
            vni,
            peer_vxlan_port,
            direct_routing,
        } = self;
        check_cidrs(
            cluster_cidr,
            peer_cluster_cidr,
            local_service_cidr,
            peer_service_cidr,
        )?;
        let mut config = LocalConfig::new(*vni, cluster_cidr.clone(), peer_cluster_cidr.clone());
        config.vxlan_device.clone_from(vxlan_device);
        config.peer_vxlan_port = *peer_vxlan_port;
        config.direct_routing = *direct_routing;
        Ok(config)
    }
}

/// How to reach the peer cluster (read-only: get/list/watch Nodes).
#[derive(Clone, Debug, Args)]
struct PeerArgs {
    /// Kubeconfig for the peer cluster, bound to deploy/netpeer/peer-rbac.yaml's ClusterRole.
    #[arg(long, env = "CAUSEWAY_PEER_KUBECONFIG")]
    peer_kubeconfig: PathBuf,
    /// Context in the peer kubeconfig.
    #[arg(long, env = "CAUSEWAY_PEER_CONTEXT")]
    peer_context: Option<String>,
}

impl PeerArgs {
    async fn client(&self) -> anyhow::Result<kube::Client> {
        ClientArgs {
            kubeconfig: Some(self.peer_kubeconfig.clone()),
            context: self.peer_context.clone(),
        }
        .client()
        .await
        .context("failed to build the peer cluster client (--peer-kubeconfig)")
    }

    async fn list_nodes(&self) -> anyhow::Result<Vec<Node>> {
        let client = self.client().await?;
        let list = Api::<Node>::all(client)
            .list(&ListParams::default())
            .await
            .context("failed to list the peer cluster's Nodes")?;
        Ok(list.items)
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    peer: PeerArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// This node's name (from the downward API in a DaemonSet).
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    /// Seconds between full reconciles even without changes.
    #[arg(long, env = "CAUSEWAY_NETPEER_RESYNC", default_value_t = 60)]
    resync_seconds: u64,
    /// List the peer Nodes once, print the changes this node needs, and exit without applying.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    admin: AdminArgs,
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    peer: PeerArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Also open a TCP connection to this peer pod address (repeatable), e.g. 10.44.1.5:8080.
    #[arg(long)]
    probe: Vec<SocketAddr>,
}

#[derive(Debug, Args)]
struct CleanupArgs {
    /// Peer cluster CIDR(s) whose neighbours netpeer owns, comma separated.
    #[arg(
        long,
        env = "CAUSEWAY_PEER_CLUSTER_CIDR",
        value_delimiter = ',',
        required = true
    )]
    peer_cluster_cidr: Vec<Ipv4Net>,
    /// flannel's VXLAN device.
    #[arg(long, env = "CAUSEWAY_VXLAN_DEVICE", default_value = DEFAULT_VXLAN_DEVICE)]
    vxlan_device: String,
}

#[derive(Debug, Args)]
struct OneshotArgs {
    /// The seed's ConfigMap node-config as a YAML or JSON file (instead of the key flags).
    #[arg(long, conflicts_with_all = ["node_ip", "node_mac", "node_subnet", "cidr1", "cidr2"])]
    from_configmap_file: Option<PathBuf>,
    /// Peer node's public (underlay) IP.
    #[arg(long)]
    node_ip: Option<String>,
    /// Peer node's flannel.1 MAC (VtepMAC).
    #[arg(long)]
    node_mac: Option<String>,
    /// Peer node's podCIDR.
    #[arg(long)]
    node_subnet: Option<String>,
    /// One cluster CIDR.
    #[arg(long)]
    cidr1: Option<String>,
    /// The other cluster CIDR.
    #[arg(long)]
    cidr2: Option<String>,
    /// flannel's VXLAN device.
    #[arg(long, env = "CAUSEWAY_VXLAN_DEVICE", default_value = DEFAULT_VXLAN_DEVICE)]
    vxlan_device: String,
    /// flannel's VXLAN VNI.
    #[arg(long, env = "CAUSEWAY_VNI", default_value_t = 1)]
    vni: u32,
    /// The peer cluster's VXLAN UDP port; the local VXLAN device must use the same.
    #[arg(long, env = "CAUSEWAY_PEER_VXLAN_PORT", default_value_t = FLANNEL_VXLAN_PORT)]
    peer_vxlan_port: u16,
    /// Print the changes without applying them.
    #[arg(long)]
    dry_run: bool,
}

impl NetpeerCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let Self { command } = self;
        match command {
            NetpeerSubcommand::Run(args) => run(args).await,
            NetpeerSubcommand::Check(args) => check(args).await,
            NetpeerSubcommand::Cleanup(args) => cleanup_cmd(args).await,
            NetpeerSubcommand::Oneshot(args) => oneshot(args).await,
        }
    }
}

fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let RunArgs {
        peer,
        cluster,
        node_name,
        resync_seconds,
        dry_run,
        admin: admin_args,
    } = args;
    let local = cluster.local_config().await?;
    if dry_run {
        let nodes = peer.list_nodes().await?;
        let parsed = parse_peers(&nodes, local.vni);
        let mut desired = desired_state(&local, parsed.peers)?;
        for err in parsed.rejected.iter().chain(&desired.rejected) {
            out(&format!("rejected: {err}\n"))?;
        }
        desired.rejected.clear();
        let mut dataplane = NetlinkDataplane::connect()?;
        let plan = plan_once(&mut dataplane, &desired).await?;
        for warning in mtu_check(&mut dataplane, &desired, None).await? {
            out(&format!("mtu warning: {warning}\n"))?;
        }
        return out(&plan.to_string());
    }
    let mut registry = crate::BUILD.start("netpeer");
    let client = peer.client().await?;
    let metrics = Metrics::register(registry.sub_registry_with_prefix("netpeer"));
    let (ready_tx, ready_rx) = watch::channel(false);
    let addr = admin::serve(admin_args.admin_addr, Arc::new(registry), ready_rx).await?;
    tracing::info!(admin = %addr, node = %node_name, "admin server listening");
    let config = AgentConfig {
        local,
        node_name,
        resync: Duration::from_secs(resync_seconds.max(1)),
    };
    tokio::select! {
        result = agent::run(client, config, metrics, ready_tx) => {
            result.context("netpeer agent failed")
        }
        () = shutdown::signal() => {
            // Entries stay: a restarting agent must not cut traffic. `cleanup` removes them.
            tracing::info!("netpeer agent stopped; entries are kept (use `causeway netpeer cleanup`)");
            Ok(())
        }
    }
}

async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let CheckArgs {
        peer,
        cluster,
        probe,
    } = args;
    let local = cluster.local_config().await?;
    let nodes = peer.list_nodes().await?;
    let parsed = parse_peers(&nodes, local.vni);
    let desired = desired_state(&local, parsed.peers.clone())?;
    let mut dataplane = NetlinkDataplane::connect()?;
    let link = dataplane.vxlan_link(&local.vxlan_device).await?;
    let mut report = String::new();
    let mut ok = true;
    match check_link(&link, &desired.vxlan) {
        Ok(()) => {
            let _ = writeln!(report, "vxlan device {link}: ok");
        }
        Err(err) => {
            ok = false;
            let _ = writeln!(report, "vxlan device {link}: MISMATCH: {err}");
        }
    }
    let actual = dataplane.read(&desired.ownership).await?;
    for status in peer_status(&parsed.peers, &desired.state, &actual) {
        // A peer the desired state left out (e.g. pod CIDR outside --peer-cluster-cidr) is
        // listed as REJECTED with its reason below, like an unparsable Node.
        ok &= status.rejected || status.ok();
        let _ = writeln!(report, "{status}");
    }
    // Rejected Nodes (e.g. not running flannel yet) are reported but do not fail the check: they
    // get no entries by design.
    for err in parsed.rejected.iter().chain(&desired.rejected) {
        let _ = writeln!(report, "rejected: {err}");
    }
    let nat_ok = actual.nat == desired.state.nat;
    ok &= nat_ok && !actual.nat_leftover;
    let _ = writeln!(
        report,
        "nat exemption ({}): {}",
        actual.nat_backend,
        if nat_ok { "ok" } else { "MISSING or drifted" }
    );
    if actual.nat_leftover {
        let _ = writeln!(
            report,
            "nat exemption LEFTOVER in {}: run `causeway netpeer run` or `cleanup` to remove it",
            actual.nat_backend.other()
        );
    }
    // A warning only: traffic still flows, fragmented or for small packets.
    let warnings = mtu_check(&mut dataplane, &desired, None).await?;
    for warning in &warnings {
        let _ = writeln!(report, "mtu warning: {warning}");
    }
    let _ = writeln!(
        report,
        "mtu: {} MTU {} needs {} bytes on the route to each VXLAN peer: too small for {} of {} \
         (first hop as this node routes it); the peers' own flannel MTU is not in their Node \
         annotations and is not compared",
        link.name,
        link.mtu,
        link.mtu.saturating_add(VXLAN_OVERHEAD),
        warnings.len(),
        desired.vxlan_peers.len(),
    );
    for addr in probe {
        let result =
            tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
                .await;
        let verdict = match result {
            Ok(Ok(_)) => "ok".to_owned(),
            Ok(Err(e)) => format!("FAILED ({e})"),
            Err(_) => "FAILED (timeout after 2 s)".to_owned(),
        };
        ok &= verdict == "ok";
        let _ = writeln!(report, "probe {addr}: {verdict}");
    }
    out(&report)?;
    if !ok {
        anyhow::bail!("some peer entries are missing or probes failed (see above)");
    }
    Ok(())
}

async fn cleanup_cmd(args: CleanupArgs) -> anyhow::Result<()> {
    let CleanupArgs {
        peer_cluster_cidr,
        vxlan_device,
    } = args;
    // No local cluster CIDR: cleanup deletes causeway's NAT table and chain in both backends,
    // whichever flannel uses.
    let ownership = causeway_netpeer::Ownership {
        vxlan_device,
        peer_cluster_cidrs: peer_cluster_cidr,
        local_cluster_cidrs: Vec::new(),
    };
    let mut dataplane = NetlinkDataplane::connect()?;
    let plan = cleanup(&mut dataplane, &ownership)
        .await
        .context("failed to clean up netpeer's entries")?;
    out(&plan.to_string())
}

/// The seed ConfigMap's `data` from a YAML or JSON file (a whole ConfigMap).
fn configmap_data(path: &PathBuf) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let cm: ConfigMap = serde_saphyr::from_str(&text)
        .with_context(|| format!("{} is not a ConfigMap in YAML or JSON", path.display()))?;
    Ok(cm.data.unwrap_or_default())
}

async fn oneshot(args: OneshotArgs) -> anyhow::Result<()> {
    let OneshotArgs {
        from_configmap_file,
        node_ip,
        node_mac,
        node_subnet,
        cidr1,
        cidr2,
        vxlan_device,
        vni,
        peer_vxlan_port,
        dry_run,
    } = args;
    let data = match from_configmap_file {
        Some(path) => configmap_data(&path)?,
        None => [
            ("node_ip", node_ip),
            ("node_mac", node_mac),
            ("node_subnet", node_subnet),
            ("cidr1", cidr1),
            ("cidr2", cidr2),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect(),
    };
    let seed = SeedConfig::from_data(&data)?;
    let desired = seed.desired(vni, &vxlan_device, peer_vxlan_port)?;
    let mut dataplane = NetlinkDataplane::connect()?;
    let plan = if dry_run {
        plan_once(&mut dataplane, &desired).await?
    } else {
        reconcile_once(&mut dataplane, &desired)
            .await
            .context("failed to apply the node-config entries")?
    };
    out(&plan.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(subcommand)]
        command: NetpeerSubcommand,
    }

    #[test]
    fn configmap_file_yields_the_seed_keys() {
        let dir = std::env::temp_dir().join(format!("cw-np-cm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cm.yaml");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: node-config}\ndata:\n  node_ip: 198.51.100.21\n  node_mac: 0e:c0:00:00:02:01\n  node_subnet: 10.44.1.0/24\n  cidr1: 10.42.0.0/16\n  cidr2: 10.44.0.0/16\n",
        )
        .unwrap();
        let data = configmap_data(&path).unwrap();
        let seed = SeedConfig::from_data(&data).unwrap();
        assert_eq!(seed.peer_cluster.to_string(), "10.44.0.0/16");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn overlapping_service_cidrs_are_refused() {
        let w = Wrapper::try_parse_from([
            "x",
            "check",
            "--peer-kubeconfig",
            "/dev/null",
            "--cluster-cidr",
            "10.42.0.0/16",
            "--peer-cluster-cidr",
            "10.44.0.0/16",
            "--local-service-cidr",
            "10.45.0.0/16",
            "--peer-service-cidr",
            "10.45.0.0/16",
        ])
        .unwrap();
        let NetpeerSubcommand::Check(args) = w.command else {
            panic!("not check");
        };
        let err = args.cluster.static_config().unwrap_err();
        assert!(err.to_string().contains("overlaps"), "{err}");
    }
}
