//! What the other nodes of a cluster report about their own connections (who is online, who watches
//! which channel), so presence, watcher counts and watcher lists are cluster-wide.
//!
//! Each node tells every node, over the bus (`Audience::Nodes`), the changes of its own state as they
//! happen (a user's first or last connection on it, a user starting or stopping to watch a channel on
//! it), and its whole state every `SNAPSHOT_EVERY` in chunks framed by `SnapshotBegin`/`SnapshotEnd`.
//! A receiver answers from what it last knew of a node until a snapshot is complete, then replaces it,
//! so lost changes heal within one period; a node silent for `SILENCE_LIMIT` (it died) is forgotten.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

type AppId = i64;

/// How often a node sends its whole state (which is also its heartbeat).
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(5);
/// A node not heard from for this long is forgotten with everything it reported.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(16);
/// Changes per report, so one report stays far below the bus's message size limit.
pub const CHANGES_PER_REPORT: usize = 2_000;

/// One report of a node about its own connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    pub node: String,
    pub body: ReportBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportBody {
    /// The changes that follow, up to `SnapshotEnd`, are the node's whole state.
    SnapshotBegin,
    Changes {
        changes: Vec<Change>,
    },
    SnapshotEnd,
    /// The node is shutting down.
    Leaving,
}

/// A change of one node's state, at user granularity (connections are the node's own business).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Online {
        app: AppId,
        user_id: String,
        online: bool,
    },
    Watching {
        app: AppId,
        cid: String,
        user_id: String,
        watching: bool,
    },
}

/// What one node holds, as it reported it.
#[derive(Default)]
struct NodeState {
    online: HashSet<(AppId, String)>,
    watching: HashMap<(AppId, String), HashSet<String>>,
}

impl NodeState {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::Online {
                app,
                user_id,
                online,
            } => {
                let key = (*app, user_id.clone());
                if *online {
                    self.online.insert(key);
                } else {
                    self.online.remove(&key);
                }
            }
            Change::Watching {
                app,
                cid,
                user_id,
                watching,
            } => {
                let key = (*app, cid.clone());
                if *watching {
                    self.watching
                        .entry(key)
                        .or_default()
                        .insert(user_id.clone());
                } else if let Some(users) = self.watching.get_mut(&key) {
                    users.remove(user_id);
                    if users.is_empty() {
                        self.watching.remove(&key);
                    }
                }
            }
        }
    }
}

struct RemoteNode {
    current: NodeState,
    /// A snapshot being received; replaces `current` when complete.
    incoming: Option<NodeState>,
    heard_at: Instant,
}

/// The other nodes, as they reported themselves.
#[derive(Default)]
pub struct RemoteNodes {
    nodes: HashMap<String, RemoteNode>,
}

impl RemoteNodes {
    pub fn apply(&mut self, report: &NodeReport, now: Instant) {
        if matches!(report.body, ReportBody::Leaving) {
            self.nodes.remove(&report.node);
            return;
        }
        let node = self
            .nodes
            .entry(report.node.clone())
            .or_insert_with(|| RemoteNode {
                current: NodeState::default(),
                incoming: None,
                heard_at: now,
            });
        node.heard_at = now;
        match &report.body {
            ReportBody::SnapshotBegin => node.incoming = Some(NodeState::default()),
            ReportBody::Changes { changes } => {
                for change in changes {
                    node.current.apply(change);
                    if let Some(incoming) = &mut node.incoming {
                        incoming.apply(change);
                    }
                }
            }
            ReportBody::SnapshotEnd => {
                if let Some(complete) = node.incoming.take() {
                    node.current = complete;
                }
            }
            ReportBody::Leaving => {}
        }
    }

    /// Forgets nodes not heard from within `SILENCE_LIMIT`; returns how many.
    pub fn forget_silent(&mut self, now: Instant) -> usize {
        let before = self.nodes.len();
        self.nodes
            .retain(|_, node| now.duration_since(node.heard_at) < SILENCE_LIMIT);
        before - self.nodes.len()
    }

    pub fn is_online(&self, app: AppId, user_id: &str) -> bool {
        let key = (app, user_id.to_owned());
        self.nodes.values().any(|n| n.current.online.contains(&key))
    }

    /// Users of `app` online on some other node.
    pub fn online_users(&self, app: AppId) -> impl Iterator<Item = &String> {
        self.nodes.values().flat_map(move |node| {
            node.current
                .online
                .iter()
                .filter(move |(user_app, _)| *user_app == app)
                .map(|(_, user_id)| user_id)
        })
    }

    /// Users watching `cid` on some other node (a user watching on two nodes appears twice).
    pub fn watching_users(&self, app: AppId, cid: &str) -> impl Iterator<Item = &String> {
        let key = (app, cid.to_owned());
        self.nodes
            .values()
            .filter_map(move |node| node.current.watching.get(&key))
            .flatten()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online(user_id: &str, online: bool) -> Change {
        Change::Online {
            app: 1,
            user_id: user_id.into(),
            online,
        }
    }

    fn watching(user_id: &str, watching: bool) -> Change {
        Change::Watching {
            app: 1,
            cid: "messaging:x".into(),
            user_id: user_id.into(),
            watching,
        }
    }

    fn report(body: ReportBody) -> NodeReport {
        NodeReport {
            node: "b".into(),
            body,
        }
    }

    fn changes(changes: Vec<Change>) -> NodeReport {
        report(ReportBody::Changes { changes })
    }

    fn watchers(remote: &RemoteNodes) -> Vec<String> {
        let mut users: Vec<String> = remote.watching_users(1, "messaging:x").cloned().collect();
        users.sort();
        users
    }

    #[tokio::test(start_paused = true)]
    async fn changes_apply_in_order_and_are_scoped_by_app() {
        let mut remote = RemoteNodes::default();
        let now = Instant::now();
        remote.apply(
            &changes(vec![online("alice", true), watching("alice", true)]),
            now,
        );
        assert!(remote.is_online(1, "alice"));
        assert!(!remote.is_online(2, "alice"));
        assert_eq!(watchers(&remote), ["alice"]);
        remote.apply(
            &changes(vec![watching("alice", false), online("alice", false)]),
            now,
        );
        assert!(!remote.is_online(1, "alice"));
        assert!(watchers(&remote).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_snapshot_replaces_what_was_known_and_keeps_later_changes() {
        let mut remote = RemoteNodes::default();
        let now = Instant::now();
        // A stale belief: the "offline" change for carol was lost.
        remote.apply(&changes(vec![online("carol", true)]), now);
        remote.apply(&report(ReportBody::SnapshotBegin), now);
        remote.apply(&changes(vec![online("alice", true)]), now);
        // Until the snapshot ends, answers come from the old state (plus live changes).
        assert!(remote.is_online(1, "carol"));
        remote.apply(&changes(vec![online("bob", true)]), now);
        remote.apply(&report(ReportBody::SnapshotEnd), now);
        assert!(!remote.is_online(1, "carol"));
        assert!(remote.is_online(1, "alice"));
        assert!(remote.is_online(1, "bob"));
        let mut users: Vec<&String> = remote.online_users(1).collect();
        users.sort();
        assert_eq!(users, ["alice", "bob"]);
    }

    #[tokio::test(start_paused = true)]
    async fn silent_and_leaving_nodes_are_forgotten() {
        let mut remote = RemoteNodes::default();
        let start = Instant::now();
        remote.apply(&changes(vec![online("alice", true)]), start);
        assert_eq!(remote.forget_silent(start + SNAPSHOT_EVERY), 0);
        assert!(remote.is_online(1, "alice"));
        assert_eq!(remote.forget_silent(start + SILENCE_LIMIT), 1);
        assert!(!remote.is_online(1, "alice"));
        remote.apply(&changes(vec![online("bob", true)]), start);
        remote.apply(&report(ReportBody::Leaving), start);
        assert_eq!(remote.node_count(), 0);
    }

    #[test]
    fn reports_travel_as_tagged_json() {
        let text = serde_json::to_string(&changes(vec![watching("alice", true)])).unwrap();
        assert_eq!(
            text,
            r#"{"node":"b","body":{"kind":"changes","changes":[{"change":"watching","app":1,"cid":"messaging:x","user_id":"alice","watching":true}]}}"#
        );
        let back: NodeReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, changes(vec![watching("alice", true)]));
    }
}
