//! Leader election on the lab's real apiserver (issue #16, item 1), for every daemon that elects
//! a leader (`causeway controller`, `causeway dns`). Round after round, several replicas start on
//! a Lease the test holds and frees just before it expires, so that they all find it free at the
//! same instant (each sleeps until the expiry it read); once a leader has renewed, it is
//! SIGKILLed, so a standby must take over the expired Lease (whose fields the dead replica's field
//! manager still owns); then every replica stops. The last round starts on a Lease an older
//! causeway (one field manager for all replicas) left held. From each replica's own
//! `lease acquired`/`lease lost` log lines (JSON, with their timestamps) and the Lease's history
//! as a watch saw it, the test proves that no two replicas ever led at the same time, that while
//! a replica led nobody else became the Lease's holder, and that the Lease never went from one
//! holder to another without being freed in between.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use causeway_api::names::{FIELD_MANAGER_CONTROLLER, FIELD_MANAGER_DNS};
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name, with_temp_ns};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

const CONTROLLER_RBAC: &str = include_str!("../../../deploy/controller/rbac.yaml");
const DNS_RBAC: &str = include_str!("../../../deploy/dns/rbac.yaml");
const LEASE_NS: &str = "causeway-system";
const ROUNDS: usize = 6;
const REPLICAS: usize = 5;

#[derive(Clone, Copy)]
enum Kind {
    Controller,
    Dns,
}

impl Kind {
    /// The field manager every replica of an older causeway used.
    fn old_manager(self) -> &'static str {
        match self {
            Self::Controller => FIELD_MANAGER_CONTROLLER,
            Self::Dns => FIELD_MANAGER_DNS,
        }
    }
}

#[tokio::test]
async fn controller_replicas_never_lead_at_once() {
    elections(Kind::Controller).await;
}

#[tokio::test]
async fn dns_replicas_never_lead_at_once() {
    elections(Kind::Dns).await;
}

/// Seconds the test holds the Lease at the start of a round.
const GATE: Duration = Duration::from_secs(6);
/// The test's field manager on the Lease.
const GATE_MANAGER: &str = "causeway-lease-test";

/// Makes `holder` the Lease's holder for [`GATE`] from now, applied by field manager `manager`.
async fn hold(leases: &Api<Lease>, lease: &str, holder: &str, manager: &str) {
    let now = MicroTime(Timestamp::now());
    let held = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": lease, "namespace": LEASE_NS},
        "spec": {
            "holderIdentity": holder,
            "acquireTime": now,
            "renewTime": now,
            "leaseDurationSeconds": GATE.as_secs(),
        }
    });
    leases
        .patch(lease, &PatchParams::apply(manager), &Patch::Apply(&held))
        .await
        .unwrap();
}

/// Frees the Lease as a replica releases it (every holder field cleared).
async fn free(leases: &Api<Lease>, lease: &str) {
    let cleared = json!({"spec": {
        "holderIdentity": null, "acquireTime": null, "renewTime": null, "leaseDurationSeconds": null
    }});
    let params = PatchParams {
        field_manager: Some(GATE_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    leases
        .patch(lease, &params, &Patch::Merge(&cleared))
        .await
        .unwrap();
}

/// Starts replica `identity` of `kind` on Lease `causeway-system/<lease>` (lease 4 s, renewed
/// 2 s before it ends), logging JSON.
fn start(lab: &Lab, kind: Kind, ns: &str, lease: &str, identity: &str) -> Daemon {
    let timing = [
        "--leader-election-lease-duration",
        "4",
        "--leader-election-renew-grace",
        "2",
        "--log-format",
        "json",
    ];
    let args: Vec<String> = match kind {
        Kind::Controller => controller_args(lab, 1, ns, lease, "127.0.0.1:0", &timing),
        Kind::Dns => {
            let kubeconfig = lab.paths.user_kubeconfig(1, "causeway-dns");
            let listen = format!("127.0.0.1:{}", causeway_test_support::admin::free_port());
            [
                "dns",
                "--kubeconfig",
                &kubeconfig.display().to_string(),
                "--listen",
                &listen,
                "--admin-addr",
                "127.0.0.1:0",
                "--leader-election-id",
                lease,
            ]
            .iter()
            .chain(&timing)
            .map(|s| (*s).to_owned())
            .collect()
        }
    };
    Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        &format!("{lease}-{identity}"),
        &args,
        &[("POD_NAME", identity), ("CAUSEWAY_LOG", "info,kube=warn")],
        lab.paths.root(),
    )
}

/// One state of the Lease as the test's watch saw it.
#[derive(Clone, Debug)]
struct Seen {
    at: Timestamp,
    holder: Option<String>,
    renewed: Option<Timestamp>,
}

/// Records every state of the Lease `name` until dropped.
struct History {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl History {
    fn watch(client: kube::Client, name: &str) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let api: Api<Lease> = Api::namespaced(client, LEASE_NS);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, config)
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Ok(Some(lease)) = stream.try_next().await {
                let spec = lease.spec.unwrap_or_default();
                sink.lock().unwrap().push(Seen {
                    at: Timestamp::now(),
                    holder: spec.holder_identity.filter(|h| !h.is_empty()),
                    renewed: spec.renew_time.map(|t| t.0),
                });
            }
        });
        Self { seen, task }
    }

    fn snapshot(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The current holder, once it is one of `among` and has renewed the Lease at least once in
    /// its current term (so its election is settled).
    fn renewed_holder(&self, among: &[String]) -> Option<String> {
        let seen = self.snapshot();
        let holder = seen.last()?.holder.clone()?;
        if !among.contains(&holder) {
            return None;
        }
        let mut renewals: Vec<_> = seen
            .iter()
            .rev()
            .take_while(|s| s.holder.as_ref() == Some(&holder))
            .map(|s| s.renewed)
            .collect();
        renewals.dedup();
        (renewals.len() >= 2).then_some(holder)
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// When a replica believed it led.
#[derive(Debug)]
struct Term {
    replica: String,
    from: Timestamp,
    to: Timestamp,
}

/// The terms replica `name` logged; a term still open ends at `ended` (when it was killed or
/// stopped).
fn terms(name: &str, log: &str, ended: Timestamp) -> Vec<Term> {
    let mut out = Vec::new();
    let mut open = None;
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let at = || -> Timestamp { v["timestamp"].as_str().unwrap().parse().unwrap() };
        match v["message"].as_str() {
            Some("lease acquired") => {
                assert!(
                    open.is_none(),
                    "{name} acquired twice without losing:\n{log}"
                );
                open = Some(at());
            }
            Some("lease lost") => {
                let from = open.take().expect("lost before acquired");
                out.push(Term {
                    replica: name.to_owned(),
                    from,
                    to: at(),
                });
            }
            _ => {}
        }
    }
    if let Some(from) = open {
        out.push(Term {
            replica: name.to_owned(),
            from,
            to: ended,
        });
    }
    out
}

async fn elections(kind: Kind) {
    let lab = lab(1).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let client = lab.client(1);
        match kind {
            Kind::Controller => {
                rbac::install_for_user(&client, CONTROLLER_RBAC, "causeway-controller").await;
            }
            Kind::Dns => rbac::install_for_user(&client, DNS_RBAC, "causeway-dns").await,
        }
        let lease = unique_name("elect");
        let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NS);
        let history = History::watch(client.clone(), &lease);
        let mut ended: BTreeMap<String, Timestamp> = BTreeMap::new();
        let mut logs: Vec<(String, String)> = Vec::new();
        for round in 0..ROUNDS {
            // The last round: an older causeway's leader that has just died holds the Lease,
            // under the one field manager all its replicas shared. The others: the test holds
            // it, and frees it shortly before it would expire.
            let last = round == ROUNDS - 1;
            let (holder, manager) = if last {
                ("old-version", kind.old_manager())
            } else {
                ("test-gate", GATE_MANAGER)
            };
            let held_at = tokio::time::Instant::now();
            hold(&leases, &lease, holder, manager).await;
            let names: Vec<String> = (0..REPLICAS).map(|i| format!("r{round}-{i}")).collect();
            let mut replicas: Vec<(String, Daemon)> = names
                .iter()
                .map(|n| (n.clone(), start(&lab, kind, &ns, &lease, n)))
                .collect();
            if !last {
                // Every replica read the held Lease by now and sleeps until it expires, all
                // until the same instant; freed, they all find it free when they wake.
                tokio::time::sleep_until(held_at + GATE - Duration::from_millis(300)).await;
                free(&leases, &lease).await;
            }
            let first = eventually(30, "a leader that renewed the Lease", || async {
                history.renewed_holder(&names)
            })
            .await;
            let (_, leader) = replicas.iter_mut().find(|(n, _)| *n == first).unwrap();
            leader.kill().await;
            ended.insert(first.clone(), Timestamp::now());
            let rest: Vec<String> = names.iter().filter(|n| **n != first).cloned().collect();
            let second = eventually(30, "a standby that took the expired Lease over", || async {
                history.renewed_holder(&rest)
            })
            .await;
            assert_ne!(first, second);
            let stops = replicas
                .iter_mut()
                .filter(|(n, _)| *n != first)
                .map(|(_, d)| d.terminate());
            for status in futures::future::join_all(stops).await {
                assert!(status.is_some_and(|s| s.success()), "{status:?}");
            }
            let stopped = Timestamp::now();
            for (name, daemon) in &replicas {
                ended.entry(name.clone()).or_insert(stopped);
                logs.push((name.clone(), daemon.log_text()));
            }
        }
        let mut all: Vec<Term> = logs
            .iter()
            .flat_map(|(name, log)| terms(name, log, ended[name]))
            .collect();
        all.sort_by_key(|t| t.from);
        assert!(
            all.len() >= 2 * ROUNDS,
            "a leader and a takeover per round: {all:?}"
        );
        // 1. The replicas' own accounts: no two terms overlap.
        for pair in all.windows(2) {
            assert!(
                pair[0].to <= pair[1].from,
                "{} and {} led at the same time: {:?} and {:?}",
                pair[0].replica,
                pair[1].replica,
                pair[0],
                pair[1]
            );
        }
        // 2. The Lease's history: once a leading replica was seen holding the Lease, nobody
        //    else held it before that replica's term ended (a state seen up to 1 s before the
        //    term's log line counts: the watch may see the apply before the replica logs).
        let seen = history.snapshot();
        for term in &all {
            let window = term.from.checked_sub(SignedDuration::from_secs(1)).unwrap();
            let mine = seen.iter().position(|s| {
                s.at >= window && s.at <= term.to && s.holder.as_ref() == Some(&term.replica)
            });
            let Some(mine) = mine else {
                panic!("{term:?}: the Lease never named {} as its holder", term.replica);
            };
            if let Some(other) = seen[mine..]
                .iter()
                .take_while(|s| s.at <= term.to)
                .find(|s| s.holder.as_ref().is_some_and(|h| *h != term.replica))
            {
                panic!("while {term:?}, the Lease was held by {other:?}");
            }
        }
        // 3. The lock itself: a held Lease passes to another replica only after it was freed
        //    (released, or cleared once expired); never from one holder straight to another.
        for pair in seen.windows(2) {
            if let (Some(a), Some(b)) = (&pair[0].holder, &pair[1].holder) {
                assert_eq!(a, b, "{b} took the Lease while {a} held it: {pair:?}");
            }
        }
        eprintln!(
            "{} terms over {ROUNDS} rounds of {REPLICAS} replicas, {} Lease states seen, none overlapping",
            all.len(),
            seen.len()
        );
        let _ = leases.delete(&lease, &DeleteParams::default()).await;
    })
    .await;
}
