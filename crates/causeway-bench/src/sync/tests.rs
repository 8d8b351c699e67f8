use super::objects::{change_ip, change_target, initial_ip};
use super::percentile;

#[test]
fn percentiles_use_the_nearest_rank() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(percentile(&v, 50.0), Some(50.0));
    assert_eq!(percentile(&v, 99.0), Some(99.0));
    assert_eq!(percentile(&v[..1], 99.0), Some(1.0));
    assert_eq!(percentile(&[], 50.0), None);
}

#[test]
fn initial_and_changed_ips_never_collide() {
    let initial: std::collections::HashSet<_> = (0..1000)
        .flat_map(|i| (0..10).map(move |p| initial_ip(i, p, 10)))
        .collect();
    assert_eq!(initial.len(), 10_000);
    assert_eq!(initial_ip(0, 0, 10).to_string(), "10.44.64.0");
    for j in 0..1000 {
        assert!(!initial.contains(&change_ip(j)));
    }
    assert_eq!(change_ip(0).to_string(), "10.44.128.0");
}

#[test]
fn changes_visit_every_service_before_repeating_one() {
    assert_eq!(change_target(0, 3, 2), (0, 0));
    assert_eq!(change_target(2, 3, 2), (2, 0));
    assert_eq!(change_target(3, 3, 2), (0, 1));
    assert_eq!(change_target(6, 3, 2), (0, 0));
}
