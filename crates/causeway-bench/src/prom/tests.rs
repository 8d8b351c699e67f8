use super::{samples, sum_where};

const TEXT: &str = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="services",scope="resource",subresource="",verb="POST",version="v1"} 12
apiserver_request_total{code="200",component="apiserver",dry_run="",group="multicluster.x-k8s.io",resource="serviceimports",scope="resource",subresource="status",verb="APPLY",version="v1beta1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="services",scope="namespace",subresource="",verb="LIST",version="v1"} 99
apiserver_request_total_extra{verb="POST"} 5
causeway_controller_api_writes_total{kind="service"} 7
causeway_controller_api_writes_total{kind="a \"quoted\" kind"} 1.0
"#;

#[test]
fn sums_samples_by_label() {
    let s = samples(TEXT, "apiserver_request_total");
    assert_eq!(s.len(), 3);
    let writes = sum_where(&s, |l| l.get("verb").is_some_and(|v| v != "LIST"));
    assert!((writes - 15.0).abs() < f64::EPSILON);
    assert_eq!(s[1].labels["subresource"], "status");
}

#[test]
fn handles_escapes_and_unlabelled_metrics() {
    let s = samples(TEXT, "causeway_controller_api_writes_total");
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].labels["kind"], "a \"quoted\" kind");
    let plain = samples("up 1\nupper 2\n", "up");
    assert_eq!(plain.len(), 1);
    assert!((plain[0].value - 1.0).abs() < f64::EPSILON);
}
