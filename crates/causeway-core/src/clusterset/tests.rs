use super::*;

fn port(name: &str, port: i32) -> PortDef {
    PortDef {
        name: name.into(),
        protocol: "TCP".into(),
        port,
        app_protocol: None,
    }
}

fn svc(ports: Vec<PortDef>) -> ServiceView {
    ServiceView {
        type_: "ClusterIP".into(),
        headless: false,
        ports,
        session_affinity: "None".into(),
        affinity_timeout: None,
        internal_traffic_policy: None,
        traffic_distribution: None,
        ip_families: vec!["IPv4".into()],
    }
}

fn export(cluster: &str, created: i64, service: Option<ServiceView>) -> ExportView {
    ExportView {
        cluster: cluster.into(),
        created,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        service,
    }
}

#[test]
fn agreeing_exports_have_no_conflict_and_list_every_cluster() {
    let r = resolve(&[
        export("c2", 20, Some(svc(vec![port("", 80)]))),
        export("c1", 10, Some(svc(vec![port("", 80)]))),
    ]);
    let import = r.import.unwrap();
    assert_eq!(import.clusters, ["c1", "c2"]);
    assert_eq!(import.ports, [port("", 80)]);
    assert_eq!(
        (r.conflicts.status(), r.conflicts.reason().as_str()),
        ("False", "NoConflicts")
    );
    assert_eq!(import.served_ports["c2"].len(), 1);
}

#[test]
fn invalid_exports_do_not_take_part() {
    let mut external = svc(vec![port("", 80)]);
    external.type_ = "ExternalName".into();
    let r = resolve(&[export("c1", 1, None), export("c2", 2, Some(external))]);
    assert!(r.import.is_none());
    assert_eq!(export("c1", 1, None).validity(), Validity::NoService);
    let mut np = svc(vec![port("", 80)]);
    np.type_ = "NodePort".into();
    let r = resolve(&[export("c1", 1, Some(np))]);
    assert!(
        !r.import.unwrap().headless,
        "NodePort is exported as ClusterSetIP"
    );
}

#[test]
fn ports_are_the_union_and_clashes_go_to_the_oldest() {
    // Different names: union, conflict on both.
    let r = resolve(&[
        export("c1", 1, Some(svc(vec![port("http", 80)]))),
        export("c2", 2, Some(svc(vec![port("metrics", 9090)]))),
    ]);
    let import = r.import.unwrap();
    assert_eq!(import.ports, [port("http", 80), port("metrics", 9090)]);
    assert_eq!(r.conflicts.reasons, [conflict::PORT]);
    // Strict rule: each cluster serves only the ports its Service defines.
    assert_eq!(
        import.served_ports["c1"]
            .iter()
            .map(|p| p.port)
            .collect::<Vec<_>>(),
        [80]
    );
    assert_eq!(
        import.served_ports["c2"]
            .iter()
            .map(|p| p.port)
            .collect::<Vec<_>>(),
        [9090]
    );
    // Same name, different number: the oldest wins; the newer cluster serves nothing of it.
    let r = resolve(&[
        export("c2", 5, Some(svc(vec![port("http", 8080)]))),
        export("c1", 1, Some(svc(vec![port("http", 80)]))),
    ]);
    let import = r.import.unwrap();
    assert_eq!(import.ports, [port("http", 80)]);
    assert!(
        !import.served_ports.contains_key("c2"),
        "serves nothing, contributes no endpoints"
    );
    assert!(
        r.conflicts.message.contains("cluster c1"),
        "{}",
        r.conflicts.message
    );
    assert!(
        r.conflicts.message.contains("1/2 clusters differ"),
        "{}",
        r.conflicts.message
    );
    // Different name, same number: dropped.
    let r = resolve(&[
        export("c1", 1, Some(svc(vec![port("a", 80)]))),
        export("c2", 2, Some(svc(vec![port("b", 80)]))),
    ]);
    assert_eq!(r.import.unwrap().ports, [port("a", 80)]);
}

#[test]
fn ties_break_by_cluster_id() {
    let r = resolve(&[
        export("c9", 1, Some(svc(vec![port("http", 81)]))),
        export("c3", 1, Some(svc(vec![port("http", 80)]))),
    ]);
    assert_eq!(r.import.unwrap().ports, [port("http", 80)]);
}

#[test]
fn headless_vs_clusterip_and_other_fields_conflict_in_table_order() {
    let mut headless = svc(vec![port("", 80)]);
    headless.headless = true;
    headless.session_affinity = "ClientIP".into();
    headless.affinity_timeout = Some(10);
    headless.internal_traffic_policy = Some("Local".into());
    headless.traffic_distribution = Some("PreferClose".into());
    headless.ip_families = vec!["IPv6".into()];
    let mut older = export("c1", 1, Some(svc(vec![port("", 80)])));
    older.labels.insert("team".into(), "a".into());
    let mut newer = export("c2", 2, Some(headless));
    newer.annotations.insert("note".into(), "x".into());
    let r = resolve(&[newer, older]);
    let import = r.import.unwrap();
    assert!(!import.headless, "the oldest (ClusterSetIP) wins");
    assert_eq!(import.labels.get("team").map(String::as_str), Some("a"));
    assert!(
        import.annotations.is_empty(),
        "annotations come from the oldest export only, not merged"
    );
    assert_eq!(import.ip_families, ["IPv4"]);
    for shown in [
        "type: using ClusterSetIP from the oldest export (cluster c1); 1/2 clusters differ",
        "sessionAffinityConfig: using no clientIP timeout from",
        "internalTrafficPolicy: using Cluster from",
        "trafficDistribution: using (unset) from",
        "ipFamilies: using IPv4 from",
    ] {
        assert!(
            r.conflicts.message.contains(shown),
            "{shown} in {}",
            r.conflicts.message
        );
    }
    assert_eq!(
        r.conflicts.reason(),
        "TypeConflict,SessionAffinityConflict,SessionAffinityConfigConflict,LabelsConflict,AnnotationsConflict,InternalTrafficPolicyConflict,TrafficDistributionConflict,IPFamilyConflict"
    );
    // The losing cluster and its values, named for Events.
    assert_eq!(
        r.conflicts.dissent,
        "type: cluster c2 has Headless; sessionAffinity: cluster c2 has ClientIP; \
         sessionAffinityConfig: cluster c2 has clientIP.timeoutSeconds 10; \
         exportedLabels: cluster c2 has 0 labels; exportedAnnotations: cluster c2 has 1 annotations; \
         internalTrafficPolicy: cluster c2 has Local; trafficDistribution: cluster c2 has PreferClose; \
         ipFamilies: cluster c2 has ipFamilies [IPv6]"
    );
}

#[test]
fn families_are_the_intersection() {
    let mut dual = svc(vec![port("", 80)]);
    dual.ip_families = vec!["IPv6".into(), "IPv4".into()];
    let r = resolve(&[
        export("c1", 1, Some(dual.clone())),
        export("c2", 2, Some(dual)),
    ]);
    assert_eq!(r.import.unwrap().ip_families, ["IPv6", "IPv4"]);
    let mut dual = svc(vec![port("", 80)]);
    dual.ip_families = vec!["IPv4".into(), "IPv6".into()];
    let r = resolve(&[
        export("c1", 1, Some(dual)),
        export("c2", 2, Some(svc(vec![port("", 80)]))),
    ]);
    assert_eq!(r.import.unwrap().ip_families, ["IPv4"]);
    assert_eq!(r.conflicts.reasons, [conflict::IP_FAMILY]);
}

#[test]
fn a_headless_service_without_ports_is_served_by_every_exporter() {
    let mut bare = svc(Vec::new());
    bare.headless = true;
    let r = resolve(&[
        export("c1", 1, Some(bare.clone())),
        export("c2", 2, Some(bare)),
    ]);
    let import = r.import.unwrap();
    assert!(import.headless && import.ports.is_empty());
    assert_eq!(
        import.served_ports.keys().collect::<Vec<_>>(),
        ["c1", "c2"],
        "both contribute endpoints (DNS-only)"
    );
    assert_eq!(r.conflicts.reason(), "NoConflicts");
    // A port-less exporter next to a ported one serves nothing of the import.
    let mut ported = svc(vec![port("sql", 5432)]);
    ported.headless = true;
    let mut bare = svc(Vec::new());
    bare.headless = true;
    let r = resolve(&[export("c1", 1, Some(ported)), export("c2", 2, Some(bare))]);
    let import = r.import.unwrap();
    assert_eq!(import.served_ports.keys().collect::<Vec<_>>(), ["c1"]);
    assert_eq!(r.conflicts.reasons, [conflict::PORT]);
}

/// One export in a table row: headless, families.
type Side<'a> = (bool, &'a [&'a str]);

#[test]
fn a_headless_export_conflicts_on_families_only_when_it_has_none_of_the_imports() {
    let fam = |f: &[&str]| f.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    let with = |headless: bool, families: &[&str]| {
        let mut s = svc(vec![port("", 80)]);
        s.headless = headless;
        s.ip_families = fam(families);
        s
    };
    let v4 = ["IPv4"].as_slice();
    let v6 = ["IPv6"].as_slice();
    let dual = ["IPv4", "IPv6"].as_slice();
    // (oldest: headless, families), (newer: headless, families) -> reasons, import families
    let table: [(Side<'_>, Side<'_>, &str, &[&str]); 8] = [
        // A selector-less headless Service gets both families even in a single-stack cluster:
        // next to a ClusterIP Service that is a type conflict only.
        ((false, v4), (true, dual), "TypeConflict", v4),
        ((true, dual), (false, v4), "TypeConflict", dual),
        // A headless export with none of the import's families leaves backends unreachable.
        ((false, v4), (true, v6), "TypeConflict,IPFamilyConflict", v4),
        ((true, v6), (false, v4), "TypeConflict,IPFamilyConflict", v6),
        // Headless with headless: their families overlap, no conflict; intersection kept.
        ((true, dual), (true, v4), "NoConflicts", v4),
        ((true, v4), (true, v6), "IPFamilyConflict", v4),
        // ClusterSetIP with ClusterSetIP: any difference is a VIP family conflict, as before.
        ((false, dual), (false, v4), "IPFamilyConflict", v4),
        ((false, v4), (false, v4), "NoConflicts", v4),
    ];
    for ((h1, f1), (h2, f2), reason, families) in table {
        let r = resolve(&[
            export("c1", 1, Some(with(h1, f1))),
            export("c2", 2, Some(with(h2, f2))),
        ]);
        let case = format!("{h1} {f1:?} / {h2} {f2:?}");
        assert_eq!(
            r.conflicts.reason(),
            reason,
            "{case}: {}",
            r.conflicts.message
        );
        assert_eq!(r.import.unwrap().ip_families, fam(families), "{case}");
    }
}

#[test]
fn a_headless_imports_families_are_its_endpoints_address_types() {
    let fam = |f: &[&str]| f.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    // (resolved families, slices' address types) -> families
    let table: [(&[&str], &[&str], &[&str]); 5] = [
        (&["IPv4", "IPv6"], &["IPv4"], &["IPv4"]),
        (
            &["IPv6", "IPv4"],
            &["IPv4", "IPv6", "IPv4"],
            &["IPv6", "IPv4"],
        ),
        (&["IPv4", "IPv6"], &[], &["IPv4", "IPv6"]),
        (&["IPv4"], &["IPv6"], &["IPv6"]),
        (&["IPv4"], &["FQDN"], &["IPv4"]),
    ];
    for (families, types, want) in table {
        assert_eq!(
            endpoint_families(&fam(families), types.iter().copied()),
            fam(want),
            "{families:?} {types:?}"
        );
    }
}
