use super::*;
use crate::sync::failure::Reason;

const GRACE: Duration = Duration::from_secs(60);

fn state(id: Option<&str>, failing: Option<FailingView>) -> MemberState<'_> {
    MemberState {
        cluster_id: id,
        connected: true,
        synced: true,
        failing,
        running_for: Duration::from_secs(1),
        grace: GRACE,
        excluded: None,
    }
}

fn since() -> Timestamp {
    "2025-01-02T03:04:05.678Z".parse().expect("timestamp")
}

fn summary(d: &DesiredMember) -> Vec<(&str, &str, &str)> {
    d.conditions
        .iter()
        .map(|c| (c.type_, c.status, c.reason.as_str()))
        .collect()
}

#[test]
fn a_synced_healthy_member_is_reachable_and_live() {
    let d = desired(&state(Some("c2"), None)).expect("desired");
    assert_eq!(d.cluster_id.as_deref(), Some("c2"));
    assert_eq!(
        summary(&d),
        vec![
            ("Reachable", "True", "Connected"),
            ("Stale", "False", "Live")
        ]
    );
    // Messages are stable: the same state always yields the same status (no churn).
    assert_eq!(Some(d), desired(&state(Some("c2"), None)));
}

#[test]
fn a_member_coming_up_has_no_opinion_until_synced_or_failing() {
    let mut s = state(Some("c2"), None);
    s.synced = false;
    assert_eq!(desired(&s), None, "connected, first list running");
    s.connected = false;
    assert_eq!(desired(&s), None, "connection attempt running");
    s.connected = true;
    s.running_for = GRACE;
    let d = desired(&s).expect("never synced within the grace");
    assert_eq!(
        summary(&d),
        vec![
            ("Reachable", "True", "Connected"),
            ("Stale", "True", "Expired")
        ]
    );
}

#[test]
fn a_failing_member_is_held_in_grace_then_expired_with_the_withdrawal_time() {
    let failure = MemberFailure::new(Reason::Unreachable, "connection refused");
    let mut f = FailingView {
        failure,
        since: since(),
        elapsed: Duration::from_secs(5),
    };
    let d = desired(&state(Some("c2"), Some(f.clone()))).expect("desired");
    assert_eq!(
        summary(&d),
        vec![
            ("Reachable", "False", "Unreachable"),
            ("Stale", "True", "InGrace")
        ]
    );
    assert!(d.conditions[0].message.starts_with("connection refused; "));
    assert_eq!(
        d.conditions[1].message,
        "failing since 2025-01-02T03:04:05Z; the endpoints of cluster c2 are kept until 2025-01-02T03:05:05Z (--peer-grace 60 s), then withdrawn"
    );
    f.elapsed = GRACE;
    let d = desired(&state(Some("c2"), Some(f))).expect("desired");
    assert_eq!(
        summary(&d),
        vec![
            ("Reachable", "False", "Unreachable"),
            ("Stale", "True", "Expired")
        ]
    );
    assert_eq!(
        d.conditions[1].message,
        "failing since 2025-01-02T03:04:05Z; the endpoints of cluster c2 were withdrawn at 2025-01-02T03:05:05Z"
    );
}

#[test]
fn a_member_that_never_connected_reports_its_reason_without_an_id() {
    let failure = MemberFailure::new(
        Reason::InvalidKubeconfig,
        "peer Secret p has no key kubeconfig",
    );
    let mut s = state(
        None,
        Some(FailingView {
            failure,
            since: since(),
            elapsed: Duration::from_secs(1),
        }),
    );
    s.connected = false;
    s.synced = false;
    let d = desired(&s).expect("desired");
    assert_eq!(d.cluster_id, None);
    assert_eq!(d.conditions[0].reason, "InvalidKubeconfig");
    assert!(d.conditions[0].message.contains("causeway join"));
    assert!(
        d.conditions[1]
            .message
            .contains("this member's endpoints are kept until")
    );
}

#[test]
fn an_excluded_member_says_why_and_that_its_endpoints_are_not_used() {
    let e = crate::sync::membership::Exclusion {
        reason: "NotInClusterSet",
        message: "cluster c2 is in clusterset \"a\", this cluster in \"b\"".into(),
    };
    // Exclusion wins over a failure: it is why nothing of the member is used.
    let failing = Some(FailingView {
        failure: MemberFailure::new(Reason::Unreachable, "down"),
        since: since(),
        elapsed: Duration::from_secs(1),
    });
    let mut s = state(Some("c2"), failing);
    s.excluded = Some(&e);
    let d = desired(&s).expect("desired");
    assert_eq!(
        summary(&d),
        vec![
            ("Reachable", "False", "NotInClusterSet"),
            ("Stale", "True", "Excluded")
        ]
    );
    assert_eq!(d.conditions[0].message, e.message);
    // Also for a member that never connected.
    let mut s = state(None, None);
    s.connected = false;
    s.excluded = Some(&e);
    assert!(desired(&s).is_some());
}
