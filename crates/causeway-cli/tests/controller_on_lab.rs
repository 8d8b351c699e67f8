//! `causeway controller` on the lab's real apiservers and controller-managers, running as the
//! `causeway-controller` user with exactly the RBAC in deploy/controller/rbac.yaml.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::net::Ipv4Addr;
use std::time::Duration;

use causeway_api::names::{ANNOTATION_DERIVED_SERVICE, LABEL_K8S_SERVICE_NAME, LABEL_SERVICE_NAME};
use causeway_api::{ServiceImport, ServiceImportSpec, ServiceImportType, ServicePort};
use causeway_core::naming::mcs_slice_name;
use causeway_test_support::daemon::{Daemon, controller_args};
use causeway_test_support::{Lab, eventually, lab, rbac, unique_name, with_temp_ns};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

const RBAC: &str = include_str!("../../../deploy/controller/rbac.yaml");
const LEASE_NS: &str = "causeway-system";

async fn start_controller(lab: &Lab, cluster: u8, ns: &str, lease: &str, identity: &str) -> Daemon {
    rbac::install_for_user(&lab.client(cluster.into()), RBAC, "causeway-controller").await;
    let args = controller_args(
        lab,
        cluster,
        ns,
        lease,
        "127.0.0.1:0",
        &[
            "--leader-election-lease-duration",
            "4",
            "--leader-election-renew-grace",
            "2",
        ],
    );
    Daemon::start(
        env!("CARGO_BIN_EXE_causeway").as_ref(),
        &format!("{identity}-{lease}"),
        &args,
        &[("POD_NAME", identity), ("CAUSEWAY_LOG", "info,kube=warn")],
        lab.paths.root(),
    )
}

fn import(name: &str, type_: ServiceImportType, ports: &[(Option<&str>, i32)]) -> ServiceImport {
    ServiceImport::new(
        name,
        ServiceImportSpec {
            ports: ports
                .iter()
                .map(|(n, p)| ServicePort {
                    name: n.map(str::to_owned),
                    protocol: Some("TCP".into()),
                    app_protocol: None,
                    port: *p,
                })
                .collect(),
            type_,
            ..ServiceImportSpec::default()
        },
    )
}

/// A Service with one EndpointSlice in a cluster, as kube-controller-manager would publish for
/// running pods (the source of `import-slices`).
async fn source_service(client: &kube::Client, ns: &str, name: &str, ip: &str) {
    let svcs: Api<Service> = Api::namespaced(client.clone(), ns);
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .unwrap();
    svcs.create(&PostParams::default(), &svc).await.unwrap();
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-abcde"), "labels": {LABEL_K8S_SERVICE_NAME: name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}, "nodeName": "n1"}],
        "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]
    }))
    .unwrap();
    slices.create(&PostParams::default(), &slice).await.unwrap();
}

async fn import_slices(lab: &Lab, ns: &str, service: &str, from: u8, to: u8) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_causeway"))
        .args([
            "import-slices",
            "--service",
            &format!("{ns}/{service}"),
            "--from-kubeconfig",
            &lab.paths.admin_kubeconfig(from).display().to_string(),
            "--source-cluster",
            &format!("c{from}"),
            "--kubeconfig",
            &lab.paths.admin_kubeconfig(to).display().to_string(),
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "import-slices failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn derived_of(client: &kube::Client, ns: &str, name: &str) -> Option<Service> {
    let imports: Api<ServiceImport> = Api::namespaced(client.clone(), ns);
    let import = imports.get_opt(name).await.unwrap()?;
    let derived = import
        .metadata
        .annotations?
        .get(ANNOTATION_DERIVED_SERVICE)?
        .clone();
    Api::<Service>::namespaced(client.clone(), ns)
        .get_opt(&derived)
        .await
        .unwrap()
}

fn ready_true(import: &ServiceImport) -> bool {
    import
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Ready" && c.status == "True" && c.reason == "Ready")
        })
}

fn in_cidr(ip: &str, net: [u8; 2]) -> bool {
    ip.parse::<Ipv4Addr>().is_ok_and(|a| a.octets()[..2] == net)
}

#[tokio::test]
async fn seed_flow_gets_a_stable_vip_that_follows_the_import_and_cleans_up() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let _ctl = start_controller(&lab, 1, &ns, &unique_name("seed"), "ctl").await;
        let c1 = lab.client(1);
        // The seed: `serve` in both clusters, a hand-made ServiceImport in cluster 1, and each
        // cluster's slices copied into cluster 1.
        source_service(&c1, &ns, "serve", "10.42.0.21").await;
        source_service(&lab.client(2), &ns, "serve", "10.44.0.38").await;
        let imports: Api<ServiceImport> = Api::namespaced(c1.clone(), &ns);
        imports
            .create(
                &PostParams::default(),
                &import("serve", ServiceImportType::ClusterSetIP, &[(None, 80)]),
            )
            .await
            .unwrap();
        import_slices(&lab, &ns, "serve", 1, 1).await;
        import_slices(&lab, &ns, "serve", 2, 1).await;
        // And a slice made by hand the seed's way (edit-meta.py): only the MCS label.
        let slices: Api<EndpointSlice> = Api::namespaced(c1.clone(), &ns);
        let hand: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "imported-by-hand", "labels": {LABEL_SERVICE_NAME: "serve"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.44.0.39"]}],
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]
        }))
        .unwrap();
        slices.create(&PostParams::default(), &hand).await.unwrap();

        let (svc, vip) = eventually(20, "derived service with a cluster IP", || async {
            let svc = derived_of(&c1, &ns, "serve").await?;
            let ip = svc.spec.as_ref()?.cluster_ip.clone()?;
            Some((svc, ip))
        })
        .await;
        assert_eq!(svc.metadata.name.as_deref().unwrap().len(), 18);
        assert!(
            in_cidr(&vip, [10, 43]),
            "VIP {vip} comes from cluster 1's service CIDR"
        );
        let spec = svc.spec.clone().unwrap();
        assert!(spec.selector.is_none());
        assert_eq!(spec.ports.unwrap()[0].port, 80);
        let imp = eventually(20, "import spec.ips and Ready", || async {
            let imp = imports.get("serve").await.ok()?;
            (imp.spec.ips.as_deref() == Some(&[vip.clone()][..]) && ready_true(&imp)).then_some(imp)
        })
        .await;
        assert_eq!(
            imp.spec.ip_families.as_deref(),
            Some(&["IPv4".to_string()][..])
        );
        let derived = svc.metadata.name.clone().unwrap();
        eventually(
            20,
            "every MCS slice routed to the derived service",
            || async {
                let list = slices.list(&Default::default()).await.ok()?;
                let mcs: Vec<_> = list
                    .items
                    .iter()
                    .filter(|s| {
                        s.metadata
                            .labels
                            .as_ref()
                            .is_some_and(|l| l.contains_key(LABEL_SERVICE_NAME))
                    })
                    .collect();
                // kube-controller-manager also publishes an (empty) slice for each source Service, so
                // each cluster contributes its slice plus that one.
                let names: Vec<&str> = mcs
                    .iter()
                    .filter_map(|s| s.metadata.name.as_deref())
                    .collect();
                let expected = [
                    mcs_slice_name("serve", "c1", "serve-abcde", 0),
                    mcs_slice_name("serve", "c2", "serve-abcde", 0),
                    "imported-by-hand".to_owned(),
                ];
                (expected.iter().all(|e| names.contains(&e.as_str()))
                    && mcs.iter().all(|s| {
                        s.metadata
                            .labels
                            .as_ref()
                            .unwrap()
                            .get(LABEL_K8S_SERVICE_NAME)
                            == Some(&derived)
                    }))
                .then_some(())
            },
        )
        .await;

        // A port change on the import reaches the derived Service.
        imports
            .patch(
                "serve",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"ports": [{"port": 8081, "protocol": "TCP"}]}})),
            )
            .await
            .unwrap();
        eventually(20, "derived service follows the port change", || async {
            let svc = derived_of(&c1, &ns, "serve").await?;
            (svc.spec?.ports?[0].port == 8081).then_some(())
        })
        .await;

        // Someone deletes the derived Service: it comes back with the same VIP.
        Api::<Service>::namespaced(c1.clone(), &ns)
            .delete(&derived, &DeleteParams::default())
            .await
            .unwrap();
        eventually(
            20,
            "derived service recreated with the same VIP",
            || async {
                let svc = derived_of(&c1, &ns, "serve").await?;
                (svc.metadata.deletion_timestamp.is_none()
                    && svc.spec?.cluster_ip.as_deref() == Some(vip.as_str()))
                .then_some(())
            },
        )
        .await;
        assert_eq!(
            imports.get("serve").await.unwrap().spec.ips.as_deref(),
            Some(&[vip.clone()][..])
        );

        // Import deleted: derived Service and causeway's slices go; the hand-made slice stays
        // without the label causeway added.
        imports
            .delete("serve", &DeleteParams::default())
            .await
            .unwrap();
        eventually(40, "clean-up after the import is deleted", || async {
            let gone = Api::<Service>::namespaced(c1.clone(), &ns)
                .get_opt(&derived)
                .await
                .ok()?
                .is_none();
            let list = slices.list(&Default::default()).await.ok()?;
            let mcs: Vec<_> = list
                .items
                .iter()
                .filter(|s| {
                    s.metadata
                        .labels
                        .as_ref()
                        .is_some_and(|l| l.contains_key(LABEL_SERVICE_NAME))
                })
                .collect();
            let only_hand =
                mcs.len() == 1 && mcs[0].metadata.name.as_deref() == Some("imported-by-hand");
            let unlabelled = mcs.first().is_some_and(|s| {
                !s.metadata
                    .labels
                    .as_ref()
                    .unwrap()
                    .contains_key(LABEL_K8S_SERVICE_NAME)
            });
            (gone && only_hand && unlabelled).then_some(())
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn headless_imports_get_no_vip_and_invalid_ones_a_condition() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let _ctl = start_controller(&lab, 2, &ns, &unique_name("headless"), "ctl").await;
        let c2 = lab.client(2);
        let imports: Api<ServiceImport> = Api::namespaced(c2.clone(), &ns);
        imports
            .create(
                &PostParams::default(),
                &import(
                    "db",
                    ServiceImportType::ClusterSetIP,
                    &[(Some("sql"), 5432)],
                ),
            )
            .await
            .unwrap();
        let vip = eventually(20, "ClusterSetIP import gets a VIP", || async {
            let imp = imports.get("db").await.ok()?;
            imp.spec
                .ips
                .clone()
                .filter(|ips| ips.len() == 1 && ready_true(&imp))
        })
        .await;
        assert!(
            in_cidr(&vip[0], [10, 45]),
            "cluster 2's service CIDR: {vip:?}"
        );
        // Turning it headless removes the derived Service and the VIP.
        imports
            .patch(
                "db",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"type": "Headless"}})),
            )
            .await
            .unwrap();
        eventually(
            20,
            "headless: no VIP, no derived service, Ready",
            || async {
                let imp = imports.get("db").await.ok()?;
                let no_ips = imp.spec.ips.as_ref().is_none_or(Vec::is_empty);
                let svc_gone = Api::<Service>::namespaced(c2.clone(), &ns)
                    .list(&Default::default())
                    .await
                    .ok()?
                    .items
                    .is_empty();
                (no_ips && svc_gone && ready_true(&imp)).then_some(())
            },
        )
        .await;

        // Duplicate port names cannot make a Service: Ready=False naming the problem; other
        // imports keep working.
        imports
            .create(
                &PostParams::default(),
                &import(
                    "bad",
                    ServiceImportType::ClusterSetIP,
                    &[(Some("a"), 80), (Some("a"), 81)],
                ),
            )
            .await
            .unwrap();
        imports
            .create(
                &PostParams::default(),
                &import("good", ServiceImportType::ClusterSetIP, &[(None, 80)]),
            )
            .await
            .unwrap();
        let cond = eventually(20, "Ready=False on the bad import", || async {
            let imp = imports.get("bad").await.ok()?;
            imp.status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "Ready" && c.status == "False")
        })
        .await;
        assert!(
            cond.message.contains("\"a\" is used twice"),
            "{}",
            cond.message
        );
        eventually(20, "the good import is served", || async {
            imports.get("good").await.ok().filter(ready_true)
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_standby_takes_over_when_the_leader_is_killed() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let lease = unique_name("ha");
        let mut a = start_controller(&lab, 1, &ns, &lease, "ctl-a").await;
        let leases: Api<Lease> = Api::namespaced(lab.client(1), LEASE_NS);
        let first = eventually(20, "a leader", || async {
            leases.get_opt(&lease).await.ok()??.spec?.holder_identity
        })
        .await;
        assert_eq!(first, "ctl-a");
        let mut b = start_controller(&lab, 1, &ns, &lease, "ctl-b").await;
        let c1 = lab.client(1);
        let imports: Api<ServiceImport> = Api::namespaced(c1.clone(), &ns);
        imports
            .create(
                &PostParams::default(),
                &import("one", ServiceImportType::ClusterSetIP, &[(None, 80)]),
            )
            .await
            .unwrap();
        let vip = eventually(20, "VIP from the first leader", || async {
            imports
                .get("one")
                .await
                .ok()?
                .spec
                .ips
                .filter(|i| !i.is_empty())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        a.kill().await;
        let killed_at = tokio::time::Instant::now();
        imports
            .create(
                &PostParams::default(),
                &import("two", ServiceImportType::ClusterSetIP, &[(None, 80)]),
            )
            .await
            .unwrap();
        eventually(
            30,
            "the standby serves an import made after the kill",
            || async { imports.get("two").await.ok().filter(ready_true) },
        )
        .await;
        let holder = leases
            .get(&lease)
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity;
        assert_eq!(holder.as_deref(), Some("ctl-b"));
        assert!(
            b.log_text().contains("leadership acquired"),
            "{}",
            b.log_text()
        );
        eprintln!(
            "failover: import served {:.1} s after SIGKILL of the leader (lease 4 s)",
            killed_at.elapsed().as_secs_f64()
        );
        assert_eq!(
            imports.get("one").await.unwrap().spec.ips,
            Some(vip),
            "the VIP did not change"
        );
        // Graceful stop releases the Lease.
        let status = b.terminate().await.expect("controller exits on SIGTERM");
        assert!(status.success(), "{status:?}\n{}", b.log_text());
        let after = leases.get(&lease).await.unwrap().spec.unwrap();
        assert!(
            after.holder_identity.as_ref().is_none_or(String::is_empty),
            "lease released: {after:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_handled_and_reported() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let _ctl = start_controller(&lab, 1, &ns, &unique_name("bad"), "ctl").await;
        let c1 = lab.client(1);
        let imports: Api<ServiceImport> = Api::namespaced(c1.clone(), &ns);
        let slices: Api<EndpointSlice> = Api::namespaced(c1.clone(), &ns);
        // An import name at the 63-character limit still gets an 18-character derived Service.
        let long = "a".repeat(63);
        imports.create(&PostParams::default(), &import(&long, ServiceImportType::ClusterSetIP, &[(None, 80)])).await.unwrap();
        let svc = eventually(20, "derived service of a 63-character import", || async { derived_of(&c1, &ns, &long).await }).await;
        assert_eq!(svc.metadata.name.unwrap().len(), 18);

        // A slice whose label names no import is left untouched.
        let orphan: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "names-nothing", "labels": {LABEL_SERVICE_NAME: "nobody"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.44.0.7"]}], "ports": [{"name": "", "port": 80, "protocol": "TCP"}]
        }))
        .unwrap();
        slices.create(&PostParams::default(), &orphan).await.unwrap();
        // A hand-set kubernetes.io/service-name that disagrees is left alone and reported.
        let mismatch: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "hand-set", "labels": {LABEL_SERVICE_NAME: long, LABEL_K8S_SERVICE_NAME: "someone-elses"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.44.0.8"]}], "ports": [{"name": "", "port": 80, "protocol": "TCP"}]
        }))
        .unwrap();
        slices.create(&PostParams::default(), &mismatch).await.unwrap();
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(c1.clone(), &ns);
        let ev = eventually(20, "a SliceServiceNameConflict event", || async {
            events.list(&Default::default()).await.ok()?.items.into_iter().find(|e| e.reason.as_deref() == Some("SliceServiceNameConflict"))
        })
        .await;
        assert!(ev.note.unwrap_or_default().contains("hand-set"), "the event names the slice");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            slices.get("hand-set").await.unwrap().metadata.labels.unwrap()[LABEL_K8S_SERVICE_NAME],
            "someone-elses"
        );
        assert!(!slices.get("names-nothing").await.unwrap().metadata.labels.unwrap().contains_key(LABEL_K8S_SERVICE_NAME));

        // Someone edits the derived Service: a new port and a selector are undone, the VIP stays.
        let svc = derived_of(&c1, &ns, &long).await.unwrap();
        let name = svc.metadata.name.clone().unwrap();
        let vip = svc.spec.clone().unwrap().cluster_ip.unwrap();
        Api::<Service>::namespaced(c1.clone(), &ns)
            .patch(&name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"selector": {"app": "x"}, "ports": [{"port": 9999, "protocol": "TCP"}]}})))
            .await
            .unwrap();
        eventually(20, "the derived service restored", || async {
            let s = Api::<Service>::namespaced(c1.clone(), &ns).get(&name).await.ok()?;
            let spec = s.spec?;
            (spec.selector.is_none_or(|s| s.is_empty())
                && spec.ports.as_ref()?.iter().map(|p| p.port).collect::<Vec<_>>() == [80]
                && spec.cluster_ip.as_deref() == Some(vip.as_str()))
            .then_some(())
        })
        .await;
    })
    .await;
}
