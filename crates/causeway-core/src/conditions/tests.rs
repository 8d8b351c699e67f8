use k8s_openapi::jiff::Timestamp;

use super::*;

fn at(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap())
}

#[test]
fn unchanged_status_keeps_the_transition_time() {
    let first = merge(
        &[],
        &[DesiredCondition::new(
            "Ready", "False", "Pending", "waiting",
        )],
        Some(1),
        &at(100),
    );
    assert_eq!(first[0].last_transition_time, at(100));
    // Same status, new reason and message: time stays.
    let second = merge(
        &first,
        &[DesiredCondition::new(
            "Ready",
            "False",
            "IPFamilyNotSupported",
            "v6",
        )],
        Some(2),
        &at(200),
    );
    assert_eq!(second[0].last_transition_time, at(100));
    assert_eq!(second[0].reason, "IPFamilyNotSupported");
    assert_eq!(second[0].observed_generation, Some(2));
    // Status flips: time moves.
    let third = merge(
        &second,
        &[DesiredCondition::new("Ready", "True", "Ready", "")],
        Some(2),
        &at(300),
    );
    assert_eq!(third[0].last_transition_time, at(300));
}

#[test]
fn other_condition_types_are_kept_and_sorted() {
    let current = merge(
        &[],
        &[DesiredCondition::new("Valid", "True", "Valid", "")],
        None,
        &at(1),
    );
    let out = merge(
        &current,
        &[DesiredCondition::new(
            "Conflict",
            "False",
            "NoConflicts",
            "",
        )],
        None,
        &at(2),
    );
    let types: Vec<_> = out.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Conflict", "Valid"]);
}

#[test]
fn up_to_date_ignores_time_but_not_content() {
    let desired = [DesiredCondition::new("Ready", "True", "Ready", "ok")];
    let current = merge(&[], &desired, Some(3), &at(5));
    assert!(up_to_date(&current, &desired, Some(3)));
    assert!(
        !up_to_date(&current, &desired, Some(4)),
        "a new generation is written"
    );
    assert!(!up_to_date(
        &current,
        &[DesiredCondition::new("Ready", "True", "Ready", "changed")],
        Some(3)
    ));
    assert!(!up_to_date(&[], &desired, Some(3)));
}
