//! Mutes: users muting users (`me.mutes`) and channels (`me.channel_mutes`), with optional expiry.

use crate::events::user_event;
use crate::render;
use crate::requests::{MuteChannels, MuteUsers};
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::{Duration, Utc};
use eddy_bus::Audience;
use eddy_core::Cid;
use eddy_protocol::ApiError;
use eddy_store::{AppId, Mute, MuteTarget, Timestamp, User};
use serde_json::{json, Map, Value};

const MAX_TARGETS: usize = 25;

fn targets(
    single: &Option<String>,
    many: &[String],
    what: &str,
    operation: &'static str,
) -> ChatResult<Vec<String>> {
    let mut all: Vec<String> = many.to_vec();
    all.extend(single.iter().cloned());
    all.sort();
    all.dedup();
    if all.is_empty() || all.len() > MAX_TARGETS {
        return Err(
            ApiError::input(format!("name 1 to {MAX_TARGETS} {what}")).in_operation(operation)
        );
    }
    Ok(all)
}

impl Chat {
    /// Mute objects as `me` and mute responses carry them.
    pub(crate) async fn rendered_mutes(&self, app: AppId, user: &User) -> (Vec<Value>, Vec<Value>) {
        let mutes = self
            .store
            .mutes(app, &user.id, Utc::now())
            .await
            .unwrap_or_default();
        let user_ids: Vec<String> = mutes
            .iter()
            .filter(|m| m.target == MuteTarget::User)
            .map(|m| m.target_id.clone())
            .collect();
        let cids: Vec<String> = mutes
            .iter()
            .filter(|m| m.target == MuteTarget::Channel)
            .map(|m| m.target_id.clone())
            .collect();
        let mut ids = user_ids.clone();
        ids.push(user.id.clone());
        let users = match self.load_users(app, ids).await {
            Ok(users) => users,
            Err(_) => return (Vec::new(), Vec::new()),
        };
        let channels = self.store.channels(app, &cids).await.unwrap_or_default();
        let me = render::user(user, self.hub.is_online(app, &user.id));
        let mut user_mutes = Vec::new();
        let mut channel_mutes = Vec::new();
        for mute in &mutes {
            let mut object = Map::new();
            object.insert("user".into(), me.clone());
            object.insert(
                "created_at".into(),
                json!(eddy_protocol::time::format(&mute.created_at)),
            );
            object.insert(
                "updated_at".into(),
                json!(eddy_protocol::time::format(&mute.updated_at)),
            );
            if let Some(expires) = &mute.expires_at {
                object.insert(
                    "expires".into(),
                    json!(eddy_protocol::time::format(expires)),
                );
            }
            match mute.target {
                MuteTarget::User => {
                    object.insert("target".into(), users.get(&mute.target_id));
                    user_mutes.push(Value::Object(object));
                }
                MuteTarget::Channel => {
                    let Some(channel) = channels.iter().find(|c| c.cid == mute.target_id) else {
                        continue;
                    };
                    let config = self
                        .channel_type_config(app, &channel.kind, "MuteChannel")
                        .await
                        .unwrap_or_default();
                    object.insert(
                        "channel".into(),
                        render::channel(channel, &config, &users, None),
                    );
                    channel_mutes.push(Value::Object(object));
                }
            }
        }
        (user_mutes, channel_mutes)
    }

    async fn announce_mutes(&self, app: AppId, user: &User, target: MuteTarget) -> Value {
        let kind = match target {
            MuteTarget::User => "notification.mutes_updated",
            MuteTarget::Channel => "notification.channel_mutes_updated",
        };
        let me = self.own_user(app, user).await;
        let mut event = user_event(kind);
        event.insert("me".into(), me.clone());
        self.publish(
            app,
            vec![Audience::Users {
                user_ids: vec![user.id.clone()],
            }],
            event,
            Vec::new(),
        )
        .await;
        me
    }

    /// Stores `user`'s mutes of `ids` until `expires_at` and announces the new lists; returns `me`.
    async fn put_mutes(
        &self,
        app: AppId,
        user: &User,
        target: MuteTarget,
        ids: &[String],
        expires_at: Option<Timestamp>,
        operation: &'static str,
    ) -> ChatResult<Value> {
        let now = Utc::now();
        let mutes: Vec<Mute> = ids
            .iter()
            .map(|id| Mute {
                user_id: user.id.clone(),
                target,
                target_id: id.clone(),
                created_at: now,
                updated_at: now,
                expires_at,
            })
            .collect();
        self.store
            .put_mutes(app, &mutes)
            .await
            .map_err(store_error(operation))?;
        Ok(self.announce_mutes(app, user, target).await)
    }

    async fn remove_mutes(
        &self,
        app: AppId,
        user: &User,
        target: MuteTarget,
        ids: &[String],
        operation: &'static str,
    ) -> ChatResult<Value> {
        self.store
            .remove_mutes(app, &user.id, target, ids)
            .await
            .map_err(store_error(operation))?;
        self.announce_mutes(app, user, target).await;
        Ok(json!({}))
    }

    /// `POST /moderation/mute`: `timeout` is in minutes.
    pub async fn mute_users(
        &self,
        app: AppId,
        actor: &Actor,
        request: MuteUsers,
    ) -> ChatResult<Value> {
        const OP: &str = "MuteUser";
        let user = self
            .required_user(app, actor, request.user_id.as_deref(), None, OP)
            .await?;
        let ids = targets(&request.target_id, &request.target_ids, "users to mute", OP)?;
        if ids.contains(&user.id) {
            return Err(ApiError::input("a user cannot mute themselves").in_operation(OP));
        }
        let found = self.store.users(app, &ids).await.map_err(store_error(OP))?;
        if let Some(missing) = ids.iter().find(|id| !found.iter().any(|u| &u.id == *id)) {
            return Err(
                ApiError::not_found(format!("user {missing} does not exist")).in_operation(OP),
            );
        }
        let expires_at = expiry(
            request.timeout,
            Duration::try_minutes,
            "timeout must be a positive number of minutes",
            OP,
        )?;
        let me = self
            .put_mutes(app, &user, MuteTarget::User, &ids, expires_at, OP)
            .await?;
        let listed = entries_for(&me, "mutes", "/target/id", &ids);
        Ok(
            json!({ "mute": listed.first().cloned().unwrap_or(Value::Null), "mutes": listed, "own_user": me }),
        )
    }

    pub async fn unmute_users(
        &self,
        app: AppId,
        actor: &Actor,
        request: MuteUsers,
    ) -> ChatResult<Value> {
        const OP: &str = "UnmuteUser";
        let user = self
            .required_user(app, actor, request.user_id.as_deref(), None, OP)
            .await?;
        let ids = targets(
            &request.target_id,
            &request.target_ids,
            "users to unmute",
            OP,
        )?;
        self.remove_mutes(app, &user, MuteTarget::User, &ids, OP)
            .await
    }

    /// `POST /moderation/mute/channel`: `expiration` is in milliseconds.
    pub async fn mute_channels(
        &self,
        app: AppId,
        actor: &Actor,
        request: MuteChannels,
    ) -> ChatResult<Value> {
        const OP: &str = "MuteChannel";
        let user = self
            .required_user(app, actor, request.user_id.as_deref(), None, OP)
            .await?;
        let cids = targets(
            &request.channel_cid,
            &request.channel_cids,
            "channels to mute",
            OP,
        )?;
        for cid in &cids {
            Cid::parse(cid).map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
            let context = self.channel_context(app, cid, Some(&user), OP).await?;
            let owner = context.channel.created_by.as_deref() == Some(user.id.as_str());
            self.require(&context, actor, Some(&user), "mute-channel", owner, OP)?;
        }
        let expires_at = expiry(
            request.expiration,
            Duration::try_milliseconds,
            "expiration must be a positive number of milliseconds",
            OP,
        )?;
        let me = self
            .put_mutes(app, &user, MuteTarget::Channel, &cids, expires_at, OP)
            .await?;
        let listed = entries_for(&me, "channel_mutes", "/channel/cid", &cids);
        Ok(
            json!({ "channel_mute": listed.first().cloned().unwrap_or(Value::Null), "channel_mutes": listed, "own_user": me }),
        )
    }

    pub async fn unmute_channels(
        &self,
        app: AppId,
        actor: &Actor,
        request: MuteChannels,
    ) -> ChatResult<Value> {
        const OP: &str = "UnmuteChannel";
        let user = self
            .required_user(app, actor, request.user_id.as_deref(), None, OP)
            .await?;
        let cids = targets(
            &request.channel_cid,
            &request.channel_cids,
            "channels to unmute",
            OP,
        )?;
        self.remove_mutes(app, &user, MuteTarget::Channel, &cids, OP)
            .await
    }
}

/// When a mute given `amount` units from now ends; `None` without an amount, refused unless positive.
fn expiry(
    amount: Option<i64>,
    unit: fn(i64) -> Option<Duration>,
    refusal: &str,
    operation: &'static str,
) -> ChatResult<Option<Timestamp>> {
    match amount {
        Some(amount) if amount <= 0 => Err(ApiError::input(refusal).in_operation(operation)),
        Some(amount) => unit(amount)
            .and_then(|delta| Utc::now().checked_add_signed(delta))
            .map(Some)
            .ok_or_else(|| {
                ApiError::input(format!("{refusal} (and not out of range)")).in_operation(operation)
            }),
        None => Ok(None),
    }
}

/// The entries of `me[list]` whose value at `pointer` is one of `ids` (the mutes just made).
fn entries_for(me: &Value, list: &str, pointer: &str, ids: &[String]) -> Vec<Value> {
    me[list]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|entry| {
                    entry
                        .pointer(pointer)
                        .and_then(Value::as_str)
                        .is_some_and(|id| ids.iter().any(|wanted| wanted == id))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}
