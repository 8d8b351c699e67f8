//! Who may take part in the sync (mcs-spec.md §7.2, §7.3): this cluster and each peer must carry
//! the same ClusterProperty `clusterset.k8s.io`, and no two members may share a cluster id. Pure:
//! the engine passes what the caches say.
//!
//! Data flow: each pass hands [`judge`] this cluster's id and clusterset and, per peer, its Secret,
//! its cluster id as read on its current connection and its clusterset (both unknown until
//! listed); it returns per peer `None` (may take part, or not known yet: the usual hold rules
//! apply) or an [`Exclusion`]. An excluded peer contributes nothing (its endpoints and the imports
//! only it exported are withdrawn) and its ClusterSetMember says why (`Reachable=False`).
//! Without a `clusterset.k8s.io` of its own this cluster is no member: every peer is excluded and
//! the engine pauses the sync (nothing written, nothing deleted) until `causeway join` sets it.

use std::collections::HashMap;

use causeway_api::clusterset_member::condition::reachable;
use causeway_api::names::{PROPERTY_CLUSTER_ID, PROPERTY_CLUSTERSET};
use k8s_openapi::jiff::Timestamp;

/// What is known of one peer.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Its Secret's name.
    pub secret: &'a str,
    /// Its Secret's creation time: of two members with one id, the later is excluded.
    pub created: Option<Timestamp>,
    /// Its cluster id, read on its current connection (`None` while not connected).
    pub cluster_id: Option<&'a str>,
    /// Its `clusterset.k8s.io`.
    pub clusterset: Clusterset<&'a str>,
}

/// A cluster's ClusterProperty `clusterset.k8s.io`, as far as known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clusterset<S> {
    /// Its ClusterProperties have not been listed yet.
    Unknown,
    /// Listed: it has none (not a member of any clusterset).
    Absent,
    /// Listed: its value.
    Named(S),
}

impl Clusterset<String> {
    /// Borrows the value.
    pub fn as_deref(&self) -> Clusterset<&str> {
        match self {
            Self::Unknown => Clusterset::Unknown,
            Self::Absent => Clusterset::Absent,
            Self::Named(s) => Clusterset::Named(s),
        }
    }
}

/// Why a peer takes no part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exclusion {
    /// `NotInClusterSet` or `DuplicateClusterID` (the `Reachable=False` reason).
    pub reason: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Each peer's exclusion, in the order of `peers`.
pub fn judge(
    local_id: &str,
    local_clusterset: Clusterset<&str>,
    peers: &[Candidate<'_>],
) -> Vec<Option<Exclusion>> {
    let duplicates = duplicates(local_id, peers);
    peers
        .iter()
        .zip(duplicates)
        .map(|(peer, duplicate)| {
            if local_clusterset == Clusterset::Absent {
                return Some(local_not_member(local_id));
            }
            if let Some(dup) = duplicate {
                return Some(dup);
            }
            let Clusterset::Named(local) = local_clusterset else {
                return None;
            };
            let cluster = peer.cluster_id.unwrap_or(peer.secret);
            match peer.clusterset {
                Clusterset::Unknown => None,
                Clusterset::Named(v) if v == local => None,
                Clusterset::Named(v) => Some(Exclusion {
                    reason: reachable::NOT_IN_CLUSTER_SET,
                    message: format!(
                        "cluster {cluster} is in clusterset {v:?} (its ClusterProperty {PROPERTY_CLUSTERSET}), this cluster in {local:?}: a cluster belongs to one clusterset, so it is not synced; remove peer Secret {} or move one of the clusters (delete its {PROPERTY_CLUSTERSET} and its peer Secrets, then `causeway join --clusterset {local}`)",
                        peer.secret
                    ),
                }),
                Clusterset::Absent => Some(Exclusion {
                    reason: reachable::NOT_IN_CLUSTER_SET,
                    message: format!(
                        "cluster {cluster} has no ClusterProperty {PROPERTY_CLUSTERSET} (this cluster is in clusterset {local:?}), so it is no member and is not synced; run `causeway join` for it or remove peer Secret {}",
                        peer.secret
                    ),
                }),
            }
        })
        .collect()
}

fn local_not_member(local_id: &str) -> Exclusion {
    Exclusion {
        reason: reachable::NOT_IN_CLUSTER_SET,
        message: format!(
            "this cluster ({local_id}) has no ClusterProperty {PROPERTY_CLUSTERSET}: it is not a clusterset member, so the sync is paused; run `causeway join` (it sets the property)"
        ),
    }
}

/// Per peer, a `DuplicateClusterID` exclusion when this cluster or an earlier Secret (creation
/// time, then name) already has its cluster id.
fn duplicates(local_id: &str, peers: &[Candidate<'_>]) -> Vec<Option<Exclusion>> {
    let mut order: Vec<usize> = (0..peers.len()).collect();
    order.sort_by(|&a, &b| {
        (peers[a].created, peers[a].secret).cmp(&(peers[b].created, peers[b].secret))
    });
    let mut owner: HashMap<&str, Option<&str>> = HashMap::from([(local_id, None)]);
    let mut out = vec![None; peers.len()];
    for i in order {
        let Some(id) = peers[i].cluster_id else {
            continue;
        };
        match owner.get(id) {
            None => {
                owner.insert(id, Some(peers[i].secret));
            }
            Some(first) => {
                let holder = first.map_or_else(
                    || "this cluster".to_owned(),
                    |s| format!("the member of peer Secret {s}"),
                );
                out[i] = Some(Exclusion {
                    reason: reachable::DUPLICATE_CLUSTER_ID,
                    message: format!(
                        "cluster id {id} (ClusterProperty {PROPERTY_CLUSTER_ID}) is already used by {holder}: two members must not share an id, so this member is not synced; delete peer Secret {} if it points at the same cluster, or give one cluster another id before it joins",
                        peers[i].secret
                    ),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Clusterset::{Absent, Named, Unknown};
    use super::*;

    fn peer<'a>(
        secret: &'a str,
        created: &str,
        id: Option<&'a str>,
        set: Clusterset<&'a str>,
    ) -> Candidate<'a> {
        Candidate {
            secret,
            created: Some(created.parse().expect("timestamp")),
            cluster_id: id,
            clusterset: set,
        }
    }

    fn reasons(out: &[Option<Exclusion>]) -> Vec<Option<&'static str>> {
        out.iter().map(|e| e.as_ref().map(|e| e.reason)).collect()
    }

    const T1: &str = "2025-01-01T00:00:00Z";
    const T2: &str = "2025-01-02T00:00:00Z";

    #[test]
    fn peers_of_the_same_clusterset_take_part() {
        let peers = [peer("peer-c2", T1, Some("c2"), Named("cs"))];
        assert_eq!(reasons(&judge("c1", Named("cs"), &peers)), vec![None]);
    }

    #[test]
    fn a_peer_of_another_clusterset_or_none_is_excluded_naming_both_values() {
        let peers = [
            peer("peer-c2", T1, Some("c2"), Named("other")),
            peer("peer-c3", T1, Some("c3"), Absent),
        ];
        let out = judge("c1", Named("cs"), &peers);
        assert_eq!(
            reasons(&out),
            vec![Some("NotInClusterSet"), Some("NotInClusterSet")]
        );
        let msg = &out[0].as_ref().expect("excluded").message;
        assert!(msg.contains("\"other\"") && msg.contains("\"cs\""), "{msg}");
        let msg = &out[1].as_ref().expect("excluded").message;
        assert!(
            msg.contains("has no ClusterProperty clusterset.k8s.io"),
            "{msg}"
        );
        assert!(msg.contains("causeway join"), "{msg}");
    }

    #[test]
    fn unknown_membership_excludes_nobody() {
        let peers = [peer("peer-c2", T1, None, Unknown)];
        assert_eq!(reasons(&judge("c1", Named("cs"), &peers)), vec![None]);
        let peers = [peer("peer-c2", T1, Some("c2"), Named("other"))];
        assert_eq!(reasons(&judge("c1", Unknown, &peers)), vec![None]);
    }

    #[test]
    fn without_its_own_membership_this_cluster_excludes_every_peer() {
        let peers = [
            peer("peer-c2", T1, Some("c2"), Named("cs")),
            peer("peer-c3", T1, None, Unknown),
        ];
        let out = judge("c1", Absent, &peers);
        assert_eq!(
            reasons(&out),
            vec![Some("NotInClusterSet"), Some("NotInClusterSet")]
        );
        let msg = &out[1].as_ref().expect("excluded").message;
        assert!(
            msg.contains("this cluster (c1)") && msg.contains("causeway join"),
            "{msg}"
        );
    }

    #[test]
    fn the_later_of_two_members_with_one_id_is_a_duplicate() {
        // Given in reverse order: creation time decides, not position.
        let peers = [
            peer("peer-b", T2, Some("c2"), Named("cs")),
            peer("peer-a", T1, Some("c2"), Named("cs")),
            peer("peer-c", T1, Some("c3"), Named("cs")),
        ];
        let out = judge("c1", Named("cs"), &peers);
        assert_eq!(reasons(&out), vec![Some("DuplicateClusterID"), None, None]);
        let msg = &out[0].as_ref().expect("excluded").message;
        assert!(
            msg.contains("c2") && msg.contains("peer Secret peer-a"),
            "{msg}"
        );
    }

    #[test]
    fn a_peer_with_this_clusters_id_is_a_duplicate() {
        let peers = [peer("peer-self", T1, Some("c1"), Named("cs"))];
        let out = judge("c1", Named("cs"), &peers);
        assert_eq!(reasons(&out), vec![Some("DuplicateClusterID")]);
        let msg = &out[0].as_ref().expect("excluded").message;
        assert!(msg.contains("this cluster"), "{msg}");
    }

    #[test]
    fn a_peer_not_connected_claims_no_id() {
        let peers = [
            peer("peer-a", T1, None, Unknown),
            peer("peer-b", T2, Some("c2"), Named("cs")),
        ];
        assert_eq!(reasons(&judge("c1", Named("cs"), &peers)), vec![None, None]);
    }
}
