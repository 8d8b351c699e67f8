//! Logging setup: tracing with an EnvFilter, plain or JSON lines on stderr. Plain lines are
//! coloured only on a terminal: `kubectl logs` and log files get no escape codes.

use std::io::IsTerminal as _;
use std::sync::Once;

use tracing_subscriber::EnvFilter;

use crate::{LogArgs, LogFormat};

/// Installs the global subscriber; an invalid filter is an error naming the flag.
///
/// kube's `Server cert bypassed` warning, logged on every TLS handshake with a kubeconfig that
/// sets `insecure-skip-tls-verify`, is filtered out unless `--log-level` names `kube_client`:
/// [`warn_insecure_tls_once`] says it once per process instead.
pub fn init(args: &LogArgs) -> anyhow::Result<()> {
    let mut filter = EnvFilter::try_new(&args.log_level)
        .map_err(|e| anyhow::anyhow!("invalid --log-level {:?}: {e}", args.log_level))?;
    if !args.log_level.contains("kube_client") {
        filter = filter.add_directive(KUBE_TLS_DIRECTIVE.parse()?);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match args.log_format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("failed to install the logger: {e}"))
}

/// Silences kube's per-handshake `Server cert bypassed` warning.
const KUBE_TLS_DIRECTIVE: &str = "kube_client::client::tls=error";

/// Warns, once per process, when a client configuration skips verifying the apiserver's
/// certificate (`insecure-skip-tls-verify`); called for every client causeway builds.
pub fn warn_insecure_tls_once(config: &kube::Config) {
    static WARNED: Once = Once::new();
    if config.accept_invalid_certs {
        WARNED.call_once(|| {
            tracing::warn!(
                server = %config.cluster_url,
                "TLS verification of the apiserver is disabled (insecure-skip-tls-verify in the \
                 kubeconfig): anyone on the path can impersonate it; set certificate-authority-data \
                 instead (logged once per process, for the first such cluster)"
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kube_tls_directive_parses() {
        assert!(
            KUBE_TLS_DIRECTIVE
                .parse::<tracing_subscriber::filter::Directive>()
                .is_ok()
        );
    }
}
