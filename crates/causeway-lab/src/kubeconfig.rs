//! Kubeconfig files for lab users (token auth; the apiserver's self-signed serving certificate
//! is not verified, which is acceptable for a loopback/bridge-only development lab) and clients
//! built from them.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::{Error, Result};

/// Kubeconfig YAML for `user` with `token` against `server`, context named `context`.
pub fn render(context: &str, server: &str, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {user}\ncurrent-context: {context}\n"
    )
}

/// Writes a kubeconfig readable only by its owner (it holds a token).
pub fn write(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io("failed to write", path))?;
    f.write_all(contents.as_bytes())
        .map_err(Error::io("failed to write", path))
}

/// A client from a kubeconfig file.
pub async fn client_from_file(path: &Path) -> Result<kube::Client> {
    let kc = Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig {
        path: path.to_owned(),
        source: Box::new(e),
    })?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Kubeconfig {
            path: path.to_owned(),
            source: Box::new(e),
        })?;
    kube::Client::try_from(config).map_err(|e| Error::Kubeconfig {
        path: path.to_owned(),
        source: Box::new(e),
    })
}
