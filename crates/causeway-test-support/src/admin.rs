//! The daemons' admin endpoints and `causeway join`, as tests drive them: a free loopback port
//! for `--admin-addr`, a raw `GET /metrics` on it, one sample out of that text, and `causeway
//! join --both` between two lab clusters (the caller passes its `causeway` binary).

use std::path::Path;
use std::process::Output;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Lab;

/// A loopback port free right now (for `--admin-addr 127.0.0.1:<port>`).
pub fn free_port() -> u16 {
    crate::dns::free_port(std::net::Ipv4Addr::LOCALHOST)
}

/// The `/metrics` response (headers and body) of the admin server on `port`, or `None` while it
/// does not answer.
pub async fn metrics(port: u16) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await.ok()?;
    Some(body)
}

/// The value of the sample `name` (with its labels, as printed) in a metrics text.
pub fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Runs `causeway join` from lab cluster `a` to cluster `b` as their admin, with `extra` flags.
pub async fn join(causeway: &Path, lab: &Lab, a: u8, b: u8, extra: &[&str]) -> Output {
    tokio::process::Command::new(causeway)
        .args([
            "join",
            "--kubeconfig",
            &lab.paths.admin_kubeconfig(a).display().to_string(),
            "--peer-kubeconfig",
            &lab.paths.admin_kubeconfig(b).display().to_string(),
        ])
        .args(extra)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", causeway.display()))
}

/// `causeway join --both` between lab clusters `a` and `b`; panics with join's error output if it
/// fails.
pub async fn join_both(causeway: &Path, lab: &Lab, a: u8, b: u8) {
    let out = join(causeway, lab, a, b, &["--both"]).await;
    assert!(
        out.status.success(),
        "join failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn a_sample_is_found_by_its_full_name_only() {
        let text = "x_total{a=\"1\"} 3\nx_total 5\nx_total_more 9\n";
        assert_eq!(sample(text, "x_total{a=\"1\"}"), Some(3.0));
        assert_eq!(sample(text, "x_total"), Some(5.0));
        assert_eq!(sample(text, "y_total"), None);
    }
}
