//! Parity test: one scenario over every contract method and the real query schemas, run on SQLite and
//! PostgreSQL; the two transcripts must be identical.

use crate::model::*;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{schemas, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use eddy_core::config::ChannelConfig;
use eddy_query::{parse_filter, parse_sort, Schema};
use serde_json::{json, Value};

fn at(seconds: i64) -> Timestamp {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap()
        + Duration::seconds(seconds)
}

fn text(seconds: i64) -> String {
    at(seconds).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn doc(value: Value) -> Document {
    value.as_object().cloned().unwrap()
}

fn error_kind(error: &StoreError) -> &'static str {
    match error {
        StoreError::NotFound => "NotFound",
        StoreError::Conflict(_) => "Conflict",
        StoreError::Query(_) => "Query",
        StoreError::Backend(_) => "Backend",
    }
}

fn outcome<T>(result: Result<T, StoreError>, show: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => show(value),
        // Messages name backend constraints; only the kind is part of the contract.
        Err(error) => format!("Err({})", error_kind(&error)),
    }
}

fn list(query: Value, sort: Value, schema: &Schema, limit: i64) -> ListQuery {
    ListQuery {
        filter: parse_filter(&query, schema).unwrap(),
        sort: parse_sort(Some(&sort), &[], true).unwrap(),
        limit,
        offset: 0,
    }
}

fn new_user(id: &str, role: &str, seconds: i64, data: Value) -> User {
    User {
        id: id.into(),
        role: role.into(),
        doc: doc(data),
        created_at: at(seconds),
        updated_at: at(seconds),
        last_active: None,
        deactivated_at: None,
        deleted_at: None,
    }
}

fn new_channel(cid: &str, creator: &str, seconds: i64, data: Value) -> Channel {
    let (kind, id) = cid.split_once(':').unwrap();
    Channel {
        cid: cid.into(),
        kind: kind.into(),
        id: id.into(),
        created_by: Some(creator.into()),
        doc: doc(data),
        frozen: false,
        disabled: false,
        member_count: 0,
        created_at: at(seconds),
        updated_at: at(seconds),
        last_message_at: None,
        truncated_at: None,
        deleted_at: None,
    }
}

fn new_member(cid: &str, user_id: &str, seconds: i64) -> Member {
    Member {
        cid: cid.into(),
        user_id: user_id.into(),
        channel_role: "channel_member".into(),
        doc: Document::new(),
        hidden: false,
        hide_messages_before: None,
        created_at: at(seconds),
        updated_at: at(seconds),
        last_read: at(seconds),
        last_read_message_id: None,
        unread_messages: 0,
        first_unread_message_id: None,
    }
}

fn new_message(
    id: &str,
    cid: &str,
    author: &str,
    parent: Option<&str>,
    seconds: i64,
    data: Value,
) -> Message {
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
        doc: doc(data),
        reaction_groups: Document::new(),
        latest_reactions: Vec::new(),
        thread_participants: Vec::new(),
        created_at: at(seconds),
        updated_at: at(seconds),
        deleted_at: None,
    }
}

/// JSON with object keys sorted at every level (JSONB does not keep key order).
fn canon(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

fn canon_doc(document: &Document) -> String {
    canon(&Value::Object(document.clone()))
}

fn ids<T>(items: Vec<T>, id: impl Fn(&T) -> String) -> String {
    format!("{:?}", items.iter().map(id).collect::<Vec<_>>())
}

/// Everything observable the scenario does, one line per step.
async fn scenario(store: &dyn Store) -> Vec<String> {
    let mut log = Vec::new();
    let app = store
        .ensure_app("parity", "secret", "parity")
        .await
        .unwrap()
        .id;
    let alice = new_user(
        "alice",
        "admin",
        1,
        json!({"name": "Alice Smith", "teams": ["red", "blue"], "age": 30, "color": "green", "a": {"b": 1}}),
    );
    let bob = new_user(
        "bob",
        "user",
        2,
        json!({"name": "Bob", "teams": ["red"], "age": 20, "banned": true, "color": null}),
    );
    let carol = new_user(
        "carol",
        "user",
        3,
        json!({"name": "carol jones", "age": 25.5, "teams": []}),
    );
    let mut dave = new_user(
        "dave",
        "user",
        4,
        json!({"name": "Dave_%", "invisible": true}),
    );
    dave.deactivated_at = Some(at(4));
    let erin = new_user("erin", "guest", 5, json!({"name": "Erin"}));
    let mut alice_active = alice.clone();
    alice_active.last_active = Some(at(100));
    log.push(outcome(
        store
            .upsert_users(app, &[carol, alice_active, bob, dave, erin])
            .await,
        |u| ids(u, |u| u.id.clone()),
    ));
    log.push(outcome(
        store.delete_user(app, "erin", false, at(6)).await,
        |u| format!("{:?}", u.deleted_at),
    ));
    log.push(outcome(
        store.touch_user(app, "carol", at(50)).await,
        |_| "touched".into(),
    ));

    let general = "messaging:general";
    let members = [
        new_member(general, "alice", 10),
        new_member(general, "bob", 11),
        new_member(general, "carol", 12),
    ];
    log.push(outcome(store.create_channel(app, &new_channel(general, "alice", 10, json!({"name": "General", "filter_tags": ["news", "fun"], "team": "red", "color": "blue"})), &members).await, |(c, new)| format!("{} {new} {}", c.cid, c.member_count)));
    let mut random = new_channel(
        "messaging:random",
        "bob",
        20,
        json!({"name": "Random stuff"}),
    );
    random.frozen = true;
    log.push(outcome(
        store
            .create_channel(
                app,
                &random,
                &[
                    new_member("messaging:random", "bob", 20),
                    new_member("messaging:random", "carol", 21),
                ],
            )
            .await,
        |(c, new)| format!("{} {new} {} {}", c.cid, c.member_count, c.frozen),
    ));
    log.push(outcome(
        store
            .create_channel(
                app,
                &new_channel(
                    "team:ops",
                    "alice",
                    30,
                    json!({"name": "Ops", "filter_tags": ["ops"]}),
                ),
                &[new_member("team:ops", "alice", 30)],
            )
            .await,
        |(c, new)| format!("{} {new}", c.cid),
    ));
    log.push(outcome(
        store
            .create_channel(
                app,
                &new_channel("messaging:empty", "carol", 40, json!({})),
                &[new_member("messaging:empty", "carol", 40)],
            )
            .await,
        |(c, new)| format!("{} {new}", c.cid),
    ));

    let mut alice_member = new_member(general, "alice", 10);
    alice_member.channel_role = "channel_moderator".into();
    alice_member.doc =
        doc(json!({"pinned_at": text(15), "invited": true, "invite_accepted_at": text(14)}));
    log.push(outcome(
        store.update_member(app, &alice_member).await,
        |m| m.channel_role,
    ));
    let mut bob_random = new_member("messaging:random", "bob", 20);
    bob_random.doc = doc(json!({"archived_at": text(22), "invited": true}));
    log.push(outcome(store.update_member(app, &bob_random).await, |m| {
        canon_doc(&m.doc)
    }));
    let mut carol_general = new_member(general, "carol", 12);
    carol_general.hidden = true;
    log.push(outcome(
        store.update_member(app, &carol_general).await,
        |m| format!("{}", m.hidden),
    ));

    let sends = [
        (
            new_message(
                "m1",
                general,
                "alice",
                None,
                100,
                json!({"text": "hello world", "attachments": [{"type": "image"}], "mentioned_users": ["bob"]}),
            ),
            true,
        ),
        (
            new_message(
                "m2",
                general,
                "bob",
                None,
                110,
                json!({"text": "Hello there friends", "attachments": [], "pinned": true}),
            ),
            true,
        ),
        (
            new_message(
                "r1",
                general,
                "carol",
                Some("m1"),
                120,
                json!({"text": "a reply"}),
            ),
            false,
        ),
        (
            new_message(
                "m3",
                general,
                "carol",
                None,
                130,
                json!({"text": "foo-bar baz", "silent": true}),
            ),
            false,
        ),
        (
            new_message(
                "m4",
                "messaging:random",
                "bob",
                None,
                140,
                json!({"text": "world peace"}),
            ),
            true,
        ),
        (
            new_message(
                "m6",
                "messaging:random",
                "carol",
                None,
                150,
                json!({"text": "later"}),
            ),
            true,
        ),
    ];
    for (message, counts) in sends {
        log.push(outcome(
            store.send_message(app, &message, counts, true).await,
            |s| {
                format!(
                    "{} parent={:?} last={:?} unhidden={:?}",
                    s.message.id,
                    s.parent.map(|p| (p.reply_count, p.thread_participants)),
                    s.channel.last_message_at,
                    s.unhidden
                )
            },
        ));
    }
    let mut system = new_message(
        "m5",
        general,
        "alice",
        None,
        145,
        json!({"text": "system hello"}),
    );
    system.kind = "system".into();
    log.push(outcome(
        store.send_message(app, &system, false, false).await,
        |s| s.message.kind,
    ));
    log.push(outcome(
        store
            .send_message(
                app,
                &new_message("x", "messaging:none", "alice", None, 1, json!({})),
                true,
                true,
            )
            .await,
        |s| s.message.id,
    ));

    for (message, user, kind, score, unique) in [
        ("m1", "bob", "like", 1, false),
        ("m1", "carol", "love", 3, false),
        ("m2", "alice", "like", 1, false),
        ("m1", "bob", "wow", 2, true),
        ("m1", "carol", "love", 4, false),
    ] {
        let reaction = Reaction {
            message_id: message.into(),
            user_id: user.into(),
            kind: kind.into(),
            score,
            doc: Document::new(),
            created_at: at(200 + score),
            updated_at: at(200 + score),
        };
        log.push(outcome(
            store.add_reaction(app, &reaction, unique).await,
            |(m, replaced)| {
                format!(
                    "{replaced} {} {:?}",
                    canon_doc(&m.reaction_groups),
                    m.latest_reactions
                        .iter()
                        .map(|r| (&r.user_id, &r.kind))
                        .collect::<Vec<_>>()
                )
            },
        ));
    }
    log.push(outcome(
        store.remove_reaction(app, "m2", "alice", "like").await,
        |(m, r)| format!("{} {}", r.kind, canon_doc(&m.reaction_groups)),
    ));
    log.push(outcome(
        store.remove_reaction(app, "m2", "alice", "like").await,
        |_| "again".into(),
    ));
    log.push(outcome(store.reactions(app, "m1", 10, 0).await, |r| {
        ids(r, |r| format!("{}:{}", r.user_id, r.kind))
    }));
    log.push(outcome(
        store
            .reactions_by_user(app, "carol", &["m1".into(), "m2".into()])
            .await,
        |r| ids(r, |r| r.kind.clone()),
    ));

    // Users.
    let users = [
        json!({}),
        json!({"name": {"$autocomplete": "jo"}}),
        json!({"name": {"$autocomplete": "al"}}),
        json!({"name": {"$autocomplete": "_"}}),
        json!({"teams": {"$contains": "red"}}),
        json!({"teams": {"$in": ["blue", "green"]}}),
        json!({"teams": {"$eq": ["blue", "red"]}}),
        json!({"teams": {"$nin": ["red"]}}),
        json!({"banned": false}),
        json!({"banned": {"$ne": true}}),
        json!({"age": {"$gt": 21}}),
        json!({"age": {"$lte": 25.5}}),
        json!({"color": {"$in": ["green", "blue"]}}),
        json!({"color": {"$exists": false}}),
        json!({"color": null}),
        json!({"a.b": 1}),
        json!({"role": {"$in": ["admin", "guest"]}}),
        json!({"id": {"$gte": "bob"}}),
        json!({"created_at": {"$gte": text(2)}}),
        json!({"last_active": {"$exists": true}}),
        json!({"$or": [{"role": "admin"}, {"age": 20}]}),
        json!({"$nor": [{"role": "admin"}]}),
        json!({"invisible": true}),
    ];
    for filter in users {
        for include in [false, true] {
            let query = list(filter.clone(), json!([]), &schemas::USERS, 10);
            log.push(format!(
                "users {filter} {include}: {}",
                outcome(store.query_users(app, &query, include).await, |u| ids(
                    u,
                    |u| u.id.clone()
                ))
            ));
        }
    }
    for sort in [
        json!([{"field": "name", "direction": 1}]),
        json!([{"field": "age", "direction": -1}]),
        json!([{"field": "last_active", "direction": -1}]),
        json!([{"field": "color", "direction": 1}]),
        json!([{"field": "id", "direction": -1}]),
    ] {
        let query = list(json!({}), sort.clone(), &schemas::USERS, 10);
        log.push(format!(
            "users sort {sort}: {}",
            outcome(store.query_users(app, &query, true).await, |u| ids(
                u,
                |u| u.id.clone()
            ))
        ));
    }

    // Channels, per viewer.
    let channel_filters = [
        json!({}),
        json!({"members": {"$in": ["carol"]}}),
        json!({"members": {"$eq": ["bob", "carol"]}}),
        json!({"members": {"$nin": ["alice"]}}),
        json!({"joined": true}),
        json!({"joined": false}),
        json!({"pinned": true}),
        json!({"pinned": false}),
        json!({"archived": true}),
        json!({"has_unread": true}),
        json!({"channel_role": "channel_moderator"}),
        json!({"filter_tags": {"$contains": "news"}}),
        json!({"filter_tags": {"$in": ["ops", "fun"]}}),
        json!({"name": {"$autocomplete": "sta"}}),
        json!({"frozen": true}),
        json!({"type": "team"}),
        json!({"last_message_at": {"$gt": text(105)}}),
        json!({"last_message_at": {"$exists": false}}),
        json!({"last_updated": {"$gte": text(30)}}),
        json!({"color": "blue"}),
        json!({"member_count": {"$gte": 2}}),
        json!({"cid": {"$in": ["team:ops", "messaging:empty"]}}),
        json!({"$or": [{"type": "team"}, {"frozen": true}]}),
        json!({"$nor": [{"type": "team"}, {"frozen": true}]}),
        json!({"created_by_id": "alice"}),
        json!({"team": "red"}),
        json!({"invite": "pending"}),
        json!({"invite": {"$in": ["accepted", "rejected"]}}),
        json!({"muted": true}),
        json!({"muted": false}),
        json!({"distinct": false}),
        json!({"member.user.name": {"$autocomplete": "car"}}),
        json!({"member.user.name": {"$in": ["Carol", "Nobody"]}}),
        json!({"app_banned": "excluded"}),
        json!({"app_banned": "only"}),
        json!({"name": {"$q": "sta"}}),
    ];
    let channel_sorts = [
        json!([]),
        json!([{"field": "pinned_at", "direction": -1}]),
        json!([{"field": "unread_count", "direction": -1}]),
        json!([{"field": "has_unread", "direction": -1}]),
        json!([{"field": "member_count", "direction": 1}]),
        json!([{"field": "last_updated", "direction": 1}]),
        json!([{"field": "last_message_at", "direction": 1}]),
        json!([{"field": "created_at", "direction": -1}]),
        json!([{"field": "color", "direction": 1}]),
    ];
    for viewer in ["alice", "bob", "carol"] {
        for hidden in [Some(false), Some(true), None] {
            for filter in &channel_filters {
                let query = ChannelQuery {
                    query: list(filter.clone(), json!([]), &schemas::CHANNELS, 10),
                    viewer: Some(viewer.into()),
                    hidden,
                };
                log.push(format!(
                    "channels {viewer} {hidden:?} {filter}: {}",
                    outcome(store.query_channels(app, &query).await, |c| ids(c, |c| c
                        .cid
                        .clone()))
                ));
            }
        }
        for sort in &channel_sorts {
            let query = ChannelQuery {
                query: list(json!({}), sort.clone(), &schemas::CHANNELS, 10),
                viewer: Some(viewer.into()),
                hidden: None,
            };
            log.push(format!(
                "channels {viewer} sort {sort}: {}",
                outcome(store.query_channels(app, &query).await, |c| ids(c, |c| c
                    .cid
                    .clone()))
            ));
        }
    }
    let server = ChannelQuery {
        query: list(json!({"joined": true}), json!([]), &schemas::CHANNELS, 10),
        viewer: None,
        hidden: None,
    };
    log.push(format!(
        "channels server joined: {}",
        outcome(store.query_channels(app, &server).await, |c| ids(c, |c| c
            .cid
            .clone()))
    ));

    // Members of #general.
    for filter in [
        json!({}),
        json!({"name": {"$autocomplete": "car"}}),
        json!({"is_moderator": true}),
        json!({"is_moderator": false}),
        json!({"joined": true}),
        json!({"channel_role": "channel_member"}),
        json!({"last_active": {"$exists": true}}),
        json!({"user_id": {"$in": ["bob", "zed"]}}),
        json!({"pinned_at": {"$exists": true}}),
        json!({"created_at": {"$gt": text(10)}}),
        json!({"user.email": {"$autocomplete": "a"}}),
        json!({"invite": "pending"}),
        json!({"cid": general}),
        json!({"banned": false}),
        json!({"name": {"$q": "car"}}),
    ] {
        let query = list(filter.clone(), json!([]), &schemas::MEMBERS, 10);
        log.push(format!(
            "members {filter}: {}",
            outcome(store.query_members(app, general, &query).await, |m| ids(
                m,
                |m| m.user_id.clone()
            ))
        ));
    }
    for sort in [
        json!([{"field": "name", "direction": -1}]),
        json!([{"field": "last_active", "direction": -1}]),
        json!([{"field": "user_id", "direction": -1}]),
    ] {
        let query = list(json!({}), sort.clone(), &schemas::MEMBERS, 10);
        log.push(format!(
            "members sort {sort}: {}",
            outcome(store.query_members(app, general, &query).await, |m| ids(
                m,
                |m| m.user_id.clone()
            ))
        ));
    }

    // Threads.
    for viewer in ["alice", "bob", "carol"] {
        for (filter, sort) in [
            (json!({}), json!([])),
            (json!({"channel_cid": general}), json!([])),
            (json!({"has_unread": true}), json!([])),
            (
                json!({"reply_count": {"$gte": 2}}),
                json!([{"field": "reply_count", "direction": -1}]),
            ),
            (
                json!({"participant_count": {"$gt": 1}}),
                json!([{"field": "last_message_at", "direction": 1}]),
            ),
            (json!({"channel.team": "red"}), json!([])),
            (
                json!({"created_by_user_id": "alice"}),
                json!([{"field": "created_at", "direction": 1}]),
            ),
        ] {
            let query = list(filter.clone(), sort.clone(), &schemas::THREADS, 10);
            log.push(format!(
                "threads {viewer} {filter} {sort}: {}",
                outcome(store.query_threads(app, viewer, &query).await, |m| ids(
                    m,
                    |m| m.id.clone()
                ))
            ));
        }
    }

    // Search.
    for (channels, messages, sort) in [
        (
            json!({"members": {"$in": ["bob"]}}),
            json!({"text": {"$q": "hello"}}),
            json!([]),
        ),
        (
            json!({"members": {"$in": ["bob"]}}),
            json!({"text": {"$q": "HELLO friends"}}),
            json!([]),
        ),
        (
            json!({"members": {"$in": ["bob"]}}),
            json!({"text": {"$q": "foo bar"}}),
            json!([]),
        ),
        (
            json!({"members": {"$in": ["bob"]}}),
            json!({"text": {"$q": "world"}}),
            json!([{"field": "created_at", "direction": 1}]),
        ),
        (
            json!({"members": {"$in": ["bob"]}}),
            json!({"text": {"$q": "!!"}}),
            json!([]),
        ),
        (
            json!({"members": {"$in": ["bob"]}}),
            json!({"text": {"$q": "hello"}}),
            json!([{"field": "relevance", "direction": 1}, {"field": "id", "direction": 1}]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"attachments.type": {"$in": ["image", "video"]}}),
            json!([]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"text": {"$autocomplete": "fri"}}),
            json!([]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"attachments": {"$exists": true}}),
            json!([]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"attachments": {"$exists": false}}),
            json!([]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"mentioned_users.id": {"$contains": "bob"}}),
            json!([]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"pinned": true}),
            json!([]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"pinned": false}),
            json!([]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"reply_count": {"$gt": 0}}),
            json!([]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"user_id": "bob"}),
            json!([{"field": "text", "direction": 1}]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"parent_id": {"$exists": true}}),
            json!([]),
        ),
        (
            json!({"type": "messaging"}),
            json!({"silent": true}),
            json!([{"field": "reply_count", "direction": -1}]),
        ),
        (
            json!({"cid": "messaging:random"}),
            json!({"text": {"$gt": "a"}}),
            json!([{"field": "text", "direction": -1}]),
        ),
    ] {
        let channel_query = ChannelQuery {
            query: list(channels.clone(), json!([]), &schemas::CHANNELS, 10),
            viewer: None,
            hidden: None,
        };
        let message_query = list(messages.clone(), sort.clone(), &schemas::MESSAGES, 10);
        log.push(format!(
            "search {channels} {messages} {sort}: {}",
            outcome(
                store
                    .search_messages(app, &channel_query, &message_query)
                    .await,
                |m| ids(m, |m| m.id.clone())
            )
        ));
    }

    // Read state.
    log.push(outcome(
        store
            .unread_totals(
                app,
                &[
                    "alice".into(),
                    "bob".into(),
                    "carol".into(),
                    "nobody".into(),
                ],
            )
            .await,
        |mut t| {
            t.sort();
            format!("{t:?}")
        },
    ));
    log.push(outcome(store.unread_channels(app, "carol").await, |u| {
        ids(u, |u| {
            format!("{}:{}:{}", u.cid, u.unread_messages, text_of(&u.last_read))
        })
    }));
    let m2 = store.message(app, "m2").await.unwrap().unwrap();
    log.push(outcome(
        store.mark_unread(app, general, "alice", &m2).await,
        |m| {
            format!(
                "{:?}",
                m.map(|m| (
                    m.unread_messages,
                    m.last_read_message_id,
                    m.first_unread_message_id,
                    text_of(&m.last_read)
                ))
            )
        },
    ));
    log.push(outcome(
        store.mark_read(app, general, "bob", at(300), None).await,
        |m| {
            format!(
                "{:?}",
                m.map(|m| (m.unread_messages, m.last_read_message_id))
            )
        },
    ));
    log.push(outcome(
        store.mark_read(app, general, "nobody", at(300), None).await,
        |m| format!("{:?}", m.map(|m| m.user_id)),
    ));
    log.push(outcome(store.members(app, general, 2, 1).await, |m| {
        ids(m, |m| m.user_id.clone())
    }));
    log.push(outcome(
        store
            .members_of(
                app,
                &[general.into(), "messaging:random".into()],
                Some("carol"),
            )
            .await,
        |m| ids(m, |m| m.cid.clone()),
    ));
    log.push(outcome(
        store
            .members_of(app, &[general.into(), "messaging:random".into()], None)
            .await,
        |m| ids(m, |m| format!("{}/{}", m.cid, m.user_id)),
    ));

    // Pages.
    let page = |limit: i64| MessagePage {
        limit,
        ..MessagePage::default()
    };
    log.push(outcome(
        store.channel_messages(app, general, &page(10), None).await,
        |m| ids(m, |m| m.id.clone()),
    ));
    log.push(outcome(
        store
            .channel_messages(app, general, &page(10), Some(at(105)))
            .await,
        |m| ids(m, |m| m.id.clone()),
    ));
    log.push(outcome(
        store
            .channel_messages(
                app,
                general,
                &MessagePage {
                    limit: 2,
                    id_lte: Some("m3".into()),
                    ..MessagePage::default()
                },
                None,
            )
            .await,
        |m| ids(m, |m| m.id.clone()),
    ));
    log.push(outcome(
        store
            .channel_messages(
                app,
                general,
                &MessagePage {
                    limit: 2,
                    id_gte: Some("m2".into()),
                    ..MessagePage::default()
                },
                None,
            )
            .await,
        |m| ids(m, |m| m.id.clone()),
    ));
    log.push(outcome(
        store
            .channel_messages(
                app,
                general,
                &MessagePage {
                    limit: 5,
                    id_lt: Some("unknown".into()),
                    created_at_after: Some(at(101)),
                    ..MessagePage::default()
                },
                None,
            )
            .await,
        |m| ids(m, |m| m.id.clone()),
    ));
    log.push(outcome(
        store
            .channel_messages(
                app,
                general,
                &MessagePage {
                    limit: 5,
                    created_at_before: Some(at(125)),
                    ..MessagePage::default()
                },
                None,
            )
            .await,
        |m| ids(m, |m| m.id.clone()),
    ));
    log.push(outcome(store.replies(app, "m1", &page(10)).await, |m| {
        ids(m, |m| m.id.clone())
    }));
    log.push(outcome(
        store
            .messages(app, &["m4".into(), "m1".into(), "zz".into()])
            .await,
        |m| ids(m, |m| m.id.clone()),
    ));

    // Edits and deletes.
    let mut edited = store.message(app, "m4").await.unwrap().unwrap();
    edited.doc.insert("text".into(), json!("edited words"));
    edited.show_in_channel = true;
    log.push(outcome(store.update_message(app, &edited).await, |m| {
        format!("{:?} {}", m.doc.get("text"), m.show_in_channel)
    }));
    let search_edit = ChannelQuery {
        query: list(json!({}), json!([]), &schemas::CHANNELS, 10),
        viewer: None,
        hidden: None,
    };
    log.push(outcome(
        store
            .search_messages(
                app,
                &search_edit,
                &list(
                    json!({"text": {"$q": "edited"}}),
                    json!([]),
                    &schemas::MESSAGES,
                    10,
                ),
            )
            .await,
        |m| ids(m, |m| m.id.clone()),
    ));
    log.push(outcome(
        store.undelete_message(app, "m4", at(301)).await,
        |m| m.id,
    ));
    log.push(outcome(
        store.delete_message(app, "m4", false, at(302)).await,
        |(m, p)| format!("{} {:?} {}", m.id, m.deleted_at, p.is_some()),
    ));
    log.push(outcome(
        store.undelete_message(app, "m4", at(303)).await,
        |m| format!("{} {:?}", m.id, m.deleted_at),
    ));
    log.push(outcome(
        store.delete_message(app, "r1", true, at(304)).await,
        |(m, p)| format!("{} {:?}", m.id, p.map(|p| p.reply_count)),
    ));
    log.push(outcome(
        store.delete_message(app, "m1", true, at(305)).await,
        |(m, p)| format!("{} {}", m.id, p.is_some()),
    ));
    log.push(outcome(store.reactions(app, "m1", 10, 0).await, |r| {
        ids(r, |r| r.user_id.clone())
    }));
    log.push(outcome(
        store.delete_message(app, "m1", true, at(306)).await,
        |(m, _)| m.id,
    ));

    // Channels: update, truncate, delete, recreate.
    let mut renamed = store.channel(app, general).await.unwrap().unwrap();
    renamed.doc.insert("name".into(), json!("Renamed"));
    renamed.disabled = true;
    log.push(outcome(store.update_channel(app, &renamed).await, |c| {
        format!("{:?} {}", c.doc.get("name"), c.disabled)
    }));
    log.push(outcome(
        store
            .truncate_channel(app, "messaging:random", at(145), true)
            .await,
        |c| format!("{:?}", c.truncated_at),
    ));
    log.push(outcome(
        store
            .channel_messages(app, "messaging:random", &page(10), None)
            .await,
        |m| ids(m, |m| m.id.clone()),
    ));
    log.push(outcome(
        store
            .truncate_channel(app, "messaging:none", at(145), false)
            .await,
        |c| c.cid,
    ));
    log.push(outcome(
        store
            .add_members(
                app,
                "messaging:empty",
                &[
                    new_member("messaging:empty", "bob", 400),
                    new_member("messaging:empty", "carol", 400),
                ],
            )
            .await,
        |m| ids(m, |m| m.user_id.clone()),
    ));
    log.push(outcome(
        store
            .remove_members(app, "messaging:empty", &["carol".into(), "zed".into()])
            .await,
        |m| ids(m, |m| m.user_id.clone()),
    ));
    log.push(outcome(store.channel(app, "messaging:empty").await, |c| {
        format!("{:?}", c.map(|c| c.member_count))
    }));
    log.push(outcome(
        store
            .delete_channel(app, "messaging:empty", false, at(410))
            .await,
        |c| c.cid,
    ));
    log.push(outcome(
        store
            .delete_channel(app, "messaging:empty", false, at(411))
            .await,
        |c| c.cid,
    ));
    log.push(outcome(
        store
            .create_channel(
                app,
                &new_channel("messaging:empty", "alice", 420, json!({})),
                &[new_member("messaging:empty", "alice", 420)],
            )
            .await,
        |(c, new)| format!("{new} {} {:?}", c.member_count, c.deleted_at),
    ));
    log.push(outcome(
        store.delete_channel(app, "team:ops", true, at(430)).await,
        |c| c.cid,
    ));
    log.push(outcome(
        store
            .channels(app, &["team:ops".into(), general.into()])
            .await,
        |c| ids(c, |c| c.cid.clone()),
    ));

    // Moderation: bans with their mirrors, flags.
    let ban = |user_id: &str, cid: Option<&str>, reason: Option<&str>, seconds: i64| Ban {
        user_id: user_id.into(),
        cid: cid.map(str::to_owned),
        banned_by: Some("alice".into()),
        reason: reason.map(str::to_owned),
        shadow: false,
        ip_ban: false,
        created_at: at(seconds),
        expires_at: None,
    };
    let show_ban = |b: &Ban| {
        format!(
            "{} {:?} {:?} {:?} {} {} {} {:?}",
            b.user_id,
            b.cid,
            b.banned_by,
            b.reason,
            b.shadow,
            b.ip_ban,
            text_of(&b.created_at),
            b.expires_at.as_ref().map(text_of)
        )
    };
    let show_bans = |bans: Vec<Ban>| format!("{:?}", bans.iter().map(show_ban).collect::<Vec<_>>());
    for put in [
        Ban {
            expires_at: Some(at(700)),
            ..ban("carol", None, Some("spam"), 600)
        },
        Ban {
            shadow: true,
            ..ban("carol", None, Some("because"), 601)
        },
        Ban {
            expires_at: Some(at(650)),
            ip_ban: true,
            ..ban("bob", Some(general), Some("because"), 602)
        },
        ban("alice", Some("messaging:random"), None, 603),
        Ban {
            expires_at: Some(at(800)),
            ..ban("dave", None, Some("Quiet please"), 604)
        },
    ] {
        log.push(outcome(store.put_ban(app, &put).await, |_| "banned".into()));
    }
    let user_docs = |mut users: Vec<User>| {
        users.sort_by(|a, b| a.id.cmp(&b.id));
        format!(
            "{:?}",
            users
                .iter()
                .map(|u| format!("{} {}", u.id, canon_doc(&u.doc)))
                .collect::<Vec<_>>()
        )
    };
    let member_docs = |members: Vec<Member>| {
        format!(
            "{:?}",
            members
                .iter()
                .map(|m| format!("{} {} {}", m.cid, m.user_id, canon_doc(&m.doc)))
                .collect::<Vec<_>>()
        )
    };
    let everyone: Vec<String> = ["alice", "bob", "carol", "dave"].map(String::from).to_vec();
    log.push(outcome(store.users(app, &everyone).await, user_docs));
    log.push(outcome(
        store
            .members_of(app, &[general.into(), "messaging:random".into()], None)
            .await,
        member_docs,
    ));
    for (user, seconds) in [("carol", 600), ("bob", 600), ("bob", 650), ("alice", 0)] {
        log.push(format!(
            "bans_of {user} {seconds}: {}",
            outcome(store.bans_of(app, user, at(seconds)).await, show_bans)
        ));
    }
    for (filter, sort, active) in [
        (json!({}), json!([]), None),
        (json!({}), json!([]), Some(660)),
        (json!({}), json!([]), Some(750)),
        (json!({"reason": "because"}), json!([]), None),
        (json!({"channel_cid": general}), json!([]), None),
        (
            json!({"channel_cid": {"$in": [general, "messaging:random"]}}),
            json!([]),
            None,
        ),
        (json!({"channel_cid": {"$exists": false}}), json!([]), None),
        (
            json!({"channel_cid": {"$exists": true}}),
            json!([{"field": "user_id", "direction": -1}]),
            None,
        ),
        (
            json!({"user_id": {"$in": ["bob", "dave", "zed"]}}),
            json!([]),
            None,
        ),
        (
            json!({"user_id": {"$gte": "carol"}}),
            json!([{"field": "user_id", "direction": 1}]),
            None,
        ),
        (
            json!({"banned_by_id": "alice", "shadow": false}),
            json!([]),
            None,
        ),
        (json!({"shadow": true}), json!([]), None),
        (json!({"reason": {"$autocomplete": "qui"}}), json!([]), None),
        (json!({"reason": {"$gt": "b"}}), json!([]), None),
        (json!({"reason": {"$exists": false}}), json!([]), None),
        (
            json!({"expires": {"$lt": text(750)}}),
            json!([{"field": "expires", "direction": 1}]),
            None,
        ),
        (
            json!({"created_at": {"$gte": text(602)}}),
            json!([{"field": "created_at", "direction": 1}]),
            None,
        ),
        (
            json!({"$or": [{"shadow": true}, {"channel_cid": general}]}),
            json!([]),
            None,
        ),
        (json!({}), json!([{"field": "nope", "direction": 1}]), None),
    ] {
        let query = list(filter.clone(), sort.clone(), &schemas::BANS, 10);
        log.push(format!(
            "bans {filter} {sort} {active:?}: {}",
            outcome(
                store.query_bans(app, &query, active.map(at)).await,
                show_bans
            )
        ));
    }
    let mut paged = list(json!({}), json!([]), &schemas::BANS, 2);
    paged.offset = 1;
    log.push(outcome(
        store.query_bans(app, &paged, None).await,
        show_bans,
    ));

    let flag = |reporter: &str,
                target: FlagTarget,
                target_id: &str,
                author: &str,
                cid: Option<&str>,
                seconds: i64| Flag {
        reporter_id: reporter.into(),
        target,
        target_id: target_id.into(),
        target_user_id: author.into(),
        cid: cid.map(str::to_owned),
        reason: Some(format!("{reporter} on {target_id}")),
        doc: doc(json!({"details": {"n": seconds}, "custom": [1, "x"]})),
        created_at: at(seconds),
        updated_at: at(seconds + 100 - seconds % 7),
        reviewed_at: (seconds % 2 == 0).then(|| at(seconds + 1)),
        reviewed_by: (seconds % 2 == 0).then(|| "alice".to_owned()),
    };
    let show_flag = |f: &Flag| {
        format!(
            "{} {} {} {} {:?} {:?} {} {} {} {:?} {:?}",
            f.reporter_id,
            f.target.as_str(),
            f.target_id,
            f.target_user_id,
            f.cid,
            f.reason,
            canon_doc(&f.doc),
            text_of(&f.created_at),
            text_of(&f.updated_at),
            f.reviewed_at.as_ref().map(text_of),
            f.reviewed_by
        )
    };
    let show_flags =
        |flags: Vec<Flag>| format!("{:?}", flags.iter().map(show_flag).collect::<Vec<_>>());
    for put in [
        flag(
            "alice",
            FlagTarget::Message,
            "m2",
            "bob",
            Some(general),
            610,
        ),
        flag(
            "carol",
            FlagTarget::Message,
            "m2",
            "bob",
            Some(general),
            611,
        ),
        flag(
            "alice",
            FlagTarget::Message,
            "m3",
            "carol",
            Some("messaging:random"),
            612,
        ),
        flag("alice", FlagTarget::User, "bob", "bob", None, 613),
        flag("alice", FlagTarget::User, "m2", "m2", None, 614),
        flag(
            "alice",
            FlagTarget::Message,
            "m2",
            "bob",
            Some(general),
            615,
        ),
        flag("bob", FlagTarget::User, "carol", "carol", None, 616),
    ] {
        log.push(outcome(store.put_flag(app, &put).await, |_| {
            "flagged".into()
        }));
    }
    for (target, filter, sort) in [
        (FlagTarget::Message, json!({}), json!([])),
        (FlagTarget::User, json!({}), json!([])),
        (
            FlagTarget::Message,
            json!({"channel_cid": general}),
            json!([]),
        ),
        (
            FlagTarget::Message,
            json!({"user_id": "bob"}),
            json!([{"field": "updated_at", "direction": 1}]),
        ),
        (
            FlagTarget::Message,
            json!({"message_user_id": {"$in": ["carol"]}}),
            json!([]),
        ),
        (
            FlagTarget::Message,
            json!({"message_id": "m2", "reporter_id": {"$ne": "alice"}}),
            json!([]),
        ),
        (FlagTarget::Message, json!({"is_reviewed": true}), json!([])),
        (
            FlagTarget::Message,
            json!({"is_reviewed": false}),
            json!([]),
        ),
        (
            FlagTarget::Message,
            json!({"reason": {"$autocomplete": "on"}}),
            json!([]),
        ),
        (FlagTarget::User, json!({"user_id": "bob"}), json!([])),
        (
            FlagTarget::User,
            json!({"created_at": {"$gt": text(613)}}),
            json!([{"field": "created_at", "direction": 1}]),
        ),
        (
            FlagTarget::Message,
            json!({}),
            json!([{"field": "nope", "direction": 1}]),
        ),
    ] {
        let query = list(filter.clone(), sort.clone(), &schemas::FLAGS, 10);
        log.push(format!(
            "flags {} {filter} {sort}: {}",
            target.as_str(),
            outcome(store.query_flags(app, target, &query).await, show_flags)
        ));
    }
    log.push(outcome(
        store
            .remove_flag(app, "alice", FlagTarget::Message, "m2")
            .await,
        |f| show_flag(&f),
    ));
    log.push(outcome(
        store
            .remove_flag(app, "alice", FlagTarget::Message, "m2")
            .await,
        |f| show_flag(&f),
    ));
    log.push(outcome(
        store
            .remove_flag(app, "bob", FlagTarget::Message, "carol")
            .await,
        |f| show_flag(&f),
    ));
    log.push(outcome(
        store
            .query_flags(
                app,
                FlagTarget::User,
                &list(json!({}), json!([]), &schemas::FLAGS, 10),
            )
            .await,
        show_flags,
    ));

    log.push(outcome(store.remove_ban(app, "carol", None).await, |b| {
        show_ban(&b)
    }));
    log.push(outcome(store.remove_ban(app, "carol", None).await, |b| {
        show_ban(&b)
    }));
    log.push(outcome(store.remove_ban(app, "bob", None).await, |b| {
        show_ban(&b)
    }));
    log.push(outcome(
        store.remove_ban(app, "bob", Some(general)).await,
        |b| show_ban(&b),
    ));
    log.push(outcome(store.users(app, &everyone).await, user_docs));
    log.push(outcome(
        store
            .members_of(app, &[general.into(), "messaging:random".into()], None)
            .await,
        member_docs,
    ));
    log.push(outcome(
        store
            .query_bans(app, &list(json!({}), json!([]), &schemas::BANS, 10), None)
            .await,
        show_bans,
    ));

    // Apps and channel types.
    let mut custom = ChannelConfig::built_in("messaging");
    custom.name = "custom".into();
    log.push(outcome(
        store.create_channel_type(app, &custom).await,
        |t| t.name,
    ));
    log.push(outcome(
        store.create_channel_type(app, &custom).await,
        |t| t.name,
    ));
    log.push(outcome(
        store.update_channel_type(app, &custom).await,
        |t| t.config.name,
    ));
    let mut missing = custom.clone();
    missing.name = "missing".into();
    log.push(outcome(
        store.update_channel_type(app, &missing).await,
        |t| t.name,
    ));
    log.push(outcome(
        store.delete_channel_type(app, "messaging").await,
        |_| "deleted".into(),
    ));
    log.push(outcome(
        store.delete_channel_type(app, "custom").await,
        |_| "deleted".into(),
    ));
    log.push(outcome(
        store.delete_channel_type(app, "custom").await,
        |_| "deleted".into(),
    ));
    log.push(outcome(store.channel_types(app).await, |t| {
        ids(t, |t| t.name.clone())
    }));
    log.push(outcome(
        store
            .update_app_settings(app, &doc(json!({"x": 1, "a": [true]})))
            .await,
        |_| "set".into(),
    ));
    log.push(outcome(store.app_by_key("parity").await, |a| {
        format!("{:?}", a.map(|a| canon_doc(&a.settings)))
    }));
    log.push(outcome(store.app_by_key("nope").await, |a| {
        format!("{:?}", a.map(|a| a.id))
    }));
    log.push(outcome(store.list_apps().await, |a| {
        ids(a, |a| a.api_key.clone())
    }));
    for (user, blocked, seconds) in [
        ("alice", "carol", 700),
        ("alice", "erin", 701),
        ("erin", "alice", 702),
        ("alice", "carol", 703),
    ] {
        let block = Block {
            user_id: user.into(),
            blocked_user_id: blocked.into(),
            created_at: at(seconds),
        };
        log.push(outcome(store.put_block(app, &block).await, |b| {
            format!(
                "{} {} {}",
                b.user_id,
                b.blocked_user_id,
                text_of(&b.created_at)
            )
        }));
    }
    log.push(outcome(store.blocks_by(app, "alice").await, |b| {
        ids(b, |b| b.blocked_user_id.clone())
    }));
    log.push(outcome(store.blockers_of(app, "alice").await, |b| {
        format!("{b:?}")
    }));
    for _ in 0..2 {
        log.push(outcome(
            store.remove_block(app, "alice", "erin").await,
            |r| format!("{r}"),
        ));
    }
    for (name, words) in [
        ("Foo", vec!["b", "a"]),
        ("Foo", vec!["c"]),
        ("bar", vec![]),
        ("baz", vec!["z"]),
    ] {
        let blocklist = Blocklist {
            name: name.into(),
            kind: "word".into(),
            words: words.into_iter().map(str::to_owned).collect(),
            created_at: at(710),
            updated_at: at(710),
        };
        log.push(outcome(
            store.create_blocklist(app, &blocklist, 2).await,
            |b| format!("{} {:?}", b.name, b.words),
        ));
    }
    log.push(outcome(
        store
            .update_blocklist(app, "bar", &["y".into(), "x".into()], at(711))
            .await,
        |b| {
            format!(
                "{:?} {} {}",
                b.words,
                text_of(&b.created_at),
                text_of(&b.updated_at)
            )
        },
    ));
    log.push(outcome(
        store.update_blocklist(app, "nope", &[], at(711)).await,
        |b| b.name,
    ));
    log.push(outcome(
        store.delete_blocklist(app, "Foo", at(712)).await,
        |_| "deleted".into(),
    ));
    log.push(outcome(
        store.delete_blocklist(app, "Foo", at(712)).await,
        |_| "deleted".into(),
    ));
    log.push(outcome(store.blocklists(app).await, |b| {
        ids(b, |b| format!("{} {:?}", b.name, b.words))
    }));
    log.push(outcome(store.blocklist(app, "bar").await, |b| {
        format!("{:?}", b.map(|b| b.words))
    }));
    log.push(outcome(
        store.delete_user(app, "bob", true, at(500)).await,
        |u| format!("{:?}", u.deleted_at),
    ));
    log.push(outcome(
        store
            .users(app, &["bob".into(), "erin".into(), "alice".into()])
            .await,
        |u| {
            let mut u = ids(u, |u| u.id.clone());
            u.push('.');
            u
        },
    ));
    log
}

fn text_of(time: &Timestamp) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test]
async fn postgres_matches_sqlite_on_every_contract_method() {
    if std::env::var("EDDY_SKIP_POSTGRES").as_deref() == Ok("1") {
        return;
    }
    let path = std::env::temp_dir().join(format!("eddy-parity-{}.sqlite3", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sqlite = SqliteStore::open(&path).await.unwrap();
    let expected = scenario(&sqlite).await;
    if std::env::var("EDDY_PARITY_PRINT").is_ok() {
        for line in &expected {
            eprintln!("{line}");
        }
    }
    let _ = std::fs::remove_file(&path);

    let url = std::env::var("EDDY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let schema = format!("eddy_parity_{}_{nanos}", std::process::id());
    let postgres = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap_or_else(|error| {
            panic!("PostgreSQL is unreachable at {url}: {error} (EDDY_SKIP_POSTGRES=1 skips)")
        });
    let actual = scenario(&postgres).await;
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(postgres.pool())
        .await;

    let mismatches: Vec<String> = expected
        .iter()
        .zip(&actual)
        .enumerate()
        .filter(|(_, (sqlite, postgres))| sqlite != postgres)
        .map(|(step, (sqlite, postgres))| {
            format!("step {step}\n  sqlite:   {sqlite}\n  postgres: {postgres}")
        })
        .collect();
    assert!(
        mismatches.is_empty() && expected.len() == actual.len(),
        "{} of {} steps differ:\n{}",
        mismatches.len(),
        expected.len(),
        mismatches.join("\n")
    );
}
