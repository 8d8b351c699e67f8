//! The sync's Warning Events on peer Secrets: `MemberUnavailable` while connecting to a member
//! fails, `MemberExcluded` while it takes no part in the clusterset; and on ServiceImports the
//! plan's notices: `ImportNotManaged` (an import the sync did not write while members export
//! the service) and `ForeignEndpointSlices` (slices no causeway wrote feed one of the sync's
//! imports); and on ServiceExports the changes of their conditions an operator must act on
//! (`Conflict`, `NoService`) or wants to see (`Exported`), see [`super::plan::export_events`].
//!
//! Data flow: each loop of the engine (leader only) passes the current failures and exclusions;
//! an Event is published once per Secret (version) and reason while it lasts, and the memory of
//! what was reported forgets what no longer holds, so a recurrence is reported again.

use std::collections::HashMap;
use std::collections::HashSet;

use causeway_api::{ServiceExport, ServiceImport};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::failure::{MemberFailure, Reason};
use super::members;
use super::membership::Exclusion;
use super::memo::Key;
use super::peers::Peers;
use super::plan::export_events::ExportEvent;
use super::plan::notices::Notice;

/// One Warning Event per peer Secret version and failure reason while connecting fails.
pub(crate) async fn report_member_failures(
    recorder: &Recorder,
    peers: &Peers,
    reported: &mut HashSet<(String, String, Reason)>,
) {
    let current: HashSet<(String, String, Reason)> = peers
        .iter()
        .filter_map(|p| {
            let f = p.connect_failure.as_ref()?;
            Some((p.secret.name.clone(), p.secret.version.clone(), f.reason))
        })
        .collect();
    reported.retain(|k| current.contains(k));
    for p in peers.iter() {
        let Some(failure) = &p.connect_failure else {
            continue;
        };
        let key = (
            p.secret.name.clone(),
            p.secret.version.clone(),
            failure.reason,
        );
        if reported.insert(key) {
            report_member_failure(recorder, &p.secret, failure).await;
        }
    }
}

/// A Warning Event on a peer Secret whose member cannot be used.
async fn report_member_failure(
    recorder: &Recorder,
    secret: &members::PeerSecret,
    failure: &MemberFailure,
) {
    let note = format!(
        "{}: {}; other members keep syncing",
        failure.reason.as_str(),
        failure.message()
    );
    warn_on_secret(recorder, secret, "MemberUnavailable", note, "Connect").await;
}

/// A `MemberExcluded` Warning Event on each peer Secret whose member newly takes no part
/// (`NotInClusterSet`, `DuplicateClusterID`), once per Secret and reason while it lasts.
pub(crate) async fn report_exclusions(
    recorder: &Recorder,
    peers: &Peers,
    exclusions: &[Option<Exclusion>],
    reported: &mut HashSet<(String, &'static str)>,
) {
    let current: HashSet<(String, &'static str)> = peers
        .iter()
        .zip(exclusions)
        .filter_map(|(p, e)| Some((p.secret.name.clone(), e.as_ref()?.reason)))
        .collect();
    reported.retain(|k| current.contains(k));
    for (p, excluded) in peers.iter().zip(exclusions) {
        let Some(excluded) = excluded else {
            continue;
        };
        if reported.insert((p.secret.name.clone(), excluded.reason)) {
            let note = format!("{}: {}", excluded.reason, excluded.message);
            warn_on_secret(recorder, &p.secret, "MemberExcluded", note, "Sync").await;
        }
    }
}

/// Publishes a Warning Event about a peer Secret.
async fn warn_on_secret(
    recorder: &Recorder,
    secret: &members::PeerSecret,
    reason: &str,
    note: String,
    action: &str,
) {
    let ev = Event {
        type_: EventType::Warning,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        name: Some(secret.name.clone()),
        namespace: Some(secret.namespace.clone()),
        uid: Some(secret.uid.clone()),
        ..ObjectReference::default()
    };
    if let Err(e) = recorder.publish(&ev, &reference).await {
        tracing::warn!(error = %e, "failed to publish an event");
    }
}

/// One Warning Event per notice on its ServiceImport, again only when what it says changes (other
/// exporters, other slices, a recreated import); what no longer holds is forgotten, so a
/// recurrence is reported again. Each is a new Event object: the [`Recorder`] folds Events of one
/// reason about one object into a series that keeps the first note, which would hide the change.
pub(crate) async fn report_notices(
    client: &kube::Client,
    source: &Reporter,
    notices: &[Notice],
    reported: &mut HashMap<(Key, &'static str), String>,
) {
    let current: HashMap<(Key, &'static str), (String, &Notice)> = notices
        .iter()
        .map(|n| ((n.key().clone(), n.reason()), (digest(n), n)))
        .collect();
    reported.retain(|k, _| current.contains_key(k));
    for (k, (digest, notice)) in current {
        if reported.get(&k) == Some(&digest) {
            continue;
        }
        let ((ns, name), uid) = match notice {
            Notice::UnmanagedImport { key, uid, .. } | Notice::ForeignSlices { key, uid, .. } => {
                (key, uid)
            }
        };
        let note = notice.message();
        tracing::warn!(namespace = %ns, name = %name, reason = notice.reason(), note = %note, "service import notice");
        let regarding = reference::<ServiceImport>(ns, name, uid);
        if publish_new(client, source, regarding, notice.reason(), note, true).await {
            reported.insert(k, digest);
        }
    }
}

/// What a notice says, to tell a change from a repetition.
fn digest(notice: &Notice) -> String {
    match notice {
        Notice::UnmanagedImport { uid, exporters, .. } => format!("{uid}:{}", exporters.join(",")),
        Notice::ForeignSlices { uid, slices, .. } => format!("{uid}:{}", slices.join(",")),
    }
}

/// Publishes the Events of the export conditions this pass wrote (each a change: the plan
/// compared them with the live export). Each is a new Event object, as in [`report_notices`], so
/// a changed conflict is not folded into the first one's series.
pub(crate) async fn report_export_events(
    client: &kube::Client,
    source: &Reporter,
    events: &[(Key, ExportEvent)],
) {
    for ((ns, name), e) in events {
        if e.warning {
            tracing::warn!(namespace = %ns, name = %name, reason = e.reason, note = %e.note, "service export event");
        } else {
            tracing::info!(namespace = %ns, name = %name, reason = e.reason, "service export event");
        }
        let regarding = reference::<ServiceExport>(ns, name, &e.uid);
        publish_new(
            client,
            source,
            regarding,
            e.reason,
            e.note.clone(),
            e.warning,
        )
        .await;
    }
}

/// A reference to the namespaced causeway object `K` `ns/name` with `uid`.
fn reference<K: kube::Resource<DynamicType = ()>>(
    ns: &str,
    name: &str,
    uid: &str,
) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: Some(name.to_owned()),
        namespace: Some(ns.to_owned()),
        uid: Some(uid.to_owned()),
        ..ObjectReference::default()
    }
}

/// Creates a new Event object (never folded into an earlier series, whose first note the
/// [`Recorder`] would keep) about `regarding`; returns whether it was published.
async fn publish_new(
    client: &kube::Client,
    source: &Reporter,
    regarding: ObjectReference,
    reason: &str,
    note: String,
    warning: bool,
) -> bool {
    let now = Timestamp::now();
    let ns = regarding.namespace.clone().unwrap_or_default();
    let name = regarding.name.clone().unwrap_or_default();
    let event = K8sEvent {
        metadata: ObjectMeta {
            namespace: Some(ns.clone()),
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            ..ObjectMeta::default()
        },
        action: Some("Sync".into()),
        reason: Some(reason.to_owned()),
        note: Some(note),
        type_: Some(if warning { "Warning" } else { "Normal" }.into()),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding),
        reporting_controller: Some(source.controller.clone()),
        reporting_instance: Some(
            source
                .instance
                .clone()
                .unwrap_or_else(|| source.controller.clone()),
        ),
        ..K8sEvent::default()
    };
    match Api::<K8sEvent>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &event)
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "failed to publish an event"
            );
            false
        }
    }
}
