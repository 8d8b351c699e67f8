//! `causeway version` and `causeway completion`, run as an operator would: the built binary,
//! its output parsed, and the bash completion sourced into a real bash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn causeway(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_causeway"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "causeway {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn version_reports_the_commit_and_the_api_versions_in_every_format() {
    let json: serde_json::Value =
        serde_json::from_str(&causeway(&["version", "-o", "json"])).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["commit"], env!("CAUSEWAY_COMMIT"));
    assert_eq!(json["commitDate"], env!("CAUSEWAY_COMMIT_DATE"));
    assert_eq!(json["minKubernetes"], "1.33");
    let apis: Vec<(&str, bool)> = json["apis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["apiVersion"].as_str().unwrap(),
                a["storage"].as_bool().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("multicluster.x-k8s.io/v1beta1", true),
        ("multicluster.x-k8s.io/v1alpha1", false),
        ("about.k8s.io/v1beta1", true),
        ("about.k8s.io/v1alpha1", false),
        ("causeway.multicluster.x-k8s.io/v1alpha1", true),
    ] {
        assert!(
            apis.contains(&expected),
            "{expected:?} missing from {apis:?}"
        );
    }

    let yaml: serde_json::Value =
        serde_saphyr::from_str(&causeway(&["version", "-o", "yaml"])).unwrap();
    assert_eq!(yaml, json);

    let text = causeway(&["version"]);
    assert!(
        text.starts_with(&format!("causeway {}\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("commit:      {}\n", env!("CAUSEWAY_COMMIT"))),
        "{text}"
    );
    assert!(
        text.contains("  multicluster.x-k8s.io/v1beta1 (storage): ServiceExport, ServiceImport\n"),
        "{text}"
    );
}

#[test]
fn bash_completion_sources_cleanly_and_completes_verbs() {
    let script = causeway(&["completion", "bash"]);
    let dir = std::env::temp_dir().join(format!("causeway-completion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("causeway.bash");
    std::fs::write(&path, script).unwrap();
    // Source it as `source <(causeway completion bash)` would, then ask for `causeway ver<TAB>`.
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(
            r#"set -e; source "$1"; complete -p causeway
COMP_WORDS=(causeway ver); COMP_CWORD=1; COMP_LINE="causeway ver"; COMP_POINT=${#COMP_LINE}
_causeway causeway ver causeway; echo "reply: ${COMPREPLY[*]}""#,
        )
        .arg("bash")
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.is_empty(), "sourcing printed errors: {stderr}");
    assert!(stdout.contains("-F _causeway causeway"), "{stdout}");
    assert!(stdout.contains("reply: version"), "{stdout}");

    for shell in ["zsh", "fish"] {
        let script = causeway(&["completion", shell]);
        assert!(script.contains("causeway"), "{shell}: {script}");
    }
}
