//! Two hubs on one bus, as two nodes of a cluster: presence and watchers are seen from both.

use eddy_bus::{Bus, InProcessBus};
use eddy_realtime::cluster::{SILENCE_LIMIT, SNAPSHOT_EVERY};
use eddy_realtime::{run_cluster_reports, run_delivery, Hub};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

const CID: &str = "messaging:x";

/// A hub wired to the bus like a node: delivery plus its reports; returns the reporter task.
fn node(bus: &Arc<dyn Bus>) -> (Arc<Hub>, JoinHandle<()>) {
    let hub = Arc::new(Hub::new());
    tokio::spawn(run_delivery(hub.clone(), bus.subscribe()));
    let reporter = tokio::spawn(run_cluster_reports(hub.clone(), bus.clone()));
    (hub, reporter)
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(start_paused = true)]
async fn presence_and_watchers_are_cluster_wide() {
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new(1024));
    let (a, _) = node(&bus);
    let (b, _) = node(&bus);
    let _alice = a.register(1, "alice", "a1".into());
    a.watch(1, "a1", CID);
    let _bob = b.register(1, "bob", "b1".into());
    let change = b.watch(1, "b1", CID).unwrap();
    assert!(change.user_started);
    settle().await;

    assert!(b.is_online(1, "alice"));
    assert!(!b.is_online(2, "alice"), "apps stay apart");
    assert!(b.online_elsewhere(1, "alice"));
    assert!(!a.online_elsewhere(1, "alice"));
    assert_eq!(a.online_users(1), ["alice", "bob"]);
    assert_eq!(b.watching_users(1, CID), ["alice", "bob"]);
    assert_eq!(a.watcher_count(1, CID), 2);

    // Alice's last connection closes: the other node hears of it at once, not at the next snapshot.
    let stopped = a.unregister("a1");
    assert_eq!(stopped.len(), 1);
    assert!(stopped[0].user_stopped);
    settle().await;
    assert!(!b.is_online(1, "alice"));
    assert_eq!(b.watching_users(1, CID), ["bob"]);
    assert_eq!(
        a.watcher_count(1, CID),
        1,
        "bob still watches on the other node"
    );
}

#[tokio::test(start_paused = true)]
async fn a_user_online_elsewhere_is_not_settled_offline() {
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new(1024));
    let (a, _) = node(&bus);
    let (b, _) = node(&bus);
    let _on_a = a.register(1, "carol", "a1".into());
    let _on_b = b.register(1, "carol", "b1".into());
    settle().await;
    let generation = b.generation(1, "carol");
    b.unregister("b1");
    assert!(b.is_online(1, "carol"), "still connected to the other node");
    assert!(!b.settle_offline(1, "carol", generation));
    a.unregister("a1");
    settle().await;
    assert!(!b.is_online(1, "carol"));
    assert!(b.settle_offline(1, "carol", generation));
}

#[tokio::test(start_paused = true)]
async fn a_node_that_goes_silent_is_forgotten() {
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new(1024));
    let (a, a_reporter) = node(&bus);
    let (b, _) = node(&bus);
    let _dave = a.register(1, "dave", "a1".into());
    a.watch(1, "a1", CID);
    settle().await;
    assert!(b.is_online(1, "dave"));
    assert_eq!(b.remote_node_count(), 1);

    // Node a dies without a word: its reports stop.
    a_reporter.abort();
    tokio::time::sleep(SNAPSHOT_EVERY).await;
    assert!(
        b.is_online(1, "dave"),
        "within the silence limit the last report stands"
    );
    tokio::time::sleep(SILENCE_LIMIT + SNAPSHOT_EVERY).await;
    assert!(!b.is_online(1, "dave"));
    assert_eq!(b.watcher_count(1, CID), 0);
    assert_eq!(b.remote_node_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_node_that_joins_late_learns_the_others_from_their_snapshots() {
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new(1024));
    let (a, _) = node(&bus);
    let _erin = a.register(1, "erin", "a1".into());
    a.watch(1, "a1", CID);
    settle().await;
    let (late, _) = node(&bus);
    assert!(!late.is_online(1, "erin"), "nothing heard yet");
    tokio::time::sleep(SNAPSHOT_EVERY).await;
    assert!(late.is_online(1, "erin"));
    assert_eq!(late.watching_users(1, CID), ["erin"]);
}
