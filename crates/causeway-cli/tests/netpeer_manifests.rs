//! netpeer's deploy manifests against the binary they run: the agent DaemonSet
//! (deploy/netpeer/daemonset.yaml) and the uninstall DaemonSet (deploy/netpeer/cleanup.yaml) use
//! the host network, only `NET_ADMIN`, no service-account token, the full `causeway:dev` image
//! (the lean controller image has no netpeer), and flags `causeway netpeer run` / `cleanup`
//! accept (the binary parses them, `--help` last); cleanup scopes to the agent's peer CIDR and
//! device. Pure: no cluster, no kernel.

// The lean build (`--no-default-features`) has no `netpeer` command to check against.
#![cfg(feature = "netpeer")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::process::Command;

use serde_json::Value;

const DAEMONSET: &str = include_str!("../../../deploy/netpeer/daemonset.yaml");
const CLEANUP: &str = include_str!("../../../deploy/netpeer/cleanup.yaml");

fn daemonset(text: &str, name: &str) -> Value {
    let doc: Value = serde_saphyr::from_str(text).unwrap();
    assert_eq!(doc["kind"], "DaemonSet", "{name}");
    assert_eq!(doc["metadata"]["name"], name);
    doc
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Runs `causeway <args> --help`: exit 0 only when every argument before `--help` is one the
/// subcommand knows, with a value it parses.
fn accepted(args: &[String]) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_causeway"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `--name=value` → value.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("--{name}=")))
}

/// The least privilege both DaemonSets share.
fn assert_node_scoped(pod: &Value, container: &Value, what: &str) {
    assert_eq!(
        pod["hostNetwork"], true,
        "{what}: the node's network namespace"
    );
    assert_eq!(
        pod["automountServiceAccountToken"], false,
        "{what}: no API access in the local cluster"
    );
    assert_eq!(
        container["image"], "causeway:dev",
        "{what}: the full causeway image (netpeer is not in causeway-controller)"
    );
    let sc = &container["securityContext"];
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{what}");
    assert_eq!(strings(&sc["capabilities"]["add"]), ["NET_ADMIN"], "{what}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
    assert!(
        pod["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["operator"] == "Exists" && t.get("key").is_none()),
        "{what}: runs on every node, tainted or not"
    );
}

#[test]
fn the_agent_daemonset_is_node_scoped_and_runs_flags_netpeer_run_accepts() {
    let ds = daemonset(DAEMONSET, "causeway-netpeer");
    let pod = &ds["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_node_scoped(pod, container, "agent");
    let args = strings(&container["args"]);
    assert_eq!(args[..2], ["netpeer", "run"], "{args:?}");
    accepted(&args).unwrap_or_else(|e| panic!("causeway rejects {args:?}:\n{e}"));

    // The commented optional flag is valid too, so uncommenting it works.
    let optional: Vec<String> = DAEMONSET
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# - --"))
        .map(|f| format!("--{f}"))
        .collect();
    assert_eq!(optional, ["--direct-routing"]);
    let mut with_optional = args.clone();
    with_optional.extend(optional);
    accepted(&with_optional).unwrap();

    // The probes hit the admin address the flags open; NODE_NAME comes from the downward API.
    let admin = flag(&args, "admin-addr").unwrap();
    let (host, port) = admin.rsplit_once(':').unwrap();
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["host"], host, "{probe}");
        assert_eq!(get["port"].as_u64().unwrap().to_string(), port, "{probe}");
    }
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let env = container["env"].as_array().unwrap();
    assert!(
        env.iter().any(|e| e["name"] == "NODE_NAME"
            && e["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName")
    );

    // The tools the NAT exemption needs are stated where the image is chosen.
    for tool in ["`nft`", "iptables-legacy-save", "iptables-legacy-restore"] {
        assert!(DAEMONSET.contains(tool), "daemonset.yaml names {tool}");
    }
    assert!(
        DAEMONSET.contains("cleanup.yaml"),
        "daemonset.yaml points at the uninstall"
    );
}

#[test]
fn the_cleanup_daemonset_runs_netpeer_cleanup_for_the_agents_scope() {
    let agent = strings(
        &daemonset(DAEMONSET, "causeway-netpeer")["spec"]["template"]["spec"]["containers"][0]["args"],
    );
    let ds = daemonset(CLEANUP, "causeway-netpeer-cleanup");
    let pod = &ds["spec"]["template"]["spec"];
    let init = &pod["initContainers"][0];
    assert_node_scoped(pod, init, "cleanup");
    let args = strings(&init["args"]);
    assert_eq!(args[..2], ["netpeer", "cleanup"], "{args:?}");
    accepted(&args).unwrap_or_else(|e| panic!("causeway rejects {args:?}:\n{e}"));
    for name in ["peer-cluster-cidr", "vxlan-device"] {
        assert_eq!(
            flag(&args, name),
            flag(&agent, name),
            "cleanup --{name} must match the agent's"
        );
    }
    // The idle container after the cleanup has no privileges at all.
    let idle = &pod["containers"][0]["securityContext"];
    assert_eq!(strings(&idle["capabilities"]["drop"]), ["ALL"]);
    assert!(idle["capabilities"].get("add").is_none());
    // The documented order: stop the agent before cleaning up.
    let stop = CLEANUP.find("delete daemonset causeway-netpeer").unwrap();
    let apply = CLEANUP
        .find("apply -f deploy/netpeer/cleanup.yaml")
        .unwrap();
    assert!(stop < apply, "the agent is deleted first");
}

#[test]
fn a_flag_netpeer_does_not_know_is_caught() {
    let args: Vec<String> = ["netpeer", "run", "--no-such-flag=1"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert!(accepted(&args).is_err());
    let bad_value: Vec<String> = ["netpeer", "cleanup", "--peer-cluster-cidr=10.44.0.0"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert!(accepted(&bad_value).is_err());
}
