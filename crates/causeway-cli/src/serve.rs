//! `causeway serve`: the demo workload. Every HTTP request gets
//! `hello from cluster <N> (Node: <node> Pod: <pod> Address: <ip>)`, like the seed's `serve`.

use std::net::SocketAddr;

use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `causeway serve` flags.
#[derive(Debug, Args)]
pub struct ServeCommand {
    /// Address to listen on.
    #[arg(long, env = "CAUSEWAY_SERVE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Cluster name in the answer.
    #[arg(long, env = "CLUSTER_NAME", default_value = "?")]
    cluster: String,
    /// Node name in the answer.
    #[arg(long, env = "NODE_NAME", default_value = "?")]
    node: String,
    /// Pod name in the answer.
    #[arg(long, env = "POD_NAME", default_value = "?")]
    pod: String,
    /// Pod IP in the answer.
    #[arg(long, env = "POD_IP", default_value = "?")]
    address: String,
    /// Seconds to keep serving after SIGTERM before exiting, while the endpoint is withdrawn
    /// everywhere (the pod is terminating, so no new client is sent to it once every cluster's
    /// proxies know); 0 exits at once.
    #[arg(long, env = "CAUSEWAY_SERVE_SHUTDOWN_DELAY", default_value_t = 0)]
    shutdown_delay_seconds: u64,
}

impl ServeCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            listen,
            cluster,
            node,
            pod,
            address,
            shutdown_delay_seconds,
        } = self;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("failed to listen on {listen} (--listen): {e}"))?;
        let body =
            format!("hello from cluster {cluster} (Node: {node} Pod: {pod} Address: {address})\n");
        let delay = std::time::Duration::from_secs(shutdown_delay_seconds);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut stop_at: Option<tokio::time::Instant> = None;
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = term.recv(), if stop_at.is_none() => {
                    tracing::info!(delay_seconds = shutdown_delay_seconds, "SIGTERM: serving until the delay ends");
                    stop_at = Some(tokio::time::Instant::now() + delay);
                    continue;
                }
                () = async {
                    match stop_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => return Ok(()),
            };
            let (mut stream, _) = accepted?;
            let body = body.clone();
            tokio::spawn(async move {
                // Read the whole request head (it may arrive in several segments): closing with
                // unread bytes would reset the connection instead of ending it cleanly.
                let mut head = Vec::with_capacity(256);
                let mut buf = [0u8; 512];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    }
}
