use super::{parse_stat_ticks, parse_status_kib};

#[test]
fn reads_kib_fields_of_status() {
    let text = "Name:\tcauseway\nVmPeak:\t  200 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
    assert_eq!(parse_status_kib(text, "VmHWM"), Some(51200));
    assert_eq!(parse_status_kib(text, "VmRSS"), Some(40960));
    assert_eq!(parse_status_kib(text, "VmSwap"), None);
}

#[test]
fn sums_utime_and_stime_even_with_spaces_in_the_command() {
    let text = "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 \
                100 1000000 2000 18446744073709551615";
    assert_eq!(parse_stat_ticks(text), Some(300));
}
