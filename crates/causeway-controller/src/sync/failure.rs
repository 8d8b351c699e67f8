//! Why a member cannot be used: a connection attempt's or a watch's error becomes one bounded
//! [`Reason`] (the `Reachable=False` reason of its ClusterSetMember, the Event text and the log)
//! plus a one-line detail that never carries a credential. Pure: callers pass errors in.

use std::error::Error as StdError;

use causeway_api::clusterset_member::condition::reachable;
use kube::runtime::watcher;

/// A bounded classification of a member failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The Secret's kubeconfig is missing, not YAML, or unusable.
    InvalidKubeconfig,
    /// HTTP 401: the token expired or was revoked.
    Unauthorized,
    /// HTTP 403: the credential lacks read access in the peer.
    Forbidden,
    /// No answer: connection refused, TLS, timeout, 5xx.
    Unreachable,
    /// The peer has no usable cluster id.
    NoClusterId,
    /// HTTP 404: a kind the controller reads is not served there.
    NotServed,
}

impl Reason {
    /// The condition reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidKubeconfig => reachable::INVALID_KUBECONFIG,
            Self::Unauthorized => reachable::UNAUTHORIZED,
            Self::Forbidden => reachable::FORBIDDEN,
            Self::Unreachable => reachable::UNREACHABLE,
            Self::NoClusterId => reachable::NO_CLUSTER_ID,
            Self::NotServed => reachable::NOT_SERVED,
        }
    }

    /// What the operator should do.
    pub fn fix(self) -> &'static str {
        match self {
            Self::InvalidKubeconfig => {
                "re-run `causeway join` for this peer (the Secret's key `kubeconfig` must hold a kubeconfig)"
            }
            Self::Unauthorized => {
                "the peer rejected the token (expired or revoked): re-run `causeway join` for this peer"
            }
            Self::Forbidden => {
                "grant the peer ServiceAccount read access there (deploy/controller/peer-reader.yaml) or re-run `causeway join`"
            }
            Self::Unreachable => {
                "check that the peer's apiserver is up and reachable from this cluster; the controller retries"
            }
            Self::NoClusterId => {
                "give the peer a valid ClusterProperty cluster.clusterset.k8s.io (one lowercase DNS label)"
            }
            Self::NotServed => {
                "install causeway's CRDs in the peer (`causeway crds | kubectl apply -f -`)"
            }
        }
    }
}

/// A classified failure with a one-line, credential-free detail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct MemberFailure {
    /// Classification.
    pub reason: Reason,
    /// What went wrong.
    pub detail: String,
}

impl MemberFailure {
    /// A failure with `detail`.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }

    /// A kubeconfig that could not be turned into a client. Only the first line of the parser's
    /// message is kept (later lines quote the input) and quoted parts are dropped: both may echo
    /// Secret data.
    pub fn invalid_kubeconfig(err: &anyhow::Error) -> Self {
        let text = format!("{err:#}");
        let mut first = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_owned();
        if first.matches('(').count() > first.matches(')').count() {
            first.push_str(" …)");
        }
        Self::new(Reason::InvalidKubeconfig, redact_quoted(&first))
    }

    /// A failed attempt to read the peer's cluster id through a working client.
    pub fn identity(err: &anyhow::Error) -> Self {
        let reason = err
            .chain()
            .find_map(|e| e.downcast_ref::<kube::Error>())
            // The only errors without a kube::Error are an invalid or missing id.
            .map_or(Reason::NoClusterId, classify_kube);
        Self::new(reason, describe(err.as_ref()))
    }

    /// A watch error of a connected member; `None` for `410 Gone`, which only restarts the
    /// watch from a fresh list and says nothing about the member's health.
    pub fn watch(err: &watcher::Error) -> Option<Self> {
        let reason = match err {
            watcher::Error::WatchError(status) if status.code == 410 => return None,
            watcher::Error::WatchError(status) => classify_code(status.code),
            watcher::Error::InitialListFailed(e)
            | watcher::Error::WatchStartFailed(e)
            | watcher::Error::WatchFailed(e) => {
                if matches!(e, kube::Error::Api(s) if s.code == 410) {
                    return None;
                }
                classify_kube(e)
            }
            watcher::Error::NoResourceVersion => Reason::NotServed,
        };
        Some(Self::new(reason, describe(err)))
    }

    /// The message of a `Reachable=False` condition and of the Event: what and how to fix it.
    pub fn message(&self) -> String {
        format!("{}; {}", self.detail, self.reason.fix())
    }
}

/// The reason for a client error.
pub fn classify_kube(err: &kube::Error) -> Reason {
    match err {
        kube::Error::Api(status) => classify_code(status.code),
        kube::Error::Auth(_) => Reason::Unauthorized,
        kube::Error::InferKubeconfig(_) | kube::Error::InferConfig(_) => Reason::InvalidKubeconfig,
        _ => Reason::Unreachable,
    }
}

fn classify_code(code: u16) -> Reason {
    match code {
        401 => Reason::Unauthorized,
        403 => Reason::Forbidden,
        404 => Reason::NotServed,
        _ => Reason::Unreachable,
    }
}

/// The error chain on one line, an API status shown by its message only (kube's `Display` of
/// an API error repeats the whole status).
fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(kube::Error::Api(status)) = e.downcast_ref::<kube::Error>() {
            parts.push(format!("HTTP {}: {}", status.code, status.message));
            break;
        }
        if let Some(watcher::Error::WatchError(status)) = e.downcast_ref::<watcher::Error>() {
            parts.push(format!("HTTP {}: {}", status.code, status.message));
            break;
        }
        let text = e.to_string();
        // Wrappers repeat their source in their own text; keep only what is new.
        let own = match e.source().map(ToString::to_string) {
            Some(src) if !src.is_empty() => text
                .strip_suffix(&src)
                .map(|t| t.trim_end_matches([' ', ':', '(']).to_owned())
                .unwrap_or(text),
            _ => text,
        };
        if !own.is_empty() {
            parts.push(own);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// `text` with every double-quoted part replaced by `"…"`.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    for ch in text.chars() {
        if ch == '"' {
            if quoted {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(ch);
        }
    }
    if quoted {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
