//! The entry point: [`Dns`] wires the feed, the index, the server and the `DnsResolvable` writer
//! together from [`DnsArgs`]. `new` validates the arguments and registers the metrics;
//! [`Dns::with_leadership`] hands it the Lease's outcome; `run` binds the listeners, then serves
//! while the feed keeps the index current, until either fails. The writer (only with
//! `--write-conditions` and a leadership channel) writes while that channel says `true`; its
//! failures are retried and never stop DNS.

use std::future::Future;

use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{Instrument, info, info_span};

use crate::answer::Zone;
use crate::args::DnsArgs;
use crate::error::Result;
use crate::feed::run_feed;
use crate::index::{self, SharedIndex};
use crate::metrics::{ConditionMetrics, DnsMetrics};
use crate::resolvable::Writer;
use crate::server::{Handler, Limits, Listening};

#[cfg(test)]
mod tests;

/// A configured DNS server, not yet serving.
#[derive(Debug)]
pub struct Dns {
    listen: std::net::SocketAddr,
    limits: Limits,
    zone: Zone,
    index: SharedIndex,
    metrics: DnsMetrics,
    ready: watch::Sender<bool>,
    write_conditions: bool,
    condition_metrics: ConditionMetrics,
    is_leader: Option<watch::Receiver<bool>>,
}

impl Dns {
    /// Validates `args` and registers the metrics into `registry` (pass the `dns`
    /// sub-registry).
    pub fn new(args: DnsArgs, registry: &mut Registry) -> Result<Self> {
        let limits = args.limits();
        let DnsArgs {
            listen,
            zone,
            ttl,
            write_conditions,
            ..
        } = args;
        let zone = Zone::new(&zone, ttl)?;
        let index = index::shared();
        let metrics = DnsMetrics::register(registry, index.clone());
        let condition_metrics = ConditionMetrics::register(registry);
        Ok(Self {
            listen,
            limits,
            zone,
            index,
            metrics,
            ready: watch::Sender::new(false),
            write_conditions,
            condition_metrics,
            is_leader: None,
        })
    }

    /// Whether `--write-conditions` asks for the `DnsResolvable` writer (which then needs
    /// [`Dns::with_leadership`]).
    pub fn writes_conditions(&self) -> bool {
        self.write_conditions
    }

    /// Writes `DnsResolvable` conditions while `is_leader` is `true` (ignored without
    /// `--write-conditions`). Without this call the server only serves.
    #[must_use]
    pub fn with_leadership(mut self, is_leader: watch::Receiver<bool>) -> Self {
        self.is_leader = Some(is_leader);
        self
    }

    /// Becomes `true` once the initial `ServiceImport` and `EndpointSlice` lists are in the index
    /// (for `/readyz`).
    pub fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// The index the server answers from.
    pub fn index(&self) -> SharedIndex {
        self.index.clone()
    }

    /// Binds the listeners, then serves and feeds the index until either stops.
    pub async fn run(self, client: kube::Client) -> Result<()> {
        self.run_until(client, std::future::pending()).await
    }

    /// As [`Dns::run`], but stops gracefully when `stop` resolves (e.g. on SIGTERM): the
    /// listeners stop accepting, the feed is dropped, and `Ok(())` is returned.
    pub async fn run_until(
        self,
        client: kube::Client,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<()> {
        let Self {
            listen,
            limits,
            zone,
            index,
            metrics,
            ready,
            write_conditions,
            condition_metrics,
            is_leader,
        } = self;
        let zone_name = zone.name().to_owned();
        let writer = is_leader.filter(|_| write_conditions).map(|is_leader| {
            let writer = Writer::new(
                client.clone(),
                index.clone(),
                zone.clone(),
                condition_metrics,
            );
            (writer, is_leader)
        });
        let handler = Handler::new(index.clone(), zone, metrics).with_synced(ready.subscribe());
        let listening = Listening::bind_with(listen, handler, limits).await?;
        info!(udp = %listening.udp_addr(), tcp = %listening.tcp_addr(), zone = %zone_name, "DNS server listening");
        let serve = listening
            .run_until(stop)
            .instrument(info_span!("dns_server"));
        let synced = ready.subscribe();
        let feed = run_feed(client, index, ready).instrument(info_span!("dns_feed"));
        let writer = async move {
            if let Some((writer, is_leader)) = writer {
                writer.run(synced, is_leader).await;
            }
            // The writer ends only when leadership ends (shutdown); DNS goes on.
            std::future::pending::<()>().await;
        }
        .instrument(info_span!("dns_conditions"));
        tokio::select! {
            result = serve => result,
            result = feed => result,
            () = writer => Ok(()),
        }
    }
}

/// Registers the metrics into `registry` now and returns the server's future, which borrows
/// nothing: the caller can go on to serve `registry` (e.g. on an admin endpoint) and then
/// await it. Use [`Dns`] directly to also get the readiness flag.
pub fn run(
    args: DnsArgs,
    client: kube::Client,
    registry: &mut Registry,
) -> impl Future<Output = Result<()>> + Send + 'static {
    let dns = Dns::new(args, registry);
    async move { dns?.run(client).await }
}
