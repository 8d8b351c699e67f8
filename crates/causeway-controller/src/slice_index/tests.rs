#![allow(clippy::unwrap_used)]

use super::*;
use causeway_api::names::{ANNOTATION_ADDED_SERVICE_NAME, LABEL_K8S_SERVICE_NAME};
use serde_json::json;

fn slice(ns: &str, name: &str, import: Option<&str>, rv: &str, added: bool) -> EndpointSlice {
    let mut labels = serde_json::Map::new();
    if let Some(i) = import {
        labels.insert(LABEL_SERVICE_NAME.into(), json!(i));
        labels.insert(LABEL_K8S_SERVICE_NAME.into(), json!("derived-x"));
    }
    let annotations = if added {
        json!({ANNOTATION_ADDED_SERVICE_NAME: "true"})
    } else {
        json!({})
    };
    serde_json::from_value(json!({
        "metadata": {"namespace": ns, "name": name, "resourceVersion": rv, "labels": labels, "annotations": annotations},
        "addressType": "IPv4", "endpoints": [],
    }))
    .unwrap()
}

fn names(v: &[IndexedSlice]) -> Vec<&str> {
    v.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn slices_are_found_by_import_and_follow_label_changes() {
    let idx = SliceIndex::default();
    idx.apply(&Event::Init);
    idx.apply(&Event::InitApply(slice("a", "s1", Some("web"), "1", false)));
    idx.apply(&Event::InitApply(slice("a", "s2", Some("web"), "1", true)));
    idx.apply(&Event::InitApply(slice("b", "s1", Some("web"), "1", false)));
    idx.apply(&Event::InitApply(slice("a", "s3", None, "1", false)));
    assert!(!idx.is_synced(), "not synced before the list completes");
    idx.apply(&Event::InitDone);
    assert!(idx.is_synced());
    assert_eq!(names(&idx.of_import("a", "web")), ["s1", "s2"]);
    assert_eq!(names(&idx.of_import("b", "web")), ["s1"]);
    assert_eq!(idx.len(), 3, "a slice naming no import is not indexed");
    let s2 = &idx.of_import("a", "web")[1];
    assert!(s2.marks.added_by_us);
    assert_eq!(s2.marks.service_name.as_deref(), Some("derived-x"));
    // s1 now names another import: it moves.
    idx.apply(&Event::Apply(slice("a", "s1", Some("api"), "2", false)));
    assert_eq!(names(&idx.of_import("a", "web")), ["s2"]);
    assert_eq!(idx.of_import("a", "api")[0].resource_version, "2");
    // Deleted, and labelled away from every import.
    idx.apply(&Event::Delete(slice("a", "s2", Some("web"), "3", true)));
    idx.apply(&Event::Apply(slice("a", "s1", None, "4", false)));
    assert!(idx.of_import("a", "web").is_empty());
    assert!(idx.of_import("a", "api").is_empty());
    assert_eq!(idx.len(), 1);
}

#[test]
fn a_relist_replaces_the_index_only_when_complete() {
    let idx = SliceIndex::default();
    idx.apply(&Event::Init);
    idx.apply(&Event::InitApply(slice("a", "old", Some("web"), "1", true)));
    idx.apply(&Event::InitDone);
    assert_eq!(names(&idx.marked()), ["old"]);
    // A relist starts: until it completes, the old entries stay.
    idx.apply(&Event::Init);
    idx.apply(&Event::InitApply(slice(
        "a",
        "new",
        Some("web"),
        "5",
        false,
    )));
    assert_eq!(names(&idx.of_import("a", "web")), ["old"]);
    idx.apply(&Event::InitDone);
    assert_eq!(names(&idx.of_import("a", "web")), ["new"]);
    assert!(idx.marked().is_empty());
}

#[tokio::test]
async fn waiters_wake_when_the_first_list_completes() {
    let idx = std::sync::Arc::new(SliceIndex::default());
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let idx = idx.clone();
            tokio::spawn(async move { idx.wait_synced().await })
        })
        .collect();
    tokio::task::yield_now().await;
    idx.apply(&Event::Init);
    idx.apply(&Event::InitDone);
    for w in waiters {
        tokio::time::timeout(std::time::Duration::from_secs(5), w)
            .await
            .unwrap()
            .unwrap();
    }
}
