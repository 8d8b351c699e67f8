use super::upstream_log_writes;

#[test]
fn counts_upstream_writes_from_its_log_by_namespace() {
    let dir = std::env::temp_dir().join(format!("cw-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("upstream.log");
    std::fs::write(
        &log,
        "T\tINFO\tcontrollers.ServiceImport\tadded annotation\t{\"serviceimport\": {\"name\":\"a\",\"namespace\":\"b1\"}}\n\
         T\tINFO\tcontrollers.ServiceImport\tcreated service\t{\"serviceimport\": {\"name\":\"a\",\"namespace\":\"b1\"}}\n\
         T\tINFO\tcontrollers.Service\tupdated serviceimport ip\t{\"service\": {\"name\":\"d\",\"namespace\":\"b1\"}}\n\
         T\tINFO\tcontrollers.EndpointSlice\tadded label\t{\"endpointslice\": {\"name\":\"s\",\"namespace\":\"demo\"}}\n\
         T\tINFO\tStarting workers\t{\"controller\": \"service\"}\n",
    )
    .unwrap();
    assert_eq!(upstream_log_writes(&log, "b1"), (3.0, 1.0));
    std::fs::remove_dir_all(&dir).unwrap();
}
