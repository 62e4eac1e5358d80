//! Wire shapes of video objects (`/video` layout: custom data under `custom`, RFC 3339 times): users, members, calls, call types.

use crate::types::DEFAULT_MEMBER_ROLE;
use eddy_protocol::time;
use eddy_store::{Call, CallMember, Timestamp, User};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// User document keys that are model fields; every other key is custom data.
const USER_FIELDS: &[&str] = &[
    "name",
    "image",
    "language",
    "teams",
    "teams_role",
    "invisible",
    "privacy_settings",
    "revoke_tokens_issued_before",
    "banned",
    "shadow_banned",
    "ban_expires",
    "push_notifications",
    "bypass_moderation",
];

pub fn at(timestamp: &Timestamp) -> Value {
    Value::String(time::format(timestamp))
}

pub fn maybe_at(timestamp: Option<&Timestamp>) -> Value {
    timestamp.map_or(Value::Null, at)
}

/// A `UserResponse`.
pub fn user(user: &User, online: bool) -> Value {
    let custom: Map<String, Value> = user
        .doc
        .iter()
        .filter(|(key, _)| !USER_FIELDS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let field = |key: &str| user.doc.get(key).cloned();
    let mut out = json!({
        "id": user.id,
        "role": user.role,
        "custom": custom,
        "language": field("language").unwrap_or_else(|| json!("")),
        "teams": field("teams").unwrap_or_else(|| json!([])),
        "banned": field("banned").unwrap_or(json!(false)),
        "shadow_banned": field("shadow_banned").unwrap_or(json!(false)),
        "invisible": field("invisible").unwrap_or(json!(false)),
        "online": online,
        "blocked_user_ids": [],
        "created_at": at(&user.created_at),
        "updated_at": at(&user.updated_at),
    });
    if let Value::Object(map) = &mut out {
        for key in ["name", "image", "teams_role"] {
            if let Some(value) = field(key) {
                map.insert(key.into(), value);
            }
        }
        for (key, value) in [
            ("last_active", user.last_active.as_ref()),
            ("deactivated_at", user.deactivated_at.as_ref()),
            ("deleted_at", user.deleted_at.as_ref()),
        ] {
            if let Some(value) = value {
                map.insert(key.into(), at(value));
            }
        }
    }
    out
}

/// Users by id, rendered once each; ids never stored render as bare users.
pub struct Users {
    pub rendered: HashMap<String, Value>,
}

impl Users {
    pub fn json(&self, id: &str) -> Value {
        self.rendered
            .get(id)
            .cloned()
            .unwrap_or_else(|| user(&User::new(id.to_owned(), "user"), false))
    }
}

/// A `MemberResponse`.
pub fn member(member: &CallMember, users: &Users) -> Value {
    json!({
        "user_id": member.user_id,
        "user": users.json(&member.user_id),
        "role": if member.role.is_empty() { DEFAULT_MEMBER_ROLE } else { member.role.as_str() },
        "custom": member.doc.get("custom").cloned().unwrap_or_else(|| json!({})),
        "created_at": at(&member.created_at),
        "updated_at": at(&member.updated_at),
        "deleted_at": null,
    })
}

/// Where an ingest client would publish into the call (addresses only: eddy has no ingest server).
fn ingress(api_key: &str, call: &Call, host: &str) -> Value {
    json!({
        "rtmp": {"address": format!("rtmps://{host}:443/{api_key}.{}.{}", call.kind, call.id)},
        "srt": {"address": format!("srt://{host}:7001?streamid={{token}}&passphrase={{passphrase}}&call={}", call.cid)},
        "whip": {"address": format!("https://{host}/whip/{}/{}", call.kind, call.id)},
    })
}

/// A `CallResponse`.
pub fn call(call: &Call, users: &Users, api_key: &str, ingress_host: &str) -> Value {
    let doc = &call.doc;
    let session = doc.get("session").cloned().unwrap_or(Value::Null);
    let session_id = session
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let settings = doc.get("settings").cloned().unwrap_or_else(|| json!({}));
    json!({
        "type": call.kind,
        "id": call.id,
        "cid": call.cid,
        "created_by": users.json(&call.created_by),
        "custom": doc.get("custom").cloned().unwrap_or_else(|| json!({})),
        "join_ahead_time_seconds": settings.pointer("/backstage/join_ahead_time_seconds").cloned().unwrap_or(json!(0)),
        "settings": settings,
        "backstage": call.backstage,
        "blocked_user_ids": doc.get("blocked_user_ids").cloned().unwrap_or_else(|| json!([])),
        "recording": false,
        "transcribing": false,
        "captioning": false,
        "translating": false,
        "current_session_id": session_id,
        "session": session,
        "egress": {"broadcasting": false, "hls": null, "rtmps": []},
        "ingress": ingress(api_key, call, ingress_host),
        "starts_at": maybe_at(call.starts_at.as_ref()),
        "ended_at": maybe_at(call.ended_at.as_ref()),
        "created_at": at(&call.created_at),
        "updated_at": at(&call.updated_at),
        "team": call.team,
        "channel_cid": doc.get("channel_cid").cloned().unwrap_or(Value::Null),
        "thumbnails": null,
    })
}

/// A new call session (before any participant joins a media server).
pub fn new_session() -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "participants": [],
        "participants_count_by_role": {},
        "anonymous_participant_count": 0,
        "accepted_by": {},
        "rejected_by": {},
        "missed_by": {},
        "started_at": null,
        "ended_at": null,
        "live_started_at": null,
        "live_ended_at": null,
    })
}
