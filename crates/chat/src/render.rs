//! Records to Stream's legacy JSON shapes: custom data flattened, timestamps RFC 3339, required keys always present.

use crate::bans::render_ban_state;
use eddy_core::config::ChannelConfig;
use eddy_core::grants::{own_capabilities, Subject};
use eddy_protocol::time::format;
use eddy_realtime::Hub;
use eddy_store::{AppId, Channel, Member, Message, Reaction, Timestamp, User};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::{to_raw_value, RawValue};
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
    /// The same users serialised once, spliced verbatim into serialised pages.
    serialized: HashMap<String, Box<RawValue>>,
}

/// A user row can be gone (hard delete) while their messages stay: they are shown as a minimal user.
fn missing_user(id: &str) -> Value {
    json!({"id": id, "role": "user", "banned": false, "shadow_banned": false, "online": false, "language": "", "teams": [], "blocked_user_ids": [], "created_at": "1970-01-01T00:00:00.000000Z", "updated_at": "1970-01-01T00:00:00.000000Z", "deleted_at": "1970-01-01T00:00:00.000000Z"})
}

impl Users {
    pub fn new(app: AppId, hub: &Hub, users: Vec<User>) -> Self {
        let rendered: HashMap<String, Value> = users
            .iter()
            .map(|found| {
                let online = hub.is_online(app, &found.id);
                (found.id.clone(), user(found, online))
            })
            .collect();
        let serialized = rendered
            .iter()
            .filter_map(|(id, value)| Some((id.clone(), to_raw_value(value).ok()?)))
            .collect();
        Users {
            by_id: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            rendered,
            serialized,
        }
    }

    pub fn get(&self, id: &str) -> Value {
        match self.rendered.get(id) {
            Some(found) => found.clone(),
            None => missing_user(id),
        }
    }

    /// The user for a serialised page: shared bytes instead of a copied tree.
    pub fn json<'a>(&'a self, id: &'a str) -> UserJson<'a> {
        UserJson {
            users: self,
            id,
            hide_shadow_ban: false,
        }
    }
}

/// One user inside a serialised page.
pub struct UserJson<'a> {
    users: &'a Users,
    id: &'a str,
    /// Shown to themselves: a user never sees their own shadow ban.
    pub hide_shadow_ban: bool,
}

impl Serialize for UserJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.users.serialized.get(self.id) {
            Some(raw) if !self.hide_shadow_ban => raw.serialize(serializer),
            _ => {
                let mut value = self.users.get(self.id);
                if self.hide_shadow_ban {
                    crate::bans::hide_own_shadow_ban(&mut value);
                }
                value.serialize(serializer)
            }
        }
    }
}

/// An object (member, read state) whose `user` is serialised from the shared users.
pub struct WithUser<'a> {
    pub body: Map<String, Value>,
    pub user: UserJson<'a>,
}

impl Serialize for WithUser<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.body.len() + 1))?;
        for (key, value) in &self.body {
            if key != "user" {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("user", &self.user)?;
        map.end()
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
    let mut out = member_body(member);
    out.insert("user".into(), users.get(&member.user_id));
    Value::Object(out)
}

/// A member without its `user`.
pub fn member_body(member: &Member) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in &member.doc {
        if !DELIVERY_KEYS.contains(&key.as_str()) {
            out.insert(key.clone(), value.clone());
        }
    }
    out.insert("user_id".into(), json!(member.user_id));
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
    out
}

/// A member's read state without its `user`.
pub fn read_state_body(member: &Member) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("last_read".into(), json!(format(&member.last_read)));
    out.insert(
        "last_read_message_id".into(),
        json!(member.last_read_message_id),
    );
    out.insert("unread_messages".into(), json!(member.unread_messages));
    out.insert(
        "first_unread_message_id".into(),
        json!(member.first_unread_message_id),
    );
    for key in DELIVERY_KEYS {
        if let Some(value) = member.doc.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    out
}

pub fn reaction(reaction: &Reaction, users: &Users) -> Value {
    serde_json::to_value(ReactionView { reaction, users }).unwrap_or(Value::Null)
}

/// Reaction-document keys the renderer computes itself.
const REACTION_COMPUTED: [&str; 7] = [
    "message_id",
    "user_id",
    "user",
    "type",
    "score",
    "created_at",
    "updated_at",
];

/// A reaction, serialised straight from its record.
pub struct ReactionView<'a> {
    pub reaction: &'a Reaction,
    pub users: &'a Users,
}

impl Serialize for ReactionView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let reaction = self.reaction;
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in &reaction.doc {
            if !REACTION_COMPUTED.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("message_id", &reaction.message_id)?;
        map.serialize_entry("user_id", &reaction.user_id)?;
        map.serialize_entry("user", &self.users.json(&reaction.user_id))?;
        map.serialize_entry("type", &reaction.kind)?;
        map.serialize_entry("score", &reaction.score)?;
        map.serialize_entry("created_at", &format(&reaction.created_at))?;
        map.serialize_entry("updated_at", &format(&reaction.updated_at))?;
        map.end()
    }
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
    let view = MessageView {
        message,
        users,
        own: own.to_vec(),
        quoted,
        shown_to_author: false,
    };
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// Message-document keys the renderer always computes itself (a stored key of that name is not shown).
const MESSAGE_COMPUTED: [&str; 19] = [
    "id",
    "cid",
    "type",
    "user",
    "shadowed",
    "mentioned_here",
    "mentioned_channel",
    "mentioned_users",
    "pinned_by",
    "thread",
    "reaction_counts",
    "reaction_scores",
    "reaction_groups",
    "latest_reactions",
    "own_reactions",
    "reply_count",
    "deleted_reply_count",
    "created_at",
    "updated_at",
];

/// Keys every message shows, with the value used when its document has none.
fn message_defaults() -> [(&'static str, Value); 8] {
    [
        ("text", json!("")),
        ("html", json!("")),
        ("attachments", json!([])),
        ("silent", json!(false)),
        ("pinned", json!(false)),
        ("pinned_at", Value::Null),
        ("pin_expires", Value::Null),
        ("restricted_visibility", json!([])),
    ]
}

/// A message, serialised straight from its record (no intermediate tree; users are shared bytes).
pub struct MessageView<'a> {
    pub message: &'a Message,
    pub users: &'a Users,
    /// The viewer's own reactions to it.
    pub own: Vec<&'a Reaction>,
    pub quoted: Option<&'a Message>,
    /// The viewer wrote it: a shadowed message is shown to its author as an ordinary one.
    pub shown_to_author: bool,
}

impl MessageView<'_> {
    /// Whether the renderer computes `key` for this message rather than showing the stored value.
    fn computes(&self, key: &str) -> bool {
        let message = self.message;
        MESSAGE_COMPUTED.contains(&key)
            || match key {
                "parent_id" | "show_in_channel" => message.parent_id.is_some(),
                "thread_participants" => !message.thread_participants.is_empty(),
                "quoted_message" => self.quoted.is_some(),
                "deleted_at" => message.deleted_at.is_some(),
                _ => false,
            }
    }
}

impl Serialize for MessageView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.message;
        let users = self.users;
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in &message.doc {
            if !self.computes(key) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, default) in message_defaults() {
            if !message.doc.contains_key(key) {
                map.serialize_entry(key, &default)?;
            }
        }
        map.serialize_entry("id", &message.id)?;
        map.serialize_entry("cid", &message.cid)?;
        let kind = if message.deleted_at.is_some() {
            "deleted"
        } else {
            message.kind.as_str()
        };
        map.serialize_entry("type", kind)?;
        map.serialize_entry("user", &users.json(&message.user_id))?;
        map.serialize_entry(
            "shadowed",
            &(crate::bans::is_shadowed(message) && !self.shown_to_author),
        )?;
        map.serialize_entry("mentioned_here", &false)?;
        map.serialize_entry("mentioned_channel", &false)?;
        let mentioned: Vec<UserJson<'_>> = message
            .doc
            .get("mentioned_users")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(|id| users.json(id))
                    .collect()
            })
            .unwrap_or_default();
        map.serialize_entry("mentioned_users", &mentioned)?;
        let pinned_by = message
            .doc
            .get("pinned_by")
            .and_then(Value::as_str)
            .map(|id| users.json(id));
        map.serialize_entry("pinned_by", &pinned_by)?;
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
        map.serialize_entry("reaction_counts", &counts)?;
        map.serialize_entry("reaction_scores", &scores)?;
        map.serialize_entry("reaction_groups", &message.reaction_groups)?;
        let latest: Vec<ReactionView<'_>> = message
            .latest_reactions
            .iter()
            .map(|reaction| ReactionView { reaction, users })
            .collect();
        map.serialize_entry("latest_reactions", &latest)?;
        let own: Vec<ReactionView<'_>> = self
            .own
            .iter()
            .map(|reaction| ReactionView { reaction, users })
            .collect();
        map.serialize_entry("own_reactions", &own)?;
        map.serialize_entry("reply_count", &message.reply_count)?;
        map.serialize_entry("deleted_reply_count", &0)?;
        if let Some(parent_id) = &message.parent_id {
            map.serialize_entry("parent_id", parent_id)?;
            map.serialize_entry("show_in_channel", &message.show_in_channel)?;
        }
        if !message.thread_participants.is_empty() {
            let participants: Vec<UserJson<'_>> = message
                .thread_participants
                .iter()
                .map(|id| users.json(id))
                .collect();
            map.serialize_entry("thread_participants", &participants)?;
        }
        if let Some(quoted) = self.quoted {
            let quoted = MessageView {
                message: quoted,
                users,
                own: Vec::new(),
                quoted: None,
                shown_to_author: false,
            };
            map.serialize_entry("quoted_message", &quoted)?;
        }
        map.serialize_entry("created_at", &format(&message.created_at))?;
        map.serialize_entry("updated_at", &format(&message.updated_at))?;
        if let Some(deleted_at) = &message.deleted_at {
            map.serialize_entry("deleted_at", &format(deleted_at))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn message_with(doc: Value) -> Message {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        Message {
            id: "m1".into(),
            cid: "messaging:c".into(),
            parent_id: None,
            user_id: "alice".into(),
            kind: "regular".into(),
            show_in_channel: false,
            reply_count: 0,
            doc: doc.as_object().cloned().unwrap_or_default(),
            reaction_groups: Map::new(),
            latest_reactions: Vec::new(),
            thread_participants: Vec::new(),
            created_at: at,
            updated_at: at,
            deleted_at: None,
        }
    }

    fn users() -> Users {
        let mut alice = User::new("alice".into(), "user");
        alice.doc.insert("name".into(), json!("Alice"));
        Users::new(1, &Hub::new(), vec![alice])
    }

    #[test]
    fn stored_keys_never_override_computed_ones_and_defaults_fill_gaps() {
        let message = message_with(json!({
            "id": "forged", "user": "forged", "thread": {"title": "t"},
            "text": "hi", "color": "red", "pinned_by": "alice"
        }));
        let users = users();
        let rendered = super::message(&message, &users, &[], None);
        assert_eq!(rendered["id"], "m1");
        assert_eq!(rendered["user"]["name"], "Alice");
        assert_eq!(rendered["pinned_by"]["id"], "alice");
        assert_eq!(rendered["text"], "hi");
        assert_eq!(rendered["color"], "red");
        assert_eq!(rendered["html"], "");
        assert_eq!(rendered["pinned_at"], Value::Null);
        assert!(rendered.get("thread").is_none());
        assert!(rendered.get("parent_id").is_none());
        // Serialised directly, the same message has each key once.
        let serialised = serde_json::to_string(&MessageView {
            message: &message,
            users: &users,
            own: Vec::new(),
            quoted: None,
            shown_to_author: false,
        })
        .unwrap();
        assert_eq!(
            serialised.matches("\"id\":\"m1\"").count(),
            1,
            "{serialised}"
        );
        assert!(!serialised.contains("forged"), "{serialised}");
        assert_eq!(
            serde_json::from_str::<Value>(&serialised).unwrap(),
            rendered
        );
    }

    #[test]
    fn a_shadowed_message_is_ordinary_to_its_author_and_unknown_users_are_minimal() {
        let mut message = message_with(json!({"shadowed": true}));
        message.user_id = "gone".into();
        let view = |shown_to_author| {
            serde_json::to_value(MessageView {
                message: &message,
                users: &users(),
                own: Vec::new(),
                quoted: None,
                shown_to_author,
            })
            .unwrap()
        };
        assert_eq!(view(false)["shadowed"], true);
        assert_eq!(view(true)["shadowed"], false);
        assert_eq!(view(true)["user"]["id"], "gone");
        assert_eq!(view(true)["user"]["online"], false);
    }
}
