use std::time::Duration;

use causeway_api::names::{LABEL_SOURCE_CLUSTER, LABEL_SYNCED, condition};

use super::*;
use crate::sync::fixtures::{World, meta, writes};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn standing_follows_health_and_the_grace_period() {
    let grace = secs(60);
    // (failing for, synced, running for) -> standing
    let table = [
        (None, true, secs(1), Standing::Live),
        (None, true, secs(600), Standing::Live),
        (None, false, secs(10), Standing::Held),
        (None, false, secs(60), Standing::Expired),
        (Some(secs(5)), true, secs(600), Standing::Held),
        (Some(secs(5)), false, secs(1), Standing::Held),
        (Some(secs(60)), true, secs(600), Standing::Expired),
    ];
    for (failing, synced, running, want) in table {
        assert_eq!(
            standing(failing, synced, running, grace),
            want,
            "{failing:?} {synced} {running:?}"
        );
    }
}

#[test]
fn a_new_export_becomes_an_import_then_its_status_and_slices() {
    let mut w = World::new(2);
    w.export(1, "web", 1000, 80, "10.44.1.5");
    let first = w.plan();
    assert_eq!(first.services.len(), 1);
    let writes1 = &first.services[0].writes;
    assert!(
        matches!(writes1.as_slice(), [Write::Import(i)] if !i.headless && i.clusters == ["c2"]),
        "{writes1:?}"
    );
    assert!(
        first.apply_slices.is_empty(),
        "slices wait for the import: it owns them"
    );
    w.apply(first);

    let second = w.plan();
    assert_eq!(
        second.services[0].writes,
        vec![Write::ImportClusters(vec!["c2".into()])]
    );
    assert_eq!(second.apply_slices.len(), 1);
    let slice = &second.apply_slices[0].slice;
    assert_eq!(
        slice.labels().get(LABEL_SYNCED).map(String::as_str),
        Some("true")
    );
    assert_eq!(
        slice.labels().get(LABEL_SOURCE_CLUSTER).map(String::as_str),
        Some("c2")
    );
    assert_eq!(second.apply_slices[0].replaced, None);
    assert_eq!(
        second.services[0].contributions[0].sources,
        vec!["web-abc".to_owned()]
    );
    w.apply(second);
    assert_eq!(w.converge(), 0, "two passes were enough");
    assert!(w.import("web").is_some());
    assert_eq!(w.slice_names().len(), 1);
}

#[test]
fn an_unchanged_world_plans_nothing_with_or_without_the_memo() {
    let mut w = World::new(3);
    w.export(0, "web", 1000, 80, "10.42.1.5");
    w.export(1, "web", 2000, 80, "10.44.1.5");
    w.export(2, "db", 1000, 5432, "10.46.1.5");
    assert!(w.converge() > 0);
    let again = w.plan();
    assert!(again.is_empty(), "{again:?}");
    assert!(
        again.services.is_empty(),
        "every outcome came from the memo"
    );
    // A restarted controller (no memo) compares the live objects and also writes nothing.
    let restarted = w.plan_with(&mut Memo::default());
    assert_eq!(writes(&restarted), 0, "{restarted:?}");
    assert_eq!(restarted.services.len(), 2, "both services were compared");
    assert_eq!(w.slice_names().len(), 3);
}

#[test]
fn a_local_export_gets_its_conditions_once() {
    let mut w = World::new(1);
    w.export(0, "web", 1000, 80, "10.42.1.5");
    let plan = w.plan();
    let Some(Write::ExportConditions(conditions)) = plan.services[0].writes.first() else {
        panic!("{plan:?}");
    };
    let status = |t: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    assert_eq!(
        status(condition::VALID),
        Some(("True".into(), condition::valid::VALID.into()))
    );
    assert_eq!(
        status(condition::READY),
        Some(("True".into(), condition::ready::EXPORTED.into()))
    );
    assert_eq!(
        status(condition::CONFLICT),
        Some(("False".into(), condition::conflict::NO_CONFLICTS.into()))
    );
    let events: Vec<_> = plan.services[0]
        .events
        .iter()
        .map(|e| (e.warning, e.reason))
        .collect();
    assert_eq!(events, [(false, "Exported")]);
    w.apply(plan);
    w.converge();
    let restarted = w.plan_with(&mut Memo::default());
    assert_eq!(
        writes(&restarted),
        0,
        "conditions up to date: {restarted:?}"
    );
    assert!(
        restarted.services.iter().all(|s| s.events.is_empty()),
        "a resync (or a new leader) raises no Event again: {restarted:?}"
    );
}

#[test]
fn conflicting_exports_raise_the_conflict_condition_on_the_local_export() {
    let mut w = World::new(2);
    w.export_with(0, "web", 2000, 80, "10.42.1.5", "ClientIP");
    w.export_with(1, "web", 1000, 80, "10.44.1.5", "None");
    let plan = w.plan();
    let conditions = plan.services[0]
        .writes
        .iter()
        .find_map(|w| match w {
            Write::ExportConditions(c) => Some(c),
            _ => None,
        })
        .expect("the local export's conditions are written");
    let conflict = conditions
        .iter()
        .find(|c| c.type_ == condition::CONFLICT)
        .unwrap();
    assert_eq!(conflict.status, "True");
    assert!(
        conflict
            .reason
            .starts_with(condition::conflict::SESSION_AFFINITY),
        "{}",
        conflict.reason
    );
    assert!(
        conflict.message.contains("cluster c2"),
        "{}",
        conflict.message
    );
    let Some(Write::Import(import)) = plan.services[0].writes.get(1) else {
        panic!("{plan:?}");
    };
    assert_eq!(
        import.session_affinity, "None",
        "the oldest export (c2) wins"
    );
    let [conflict_event] = plan.services[0]
        .events
        .iter()
        .filter(|e| e.reason == "Conflict")
        .collect::<Vec<_>>()[..]
    else {
        panic!("{plan:?}");
    };
    assert!(conflict_event.warning);
    assert!(
        conflict_event
            .note
            .contains("differing: sessionAffinity: cluster c1 has ClientIP"),
        "the losing cluster and its value are named: {}",
        conflict_event.note
    );
    assert!(
        conflict_event
            .note
            .contains("using None from the oldest export (cluster c2)"),
        "{}",
        conflict_event.note
    );
}

#[test]
fn an_export_without_its_service_is_invalid_and_imports_nothing() {
    let mut w = World::new(1);
    w.export(0, "web", 1000, 80, "10.42.1.5");
    w.clusters[0].services.remove("ns", "web");
    let plan = w.plan();
    let [Write::ExportConditions(conditions)] = plan.services[0].writes.as_slice() else {
        panic!("{plan:?}");
    };
    let valid = conditions
        .iter()
        .find(|c| c.type_ == condition::VALID)
        .unwrap();
    assert_eq!(
        (valid.status.as_str(), valid.reason.as_str()),
        ("False", condition::valid::NO_SERVICE)
    );
    assert!(valid.message.contains("no Service named web"));
    assert!(!plan.services[0].outcome.import);
    let events: Vec<_> = plan.services[0]
        .events
        .iter()
        .map(|e| (e.warning, e.reason, e.note.as_str()))
        .collect();
    assert_eq!(events, [(true, "NoService", valid.message.as_str())]);
}

#[test]
fn no_import_where_the_namespace_does_not_exist() {
    let mut w = World::new(2);
    w.export(1, "web", 1000, 80, "10.44.1.5");
    w.namespaces.remove("", "ns");
    let plan = w.plan();
    assert_eq!(writes(&plan), 0, "{plan:?}");
}

#[test]
fn a_removed_export_deletes_only_what_the_sync_wrote() {
    let mut w = World::new(2);
    w.export(1, "web", 1000, 80, "10.44.1.5");
    w.converge();
    // Someone's own ServiceImport (no synced label) and one being deleted.
    w.imports.put(ServiceImport {
        metadata: meta("ns", "mine", 1),
        ..ServiceImport::default()
    });
    w.unexport(1, "web");
    let plan = w.plan();
    assert_eq!(plan.delete_imports, vec![("ns".into(), "web".into())]);
    assert_eq!(plan.delete_slices.len(), 1);
    assert!(plan.apply_slices.is_empty());
    w.apply(plan);
    assert!(w.import("mine").is_some());
    assert_eq!(w.converge(), 0);
}

#[test]
fn an_import_already_being_deleted_is_not_deleted_again() {
    let mut w = World::new(2);
    w.export(1, "web", 1000, 80, "10.44.1.5");
    w.converge();
    let mut import = w.import("web").unwrap();
    import.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    w.imports.put(import);
    w.unexport(1, "web");
    assert!(w.plan().delete_imports.is_empty());
}

/// A converged world where `c2` exports `web` and `c3` exports `db`.
fn two_peers() -> World {
    let mut w = World::new(3);
    w.export(1, "web", 1000, 80, "10.44.1.5");
    w.export(2, "db", 1000, 5432, "10.46.1.5");
    w.converge();
    assert_eq!(w.slice_names().len(), 2);
    w
}

#[test]
fn a_held_member_that_is_synced_keeps_its_slices_and_import() {
    let mut w = two_peers();
    w.health[1] = (Standing::Held, true, true);
    let plan = w.plan();
    assert_eq!(writes(&plan), 0, "nothing deleted or rewritten: {plan:?}");
}

#[test]
fn a_held_member_that_listed_keeps_what_it_exported_and_only_that() {
    let mut w = two_peers();
    // c2 fails within the grace period and its caches are no longer trusted; c3 stops
    // exporting db.
    w.health[1] = (Standing::Held, false, true);
    w.unexport(2, "db");
    let plan = w.plan();
    assert_eq!(
        plan.delete_imports,
        vec![("ns".into(), "db".into())],
        "c2's web stays, db goes at once"
    );
    assert_eq!(plan.delete_slices.len(), 1, "only c3's slice: {plan:?}");
    assert!(
        plan.delete_slices[0].key.1.contains("db"),
        "{:?}",
        plan.delete_slices
    );
}

#[test]
fn a_held_member_that_never_listed_keeps_every_import() {
    let mut w = two_peers();
    w.health[1] = (Standing::Held, false, false);
    w.unexport(2, "db");
    let plan = w.plan();
    assert!(
        plan.delete_imports.is_empty(),
        "c2 could export anything: {plan:?}"
    );
}

#[test]
fn an_expired_member_is_withdrawn() {
    let mut w = two_peers();
    w.health[1] = (Standing::Expired, false, true);
    let plan = w.plan();
    assert_eq!(plan.delete_imports, vec![("ns".into(), "web".into())]);
    assert_eq!(plan.delete_slices.len(), 1);
}

#[test]
fn a_changed_endpoint_rewrites_only_that_slice() {
    let mut w = two_peers();
    w.source_slice(1, "web", "web-abc", 80, "10.44.1.6");
    let plan = w.plan();
    assert_eq!(plan.services.len(), 1, "only web is recomputed");
    assert!(plan.services[0].writes.is_empty());
    assert_eq!(plan.apply_slices.len(), 1);
    assert!(plan.apply_slices[0].replaced.is_some());
    assert!(plan.delete_slices.is_empty() && plan.delete_imports.is_empty());
    w.apply(plan);
    assert_eq!(w.converge(), 0);
}

#[test]
fn an_applied_slice_is_not_applied_again_while_the_cache_lags() {
    let mut w = two_peers();
    w.source_slice(1, "web", "web-abc", 80, "10.44.1.6");
    let plan = w.plan();
    let applied = plan.apply_slices[0].clone();
    // The write succeeded, the memo knows; the local cache still shows the old slice.
    w.memo.record_applied(
        applied.key.clone(),
        &applied.slice,
        "999",
        applied.replaced.as_deref(),
    );
    for s in plan.services {
        w.memo.store(s.key, s.fingerprint, s.outcome);
    }
    let again = w.plan();
    assert_eq!(writes(&again), 0, "{again:?}");
}

#[test]
fn a_failed_service_is_planned_again() {
    let mut w = World::new(2);
    w.export(1, "web", 1000, 80, "10.44.1.5");
    let plan = w.plan();
    // The import write failed: execute forgets the outcome and stores nothing.
    w.memo.forget(&plan.services[0].key);
    let again = w.plan();
    assert_eq!(again.services[0].writes, plan.services[0].writes);
}

/// A ServiceImport `ns/name` made by hand (the README's manual path), without the sync's label.
fn hand_made_import(name: &str) -> ServiceImport {
    let mut m = meta("ns", name, 7);
    m.uid = Some("uid-user".into());
    ServiceImport {
        metadata: m,
        spec: causeway_api::ServiceImportSpec {
            ips: Some(vec!["10.96.0.50".into()]),
            ..causeway_api::ServiceImportSpec::default()
        },
        status: None,
    }
}

#[test]
fn a_hand_made_import_is_never_adopted_and_outlives_the_export() {
    let mut w = World::new(2);
    w.imports.put(hand_made_import("legacy"));
    w.export(1, "legacy", 1000, 80, "10.44.1.5");
    let plan = w.plan();
    assert_eq!(
        writes(&plan),
        0,
        "nothing of the user's import is written: {plan:?}"
    );
    assert_eq!(
        plan.notices,
        vec![notices::Notice::UnmanagedImport {
            key: ("ns".into(), "legacy".into()),
            uid: "uid-user".into(),
            exporters: vec!["c2".into()],
        }]
    );
    let message = plan.notices[0].message();
    for said in [
        "cluster(s) c2 now export ns/legacy",
        "kubectl delete serviceimport -n ns legacy",
    ] {
        assert!(message.contains(said), "{said} in {message}");
    }
    assert_eq!(w.converge(), 0);
    let import = w.import("legacy").unwrap();
    assert_eq!(import.labels().get(LABEL_SYNCED), None, "not adopted");
    assert_eq!(import.metadata.resource_version.as_deref(), Some("7"));

    w.unexport(1, "legacy");
    let plan = w.plan();
    assert!(plan.delete_imports.is_empty(), "{plan:?}");
    assert!(plan.notices.is_empty(), "no export, nothing to say");
    assert_eq!(w.converge(), 0);
    assert_eq!(
        w.import("legacy").unwrap().spec.ips,
        Some(vec!["10.96.0.50".into()])
    );

    // Deleting the hand-made import hands the service to the sync.
    w.export(1, "legacy", 1000, 80, "10.44.1.5");
    w.imports.remove("ns", "legacy");
    assert!(w.converge() > 0);
    let import = w.import("legacy").unwrap();
    assert_eq!(
        import.labels().get(LABEL_SYNCED).map(String::as_str),
        Some("true")
    );
    assert!(w.plan().notices.is_empty());
}

#[test]
fn slices_no_causeway_wrote_behind_the_syncs_import_are_named_never_deleted() {
    use causeway_api::names::{LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY_CAUSEWAY};
    let mut w = World::new(2);
    w.export(1, "serve", 1000, 80, "10.44.1.5");
    w.export(1, "other", 1000, 80, "10.44.1.6");
    assert!(w.converge() > 0);
    let slice = |name: &str, service: &str, managed_by: Option<&str>| {
        let mut m = meta("ns", name, 9);
        let labels = m.labels.get_or_insert_default();
        labels.insert(LABEL_SERVICE_NAME.into(), service.into());
        if let Some(by) = managed_by {
            labels.insert(LABEL_MANAGED_BY.into(), by.into());
        }
        EndpointSlice {
            metadata: m,
            address_type: "IPv4".into(),
            ..EndpointSlice::default()
        }
    };
    // The seed's edit-meta.py copies, and `causeway import-slices` output (causeway's).
    w.foreign_slices
        .put(slice("imported-serve-x7v4m", "serve", None));
    w.foreign_slices
        .put(slice("imported-serve-b2k9q", "serve", Some("someone-else")));
    w.foreign_slices
        .put(slice("serve-c9-abc", "serve", Some(MANAGED_BY_CAUSEWAY)));
    w.foreign_slices
        .put(slice("imported-gone-aaaaa", "gone", None));
    let plan = w.plan();
    assert_eq!(
        writes(&plan),
        0,
        "nothing is deleted for the user: {plan:?}"
    );
    assert_eq!(
        plan.notices,
        vec![notices::Notice::ForeignSlices {
            key: ("ns".into(), "serve".into()),
            uid: "uid-serve".into(),
            slices: vec!["imported-serve-b2k9q".into(), "imported-serve-x7v4m".into()],
        }]
    );
    let message = plan.notices[0].message();
    assert!(
        message.contains(
            "kubectl delete endpointslice -n ns imported-serve-b2k9q imported-serve-x7v4m"
        ),
        "{message}"
    );
    w.foreign_slices.remove("ns", "imported-serve-x7v4m");
    w.foreign_slices.remove("ns", "imported-serve-b2k9q");
    assert!(w.plan().notices.is_empty());
}
