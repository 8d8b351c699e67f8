use super::{MAX_FIELD_MANAGER, field_manager};

#[test]
fn every_replica_gets_its_own_field_manager() {
    assert_eq!(
        field_manager("causeway-controller", "ctl-a"),
        "causeway-controller-ctl-a"
    );
    assert_ne!(
        field_manager("causeway-controller", "ctl-a"),
        field_manager("causeway-controller", "ctl-b")
    );
    assert_ne!(
        field_manager("causeway-dns", "pod-1"),
        field_manager("causeway-controller", "pod-1")
    );
}

#[test]
fn long_identities_stay_distinct_within_128_characters() {
    let exact = "x".repeat(MAX_FIELD_MANAGER - "causeway-dns-".len());
    assert_eq!(
        field_manager("causeway-dns", &exact).len(),
        MAX_FIELD_MANAGER,
        "fits as it is"
    );
    let a = format!("{}-a", "p".repeat(250));
    let b = format!("{}-b", "p".repeat(250));
    let (ma, mb) = (
        field_manager("causeway-dns", &a),
        field_manager("causeway-dns", &b),
    );
    assert!(ma.len() <= MAX_FIELD_MANAGER && mb.len() <= MAX_FIELD_MANAGER);
    assert!(ma.starts_with("causeway-dns-ppp"), "{ma}");
    assert_ne!(ma, mb, "identities that differ only past the cut");
    assert_eq!(ma, field_manager("causeway-dns", &a), "stable");
    // A multi-byte character at the cut is not split.
    let wide = "é".repeat(100);
    assert!(field_manager("causeway-dns", &wide).len() <= MAX_FIELD_MANAGER);
}
