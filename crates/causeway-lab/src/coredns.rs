//! Cluster DNS of each lab cluster: CoreDNS as a Deployment in `kube-system` behind the
//! `kube-dns` Service at [`ClusterPlan::dns_ip`] (`manifests/coredns.yaml`), applied with the
//! lab's kubectl (server-side, field manager `causeway-lab`). Cluster 1 runs CoreDNS 1.8.0
//! (RKE1's with Kubernetes 1.21), the others the current release
//! ([`ClusterPlan::coredns_version`]); both images come from `make images`.
//!
//! Flow: [`render`] fills the manifest (pure) → [`apply`] → [`wait_available`] until the
//! Deployment has an available replica.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;

use crate::images::ImageSet;
use crate::{ClusterPlan, Error, LabPaths, Result};

/// The manifest, with `${IMAGE}` and `${DNS_IP}` to fill.
pub const MANIFEST: &str = include_str!("../manifests/coredns.yaml");
/// How long CoreDNS may take to become available.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The manifest for `cluster` with CoreDNS `image`.
pub fn render(cluster: &ClusterPlan, image: &str) -> String {
    MANIFEST
        .replace("${IMAGE}", image)
        .replace("${DNS_IP}", &cluster.dns_ip().to_string())
}

/// The CoreDNS image for `cluster` among the built ones.
pub fn image(cluster: &ClusterPlan, images: &ImageSet) -> Result<String> {
    let current = images
        .references
        .iter()
        .filter_map(|r| r.strip_prefix("localhost/coredns:"))
        .find(|v| *v != "1.8.0")
        .unwrap_or("1.8.0")
        .to_owned();
    images.reference("coredns", Some(cluster.coredns_version(&current)))
}

/// Applies the manifest to `cluster` with kubectl from `bin_dir`.
pub fn apply(paths: &LabPaths, bin_dir: &Path, cluster: &ClusterPlan, image: &str) -> Result<()> {
    let kubectl = bin_dir.join("kubectl");
    let mut child = Command::new(&kubectl)
        .arg(format!(
            "--kubeconfig={}",
            paths.admin_kubeconfig(cluster.index).display()
        ))
        .args(["apply", "--server-side", "--force-conflicts"])
        .args(["--field-manager=causeway-lab", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io("failed to run", &kubectl))?;
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, render(cluster, image).as_bytes())
            .map_err(Error::io("failed to write to", &kubectl))?;
    }
    let out = child
        .wait_with_output()
        .map_err(Error::io("failed to run", &kubectl))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("kubectl apply (CoreDNS, cluster {})", cluster.index),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// Waits until CoreDNS in `cluster` has an available replica.
pub async fn wait_available(client: &kube::Client, cluster: u8) -> Result<()> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), "kube-system");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let status = api
            .get_opt("coredns")
            .await
            .ok()
            .flatten()
            .and_then(|d| d.status);
        if status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .is_some_and(|n| n > 0)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::AddonNotReady {
                what: "CoreDNS",
                cluster,
                seconds: TIMEOUT.as_secs(),
                detail: format!("{status:?}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cluster_gets_its_address_and_release() {
        let images = ImageSet::parse(
            Path::new("/x"),
            "localhost/coredns:1.14.7\nlocalhost/coredns:1.8.0\n",
        );
        let c1 = ClusterPlan::new(1).unwrap();
        let c2 = ClusterPlan::new(2).unwrap();
        assert_eq!(image(&c1, &images).unwrap(), "localhost/coredns:1.8.0");
        assert_eq!(image(&c2, &images).unwrap(), "localhost/coredns:1.14.7");
        let text = render(&c2, "localhost/coredns:1.14.7");
        assert!(text.contains("clusterIP: 10.45.0.10"));
        assert!(text.contains("image: localhost/coredns:1.14.7"));
        assert!(!text.contains("${"));
    }
}
