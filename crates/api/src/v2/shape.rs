//! The one place that translates between the root layout's wire shapes and v2's: custom data nested under `custom`, timestamps as integer nanoseconds, nulls omitted.
//!
//! Translation is driven by the kind of object each key holds (`child`): a `user` key holds a user
//! wherever it appears, `messages` a list of messages, and so on. Objects of kinds that carry custom
//! data know their model fields (`Kind::fields`); every other key of theirs is custom data.

use serde_json::{Map, Value};

/// What an object in a request or response body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A body, or an object without custom data whose keys are all model fields.
    Plain,
    /// The body of `GET /unread`, whose `channels` and `threads` are counters, not channel states.
    Unread,
    User,
    Channel,
    Member,
    Message,
    Reaction,
    Attachment,
    Event,
    Thread,
    ThreadParticipant,
    /// A video answer: custom data is already under `custom`; every nested object is walked for times.
    Video,
}

const USER_FIELDS: &[&str] = &[
    "id",
    "name",
    "image",
    "role",
    "teams",
    "teams_role",
    "language",
    "online",
    "invisible",
    "banned",
    "shadow_banned",
    "ban_expires",
    "blocked_user_ids",
    "created_at",
    "updated_at",
    "deactivated_at",
    "deleted_at",
    "last_active",
    "revoke_tokens_issued_before",
    "privacy_settings",
    "push_notifications",
    "push_preferences",
    "devices",
    "mutes",
    "channel_mutes",
    "unread_count",
    "total_unread_count",
    "unread_channels",
    "unread_threads",
    "total_unread_count_by_team",
    "latest_hidden_channels",
    "avg_response_time",
    "bypass_moderation",
    "anon",
];

const CHANNEL_FIELDS: &[&str] = &[
    "id",
    "type",
    "cid",
    "created_by",
    "created_by_id",
    "created_at",
    "updated_at",
    "deleted_at",
    "last_message_at",
    "member_count",
    "message_count",
    "members",
    "invites",
    "config",
    "config_overrides",
    "own_capabilities",
    "frozen",
    "disabled",
    "cooldown",
    "team",
    "hidden",
    "hide_messages_before",
    "truncated_at",
    "truncated_by",
    "truncated_by_id",
    "filter_tags",
    "auto_translation_enabled",
    "auto_translation_language",
    "blocked",
    "muted",
    "mute_expires_at",
];

const MEMBER_FIELDS: &[&str] = &[
    "user",
    "user_id",
    "channel_role",
    "role",
    "created_at",
    "updated_at",
    "deleted_at",
    "banned",
    "shadow_banned",
    "ban_expires",
    "ban_from_future_channels",
    "future_channel_ban_expires",
    "invited",
    "invite_accepted_at",
    "invite_rejected_at",
    "is_moderator",
    "notifications_muted",
    "pinned_at",
    "archived_at",
    "status",
    "deleted_messages",
];

const MESSAGE_FIELDS: &[&str] = &[
    "id",
    "cid",
    "text",
    "html",
    "mml",
    "type",
    "user",
    "user_id",
    "attachments",
    "latest_reactions",
    "own_reactions",
    "reaction_counts",
    "reaction_scores",
    "reaction_groups",
    "reply_count",
    "deleted_reply_count",
    "created_at",
    "updated_at",
    "deleted_at",
    "deleted_for_me",
    "message_text_updated_at",
    "shadowed",
    "silent",
    "pinned",
    "pinned_at",
    "pinned_by",
    "pin_expires",
    "mentioned_users",
    "mentioned_channel",
    "mentioned_here",
    "mentioned_roles",
    "mentioned_group_ids",
    "mentioned_groups",
    "restricted_visibility",
    "parent_id",
    "show_in_channel",
    "thread_participants",
    "quoted_message",
    "quoted_message_id",
    "i18n",
    "image_labels",
    "command",
    "args",
    "member",
    "moderation",
    "poll",
    "poll_id",
    "reminder",
    "draft",
    "shared_location",
    "channel",
    "status",
    "before_message_send_failed",
];

const REACTION_FIELDS: &[&str] = &[
    "message_id",
    "user_id",
    "user",
    "type",
    "score",
    "emoji_code",
    "created_at",
    "updated_at",
];

const ATTACHMENT_FIELDS: &[&str] = &[
    "type",
    "fallback",
    "color",
    "pretext",
    "author_name",
    "author_link",
    "author_icon",
    "title",
    "title_link",
    "text",
    "image_url",
    "thumb_url",
    "asset_url",
    "og_scrape_url",
    "footer",
    "footer_icon",
    "actions",
    "fields",
    "giphy",
    "original_width",
    "original_height",
];

const EVENT_FIELDS: &[&str] = &[
    "type",
    "cid",
    "channel_id",
    "channel_type",
    "channel",
    "channel_last_message_at",
    "user",
    "user_id",
    "created_by",
    "created_at",
    "message",
    "message_id",
    "reaction",
    "member",
    "thread",
    "thread_id",
    "parent_id",
    "team",
    "me",
    "reason",
    "connection_id",
    "watcher_count",
    "hard_delete",
    "last_read_message_id",
    "last_read_at",
    "first_unread_message_id",
    "unread_messages",
    "unread_count",
    "total_unread_count",
    "unread_channels",
    "unread_threads",
];

const THREAD_FIELDS: &[&str] = &[
    "channel",
    "channel_cid",
    "parent_message",
    "parent_message_id",
    "created_by",
    "created_by_user_id",
    "reply_count",
    "participant_count",
    "active_participant_count",
    "thread_participants",
    "latest_replies",
    "read",
    "draft",
    "title",
    "last_message_at",
    "created_at",
    "updated_at",
    "deleted_at",
];

const THREAD_PARTICIPANT_FIELDS: &[&str] = &[
    "channel_cid",
    "thread_id",
    "user",
    "user_id",
    "created_at",
    "last_read_at",
    "last_thread_message_at",
    "left_thread_at",
];

impl Kind {
    /// The model fields of kinds that carry custom data; `None` for kinds without custom data.
    fn fields(self) -> Option<&'static [&'static str]> {
        match self {
            Kind::Plain | Kind::Unread => None,
            Kind::User => Some(USER_FIELDS),
            Kind::Channel => Some(CHANNEL_FIELDS),
            Kind::Member => Some(MEMBER_FIELDS),
            Kind::Message => Some(MESSAGE_FIELDS),
            Kind::Reaction => Some(REACTION_FIELDS),
            Kind::Attachment => Some(ATTACHMENT_FIELDS),
            Kind::Event => Some(EVENT_FIELDS),
            Kind::Thread => Some(THREAD_FIELDS),
            Kind::ThreadParticipant => Some(THREAD_PARTICIPANT_FIELDS),
            Kind::Video => None,
        }
    }
}

/// The kind of the object(s) under `key` of an object of kind `parent`; `None` for values kept as
/// they are (scalars, custom data, filters, counters keyed by user-chosen names).
/// A key may hold one object, a list of them, or a map from ids to them.
fn child(parent: Kind, key: &str) -> Option<Kind> {
    if parent == Kind::Video {
        return match key {
            "custom" | "grants" | "capabilities_by_role" | "filter_conditions" => None,
            "user" | "users" | "created_by" | "blocked_by_user" | "kicked_by_user" | "me" => {
                Some(Kind::User)
            }
            _ => Some(Kind::Video),
        };
    }
    if parent == Kind::Unread {
        return matches!(key, "channels" | "threads" | "channel_type").then_some(Kind::Plain);
    }
    let kind = match key {
        "counts_by_user" => Kind::Unread,
        "user" | "users" | "created_by" | "pinned_by" | "banned_by" | "target" | "target_user"
        | "mentioned_users" | "watchers" | "blocked_user" | "own_user" | "me" | "truncated_by"
        | "reviewed_by" | "unbanned_by" => Kind::User,
        "thread_participants" if parent == Kind::Thread => Kind::ThreadParticipant,
        "thread_participants" => Kind::User,
        "channel" | "data" => Kind::Channel,
        "message" | "messages" | "pinned_messages" | "quoted_message" | "latest_replies"
        | "parent_message" | "target_message" => Kind::Message,
        "members" | "membership" | "channel_member" | "member" | "add_members" | "invites" => {
            Kind::Member
        }
        "reaction" | "reactions" | "latest_reactions" | "own_reactions" => Kind::Reaction,
        "attachments" => Kind::Attachment,
        "event" => Kind::Event,
        "thread" | "threads" => Kind::Thread,
        "channels" | "read" | "bans" | "mute" | "mutes" | "channel_mute" | "channel_mutes"
        | "flag" | "flags" | "results" | "blocks" | "devices" | "config" | "app"
        | "channel_configs" | "channel_types" | "reaction_groups" | "blocklist" | "blocklists"
        | "roles" | "role" | "permissions" | "permission" | "commands" | "pending_messages" => {
            Kind::Plain
        }
        _ => return None,
    };
    Some(kind)
}

/// Fields holding a time: RFC 3339 in the root layout, integer nanoseconds in v2.
fn is_timestamp(key: &str) -> bool {
    key.ends_with("_at")
        || matches!(
            key,
            "expires"
                | "ban_expires"
                | "last_read"
                | "last_active"
                | "pin_expires"
                | "revoke_tokens_issued_before"
                | "hide_messages_before"
                | "last_seen"
                | "timestamp"
                | "future_channel_ban_expires"
        )
}

/// RFC 3339 text as integer nanoseconds since the epoch; anything else is kept as it is.
fn to_nanos(value: &mut Value) {
    let nanos = value
        .as_str()
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .and_then(|time| time.timestamp_nanos_opt());
    if let Some(nanos) = nanos {
        *value = Value::from(nanos);
    }
}

/// Applies `each` to the object(s) a key holds: one object, each of a list, or each value of a
/// map from ids (a map is told from one object by `many`, the key's plural use).
fn for_objects(value: &mut Value, many: bool, each: &mut dyn FnMut(&mut Map<String, Value>)) {
    match value {
        Value::Array(items) => {
            for item in items {
                if let Value::Object(object) = item {
                    each(object);
                }
            }
        }
        Value::Object(map) if many => {
            for item in map.values_mut() {
                if let Value::Object(object) = item {
                    each(object);
                }
            }
        }
        Value::Object(object) => each(object),
        _ => {}
    }
}

/// Keys whose object value is a map from ids (or names) to objects, not one object.
fn is_map_of_objects(key: &str) -> bool {
    matches!(
        key,
        "users" | "channel_configs" | "channel_types" | "reaction_groups" | "counts_by_user"
    )
}

/// A root-layout response body in v2's shape.
pub fn response(body: &mut Value, kind: Kind) {
    for_objects(body, false, &mut |object| response_object(object, kind));
}

fn response_object(object: &mut Map<String, Value>, kind: Kind) {
    let fields = kind.fields();
    let mut custom = Map::new();
    let mut out = Map::with_capacity(object.len() + 1);
    for (key, mut value) in std::mem::take(object) {
        if let Some(fields) = fields {
            if key == "custom" {
                if let Value::Object(nested) = value {
                    custom.extend(nested);
                }
                continue;
            }
            if !fields.contains(&key.as_str()) {
                custom.insert(key, value);
                continue;
            }
        }
        if value.is_null() {
            continue;
        }
        let nested = value.is_object() || value.is_array();
        if let Some(inner) = child(kind, &key).filter(|_| nested) {
            for_objects(&mut value, is_map_of_objects(&key), &mut |o| {
                response_object(o, inner)
            });
        } else if is_timestamp(&key) {
            to_nanos(&mut value);
        }
        out.insert(key, value);
    }
    if fields.is_some() {
        out.insert("custom".into(), Value::Object(custom));
    }
    if kind == Kind::User {
        // Required in v2's user models; the root layout writes it only when a user set it.
        out.entry("invisible").or_insert(Value::Bool(false));
    }
    *object = out;
}

/// A v2 request body in the root layout's shape: each object's `custom` merged into it (model
/// fields win over custom keys of the same name), also in partial updates' `set`.
pub fn request(body: &mut Value) {
    for_objects(body, false, &mut |object| {
        request_object(object, Kind::Plain)
    });
}

fn request_object(object: &mut Map<String, Value>, kind: Kind) {
    if kind.fields().is_some() {
        flatten_custom(object);
    }
    if let Some(Value::Object(set)) = object.get_mut("set") {
        flatten_custom(set);
    }
    for (key, value) in object.iter_mut() {
        if let Some(inner) = child(kind, key) {
            for_objects(value, is_map_of_objects(key), &mut |o| {
                request_object(o, inner)
            });
        }
    }
}

/// Drops null members of objects at any depth, except inside filters (where `null` is a value
/// to compare with) and custom data.
pub fn without_nulls(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|_, v| !v.is_null());
            for (key, inner) in fields.iter_mut() {
                if !matches!(
                    key.as_str(),
                    "filter_conditions" | "filter" | "message_filter_conditions" | "custom"
                ) {
                    without_nulls(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(without_nulls),
        _ => {}
    }
}

fn flatten_custom(object: &mut Map<String, Value>) {
    if let Some(Value::Object(custom)) = object.remove("custom") {
        for (key, value) in custom {
            object.entry(key).or_insert(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn translated(mut body: Value, kind: Kind) -> Value {
        response(&mut body, kind);
        body
    }

    #[test]
    fn custom_data_moves_under_custom_and_times_become_nanoseconds() {
        let body = json!({
            "user": {"id": "u", "name": "Ann", "role": "user", "team": "blue",
                     "created_at": "2024-12-11T14:30:00.123456Z", "last_active": null},
            "duration": "1.00ms"
        });
        assert_eq!(
            translated(body, Kind::Plain),
            json!({
                "user": {"id": "u", "name": "Ann", "role": "user", "custom": {"team": "blue"},
                         "created_at": 1_733_927_400_123_456_000_i64, "invisible": false},
                "duration": "1.00ms"
            })
        );
    }

    #[test]
    fn kinds_follow_keys_through_lists_maps_and_nesting() {
        let body = json!({
            "users": {"a": {"id": "a", "hat": 1}},
            "channels": [{
                "channel": {"id": "c", "name": "General", "created_by": {"id": "a", "mood": "ok"},
                            "config": {"created_at": "2024-01-01T00:00:00Z", "name": "messaging"}},
                "messages": [{"id": "m", "text": "hi", "color": "red",
                              "attachments": [{"type": "image", "size": 3}],
                              "latest_reactions": [{"type": "like", "stars": 5}],
                              "reaction_counts": {"user": 1}}],
                "members": [{"user_id": "a", "hat": "top", "user": {"id": "a"}}],
                "read": [{"user": {"id": "a", "x": 1}, "last_read": "2024-01-01T00:00:00Z"}]
            }]
        });
        let out = translated(body, Kind::Plain);
        assert_eq!(out["users"]["a"]["custom"], json!({"hat": 1}));
        let state = &out["channels"][0];
        assert_eq!(state["channel"]["custom"], json!({"name": "General"}));
        assert_eq!(
            state["channel"]["created_by"]["custom"],
            json!({"mood": "ok"})
        );
        assert_eq!(
            state["channel"]["config"],
            json!({"created_at": 1_704_067_200_000_000_000_i64, "name": "messaging"})
        );
        let message = &state["messages"][0];
        assert_eq!(message["custom"], json!({"color": "red"}));
        assert_eq!(message["attachments"][0]["custom"], json!({"size": 3}));
        assert_eq!(
            message["latest_reactions"][0]["custom"],
            json!({"stars": 5})
        );
        assert_eq!(message["reaction_counts"], json!({"user": 1}));
        assert_eq!(state["members"][0]["custom"], json!({"hat": "top"}));
        assert_eq!(state["members"][0]["user"]["custom"], json!({}));
        assert_eq!(state["read"][0]["user"]["custom"], json!({"x": 1}));
        assert_eq!(
            state["read"][0]["last_read"],
            json!(1_704_067_200_000_000_000_i64)
        );
    }

    #[test]
    fn custom_data_is_opaque_and_thread_participants_depend_on_the_parent() {
        let body = json!({
            "thread": {"parent_message_id": "p", "title": "T", "topic": "x",
                       "thread_participants": [{"user_id": "a", "last_read_at": "2024-01-01T00:00:00Z", "n": 1}],
                       "parent_message": {"id": "p", "thread_participants": [{"id": "a"}],
                                          "when_at": "2024-01-01T00:00:00Z"}}
        });
        let out = translated(body, Kind::Plain);
        let thread = &out["thread"];
        assert_eq!(thread["custom"], json!({"topic": "x"}));
        assert_eq!(thread["thread_participants"][0]["custom"], json!({"n": 1}));
        assert!(thread["thread_participants"][0]["last_read_at"].is_i64());
        assert_eq!(
            thread["parent_message"]["thread_participants"][0],
            json!({"id": "a", "custom": {}, "invisible": false})
        );
        // A custom field named like a time stays text: custom data is never interpreted.
        assert_eq!(
            thread["parent_message"]["custom"]["when_at"],
            json!("2024-01-01T00:00:00Z")
        );
    }

    #[test]
    fn unread_counters_are_not_channel_states() {
        let body = json!({"total_unread_count": 1,
            "channels": [{"channel_id": "messaging:a", "unread_count": 1, "last_read": "2024-01-01T00:00:00Z"}],
            "threads": [{"parent_message_id": "p", "unread_count": 2}]});
        let out = translated(body, Kind::Unread);
        assert_eq!(
            out["channels"][0]["last_read"],
            json!(1_704_067_200_000_000_000_i64)
        );
        assert_eq!(
            out["threads"][0],
            json!({"parent_message_id": "p", "unread_count": 2})
        );
    }

    #[test]
    fn batched_unread_counts_are_unread_counters_by_user() {
        let body = json!({"counts_by_user": {"a": {"total_unread_count": 1,
            "channels": [{"channel_id": "messaging:x", "unread_count": 1, "last_read": "2024-01-01T00:00:00Z"}],
            "threads": []}}});
        let out = translated(body, Kind::Plain);
        assert_eq!(
            out["counts_by_user"]["a"]["channels"][0],
            json!({"channel_id": "messaging:x", "unread_count": 1, "last_read": 1_704_067_200_000_000_000_i64})
        );
        assert!(out["counts_by_user"]["a"].get("custom").is_none());
    }

    #[test]
    fn nulls_are_dropped_except_in_filters_and_custom_data() {
        let mut payload = json!({"filter_conditions": {"x": null}, "limit": null,
            "sort": [{"field": "id", "type": null}], "custom": {"y": null}});
        without_nulls(&mut payload);
        assert_eq!(
            payload,
            json!({"filter_conditions": {"x": null}, "sort": [{"field": "id"}], "custom": {"y": null}})
        );
    }

    #[test]
    fn requests_merge_custom_into_each_object_of_a_custom_kind() {
        let mut body = json!({
            "users": {"a": {"id": "a", "name": "Ann", "custom": {"team": "blue", "name": "not me"}}},
            "data": {"created_by_id": "a", "custom": {"topic": "t"},
                     "members": [{"user_id": "a", "custom": {"hat": 1}}, "b"]},
            "message": {"text": "hi", "custom": {"color": "red"},
                        "attachments": [{"type": "file", "custom": {"size": 1}}]},
            "reaction": {"type": "like", "custom": {"stars": 5}},
            "event": {"type": "typing.start", "custom": {"x": 1}},
            "set": {"custom": {"awesome": true}, "pinned": true},
            "filter_conditions": {"custom": {"$eq": 1}},
            "custom": {"kept": true}
        });
        request(&mut body);
        assert_eq!(
            body,
            json!({
                "users": {"a": {"id": "a", "name": "Ann", "team": "blue"}},
                "data": {"created_by_id": "a", "topic": "t",
                         "members": [{"user_id": "a", "hat": 1}, "b"]},
                "message": {"text": "hi", "color": "red", "attachments": [{"type": "file", "size": 1}]},
                "reaction": {"type": "like", "stars": 5},
                "event": {"type": "typing.start", "x": 1},
                "set": {"awesome": true, "pinned": true},
                "filter_conditions": {"custom": {"$eq": 1}},
                "custom": {"kept": true}
            })
        );
        let mut partial =
            json!({"users": [{"id": "a", "set": {"custom": {"x": 1}}, "unset": ["y"]}]});
        request(&mut partial);
        assert_eq!(
            partial,
            json!({"users": [{"id": "a", "set": {"x": 1}, "unset": ["y"]}]})
        );
    }
}
