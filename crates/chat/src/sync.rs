//! The event log behind `/sync`: channel events are recorded in batches off the request path, and
//! clients that were offline fetch what they missed.

use crate::requests::SyncRequest;
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::{Duration as ChronoDuration, Utc};
use eddy_core::grants::{allows, Subject};
use eddy_protocol::ApiError;
use eddy_store::{AppId, LoggedEvent, Store};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Event types kept for `/sync` (never typing, health, presence, watching or custom events).
const SYNCED: &[&str] = &[
    "message.new",
    "message.updated",
    "message.deleted",
    "message.undeleted",
    "reaction.new",
    "reaction.updated",
    "reaction.deleted",
    "member.added",
    "member.updated",
    "member.removed",
    "channel.updated",
    "channel.truncated",
    "channel.deleted",
    "channel.hidden",
    "channel.visible",
    "message.read",
];
/// Events only their own user receives.
const PERSONAL: &[&str] = &["channel.hidden", "channel.visible"];
const MAX_CHANNELS: usize = 255;
const MAX_EVENTS: usize = 2000;
const MAX_AGE_DAYS: i64 = 30;
/// Events waiting to be written; beyond this they are dropped (logged), never blocking a request.
const RECORDER_QUEUE: usize = 65_536;
const RECORDER_BATCH: usize = 512;

pub type EventRecorder = mpsc::Sender<(AppId, LoggedEvent)>;

/// Starts the background writer; events are appended in batches, one transaction per app and batch.
pub fn start_recorder(store: Arc<dyn Store>) -> EventRecorder {
    let (sender, mut receiver) = mpsc::channel::<(AppId, LoggedEvent)>(RECORDER_QUEUE);
    tokio::spawn(async move {
        while let Some(first) = receiver.recv().await {
            let mut batch = vec![first];
            while batch.len() < RECORDER_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let mut by_app: HashMap<AppId, Vec<LoggedEvent>> = HashMap::new();
            for (app, event) in batch {
                by_app.entry(app).or_default().push(event);
            }
            for (app, events) in by_app {
                if let Err(error) = store.append_events(app, &events).await {
                    tracing::warn!(%error, count = events.len(), "events not recorded for /sync");
                }
            }
        }
    });
    sender
}

/// Deletes events past the retention period once an hour.
pub fn start_pruner(store: Arc<dyn Store>) {
    tokio::spawn(async move {
        loop {
            let before = Utc::now() - ChronoDuration::days(MAX_AGE_DAYS + 1);
            if let Err(error) = store.prune_events(before).await {
                tracing::warn!(%error, "old events not pruned");
            }
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    });
}

impl Chat {
    /// Hands a published channel event to the recorder when `/sync` should return it.
    pub(crate) fn record(&self, app: AppId, event: &Map<String, Value>) {
        let (Some(recorder), Some(cid), Some(kind)) = (
            &self.recorder,
            event.get("cid").and_then(Value::as_str),
            event.get("type").and_then(Value::as_str),
        ) else {
            return;
        };
        if !SYNCED.contains(&kind) {
            return;
        }
        let created_at = event
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(eddy_protocol::time::parse)
            .unwrap_or_else(Utc::now);
        let logged = LoggedEvent {
            cid: cid.to_owned(),
            kind: kind.to_owned(),
            created_at,
            body: event.clone(),
        };
        if recorder.try_send((app, logged)).is_err() {
            tracing::warn!(cid, kind, "event log queue full; event not kept for /sync");
        }
    }

    /// `POST /sync`: the events of the caller's channels since `last_sync_at`.
    pub async fn sync(
        &self,
        app: AppId,
        actor: &Actor,
        request: SyncRequest,
        connection_id: Option<&str>,
        watch: bool,
        with_inaccessible: bool,
    ) -> ChatResult<Value> {
        const OP: &str = "Sync";
        let user = self
            .required_user(app, actor, request.user_id.as_deref(), None, OP)
            .await?;
        if request.channel_cids.is_empty() || request.channel_cids.len() > MAX_CHANNELS {
            return Err(ApiError::input(format!(
                "channel_cids must list 1 to {MAX_CHANNELS} channels"
            ))
            .in_operation(OP));
        }
        let since = eddy_protocol::time::parse(&request.last_sync_at).ok_or_else(|| {
            ApiError::input("last_sync_at must be an RFC 3339 timestamp").in_operation(OP)
        })?;
        if since < Utc::now() - ChronoDuration::days(MAX_AGE_DAYS) {
            return Err(ApiError::input(format!(
                "last_sync_at is more than {MAX_AGE_DAYS} days ago"
            ))
            .in_operation(OP));
        }
        let channels = self
            .store
            .channels(app, &request.channel_cids)
            .await
            .map_err(store_error(OP))?;
        let memberships: HashMap<String, String> = self
            .store
            .members_of(app, &request.channel_cids, Some(&user.id))
            .await
            .map_err(store_error(OP))?
            .into_iter()
            .map(|m| (m.cid, m.channel_role))
            .collect();
        let mut accessible = Vec::new();
        for channel in channels.iter().filter(|c| c.deleted_at.is_none()) {
            let config = self.channel_type_config(app, &channel.kind, OP).await?;
            let subject = Subject {
                role: &user.role,
                channel_role: memberships.get(&channel.cid).map(String::as_str),
                is_owner: channel.created_by.as_deref() == Some(user.id.as_str()),
            };
            if actor.is_server() || allows(&config, subject, "read-channel") {
                accessible.push(channel.cid.clone());
            }
        }
        let accessible_set: HashSet<&String> = accessible.iter().collect();
        let inaccessible: Vec<String> = request
            .channel_cids
            .iter()
            .filter(|cid| !accessible_set.contains(cid))
            .cloned()
            .collect();
        let logged = self
            .store
            .events_since(app, &accessible, since, MAX_EVENTS as i64 + 1)
            .await
            .map_err(store_error(OP))?;
        if logged.len() > MAX_EVENTS {
            return Err(ApiError::input(format!(
                "more than {MAX_EVENTS} events since last_sync_at; reload the channels instead"
            ))
            .in_operation(OP));
        }
        let mut events: Vec<Value> = logged
            .into_iter()
            .filter(|event| {
                !PERSONAL.contains(&event.kind.as_str())
                    || event
                        .body
                        .get("user")
                        .and_then(|u| u.get("id"))
                        .and_then(Value::as_str)
                        == Some(user.id.as_str())
            })
            .map(|event| Value::Object(event.body))
            .collect();
        if watch {
            if let Some(connection_id) = connection_id {
                if self.hub.connection_user(app, connection_id).as_deref() == Some(user.id.as_str())
                {
                    for cid in &accessible {
                        self.hub.watch(app, connection_id, cid);
                    }
                }
            }
        }
        let mut response = Map::new();
        if with_inaccessible {
            response.insert("inaccessible_cids".into(), json!(inaccessible));
        } else {
            for cid in &inaccessible {
                let (kind, id) = cid.split_once(':').unwrap_or((cid.as_str(), ""));
                events.push(json!({
                    "type": eddy_protocol::event::NOTIFICATION_REMOVED_FROM_CHANNEL,
                    "cid": cid,
                    "channel_type": kind,
                    "channel_id": id,
                    "created_at": eddy_protocol::time::format(&Utc::now()),
                }));
            }
        }
        response.insert("events".into(), Value::Array(events));
        Ok(Value::Object(response))
    }
}
