use causeway_api::names::FIELD_MANAGER_SYNC;
use causeway_test_support::mock_api::{MockApiServer, mock_client};
use futures::StreamExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use prometheus_client::registry::Registry;
use serde_json::json;
use std::time::Duration;

use super::*;
use crate::metrics::KindLabel;

fn writer(leads: bool) -> (Writer, watch::Sender<bool>, MockApiServer, Metrics) {
    let (client, server) = mock_client();
    let (tx, rx) = watch::channel(leads);
    let metrics = Metrics::register(&mut Registry::default());
    let w = Writer::new(client, rx, metrics.clone(), FIELD_MANAGER_SYNC);
    (w, tx, server, metrics)
}

fn slice(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "ns"},
        "addressType": "IPv4",
        "endpoints": [],
    })
}

fn writes(metrics: &Metrics, kind: &'static str) -> u64 {
    metrics.writes.get_or_create(&KindLabel { kind }).get()
}

async fn apply(w: &Writer, name: &str) -> Result<EndpointSlice, WriteError> {
    w.apply::<EndpointSlice>("sync_endpointslice", "ns", name, &slice(name))
        .await
}

#[tokio::test]
async fn leadership_lost_mid_pass_no_write_after_the_loss() {
    let (w, tx, mut server, metrics) = writer(true);
    let pass = tokio::spawn(async move {
        let mut results = Vec::new();
        for name in ["a", "b", "c", "d"] {
            results.push(apply(&w, name).await.map(|_| ()));
        }
        results
    });
    let first = server.next().await.expect("the first write is sent");
    assert!(first.is_forced_apply_by(FIELD_MANAGER_SYNC));
    assert!(first.path.ends_with("/namespaces/ns/endpointslices/a"));
    // The Lease is lost while the first write is in flight.
    tx.send(false).unwrap();
    first.echo("1");
    server.assert_quiet(Duration::from_millis(300)).await;
    let results = pass.await.unwrap();
    assert!(results[0].is_ok());
    for r in &results[1..] {
        assert!(matches!(r, Err(WriteError::NotLeader)), "{r:?}");
    }
    assert_eq!(
        writes(&metrics, "sync_endpointslice"),
        1,
        "refused writes are not counted"
    );
}

#[tokio::test]
async fn queued_writes_are_dropped_once_leadership_is_lost() {
    // A pass keeps two writes in flight: those two were sent before the loss; of the queue behind
    // them, nothing is.
    let (w, tx, mut server, _) = writer(true);
    // The pass and the apiserver run in this one task (no spawn: the stream borrows the writer).
    let pass = futures::stream::iter(["a", "b", "c", "d", "e"])
        .map(|name| apply(&w, name))
        .buffer_unordered(2)
        .map(|r| r.map(|_| ()))
        .collect::<Vec<_>>();
    let server = async {
        let one = server.next().await.unwrap();
        let two = server.next().await.unwrap();
        tx.send(false).unwrap();
        one.echo("1");
        two.echo("2");
        server.assert_quiet(Duration::from_millis(300)).await;
    };
    let (results, ()) = tokio::join!(pass, server);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Err(WriteError::NotLeader)))
            .count(),
        3
    );
}

#[tokio::test]
async fn a_closed_session_stays_closed_when_leadership_returns() {
    let (w, tx, mut server, _) = writer(false);
    assert!(matches!(apply(&w, "a").await, Err(WriteError::NotLeader)));
    tx.send(true).unwrap();
    assert!(!w.leads());
    let task = tokio::spawn(async move {
        let refused = apply(&w, "a").await;
        let fresh = w.session();
        (refused.map(|_| ()), apply(&fresh, "a").await.map(|_| ()))
    });
    server.next().await.expect("a new session writes").echo("1");
    let (refused, fresh) = task.await.unwrap();
    assert!(matches!(refused, Err(WriteError::NotLeader)));
    assert!(fresh.is_ok());
    server.assert_quiet(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_standby_sends_nothing() {
    let (w, _tx, mut server, metrics) = writer(false);
    let results = tokio::spawn(async move {
        let apply = apply(&w, "a").await.map(|_| ());
        let delete = w
            .delete::<EndpointSlice>("sync_endpointslice", "ns", "a")
            .await;
        (apply, delete)
    });
    server.assert_quiet(Duration::from_millis(200)).await;
    let (apply, delete) = results.await.unwrap();
    assert!(matches!(apply, Err(WriteError::NotLeader)));
    assert!(matches!(delete, Err(WriteError::NotLeader)));
    assert_eq!(writes(&metrics, "sync_endpointslice"), 0);
}

#[tokio::test]
async fn client_and_server_errors_come_back_with_their_code_and_are_counted() {
    for (code, reason) in [
        (403, "Forbidden"),
        (409, "Conflict"),
        (422, "Invalid"),
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
    ] {
        let (w, _tx, mut server, metrics) = writer(true);
        let task = tokio::spawn(async move { apply(&w, "a").await.map(|_| ()) });
        server
            .next()
            .await
            .unwrap()
            .fail(code, reason, "spec.endpoints: Invalid value");
        let err = task.await.unwrap().unwrap_err();
        assert_eq!(err.code(), Some(code), "{err:?}");
        assert_eq!(err.message(), "spec.endpoints: Invalid value");
        assert_eq!(writes(&metrics, "sync_endpointslice"), 1, "{code}");
    }
}

#[tokio::test]
async fn deleting_what_is_gone_is_no_error_other_failures_are() {
    let (w, _tx, mut server, metrics) = writer(true);
    let task = tokio::spawn(async move {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(
                w.delete::<EndpointSlice>("sync_endpointslice", "ns", "a")
                    .await
                    .map_err(|e| e.code()),
            );
        }
        out
    });
    let call = server.next().await.unwrap();
    assert_eq!(call.method, http::Method::DELETE);
    call.ok(&json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}));
    server.next().await.unwrap().fail(404, "NotFound", "gone");
    server
        .next()
        .await
        .unwrap()
        .fail(500, "InternalError", "etcd");
    let out = task.await.unwrap();
    assert_eq!(
        out,
        vec![
            Ok(Deleted::Removed),
            Ok(Deleted::AlreadyGone),
            Err(Some(500))
        ]
    );
    assert_eq!(writes(&metrics, "sync_endpointslice"), 3);
}

#[tokio::test]
async fn status_and_merge_writes_go_to_their_own_endpoints() {
    let (w, _tx, mut server, _) = writer(true);
    let task = tokio::spawn(async move {
        let status = w
            .apply_status::<EndpointSlice>("x", "ns", "a", &json!({"status": {}}))
            .await
            .map(|_| ());
        let merge = w
            .merge::<EndpointSlice>("x", "ns", "a", &json!({"metadata": {}}))
            .await
            .map(|_| ());
        (status, merge)
    });
    let status = server.next().await.unwrap();
    assert!(status.path.ends_with("/endpointslices/a/status"));
    assert!(status.is_forced_apply_by(FIELD_MANAGER_SYNC));
    status.ok(&slice("a"));
    let merge = server.next().await.unwrap();
    assert_eq!(merge.method, http::Method::PATCH);
    assert!(!merge.query.contains("fieldManager"), "{}", merge.query);
    merge.ok(&slice("a"));
    let (status, merge) = task.await.unwrap();
    assert!(status.is_ok() && merge.is_ok());
}
