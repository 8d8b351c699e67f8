//! What a daemon is built from, announced once at start: the `causeway_build_info` metric every
//! daemon's registry carries and the `starting` log line.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// A binary's version and the git commit it was built from (the binary's `build.rs` knows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// The crate version.
    pub version: &'static str,
    /// The git commit, `unknown` when built outside a checkout.
    pub commit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
}

impl BuildInfo {
    /// Logs `starting` with the component, version and commit, and returns the daemon's
    /// registry (prefix `causeway`) holding `causeway_build_info{version,commit} 1`.
    #[must_use]
    pub fn start(&self, component: &'static str) -> Registry {
        tracing::info!(
            component,
            version = self.version,
            commit = self.commit,
            "starting"
        );
        self.registry()
    }

    /// A registry (prefix `causeway`) holding `causeway_build_info{version,commit} 1`.
    #[must_use]
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("causeway");
        registry.register(
            "build",
            "The version and git commit of this binary (always 1)",
            Info::new(BuildLabels {
                version: self.version.to_owned(),
                commit: self.commit.to_owned(),
            }),
        );
        registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_is_exposed_with_version_and_commit() {
        let registry = BuildInfo {
            version: "1.2.3",
            commit: "abc123",
        }
        .registry();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("causeway_build_info{version=\"1.2.3\",commit=\"abc123\"} 1\n"),
            "{text}"
        );
    }
}
