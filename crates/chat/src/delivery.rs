//! Delivery receipts (`POST /channels/delivered`): a user's device confirms the latest message it
//! received per channel; the member's read state gains `last_delivered_at` and
//! `last_delivered_message_id` and the channel's watchers get `message.delivered`.
//!
//! Only channels whose type has `delivery_events` on take part (Stream's default is off), only for
//! their members; other entries, and message ids that do not exist (the SDKs' tests send made-up
//! ones), are accepted and change nothing or use the time of the request. A user who turned
//! `privacy_settings.delivery_receipts` off still has their state kept, but only their own
//! connections hear of it. The two fields live in the member's document (like `pinned_at`); they
//! are written with the member's other fields, so a concurrent change of the same member's
//! document can lose one of the two writes (the next report restores it).

use crate::channels::parse_cid;
use crate::events::channel_event;
use crate::render;
use crate::requests::MarkDelivered;
use crate::users::privacy_off;
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::Utc;
use eddy_bus::Audience;
use eddy_protocol::event as ev;
use eddy_protocol::ApiError;
use eddy_store::AppId;
use serde_json::{json, Value};

/// Channels one report may name (Stream's batch endpoints take 100).
pub const MAX_DELIVERED_CHANNELS: usize = 100;

impl Chat {
    pub async fn mark_delivered(
        &self,
        app: AppId,
        actor: &Actor,
        request: MarkDelivered,
    ) -> ChatResult<Value> {
        const OP: &str = "MarkDelivered";
        if request.latest_delivered_messages.len() > MAX_DELIVERED_CHANNELS {
            return Err(ApiError::input(format!(
                "latest_delivered_messages takes at most {MAX_DELIVERED_CHANNELS} entries"
            ))
            .in_operation(OP));
        }
        let user = self
            .required_user(
                app,
                actor,
                request.user_id.as_deref(),
                request.user.as_ref(),
                OP,
            )
            .await?;
        for entry in &request.latest_delivered_messages {
            if entry.id.is_empty() {
                return Err(ApiError::input("every delivered message needs an id").in_operation(OP));
            }
            let (kind, id) = entry.cid.split_once(':').ok_or_else(|| {
                ApiError::input(format!("cid {:?} is not of the form type:id", entry.cid))
                    .in_operation(OP)
            })?;
            parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        }
        let now = Utc::now();
        for entry in &request.latest_delivered_messages {
            let context = match self.channel_context(app, &entry.cid, Some(&user), OP).await {
                Ok(context) => context,
                Err(error) if error.code == eddy_protocol::ErrorCode::DoesNotExist => continue,
                Err(error) => return Err(error),
            };
            let Some(mut member) = context.membership.clone() else {
                continue;
            };
            if !context.config.delivery_events {
                continue;
            }
            // A known message of this channel gives its own time; an unknown id the report's.
            let delivered_at = self
                .store
                .message(app, &entry.id)
                .await
                .map_err(store_error(OP))?
                .filter(|m| m.cid == entry.cid)
                .map_or(now, |m| m.created_at);
            let stamp = eddy_protocol::time::format(&delivered_at);
            let newer = member
                .doc
                .get("last_delivered_at")
                .and_then(Value::as_str)
                .is_none_or(|previous| previous < stamp.as_str());
            if !newer {
                continue;
            }
            member.doc.insert("last_delivered_at".into(), json!(stamp));
            member
                .doc
                .insert("last_delivered_message_id".into(), json!(entry.id));
            self.store
                .update_member(app, &member)
                .await
                .map_err(store_error(OP))?;
            let mut event = channel_event(ev::MESSAGE_DELIVERED, &context.channel);
            event.insert(
                "created_at".into(),
                json!(eddy_protocol::time::format(&now)),
            );
            event.insert(
                "user".into(),
                render::user(&user, self.hub.is_online(app, &user.id)),
            );
            event.insert("last_delivered_at".into(), json!(stamp));
            event.insert("last_delivered_message_id".into(), json!(entry.id));
            let audience = if privacy_off(&user, "delivery_receipts") {
                Audience::UsersWatching {
                    cid: context.channel.cid.clone(),
                    user_ids: vec![user.id.clone()],
                }
            } else {
                Audience::Watchers {
                    cid: context.channel.cid.clone(),
                }
            };
            self.publish(app, vec![audience], event, Vec::new()).await;
        }
        Ok(json!({}))
    }
}
