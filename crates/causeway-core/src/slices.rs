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

/// What [`plan`] reads of a slice: its `kubernetes.io/service-name`, whether causeway's sync
/// manages it and whether causeway added that label (its marker annotation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceMarks {
    /// `kubernetes.io/service-name`, if set.
    pub service_name: Option<String>,
    /// Written by causeway's sync (`endpointslice.kubernetes.io/managed-by`).
    pub managed_by_causeway: bool,
    /// causeway added `kubernetes.io/service-name` (the marker annotation is set).
    pub added_by_us: bool,
}

impl SliceMarks {
    /// The marks of a slice with these labels and annotations.
    pub fn of(labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> Self {
        Self {
            service_name: labels.get(LABEL_K8S_SERVICE_NAME).cloned(),
            managed_by_causeway: labels.get(LABEL_MANAGED_BY).map(String::as_str)
                == Some(MANAGED_BY_CAUSEWAY),
            added_by_us: annotations.contains_key(ANNOTATION_ADDED_SERVICE_NAME),
        }
    }
}

/// Decides what to do with a slice with `marks`, for an import whose derived Service is
/// `derived` (`None`: headless, or the import is being deleted).
pub fn plan(marks: &SliceMarks, derived: Option<&str>) -> SliceLabelAction {
    if marks.managed_by_causeway {
        return SliceLabelAction::Nothing;
    }
    match (derived, marks.service_name.as_ref()) {
        (Some(want), Some(have)) if have == want => SliceLabelAction::Nothing,
        (Some(want), None) => SliceLabelAction::Add(want.to_owned()),
        (Some(want), Some(_)) if marks.added_by_us => SliceLabelAction::Add(want.to_owned()),
        (Some(want), Some(have)) => SliceLabelAction::Conflict {
            existing: have.clone(),
            wanted: want.to_owned(),
        },
        (None, _) if marks.added_by_us => SliceLabelAction::Remove,
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
                plan(&SliceMarks::of(&labels, &annotations), derived),
                want,
                "{labels:?} {annotations:?} {derived:?}"
            );
        }
    }
}
