//! The Helm chart (charts/causeway) with the helm that tools/helm/build.sh builds from the Go
//! module proxy (cached): `helm lint --strict` is clean with the default values and with
//! `ci/full-values.yaml`; both render, for Kubernetes 1.21 (the old cluster) too; a misspelt or ill-typed value is refused with a message
//! naming it; the defaults are the least-privilege install the issue asks for (no netpeer, no
//! peer-side RBAC); NOTES.txt carries the CoreDNS stub zone of deploy/dns/coredns.md for RKE1
//! and RKE2; deploy/ is exactly what tools/helm/render-deploy.sh renders from the chart (no
//! drift); and every rendered object (CRDs included) passes `kubectl apply --dry-run=server` on
//! both lab clusters.

// The YAML parser comes with the user verbs.
#![cfg(feature = "tools")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use causeway_test_support::{lab, unique_name, with_temp_ns};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart() -> PathBuf {
    root().join("charts/causeway")
}

fn full_values() -> PathBuf {
    chart().join("ci/full-values.yaml")
}

/// The cached helm (built on first use, about 2 minutes on 2 cores).
fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("tools/helm/build.sh"))
            .output()
            .expect("run tools/helm/build.sh");
        assert!(
            out.status.success(),
            "tools/helm/build.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

fn run_helm(args: &[&str]) -> Output {
    Command::new(helm()).args(args).output().expect("run helm")
}

/// `helm template` of the chart into `namespace` with `args`; panics with helm's error.
fn template(chart: &Path, namespace: &str, args: &[&str]) -> String {
    let chart = chart.to_str().unwrap();
    let mut all = vec!["template", "causeway", chart, "--namespace", namespace];
    all.extend_from_slice(args);
    let out = run_helm(&all);
    assert!(
        out.status.success(),
        "helm {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The documents of a rendered stream (split at `---` lines), as text, without the
/// comment-only ones.
fn doc_texts(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            out.push(String::new());
        } else if let Some(doc) = out.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    out.retain(|doc| {
        doc.lines()
            .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
    });
    out
}

fn docs(text: &str) -> Vec<Value> {
    doc_texts(text)
        .into_iter()
        .map(|doc| serde_saphyr::from_str::<Value>(&doc).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn helm_lint_is_clean_with_default_and_full_values() {
    let chart = chart();
    let full = full_values();
    for args in [
        vec!["lint", "--strict", chart.to_str().unwrap()],
        vec![
            "lint",
            "--strict",
            chart.to_str().unwrap(),
            "-f",
            full.to_str().unwrap(),
        ],
    ] {
        let out = run_helm(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("0 chart(s) failed"),
            "helm {args:?}:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in stdout.lines() {
            assert!(
                !line.starts_with("[WARNING]") && !line.starts_with("[ERROR]"),
                "helm {args:?}: {line}"
            );
        }
    }
}

#[test]
fn kubernetes_1_21_is_covered_and_1_20_refused() {
    let full = full_values();
    for version in ["1.21.0", "v1.21.14-rancher1", "v1.36.3+rke2r1"] {
        template(
            &chart(),
            "causeway-system",
            &["--kube-version", version, "-f", full.to_str().unwrap()],
        );
    }
    let out = run_helm(&[
        "template",
        "causeway",
        chart().to_str().unwrap(),
        "--kube-version",
        "1.20.15",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("kubeVersion"));
}

#[test]
fn a_misspelt_or_ill_typed_value_is_refused_naming_it() {
    let chart = chart();
    let chart = chart.to_str().unwrap();
    for (set, named) in [
        ("controler.replicas=3", "controler"),
        ("controller.replica=3", "replica"),
        ("netpeer.enable=true", "enable"),
        ("image.pullpolicy=Never", "pullpolicy"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("netpeer.vni=-1", "/netpeer/vni"),
        ("netpeer.clusterCIDR=10.42.0.0", "/netpeer/clusterCIDR"),
        ("dns.ttl=5s", "/dns/ttl"),
    ] {
        let out = run_helm(&["template", "causeway", chart, "--set", set]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--set {set} was accepted");
        assert!(
            stderr.contains(named),
            "--set {set}: the error does not name {named}:\n{stderr}"
        );
    }
}

#[test]
fn the_defaults_install_controller_and_dns_least_privilege_and_no_peer_side() {
    let rendered = template(&chart(), "causeway-system", &["--include-crds"]);
    let objects = docs(&rendered);
    let crds = objects
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .count();
    assert_eq!(
        crds,
        docs(include_str!(
            "../../../charts/causeway/crds/causeway-crds.yaml"
        ))
        .len(),
        "every CRD of crds/"
    );
    // Not in the default install: netpeer, the peer-side read-only RBAC, the namespace itself,
    // the ServiceMonitor.
    for (kind, name) in [
        ("DaemonSet", "causeway-netpeer"),
        ("DaemonSet", "causeway-netpeer-cleanup"),
        ("ClusterRole", "causeway-peer-reader"),
        ("ClusterRole", "causeway-netpeer-peer-reader"),
        ("Namespace", "causeway-system"),
        ("ServiceMonitor", "causeway"),
    ] {
        assert!(
            find(&objects, kind, name).is_none(),
            "{kind} {name} by default"
        );
    }
    for (name, image, sa) in [
        (
            "causeway-controller",
            "localhost/causeway-controller:0.1.0",
            "causeway-controller",
        ),
        ("causeway-dns", "localhost/causeway:0.1.0", "causeway-dns"),
    ] {
        let deployment = find(&objects, "Deployment", name).expect(name);
        assert_eq!(deployment["spec"]["replicas"], 2, "{name}");
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], sa);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        let term = &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["podAffinityTerm"];
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname", "{name}");
        assert_eq!(
            term["labelSelector"]["matchLabels"], deployment["spec"]["selector"]["matchLabels"],
            "{name}: anti-affinity among its own replicas"
        );
        let container = &pod["containers"][0];
        assert_eq!(container["image"], image, "{name}");
        assert_eq!(container["imagePullPolicy"], "IfNotPresent", "{name}");
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
        let sc = &container["securityContext"];
        assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{name}");
        assert!(sc["capabilities"].get("add").is_none(), "{name}");
        let args = strings(&container["args"]);
        assert!(
            args.contains(&"--leader-election-namespace=causeway-system"),
            "{name}: {args:?}"
        );
        let pdb = find(&objects, "PodDisruptionBudget", name).expect("a PodDisruptionBudget");
        assert_eq!(
            pdb["spec"]["selector"]["matchLabels"],
            deployment["spec"]["selector"]["matchLabels"]
        );
        let metrics = find(&objects, "Service", &format!("{name}-metrics")).expect("metrics");
        assert_eq!(metrics["spec"]["ports"][0]["targetPort"], "admin");
    }
    let dns = find(&objects, "Service", "causeway-dns").expect("the causeway-dns Service");
    let ports: Vec<(u64, &str)> = dns["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["port"].as_u64().unwrap(), p["protocol"].as_str().unwrap()))
        .collect();
    assert_eq!(ports, [(53, "UDP"), (53, "TCP")]);
    // The same RBAC deploy/ ships (rules compared in full), and no wildcard anywhere.
    let shipped = [
        include_str!("../../../deploy/controller/rbac.yaml"),
        include_str!("../../../deploy/dns/rbac.yaml"),
    ]
    .map(docs);
    for role in shipped
        .iter()
        .flatten()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        let name = role["metadata"]["name"].as_str().unwrap();
        let kind = role["kind"].as_str().unwrap();
        let rendered = find(&objects, kind, name).unwrap_or_else(|| panic!("{kind} {name}"));
        assert_eq!(rendered["rules"], role["rules"], "{kind} {name}");
    }
    for doc in objects
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        assert!(
            !doc["rules"].to_string().contains('*'),
            "a wildcard in {}",
            doc["metadata"]["name"]
        );
    }
}

#[test]
fn full_values_reach_every_object() {
    let full = full_values();
    let rendered = template(
        &chart(),
        "causeway-system",
        &["-f", full.to_str().unwrap(), "--include-crds"],
    );
    let docs = docs(&rendered);
    for (kind, name) in [
        ("DaemonSet", "causeway-netpeer"),
        ("ClusterRole", "causeway-peer-reader"),
        ("ClusterRole", "causeway-netpeer-peer-reader"),
        ("ServiceAccount", "causeway-netpeer-peer"),
        ("ServiceMonitor", "causeway"),
    ] {
        assert!(find(&docs, kind, name).is_some(), "{kind} {name}");
    }
    for doc in docs
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "DaemonSet")
    {
        let pod = &doc["spec"]["template"]["spec"];
        assert_eq!(
            pod["imagePullSecrets"][0]["name"], "registry-example-com",
            "{}",
            doc["metadata"]["name"]
        );
        let container = &pod["containers"][0];
        assert!(
            container["image"]
                .as_str()
                .unwrap()
                .starts_with("registry.example.com/causeway/")
                && container["image"]
                    .as_str()
                    .unwrap()
                    .ends_with(":0.1.0-7d23d27"),
            "{}",
            container["image"]
        );
        assert_eq!(container["imagePullPolicy"], "Never");
    }
    let netpeer = find(&docs, "DaemonSet", "causeway-netpeer").unwrap();
    let pod = &netpeer["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let container = &pod["containers"][0];
    let sc = &container["securityContext"];
    assert_eq!(sc["runAsUser"], 0);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(
        strings(&sc["capabilities"]["add"]),
        ["NET_ADMIN", "NET_RAW"],
        "netpeer.netRaw adds NET_RAW"
    );
    let args = strings(&container["args"]);
    for expected in [
        "--vni=1",
        "--peer-vxlan-port=8472",
        "--cluster-cidr=10.42.0.0/16",
        "--local-service-cidr=10.43.0.0/16",
        "--direct-routing",
        "--resync-seconds=120",
    ] {
        assert!(args.contains(&expected), "{expected} in {args:?}");
    }
    let controller = find(&docs, "Deployment", "causeway-controller").unwrap();
    let pod = &controller["spec"]["template"]["spec"];
    assert_eq!(controller["spec"]["replicas"], 3);
    assert!(
        pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            .is_array()
    );
    assert_eq!(pod["nodeSelector"]["causeway.dev/lab-node"], "true");
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    // The cleanup pass refuses to run next to the agent.
    let out = run_helm(&[
        "template",
        "causeway",
        chart().to_str().unwrap(),
        "-f",
        full.to_str().unwrap(),
        "--set",
        "netpeer.cleanup.enabled=true",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("netpeer.enabled=false"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// NOTES.txt as `helm install` prints it: `helm template` does not render NOTES, so a copy of
/// the chart has it as an ordinary template, rendered with `--debug` (it is not YAML).
fn notes(args: &[&str]) -> String {
    let dir = std::env::temp_dir().join(unique_name("causeway-chart-notes"));
    copy_dir(&chart(), &dir);
    std::fs::rename(
        dir.join("templates/NOTES.txt"),
        dir.join("templates/notes.yaml"),
    )
    .unwrap();
    let dir_str = dir.to_str().unwrap();
    let mut all = vec![
        "template",
        "causeway",
        dir_str,
        "--namespace",
        "causeway-system",
        "--show-only",
        "templates/notes.yaml",
        // Renders the template although it is no YAML (helm then exits 1 on it).
        "--debug",
    ];
    all.extend_from_slice(args);
    let out = run_helm(&all);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("# Source: causeway/templates/notes.yaml"),
        "helm {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
    text
}

/// The lines of the first fenced block of `text` that starts with `first` (trimmed), up to the
/// line `}` (trimmed), each trimmed.
fn block(text: &str, first: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .skip_while(|l| *l != first)
        .take_while(|l| *l != "}")
        .map(str::to_owned)
        .collect()
}

#[test]
fn notes_print_the_coredns_stub_zone_of_the_guide_for_rke1_and_rke2() {
    let guide = include_str!("../../../deploy/dns/coredns.md");
    let expected = block(guide, "clusterset.local:53 {");
    assert_eq!(expected.len(), 4, "the guide's block: {expected:?}");

    let text = notes(&[]);
    assert_eq!(block(&text, "clusterset.local:53 {"), expected);
    assert!(text.contains("kubectl -n causeway-system get service causeway-dns"));
    for rke in [
        "ConfigMap kube-system/coredns",
        "kind: HelmChartConfig",
        "name: rke2-coredns",
        "parameters: . <causeway-dns ClusterIP>",
    ] {
        assert!(text.contains(rke), "NOTES names {rke}:\n{text}");
    }
    assert!(!text.contains("netpeer runs"), "no netpeer by default");

    let pinned = notes(&["--set", "dns.service.clusterIP=10.43.0.53"]);
    let with_ip: Vec<String> = expected
        .iter()
        .map(|l| l.replace("<causeway-dns ClusterIP>", "10.43.0.53"))
        .collect();
    assert_eq!(block(&pinned, "clusterset.local:53 {"), with_ip);
    assert!(pinned.contains("parameters: . 10.43.0.53"));
    assert!(pinned.contains("ClusterIP is 10.43.0.53"));
}

#[test]
fn deploy_is_what_the_chart_renders() {
    let out_dir = std::env::temp_dir().join(unique_name("causeway-deploy"));
    let out = Command::new("bash")
        .arg(root().join("tools/helm/render-deploy.sh"))
        .arg(&out_dir)
        .env("HELM", helm())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "render-deploy.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml_files = |dir: &Path| -> Vec<PathBuf> {
        let mut files = Vec::new();
        for sub in std::fs::read_dir(dir).unwrap() {
            let sub = sub.unwrap().path();
            if !sub.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&sub).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "yaml") {
                    files.push(file.strip_prefix(dir).unwrap().to_owned());
                }
            }
        }
        files.sort();
        files
    };
    let deploy = root().join("deploy");
    let rendered = yaml_files(&out_dir);
    assert_eq!(
        yaml_files(&deploy),
        rendered,
        "deploy/ has other files than the chart renders: run tools/helm/render-deploy.sh"
    );
    for file in &rendered {
        let committed = std::fs::read_to_string(deploy.join(file)).unwrap();
        let fresh = std::fs::read_to_string(out_dir.join(file)).unwrap();
        assert!(
            committed == fresh,
            "deploy/{} drifted from the chart: run tools/helm/render-deploy.sh",
            file.display()
        );
    }
    std::fs::remove_dir_all(&out_dir).unwrap();
}

#[tokio::test]
async fn rendered_objects_pass_a_server_side_dry_run_on_both_lab_clusters() {
    let lab = lab(2).await;
    with_temp_ns(&lab, |lab, ns| async move {
        let full = full_values();
        let full = full.to_str().unwrap();
        for (what, args) in [
            ("default values", vec!["--include-crds"]),
            ("full values", vec!["--include-crds", "-f", full]),
            (
                "the netpeer cleanup",
                vec![
                    "--set",
                    "netpeer.cleanup.enabled=true",
                    "--set",
                    "peerReader.enabled=true",
                ],
            ),
        ] {
            let rendered = template(&chart(), &ns, &args);
            // The lab serves no monitoring.coreos.com; the ServiceMonitor is checked for
            // rendering above, not by the apiserver.
            let kept: Vec<String> = doc_texts(&rendered)
                .into_iter()
                .filter(|doc| {
                    serde_saphyr::from_str::<Value>(doc).unwrap()["kind"] != "ServiceMonitor"
                })
                .collect();
            let objects = kept.len();
            let stream = kept.join("---\n");
            for cluster in [1u8, 2] {
                let (ok, stdout, stderr) = lab
                    .kubectl_in(
                        cluster,
                        &["apply", "--dry-run=server", "-f", "-"],
                        Some(&stream),
                    )
                    .await;
                assert!(
                    ok,
                    "{what}: dry-run in cluster {cluster} failed:\n{stderr}\n{stdout}"
                );
                let accepted = stdout
                    .lines()
                    .filter(|l| l.ends_with("(server dry run)"))
                    .count();
                assert_eq!(
                    accepted, objects,
                    "{what}: every object in cluster {cluster}:\n{stdout}"
                );
            }
        }
    })
    .await;
}
