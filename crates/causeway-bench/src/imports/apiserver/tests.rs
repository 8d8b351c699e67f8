use super::{delta, total, writes};

#[test]
fn counts_only_writes_on_the_three_resources() {
    let before = writes(
        r#"apiserver_request_total{code="201",resource="services",subresource="",verb="POST"} 5
apiserver_request_total{code="200",resource="serviceimports",subresource="status",verb="APPLY"} 1
apiserver_request_total{code="200",resource="services",subresource="",verb="LIST"} 50
apiserver_request_total{code="200",resource="leases",subresource="",verb="PUT"} 70
"#,
    );
    let after = writes(
        r#"apiserver_request_total{code="201",resource="services",subresource="",verb="POST"} 8
apiserver_request_total{code="409",resource="services",subresource="",verb="POST"} 1
apiserver_request_total{code="200",resource="serviceimports",subresource="status",verb="APPLY"} 1
apiserver_request_total{code="200",resource="endpointslices",subresource="",verb="PATCH"} 2
"#,
    );
    let d = delta(&before, &after);
    assert_eq!(d.len(), 2);
    assert!((d["services POST"] - 4.0).abs() < f64::EPSILON);
    assert!((d["endpointslices PATCH"] - 2.0).abs() < f64::EPSILON);
    assert!((total(&d) - 6.0).abs() < f64::EPSILON);
}
