//! What the import side does to an MCS EndpointSlice (mcs-spec.md §4.3 rule 12): kube-proxy
//! routes a slice for a Service only through `kubernetes.io/service-name`, so hand-made MCS slices
//! (the seed's flow) get that label pointing at the derived Service. causeway marks what it added
//! with an annotation and removes only that; a different value someone set is left alone and
//! reported. Slices causeway's sync writes carry the right label from the start and are skipped.

use std::collections::BTreeMap;

use causeway_api::names::{
    ANNOTATION_ADDED_SERVICE_NAME, LABEL_K8S_SERVICE_NAME, LABEL_MANAGED_BY, MANAGED_BY_CAUSEWAY,
};

/// The decision for one slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SliceLabelAction {
    /// Already right, or not causeway's to change.
    Nothing,
    /// Add `kubernetes.io/service-name=<derived>` and the marker annotation.
    Add(String),
    /// Remove the label and annotation causeway added (import gone or headless).
    Remove,
    /// Someone set `kubernetes.io/service-name` to another value; leave it and report it.
    Conflict {
        /// The value found.
        existing: String,
        /// The derived Service the import wants.
        wanted: String,
    },
}

/// Decides what to do with a slice whose labels and annotations are given, for an import whose
/// derived Service is `derived` (`None`: headless, or the import is being deleted).
pub fn plan(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    derived: Option<&str>,
) -> SliceLabelAction {
    if labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_CAUSEWAY) {
        return SliceLabelAction::Nothing;
    }
    let added_by_us = annotations.contains_key(ANNOTATION_ADDED_SERVICE_NAME);
    let current = labels.get(LABEL_K8S_SERVICE_NAME);
    match (derived, current) {
        (Some(want), Some(have)) if have == want => SliceLabelAction::Nothing,
        (Some(want), None) => SliceLabelAction::Add(want.to_owned()),
        (Some(want), Some(_)) if added_by_us => SliceLabelAction::Add(want.to_owned()),
        (Some(want), Some(have)) => SliceLabelAction::Conflict {
            existing: have.clone(),
            wanted: want.to_owned(),
        },
        (None, _) if added_by_us => SliceLabelAction::Remove,
        (None, _) => SliceLabelAction::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    type Case<'a> = (
        BTreeMap<String, String>,
        BTreeMap<String, String>,
        Option<&'a str>,
        SliceLabelAction,
    );

    #[test]
    fn decisions() {
        let ours = (ANNOTATION_ADDED_SERVICE_NAME, "true");
        let label = |v| (LABEL_K8S_SERVICE_NAME, v);
        let cases: Vec<Case<'_>> = vec![
            // Hand-made slice without the label: add it.
            (
                map(&[]),
                map(&[]),
                Some("derived-a"),
                SliceLabelAction::Add("derived-a".into()),
            ),
            // Already right (added by us or by hand): nothing.
            (
                map(&[label("derived-a")]),
                map(&[ours]),
                Some("derived-a"),
                SliceLabelAction::Nothing,
            ),
            (
                map(&[label("derived-a")]),
                map(&[]),
                Some("derived-a"),
                SliceLabelAction::Nothing,
            ),
            // Someone else's different value: conflict, untouched.
            (
                map(&[label("mine")]),
                map(&[]),
                Some("derived-a"),
                SliceLabelAction::Conflict {
                    existing: "mine".into(),
                    wanted: "derived-a".into(),
                },
            ),
            // Our stale value: fix it.
            (
                map(&[label("derived-old")]),
                map(&[ours]),
                Some("derived-a"),
                SliceLabelAction::Add("derived-a".into()),
            ),
            // Import gone or headless: remove only what we added.
            (
                map(&[label("derived-a")]),
                map(&[ours]),
                None,
                SliceLabelAction::Remove,
            ),
            (
                map(&[label("derived-a")]),
                map(&[]),
                None,
                SliceLabelAction::Nothing,
            ),
            // causeway's own synced slices are the sync's business.
            (
                map(&[(LABEL_MANAGED_BY, MANAGED_BY_CAUSEWAY)]),
                map(&[]),
                Some("derived-a"),
                SliceLabelAction::Nothing,
            ),
        ];
        for (labels, annotations, derived, want) in cases {
            assert_eq!(
                plan(&labels, &annotations, derived),
                want,
                "{labels:?} {annotations:?} {derived:?}"
            );
        }
    }
}
