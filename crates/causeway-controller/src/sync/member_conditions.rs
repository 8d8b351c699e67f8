//! What a ClusterSetMember's status should say, from what the sync knows of the member: its
//! cluster id, whether it is excluded (membership, duplicate id), connected, synced or failing
//! (since when, why) and the grace period. Pure: [`desired`] returns the conditions without timestamps (`conditions::merge`
//! stamps them, keeping `lastTransitionTime` while a status holds), or `None` while the member is
//! still coming up, so a restart that finds everything as before writes nothing.

use std::time::Duration;

use causeway_api::clusterset_member::condition::{REACHABLE, STALE, reachable, stale};
use causeway_core::conditions::DesiredCondition;
use k8s_openapi::jiff::Timestamp;

use super::failure::MemberFailure;
use super::membership::Exclusion;

/// A failing member, as the status shows it.
#[derive(Clone, Debug)]
pub struct FailingView {
    /// What is wrong.
    pub failure: MemberFailure,
    /// Since when (wall clock).
    pub since: Timestamp,
    /// For how long.
    pub elapsed: Duration,
}

/// What the sync knows of one member.
#[derive(Clone, Debug)]
pub struct MemberState<'a> {
    /// The peer's cluster id, if known (from this connection or the last recorded status).
    pub cluster_id: Option<&'a str>,
    /// Connected: its watches run.
    pub connected: bool,
    /// Every watch completed its first list.
    pub synced: bool,
    /// Failing, if it is.
    pub failing: Option<FailingView>,
    /// How long its current connection (or attempt) has existed.
    pub running_for: Duration,
    /// `--peer-grace`.
    pub grace: Duration,
    /// Why it takes no part in the sync (membership), if it does not.
    pub excluded: Option<&'a Exclusion>,
}

/// The status to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredMember {
    /// The peer's cluster id, when known.
    pub cluster_id: Option<String>,
    /// `Reachable` and `Stale`.
    pub conditions: [DesiredCondition; 2],
}

/// The member's desired status, or `None` while it is neither usable nor failing yet.
pub fn desired(member: &MemberState<'_>) -> Option<DesiredMember> {
    let whose = member.cluster_id.map_or_else(
        || "this member's endpoints".to_owned(),
        |id| format!("the endpoints of cluster {id}"),
    );
    let grace = member.grace.as_secs();
    let (reachable, stale) = if let Some(e) = member.excluded {
        (
            DesiredCondition::new(REACHABLE, "False", e.reason, e.message.clone()),
            DesiredCondition::new(
                STALE,
                "True",
                stale::EXCLUDED,
                format!("{whose} are not used: see Reachable"),
            ),
        )
    } else if let Some(f) = &member.failing {
        let since = seconds(f.since);
        let until = since.checked_add(member.grace).unwrap_or(since);
        let reachable = DesiredCondition::new(
            REACHABLE,
            "False",
            f.failure.reason.as_str(),
            f.failure.message(),
        );
        let stale = if f.elapsed < member.grace {
            DesiredCondition::new(
                STALE,
                "True",
                stale::IN_GRACE,
                format!(
                    "failing since {since}; {whose} are kept until {until} (--peer-grace {grace} s), then withdrawn"
                ),
            )
        } else {
            DesiredCondition::new(
                STALE,
                "True",
                stale::EXPIRED,
                format!("failing since {since}; {whose} were withdrawn at {until}"),
            )
        };
        (reachable, stale)
    } else if !member.connected {
        return None;
    } else {
        let id = member.cluster_id.unwrap_or_default();
        let reachable = DesiredCondition::new(
            REACHABLE,
            "True",
            reachable::CONNECTED,
            format!("reading cluster {id} with the peer Secret's credential"),
        );
        let stale = if member.synced {
            DesiredCondition::new(STALE, "False", stale::LIVE, format!("{whose} are current"))
        } else if member.running_for < member.grace {
            return None;
        } else {
            DesiredCondition::new(
                STALE,
                "True",
                stale::EXPIRED,
                format!(
                    "cluster {id} did not complete its first list within --peer-grace ({grace} s); {whose} are not used"
                ),
            )
        };
        (reachable, stale)
    };
    Some(DesiredMember {
        cluster_id: member.cluster_id.map(str::to_owned),
        conditions: [reachable, stale],
    })
}

/// `t` without its fraction of a second (messages stay short and stable).
fn seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

#[cfg(test)]
mod tests;
