//! Conversions between SQLite rows and records; timestamps are stored as fixed-width UTC text so text order is time order.

use crate::contract::{StoreError, StoreResult};
pub use crate::encoding::{ban_mirror, parse_ts, reaction_to_json, to_json, ts, BAN_MIRROR_KEYS};
use crate::encoding::{flag_target, reaction_from_json};
use crate::model::*;
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn column<T>(row: &SqliteRow, name: &str) -> StoreResult<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(name)
        .map_err(|error| StoreError::Backend(error.to_string()))
}

fn time(row: &SqliteRow, name: &str) -> StoreResult<Timestamp> {
    parse_ts(&column::<String>(row, name)?)
}

fn optional_time(row: &SqliteRow, name: &str) -> StoreResult<Option<Timestamp>> {
    column::<Option<String>>(row, name)?
        .map(|text| parse_ts(&text))
        .transpose()
}

fn document(row: &SqliteRow, name: &str) -> StoreResult<Document> {
    let text: String = column(row, name)?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Ok(Map::new()),
    }
}

pub fn app_from_row(row: &SqliteRow) -> StoreResult<App> {
    Ok(App {
        id: column(row, "id")?,
        api_key: column(row, "api_key")?,
        api_secret: column(row, "api_secret")?,
        name: column(row, "name")?,
        settings: document(row, "settings")?,
        created_at: time(row, "created_at")?,
    })
}

pub fn channel_type_from_row(row: &SqliteRow) -> StoreResult<ChannelTypeRecord> {
    let text: String = column(row, "config")?;
    let config =
        serde_json::from_str(&text).map_err(|error| StoreError::Backend(error.to_string()))?;
    Ok(ChannelTypeRecord {
        name: column(row, "name")?,
        config,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: column(row, "id")?,
        role: column(row, "role")?,
        doc: document(row, "doc")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_active: optional_time(row, "last_active")?,
        deactivated_at: optional_time(row, "deactivated_at")?,
        deleted_at: optional_time(row, "deleted_at")?,
    })
}

pub fn channel_from_row(row: &SqliteRow) -> StoreResult<Channel> {
    Ok(Channel {
        cid: column(row, "cid")?,
        kind: column(row, "type")?,
        id: column(row, "id")?,
        created_by: column(row, "created_by")?,
        doc: document(row, "doc")?,
        frozen: column(row, "frozen")?,
        disabled: column(row, "disabled")?,
        member_count: column(row, "member_count")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_message_at: optional_time(row, "last_message_at")?,
        truncated_at: optional_time(row, "truncated_at")?,
        deleted_at: optional_time(row, "deleted_at")?,
    })
}

pub fn member_from_row(row: &SqliteRow) -> StoreResult<Member> {
    Ok(Member {
        cid: column(row, "cid")?,
        user_id: column(row, "user_id")?,
        channel_role: column(row, "channel_role")?,
        doc: document(row, "doc")?,
        hidden: column(row, "hidden")?,
        hide_messages_before: optional_time(row, "hide_messages_before")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_read: time(row, "last_read")?,
        last_read_message_id: column(row, "last_read_message_id")?,
        unread_messages: column(row, "unread_messages")?,
        first_unread_message_id: column(row, "first_unread_message_id")?,
    })
}

pub fn reaction_from_row(row: &SqliteRow) -> StoreResult<Reaction> {
    Ok(Reaction {
        message_id: column(row, "message_id")?,
        user_id: column(row, "user_id")?,
        kind: column(row, "type")?,
        score: column(row, "score")?,
        doc: document(row, "doc")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub fn message_from_row(row: &SqliteRow) -> StoreResult<Message> {
    let latest: String = column(row, "latest_reactions")?;
    let latest_reactions = match serde_json::from_str::<Value>(&latest) {
        Ok(Value::Array(items)) => items.iter().filter_map(reaction_from_json).collect(),
        _ => Vec::new(),
    };
    let participants: String = column(row, "thread_participants")?;
    Ok(Message {
        id: column(row, "id")?,
        cid: column(row, "cid")?,
        parent_id: column(row, "parent_id")?,
        user_id: column(row, "user_id")?,
        kind: column(row, "type")?,
        show_in_channel: column(row, "show_in_channel")?,
        reply_count: column(row, "reply_count")?,
        doc: document(row, "doc")?,
        reaction_groups: document(row, "reaction_groups")?,
        latest_reactions,
        thread_participants: serde_json::from_str(&participants).unwrap_or_default(),
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        deleted_at: optional_time(row, "deleted_at")?,
    })
}

/// A ban row; the empty `cid` of an app-wide ban reads as `None`.
pub fn ban_from_row(row: &SqliteRow) -> StoreResult<Ban> {
    let cid: String = column(row, "cid")?;
    Ok(Ban {
        user_id: column(row, "user_id")?,
        cid: (!cid.is_empty()).then_some(cid),
        banned_by: column(row, "banned_by")?,
        reason: column(row, "reason")?,
        shadow: column(row, "shadow")?,
        ip_ban: column(row, "ip_ban")?,
        created_at: time(row, "created_at")?,
        expires_at: optional_time(row, "expires_at")?,
    })
}

pub fn flag_from_row(row: &SqliteRow) -> StoreResult<Flag> {
    Ok(Flag {
        reporter_id: column(row, "reporter_id")?,
        target: flag_target(&column::<String>(row, "target_kind")?)?,
        target_id: column(row, "target_id")?,
        target_user_id: column(row, "target_user_id")?,
        cid: column(row, "cid")?,
        reason: column(row, "reason")?,
        doc: document(row, "doc")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        reviewed_at: optional_time(row, "reviewed_at")?,
        reviewed_by: column(row, "reviewed_by")?,
    })
}

pub fn block_from_row(row: &SqliteRow) -> StoreResult<Block> {
    Ok(Block {
        user_id: column(row, "user_id")?,
        blocked_user_id: column(row, "blocked_user_id")?,
        created_at: time(row, "created_at")?,
    })
}

/// A blocklist row; `words` is a JSON array of strings.
pub fn blocklist_from_row(row: &SqliteRow) -> StoreResult<Blocklist> {
    let words: Vec<String> = serde_json::from_str(&column::<String>(row, "words")?)
        .map_err(|error| StoreError::Backend(error.to_string()))?;
    Ok(Blocklist {
        name: column(row, "name")?,
        kind: column(row, "kind")?,
        words,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub fn call_type_from_row(row: &SqliteRow) -> StoreResult<CallTypeRecord> {
    Ok(CallTypeRecord {
        name: column(row, "name")?,
        doc: document(row, "doc")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub fn call_from_row(row: &SqliteRow) -> StoreResult<Call> {
    Ok(Call {
        cid: column(row, "cid")?,
        kind: column(row, "type")?,
        id: column(row, "id")?,
        created_by: column(row, "created_by")?,
        team: column(row, "team")?,
        backstage: column(row, "backstage")?,
        doc: document(row, "doc")?,
        member_count: column(row, "member_count")?,
        version: column(row, "version")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        starts_at: optional_time(row, "starts_at")?,
        ended_at: optional_time(row, "ended_at")?,
        deleted_at: optional_time(row, "deleted_at")?,
    })
}

pub fn call_member_from_row(row: &SqliteRow) -> StoreResult<CallMember> {
    Ok(CallMember {
        cid: column(row, "cid")?,
        user_id: column(row, "user_id")?,
        role: column(row, "role")?,
        doc: document(row, "doc")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}
