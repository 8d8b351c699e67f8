//! A planned pass written to a mock apiserver.

use std::collections::HashMap;
use std::time::Duration;

use causeway_api::names::FIELD_MANAGER_SYNC;
use causeway_test_support::mock_api::{MockApiServer, mock_client};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use super::*;
use crate::sync::fixtures::World;

fn writer() -> (Writer, watch::Sender<bool>, MockApiServer, Metrics) {
    let (client, server) = mock_client();
    let (tx, rx) = watch::channel(true);
    let metrics = Metrics::register(&mut Registry::default());
    let w = Writer::new(client, rx, metrics.clone(), FIELD_MANAGER_SYNC);
    (w, tx, server, metrics)
}

/// A world where member `c2` newly exports `n` services: each needs one import write.
fn new_imports(n: usize) -> World {
    let mut w = World::new(2);
    for i in 0..n {
        w.export(1, &format!("svc{i:02}"), 1000, 80, "10.44.1.5");
    }
    w
}

#[tokio::test]
async fn leadership_lost_mid_pass_no_write_after_the_loss() {
    let mut world = new_imports(WRITES_IN_FLIGHT + 4);
    let plan = world.plan();
    let (writer, tx, mut server, metrics) = writer();
    let mut memo = Memo::default();
    let pass = async { services(&writer, plan.services, &mut memo).await.0 };
    let apiserver = async {
        let first = server.next().await.expect("the pass starts writing");
        assert!(first.is_forced_apply_by(FIELD_MANAGER_SYNC));
        assert!(first.path.contains("/serviceimports/"), "{}", first.path);
        // The Lease is lost while the first writes are in flight.
        tx.send(false).unwrap();
        first.echo("1");
        let mut sent = 1;
        while let Some(call) = server.next_within(Duration::from_millis(300)).await {
            call.echo("1");
            sent += 1;
        }
        sent
    };
    let (errors, sent) = tokio::join!(pass, apiserver);
    assert_eq!(
        sent, WRITES_IN_FLIGHT,
        "only the writes already in flight reached the apiserver"
    );
    assert_eq!(errors, 4, "the queued ones were refused");
    assert_eq!(
        metrics
            .writes
            .get_or_create(&crate::metrics::KindLabel {
                kind: "sync_serviceimport"
            })
            .get(),
        u64::try_from(WRITES_IN_FLIGHT).unwrap()
    );
    // What was refused is planned again by whoever leads next.
    world.memo = memo;
    assert_eq!(world.plan().services.len(), 4);
}

#[tokio::test]
async fn leadership_lost_between_two_writes_of_one_service() {
    // A local export: its conditions, then its import.
    let mut world = World::new(1);
    world.export(0, "web", 1000, 80, "10.42.1.5");
    let plan = world.plan();
    assert_eq!(plan.services[0].writes.len(), 2);
    let (writer, tx, mut server, _) = writer();
    let mut memo = Memo::default();
    let pass = async { services(&writer, plan.services, &mut memo).await.0 };
    let apiserver = async {
        let conditions = server.next().await.unwrap();
        assert!(
            conditions.path.ends_with("/serviceexports/web/status"),
            "{}",
            conditions.path
        );
        tx.send(false).unwrap();
        conditions.echo("1");
        server.assert_quiet(Duration::from_millis(300)).await;
    };
    let (errors, ()) = tokio::join!(pass, apiserver);
    assert_eq!(errors, 1);
    world.memo = memo;
    assert_eq!(
        world.plan().services.len(),
        1,
        "a half-written service is not remembered as done"
    );
}

#[tokio::test]
async fn a_rejected_write_is_counted_and_its_service_planned_again() {
    let mut world = new_imports(2);
    let plan = world.plan();
    let (writer, _tx, mut server, _) = writer();
    let mut memo = Memo::default();
    let pass = async { services(&writer, plan.services, &mut memo).await.0 };
    let apiserver = async {
        for _ in 0..2 {
            let call = server.next().await.unwrap();
            if call.path.ends_with("/svc00") {
                call.fail(422, "Invalid", "spec.ports[0].port: Invalid value");
            } else {
                call.fail(503, "ServiceUnavailable", "etcd leader changed");
            }
        }
    };
    let (errors, ()) = tokio::join!(pass, apiserver);
    assert_eq!(errors, 2);
    world.memo = memo;
    assert_eq!(world.plan().services.len(), 2);
}

#[tokio::test]
async fn slices_a_gone_slice_is_no_error_a_failed_apply_is_retried() {
    let mut world = World::new(2);
    world.export(1, "web", 1000, 80, "10.44.1.5");
    world.export(1, "db", 1000, 5432, "10.44.1.6");
    world.converge();
    world.unexport(1, "db");
    world.source_slice(1, "web", "web-abc", 80, "10.44.1.7");
    let plan = world.plan();
    assert_eq!((plan.delete_slices.len(), plan.apply_slices.len()), (1, 1));
    for s in plan.services.clone() {
        world.memo.store(s.key, s.fingerprint, s.outcome);
    }
    let (writer, _tx, mut server, metrics) = writer();
    let mut memo = std::mem::take(&mut world.memo);
    let changed = HashMap::new();
    let pass = slices(
        &writer,
        &metrics,
        (plan.delete_slices, plan.apply_slices),
        &changed,
        &mut memo,
    );
    let apiserver = async {
        // Applies first, then deletes (db's stale slice: web's failed apply does not hold it).
        let apply = server.next().await.unwrap();
        assert!(apply.is_forced_apply_by(FIELD_MANAGER_SYNC));
        apply.fail(500, "InternalError", "etcdserver: request timed out");
        let delete = server.next().await.unwrap();
        assert_eq!(delete.method, http::Method::DELETE);
        delete.fail(404, "NotFound", "already gone");
    };
    let (errors, ()) = tokio::join!(pass, apiserver);
    assert_eq!(errors, 1, "the 404 is not an error, the 500 is");
    world.memo = memo;
    assert_eq!(
        world.plan().apply_slices.len(),
        1,
        "the failed apply is planned again"
    );
}
