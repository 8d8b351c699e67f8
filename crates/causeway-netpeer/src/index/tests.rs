use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn node(name: &str, rv: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            resource_version: Some(rv.into()),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

fn names(index: &PeerIndex) -> Vec<String> {
    index
        .nodes()
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect()
}

#[test]
fn events_apply_and_delete() {
    let mut index = PeerIndex::default();
    assert!(index.apply(node("b", "1")));
    assert!(index.apply(node("a", "1")));
    assert!(!index.apply(node("a", "1")), "unchanged object");
    assert!(index.apply(node("a", "2")));
    assert_eq!(names(&index), ["a", "b"]);
    assert!(index.delete("a"));
    assert!(!index.delete("a"));
    assert_eq!(names(&index), ["b"]);
}

#[test]
fn only_a_completed_relist_removes_nodes() {
    let mut index = PeerIndex::default();
    assert!(!index.synced());
    index.begin_relist();
    index.relist_apply(node("a", "1"));
    index.relist_apply(node("b", "1"));
    assert!(
        index.is_empty(),
        "nothing visible before the list completes"
    );
    assert!(index.finish_relist().is_empty());
    assert!(index.synced());
    assert_eq!(names(&index), ["a", "b"]);

    // The watch errors and a re-list starts but fails half-way: nothing is removed.
    index.begin_relist();
    index.relist_apply(node("a", "2"));
    assert_eq!(names(&index), ["a", "b"]);
    // The next attempt completes without b: now b goes.
    index.begin_relist();
    index.relist_apply(node("a", "2"));
    assert_eq!(index.finish_relist(), ["b"]);
    assert_eq!(names(&index), ["a"]);
    assert_eq!(index.len(), 1);
}
