//! `causeway dns`: wires client, metrics, the admin server, leader election and the
//! causeway-dns server, and stops gracefully on SIGTERM (then gives the Lease up).
//!
//! Readiness (`/readyz`) follows the DNS feed: it turns 200 once the initial `ServiceImport` and
//! `EndpointSlice` lists are in the index, so a replica never answers NXDOMAIN for names it has
//! simply not listed yet. Every replica serves; the one holding the Lease (default
//! `causeway-system/causeway-dns`) also writes the `DnsResolvable` condition. The election runs
//! in the background and never delays or stops DNS: when the Lease cannot be set up (namespace
//! missing, RBAC not yet granted) it is retried every [`ELECT_RETRY`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use causeway_api::names::FIELD_MANAGER_DNS;
use causeway_dns::{Dns, DnsArgs};
use causeway_runtime::{AdminArgs, ClientArgs, LeaseArgs, LogArgs, admin, lease, shutdown};
use clap::Args;
use tokio::sync::watch;
use tracing::{Instrument as _, info_span};

/// hickory-server logs every request at `info`; DNS is a hot path that gets counters instead.
const HICKORY_TARGET: &str = "hickory_server";
/// Directive appended when the user's filter says nothing about [`HICKORY_TARGET`].
const HICKORY_DEFAULT: &str = "hickory_server=warn";
/// The Lease of `causeway dns` (apart from the controller's).
const LEASE_NAME: &str = "causeway-dns";
/// Wait before setting up the Lease again after a failure.
const ELECT_RETRY: Duration = Duration::from_secs(5);

/// `causeway dns` flags.
#[derive(Debug, Args)]
#[command(mut_arg("leader_election_id", |a| a.default_value(LEASE_NAME)))]
pub struct DnsCommand {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    dns: DnsArgs,
    #[command(flatten)]
    lease: LeaseArgs,
}

impl DnsCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            client,
            admin,
            dns,
            lease,
        } = self;
        let mut registry = crate::BUILD.start("dns");
        let client = client.client().await?;
        let mut dns = Dns::new(dns, registry.sub_registry_with_prefix("dns"))
            .context("failed to configure the DNS server")?;
        let addr = admin::serve(admin.admin_addr, Arc::new(registry), dns.ready()).await?;
        tracing::info!(admin = %addr, "admin server listening");
        let (stop_election, stopped) = watch::channel(false);
        let election = if dns.writes_conditions() {
            let (leader_tx, is_leader) = watch::channel(false);
            dns = dns.with_leadership(is_leader);
            Some(tokio::spawn(
                elect(client.clone(), lease, leader_tx, stopped)
                    .instrument(info_span!("dns_lease")),
            ))
        } else {
            None
        };
        let result = dns.run_until(client, shutdown::signal()).await;
        let _ = stop_election.send(true);
        if let Some(election) = election {
            let _ = election.await;
        }
        result.context("DNS server failed")?;
        tracing::info!("DNS server stopped");
        Ok(())
    }
}

/// Holds the Lease (set up again every [`ELECT_RETRY`] until that succeeds) and mirrors its
/// outcome into `leader` until `stop`; then releases it.
async fn elect(
    client: kube::Client,
    args: LeaseArgs,
    leader: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let election = loop {
        match lease::elect(client.clone(), &args, FIELD_MANAGER_DNS).await {
            Ok(election) => break election,
            Err(err) => {
                tracing::warn!(
                    lease = %format_args!("{}/{}", args.leader_election_namespace, args.leader_election_id),
                    error = %format_args!("{err:#}"),
                    "cannot set up the Lease; serving without writing DnsResolvable conditions, retrying"
                );
                tokio::select! {
                    () = tokio::time::sleep(ELECT_RETRY) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    };
    let mut is_leader = election.is_leader.clone();
    loop {
        leader.send_replace(*is_leader.borrow_and_update());
        tokio::select! {
            changed = is_leader.changed() => if changed.is_err() { break },
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    leader.send_replace(false);
    election.release().await;
}

/// The logging flags for `causeway dns`: the user's filter, plus `hickory_server=warn` unless
/// the filter already has a directive that applies to hickory-server's targets.
pub fn log_args(log: &LogArgs) -> LogArgs {
    LogArgs {
        log_level: log_filter(&log.log_level),
        log_format: log.log_format,
    }
}

/// Appends [`HICKORY_DEFAULT`] to an EnvFilter string unless one of its directives names a
/// target that matches `hickory_server` (EnvFilter matches targets by prefix, so `hickory=debug`
/// counts as explicit; the more specific appended directive would otherwise override it).
fn log_filter(filter: &str) -> String {
    let directives: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.iter().any(|d| names_hickory(d)) {
        return filter.to_owned();
    }
    if directives.is_empty() {
        // An empty filter means "errors only" for everything; keep that and quiet hickory too.
        return HICKORY_DEFAULT.to_owned();
    }
    let mut out = directives.join(",");
    out.push(',');
    out.push_str(HICKORY_DEFAULT);
    out
}

/// Whether an EnvFilter directive (`target[span{field}]=level`, `target`, or a bare `level`)
/// has a target that applies to hickory-server's events.
fn names_hickory(directive: &str) -> bool {
    let selector = directive.split_once('=').map_or(directive, |(s, _)| s);
    let target = selector.split_once('[').map_or(selector, |(t, _)| t).trim();
    if target.is_empty() || (!directive.contains('=') && is_level(target)) {
        return false;
    }
    HICKORY_TARGET.starts_with(target) || target.starts_with(HICKORY_TARGET)
}

fn is_level(word: &str) -> bool {
    ["trace", "debug", "info", "warn", "error", "off"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(word))
        || word.parse::<u8>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn hickory_is_quieted_unless_the_filter_mentions_it() {
        let cases = [
            ("info", "info,hickory_server=warn"),
            ("debug", "debug,hickory_server=warn"),
            ("info,kube=warn", "info,kube=warn,hickory_server=warn"),
            (
                "causeway_dns=trace",
                "causeway_dns=trace,hickory_server=warn",
            ),
            ("", "hickory_server=warn"),
            ("info,hickory_server=debug", "info,hickory_server=debug"),
            (
                "hickory_server::server=trace",
                "hickory_server::server=trace",
            ),
            ("hickory=info", "hickory=info"),
            ("info,hickory_server", "info,hickory_server"),
            (
                "hickory_server[request{id=1}]=debug",
                "hickory_server[request{id=1}]=debug",
            ),
            (
                "hickory_proto=debug",
                "hickory_proto=debug,hickory_server=warn",
            ),
            ("warn", "warn,hickory_server=warn"),
        ];
        for (given, expected) in cases {
            assert_eq!(log_filter(given), expected, "filter {given:?}");
            tracing_subscriber_accepts(expected);
        }
    }

    /// Every produced filter still parses.
    fn tracing_subscriber_accepts(filter: &str) {
        let log = causeway_runtime::LogArgs {
            log_level: filter.to_owned(),
            log_format: causeway_runtime::LogFormat::Plain,
        };
        // `init` parses the filter before installing; a second install fails only on the
        // global subscriber, never on the filter.
        if let Err(err) = causeway_runtime::log::init(&log) {
            assert!(!err.to_string().contains("invalid --log-level"), "{err:#}");
        }
    }
}
