use super::*;

#[test]
fn transient_failures_back_off_and_config_errors_wait_for_resync() {
    let resync = Duration::from_secs(60);
    let delays: Vec<u128> = (1..=8)
        .map(|n| retry_delay(n, false, resync).as_millis())
        .collect();
    assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    assert_eq!(retry_delay(1000, false, resync), MAX_RETRY);
    assert_eq!(
        retry_delay(3, false, Duration::from_secs(1)),
        Duration::from_secs(1),
        "never longer than resync"
    );
    assert_eq!(retry_delay(1, true, resync), resync);
}
