//! `causeway controller` survives a restart of its apiserver: its watches reconnect and a change
//! made after the restart is reconciled. Alone in this test binary, because it restarts an
//! apiserver other tests use.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use causeway_api::{ServiceImport, ServiceImportSpec, ServiceImportType, ServicePort};
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::{eventually, lab, rbac, unique_name, with_temp_ns};
use kube::api::{Api, PostParams};

#[tokio::test]
async fn controller_survives_an_apiserver_restart() {
    let lab = lab(2).await;
    rbac::install_for_user(
        &lab.client(2),
        include_str!("../../../deploy/controller/rbac.yaml"),
        "causeway-controller",
    )
    .await;
    with_temp_ns(&lab, |lab, ns| async move {
        let lease = unique_name("restart");
        let args = controller_args(&lab, 2, &ns, &lease, "127.0.0.1:0", &[]);
        let mut ctl = Daemon::start(
            env!("CARGO_BIN_EXE_causeway").as_ref(),
            &lease,
            &args,
            &[("POD_NAME", "ctl")],
            lab.paths.root(),
        );
        let mk = |name: &str| {
            ServiceImport::new(
                name,
                ServiceImportSpec {
                    ports: vec![ServicePort {
                        port: 80,
                        ..ServicePort::default()
                    }],
                    type_: ServiceImportType::ClusterSetIP,
                    ..ServiceImportSpec::default()
                },
            )
        };
        let imports: Api<ServiceImport> = Api::namespaced(lab.client(2), &ns);
        imports
            .create(&PostParams::default(), &mk("before"))
            .await
            .unwrap();
        let vip = eventually(20, "VIP before the restart", || async {
            imports
                .get("before")
                .await
                .ok()?
                .spec
                .ips
                .filter(|i| !i.is_empty())
        })
        .await;

        causeway_lab::up::restart_apiserver(&lab.paths, 2)
            .await
            .unwrap();

        let client = causeway_lab::admin_client(&lab.paths, 2).await.unwrap();
        let imports: Api<ServiceImport> = Api::namespaced(client, &ns);
        imports
            .create(&PostParams::default(), &mk("after"))
            .await
            .unwrap();
        // A request caught by the restart may hang until the read timeout (65 s, see
        // causeway_runtime::timeouts) before the watch lists again; both fit in this wait.
        eventually(
            120,
            "an import made after the restart is served",
            || async {
                imports
                    .get("after")
                    .await
                    .ok()?
                    .spec
                    .ips
                    .filter(|i| !i.is_empty())
            },
        )
        .await;
        assert_eq!(imports.get("before").await.unwrap().spec.ips, Some(vip));
        assert!(
            ctl.child.try_wait().unwrap().is_none(),
            "controller still runs:\n{}",
            ctl.log_text()
        );
    })
    .await;
}
