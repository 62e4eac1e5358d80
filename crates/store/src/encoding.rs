//! Encodings both SQL backends share: fixed-width UTC timestamp text, JSON text, latest-reaction entries, ban mirrors, flag target kinds.

use crate::contract::{StoreError, StoreResult};
use crate::model::{Ban, Document, FlagTarget, Reaction, Timestamp};
use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::Value;

/// RFC 3339 with six fractional digits and `Z`: text order is time order.
pub fn ts(timestamp: &Timestamp) -> String {
    timestamp.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_ts(text: &str) -> StoreResult<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|error| {
            StoreError::Backend(format!("bad timestamp {text:?} in database: {error}"))
        })
}

pub fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|error| StoreError::Backend(error.to_string()))
}

/// One entry of a message's stored `latest_reactions`.
pub fn reaction_to_json(reaction: &Reaction) -> Value {
    serde_json::json!({
        "message_id": reaction.message_id,
        "user_id": reaction.user_id,
        "type": reaction.kind,
        "score": reaction.score,
        "doc": reaction.doc,
        "created_at": ts(&reaction.created_at),
        "updated_at": ts(&reaction.updated_at),
    })
}

pub fn reaction_from_json(value: &Value) -> Option<Reaction> {
    Some(Reaction {
        message_id: value.get("message_id")?.as_str()?.to_owned(),
        user_id: value.get("user_id")?.as_str()?.to_owned(),
        kind: value.get("type")?.as_str()?.to_owned(),
        score: value.get("score")?.as_i64()?,
        doc: value.get("doc")?.as_object()?.clone(),
        created_at: parse_ts(value.get("created_at")?.as_str()?).ok()?,
        updated_at: parse_ts(value.get("updated_at")?.as_str()?).ok()?,
    })
}

/// The document keys a ban is mirrored to on the user (app-wide) or the member (channel ban).
pub const BAN_MIRROR_KEYS: [&str; 3] = ["banned", "shadow_banned", "ban_expires"];

/// What a ban sets on its user's or member's document once the [`BAN_MIRROR_KEYS`] are removed:
/// `banned` (or `shadow_banned` for a shadow ban) and `ban_expires` when it expires.
pub fn ban_mirror(ban: &Ban) -> Document {
    let mut mirror = Document::new();
    let flag = if ban.shadow {
        "shadow_banned"
    } else {
        "banned"
    };
    mirror.insert(flag.into(), Value::Bool(true));
    if let Some(expires) = &ban.expires_at {
        mirror.insert("ban_expires".into(), Value::String(ts(expires)));
    }
    mirror
}

pub fn flag_target(kind: &str) -> StoreResult<FlagTarget> {
    match kind {
        "message" => Ok(FlagTarget::Message),
        "user" => Ok(FlagTarget::User),
        other => Err(StoreError::Backend(format!(
            "bad flag target {other:?} in database"
        ))),
    }
}
