use super::{import_name, import_object, slice_name, slice_object};

#[test]
fn import_and_slice_have_the_benchmark_shape() {
    let name = import_name(7);
    assert_eq!(name, "svc-00007");
    let import = import_object(&name).unwrap();
    assert_eq!(import.data["spec"]["type"], "ClusterSetIP");
    assert_eq!(import.data["spec"]["ports"][0]["name"], "http");
    let slice = slice_object(&name, 7, 10).unwrap();
    assert_eq!(slice.metadata.name.as_deref(), Some("svc-00007-remote"));
    assert_eq!(slice_name(&name), "svc-00007-remote");
    let labels = slice.metadata.labels.unwrap();
    assert_eq!(labels["multicluster.kubernetes.io/service-name"], name);
    assert!(!labels.contains_key("kubernetes.io/service-name"));
    assert_eq!(slice.endpoints.len(), 10);
    assert_eq!(slice.endpoints[0].addresses, vec!["10.128.0.71".to_owned()]);
    assert_eq!(slice.ports.unwrap()[0].name.as_deref(), Some("http"));
}
