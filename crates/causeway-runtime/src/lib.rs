//! Shared runtime of causeway's daemons: command-line groups, logging, the admin server
//! (`/livez`, `/readyz`, `/metrics`), leader election and shutdown.
//!
//! `main` parses [`args`], calls [`log::init`], builds one Prometheus registry
//! ([`BuildInfo::start`]: it logs the version and carries `causeway_build_info`), starts
//! [`admin::serve`] with a readiness flag the component raises once its caches are synced, starts
//! [`lease::elect`] when the component writes, and runs the component until [`shutdown::signal`].

pub mod admin;
pub mod args;
pub mod backoff;
pub mod build_info;
pub mod lease;
pub mod log;
pub mod shutdown;
pub mod synced;
pub mod timeouts;

pub use args::{AdminArgs, ClientArgs, LeaseArgs, LogArgs, LogFormat};
pub use build_info::BuildInfo;
