//! Records to Stream's legacy JSON shapes: custom data flattened, timestamps RFC 3339, required keys always present.

use crate::bans::render_ban_state;
use eddy_core::config::ChannelConfig;
use eddy_core::grants::{own_capabilities, Subject};
use eddy_protocol::time::format;
use eddy_realtime::Hub;
use eddy_store::{AppId, Channel, Member, Message, Reaction, Timestamp, User};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

fn time(value: &Option<Timestamp>) -> Value {
    value
        .as_ref()
        .map(|t| Value::from(format(t)))
        .unwrap_or(Value::Null)
}

pub fn user(user: &User, online: bool) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(user.id));
    out.insert("role".into(), json!(user.role));
    out.insert("language".into(), json!(""));
    out.insert("teams".into(), json!([]));
    out.insert("blocked_user_ids".into(), json!([]));
    for (key, value) in &user.doc {
        out.insert(key.clone(), value.clone());
    }
    render_ban_state(&mut out, &user.doc);
    let invisible = user
        .doc
        .get("invisible")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    out.insert("online".into(), json!(online && !invisible));
    out.insert("created_at".into(), json!(format(&user.created_at)));
    out.insert("updated_at".into(), json!(format(&user.updated_at)));
    if let Some(last_active) = &user.last_active {
        out.insert("last_active".into(), json!(format(last_active)));
    }
    if let Some(at) = &user.deactivated_at {
        out.insert("deactivated_at".into(), json!(format(at)));
    }
    if let Some(at) = &user.deleted_at {
        out.insert("deleted_at".into(), json!(format(at)));
    }
    Value::Object(out)
}

/// Users needed by one response, loaded once and rendered on demand.
pub struct Users {
    pub by_id: HashMap<String, User>,
    /// Each user rendered once (a channel page repeats the same few users hundreds of times).
    rendered: HashMap<String, Value>,
}

impl Users {
    pub fn new(app: AppId, hub: &Hub, users: Vec<User>) -> Self {
        let rendered = users
            .iter()
            .map(|found| {
                let online = hub.is_online(app, &found.id);
                (found.id.clone(), user(found, online))
            })
            .collect();
        Users {
            by_id: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            rendered,
        }
    }

    pub fn get(&self, id: &str) -> Value {
        match self.rendered.get(id) {
            Some(found) => found.clone(),
            // A user row can be gone (hard delete) while their messages stay: show a minimal user.
            None => {
                json!({"id": id, "role": "user", "banned": false, "shadow_banned": false, "online": false, "language": "", "teams": [], "blocked_user_ids": [], "created_at": "1970-01-01T00:00:00.000000Z", "updated_at": "1970-01-01T00:00:00.000000Z", "deleted_at": "1970-01-01T00:00:00.000000Z"})
            }
        }
    }
}

pub fn config(config: &ChannelConfig) -> Value {
    let mut out = serde_json::to_value(config).unwrap_or_else(|_| json!({}));
    out["commands"] = Value::Array(config.command_objects());
    out
}

pub fn channel_type(record: &eddy_store::ChannelTypeRecord, commands_as_names: bool) -> Value {
    let mut out = config(&record.config);
    out["grants"] = Value::Object(eddy_core::grants::effective_grants(&record.config));
    if commands_as_names {
        out["commands"] = json!(record.config.commands);
    }
    out["created_at"] = json!(format(&record.created_at));
    out["updated_at"] = json!(format(&record.updated_at));
    out
}

/// A channel; `viewer` adds the per-user fields (`own_capabilities`, `hidden`) for user requests.
pub fn channel(
    channel: &Channel,
    channel_config: &ChannelConfig,
    users: &Users,
    viewer: Option<(&User, Option<&Member>)>,
) -> Value {
    let mut out = Map::new();
    for (key, value) in &channel.doc {
        if key != "config_overrides" {
            out.insert(key.clone(), value.clone());
        }
    }
    out.insert("id".into(), json!(channel.id));
    out.insert("type".into(), json!(channel.kind));
    out.insert("cid".into(), json!(channel.cid));
    out.insert("created_at".into(), json!(format(&channel.created_at)));
    out.insert("updated_at".into(), json!(format(&channel.updated_at)));
    if let Some(created_by) = &channel.created_by {
        out.insert("created_by".into(), users.get(created_by));
    }
    out.insert("frozen".into(), json!(channel.frozen));
    out.insert("disabled".into(), json!(channel.disabled));
    out.insert("member_count".into(), json!(channel.member_count));
    out.insert("config".into(), config(channel_config));
    if channel.last_message_at.is_some() {
        out.insert("last_message_at".into(), time(&channel.last_message_at));
    }
    if channel.truncated_at.is_some() {
        out.insert("truncated_at".into(), time(&channel.truncated_at));
    }
    if channel.deleted_at.is_some() {
        out.insert("deleted_at".into(), time(&channel.deleted_at));
    }
    if let Some((viewer, membership)) = viewer {
        let subject = Subject {
            role: &viewer.role,
            channel_role: membership.map(|m| m.channel_role.as_str()),
            is_owner: channel.created_by.as_deref() == Some(viewer.id.as_str()),
        };
        out.insert(
            "own_capabilities".into(),
            json!(own_capabilities(channel_config, subject)),
        );
        out.insert("hidden".into(), json!(membership.is_some_and(|m| m.hidden)));
    }
    Value::Object(out)
}

/// Member-document keys that belong to the read state, not to the member object.
pub const DELIVERY_KEYS: [&str; 2] = ["last_delivered_at", "last_delivered_message_id"];

pub fn member(member: &Member, users: &Users) -> Value {
    let mut out = Map::new();
    for (key, value) in &member.doc {
        if !DELIVERY_KEYS.contains(&key.as_str()) {
            out.insert(key.clone(), value.clone());
        }
    }
    out.insert("user_id".into(), json!(member.user_id));
    out.insert("user".into(), users.get(&member.user_id));
    out.insert("channel_role".into(), json!(member.channel_role));
    out.insert(
        "role".into(),
        json!(if member.channel_role == "channel_moderator" {
            "moderator"
        } else {
            "member"
        }),
    );
    out.insert(
        "is_moderator".into(),
        json!(member.channel_role == "channel_moderator"),
    );
    render_ban_state(&mut out, &member.doc);
    out.insert("notifications_muted".into(), json!(false));
    out.insert("created_at".into(), json!(format(&member.created_at)));
    out.insert("updated_at".into(), json!(format(&member.updated_at)));
    Value::Object(out)
}

pub fn read_state(member: &Member, users: &Users) -> Value {
    let mut out = json!({
        "user": users.get(&member.user_id),
        "last_read": format(&member.last_read),
        "last_read_message_id": member.last_read_message_id,
        "unread_messages": member.unread_messages,
        "first_unread_message_id": member.first_unread_message_id,
    });
    for key in DELIVERY_KEYS {
        if let Some(value) = member.doc.get(key) {
            out[key] = value.clone();
        }
    }
    out
}

pub fn reaction(reaction: &Reaction, users: &Users) -> Value {
    let mut out = Map::new();
    for (key, value) in &reaction.doc {
        out.insert(key.clone(), value.clone());
    }
    out.insert("message_id".into(), json!(reaction.message_id));
    out.insert("user_id".into(), json!(reaction.user_id));
    out.insert("user".into(), users.get(&reaction.user_id));
    out.insert("type".into(), json!(reaction.kind));
    out.insert("score".into(), json!(reaction.score));
    out.insert("created_at".into(), json!(format(&reaction.created_at)));
    out.insert("updated_at".into(), json!(format(&reaction.updated_at)));
    Value::Object(out)
}

/// User ids a message's JSON embeds.
pub fn message_user_ids(message: &Message, into: &mut Vec<String>) {
    into.push(message.user_id.clone());
    into.extend(message.thread_participants.iter().cloned());
    into.extend(message.latest_reactions.iter().map(|r| r.user_id.clone()));
    if let Some(ids) = message.doc.get("mentioned_users").and_then(Value::as_array) {
        into.extend(ids.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    if let Some(pinned_by) = message.doc.get("pinned_by").and_then(Value::as_str) {
        into.push(pinned_by.to_owned());
    }
}

/// A message; `own` are the viewer's reactions to it, `quoted` the message it quotes (rendered one level deep).
pub fn message(
    message: &Message,
    users: &Users,
    own: &[&Reaction],
    quoted: Option<&Message>,
) -> Value {
    let mut out = Map::new();
    for (key, value) in &message.doc {
        match key.as_str() {
            // Thread title and custom data are shown on the thread, not on its parent message.
            "mentioned_users" | "pinned_by" | "thread" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out.insert("id".into(), json!(message.id));
    out.insert("cid".into(), json!(message.cid));
    let kind = if message.deleted_at.is_some() {
        "deleted"
    } else {
        message.kind.as_str()
    };
    out.insert("type".into(), json!(kind));
    out.insert("user".into(), users.get(&message.user_id));
    out.entry("text").or_insert(json!(""));
    out.entry("html").or_insert(json!(""));
    out.entry("attachments").or_insert(json!([]));
    out.entry("silent").or_insert(json!(false));
    out.entry("pinned").or_insert(json!(false));
    out.entry("pinned_at").or_insert(Value::Null);
    out.entry("pin_expires").or_insert(Value::Null);
    out.entry("restricted_visibility").or_insert(json!([]));
    out.insert("shadowed".into(), json!(crate::bans::is_shadowed(message)));
    out.insert("mentioned_here".into(), json!(false));
    out.insert("mentioned_channel".into(), json!(false));
    let mentioned: Vec<Value> = message
        .doc
        .get("mentioned_users")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(|id| users.get(id))
                .collect()
        })
        .unwrap_or_default();
    out.insert("mentioned_users".into(), Value::Array(mentioned));
    out.insert(
        "pinned_by".into(),
        message
            .doc
            .get("pinned_by")
            .and_then(Value::as_str)
            .map(|id| users.get(id))
            .unwrap_or(Value::Null),
    );
    let mut counts = Map::new();
    let mut scores = Map::new();
    for (kind, group) in &message.reaction_groups {
        counts.insert(
            kind.clone(),
            group.get("count").cloned().unwrap_or(json!(0)),
        );
        scores.insert(
            kind.clone(),
            group.get("sum_scores").cloned().unwrap_or(json!(0)),
        );
    }
    out.insert("reaction_counts".into(), Value::Object(counts));
    out.insert("reaction_scores".into(), Value::Object(scores));
    out.insert(
        "reaction_groups".into(),
        Value::Object(message.reaction_groups.clone()),
    );
    out.insert(
        "latest_reactions".into(),
        Value::Array(
            message
                .latest_reactions
                .iter()
                .map(|r| reaction(r, users))
                .collect(),
        ),
    );
    out.insert(
        "own_reactions".into(),
        Value::Array(own.iter().map(|r| reaction(r, users)).collect()),
    );
    out.insert("reply_count".into(), json!(message.reply_count));
    out.insert("deleted_reply_count".into(), json!(0));
    if let Some(parent_id) = &message.parent_id {
        out.insert("parent_id".into(), json!(parent_id));
        out.insert("show_in_channel".into(), json!(message.show_in_channel));
    }
    if !message.thread_participants.is_empty() {
        out.insert(
            "thread_participants".into(),
            Value::Array(
                message
                    .thread_participants
                    .iter()
                    .map(|id| users.get(id))
                    .collect(),
            ),
        );
    }
    if let Some(quoted) = quoted {
        out.insert(
            "quoted_message".into(),
            self::message(quoted, users, &[], None),
        );
    }
    out.insert("created_at".into(), json!(format(&message.created_at)));
    out.insert("updated_at".into(), json!(format(&message.updated_at)));
    if message.deleted_at.is_some() {
        out.insert("deleted_at".into(), time(&message.deleted_at));
    }
    Value::Object(out)
}
