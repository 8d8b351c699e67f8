//! `metav1.Condition` lists: replace one condition by type while keeping `lastTransitionTime`
//! when the status did not change (mcs-spec.md §1.7), and compare lists ignoring timestamps so
//! that an unchanged status is never written again.

use causeway_api::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A condition without its timestamp: what a reconciler decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCondition {
    /// Condition type.
    pub type_: &'static str,
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    /// Reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl DesiredCondition {
    /// A new desired condition.
    pub fn new(
        type_: &'static str,
        status: &'static str,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// `current` with each desired condition set: a condition whose status is unchanged keeps its
/// `lastTransitionTime`; others get `now`. Conditions of other types are kept.
pub fn merge(
    current: &[Condition],
    desired: &[DesiredCondition],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = current
        .iter()
        .filter(|c| !desired.iter().any(|d| d.type_ == c.type_))
        .cloned()
        .collect();
    for d in desired {
        let previous = current.iter().find(|c| c.type_ == d.type_);
        let last_transition_time = match previous {
            Some(p) if p.status == d.status => p.last_transition_time.clone(),
            _ => now.clone(),
        };
        out.push(Condition {
            type_: d.type_.to_owned(),
            status: d.status.to_owned(),
            reason: d.reason.clone(),
            message: d.message.clone(),
            last_transition_time,
            observed_generation: generation,
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// True when every desired condition is already present with the same status, reason, message
/// and observed generation: nothing to write.
pub fn up_to_date(
    current: &[Condition],
    desired: &[DesiredCondition],
    generation: Option<i64>,
) -> bool {
    desired.iter().all(|d| {
        current.iter().any(|c| {
            c.type_ == d.type_
                && c.status == d.status
                && c.reason == d.reason
                && c.message == d.message
                && c.observed_generation == generation
        })
    })
}

#[cfg(test)]
mod tests;
