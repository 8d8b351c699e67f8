use super::server::corefile;

#[test]
fn corefile_binds_loopback_and_serves_the_multicluster_zone() {
    let text = corefile(std::path::Path::new("/lab/c1/admin.kubeconfig"), 1053);
    assert!(text.starts_with(".:1053 {\n    bind 127.0.0.1\n"));
    assert!(text.contains("kubernetes cluster.local clusterset.local {"));
    assert!(text.contains("kubeconfig /lab/c1/admin.kubeconfig\n"));
    assert!(text.contains("multicluster clusterset.local\n"));
    assert!(!text.contains("forward"));
}
