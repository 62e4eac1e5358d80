//! `GetPinnedMessages`: a channel's pinned messages, newest pin first, for anyone who may read the channel.

use crate::bans::hidden_from;
use crate::channels::parse_cid;
use crate::requests::PinnedMessagesRequest;
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::Utc;
use eddy_protocol::ApiError;
use eddy_store::{AppId, PinnedPage, Timestamp};
use serde_json::{json, Value};

/// Stream's default page and its cap.
pub const DEFAULT_PINNED_LIMIT: i64 = 20;
pub const MAX_PINNED_LIMIT: i64 = 300;

const OP: &str = "GetPinnedMessages";

/// A pin-time bound: RFC 3339 text or Unix nanoseconds.
fn pin_time(name: &str, value: &Value) -> ChatResult<Timestamp> {
    let parsed = match value {
        Value::String(text) => eddy_protocol::time::parse(text),
        Value::Number(number) => number.as_i64().map(chrono::DateTime::from_timestamp_nanos),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ApiError::input(format!(
            "{name} must be an RFC 3339 timestamp or Unix nanoseconds"
        ))
        .in_operation(OP)
    })
}

/// `true` for ascending: `sort` is empty or one `pinned_at` field (direction 1 or -1, default -1).
fn ascending(sort: Option<&Value>) -> ChatResult<bool> {
    let fields = match sort {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Array(fields)) => fields,
        Some(_) => return Err(ApiError::input("sort must be an array").in_operation(OP)),
    };
    match fields.as_slice() {
        [] => Ok(false),
        [field] if field.get("field").and_then(Value::as_str) == Some("pinned_at") => {
            Ok(field.get("direction").and_then(Value::as_i64) == Some(1))
        }
        _ => Err(
            ApiError::input("pinned messages sort only by one field, pinned_at").in_operation(OP),
        ),
    }
}

/// At most one bound per side: `(time, inclusive)`.
fn one_bound(side: &str, bounds: Vec<(Timestamp, bool)>) -> ChatResult<Option<(Timestamp, bool)>> {
    match bounds.len() {
        0 | 1 => Ok(bounds.into_iter().next()),
        _ => Err(ApiError::input(format!("give at most one {side} bound")).in_operation(OP)),
    }
}

impl Chat {
    /// The pin time of a pinned message of `cid`, for the `id_*` bounds (which page by pin order).
    async fn pin_time_of(&self, app: AppId, cid: &str, id: &str) -> ChatResult<Timestamp> {
        let message = self
            .store
            .message(app, id)
            .await
            .map_err(store_error(OP))?
            .filter(|m| m.cid == cid);
        message
            .as_ref()
            .and_then(|m| m.doc.get("pinned_at"))
            .and_then(Value::as_str)
            .and_then(eddy_protocol::time::parse)
            .ok_or_else(|| {
                ApiError::input(format!("message {id:?} is not a pinned message of {cid}"))
                    .in_operation(OP)
            })
    }

    pub async fn get_pinned_messages(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: PinnedMessagesRequest,
    ) -> ChatResult<Value> {
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        let viewer = actor.user();
        self.readable_channel(app, actor, &cid, OP).await?;
        if request.id_around.is_some() || request.pinned_at_around.is_some() {
            return Err(ApiError::input(
                "id_around and pinned_at_around are not supported; page with the other bounds",
            )
            .in_operation(OP));
        }
        // (time, inclusive, lower side)
        let mut bounds = Vec::new();
        for (name, value, inclusive, lower) in [
            ("pinned_at_after", &request.pinned_at_after, false, true),
            (
                "pinned_at_after_or_equal",
                &request.pinned_at_after_or_equal,
                true,
                true,
            ),
            ("pinned_at_before", &request.pinned_at_before, false, false),
            (
                "pinned_at_before_or_equal",
                &request.pinned_at_before_or_equal,
                true,
                false,
            ),
        ] {
            if let Some(value) = value.as_ref().filter(|v| !v.is_null()) {
                bounds.push((pin_time(name, value)?, inclusive, lower));
            }
        }
        for (id, inclusive, lower) in [
            (&request.id_gt, false, true),
            (&request.id_gte, true, true),
            (&request.id_lt, false, false),
            (&request.id_lte, true, false),
        ] {
            if let Some(id) = id {
                bounds.push((self.pin_time_of(app, &cid, id).await?, inclusive, lower));
            }
        }
        let side = |lower: bool| {
            bounds
                .iter()
                .filter(|b| b.2 == lower)
                .map(|b| (b.0, b.1))
                .collect::<Vec<_>>()
        };
        let (after, before) = (side(true), side(false));
        let page = PinnedPage {
            limit: request
                .limit
                .unwrap_or(DEFAULT_PINNED_LIMIT)
                .clamp(0, MAX_PINNED_LIMIT),
            offset: request.offset.unwrap_or(0).max(0),
            ascending: ascending(request.sort.as_ref())?,
            pinned_after: one_bound("lower", after)?,
            pinned_before: one_bound("upper", before)?,
        };
        let mut messages = self
            .store
            .pinned_messages(app, &cid, &page, Utc::now())
            .await
            .map_err(store_error(OP))?;
        messages.retain(|m| !hidden_from(m, viewer));
        Ok(json!({ "messages": self.render_messages(app, &messages, viewer).await? }))
    }
}
