//! The `DnsResolvable` condition on the lab's real apiserver: `causeway dns` (as the
//! `causeway-dns` user with exactly deploy/dns/rbac.yaml, holding its own Lease) next to the real
//! `causeway controller` (as `causeway-controller`, deploy/controller/rbac.yaml). The condition
//! turns True once the name answers and False when it stops; the controller's `Ready` and our
//! condition live side by side in `status.conditions`; a standby replica serves but never
//! writes; nothing is rewritten when nothing changed.

// The lean build (`--no-default-features`) has no `dns` command.
#![cfg(feature = "dns")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use causeway_api::names::{LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER};
use causeway_api::{Condition, ServiceImport};
use causeway_dns::proto::rr::RecordType;
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::dns::{addrs, free_port, udp};
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name, with_temp_ns};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DNS_RBAC: &str = include_str!("../../../deploy/dns/rbac.yaml");
const CONTROLLER_RBAC: &str = include_str!("../../../deploy/controller/rbac.yaml");
const CLUSTER: u8 = 1;

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

struct Dns {
    daemon: Daemon,
    addr: SocketAddr,
    admin: SocketAddr,
}

/// Starts `causeway dns` as the `causeway-dns` user on Lease `lease` and waits until it is ready
/// and (when `leader`) holds the Lease.
async fn start_dns(lab: &Lab, name: &str, lease: &str, leader: bool) -> Dns {
    let kubeconfig = lab.paths.user_kubeconfig(CLUSTER, "causeway-dns");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port(Ipv4Addr::LOCALHOST)));
    let args = strings(&[
        "dns",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--listen",
        &addr.to_string(),
        "--admin-addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--leader-election-id",
        lease,
        "--leader-election-lease-duration",
        "4",
        "--leader-election-renew-grace",
        "2",
    ]);
    let daemon = Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        name,
        &args,
        &[
            ("CAUSEWAY_LOG", "info,kube=warn,causeway_dns=debug"),
            ("POD_NAME", name),
        ],
        lab.paths.root(),
    );
    let admin = eventually(20, "the admin server's log line", || async {
        daemon.log_text().lines().find_map(|line| {
            let v: Value = serde_json::from_str(line).ok()?;
            (v["message"] == "admin server listening")
                .then(|| v["admin"].as_str()?.parse().ok())
                .flatten()
        })
    })
    .await;
    eventually(30, "causeway dns ready (and holding its Lease)", || async {
        let log = daemon.log_text();
        (http_get(admin, "/readyz").await.0 == 200
            && (!leader || log.contains("holding the Lease: writing DnsResolvable conditions")))
        .then_some(())
    })
    .await;
    Dns {
        daemon,
        addr,
        admin,
    }
}

fn start_controller(lab: &Lab, ns: &str, lease: &str) -> Daemon {
    let args = controller_args(
        lab,
        CLUSTER,
        ns,
        lease,
        "127.0.0.1:0",
        &[
            "--leader-election-lease-duration",
            "4",
            "--leader-election-renew-grace",
            "2",
            "--sync=false",
        ],
    );
    Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        &format!("controller-{lease}"),
        &args,
        &[("POD_NAME", lease), ("CAUSEWAY_LOG", "info,kube=warn")],
        lab.paths.root(),
    )
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return (0, String::new());
    };
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(3), stream.read_to_string(&mut text))
        .await
        .expect("admin server answers")
        .unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// `causeway_dns_condition_writes_total{result=…}` from the server's `/metrics`.
async fn writes(dns: &Dns, result: &str) -> u64 {
    let (_, body) = http_get(dns.admin, "/metrics").await;
    let prefix = format!("causeway_dns_condition_writes_total{{result=\"{result}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{body}"))
        .trim()
        .parse()
        .unwrap()
}

/// Conditions `dns` wrote onto imports of namespace `ns`, from its log: the metric counts the
/// whole cluster, where other tests' namespaces may still be terminating.
fn writes_in(dns: &Dns, ns: &str) -> usize {
    dns.daemon
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "DnsResolvable condition written" && v["namespace"] == ns)
        .count()
}

/// The addresses `name` answers over UDP.
async fn a_records(server: SocketAddr, name: &str) -> Vec<String> {
    addrs(&udp(server, name, RecordType::A).await)
        .into_iter()
        .collect()
}

async fn get(api: &Api<ServiceImport>, name: &str) -> ServiceImport {
    api.get(name).await.unwrap()
}

fn condition<'a>(import: &'a ServiceImport, type_: &str) -> Option<&'a Condition> {
    import
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// `(status, reason, message)` of the DnsResolvable condition.
fn resolvable(import: &ServiceImport) -> Option<(String, String, String)> {
    condition(import, "DnsResolvable")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Which managers own which `status.conditions` entries (`k:{"type":"…"}` keys).
fn condition_owners(import: &ServiceImport) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in import.metadata.managed_fields.iter().flatten() {
        if entry.subresource.as_deref() != Some("status") {
            continue;
        }
        let Some(fields) = &entry.fields_v1 else {
            continue;
        };
        let fields = serde_json::to_value(fields).unwrap();
        let Some(conditions) = fields["f:status"]["f:conditions"].as_object() else {
            continue;
        };
        for key in conditions.keys() {
            if let Some(rest) = key.strip_prefix("k:") {
                let k: Value = serde_json::from_str(rest).unwrap();
                out.push((
                    entry.manager.clone().unwrap_or_default(),
                    k["type"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn import_obj(name: &str, spec: &Value) -> ServiceImport {
    serde_json::from_value(json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1",
        "kind": "ServiceImport",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

fn slice(name: &str, service: &str, ready: bool) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {LABEL_SERVICE_NAME: service, LABEL_SOURCE_CLUSTER: "c2"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.44.1.7"], "conditions": {"ready": ready}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }))
    .unwrap()
}

#[tokio::test]
async fn dns_resolvable_follows_the_served_name_next_to_the_controllers_ready() {
    let lab = lab(2).await;
    let admin = lab.client(CLUSTER.into());
    rbac::install_for_user(&admin, DNS_RBAC, "causeway-dns").await;
    rbac::install_for_user(&admin, CONTROLLER_RBAC, "causeway-controller").await;
    with_temp_ns(&lab, |lab, ns| async move {
        let admin = lab.client(CLUSTER.into());
        let lease = unique_name("dns-lease");
        let _controller = start_controller(&lab, &ns, &unique_name("ctl-lease"));
        let dns = start_dns(&lab, &format!("dns-resolvable-{ns}"), &lease, true).await;
        // A second replica on the same Lease: it serves, and never writes.
        let mut standby = start_dns(&lab, &format!("dns-standby-{ns}"), &lease, false).await;
        let imports: Api<ServiceImport> = Api::namespaced(admin.clone(), &ns);
        let zone_name = |svc: &str| format!("{svc}.{ns}.svc.clusterset.local");

        // 1. ClusterSetIP: the controller gives it a VIP; the condition turns True within a few
        //    seconds of that, and by then the name really answers with the VIP.
        imports
            .create(
                &PostParams::default(),
                &import_obj(
                    "web",
                    &json!({"type": "ClusterSetIP", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
                ),
            )
            .await
            .unwrap();
        let (vip, got_ip) = eventually(30, "the controller to set spec.ips", || async {
            let import = get(&imports, "web").await;
            let ip = import.spec.ips.as_ref()?.first()?.clone();
            Some((ip, Instant::now()))
        })
        .await;
        let served = eventually(10, "DnsResolvable=True on web", || async {
            let import = get(&imports, "web").await;
            let (status, reason, message) = resolvable(&import)?;
            (status == "True").then_some((reason, message, Instant::now()))
        })
        .await;
        let latency = served.2.duration_since(got_ip);
        eprintln!("DnsResolvable=True {latency:?} after spec.ips was seen");
        assert!(latency < Duration::from_secs(3), "took {latency:?}");
        assert_eq!(served.0, "Served");
        assert_eq!(served.1, format!("{} answers A", zone_name("web")));
        assert_eq!(
            a_records(dns.addr, &format!("{}.", zone_name("web"))).await,
            vec![vip.clone()],
            "the condition never runs ahead of the answers"
        );

        // The controller's Ready and our condition side by side, each owned by its manager.
        let web = eventually(30, "Ready next to DnsResolvable", || async {
            let import = get(&imports, "web").await;
            (condition(&import, "Ready").is_some_and(|c| c.status == "True")
                && condition(&import, "DnsResolvable").is_some())
            .then_some(import)
        })
        .await;
        let owners = condition_owners(&web);
        assert!(
            owners.contains(&("causeway-dns".into(), "DnsResolvable".into()))
                && owners.contains(&("causeway-controller".into(), "Ready".into()))
                && !owners.contains(&("causeway-dns".into(), "Ready".into()))
                && !owners.contains(&("causeway-controller".into(), "DnsResolvable".into())),
            "each manager owns only its condition: {owners:?}"
        );

        // A spec change makes the controller write Ready again (new observedGeneration); our
        // condition survives it and follows the generation too.
        imports
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"ports": [
                    {"name": "http", "port": 80, "protocol": "TCP"},
                    {"name": "admin", "port": 9000, "protocol": "TCP"}
                ]}})),
            )
            .await
            .unwrap();
        let web = eventually(20, "both conditions at the new generation", || async {
            let import = get(&imports, "web").await;
            let generation = import.metadata.generation;
            (condition(&import, "Ready")?.observed_generation == generation
                && condition(&import, "DnsResolvable")?.observed_generation == generation)
                .then_some(import)
        })
        .await;
        assert_eq!(
            resolvable(&web).unwrap().0,
            "True",
            "still served after the controller's write"
        );
        assert_eq!(condition(&web, "Ready").unwrap().status, "True");

        // 2. Headless: False until an endpoint is ready, True while one is, False again after.
        imports
            .create(
                &PostParams::default(),
                &import_obj("db", &json!({"type": "Headless", "ports": []})),
            )
            .await
            .unwrap();
        let (status, reason, message) = eventually(10, "DnsResolvable on db", || async {
            resolvable(&get(&imports, "db").await)
        })
        .await;
        assert_eq!((status.as_str(), reason.as_str()), ("False", "NoAddresses"));
        assert!(message.starts_with(&zone_name("db")), "{message}");
        let slices: Api<EndpointSlice> = Api::namespaced(admin.clone(), &ns);
        slices
            .create(&PostParams::default(), &slice("db-c2", "db", true))
            .await
            .unwrap();
        let started = Instant::now();
        eventually(5, "DnsResolvable=True on db", || async {
            let r = resolvable(&get(&imports, "db").await)?;
            (r.0 == "True").then_some(())
        })
        .await;
        eprintln!("headless True {:?} after its slice", started.elapsed());
        assert_eq!(
            a_records(dns.addr, &format!("{}.", zone_name("db"))).await,
            vec!["10.44.1.7".to_owned()]
        );
        slices
            .replace("db-c2", &PostParams::default(), &{
                let mut s = slices.get("db-c2").await.unwrap();
                s.endpoints[0].conditions.as_mut().unwrap().ready = Some(false);
                s
            })
            .await
            .unwrap();
        let started = Instant::now();
        let db = eventually(5, "DnsResolvable=False on db", || async {
            let import = get(&imports, "db").await;
            (resolvable(&import)?.0 == "False").then_some(import)
        })
        .await;
        eprintln!("headless False {:?} after its endpoint went unready", started.elapsed());
        assert_eq!(resolvable(&db).unwrap().1, "NoAddresses");
        assert!(
            a_records(dns.addr, &format!("{}.", zone_name("db"))).await.is_empty(),
            "no address answered either"
        );
        // Our write did not take the controller's Ready away.
        assert_eq!(
            condition(&db, "Ready").map(|c| c.status.as_str()),
            Some("True"),
            "{db:?}"
        );

        // 3. No write without a change: a restarted server (relist, Lease taken over, every
        //    import checked) writes nothing, and the imports keep their resourceVersion.
        let written = writes(&dns, "written").await;
        assert!(written >= 4, "web True, web generation, db False, db True, db False: {written}");
        assert_eq!(writes(&dns, "failed").await, 0, "{}", dns.daemon.log_text());
        let before: Vec<_> = [get(&imports, "web").await, get(&imports, "db").await]
            .iter()
            .map(|i| i.metadata.resource_version.clone())
            .collect();
        assert_eq!(
            a_records(standby.addr, &format!("{}.", zone_name("web"))).await,
            vec![vip.clone()],
            "the standby serves"
        );
        assert_eq!(writes(&standby, "written").await, 0, "the standby never writes");
        assert!(!standby.daemon.log_text().contains("holding the Lease"));
        standby.daemon.kill().await;
        let mut dns = dns;
        let status = dns.daemon.terminate().await.expect("stops on SIGTERM");
        assert!(status.success(), "exit status {status}");
        assert!(dns.daemon.log_text().contains("lease released"), "{}", dns.daemon.log_text());
        let again = start_dns(&lab, &format!("dns-resolvable-again-{ns}"), &lease, true).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            writes_in(&again, &ns),
            0,
            "nothing changed, nothing written:\n{}",
            again.daemon.log_text()
        );
        let after: Vec<_> = [get(&imports, "web").await, get(&imports, "db").await]
            .iter()
            .map(|i| i.metadata.resource_version.clone())
            .collect();
        assert_eq!(before, after, "the imports were not rewritten");

        // ...but a change is still written by the new leader.
        slices.delete("db-c2", &Default::default()).await.unwrap();
        slices
            .create(&PostParams::default(), &slice("db-c2b", "db", true))
            .await
            .unwrap();
        eventually(5, "DnsResolvable=True on db from the new leader", || async {
            (resolvable(&get(&imports, "db").await)?.0 == "True").then_some(())
        })
        .await;
        assert_eq!(writes_in(&again, &ns), 1, "{}", again.daemon.log_text());
    })
    .await;
}
