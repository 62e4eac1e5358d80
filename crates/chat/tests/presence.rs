//! Presence rules: online on the first connection, offline only after the grace period (shortened here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eddy_bus::{Bus, InProcessBus};
use eddy_chat::Chat;
use eddy_realtime::{Hub, Outbound};
use eddy_store::sqlite::SqliteStore;
use eddy_store::{Store, User};
use std::sync::Arc;
use std::time::Duration;

/// Short, so the test runs in real time; far longer than the test's own steps take.
const GRACE: Duration = Duration::from_millis(1500);

async fn chat() -> (Chat, i64) {
    let path = std::env::temp_dir().join(format!(
        "eddy-presence-{}-{:?}.sqlite3",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let app = store
        .ensure_app("presence-key", "presence-secret", "p")
        .await
        .unwrap()
        .id;
    store
        .upsert_users(
            app,
            &[
                User::new("star".into(), "user"),
                User::new("fan".into(), "user"),
            ],
        )
        .await
        .unwrap();
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new(1024));
    let hub = Arc::new(Hub::new());
    tokio::spawn(eddy_realtime::run_delivery(hub.clone(), bus.subscribe()));
    let mut chat = Chat::new(store, bus, hub);
    chat.presence_grace = GRACE;
    (chat, app)
}

/// The next `user.presence.changed` on a connection's queue, as (user id, online).
async fn next_presence(handle: &mut eddy_realtime::ConnectionHandle) -> (String, bool) {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), handle.receiver.recv())
            .await
            .expect("an event")
            .expect("open");
        if let Outbound::Text(text) = frame {
            let event: serde_json::Value = serde_json::from_str(&text).unwrap();
            if event["type"] == "user.presence.changed" {
                return (
                    event["user"]["id"].as_str().unwrap().to_owned(),
                    event["user"]["online"].as_bool().unwrap(),
                );
            }
        }
    }
}

#[tokio::test]
async fn online_at_first_connection_and_offline_after_the_grace_period() {
    let (chat, app) = chat().await;
    let star = User::new("star".into(), "user");
    let mut fan = chat.hub.register(app, "fan", "fan-1".into());
    chat.hub.follow_presence(app, "fan-1", &["star".to_owned()]);

    let _first = chat.hub.register(app, "star", "star-1".into());
    chat.connection_opened(app, &star, false).await;
    assert_eq!(next_presence(&mut fan).await, ("star".into(), true));

    // A second connection and a quick reconnect produce no flapping.
    let _second = chat.hub.register(app, "star", "star-2".into());
    chat.connection_opened(app, &star, false).await;
    chat.connection_closed(app, &star, "star-1", false).await;
    chat.connection_closed(app, &star, "star-2", false).await;
    tokio::time::sleep(GRACE / 10).await;
    let _back = chat.hub.register(app, "star", "star-3".into());
    chat.connection_opened(app, &star, false).await;
    chat.connection_closed(app, &star, "star-3", false).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        next_presence(&mut fan).await,
        ("star".into(), false),
        "the reconnect announced nothing"
    );
    assert!(
        started.elapsed() >= GRACE,
        "offline comes a full grace period after the last close"
    );
    assert!(fan.receiver.try_recv().is_err(), "and only once");
    let stored = chat.store.users(app, &["star".into()]).await.unwrap();
    assert!(
        stored[0].last_active.is_some(),
        "going offline records last_active"
    );
}

#[tokio::test]
async fn invisible_and_anonymous_users_have_no_presence_events() {
    let (chat, app) = chat().await;
    let mut fan = chat.hub.register(app, "fan", "fan-1".into());
    chat.hub
        .follow_presence(app, "fan-1", &["star".to_owned(), "ghost".to_owned()]);
    let mut ghost = User::new("ghost".into(), "user");
    ghost
        .doc
        .insert("invisible".into(), serde_json::json!(true));
    let _ghost = chat.hub.register(app, "ghost", "ghost-1".into());
    chat.connection_opened(app, &ghost, false).await;
    let _anon = chat.hub.register(app, "star", "anon-1".into());
    chat.connection_opened(app, &User::new("star".into(), "anonymous"), true)
        .await;
    chat.connection_closed(app, &ghost, "ghost-1", false).await;
    tokio::time::sleep(GRACE * 2).await;
    assert!(
        fan.receiver.try_recv().is_err(),
        "no presence event was sent"
    );
}

/// Lets spawned tasks (the offline timer, the bus delivery) run to their next wait.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// The next presence event already queued, if any (no waiting: the clock is paused).
fn queued_presence(handle: &mut eddy_realtime::ConnectionHandle) -> Option<(String, bool)> {
    while let Ok(frame) = handle.receiver.try_recv() {
        if let Outbound::Text(text) = frame {
            let event: serde_json::Value = serde_json::from_str(&text).unwrap();
            if event["type"] == "user.presence.changed" {
                return Some((
                    event["user"]["id"].as_str().unwrap().to_owned(),
                    event["user"]["online"].as_bool().unwrap(),
                ));
            }
        }
    }
    None
}

/// Stream's own grace period (5 s) on a paused clock: nothing a millisecond before it ends, offline
/// right after, and a reconnect inside it cancels the announcement.
#[tokio::test]
async fn the_default_grace_period_on_a_paused_clock() {
    let (mut chat, app) = chat().await;
    chat.presence_grace = eddy_chat::OFFLINE_GRACE;
    let grace = chat.presence_grace;
    let star = User::new("star".into(), "user");
    let mut fan = chat.hub.register(app, "fan", "fan-1".into());
    chat.hub.follow_presence(app, "fan-1", &["star".to_owned()]);
    let _first = chat.hub.register(app, "star", "star-1".into());
    chat.connection_opened(app, &star, false).await;
    assert_eq!(next_presence(&mut fan).await, ("star".into(), true));

    tokio::time::pause();
    // Gone, then back 4 s later: no offline, not even after the first timer ran out.
    chat.connection_closed(app, &star, "star-1", false).await;
    settle().await; // the offline timer starts
    tokio::time::advance(grace - Duration::from_secs(1)).await;
    settle().await;
    let _second = chat.hub.register(app, "star", "star-2".into());
    chat.connection_opened(app, &star, false).await;
    tokio::time::advance(grace * 2).await;
    settle().await;
    assert_eq!(
        queued_presence(&mut fan),
        None,
        "a reconnect within the grace period flaps nothing"
    );
    assert!(chat.hub.is_online(app, "star"));

    // Gone for good: silent until the grace period is over, then offline once.
    chat.connection_closed(app, &star, "star-2", false).await;
    settle().await;
    tokio::time::advance(grace - Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(
        queued_presence(&mut fan),
        None,
        "still inside the grace period"
    );
    assert_ne!(
        chat.hub.generation(app, "star"),
        0,
        "the offline timer has not fired"
    );
    tokio::time::advance(Duration::from_millis(2)).await;
    settle().await;
    assert_eq!(
        chat.hub.generation(app, "star"),
        0,
        "the offline timer fired"
    );
    tokio::time::resume();
    assert_eq!(next_presence(&mut fan).await, ("star".into(), false));
    assert_eq!(queued_presence(&mut fan), None, "announced once");
}
