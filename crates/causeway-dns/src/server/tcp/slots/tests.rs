use std::time::Duration;

use super::*;

#[test]
fn the_longest_idle_connection_is_the_victim() {
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(1);
    assert_eq!(longest_idle(std::iter::empty()), None);
    assert_eq!(
        longest_idle([(1, later), (2, t0), (3, later)].into_iter()),
        Some(2)
    );
    assert_eq!(
        longest_idle([(4, t0), (3, t0)].into_iter()),
        Some(3),
        "oldest id on a tie"
    );
}

#[test]
fn a_full_table_evicts_the_longest_idle_and_touching_protects() {
    let gauge = Gauge::default();
    let slots = Slots::new(2, gauge.clone());
    let t0 = Instant::now();
    let (first, evicted) = slots.admit(t0);
    assert!(!evicted);
    let (second, evicted) = slots.admit(t0 + Duration::from_secs(1));
    assert!(!evicted);
    first.touch(t0 + Duration::from_secs(2));
    assert_eq!(gauge.get(), 2);

    let (third, evicted) = slots.admit(t0 + Duration::from_secs(3));
    assert!(evicted, "the table was full");
    assert_eq!(slots.len(), 2);
    // `second` was idle longest (active at 1 s; `first` at 2 s): it is told to close.
    tokio_test_notified(&second.close);
    drop(second);
    assert_eq!(
        slots.len(),
        2,
        "dropping an evicted slot frees nothing more"
    );
    assert_eq!(gauge.get(), 2);

    drop(first);
    assert_eq!(slots.len(), 1);
    let (_fourth, evicted) = slots.admit(t0 + Duration::from_secs(4));
    assert!(!evicted, "a slot was free");
    drop(third);
    assert_eq!(gauge.get(), 1);
}

/// Asserts that `notify` holds a notification (without a runtime: a stored permit completes the
/// first poll).
fn tokio_test_notified(notify: &Notify) {
    let notified = notify.notified();
    let mut notified = std::pin::pin!(notified);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(
        notified.as_mut().poll(&mut cx).is_ready(),
        "the evicted connection was told to close"
    );
}
