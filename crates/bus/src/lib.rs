//! The event bus contract between services and sockets, and its in-process backend.
//!
//! Contract: every published envelope reaches every subscriber once (at most once across faults), in the
//! order one publisher published them. Events are serialised once by the publisher; subscribers only route.

mod in_process;
mod nats;

pub use in_process::InProcessBus;
pub use nats::{BusHealth, NatsBus, NatsOptions};

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

pub type AppId = i64;

/// Who receives an event; a recipient named by several audiences gets it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    /// Every connection watching the channel.
    Watchers { cid: String },
    /// Every connection of these users.
    Users { user_ids: Vec<String> },
    /// Connections of these users that are not watching the channel.
    UsersNotWatching { cid: String, user_ids: Vec<String> },
    /// The connections of these users that watch the channel.
    UsersWatching { cid: String, user_ids: Vec<String> },
    /// Connections subscribed to these users' presence, and the users' own connections.
    PresenceOf { user_ids: Vec<String> },
    /// Every node's hub and no socket: the body is a node's report about its own connections
    /// (`eddy_realtime::cluster`), so presence and watcher counts are cluster-wide.
    Nodes,
}

/// One event on its way to sockets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub app: AppId,
    pub audiences: Vec<Audience>,
    /// The event as a JSON object, shared by all recipients.
    pub body: Arc<str>,
    /// Extra top-level fields for some recipients (their unread counts), as `"k":v,...` JSON fragments.
    pub personal: HashMap<String, String>,
    /// Users who never receive this envelope, whatever the audiences say (users who blocked the
    /// author of a message). Absent on the wire when empty, so older nodes read the envelope as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

impl Envelope {
    pub fn new(app: AppId, audiences: Vec<Audience>, body: &serde_json::Value) -> Self {
        Envelope {
            app,
            audiences,
            body: Arc::from(body.to_string()),
            personal: HashMap::new(),
            except: Vec::new(),
        }
    }

    /// Whether `user_id` is one of the users this envelope must not reach.
    pub fn excludes(&self, user_id: &str) -> bool {
        self.except.iter().any(|id| id == user_id)
    }

    /// Adds fields for one recipient; `fields` must be a JSON object.
    pub fn personalise(
        &mut self,
        user_id: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) {
        let fragment = serde_json::Value::Object(fields.clone()).to_string();
        let inner = fragment.trim_start_matches('{').trim_end_matches('}');
        if !inner.is_empty() {
            self.personal.insert(user_id.to_owned(), inner.to_owned());
        }
    }

    /// The frame text for `user_id`: the shared body, with that user's fields spliced in when there are any.
    pub fn frame_for(&self, user_id: &str) -> Arc<str> {
        match self.personal.get(user_id) {
            Some(extra) if self.body.ends_with('}') && self.body.len() > 2 => {
                let mut text = String::with_capacity(self.body.len() + extra.len() + 1);
                text.push_str(&self.body[..self.body.len() - 1]);
                text.push(',');
                text.push_str(extra);
                text.push('}');
                Arc::from(text)
            }
            _ => self.body.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("event bus is unavailable: {0}")]
    Unavailable(String),
}

/// A stream of envelopes for one subscriber.
pub struct Subscription {
    receiver: tokio::sync::broadcast::Receiver<Arc<Envelope>>,
}

impl Subscription {
    /// The next envelope; `None` once the bus is gone. Envelopes a slow subscriber missed are logged and skipped.
    pub async fn next(&mut self) -> Option<Arc<Envelope>> {
        loop {
            match self.receiver.recv().await {
                Ok(envelope) => return Some(envelope),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "bus subscriber lagged; events dropped");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[async_trait::async_trait]
pub trait Bus: Send + Sync {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError>;
    fn subscribe(&self) -> Subscription;
    /// The connection's health, for a bus that reaches other nodes; `None` in process.
    fn health(&self) -> Option<BusHealth> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn personal_fields_are_spliced_into_the_shared_body() {
        let mut envelope = Envelope::new(1, vec![], &json!({"type": "message.new", "cid": "m:1"}));
        let mut counts = serde_json::Map::new();
        counts.insert("total_unread_count".into(), json!(3));
        envelope.personalise("bob", &counts);
        let for_bob: serde_json::Value = serde_json::from_str(&envelope.frame_for("bob")).unwrap();
        assert_eq!(
            for_bob,
            json!({"type": "message.new", "cid": "m:1", "total_unread_count": 3})
        );
        assert_eq!(
            &*envelope.frame_for("carol"),
            r#"{"type":"message.new","cid":"m:1"}"#
        );
    }

    /// The contract suite every backend passes.
    pub async fn delivers_in_order_to_every_subscriber(bus: &dyn Bus) {
        let mut first = bus.subscribe();
        let mut second = bus.subscribe();
        for index in 0..100 {
            let envelope = Envelope::new(
                1,
                vec![Audience::Watchers { cid: "m:1".into() }],
                &json!({"i": index}),
            );
            bus.publish(envelope).await.unwrap();
        }
        for subscription in [&mut first, &mut second] {
            for index in 0..100 {
                let envelope = subscription.next().await.unwrap();
                let body: serde_json::Value = serde_json::from_str(&envelope.body).unwrap();
                assert_eq!(body["i"], index);
            }
        }
    }

    #[tokio::test]
    async fn in_process_backend_passes_the_suite() {
        delivers_in_order_to_every_subscriber(&InProcessBus::new(1024)).await;
    }
}
