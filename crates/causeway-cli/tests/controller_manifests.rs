//! The controller's deploy manifests against the binary they run: every flag of the Deployment's
//! container is one `causeway controller` accepts, the probes hit the admin port the flags open,
//! the image is the lean controller image, and no Role or ClusterRole anywhere in deploy/ uses a
//! wildcard (least privilege is checked rule by rule in the lab tests; this catches a `*` that a
//! hand edit slips in).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const DEPLOYMENT: &str = include_str!("../../../deploy/controller/deployment.yaml");

fn docs(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .map(|doc| serde_saphyr::from_str::<Value>(doc).unwrap())
        .collect()
}

fn controller_help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_causeway"))
        .args(["controller", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_deployment_runs_flags_the_controller_accepts() {
    let deployment = docs(DEPLOYMENT)
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("deploy/controller/deployment.yaml has a Deployment");
    assert_eq!(
        deployment["spec"]["replicas"], 2,
        "two replicas share a Lease"
    );
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let image = container["image"].as_str().unwrap();
    assert!(
        image.starts_with("causeway-controller:"),
        "the controller runs the lean image, got {image}"
    );
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "controller");
    let help = controller_help();
    let mut admin_port = None;
    for arg in &args[1..] {
        let flag = arg.split('=').next().unwrap();
        assert!(
            flag.starts_with("--")
                && [" ", "=", "\n"]
                    .iter()
                    .any(|end| help.contains(&format!("{flag}{end}"))),
            "deployment.yaml passes {flag}, which `causeway controller --help` does not list"
        );
        if flag == "--admin-addr" {
            admin_port = arg.rsplit(':').next().map(|p| p.parse::<u16>().unwrap());
        }
    }
    let admin_port = admin_port.expect("the Deployment sets --admin-addr");
    let ports = container["ports"].as_array().unwrap();
    let admin = ports
        .iter()
        .find(|p| p["name"] == "admin")
        .expect("a port named admin");
    assert_eq!(admin["containerPort"], u64::from(admin_port));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "admin");
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn no_role_in_deploy_uses_a_wildcard() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let mut files = Vec::new();
    yaml_files(&deploy, &mut files);
    let mut roles = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in docs(&text) {
            if doc["kind"] != "Role" && doc["kind"] != "ClusterRole" {
                continue;
            }
            roles += 1;
            let name = &doc["metadata"]["name"];
            for rule in doc["rules"].as_array().unwrap() {
                for key in ["apiGroups", "resources", "verbs", "resourceNames"] {
                    let Some(values) = rule[key].as_array() else {
                        continue;
                    };
                    assert!(
                        values
                            .iter()
                            .all(|v| v.as_str().is_some_and(|s| !s.contains('*'))),
                        "{}: {name} has a wildcard in {key}: {rule}",
                        file.display()
                    );
                }
                assert!(
                    rule.get("nonResourceURLs").is_none(),
                    "{}: {name} grants nonResourceURLs",
                    file.display()
                );
            }
        }
    }
    assert!(
        roles >= 4,
        "deploy/ holds the roles of every component, found {roles}"
    );
}
