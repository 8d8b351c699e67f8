use anyhow::Context as _;
use kube::core::Status;

use super::*;

fn api(code: u16, message: &str) -> kube::Error {
    kube::Error::Api(Status::failure(message, "x").with_code(code).boxed())
}

#[test]
fn http_codes_map_to_reasons() {
    for (code, reason) in [
        (401, Reason::Unauthorized),
        (403, Reason::Forbidden),
        (404, Reason::NotServed),
        (500, Reason::Unreachable),
        (503, Reason::Unreachable),
    ] {
        assert_eq!(classify_kube(&api(code, "m")), reason, "{code}");
    }
    assert_eq!(Reason::Forbidden.as_str(), "Forbidden");
    assert_eq!(Reason::NoClusterId.as_str(), "NoClusterID");
}

#[test]
fn identity_errors_find_the_api_status_through_context() {
    let err = Err::<(), _>(api(403, "clusterproperties is forbidden"))
        .context("failed to read ClusterProperty cluster.clusterset.k8s.io")
        .expect_err("error");
    let f = MemberFailure::identity(&err);
    assert_eq!(f.reason, Reason::Forbidden);
    assert_eq!(
        f.detail,
        "failed to read ClusterProperty cluster.clusterset.k8s.io: HTTP 403: clusterproperties is forbidden"
    );
    assert!(f.message().contains("peer-reader.yaml"), "{}", f.message());
    let invalid = anyhow::anyhow!("ClusterProperty cluster.clusterset.k8s.io is \"A_B\"");
    assert_eq!(
        MemberFailure::identity(&invalid).reason,
        Reason::NoClusterId
    );
}

#[test]
fn watch_errors_classify_and_gone_is_not_a_failure() {
    let list = watcher::Error::InitialListFailed(api(401, "Unauthorized"));
    let f = MemberFailure::watch(&list).expect("failure");
    assert_eq!(f.reason, Reason::Unauthorized);
    assert_eq!(
        f.detail,
        "failed to perform initial object list: HTTP 401: Unauthorized"
    );
    let gone =
        watcher::Error::WatchError(Status::failure("too old", "Expired").with_code(410).boxed());
    assert_eq!(MemberFailure::watch(&gone), None);
    let forbidden =
        watcher::Error::WatchError(Status::failure("no", "Forbidden").with_code(403).boxed());
    assert_eq!(
        MemberFailure::watch(&forbidden).map(|f| f.reason),
        Some(Reason::Forbidden)
    );
    let io = kube::Error::ReadEvents(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection reset",
    ));
    let f = MemberFailure::watch(&watcher::Error::WatchFailed(io)).expect("failure");
    assert_eq!(f.reason, Reason::Unreachable);
    assert_eq!(
        f.detail,
        "watch stream failed: Error reading events stream: connection reset"
    );
}

#[test]
fn kubeconfig_errors_drop_quoted_secret_data() {
    let err = anyhow::anyhow!("invalid type: string \"eyJhbGciOi.secret\", expected a map");
    let f = MemberFailure::invalid_kubeconfig(&err);
    assert_eq!(f.reason, Reason::InvalidKubeconfig);
    assert_eq!(f.detail, "invalid type: string \"…\", expected a map");
    assert!(!f.detail.contains("secret"));
    assert_eq!(redact_quoted("a \"b"), "a \"…");
    // Parsers that show the input below the message: only the first line is kept.
    let err = anyhow::anyhow!(
        "peer Secret p: not a valid kubeconfig (line 1 column 6: unclosed bracket\n --> <input>:1:6\n1 | token: [secret"
    );
    let f = MemberFailure::invalid_kubeconfig(&err);
    assert_eq!(
        f.detail,
        "peer Secret p: not a valid kubeconfig (line 1 column 6: unclosed bracket …)"
    );
}
