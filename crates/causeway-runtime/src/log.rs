//! Logging setup: tracing with an EnvFilter, plain or JSON lines on stderr. Plain lines are
//! coloured only on a terminal: `kubectl logs` and log files get no escape codes.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::{LogArgs, LogFormat};

/// Installs the global subscriber; an invalid filter is an error naming the flag.
pub fn init(args: &LogArgs) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&args.log_level)
        .map_err(|e| anyhow::anyhow!("invalid --log-level {:?}: {e}", args.log_level))?;
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
