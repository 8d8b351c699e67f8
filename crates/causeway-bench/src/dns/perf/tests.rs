use super::{parse, quantile, queries, render_queries};
use crate::dns::objects::Mix;

const OUTPUT: &str = "DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15353 -d /tmp/q -l 1 -Q 5 -v
> NOERROR a.example A 0.000191
> NXDOMAIN b.example SRV 0.000277
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         5
  Queries completed:    4 (80.00%)
  Queries lost:         1 (20.00%)

  Response codes:       NOERROR 3 (75.00%), NXDOMAIN 1 (25.00%)
  Average packet size:  request 27, response 85
  Run time (s):         1.000181
  Queries per second:   3.999095

  Average Latency (s):  0.000199 (min 0.000156, max 0.000277)
  Latency StdDev (s):   0.000047
";

#[test]
fn parses_dnsperf_statistics_and_verbose_lines() {
    let s = parse(OUTPUT).unwrap();
    assert_eq!((s.sent, s.completed, s.lost), (5, 4, 1));
    assert!((s.qps - 3.999_095).abs() < 1e-9);
    assert!((s.avg_s - 0.000_199).abs() < 1e-12);
    assert!((s.stddev_s - 0.000_047).abs() < 1e-12);
    assert!((s.noerror_pct - 75.0).abs() < 1e-9);
    assert_eq!(s.latencies, vec![0.000_191, 0.000_277]);
    assert!(parse("no statistics").is_err());
}

#[test]
fn quantiles_by_nearest_rank() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(quantile(&v, 0.5), Some(50.0));
    assert_eq!(quantile(&v, 0.99), Some(99.0));
    assert_eq!(quantile(&v, 0.999), Some(100.0));
    assert_eq!(quantile(&[], 0.5), None);
}

#[test]
fn query_file_mixes_the_forms_in_their_shares() {
    let mix = Mix {
        count: 100,
        headless_percent: 20,
        endpoints: 3,
    };
    let q = queries(mix, "ns", "clusterset.local", 1000);
    assert_eq!(q.len(), 1000);
    let srv = q.iter().filter(|q| q.qtype == "SRV").count();
    assert_eq!(srv, 200);
    assert!(
        q.iter()
            .all(|q| q.name.ends_with(".ns.svc.clusterset.local"))
    );
    assert!(
        q.iter()
            .filter(|q| q.qtype == "SRV")
            .all(|q| q.name.starts_with("_http._tcp.svc-"))
    );
    // Headless names are every fifth import.
    let headless_a = q[60..80]
        .iter()
        .filter(|q| q.qtype == "A")
        .map(|q| &q.name[4..9])
        .all(|n| (n.parse::<usize>().unwrap() + 1) % 5 == 0);
    assert!(headless_a);
    assert!(render_queries(&q[..1]).ends_with(" A\n"));
    assert_eq!(queries(mix, "ns", "clusterset.local", 1000), q);
}
