//! Presence: online when a user's first connection opens, offline after a grace period once the last one closes.

use crate::events::user_event;
use crate::render;
use crate::Chat;
use chrono::Utc;
use eddy_bus::Audience;
use eddy_store::{AppId, User};
use serde_json::Value;
use std::time::Duration;

/// How long, by default, a user with no connection stays online, so quick reconnects do not flap.
pub const OFFLINE_GRACE: Duration = Duration::from_secs(5);

fn invisible(user: &User) -> bool {
    user.doc
        .get("invisible")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

impl Chat {
    async fn publish_presence(&self, app: AppId, user: &User, online: bool) {
        let mut event = user_event("user.presence.changed");
        let mut rendered = render::user(user, online);
        rendered["online"] = Value::Bool(online);
        event.insert("user".into(), rendered);
        self.publish(
            app,
            vec![Audience::PresenceOf {
                user_ids: vec![user.id.clone()],
            }],
            event,
            Vec::new(),
        )
        .await;
    }

    /// Called once a connection is registered: the first connection since the user was last
    /// announced offline makes them online (a reconnect within the grace period, or a user already
    /// connected to another node, announces nothing).
    pub async fn connection_opened(&self, app: AppId, user: &User, anonymous: bool) {
        if !anonymous
            && !invisible(user)
            && self.hub.generation(app, &user.id) == 1
            && !self.hub.online_elsewhere(app, &user.id)
        {
            self.publish_presence(app, user, true).await;
        }
    }

    /// After the last connection closed: wait out the grace period, then record and announce offline.
    pub(crate) fn schedule_offline(&self, app: AppId, user: User) {
        let chat = self.clone();
        let generation = self.hub.generation(app, &user.id);
        tokio::spawn(async move {
            tokio::time::sleep(chat.presence_grace).await;
            // Back within the grace period (even if gone again since): a later timer decides.
            if !chat.hub.settle_offline(app, &user.id, generation) {
                return;
            }
            let now = Utc::now();
            if let Err(error) = chat.store.touch_user(app, &user.id, now).await {
                tracing::warn!(%error, user_id = %user.id, "last_active not recorded");
            }
            if !invisible(&user) {
                let user = User {
                    last_active: Some(now),
                    ..user
                };
                chat.publish_presence(app, &user, false).await;
            }
        });
    }

    /// `presence: true`: the connection follows these users' presence, if it belongs to `viewer`.
    pub(crate) fn follow_presence(
        &self,
        app: AppId,
        viewer: Option<&User>,
        connection_id: Option<&str>,
        user_ids: &[String],
    ) {
        let (Some(viewer), Some(connection_id)) = (viewer, connection_id) else {
            return;
        };
        if self.hub.connection_user(app, connection_id).as_deref() == Some(viewer.id.as_str()) {
            self.hub.follow_presence(app, connection_id, user_ids);
        }
    }
}
