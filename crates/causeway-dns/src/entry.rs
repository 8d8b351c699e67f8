//! The entry point: [`Dns`] wires the feed, the index and the server together from
//! [`DnsArgs`]. `new` validates the arguments and registers the metrics; `run` binds the
//! listeners, then serves while the feed keeps the index current, until either fails.

use std::future::Future;

use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{Instrument, info, info_span};

use crate::answer::Zone;
use crate::args::DnsArgs;
use crate::error::Result;
use crate::feed::run_feed;
use crate::index::{self, SharedIndex};
use crate::metrics::DnsMetrics;
use crate::server::{Handler, Listening};

#[cfg(test)]
mod tests;

/// A configured DNS server, not yet serving.
#[derive(Debug)]
pub struct Dns {
    listen: std::net::SocketAddr,
    zone: Zone,
    index: SharedIndex,
    metrics: DnsMetrics,
    ready: watch::Sender<bool>,
}

impl Dns {
    /// Validates `args` and registers the metrics into `registry` (pass the `dns`
    /// sub-registry).
    pub fn new(args: DnsArgs, registry: &mut Registry) -> Result<Self> {
        let DnsArgs { listen, zone, ttl } = args;
        let zone = Zone::new(&zone, ttl)?;
        let index = index::shared();
        let metrics = DnsMetrics::register(registry, index.clone());
        Ok(Self {
            listen,
            zone,
            index,
            metrics,
            ready: watch::Sender::new(false),
        })
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
            zone,
            index,
            metrics,
            ready,
        } = self;
        let zone_name = zone.name().to_owned();
        let listening = Listening::bind(listen, Handler::new(index.clone(), zone, metrics)).await?;
        info!(udp = %listening.udp_addr(), tcp = %listening.tcp_addr(), zone = %zone_name, "DNS server listening");
        let serve = listening
            .run_until(stop)
            .instrument(info_span!("dns_server"));
        let feed = run_feed(client, index, ready).instrument(info_span!("dns_feed"));
        tokio::select! {
            result = serve => result,
            result = feed => result,
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
