//! Time limits on every API connection, so a dead one cannot stall a component.
//!
//! kube's client has no read timeout by default: a LIST or GET on a connection whose peer
//! vanished without a FIN (a load balancer dropping idle flows, an apiserver killed behind a
//! proxy) waits forever, and the watcher that issued it never lists again. Every client causeway
//! builds gets [`limit`]; every watch asks the apiserver to end it after [`WATCH_TIMEOUT_SECS`]
//! ([`watch_config`]), a clean end the watcher resumes from its resourceVersion without a relist,
//! so a quiet watch never trips the read timeout.

use std::time::Duration;

use kube::runtime::watcher;

/// Longest wait for bytes on a connection (the apiserver ends ordinary requests after 60 s).
pub const READ_TIMEOUT: Duration = Duration::from_secs(65);
/// Longest wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the apiserver keeps one watch request open (below [`READ_TIMEOUT`]).
pub const WATCH_TIMEOUT_SECS: u32 = 55;

/// Sets causeway's read and connect timeouts on a client configuration, and warns once per
/// process when it skips TLS verification ([`crate::log::warn_insecure_tls_once`]).
pub fn limit(config: &mut kube::Config) {
    crate::log::warn_insecure_tls_once(config);
    config.read_timeout = Some(READ_TIMEOUT);
    config.reset_reader_on_write = true;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
}

/// A watcher configuration whose watch requests end before the read timeout.
#[must_use]
pub fn watch_config() -> watcher::Config {
    watcher::Config::default().timeout(WATCH_TIMEOUT_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_watch_ends_before_the_read_timeout_fires() {
        assert!(Duration::from_secs(WATCH_TIMEOUT_SECS.into()) < READ_TIMEOUT);
        assert_eq!(watch_config().timeout, Some(WATCH_TIMEOUT_SECS));
    }
}
