//! Slow mode across nodes: two `Chat`s over one store (two nodes of a cluster) share the cooldown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eddy_bus::{Bus, InProcessBus};
use eddy_chat::{Actor, Chat};
use eddy_protocol::ErrorCode;
use eddy_realtime::Hub;
use eddy_store::sqlite::SqliteStore;
use eddy_store::{Store, User};
use serde_json::json;
use std::sync::Arc;

fn node(store: &Arc<dyn Store>) -> Chat {
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new(64));
    Chat::new(store.clone(), bus, Arc::new(Hub::new()))
}

#[tokio::test]
async fn a_message_taken_by_another_node_starts_the_cooldown() {
    let path = std::env::temp_dir().join(format!("eddy-slow-{}.sqlite3", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let app = store
        .ensure_app("slow-key", "slow-secret", "s")
        .await
        .unwrap()
        .id;
    let chatty = User::new("chatty".into(), "user");
    let calm = User::new("calm".into(), "user");
    store
        .upsert_users(app, &[chatty.clone(), calm.clone()])
        .await
        .unwrap();
    let (a, b) = (node(&store), node(&store));
    let create = json!({"data": {"created_by_id": "chatty", "members": ["chatty", "calm"]}});
    a.get_or_create_channel(
        app,
        &Actor::Server,
        "messaging",
        Some("slow"),
        serde_json::from_value(create).unwrap(),
        None,
    )
    .await
    .unwrap();
    a.update_channel_partial(
        app,
        &Actor::Server,
        "messaging",
        "slow",
        serde_json::from_value(json!({"set": {"cooldown": 30}})).unwrap(),
    )
    .await
    .unwrap();
    let send = |chat: &Chat, user: &User, text: &str| {
        let chat = chat.clone();
        let actor = Actor::User(Box::new(user.clone()));
        let request = serde_json::from_value(json!({"message": {"text": text}})).unwrap();
        async move {
            chat.send_message(app, &actor, "messaging", "slow", request)
                .await
        }
    };

    send(&a, &chatty, "first, on node a").await.unwrap();
    let refused = send(&b, &chatty, "second, on node b").await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::CoolDown, "{}", refused.message);
    assert!(refused.message.contains("wait"), "{}", refused.message);
    // Another member has a cooldown of their own.
    send(&b, &calm, "calm, on node b").await.unwrap();
    let _ = std::fs::remove_file(&path);
}
