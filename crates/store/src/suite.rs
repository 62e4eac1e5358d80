//! The store contract's test suite, written against `dyn Store` so every backend runs the same checks.

use crate::model::*;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{Store, StoreError};
use chrono::{Duration, Utc};
use eddy_query::{parse_filter, parse_sort};
use serde_json::{json, Map};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

async fn sqlite() -> SqliteStore {
    let path = std::env::temp_dir().join(format!(
        "eddy-store-suite-{}-{}.sqlite3",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    SqliteStore::open(&path).await.expect("open sqlite")
}

/// A PostgreSQL store in a fresh schema (pid + nanos), or `None` with `EDDY_SKIP_POSTGRES=1`.
/// Fails loudly when PostgreSQL is unreachable; the caller drops the schema with [`drop_schema`].
async fn postgres() -> Option<(PostgresStore, String)> {
    if std::env::var("EDDY_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("EDDY_SKIP_POSTGRES=1: skipping the PostgreSQL store suite");
        return None;
    }
    let url = std::env::var("EDDY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let schema = format!(
        "eddy_suite_{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    match PostgresStore::connect_with_schema(&url, &schema).await {
        Ok(store) => Some((store, schema)),
        Err(error) => panic!(
            "PostgreSQL is unreachable at {url}: {error}\n\
             start it, point EDDY_TEST_POSTGRES_URL at one, or set EDDY_SKIP_POSTGRES=1 to skip"
        ),
    }
}

/// Drops a test schema (best effort).
async fn drop_schema(store: &PostgresStore, schema: &str) {
    let dropped = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(store.pool())
        .await;
    if let Err(error) = dropped {
        eprintln!("could not drop test schema {schema}: {error}");
    }
}

/// Runs `body` against a fresh PostgreSQL schema and drops the schema afterwards, even on failure.
async fn with_postgres<F, Fut>(body: F)
where
    F: FnOnce(std::sync::Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some((store, schema)) = postgres().await else {
        return;
    };
    let store = std::sync::Arc::new(store);
    let outcome = tokio::spawn(body(store.clone() as std::sync::Arc<dyn Store>)).await;
    drop_schema(&store, &schema).await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("suite task failed: {error}"),
        }
    }
}

fn user(id: &str) -> User {
    User::new(id.into(), "user")
}

fn channel(cid: &str, creator: &str) -> Channel {
    let now = Utc::now();
    let (kind, id) = cid.split_once(':').expect("cid");
    Channel {
        cid: cid.into(),
        kind: kind.into(),
        id: id.into(),
        created_by: Some(creator.into()),
        doc: Map::new(),
        frozen: false,
        disabled: false,
        member_count: 0,
        created_at: now,
        updated_at: now,
        last_message_at: None,
        truncated_at: None,
        deleted_at: None,
    }
}

fn member(cid: &str, user_id: &str) -> Member {
    let now = Utc::now();
    Member {
        cid: cid.into(),
        user_id: user_id.into(),
        channel_role: "channel_member".into(),
        doc: Map::new(),
        hidden: false,
        hide_messages_before: None,
        created_at: now,
        updated_at: now,
        last_read: now,
        last_read_message_id: None,
        unread_messages: 0,
        first_unread_message_id: None,
    }
}

fn message(id: &str, cid: &str, author: &str, parent: Option<&str>, at_offset_ms: i64) -> Message {
    let at = Utc::now() + Duration::milliseconds(at_offset_ms);
    Message {
        id: id.into(),
        cid: cid.into(),
        parent_id: parent.map(str::to_owned),
        user_id: author.into(),
        kind: if parent.is_some() {
            "reply".into()
        } else {
            "regular".into()
        },
        show_in_channel: false,
        reply_count: 0,
        doc: json!({"text": id}).as_object().cloned().unwrap_or_default(),
        reaction_groups: Map::new(),
        latest_reactions: Vec::new(),
        thread_participants: Vec::new(),
        created_at: at,
        updated_at: at,
        deleted_at: None,
    }
}

async fn apps_are_created_once_and_isolated(store: &dyn Store) {
    let first = store.ensure_app("key-a", "secret-a", "a").await.unwrap();
    let again = store.ensure_app("key-a", "other", "a").await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(again.api_secret, "secret-a");
    let types: Vec<String> = store
        .channel_types(first.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        types,
        ["commerce", "gaming", "livestream", "messaging", "team"]
    );
    let other = store.ensure_app("key-b", "secret-b", "b").await.unwrap();
    store
        .upsert_users(first.id, &[user("alice")])
        .await
        .unwrap();
    assert_eq!(
        store
            .users(first.id, &["alice".into()])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .users(other.id, &["alice".into()])
        .await
        .unwrap()
        .is_empty());
}

async fn upsert_keeps_created_at(store: &dyn Store) {
    let app = store.ensure_app("key-u", "s", "u").await.unwrap().id;
    let original = store
        .upsert_users(app, &[user("bob")])
        .await
        .unwrap()
        .remove(0);
    let mut changed = user("bob");
    changed.created_at = Utc::now() + Duration::days(1);
    changed.doc.insert("name".into(), json!("Bob"));
    let stored = store.upsert_users(app, &[changed]).await.unwrap().remove(0);
    assert_eq!(stored.created_at, original.created_at);
    assert_eq!(stored.doc.get("name"), Some(&json!("Bob")));
}

async fn sending_updates_channel_thread_and_unread(store: &dyn Store) {
    let app = store.ensure_app("key-m", "s", "m").await.unwrap().id;
    let cid = "messaging:room";
    let (created, was_new) = store
        .create_channel(
            app,
            &channel(cid, "alice"),
            &[member(cid, "alice"), member(cid, "bob")],
        )
        .await
        .unwrap();
    assert!(was_new);
    assert_eq!(created.member_count, 2);
    let (_, again) = store
        .create_channel(app, &channel(cid, "alice"), &[])
        .await
        .unwrap();
    assert!(!again);

    let sent = store
        .send_message(app, &message("m1", cid, "alice", None, 0), true, true)
        .await
        .unwrap();
    assert_eq!(sent.channel.last_message_at, Some(sent.message.created_at));
    let duplicate = store
        .send_message(app, &message("m1", cid, "alice", None, 1), true, true)
        .await;
    assert!(matches!(duplicate, Err(crate::StoreError::Conflict(_))));
    let reply = store
        .send_message(app, &message("r1", cid, "bob", Some("m1"), 5), false, true)
        .await
        .unwrap();
    let parent = reply.parent.expect("parent updated");
    assert_eq!(parent.reply_count, 1);
    assert_eq!(parent.thread_participants, ["alice", "bob"]);

    let unread = store.unread_channels(app, "bob").await.unwrap();
    assert_eq!(unread[0].unread_messages, 1);
    assert_eq!(
        store.unread_channels(app, "alice").await.unwrap()[0].unread_messages,
        0
    );
    let read = store
        .mark_read(app, cid, "bob", Utc::now(), None)
        .await
        .unwrap()
        .expect("member");
    assert_eq!(read.unread_messages, 0);
    assert_eq!(read.last_read_message_id.as_deref(), Some("m1"));

    let history = store
        .channel_messages(
            app,
            cid,
            &MessagePage {
                limit: 10,
                ..MessagePage::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["m1"],
        "thread-only replies stay out of history"
    );
    let (_, parent) = store
        .delete_message(app, "r1", true, Utc::now())
        .await
        .unwrap();
    assert_eq!(parent.expect("parent").reply_count, 0);
}

async fn message_pages_are_ascending_and_bounded(store: &dyn Store) {
    let app = store.ensure_app("key-p", "s", "p").await.unwrap().id;
    let cid = "messaging:pages";
    store
        .create_channel(app, &channel(cid, "alice"), &[member(cid, "alice")])
        .await
        .unwrap();
    for index in 0..10 {
        store
            .send_message(
                app,
                &message(&format!("p{index}"), cid, "alice", None, index * 10),
                true,
                true,
            )
            .await
            .unwrap();
    }
    let ids = |messages: Vec<Message>| messages.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let latest = store
        .channel_messages(
            app,
            cid,
            &MessagePage {
                limit: 3,
                ..MessagePage::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(ids(latest), ["p7", "p8", "p9"]);
    let older = MessagePage {
        limit: 2,
        id_lt: Some("p7".into()),
        ..MessagePage::default()
    };
    assert_eq!(
        ids(store
            .channel_messages(app, cid, &older, None)
            .await
            .unwrap()),
        ["p5", "p6"]
    );
    let newer = MessagePage {
        limit: 2,
        id_gt: Some("p2".into()),
        ..MessagePage::default()
    };
    assert_eq!(
        ids(store
            .channel_messages(app, cid, &newer, None)
            .await
            .unwrap()),
        ["p3", "p4"]
    );
}

async fn pinned_messages_are_listed_by_pin_time(store: &dyn Store) {
    let app = store.ensure_app("key-pin", "s", "pin").await.unwrap().id;
    let cid = "messaging:pins";
    store
        .create_channel(app, &channel(cid, "alice"), &[member(cid, "alice")])
        .await
        .unwrap();
    let other = "messaging:other-pins";
    store
        .create_channel(app, &channel(other, "alice"), &[member(other, "alice")])
        .await
        .unwrap();
    let base = Utc::now();
    let pin_at = |seconds: i64| base + Duration::seconds(seconds);
    // (id, channel, pinned_at offset, pin_expires offset, deleted): created in id order, pinned
    // in another order so the list must follow pinned_at, not created_at.
    type Case<'a> = (&'a str, &'a str, Option<i64>, Option<i64>, bool);
    let cases: [Case; 7] = [
        ("q0", cid, Some(30), None, false),
        ("q1", cid, Some(10), None, false),
        ("q2", cid, None, None, false),
        ("q3", cid, Some(20), Some(3600), false),
        ("q4", cid, Some(40), Some(-3600), false),
        ("q5", cid, Some(50), None, true),
        ("q6", other, Some(60), None, false),
    ];
    for (index, (id, in_cid, pinned, expires, deleted)) in cases.iter().enumerate() {
        let mut sent = message(id, in_cid, "alice", None, index as i64 * 10);
        if let Some(offset) = pinned {
            sent.doc.insert("pinned".into(), json!(true));
            sent.doc.insert(
                "pinned_at".into(),
                json!(crate::encoding::ts(&pin_at(*offset))),
            );
            sent.doc.insert(
                "pin_expires".into(),
                expires.map_or(serde_json::Value::Null, |e| {
                    json!(crate::encoding::ts(&pin_at(e)))
                }),
            );
        }
        store.send_message(app, &sent, true, true).await.unwrap();
        if *deleted {
            store
                .delete_message(app, id, false, Utc::now())
                .await
                .unwrap();
        }
    }
    let ids = |messages: Vec<Message>| messages.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let page = |limit, offset, ascending| PinnedPage {
        limit,
        offset,
        ascending,
        ..PinnedPage::default()
    };
    let list = |page: PinnedPage| async move {
        ids(store
            .pinned_messages(app, cid, &page, Utc::now())
            .await
            .unwrap())
    };
    // Newest pin first; unpinned, expired, deleted and other channels' pins left out.
    assert_eq!(list(page(10, 0, false)).await, ["q0", "q3", "q1"]);
    assert_eq!(list(page(10, 0, true)).await, ["q1", "q3", "q0"]);
    assert_eq!(list(page(1, 1, false)).await, ["q3"]);
    let bounded = PinnedPage {
        pinned_before: Some((pin_at(30), false)),
        ..page(10, 0, false)
    };
    assert_eq!(list(bounded).await, ["q3", "q1"]);
    let bounded = PinnedPage {
        pinned_after: Some((pin_at(20), true)),
        pinned_before: Some((pin_at(30), true)),
        ..page(10, 0, false)
    };
    assert_eq!(list(bounded).await, ["q0", "q3"]);
    // An expiry that has passed by `now` unpins.
    let later = store
        .pinned_messages(app, cid, &page(10, 0, false), pin_at(7200))
        .await
        .unwrap();
    assert_eq!(ids(later), ["q0", "q1"]);
}

async fn reactions_summarise_and_replace(store: &dyn Store) {
    let app = store.ensure_app("key-r", "s", "r").await.unwrap().id;
    let cid = "messaging:r";
    store
        .create_channel(app, &channel(cid, "alice"), &[member(cid, "alice")])
        .await
        .unwrap();
    store
        .send_message(app, &message("m", cid, "alice", None, 0), true, true)
        .await
        .unwrap();
    let reaction = |kind: &str, score: i64| Reaction {
        message_id: "m".into(),
        user_id: "bob".into(),
        kind: kind.into(),
        score,
        doc: Map::new(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let (updated, replaced) = store
        .add_reaction(app, &reaction("like", 1), false)
        .await
        .unwrap();
    assert!(!replaced);
    assert_eq!(updated.reaction_groups["like"]["count"], 1);
    let (updated, replaced) = store
        .add_reaction(app, &reaction("love", 5), true)
        .await
        .unwrap();
    assert!(replaced, "enforce_unique replaced the like");
    assert!(!updated.reaction_groups.contains_key("like"));
    assert_eq!(updated.reaction_groups["love"]["sum_scores"], 5);
    assert_eq!(updated.latest_reactions.len(), 1);
    let (after, removed) = store
        .remove_reaction(app, "m", "bob", "love")
        .await
        .unwrap();
    assert_eq!(removed.score, 5);
    assert!(after.reaction_groups.is_empty());
}

async fn events_are_kept_in_order_per_channel(store: &dyn Store) {
    let app = store.ensure_app("key-e", "s", "e").await.unwrap().id;
    let start = Utc::now();
    let event = |cid: &str, kind: &str, offset: i64| LoggedEvent {
        cid: cid.into(),
        kind: kind.into(),
        created_at: start + Duration::milliseconds(offset),
        body: json!({"type": kind, "cid": cid, "n": offset})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let events = vec![
        event("m:a", "message.new", 10),
        event("m:b", "message.new", 20),
        event("m:a", "reaction.new", 30),
    ];
    store.append_events(app, &events).await.unwrap();
    let found = store
        .events_since(app, &["m:a".into()], start, 100)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["message.new", "reaction.new"]
    );
    assert_eq!(found[1].body["n"], 30);
    let later = store
        .events_since(
            app,
            &["m:a".into(), "m:b".into()],
            start + Duration::milliseconds(15),
            100,
        )
        .await
        .unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(
        store
            .events_since(app, &["m:a".into()], start, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    let other = store.ensure_app("key-e2", "s", "e2").await.unwrap().id;
    assert!(store
        .events_since(other, &["m:a".into()], start, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(
        store
            .prune_events(start + Duration::milliseconds(25))
            .await
            .unwrap()
            >= 2
    );
    assert_eq!(
        store
            .events_since(app, &["m:a".into()], start, 100)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn mutes_are_renewed_listed_until_expiry_and_removed(store: &dyn Store) {
    let app = store.ensure_app("key-mu", "s", "mu").await.unwrap().id;
    let now = Utc::now();
    let mute = |target: MuteTarget, id: &str, expires: Option<i64>| Mute {
        user_id: "alice".into(),
        target,
        target_id: id.into(),
        created_at: now,
        updated_at: now,
        expires_at: expires.map(|s| now + Duration::seconds(s)),
    };
    store
        .put_mutes(
            app,
            &[
                mute(MuteTarget::User, "bob", None),
                mute(MuteTarget::Channel, "m:x", Some(60)),
                mute(MuteTarget::User, "old", Some(-1)),
            ],
        )
        .await
        .unwrap();
    store
        .put_mutes(app, &[mute(MuteTarget::User, "bob", Some(120))])
        .await
        .unwrap();
    let listed = store.mutes(app, "alice", now).await.unwrap();
    let targets: Vec<(&str, &str)> = listed
        .iter()
        .map(|m| (m.target.as_str(), m.target_id.as_str()))
        .collect();
    assert_eq!(
        targets.len(),
        2,
        "the expired mute is not listed: {targets:?}"
    );
    assert!(targets.contains(&("user", "bob")) && targets.contains(&("channel", "m:x")));
    assert!(
        listed
            .iter()
            .find(|m| m.target_id == "bob")
            .unwrap()
            .expires_at
            .is_some(),
        "renewal took the new expiry"
    );
    store
        .remove_mutes(app, "alice", MuteTarget::User, &["bob".into()])
        .await
        .unwrap();
    assert_eq!(store.mutes(app, "alice", now).await.unwrap().len(), 1);
    assert!(store.mutes(app, "bob", now).await.unwrap().is_empty());
}

async fn devices_are_registered_once_listed_and_deleted(store: &dyn Store) {
    let app = store.ensure_app("key-dv", "s", "dv").await.unwrap().id;
    let device = |id: &str, user: &str| Device {
        id: id.into(),
        user_id: user.into(),
        push_provider: "firebase".into(),
        push_provider_name: None,
        created_at: Utc::now(),
    };
    store
        .add_device(app, &device("token-1", "alice"))
        .await
        .unwrap();
    store
        .add_device(app, &device("token-1", "alice"))
        .await
        .unwrap();
    store
        .add_device(app, &device("token-2", "alice"))
        .await
        .unwrap();
    let listed: Vec<String> = store
        .devices(app, "alice")
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, ["token-1", "token-2"]);
    assert!(matches!(
        store.delete_device(app, "bob", "token-1").await,
        Err(crate::StoreError::NotFound)
    ));
    store.delete_device(app, "alice", "token-1").await.unwrap();
    assert_eq!(store.devices(app, "alice").await.unwrap().len(), 1);
}

async fn channel_queries_filter_and_sort(store: &dyn Store) {
    let app = store.ensure_app("key-q", "s", "q").await.unwrap().id;
    for (name, members) in [
        ("a", vec!["alice", "bob"]),
        ("b", vec!["bob"]),
        ("c", vec!["carol"]),
    ] {
        let cid = format!("messaging:{name}");
        let list: Vec<Member> = members.iter().map(|m| member(&cid, m)).collect();
        store
            .create_channel(app, &channel(&cid, members[0]), &list)
            .await
            .unwrap();
    }
    store
        .send_message(
            app,
            &message("late", "messaging:a", "alice", None, 1000),
            true,
            true,
        )
        .await
        .unwrap();
    let filter = parse_filter(
        &json!({"members": {"$in": ["bob"]}}),
        &crate::schemas::CHANNELS,
    )
    .unwrap();
    let sort = parse_sort(
        Some(&json!([{"field": "last_message_at", "direction": -1}])),
        &["last_message_at"],
        false,
    )
    .unwrap();
    let query = ChannelQuery {
        query: ListQuery {
            filter,
            sort,
            limit: 10,
            offset: 0,
        },
        viewer: Some("bob".into()),
        hidden: Some(false),
    };
    let found: Vec<String> = store
        .query_channels(app, &query)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.cid)
        .collect();
    assert_eq!(found, ["messaging:a", "messaging:b"]);
}

/// A channel query for `filter` as `viewer` sees it (hidden channels excluded), sorted by `sort`.
fn channel_query(
    filter: serde_json::Value,
    sort: serde_json::Value,
    viewer: &str,
    limit: i64,
    offset: i64,
) -> ChannelQuery {
    ChannelQuery {
        query: ListQuery {
            filter: parse_filter(&filter, &crate::schemas::CHANNELS).unwrap(),
            sort: parse_sort(
                Some(&sort),
                &["last_message_at", "last_updated", "created_at", "cid"],
                false,
            )
            .unwrap(),
            limit,
            offset,
        },
        viewer: Some(viewer.into()),
        hidden: Some(false),
    }
}

/// One member's channel list is read from that member's rows (`members: {$in: [one]}`); a filter
/// naming two users is read from the channels. Both must agree on every sort and page, also after
/// sends, thread replies, late joins and hiding, which keep the member rows' copy of
/// `last_message_at` up to date.
async fn member_driven_channel_queries_match_the_channel_scan(store: &dyn Store) {
    let app = store.ensure_app("key-d", "s", "d").await.unwrap().id;
    for index in 0..8 {
        let cid = format!("messaging:d{index}");
        let mut members = vec![member(&cid, "other")];
        if index % 4 != 3 {
            members.push(member(&cid, "dana"));
        }
        store
            .create_channel(app, &channel(&cid, "other"), &members)
            .await
            .unwrap();
    }
    // Channel 1 stays silent (NULL last_message_at); the others get messages at distinct times.
    for (offset, index) in [(5, 0), (9, 2), (3, 4), (7, 5), (1, 6), (8, 7), (4, 3)] {
        let cid = format!("messaging:d{index}");
        store
            .send_message(
                app,
                &message(&format!("dm{index}"), &cid, "other", None, offset * 1000),
                true,
                true,
            )
            .await
            .unwrap();
    }
    // A thread-only reply does not move its channel.
    store
        .send_message(
            app,
            &message("dr0", "messaging:d0", "other", Some("dm0"), 20_000),
            true,
            true,
        )
        .await
        .unwrap();
    // Dana joins channel 3 after its message, and hides channel 5.
    store
        .add_members(app, "messaging:d3", &[member("messaging:d3", "dana")])
        .await
        .unwrap();
    let mut hidden = store
        .members_of(app, &["messaging:d5".into()], Some("dana"))
        .await
        .unwrap()
        .remove(0);
    hidden.hidden = true;
    store.update_member(app, &hidden).await.unwrap();

    let cids =
        |channels: Vec<Channel>| -> Vec<String> { channels.into_iter().map(|c| c.cid).collect() };
    let newest_first = store
        .query_channels(
            app,
            &channel_query(
                json!({"members": {"$in": ["dana"]}}),
                json!([{"field": "last_message_at", "direction": -1}]),
                "dana",
                30,
                0,
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        cids(newest_first),
        [
            "messaging:d2",
            "messaging:d0",
            "messaging:d3",
            "messaging:d4",
            "messaging:d6",
            "messaging:d1"
        ],
        "newest message first, silent channels last, hidden and foreign ones out"
    );
    let sorts = [
        json!([{"field": "last_message_at", "direction": -1}]),
        json!([{"field": "last_message_at", "direction": 1}]),
        json!([{"field": "last_updated", "direction": -1}]),
        json!([{"field": "created_at", "direction": 1}, {"field": "cid", "direction": -1}]),
    ];
    for sort in sorts {
        for (limit, offset) in [(30, 0), (2, 0), (2, 2), (3, 4)] {
            let driven = store
                .query_channels(
                    app,
                    &channel_query(
                        json!({"members": "dana"}),
                        sort.clone(),
                        "dana",
                        limit,
                        offset,
                    ),
                )
                .await
                .unwrap();
            let scanned = store
                .query_channels(
                    app,
                    &channel_query(
                        json!({"members": {"$in": ["dana", "nobody"]}}),
                        sort.clone(),
                        "dana",
                        limit,
                        offset,
                    ),
                )
                .await
                .unwrap();
            assert_eq!(
                cids(driven),
                cids(scanned),
                "sort {sort} limit {limit} offset {offset}"
            );
        }
    }
}

/// SQLite chooses how a search meets its `text $q` from the words' frequency; every plan must
/// return the same page for the same request.
async fn sqlite_search_plans_agree(store: &SqliteStore) {
    use crate::channel_query::TextPlan;
    use crate::{AppStore, ChannelStore, MessageStore};
    let app = store.ensure_app("key-sp", "s", "sp").await.unwrap().id;
    let words = [
        "apple",
        "banana",
        "cherry",
        "apple pie",
        "banana apple",
        "durian",
    ];
    for index in 0..6 {
        let cid = format!("messaging:sp{index}");
        let mut members = vec![member(&cid, "other")];
        if index % 3 != 2 {
            members.push(member(&cid, "sam"));
        }
        store
            .create_channel(app, &channel(&cid, "other"), &members)
            .await
            .unwrap();
        for n in 0..12 {
            let mut sent = message(&format!("sp{index}-{n:02}"), &cid, "other", None, n * 10);
            let text = format!(
                "{} number {n}",
                words[(index as usize + n as usize) % words.len()]
            );
            sent.doc.insert("text".into(), json!(text));
            store.send_message(app, &sent, true, true).await.unwrap();
        }
    }
    let channel_filters = [
        json!({"members": {"$in": ["sam"]}}),
        json!({"members": {"$in": ["sam", "other"]}, "id": {"$in": ["sp0", "sp2", "sp4"]}}),
    ];
    let message_filters = [
        json!({"text": {"$q": "apple"}}),
        json!({"text": {"$q": "banana apple"}}),
        json!({"text": {"$q": "apple"}, "created_at": {"$gt": "2000-01-01T00:00:00Z"}}),
        json!({"$and": [{"text": {"$q": "cherry"}}, {"id": {"$ne": "sp0-02"}}]}),
        json!({"text": {"$q": "nothing-matches"}}),
    ];
    let sorts = [
        json!(null),
        json!([{"field": "created_at", "direction": -1}]),
    ];
    for (which, channels) in channel_filters.iter().enumerate() {
        let channels = channel_query(channels.clone(), json!([]), "sam", 30, 0);
        for filter in &message_filters {
            for sort in &sorts {
                for (limit, offset) in [(100, 0), (5, 0), (5, 5)] {
                    let messages = ListQuery {
                        filter: parse_filter(filter, &crate::schemas::MESSAGES).unwrap(),
                        sort: if sort.is_null() {
                            Vec::new()
                        } else {
                            parse_sort(Some(sort), &["created_at"], false).unwrap()
                        },
                        limit,
                        offset,
                    };
                    let mut pages = Vec::new();
                    for plan in [
                        TextPlan::AsFiltered,
                        TextPlan::MatchesFirst,
                        TextPlan::ChannelMessagesInMatches,
                        TextPlan::ProbeChannelMessages,
                        TextPlan::ProbeInOrder,
                    ] {
                        let found = store
                            .search_with_plan(app, &channels, &messages, plan)
                            .await
                            .unwrap();
                        pages.push(found.into_iter().map(|m| m.id).collect::<Vec<_>>());
                    }
                    let context = format!("{filter} sort {sort} limit {limit} offset {offset}");
                    for page in &pages[1..] {
                        assert_eq!(&pages[0], page, "{context}");
                    }
                    if which == 0 && filter["text"]["$q"] == "apple" && limit == 100 {
                        assert!(!pages[0].is_empty(), "{context}: {:?}", pages[0]);
                        assert!(
                            pages[0].iter().all(|id| !id.starts_with("sp2-")),
                            "{context}: {:?}",
                            pages[0]
                        );
                    }
                }
            }
        }
    }
    // What the chooser picks on its own agrees too.
    let channels = channel_query(
        json!({"members": {"$in": ["sam"]}}),
        json!([]),
        "sam",
        30,
        0,
    );
    let messages = ListQuery {
        filter: parse_filter(&json!({"text": {"$q": "apple"}}), &crate::schemas::MESSAGES).unwrap(),
        sort: Vec::new(),
        limit: 100,
        offset: 0,
    };
    let chosen = store
        .search_messages(app, &channels, &messages)
        .await
        .unwrap();
    let filtered = store
        .search_with_plan(app, &channels, &messages, TextPlan::AsFiltered)
        .await
        .unwrap();
    assert_eq!(chosen, filtered);
    assert_eq!(
        chosen.len(),
        24,
        "apple is in 3 of every 6 messages of sam's 4 channels"
    );
}

fn listing(filter: serde_json::Value, schema: &eddy_query::Schema) -> ListQuery {
    ListQuery {
        filter: parse_filter(&filter, schema).expect("filter"),
        sort: Vec::new(),
        limit: 100,
        offset: 0,
    }
}

fn ban(user_id: &str, cid: Option<&str>, reason: &str, created: Timestamp) -> Ban {
    Ban {
        user_id: user_id.into(),
        cid: cid.map(str::to_owned),
        banned_by: Some("admin".into()),
        reason: Some(reason.into()),
        shadow: false,
        ip_ban: false,
        created_at: created,
        expires_at: None,
    }
}

fn banned_ids(bans: &[Ban]) -> Vec<String> {
    bans.iter()
        .map(|b| match &b.cid {
            Some(cid) => format!("{}@{cid}", b.user_id),
            None => b.user_id.clone(),
        })
        .collect()
}

async fn bans_are_replaced_mirrored_expired_and_lifted(store: &dyn Store) {
    let app = store.ensure_app("key-ban", "s", "ban").await.unwrap().id;
    let now = Utc::now();
    let cid = "messaging:mod";
    let mut alice = user("alice");
    alice.doc.insert("color".into(), json!("red"));
    store
        .upsert_users(app, &[alice, user("bob"), user("carol"), user("dave")])
        .await
        .unwrap();
    let mut carol_member = member(cid, "carol");
    carol_member.doc.insert("nickname".into(), json!("cc"));
    store
        .create_channel(
            app,
            &channel(cid, "alice"),
            &[member(cid, "alice"), member(cid, "bob"), carol_member],
        )
        .await
        .unwrap();

    // An app-wide ban, then its replacement in the same scope.
    store
        .put_ban(app, &ban("bob", None, "spam", now - Duration::seconds(30)))
        .await
        .unwrap();
    let expires = now + Duration::hours(1);
    let replacement = Ban {
        expires_at: Some(expires),
        ..ban("bob", None, "because", now - Duration::seconds(20))
    };
    store.put_ban(app, &replacement).await.unwrap();
    let bob_bans = store.bans_of(app, "bob", now).await.unwrap();
    assert_eq!(bob_bans.len(), 1, "the replacement took the scope's place");
    assert_eq!(bob_bans[0].reason.as_deref(), Some("because"));
    assert_eq!(bob_bans[0].cid, None);
    assert_eq!(bob_bans[0].banned_by.as_deref(), Some("admin"));
    assert!(bob_bans[0].expires_at.is_some());
    let bob = store.users(app, &["bob".into()]).await.unwrap().remove(0);
    assert_eq!(bob.doc.get("banned"), Some(&json!(true)));
    assert_eq!(
        bob.doc.get("ban_expires"),
        Some(&json!(
            expires.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ))
    );
    assert_eq!(bob.doc.get("shadow_banned"), None);

    // A shadow ban mirrors `shadow_banned` only, and custom data stays.
    store
        .put_ban(
            app,
            &Ban {
                shadow: true,
                ..ban("alice", None, "quiet", now - Duration::seconds(10))
            },
        )
        .await
        .unwrap();
    let alice = store.users(app, &["alice".into()]).await.unwrap().remove(0);
    assert_eq!(alice.doc.get("shadow_banned"), Some(&json!(true)));
    assert_eq!(alice.doc.get("banned"), None);
    assert_eq!(alice.doc.get("ban_expires"), None);
    assert_eq!(alice.doc.get("color"), Some(&json!("red")));

    // A channel ban mirrors on the member, not on the user.
    store
        .put_ban(
            app,
            &ban("carol", Some(cid), "because", now - Duration::seconds(5)),
        )
        .await
        .unwrap();
    let members = store.members(app, cid, 10, 0).await.unwrap();
    let carol_member = members.iter().find(|m| m.user_id == "carol").unwrap();
    assert_eq!(carol_member.doc.get("banned"), Some(&json!(true)));
    assert_eq!(carol_member.doc.get("nickname"), Some(&json!("cc")));
    let bob_member = members.iter().find(|m| m.user_id == "bob").unwrap();
    assert_eq!(
        bob_member.doc.get("banned"),
        None,
        "an app-wide ban is not mirrored on memberships"
    );
    let carol = store.users(app, &["carol".into()]).await.unwrap().remove(0);
    assert_eq!(carol.doc.get("banned"), None);

    // A channel ban of a non-member, already expired.
    store
        .put_ban(
            app,
            &Ban {
                expires_at: Some(now - Duration::seconds(1)),
                ..ban("dave", Some(cid), "flood", now - Duration::seconds(60))
            },
        )
        .await
        .unwrap();
    assert!(store.bans_of(app, "dave", now).await.unwrap().is_empty());
    assert_eq!(
        banned_ids(
            &store
                .bans_of(app, "dave", now - Duration::seconds(2))
                .await
                .unwrap()
        ),
        ["dave@messaging:mod"]
    );

    let query = |filter: serde_json::Value| listing(filter, &crate::schemas::BANS);
    let everything = store
        .query_bans(app, &query(json!({})), None)
        .await
        .unwrap();
    assert_eq!(
        banned_ids(&everything),
        ["carol@messaging:mod", "alice", "bob", "dave@messaging:mod"],
        "newest first by default"
    );
    let active = store
        .query_bans(app, &query(json!({})), Some(now))
        .await
        .unwrap();
    assert_eq!(banned_ids(&active), ["carol@messaging:mod", "alice", "bob"]);
    let later = store
        .query_bans(app, &query(json!({})), Some(now + Duration::hours(2)))
        .await
        .unwrap();
    assert_eq!(banned_ids(&later), ["carol@messaging:mod", "alice"]);
    for (filter, expected) in [
        (
            json!({"reason": "because"}),
            vec!["carol@messaging:mod", "bob"],
        ),
        (
            json!({"channel_cid": cid}),
            vec!["carol@messaging:mod", "dave@messaging:mod"],
        ),
        (
            json!({"channel_cid": {"$exists": false}}),
            vec!["alice", "bob"],
        ),
        (
            json!({"user_id": {"$in": ["bob", "dave"]}}),
            vec!["bob", "dave@messaging:mod"],
        ),
        (json!({"shadow": true}), vec!["alice"]),
        (
            json!({"banned_by_id": "admin", "reason": {"$autocomplete": "qui"}}),
            vec!["alice"],
        ),
    ] {
        let found = store.query_bans(app, &query(filter.clone()), None).await;
        assert_eq!(banned_ids(&found.unwrap()), expected, "filter {filter}");
    }
    let mut by_user = query(json!({}));
    by_user.sort = parse_sort(
        Some(&json!([{"field": "user_id", "direction": 1}])),
        &["user_id"],
        false,
    )
    .unwrap();
    by_user.limit = 2;
    by_user.offset = 1;
    assert_eq!(
        banned_ids(&store.query_bans(app, &by_user, None).await.unwrap()),
        ["bob", "carol@messaging:mod"]
    );
    let mut unknown = query(json!({}));
    unknown.sort = vec![eddy_query::SortField {
        field: "nope".into(),
        direction: 1,
    }];
    assert!(matches!(
        store.query_bans(app, &unknown, None).await,
        Err(crate::StoreError::Query(_))
    ));

    // Lifting a ban removes its mirror; scopes are distinct.
    let lifted = store.remove_ban(app, "bob", None).await.unwrap();
    assert_eq!(lifted.reason.as_deref(), Some("because"));
    let bob = store.users(app, &["bob".into()]).await.unwrap().remove(0);
    assert_eq!(bob.doc.get("banned"), None);
    assert_eq!(bob.doc.get("ban_expires"), None);
    assert!(matches!(
        store.remove_ban(app, "bob", None).await,
        Err(crate::StoreError::NotFound)
    ));
    assert!(matches!(
        store.remove_ban(app, "carol", None).await,
        Err(crate::StoreError::NotFound)
    ));
    let lifted = store.remove_ban(app, "carol", Some(cid)).await.unwrap();
    assert_eq!(lifted.cid.as_deref(), Some(cid));
    let members = store.members(app, cid, 10, 0).await.unwrap();
    let carol_member = members.iter().find(|m| m.user_id == "carol").unwrap();
    assert_eq!(carol_member.doc.get("banned"), None);
    assert_eq!(carol_member.doc.get("nickname"), Some(&json!("cc")));
    store.remove_ban(app, "alice", None).await.unwrap();
    let alice = store.users(app, &["alice".into()]).await.unwrap().remove(0);
    assert_eq!(alice.doc.get("shadow_banned"), None);
    assert_eq!(alice.doc.get("color"), Some(&json!("red")));
    assert!(store.bans_of(app, "bob", now).await.unwrap().is_empty());
    let other = store.ensure_app("key-ban2", "s", "ban2").await.unwrap().id;
    assert!(store
        .query_bans(other, &query(json!({})), None)
        .await
        .unwrap()
        .is_empty());
}

fn flag(
    reporter: &str,
    target: FlagTarget,
    target_id: &str,
    author: &str,
    cid: Option<&str>,
    created: Timestamp,
) -> Flag {
    Flag {
        reporter_id: reporter.into(),
        target,
        target_id: target_id.into(),
        target_user_id: author.into(),
        cid: cid.map(str::to_owned),
        reason: Some(format!("{reporter} says so")),
        doc: json!({"details": {"where": target_id}})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        created_at: created,
        updated_at: created,
        reviewed_at: None,
        reviewed_by: None,
    }
}

fn flagged(flags: &[Flag]) -> Vec<String> {
    flags
        .iter()
        .map(|f| format!("{}>{}", f.reporter_id, f.target_id))
        .collect()
}

async fn flags_conflict_are_withdrawn_and_queried_by_kind(store: &dyn Store) {
    let app = store.ensure_app("key-fl", "s", "fl").await.unwrap().id;
    let now = Utc::now();
    let at = |seconds: i64| now - Duration::seconds(seconds);
    let (a, b) = ("messaging:a", "messaging:b");
    let message = FlagTarget::Message;
    store
        .put_flag(app, &flag("alice", message, "m1", "bob", Some(a), at(30)))
        .await
        .unwrap();
    let reviewed = Flag {
        reviewed_at: Some(at(1)),
        reviewed_by: Some("admin".into()),
        ..flag("carol", message, "m1", "bob", Some(a), at(20))
    };
    store.put_flag(app, &reviewed).await.unwrap();
    store
        .put_flag(app, &flag("alice", message, "m2", "carol", Some(b), at(10)))
        .await
        .unwrap();
    store
        .put_flag(
            app,
            &flag("alice", FlagTarget::User, "bob", "bob", None, at(5)),
        )
        .await
        .unwrap();
    // The same reporter may flag a user whose id equals a flagged message's: kinds are apart.
    store
        .put_flag(
            app,
            &flag("alice", FlagTarget::User, "m1", "m1", None, at(4)),
        )
        .await
        .unwrap();
    let again = store
        .put_flag(app, &flag("alice", message, "m1", "bob", Some(a), at(0)))
        .await;
    assert!(
        matches!(again, Err(crate::StoreError::Conflict(_))),
        "{again:?}"
    );

    let query = |filter: serde_json::Value| listing(filter, &crate::schemas::FLAGS);
    let messages = store
        .query_flags(app, message, &query(json!({})))
        .await
        .unwrap();
    assert_eq!(
        flagged(&messages),
        ["alice>m2", "carol>m1", "alice>m1"],
        "message flags only, newest first"
    );
    let first = messages
        .iter()
        .find(|f| f.reporter_id == "alice" && f.target_id == "m1");
    let first = first.unwrap();
    assert_eq!(first.cid.as_deref(), Some(a));
    assert_eq!(first.target, message);
    assert_eq!(first.doc["details"]["where"], "m1");
    assert_eq!(first.reason.as_deref(), Some("alice says so"));
    let users = store
        .query_flags(app, FlagTarget::User, &query(json!({})))
        .await
        .unwrap();
    assert_eq!(flagged(&users), ["alice>m1", "alice>bob"]);
    assert!(users
        .iter()
        .all(|f| f.target == FlagTarget::User && f.cid.is_none()));
    for (target, filter, expected) in [
        (
            message,
            json!({"channel_cid": a}),
            vec!["carol>m1", "alice>m1"],
        ),
        (
            message,
            json!({"user_id": "bob"}),
            vec!["carol>m1", "alice>m1"],
        ),
        (message, json!({"user_id": "carol"}), vec!["alice>m2"]),
        (
            message,
            json!({"reporter_id": "alice"}),
            vec!["alice>m2", "alice>m1"],
        ),
        (message, json!({"is_reviewed": true}), vec!["carol>m1"]),
        (
            message,
            json!({"message_id": {"$in": ["m2", "m9"]}}),
            vec!["alice>m2"],
        ),
        (
            FlagTarget::User,
            json!({"user_id": "bob"}),
            vec!["alice>bob"],
        ),
    ] {
        let found = store.query_flags(app, target, &query(filter.clone())).await;
        assert_eq!(flagged(&found.unwrap()), expected, "filter {filter}");
    }
    let mut oldest_first = query(json!({}));
    oldest_first.sort = parse_sort(
        Some(&json!([{"field": "updated_at", "direction": 1}])),
        &["updated_at"],
        false,
    )
    .unwrap();
    oldest_first.limit = 2;
    assert_eq!(
        flagged(
            &store
                .query_flags(app, message, &oldest_first)
                .await
                .unwrap()
        ),
        ["alice>m1", "carol>m1"]
    );

    let withdrawn = store
        .remove_flag(app, "alice", message, "m1")
        .await
        .unwrap();
    assert_eq!(withdrawn.target_user_id, "bob");
    assert_eq!(withdrawn.cid.as_deref(), Some(a));
    assert!(matches!(
        store.remove_flag(app, "alice", message, "m1").await,
        Err(crate::StoreError::NotFound)
    ));
    assert!(matches!(
        store.remove_flag(app, "bob", FlagTarget::User, "bob").await,
        Err(crate::StoreError::NotFound)
    ));
    assert_eq!(
        flagged(
            &store
                .query_flags(app, message, &query(json!({"channel_cid": a})))
                .await
                .unwrap()
        ),
        ["carol>m1"]
    );
    assert_eq!(
        store
            .query_flags(app, FlagTarget::User, &query(json!({})))
            .await
            .unwrap()
            .len(),
        2,
        "withdrawing a message flag leaves the user flag of the same id"
    );
    // Withdrawn, the flag may be raised again.
    store
        .put_flag(app, &flag("alice", message, "m1", "bob", Some(a), at(0)))
        .await
        .unwrap();
}

/// A channel query as one user sees it (hidden channels excluded), newest message first.
fn members_query(member_id: &str) -> ChannelQuery {
    ChannelQuery {
        query: ListQuery {
            filter: parse_filter(
                &json!({"members": {"$in": [member_id]}}),
                &crate::schemas::CHANNELS,
            )
            .unwrap(),
            sort: parse_sort(
                Some(&json!([{"field": "last_message_at", "direction": -1}])),
                &["last_message_at"],
                false,
            )
            .unwrap(),
            limit: 10,
            offset: 0,
        },
        viewer: Some(member_id.into()),
        hidden: Some(false),
    }
}

async fn imports_recompute_counts_and_are_idempotent(store: &dyn Store) {
    let app = store.ensure_app("key-i", "s", "i").await.unwrap().id;
    let base = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let at = |seconds: i64| base + Duration::seconds(seconds);
    let earlier = store.upsert_users(app, &[user("dora")]).await.unwrap();
    let mut dora = user("dora");
    dora.doc.insert("name".into(), json!("Dora Imported"));
    dora.created_at = at(86_400 * 400);
    let users: Vec<User> = ["alice", "bob", "carol"]
        .into_iter()
        .map(user)
        .chain([dora])
        .collect();
    let mut one = channel("messaging:imp1", "alice");
    one.doc.insert("name".into(), json!("Import one"));
    let two = channel("messaging:imp2", "alice");
    let members = vec![
        member("messaging:imp1", "alice"),
        member("messaging:imp1", "bob"),
        member("messaging:imp1", "carol"),
        member("messaging:imp2", "alice"),
        member("messaging:imp2", "bob"),
    ];
    let text = |mut message: Message, text: &str, seconds: i64| {
        message.doc.insert("text".into(), json!(text));
        message.created_at = at(seconds);
        message.updated_at = at(seconds);
        message
    };
    let mut shown = text(
        message("i-r3", "messaging:imp1", "carol", Some("i-m1"), 0),
        "also in the channel",
        5,
    );
    shown.show_in_channel = true;
    let mut gone = text(
        message("i-del", "messaging:imp1", "alice", None, 0),
        "deleted later",
        6,
    );
    gone.deleted_at = Some(at(7));
    let messages = vec![
        text(
            message("i-m1", "messaging:imp1", "alice", None, 0),
            "hello thread",
            1,
        ),
        text(
            message("i-m2", "messaging:imp1", "bob", None, 0),
            "second",
            2,
        ),
        // Out of order on purpose: reply order is creation order, not batch order.
        text(
            message("i-r2", "messaging:imp1", "bob", Some("i-m1"), 0),
            "bob replies",
            4,
        ),
        text(
            message("i-r1", "messaging:imp1", "carol", Some("i-m1"), 0),
            "carol replies",
            3,
        ),
        shown,
        gone,
        text(
            message("i-r4", "messaging:imp1", "alice", Some("i-m1"), 0),
            "thread only",
            8,
        ),
        text(
            message("i-m3", "messaging:imp2", "alice", None, 0),
            "zanzibar banana split",
            9,
        ),
    ];
    let batch = ImportBatch {
        users,
        channels: vec![one, two],
        members,
        messages,
    };
    for round in 0..2 {
        store.import(app, &batch).await.unwrap();
        let stored = store
            .channel(app, "messaging:imp1")
            .await
            .unwrap()
            .expect("imported channel");
        assert_eq!(stored.member_count, 3, "round {round}");
        assert_eq!(stored.last_message_at, Some(at(5)), "round {round}");
        assert_eq!(stored.doc.get("name"), Some(&json!("Import one")));
        let other = store.channel(app, "messaging:imp2").await.unwrap().unwrap();
        assert_eq!(
            (other.member_count, other.last_message_at),
            (2, Some(at(9)))
        );
        let parent = store.message(app, "i-m1").await.unwrap().unwrap();
        assert_eq!(parent.reply_count, 4, "round {round}");
        assert_eq!(parent.thread_participants, ["alice", "carol", "bob"]);
        assert!(parent.reaction_groups.is_empty() && parent.latest_reactions.is_empty());
        let history: Vec<String> = store
            .channel_messages(
                app,
                "messaging:imp1",
                &MessagePage {
                    limit: 50,
                    ..MessagePage::default()
                },
                None,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(history, ["i-m1", "i-m2", "i-r3", "i-del"], "round {round}");
        let replies = store
            .replies(
                app,
                "i-m1",
                &MessagePage {
                    limit: 50,
                    ..MessagePage::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(replies.len(), 4);
        let found: Vec<String> = store
            .search_messages(
                app,
                &members_query("bob"),
                &ListQuery {
                    filter: parse_filter(
                        &json!({"text": {"$q": "banana"}}),
                        &crate::schemas::MESSAGES,
                    )
                    .unwrap(),
                    sort: Vec::new(),
                    limit: 10,
                    offset: 0,
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(found, ["i-m3"], "round {round}: indexed once");
        for (viewer, expected) in [
            ("bob", vec!["messaging:imp2", "messaging:imp1"]),
            ("carol", vec!["messaging:imp1"]),
        ] {
            let cids: Vec<String> = store
                .query_channels(app, &members_query(viewer))
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.cid)
                .collect();
            assert_eq!(cids, expected, "round {round}: {viewer}'s channels");
        }
        let dora = store.users(app, &["dora".into()]).await.unwrap().remove(0);
        assert_eq!(
            dora.created_at, earlier[0].created_at,
            "upsert keeps created_at"
        );
        assert_eq!(dora.doc.get("name"), Some(&json!("Dora Imported")));
    }
    // A later batch may answer a stored parent and add a member; the counts follow.
    let late = ImportBatch {
        members: vec![member("messaging:imp2", "carol")],
        messages: vec![text(
            message("i-r5", "messaging:imp1", "alice", Some("i-m2"), 0),
            "late reply",
            10,
        )],
        ..ImportBatch::default()
    };
    store.import(app, &late).await.unwrap();
    let parent = store.message(app, "i-m2").await.unwrap().unwrap();
    assert_eq!(parent.reply_count, 1);
    assert_eq!(parent.thread_participants, ["bob", "alice"]);
    let first = store.message(app, "i-m1").await.unwrap().unwrap();
    assert_eq!(first.reply_count, 4);
    let two = store.channel(app, "messaging:imp2").await.unwrap().unwrap();
    assert_eq!((two.member_count, two.last_message_at), (3, Some(at(9))));
    let one = store.channel(app, "messaging:imp1").await.unwrap().unwrap();
    assert_eq!(
        one.last_message_at,
        Some(at(5)),
        "a thread-only reply is not the channel's last message"
    );
}

/// The batched first pages equal the one-channel pages they replace.
async fn batched_pages_match_single_channel_pages(store: &dyn Store) {
    let app = store
        .ensure_app("key-batch", "s", "batch")
        .await
        .unwrap()
        .id;
    let cids = ["messaging:b1", "messaging:b2", "messaging:b3"];
    for (index, cid) in cids.iter().enumerate() {
        let members: Vec<Member> = ["ann", "ben", "cat"][..=index]
            .iter()
            .map(|id| member(cid, id))
            .collect();
        store
            .create_channel(app, &channel(cid, "ann"), &members)
            .await
            .unwrap();
        for n in 0..(4 * index as i64) {
            let id = format!("{cid}-{n}");
            store
                .send_message(app, &message(&id, cid, "ann", None, n), true, true)
                .await
                .unwrap();
            // A thread-only reply never shows in the channel's pages.
            let reply = message(&format!("{id}-r"), cid, "ben", Some(&id), n);
            if index > 0 && n == 0 {
                store.send_message(app, &reply, false, true).await.unwrap();
            }
        }
    }
    let after = Some(Utc::now() - Duration::days(365 * 30));
    let wanted: Vec<(String, Option<Timestamp>)> = cids
        .iter()
        .map(|cid| {
            (
                cid.to_string(),
                if *cid == "messaging:b3" { after } else { None },
            )
        })
        .collect();
    let batched = store
        .latest_channel_messages(app, &wanted, 3)
        .await
        .unwrap();
    let mut expected = Vec::new();
    for (cid, visible_after) in &wanted {
        let page = MessagePage {
            limit: 3,
            ..MessagePage::default()
        };
        expected.extend(
            store
                .channel_messages(app, cid, &page, *visible_after)
                .await
                .unwrap(),
        );
    }
    let ids = |messages: &[Message]| messages.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&batched), ids(&expected));
    assert_eq!(
        batched.len(),
        3 + 3,
        "b1 has none, b2 four (three shown), b3 eight"
    );
    let owned: Vec<String> = cids.iter().map(|c| c.to_string()).collect();
    let firsts = store.first_members(app, &owned, 2).await.unwrap();
    let pairs: Vec<(String, String)> = firsts
        .iter()
        .map(|m| (m.cid.clone(), m.user_id.clone()))
        .collect();
    let mut expected_members = Vec::new();
    for cid in &owned {
        for m in store.members(app, cid, 2, 0).await.unwrap() {
            expected_members.push((m.cid, m.user_id));
        }
    }
    assert_eq!(pairs, expected_members);
    assert_eq!(pairs.len(), 1 + 2 + 2);
}

async fn blocks_are_kept_once_listed_and_silence_unread_counts(store: &dyn Store) {
    let app = store.ensure_app("key-bl", "s", "bl").await.unwrap().id;
    let other_app = store.ensure_app("key-bl2", "s", "bl2").await.unwrap().id;
    let now = Utc::now();
    let block = |user: &str, blocked: &str, seconds: i64| Block {
        user_id: user.into(),
        blocked_user_id: blocked.into(),
        created_at: now + Duration::seconds(seconds),
    };
    let first = store
        .put_block(app, &block("alice", "bob", 0))
        .await
        .unwrap();
    let again = store
        .put_block(app, &block("alice", "bob", 30))
        .await
        .unwrap();
    assert_eq!(
        again.created_at, first.created_at,
        "blocking again keeps the first block"
    );
    store
        .put_block(app, &block("alice", "carol", 5))
        .await
        .unwrap();
    store
        .put_block(app, &block("dave", "bob", 1))
        .await
        .unwrap();
    store
        .put_block(other_app, &block("erin", "bob", 1))
        .await
        .unwrap();
    let listed: Vec<String> = store
        .blocks_by(app, "alice")
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.blocked_user_id)
        .collect();
    assert_eq!(listed, ["bob", "carol"], "oldest first");
    assert_eq!(
        store.blockers_of(app, "bob").await.unwrap(),
        ["alice", "dave"],
        "other apps' blocks are not seen"
    );
    assert!(store.blocks_by(app, "bob").await.unwrap().is_empty());

    // A blocked author's message counts as unread for nobody who blocked them.
    let cid = "messaging:blocked";
    store
        .create_channel(
            app,
            &channel(cid, "bob"),
            &[
                member(cid, "alice"),
                member(cid, "bob"),
                member(cid, "carol"),
            ],
        )
        .await
        .unwrap();
    store
        .send_message(app, &message("bl1", cid, "bob", None, 0), true, true)
        .await
        .unwrap();
    let unread = |user: &'static str| async move {
        store.unread_channels(app, user).await.unwrap()[0].unread_messages
    };
    assert_eq!(unread("alice").await, 0, "alice blocked bob");
    assert_eq!(unread("carol").await, 1, "carol did not");

    assert!(store.remove_block(app, "alice", "bob").await.unwrap());
    assert!(
        !store.remove_block(app, "alice", "bob").await.unwrap(),
        "nothing left to lift"
    );
    assert_eq!(store.blockers_of(app, "bob").await.unwrap(), ["dave"]);
    store
        .send_message(app, &message("bl2", cid, "bob", None, 10), true, true)
        .await
        .unwrap();
    assert_eq!(unread("alice").await, 1, "unblocked: counted again");
}

async fn blocklists_are_limited_updated_and_detached_on_delete(store: &dyn Store) {
    let app = store.ensure_app("key-bll", "s", "bll").await.unwrap().id;
    let now = Utc::now();
    let list = |name: &str, words: &[&str]| Blocklist {
        name: name.into(),
        kind: "word".into(),
        words: words.iter().map(|w| (*w).to_owned()).collect(),
        created_at: now,
        updated_at: now,
    };
    let created = store
        .create_blocklist(app, &list("Foo", &["zeta", "alpha", "mid"]), 3)
        .await
        .unwrap();
    assert_eq!(created.words, ["zeta", "alpha", "mid"], "order is kept");
    let taken = store.create_blocklist(app, &list("Foo", &["x"]), 3).await;
    assert!(
        matches!(taken, Err(crate::StoreError::Conflict(_))),
        "{taken:?}"
    );
    store
        .create_blocklist(app, &list("bar", &[]), 3)
        .await
        .unwrap();
    store
        .create_blocklist(app, &list("baz", &["b"]), 3)
        .await
        .unwrap();
    let full = store.create_blocklist(app, &list("qux", &["q"]), 3).await;
    assert!(
        matches!(full, Err(crate::StoreError::Conflict(_))),
        "{full:?}"
    );
    let names: Vec<String> = store
        .blocklists(app)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["Foo", "bar", "baz"]);

    let later = now + Duration::seconds(5);
    let updated = store
        .update_blocklist(app, "Foo", &["new".into(), "words".into()], later)
        .await
        .unwrap();
    assert_eq!(updated.words, ["new", "words"]);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at > created.updated_at);
    let read = store.blocklist(app, "Foo").await.unwrap().expect("stored");
    assert_eq!(read, updated);
    assert!(matches!(
        store.update_blocklist(app, "nope", &[], later).await,
        Err(crate::StoreError::NotFound)
    ));

    // Deleting a list detaches it from the channel types that name it, and only from those.
    let mut screened = eddy_core::config::ChannelConfig::built_in("screened");
    screened.blocklist = Some("Foo".into());
    screened.blocklist_behavior = "block".into();
    store.create_channel_type(app, &screened).await.unwrap();
    let mut other = eddy_core::config::ChannelConfig::built_in("other");
    other.blocklist = Some("bar".into());
    store.create_channel_type(app, &other).await.unwrap();
    store.delete_blocklist(app, "Foo", later).await.unwrap();
    assert!(store.blocklist(app, "Foo").await.unwrap().is_none());
    assert!(matches!(
        store.delete_blocklist(app, "Foo", later).await,
        Err(crate::StoreError::NotFound)
    ));
    let types = store.channel_types(app).await.unwrap();
    let config = |name: &str| {
        types
            .iter()
            .find(|t| t.name == name)
            .expect("type")
            .config
            .clone()
    };
    assert_eq!(config("screened").blocklist, None);
    assert_eq!(config("screened").blocklist_behavior, "block");
    assert_eq!(config("other").blocklist.as_deref(), Some("bar"));
    store
        .create_blocklist(app, &list("qux", &["q"]), 3)
        .await
        .unwrap();
}

async fn calls_members_and_call_types_round_trip(store: &dyn Store) {
    let app = store
        .ensure_app("key-calls", "s", "calls")
        .await
        .unwrap()
        .id;
    let other_app = store
        .ensure_app("key-calls2", "s", "calls2")
        .await
        .unwrap()
        .id;
    // Stored times have microsecond precision.
    let now = crate::encoding::parse_ts(&crate::encoding::ts(&Utc::now())).unwrap();
    // Call types: create once, replace keeps created_at, delete once.
    let kind = CallTypeRecord {
        name: "town_hall".into(),
        doc: json!({"grants": {"user": ["join-call"]}})
            .as_object()
            .unwrap()
            .clone(),
        created_at: now,
        updated_at: now,
    };
    store.put_call_type(app, &kind, true).await.unwrap();
    assert!(matches!(
        store.put_call_type(app, &kind, true).await,
        Err(StoreError::Conflict(_))
    ));
    let later = CallTypeRecord {
        doc: json!({"grants": {"user": []}}).as_object().unwrap().clone(),
        created_at: now + Duration::seconds(9),
        updated_at: now + Duration::seconds(9),
        ..kind.clone()
    };
    let replaced = store.put_call_type(app, &later, false).await.unwrap();
    assert_eq!(replaced.created_at, kind.created_at);
    assert_eq!(replaced.doc["grants"], json!({"user": []}));
    assert_eq!(store.call_types(app).await.unwrap().len(), 1);
    assert!(store.call_types(other_app).await.unwrap().is_empty());
    store.delete_call_type(app, "town_hall").await.unwrap();
    assert_eq!(
        store.delete_call_type(app, "town_hall").await,
        Err(StoreError::NotFound)
    );

    let call = |id: &str, seconds: i64, color: &str| Call {
        cid: format!("default:{id}"),
        kind: "default".into(),
        id: id.into(),
        created_by: "alice".into(),
        team: None,
        backstage: false,
        doc: json!({"custom": {"color": color}})
            .as_object()
            .unwrap()
            .clone(),
        member_count: 0,
        version: 0,
        created_at: now + Duration::seconds(seconds),
        updated_at: now + Duration::seconds(seconds),
        starts_at: None,
        ended_at: None,
        deleted_at: None,
    };
    let member = |cid: &str, user: &str, role: &str, seconds: i64| CallMember {
        cid: cid.into(),
        user_id: user.into(),
        role: role.into(),
        doc: Map::new(),
        created_at: now + Duration::seconds(seconds),
        updated_at: now + Duration::seconds(seconds),
    };
    let (first, created) = store
        .create_call(
            app,
            &call("c1", 0, "red"),
            &[
                member("default:c1", "john", "call_member", 1),
                member("default:c1", "jack", "admin", 1),
            ],
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.member_count, 2);
    let (again, created) = store
        .create_call(app, &call("c1", 5, "blue"), &[])
        .await
        .unwrap();
    assert!(!created, "an existing call is returned unchanged");
    assert_eq!(again.doc["custom"]["color"], "red");
    store
        .create_call(
            app,
            &call("c2", 1, "blue"),
            &[member("default:c2", "john", "call_member", 2)],
        )
        .await
        .unwrap();
    store
        .create_call(other_app, &call("c3", 2, "red"), &[])
        .await
        .unwrap();

    // Members: first per call sorted by created_at then user_id; upsert reports added vs updated.
    let firsts = store
        .call_members(app, &["default:c1".into(), "default:c2".into()], 1)
        .await
        .unwrap();
    let ids: Vec<_> = firsts
        .iter()
        .map(|m| (m.cid.as_str(), m.user_id.as_str()))
        .collect();
    assert_eq!(ids, [("default:c1", "jack"), ("default:c2", "john")]);
    let upserted = store
        .upsert_call_members(
            app,
            "default:c1",
            &[
                member("default:c1", "jane", "host", 3),
                member("default:c1", "john", "admin", 3),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        upserted
            .iter()
            .map(|(m, added)| (m.user_id.as_str(), *added))
            .collect::<Vec<_>>(),
        [("jane", true), ("john", false)]
    );
    assert_eq!(
        upserted[1].0.created_at,
        now + Duration::seconds(1),
        "an update keeps created_at"
    );
    let parse = |filter: serde_json::Value,
                 sort: serde_json::Value,
                 limit: i64,
                 offset: i64,
                 schema: &eddy_query::Schema,
                 fields: &[&str]| ListQuery {
        filter: parse_filter(&filter, schema).unwrap(),
        sort: parse_sort(Some(&sort), fields, false).unwrap(),
        limit,
        offset,
    };
    let members_query = |filter, sort, limit, offset| {
        parse(
            filter,
            sort,
            limit,
            offset,
            &crate::schemas::CALL_MEMBERS,
            &["user_id", "created_at"],
        )
    };
    let page = store
        .query_call_members(
            app,
            "default:c1",
            &members_query(
                json!({}),
                json!([{"field": "user_id", "direction": 1}]),
                2,
                0,
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|m| m.user_id.as_str()).collect::<Vec<_>>(),
        ["jack", "jane"]
    );
    let admins = store
        .query_call_members(
            app,
            "default:c1",
            &members_query(json!({"role": {"$eq": "admin"}}), json!([]), 10, 0),
        )
        .await
        .unwrap();
    assert_eq!(
        admins
            .iter()
            .map(|m| m.user_id.as_str())
            .collect::<Vec<_>>(),
        ["jack", "john"]
    );
    let removed = store
        .remove_call_members(app, "default:c1", &["jane".into(), "nobody".into()])
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(
        store
            .call(app, "default:c1")
            .await
            .unwrap()
            .unwrap()
            .member_count,
        2
    );
    assert_eq!(
        store
            .call_members_by_user(app, "default:c1", &["john".into(), "jane".into()])
            .await
            .unwrap()
            .len(),
        1
    );

    // Queries: custom data, members, sort; other apps never show.
    let calls_query = |filter| {
        parse(
            filter,
            json!([{"field": "created_at", "direction": 1}]),
            10,
            0,
            &crate::schemas::CALLS,
            &["created_at"],
        )
    };
    let cids = |calls: Vec<Call>| calls.into_iter().map(|c| c.cid).collect::<Vec<_>>();
    assert_eq!(
        cids(
            store
                .query_calls(app, &calls_query(json!({})))
                .await
                .unwrap()
        ),
        ["default:c1", "default:c2"]
    );
    assert_eq!(
        cids(
            store
                .query_calls(app, &calls_query(json!({"custom.color": "blue"})))
                .await
                .unwrap()
        ),
        ["default:c2"]
    );
    assert_eq!(
        cids(
            store
                .query_calls(app, &calls_query(json!({"members": {"$in": ["jack"]}})))
                .await
                .unwrap()
        ),
        ["default:c1"]
    );
    assert_eq!(
        cids(
            store
                .query_calls(
                    app,
                    &calls_query(json!({"ongoing": false, "backstage": false}))
                )
                .await
                .unwrap()
        )
        .len(),
        2
    );

    // Updates are versioned.
    let mut current = store.call(app, "default:c2").await.unwrap().unwrap();
    current.backstage = true;
    current.ended_at = Some(now);
    let updated = store.update_call(app, &current).await.unwrap();
    assert_eq!(updated.version, current.version + 1);
    assert!(updated.backstage);
    assert!(matches!(
        store.update_call(app, &current).await,
        Err(StoreError::Conflict(_))
    ));

    // Soft delete hides the call; creating the id again makes a fresh call; hard delete purges.
    store
        .delete_call(app, "default:c1", false, now)
        .await
        .unwrap();
    assert!(store.call(app, "default:c1").await.unwrap().is_none());
    assert_eq!(
        store.delete_call(app, "default:c1", false, now).await,
        Err(StoreError::NotFound)
    );
    let (fresh, created) = store
        .create_call(app, &call("c1", 9, "green"), &[])
        .await
        .unwrap();
    assert!(created);
    assert_eq!(fresh.member_count, 0);
    assert_eq!(fresh.doc["custom"]["color"], "green");
    store
        .delete_call(app, "default:c1", true, now)
        .await
        .unwrap();
    assert!(store.call(app, "default:c1").await.unwrap().is_none());
    assert!(store
        .call_members(app, &["default:c1".into()], 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn sqlite_passes_the_store_suite() {
    let store = sqlite().await;
    apps_are_created_once_and_isolated(&store).await;
    upsert_keeps_created_at(&store).await;
    sending_updates_channel_thread_and_unread(&store).await;
    message_pages_are_ascending_and_bounded(&store).await;
    pinned_messages_are_listed_by_pin_time(&store).await;
    reactions_summarise_and_replace(&store).await;
    channel_queries_filter_and_sort(&store).await;
    member_driven_channel_queries_match_the_channel_scan(&store).await;
    sqlite_search_plans_agree(&store).await;
    events_are_kept_in_order_per_channel(&store).await;
    mutes_are_renewed_listed_until_expiry_and_removed(&store).await;
    devices_are_registered_once_listed_and_deleted(&store).await;
    bans_are_replaced_mirrored_expired_and_lifted(&store).await;
    flags_conflict_are_withdrawn_and_queried_by_kind(&store).await;
    blocks_are_kept_once_listed_and_silence_unread_counts(&store).await;
    blocklists_are_limited_updated_and_detached_on_delete(&store).await;
    imports_recompute_counts_and_are_idempotent(&store).await;
    batched_pages_match_single_channel_pages(&store).await;
    calls_members_and_call_types_round_trip(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_store_suite() {
    with_postgres(|store| async move {
        let store: &dyn Store = &*store;
        apps_are_created_once_and_isolated(store).await;
        upsert_keeps_created_at(store).await;
        sending_updates_channel_thread_and_unread(store).await;
        message_pages_are_ascending_and_bounded(store).await;
        pinned_messages_are_listed_by_pin_time(store).await;
        reactions_summarise_and_replace(store).await;
        channel_queries_filter_and_sort(store).await;
        member_driven_channel_queries_match_the_channel_scan(store).await;
        events_are_kept_in_order_per_channel(store).await;
        mutes_are_renewed_listed_until_expiry_and_removed(store).await;
        devices_are_registered_once_listed_and_deleted(store).await;
        bans_are_replaced_mirrored_expired_and_lifted(store).await;
        flags_conflict_are_withdrawn_and_queried_by_kind(store).await;
        blocks_are_kept_once_listed_and_silence_unread_counts(store).await;
        blocklists_are_limited_updated_and_detached_on_delete(store).await;
        imports_recompute_counts_and_are_idempotent(store).await;
        batched_pages_match_single_channel_pages(store).await;
        calls_members_and_call_types_round_trip(store).await;
    })
    .await;
}

/// PostgreSQL runs writers concurrently: replies racing to one parent must all be counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_replies_all_count() {
    with_postgres(|store| async move {
        let app = store.ensure_app("key-c", "s", "c").await.unwrap().id;
        let cid = "messaging:race";
        let everyone: Vec<Member> = ["alice", "bob", "carol"]
            .iter()
            .map(|id| member(cid, id))
            .collect();
        store
            .create_channel(app, &channel(cid, "alice"), &everyone)
            .await
            .unwrap();
        for round in 0..5 {
            let parent = format!("parent{round}");
            store
                .send_message(app, &message(&parent, cid, "alice", None, 0), true, true)
                .await
                .unwrap();
            let racers = ["bob", "carol"].map(|author| {
                let store = store.clone();
                let reply = message(&format!("{parent}-{author}"), cid, author, Some(&parent), 1);
                tokio::spawn(async move { store.send_message(app, &reply, false, true).await })
            });
            for racer in racers {
                racer.await.unwrap().unwrap();
            }
            let stored = store.message(app, &parent).await.unwrap().expect("parent");
            assert_eq!(stored.reply_count, 2, "round {round}: both replies count");
            let mut participants = stored.thread_participants.clone();
            participants.sort();
            assert_eq!(participants, ["alice", "bob", "carol"]);
        }
        // A larger burst of top-level messages: every other member's unread count sees each one.
        let burst: Vec<_> = (0..8)
            .map(|index| {
                let store = store.clone();
                let sent = message(&format!("burst{index}"), cid, "alice", None, 10 + index);
                tokio::spawn(async move { store.send_message(app, &sent, true, true).await })
            })
            .collect();
        for sender in burst {
            sender.await.unwrap().unwrap();
        }
        let unread = store.unread_channels(app, "bob").await.unwrap();
        assert_eq!(unread[0].unread_messages, 5 + 8);
    })
    .await;
}
