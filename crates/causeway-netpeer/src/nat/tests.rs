use super::*;

fn rules() -> NatRules {
    [
        NatExemption {
            src: "10.42.0.0/16".parse().unwrap(),
            dst: "10.44.0.0/16".parse().unwrap(),
        },
        NatExemption {
            src: "10.44.0.0/16".parse().unwrap(),
            dst: "10.42.0.0/16".parse().unwrap(),
        },
    ]
    .into()
}

#[test]
fn apply_batch_is_one_transaction_rebuilding_only_our_table() {
    let json = serde_json::to_value(apply_batch(&rules())).unwrap();
    let cmds = json["nftables"].as_array().unwrap();
    let verbs: Vec<String> = cmds
        .iter()
        .map(|c| {
            let (verb, body) = c.as_object().unwrap().iter().next().unwrap();
            let (kind, obj) = body.as_object().unwrap().iter().next().unwrap();
            assert_eq!(obj["family"], "ip");
            let name = if kind == "table" {
                &obj["name"]
            } else {
                &obj["table"]
            };
            assert_eq!(name, TABLE);
            format!("{verb} {kind}")
        })
        .collect();
    assert_eq!(
        verbs,
        [
            "add table",
            "delete table",
            "add table",
            "add chain",
            "add rule",
            "add rule"
        ]
    );
    let chain = &cmds[3]["add"]["chain"];
    assert_eq!(chain["type"], "nat");
    assert_eq!(chain["hook"], "postrouting");
    assert_eq!(chain["prio"], 99);
    let rule = &cmds[4]["add"]["rule"]["expr"];
    assert_eq!(rule[0]["match"]["left"]["payload"]["field"], "saddr");
    assert_eq!(rule[0]["match"]["right"]["prefix"]["addr"], "10.42.0.0");
    assert_eq!(rule[0]["match"]["right"]["prefix"]["len"], 16);
    assert_eq!(rule[2]["snat"]["addr"]["payload"]["field"], "saddr");
}

#[test]
fn delete_batch_creates_then_deletes_only_our_table() {
    let json = serde_json::to_value(delete_batch()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"nftables": [
            {"add": {"table": {"family": "ip", "name": TABLE}}},
            {"delete": {"table": {"family": "ip", "name": TABLE}}},
        ]})
    );
}

/// What `nft -j list table ip causeway-netpeer` printed on the lab machine (nft 1.0.6) after
/// loading the same two rules in nft text form.
const LISTED: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "causeway-netpeer", "handle": 1}}, {"chain": {"family": "ip", "table": "causeway-netpeer", "name": "postrouting", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 99, "policy": "accept"}}, {"rule": {"family": "ip", "table": "causeway-netpeer", "chain": "postrouting", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.42.0.0", "len": 16}}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "10.44.0.0", "len": 16}}}}, {"snat": {"addr": {"payload": {"protocol": "ip", "field": "saddr"}}}}]}}, {"rule": {"family": "ip", "table": "causeway-netpeer", "chain": "postrouting", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.44.0.0", "len": 16}}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "10.42.0.0", "len": 16}}}}, {"snat": {"addr": {"payload": {"protocol": "ip", "field": "saddr"}}}}]}}]}"#;

#[test]
fn parse_round_trips_what_nft_lists() {
    let listed: Nftables<'_> = serde_json::from_str(LISTED).unwrap();
    assert_eq!(parse_ruleset(&listed), Some(rules()));
}

#[test]
fn parse_flags_foreign_rules_and_wrong_chains() {
    let foreign = LISTED.replace(
        r#"{"snat": {"addr": {"payload": {"protocol": "ip", "field": "saddr"}}}}]}}]}"#,
        r#"{"accept": null}]}}]}"#,
    );
    let listed: Nftables<'_> = serde_json::from_str(&foreign).unwrap();
    let parsed = parse_ruleset(&listed).unwrap();
    assert!(parsed.contains(&DRIFT_MARKER));
    assert_ne!(parsed, rules());

    let wrong_prio = LISTED.replace(r#""prio": 99"#, r#""prio": 100"#);
    let listed: Nftables<'_> = serde_json::from_str(&wrong_prio).unwrap();
    assert_eq!(parse_ruleset(&listed), None);

    let empty: Nftables<'_> = serde_json::from_str(r#"{"nftables": []}"#).unwrap();
    assert_eq!(parse_ruleset(&empty), None);
}
