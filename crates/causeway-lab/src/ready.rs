//! Readiness checks: etcd's `/health`, an apiserver's `/readyz`, the `default` namespace and
//! service account, and causeway's CRDs installed and `Established`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

use crate::process::{Started, alive, tail};
use crate::{Error, Result};

/// How long each component may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Fails with [`Error::ComponentExited`] if the process is gone.
pub fn check_running(started: &Started, exe: &Path) -> Result<()> {
    if alive(started.pid, exe) {
        return Ok(());
    }
    Err(Error::ComponentExited {
        component: started.name.clone(),
        log: started.log.clone(),
        tail: tail(&started.log, 15),
    })
}

/// Waits for etcd's `/health` on `127.0.0.1:port`.
pub async fn wait_etcd(started: &Started, exe: &Path, port: u16) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        check_running(started, exe)?;
        if http_get_local(port, "/health").is_some_and(|body| body.contains("\"health\":\"true\""))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(not_ready(started));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the apiserver answers `/readyz` with `ok`.
pub async fn wait_apiserver(client: &kube::Client, started: &Started, exe: &Path) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        check_running(started, exe)?;
        if readyz(client).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(not_ready(started));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// True when `/readyz` answers `ok`.
pub async fn readyz(client: &kube::Client) -> bool {
    let Ok(req) = http::Request::get("/readyz").body(Vec::new()) else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), client.request_text(req)).await,
        Ok(Ok(body)) if body.trim() == "ok"
    )
}

/// Waits for the `default` namespace and its `default` service account (made by the
/// controller-manager, so this also proves it works).
pub async fn wait_default_sa(
    client: &kube::Client,
    cluster: u8,
    kcm: &Started,
    exe: &Path,
) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let ns: Api<Namespace> = Api::all(client.clone());
    let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    loop {
        check_running(kcm, exe)?;
        let ns_ok = ns
            .get_opt("default")
            .await
            .map_err(Error::kube("get namespace default", cluster))?;
        let sa_ok = sa
            .get_opt("default")
            .await
            .map_err(Error::kube("get serviceaccount default", cluster))?;
        if ns_ok.is_some() && sa_ok.is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(not_ready(kcm));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Applies causeway's CRDs (server-side apply) and waits until each is `Established`.
pub async fn install_crds(client: &kube::Client, cluster: u8) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("causeway-lab").force();
    let crds = causeway_api::all_crds();
    for crd in &crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(crd))
            .await
            .map_err(Error::kube("apply CRD", cluster))?;
    }
    let deadline = Instant::now() + READY_TIMEOUT;
    for crd in &crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        loop {
            let current = api
                .get(&name)
                .await
                .map_err(Error::kube("get CRD", cluster))?;
            let established = current.status.and_then(|s| s.conditions).is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
            if established {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    component: format!("CRD {name} on cluster {cluster}"),
                    seconds: READY_TIMEOUT.as_secs(),
                    log: std::path::PathBuf::from("(apiserver log)"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

fn not_ready(started: &Started) -> Error {
    Error::NotReady {
        component: started.name.clone(),
        seconds: READY_TIMEOUT.as_secs(),
        log: started.log.clone(),
    }
}

/// A plain HTTP GET to 127.0.0.1:`port`; the body, or `None` on any failure.
pub fn http_get_local(port: u16, path: &str) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    stream.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// Waits until the apiserver authorizes by RBAC: `/readyz` can pass before the RBAC authorizer has
/// loaded its roles, and until then every non-admin user gets 403. Probed as `system:kube-proxy`,
/// whose rights come only from the default `system:node-proxier` binding.
pub async fn wait_rbac(paths: &crate::LabPaths, cluster: u8) -> Result<()> {
    let client =
        crate::kubeconfig::client_from_file(&paths.user_kubeconfig(cluster, "kube-proxy")).await?;
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::all(client);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match services
            .list(&kube::api::ListParams::default().limit(1))
            .await
        {
            Ok(_) => return Ok(()),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(Error::kube("wait for RBAC authorization", cluster)(e)),
        }
    }
}
