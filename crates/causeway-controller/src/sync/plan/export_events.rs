//! Events on the local ServiceExport for the condition changes an operator must act on, decided
//! without I/O.
//!
//! - Warning `Conflict`: `Conflict` turned `True`, or its reason or message changed. The note
//!   has the condition's reason and message (the values used and the oldest export's cluster)
//!   and names every cluster that differs with its value.
//! - Warning `NoService`: `Valid` turned `False/NoService`.
//! - Normal `Exported`: `Ready` turned `True/Exported`.
//!
//! Data flow: [`export_events`] compares the live conditions with those the pass writes; the
//! plan carries them with the service, and the engine publishes them (leader only) after that
//! write succeeded. A resync plans no conditions write when nothing changed, and a new leader
//! compares with the live object too, so each change raises its Event once.

use causeway_api::Condition;
use causeway_api::names::condition;

/// One Event about the local ServiceExport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportEvent {
    /// The export's UID.
    pub uid: String,
    /// Warning (else Normal).
    pub warning: bool,
    /// The Event reason.
    pub reason: &'static str,
    /// The Event note.
    pub note: String,
}

/// The Events for writing `written` over `live` on the export with `uid`; `dissent` names the
/// differing clusters and their values (`causeway_core::clusterset::Conflicts::dissent`).
pub fn export_events(
    uid: &str,
    live: &[Condition],
    written: &[Condition],
    dissent: &str,
) -> Vec<ExportEvent> {
    let find = |set: &[Condition], t: &str| set.iter().find(|c| c.type_ == t).cloned();
    let said = |c: &Option<Condition>| {
        c.as_ref()
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let mut out = Vec::new();
    let mut event = |warning: bool, reason: &'static str, note: String| {
        out.push(ExportEvent {
            uid: uid.to_owned(),
            warning,
            reason,
            note,
        });
    };
    let conflict = find(written, condition::CONFLICT);
    if let Some(c) = &conflict
        && c.status == "True"
        && said(&conflict) != said(&find(live, condition::CONFLICT))
    {
        let differing = if dissent.is_empty() {
            String::new()
        } else {
            format!("; differing: {dissent}")
        };
        event(
            true,
            "Conflict",
            format!(
                "{}: {}{differing}; make the Services (and exportedLabels/exportedAnnotations) agree in every cluster",
                c.reason, c.message
            ),
        );
    }
    let valid = find(written, condition::VALID);
    if let Some(c) = &valid
        && c.status == "False"
        && c.reason == condition::valid::NO_SERVICE
        && find(live, condition::VALID).map(|l| (l.status, l.reason))
            != Some((c.status.clone(), c.reason.clone()))
    {
        event(true, "NoService", c.message.clone());
    }
    let ready = find(written, condition::READY);
    if let Some(c) = &ready
        && c.status == "True"
        && c.reason == condition::ready::EXPORTED
        && find(live, condition::READY).map(|l| (l.status, l.reason))
            != Some((c.status.clone(), c.reason.clone()))
    {
        event(false, "Exported", c.message.clone());
    }
    out
}
