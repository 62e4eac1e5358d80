//! Building and publishing events: one JSON body per event, recipients named by audience, counts per recipient.

use crate::Chat;
use chrono::Utc;
use eddy_bus::{Audience, Envelope};
use eddy_store::{AppId, Channel};
use serde_json::{json, Map, Value};

/// The envelope fields every channel-scoped event carries.
pub fn channel_event(kind: &str, channel: &Channel) -> Map<String, Value> {
    let mut event = Map::new();
    event.insert("type".into(), json!(kind));
    event.insert("cid".into(), json!(channel.cid));
    event.insert("channel_id".into(), json!(channel.id));
    event.insert("channel_type".into(), json!(channel.kind));
    event.insert(
        "created_at".into(),
        json!(eddy_protocol::time::format(&Utc::now())),
    );
    event
}

pub fn user_event(kind: &str) -> Map<String, Value> {
    let mut event = Map::new();
    event.insert("type".into(), json!(kind));
    event.insert(
        "created_at".into(),
        json!(eddy_protocol::time::format(&Utc::now())),
    );
    event
}

impl Chat {
    /// Publishes one event; failures of the bus are logged, never fail the request that caused them.
    pub(crate) async fn publish(
        &self,
        app: AppId,
        audiences: Vec<Audience>,
        event: Map<String, Value>,
        personal: Vec<(String, Map<String, Value>)>,
    ) {
        self.record(app, &event);
        self.send(app, audiences, event, personal, Vec::new()).await;
    }

    /// Like [`Chat::publish`], but the users in `except` get nothing (those who blocked the author).
    pub(crate) async fn publish_except(
        &self,
        app: AppId,
        audiences: Vec<Audience>,
        event: Map<String, Value>,
        personal: Vec<(String, Map<String, Value>)>,
        except: Vec<String>,
    ) {
        self.record(app, &event);
        self.send(app, audiences, event, personal, except).await;
    }

    /// Publishes an event meant for some users only, so it is not kept for everyone's `/sync`
    /// (e.g. a shadowed message, shown to its author alone).
    pub(crate) async fn publish_unrecorded(
        &self,
        app: AppId,
        audiences: Vec<Audience>,
        event: Map<String, Value>,
    ) {
        self.send(app, audiences, event, Vec::new(), Vec::new())
            .await;
    }

    async fn send(
        &self,
        app: AppId,
        audiences: Vec<Audience>,
        event: Map<String, Value>,
        personal: Vec<(String, Map<String, Value>)>,
        except: Vec<String>,
    ) {
        let mut envelope = Envelope::new(app, audiences, &Value::Object(event));
        envelope.except = except;
        for (user_id, fields) in personal {
            envelope.personalise(&user_id, &fields);
        }
        if let Err(error) = self.bus.publish(envelope).await {
            tracing::warn!(%error, "event not published");
        }
    }

    /// Unread totals for many recipients in one store call, as per-recipient event fields.
    pub(crate) async fn unread_totals_for(
        &self,
        app: AppId,
        user_ids: &[String],
    ) -> Vec<(String, Map<String, Value>)> {
        let totals = self
            .store
            .unread_totals(app, user_ids)
            .await
            .unwrap_or_default();
        totals
            .into_iter()
            .map(|(user_id, total, channels)| (user_id, unread_fields(total, channels)))
            .collect()
    }

    /// A user's unread totals as events and `me` carry them (zero for a user in no channel).
    pub(crate) async fn unread_totals(&self, app: AppId, user_id: &str) -> Map<String, Value> {
        self.unread_totals_for(app, &[user_id.to_owned()])
            .await
            .pop()
            .map(|(_, fields)| fields)
            .unwrap_or_else(|| unread_fields(0, 0))
    }
}

/// The unread counters events and `me` carry; `unread_count` is Stream's legacy alias of the total.
fn unread_fields(total: i64, channels: i64) -> Map<String, Value> {
    let mut counts = Map::new();
    counts.insert("total_unread_count".into(), json!(total));
    counts.insert("unread_count".into(), json!(total));
    counts.insert("unread_channels".into(), json!(channels));
    counts.insert("unread_threads".into(), json!(0));
    counts
}
