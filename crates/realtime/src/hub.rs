//! Connection registry and fan-out, behind one short-held lock.

use crate::cluster::{Change, NodeReport, RemoteNodes};
use eddy_bus::{Audience, Envelope};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, Notify};

/// Frames a connection's queue holds before the connection is dropped as too slow.
pub const QUEUE_CAPACITY: usize = 1024;

type AppId = i64;

/// What the socket task should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    Text(Arc<str>),
    /// Close with this code and reason (e.g. the queue overflowed).
    Close(u16, &'static str),
}

struct Connection {
    app: AppId,
    user_id: String,
    sender: mpsc::Sender<Outbound>,
    watching: HashSet<String>,
    /// Users whose presence this connection follows.
    following: HashSet<String>,
}

#[derive(Default)]
struct State {
    connections: HashMap<String, Connection>,
    by_user: HashMap<(AppId, String), Vec<String>>,
    watchers: HashMap<(AppId, String), HashSet<String>>,
    /// Presence subscribers: followed user -> connections.
    followers: HashMap<(AppId, String), HashSet<String>>,
    /// Registrations per user, so an offline decision can tell whether the user came back meanwhile.
    generations: HashMap<(AppId, String), u64>,
    /// Whether other nodes are told of changes (`Hub::start_reporting`); unset, nothing is recorded.
    reporting: bool,
    /// Changes of this node's state not yet reported to the other nodes.
    pending: Vec<Change>,
}

impl State {
    /// Users watching `cid` on this node, each once.
    fn local_watching_users(&self, app: AppId, cid: &str) -> HashSet<&str> {
        self.watchers
            .get(&(app, cid.to_owned()))
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| self.connections.get(id))
                    .map(|c| c.user_id.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn record(&mut self, change: Change) {
        if self.reporting {
            self.pending.push(change);
        }
    }

    fn record_watching(&mut self, app: AppId, cid: &str, user_id: &str, watching: bool) {
        self.record(Change::Watching {
            app,
            cid: cid.to_owned(),
            user_id: user_id.to_owned(),
            watching,
        });
    }

    fn user_watches(&self, app: AppId, user_id: &str, cid: &str) -> bool {
        self.by_user
            .get(&(app, user_id.to_owned()))
            .is_some_and(|ids| {
                ids.iter().any(|id| {
                    self.connections
                        .get(id)
                        .is_some_and(|c| c.watching.contains(cid))
                })
            })
    }
}

/// A registered connection's receiving end, owned by the socket task.
pub struct ConnectionHandle {
    pub connection_id: String,
    pub receiver: mpsc::Receiver<Outbound>,
}

/// Result of starting to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchChange {
    /// The user went from no watching connection to one.
    pub user_started: bool,
    pub watcher_count: usize,
}

/// A channel a closing connection stopped watching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwatched {
    pub cid: String,
    /// The user has no other connection watching it.
    pub user_stopped: bool,
    pub watcher_count: usize,
}

pub struct Hub {
    state: Mutex<State>,
    /// This node's name in reports to the other nodes.
    node_id: String,
    /// What the other nodes reported (locked after `state` when both are held).
    remote: Mutex<RemoteNodes>,
    changes_ready: Notify,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            state: Mutex::default(),
            node_id: uuid::Uuid::new_v4().to_string(),
            remote: Mutex::default(),
            changes_ready: Notify::new(),
        }
    }
}

impl Hub {
    pub fn new() -> Self {
        Hub::default()
    }

    fn remote(&self) -> MutexGuard<'_, RemoteNodes> {
        self.remote
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// From now on, changes of this node's state are recorded for `take_changes`.
    pub fn start_reporting(&self) {
        self.lock().reporting = true;
    }

    /// Resolves once changes wait to be reported.
    pub async fn changes_ready(&self) {
        self.changes_ready.notified().await;
    }

    /// The changes recorded since the last call (or snapshot), in order.
    pub fn take_changes(&self) -> Vec<Change> {
        std::mem::take(&mut self.lock().pending)
    }

    /// This node's whole state as changes from nothing; what was pending is part of it.
    pub fn snapshot(&self) -> Vec<Change> {
        let mut state = self.lock();
        state.pending.clear();
        let mut changes: Vec<Change> = state
            .by_user
            .keys()
            .map(|(app, user_id)| Change::Online {
                app: *app,
                user_id: user_id.clone(),
                online: true,
            })
            .collect();
        for (app, cid) in state.watchers.keys() {
            for user_id in state.local_watching_users(*app, cid) {
                changes.push(Change::Watching {
                    app: *app,
                    cid: cid.clone(),
                    user_id: user_id.to_owned(),
                    watching: true,
                });
            }
        }
        changes
    }

    /// Takes in another node's report (this node's own reports are ignored).
    pub fn apply_report(&self, report: &NodeReport) {
        if report.node != self.node_id {
            self.remote().apply(report, tokio::time::Instant::now());
        }
    }

    /// Forgets nodes that went silent; returns how many.
    pub fn forget_silent_nodes(&self) -> usize {
        self.remote().forget_silent(tokio::time::Instant::now())
    }

    /// Other nodes currently known.
    pub fn remote_node_count(&self) -> usize {
        self.remote().node_count()
    }

    /// Whether the user has a connection on another node.
    pub fn online_elsewhere(&self, app: AppId, user_id: &str) -> bool {
        self.remote().is_online(app, user_id)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind; keep serving with them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn register(&self, app: AppId, user_id: &str, connection_id: String) -> ConnectionHandle {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let mut state = self.lock();
        let connections = state.by_user.entry((app, user_id.to_owned())).or_default();
        connections.push(connection_id.clone());
        if connections.len() == 1 {
            state.record(Change::Online {
                app,
                user_id: user_id.to_owned(),
                online: true,
            });
        }
        *state
            .generations
            .entry((app, user_id.to_owned()))
            .or_default() += 1;
        state.connections.insert(
            connection_id.clone(),
            Connection {
                app,
                user_id: user_id.to_owned(),
                sender,
                watching: HashSet::new(),
                following: HashSet::new(),
            },
        );
        drop(state);
        self.changes_ready.notify_one();
        ConnectionHandle {
            connection_id,
            receiver,
        }
    }

    /// Removes a connection and its watches; reports the channels it watched.
    pub fn unregister(&self, connection_id: &str) -> Vec<Unwatched> {
        let mut state = self.lock();
        let Some(connection) = state.connections.remove(connection_id) else {
            return Vec::new();
        };
        let key = (connection.app, connection.user_id.clone());
        if let Some(ids) = state.by_user.get_mut(&key) {
            ids.retain(|id| id != connection_id);
            if ids.is_empty() {
                state.by_user.remove(&key);
            }
        }
        for followed in &connection.following {
            let follow_key = (connection.app, followed.clone());
            if let Some(ids) = state.followers.get_mut(&follow_key) {
                ids.remove(connection_id);
                if ids.is_empty() {
                    state.followers.remove(&follow_key);
                }
            }
        }
        let mut changes = Vec::new();
        for cid in connection.watching {
            let watch_key = (connection.app, cid.clone());
            if let Some(ids) = state.watchers.get_mut(&watch_key) {
                ids.remove(connection_id);
                if ids.is_empty() {
                    state.watchers.remove(&watch_key);
                }
            }
            let user_stopped = !state.user_watches(connection.app, &connection.user_id, &cid);
            if user_stopped {
                state.record_watching(connection.app, &cid, &connection.user_id, false);
            }
            changes.push(Unwatched {
                cid,
                user_stopped,
                watcher_count: 0,
            });
        }
        if !state.by_user.contains_key(&key) {
            state.record(Change::Online {
                app: connection.app,
                user_id: connection.user_id.clone(),
                online: false,
            });
        }
        drop(state);
        for change in &mut changes {
            change.watcher_count = self.watcher_count(connection.app, &change.cid);
        }
        self.changes_ready.notify_one();
        changes
    }

    /// The user of a live connection of `app`, if it exists.
    pub fn connection_user(&self, app: AppId, connection_id: &str) -> Option<String> {
        let state = self.lock();
        state
            .connections
            .get(connection_id)
            .filter(|c| c.app == app)
            .map(|c| c.user_id.clone())
    }

    /// Subscribes a connection to a channel's events; `None` if the connection is unknown.
    pub fn watch(&self, app: AppId, connection_id: &str, cid: &str) -> Option<WatchChange> {
        let mut state = self.lock();
        let connection = state
            .connections
            .get(connection_id)
            .filter(|c| c.app == app)?;
        let user_id = connection.user_id.clone();
        let user_started = !state.user_watches(app, &user_id, cid);
        if let Some(connection) = state.connections.get_mut(connection_id) {
            if !connection.watching.insert(cid.to_owned()) {
                drop(state);
                return Some(WatchChange {
                    user_started: false,
                    watcher_count: self.watcher_count(app, cid),
                });
            }
        }
        state
            .watchers
            .entry((app, cid.to_owned()))
            .or_default()
            .insert(connection_id.to_owned());
        if user_started {
            state.record_watching(app, cid, &user_id, true);
        }
        drop(state);
        self.changes_ready.notify_one();
        Some(WatchChange {
            user_started,
            watcher_count: self.watcher_count(app, cid),
        })
    }

    /// Unsubscribes; returns whether the user stopped watching altogether and the new count.
    pub fn stop_watching(&self, app: AppId, connection_id: &str, cid: &str) -> Option<Unwatched> {
        let mut state = self.lock();
        let connection = state
            .connections
            .get_mut(connection_id)
            .filter(|c| c.app == app)?;
        if !connection.watching.remove(cid) {
            return None;
        }
        let user_id = connection.user_id.clone();
        let key = (app, cid.to_owned());
        if let Some(ids) = state.watchers.get_mut(&key) {
            ids.remove(connection_id);
            if ids.is_empty() {
                state.watchers.remove(&key);
            }
        }
        let user_stopped = !state.user_watches(app, &user_id, cid);
        if user_stopped {
            state.record_watching(app, cid, &user_id, false);
        }
        drop(state);
        self.changes_ready.notify_one();
        Some(Unwatched {
            cid: cid.to_owned(),
            user_stopped,
            watcher_count: self.watcher_count(app, cid),
        })
    }

    /// Makes a connection follow these users' presence (until it closes).
    pub fn follow_presence(&self, app: AppId, connection_id: &str, user_ids: &[String]) {
        let mut state = self.lock();
        let Some(connection) = state
            .connections
            .get_mut(connection_id)
            .filter(|c| c.app == app)
        else {
            return;
        };
        let added: Vec<String> = user_ids
            .iter()
            .filter(|id| connection.following.insert((*id).clone()))
            .cloned()
            .collect();
        for user_id in added {
            state
                .followers
                .entry((app, user_id))
                .or_default()
                .insert(connection_id.to_owned());
        }
    }

    /// A number that changes whenever the user opens a connection.
    pub fn generation(&self, app: AppId, user_id: &str) -> u64 {
        self.lock()
            .generations
            .get(&(app, user_id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Whether the user is offline and has not connected since `generation` was read; forgets the
    /// user's generation when so (nothing more to tell apart).
    pub fn settle_offline(&self, app: AppId, user_id: &str, generation: u64) -> bool {
        let mut state = self.lock();
        let key = (app, user_id.to_owned());
        let settled = !state.by_user.contains_key(&key)
            && state.generations.get(&key).copied().unwrap_or(0) == generation
            && !self.remote().is_online(app, user_id);
        if settled {
            state.generations.remove(&key);
        }
        settled
    }

    /// How many live connections a user has on this node.
    pub fn connection_count_of(&self, app: AppId, user_id: &str) -> usize {
        self.lock()
            .by_user
            .get(&(app, user_id.to_owned()))
            .map_or(0, Vec::len)
    }

    /// Distinct users watching `cid` on any node.
    pub fn watcher_count(&self, app: AppId, cid: &str) -> usize {
        self.watching_users(app, cid).len()
    }

    /// Users watching `cid` on any node, each once, sorted.
    pub fn watching_users(&self, app: AppId, cid: &str) -> Vec<String> {
        let mut users: Vec<String> = {
            let state = self.lock();
            state
                .local_watching_users(app, cid)
                .into_iter()
                .map(str::to_owned)
                .collect()
        };
        users.extend(self.remote().watching_users(app, cid).cloned());
        users.sort();
        users.dedup();
        users
    }

    /// Users of `app` with at least one live connection on any node.
    pub fn online_users(&self, app: AppId) -> Vec<String> {
        let mut users: Vec<String> = self
            .lock()
            .by_user
            .keys()
            .filter(|(user_app, _)| *user_app == app)
            .map(|(_, user_id)| user_id.clone())
            .collect();
        users.extend(self.remote().online_users(app).cloned());
        users.sort();
        users.dedup();
        users
    }

    /// Whether the user has a live connection on any node.
    pub fn is_online(&self, app: AppId, user_id: &str) -> bool {
        self.lock().by_user.contains_key(&(app, user_id.to_owned()))
            || self.remote().is_online(app, user_id)
    }

    pub fn connection_count(&self) -> usize {
        self.lock().connections.len()
    }

    /// Sends to one connection (health checks and replies), dropping it if its queue is full.
    pub fn send_to(&self, connection_id: &str, frame: Outbound) {
        let mut overflowed = false;
        if let Some(connection) = self.lock().connections.get(connection_id) {
            overflowed = connection.sender.try_send(frame).is_err();
        }
        if overflowed {
            self.drop_slow(connection_id);
        }
    }

    fn drop_slow(&self, connection_id: &str) {
        tracing::warn!(connection_id, "connection queue overflowed; closing it");
        if let Some(connection) = self.lock().connections.get(connection_id) {
            // The socket task closes on this or on the sender's drop when unregistered.
            let _ = connection
                .sender
                .try_send(Outbound::Close(4008, "event queue overflow"));
        }
        self.unregister(connection_id);
    }

    /// Routes an envelope to this node's recipients.
    pub fn deliver(&self, envelope: &Envelope) {
        let mut overflowed = Vec::new();
        {
            let state = self.lock();
            let mut targets: HashSet<&str> = HashSet::new();
            for audience in &envelope.audiences {
                match audience {
                    // Node reports are for the hub (`run_delivery`), never for sockets.
                    Audience::Nodes => {}
                    Audience::Watchers { cid } => {
                        if let Some(ids) = state.watchers.get(&(envelope.app, cid.clone())) {
                            targets.extend(ids.iter().map(String::as_str));
                        }
                    }
                    Audience::Users { user_ids } => {
                        for user_id in user_ids {
                            if let Some(ids) = state.by_user.get(&(envelope.app, user_id.clone())) {
                                targets.extend(ids.iter().map(String::as_str));
                            }
                        }
                    }
                    Audience::PresenceOf { user_ids } => {
                        for user_id in user_ids {
                            let key = (envelope.app, user_id.clone());
                            if let Some(ids) = state.followers.get(&key) {
                                targets.extend(ids.iter().map(String::as_str));
                            }
                            if let Some(ids) = state.by_user.get(&key) {
                                targets.extend(ids.iter().map(String::as_str));
                            }
                        }
                    }
                    Audience::UsersNotWatching { cid, user_ids }
                    | Audience::UsersWatching { cid, user_ids } => {
                        let want_watching = matches!(audience, Audience::UsersWatching { .. });
                        for user_id in user_ids {
                            if let Some(ids) = state.by_user.get(&(envelope.app, user_id.clone())) {
                                for id in ids {
                                    let watching = state
                                        .connections
                                        .get(id)
                                        .is_some_and(|c| c.watching.contains(cid));
                                    if watching == want_watching {
                                        targets.insert(id.as_str());
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for id in targets {
                if let Some(connection) = state.connections.get(id) {
                    if envelope.excludes(&connection.user_id) {
                        continue;
                    }
                    let frame = envelope.frame_for(&connection.user_id);
                    if connection.sender.try_send(Outbound::Text(frame)).is_err() {
                        overflowed.push(id.to_owned());
                    }
                }
            }
        }
        for id in overflowed {
            self.drop_slow(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(outbound: Option<Outbound>) -> String {
        match outbound {
            Some(Outbound::Text(text)) => text.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn watchers_get_channel_events_and_others_do_not() {
        let hub = Hub::new();
        let mut alice = hub.register(1, "alice", "c1".into());
        let mut bob = hub.register(1, "bob", "c2".into());
        let change = hub.watch(1, "c1", "messaging:x").unwrap();
        assert_eq!(
            change,
            WatchChange {
                user_started: true,
                watcher_count: 1
            }
        );
        hub.deliver(&Envelope::new(
            1,
            vec![Audience::Watchers {
                cid: "messaging:x".into(),
            }],
            &json!({"n": 1}),
        ));
        assert_eq!(text(alice.receiver.try_recv().ok()), r#"{"n":1}"#);
        assert!(bob.receiver.try_recv().is_err());
    }

    #[test]
    fn excluded_users_get_nothing_whatever_the_audience() {
        let hub = Hub::new();
        let mut alice = hub.register(1, "alice", "a1".into());
        let mut bob = hub.register(1, "bob", "b1".into());
        hub.watch(1, "a1", "m:x");
        hub.watch(1, "b1", "m:x");
        let mut envelope = Envelope::new(
            1,
            vec![
                Audience::Watchers { cid: "m:x".into() },
                Audience::Users {
                    user_ids: vec!["alice".into(), "bob".into()],
                },
            ],
            &json!({"type": "message.new"}),
        );
        envelope.except = vec!["alice".into()];
        hub.deliver(&envelope);
        assert!(alice.receiver.try_recv().is_err());
        assert_eq!(
            text(bob.receiver.try_recv().ok()),
            r#"{"type":"message.new"}"#
        );
    }

    #[test]
    fn apps_are_isolated() {
        let hub = Hub::new();
        let mut other_app = hub.register(2, "alice", "c1".into());
        assert!(hub.watch(1, "c1", "messaging:x").is_none());
        hub.deliver(&Envelope::new(
            1,
            vec![Audience::Users {
                user_ids: vec!["alice".into()],
            }],
            &json!({}),
        ));
        assert!(other_app.receiver.try_recv().is_err());
    }

    #[test]
    fn watcher_count_counts_users_not_connections() {
        let hub = Hub::new();
        let _a = hub.register(1, "alice", "a1".into());
        let _b = hub.register(1, "alice", "a2".into());
        assert!(hub.watch(1, "a1", "m:x").unwrap().user_started);
        let second = hub.watch(1, "a2", "m:x").unwrap();
        assert_eq!(
            second,
            WatchChange {
                user_started: false,
                watcher_count: 1
            }
        );
        let gone = hub.unregister("a1");
        assert_eq!(
            gone,
            vec![Unwatched {
                cid: "m:x".into(),
                user_stopped: false,
                watcher_count: 1
            }]
        );
        let last = hub.stop_watching(1, "a2", "m:x").unwrap();
        assert!(last.user_stopped);
        assert_eq!(last.watcher_count, 0);
    }

    #[test]
    fn notifications_skip_watching_connections() {
        let hub = Hub::new();
        let mut watching = hub.register(1, "bob", "b1".into());
        let mut idle = hub.register(1, "bob", "b2".into());
        hub.watch(1, "b1", "m:x");
        hub.deliver(&Envelope::new(
            1,
            vec![Audience::UsersNotWatching {
                cid: "m:x".into(),
                user_ids: vec!["bob".into()],
            }],
            &json!({"type": "notification.message_new"}),
        ));
        assert!(watching.receiver.try_recv().is_err());
        assert!(idle.receiver.try_recv().is_ok());
    }

    #[test]
    fn presence_followers_and_the_user_get_presence_events_until_they_close() {
        let hub = Hub::new();
        let mut follower = hub.register(1, "fan", "f1".into());
        let mut star = hub.register(1, "star", "s1".into());
        let mut stranger = hub.register(1, "other", "o1".into());
        hub.follow_presence(1, "f1", &["star".to_owned()]);
        let presence = || {
            Envelope::new(
                1,
                vec![Audience::PresenceOf {
                    user_ids: vec!["star".into()],
                }],
                &json!({"type": "user.presence.changed"}),
            )
        };
        hub.deliver(&presence());
        assert!(follower.receiver.try_recv().is_ok());
        assert!(star.receiver.try_recv().is_ok());
        assert!(stranger.receiver.try_recv().is_err());
        hub.unregister("f1");
        hub.deliver(&presence());
        assert!(star.receiver.try_recv().is_ok());
        assert_eq!(hub.connection_count_of(1, "star"), 1);
    }

    #[test]
    fn a_full_queue_drops_the_connection_instead_of_growing() {
        let hub = Hub::new();
        let _stalled = hub.register(1, "slow", "s1".into());
        hub.watch(1, "s1", "m:x");
        for index in 0..=QUEUE_CAPACITY {
            hub.deliver(&Envelope::new(
                1,
                vec![Audience::Watchers { cid: "m:x".into() }],
                &json!({"i": index}),
            ));
        }
        assert_eq!(hub.connection_count(), 0);
        assert!(!hub.is_online(1, "slow"));
    }
}
