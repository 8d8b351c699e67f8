use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::*;

fn vni_mismatch(node: &str) -> Error {
    Error::VniMismatch {
        node: node.into(),
        peer_vni: 2,
        local_vni: 1,
    }
}

fn scrape(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    text
}

#[test]
fn rejected_peers_are_counted_per_reason_and_gone_reasons_drop_to_zero() {
    let gauge = Family::<ReasonLabel, Gauge>::default();
    let mut registry = Registry::default();
    registry.register("rejected_peers", "x", gauge.clone());
    let mut seen = BTreeSet::new();
    let missing = Error::MissingPodCidr { node: "c".into() };
    set_rejected(
        &gauge,
        &[vni_mismatch("a"), vni_mismatch("b"), missing],
        &mut seen,
    );
    let text = scrape(&registry);
    assert!(
        text.contains(r#"rejected_peers{reason="vni_mismatch"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"rejected_peers{reason="missing_pod_cidr"} 1"#),
        "{text}"
    );
    set_rejected(&gauge, &[vni_mismatch("a")], &mut seen);
    let text = scrape(&registry);
    assert!(
        text.contains(r#"rejected_peers{reason="vni_mismatch"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"rejected_peers{reason="missing_pod_cidr"} 0"#),
        "{text}"
    );
}

#[test]
fn readiness_follows_the_list_and_the_last_reconcile() {
    let (tx, rx) = watch::channel(false);
    let config_error = Family::<ReasonLabel, Gauge>::default();
    let errors = Family::<ReasonLabel, Counter>::default();
    let mut registry = Registry::default();
    registry.register("config_error", "x", config_error.clone());
    registry.register("reconcile_errors", "x", errors.clone());
    let health = Health::new("n1", tx, config_error, errors);
    assert_eq!(health.node(), "n1");

    health.reconciled(Ok(()));
    assert!(!*rx.borrow(), "not ready before the peer Nodes are listed");
    health.listed();
    assert!(*rx.borrow());

    let missing = Error::LinkNotFound {
        name: "flannel.1".into(),
    };
    health.reconciled(Err(&missing));
    health.reconciled(Err(&missing));
    assert!(!*rx.borrow(), "not ready while flannel.1 is missing");
    assert_eq!(health.condition().config_error, Some("link_not_found"));
    let text = scrape(&registry);
    assert!(
        text.contains(r#"config_error{reason="link_not_found"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"reconcile_errors_total{reason="link_not_found"} 2"#),
        "{text}"
    );

    let vni = Error::LocalVniMismatch {
        device: "flannel.1".into(),
        device_vni: 2,
        vni: 1,
    };
    health.reconciled(Err(&vni));
    let text = scrape(&registry);
    assert!(
        text.contains(r#"config_error{reason="link_not_found"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"config_error{reason="local_vni_mismatch"} 1"#),
        "{text}"
    );

    health.reconciled(Ok(()));
    assert!(*rx.borrow(), "ready again once fixed");
    assert_eq!(health.condition().config_error, None);
    let text = scrape(&registry);
    assert!(
        text.contains(r#"config_error{reason="local_vni_mismatch"} 0"#),
        "{text}"
    );
}

#[test]
fn a_transient_failure_is_not_a_config_error_but_unready() {
    let c = Condition {
        listed: true,
        last_ok: Some(false),
        config_error: None,
    };
    assert!(!is_ready(&c));
    assert!(!is_ready(&Condition {
        listed: true,
        ..Condition::default()
    }));
}
