//! Bans (app-wide or in one channel, plain or shadow, permanent or timed) and flags on messages and
//! users: who may set them, one store call each, the `user.banned`/`user.unbanned` events, and the
//! helpers the send path and renderers use to honour a ban.

use crate::channels::{parse_cid, ChannelContext};
use crate::events::{channel_event, user_event};
use crate::render;
use crate::requests::{BanUser, FlagRequest, QueryBannedUsers, QueryMessageFlags, UnbanUser};
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::{Duration, Utc};
use eddy_bus::Audience;
use eddy_core::Cid;
use eddy_protocol::{event as ev, ApiError};
use eddy_query::{parse_filter, parse_sort};
use eddy_store::{
    ban_mirror, AppId, Ban, Flag, FlagTarget, ListQuery, Member, Message, StoreError, Timestamp,
    User, BAN_MIRROR_KEYS,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const MAX_REASON_CHARS: usize = 255;
const DEFAULT_LIMIT: i64 = 25;
const MAX_LIMIT: i64 = 300;
const MAX_OFFSET: i64 = 10_000;
/// The longest ban timeout taken, in minutes (about a thousand years, well inside chrono's range).
const MAX_TIMEOUT_MINUTES: f64 = 525_600_000.0;

/// A ban as the user's (app-wide) or member's (channel) document mirrors it; expired counts as none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BanState {
    pub banned: bool,
    pub shadow_banned: bool,
}

impl BanState {
    pub fn any(self) -> bool {
        self.banned || self.shadow_banned
    }
}

pub(crate) fn ban_state(doc: &Map<String, Value>, now: Timestamp) -> BanState {
    let expired = doc
        .get("ban_expires")
        .and_then(Value::as_str)
        .and_then(eddy_protocol::time::parse)
        .is_some_and(|at| at <= now);
    if expired {
        return BanState::default();
    }
    let flag = |key: &str| doc.get(key).and_then(Value::as_bool).unwrap_or(false);
    BanState {
        banned: flag("banned"),
        shadow_banned: flag("shadow_banned"),
    }
}

/// Sets `banned`/`shadow_banned` of a rendered user or member from its document; `ban_expires`
/// stays only while the ban is in force.
pub(crate) fn render_ban_state(out: &mut Map<String, Value>, doc: &Map<String, Value>) {
    let state = ban_state(doc, Utc::now());
    out.insert("banned".into(), json!(state.banned));
    out.insert("shadow_banned".into(), json!(state.shadow_banned));
    if !state.any() {
        out.remove("ban_expires");
    }
}

/// Carries the stored ban mirror over into a rewritten document: clients never set these keys, and
/// rewriting a user or member must not lift a ban.
pub(crate) fn keep_ban_keys(into: &mut Map<String, Value>, stored: &Map<String, Value>) {
    for key in BAN_MIRROR_KEYS {
        into.remove(key);
        if let Some(value) = stored.get(key) {
            into.insert(key.to_owned(), value.clone());
        }
    }
}

pub(crate) fn strip_ban_keys(doc: &mut Map<String, Value>) {
    for key in BAN_MIRROR_KEYS {
        doc.remove(key);
    }
}

/// Whether the message was posted under a shadow ban.
pub(crate) fn is_shadowed(message: &Message) -> bool {
    message.doc.get("shadowed").and_then(Value::as_bool) == Some(true)
}

/// Shadowed messages are listed only for their author (and for server calls, which have no viewer).
pub(crate) fn hidden_from(message: &Message, viewer: Option<&User>) -> bool {
    is_shadowed(message) && viewer.is_some_and(|v| v.id != message.user_id)
}

/// The author of a shadowed message sees it as an ordinary one.
pub(crate) fn unshadow_for_author(rendered: &mut Value, message: &Message, viewer: Option<&User>) {
    if viewer.is_some_and(|v| v.id == message.user_id) {
        if let Some(fields) = rendered.as_object_mut() {
            fields.insert("shadowed".into(), json!(false));
        }
    }
}

/// A user does not see their own shadow ban.
pub(crate) fn hide_own_shadow_ban(rendered: &mut Value) {
    if let Some(fields) = rendered.as_object_mut() {
        fields.insert("shadow_banned".into(), json!(false));
    }
}

fn is_moderator(user: &User) -> bool {
    matches!(user.role.as_str(), "admin" | "moderator")
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// The channel a ban applies to: `channel_cid`, or `type` + `id`; neither means app-wide.
fn ban_scope(
    channel_cid: Option<&str>,
    kind: Option<&str>,
    id: Option<&str>,
) -> ChatResult<Option<String>> {
    let from_parts = match (non_empty(kind), non_empty(id)) {
        (Some(kind), Some(id)) => Some(parse_cid(kind, id)?),
        (None, None) => None,
        _ => {
            return Err(ApiError::input(
                "type and id name a channel together: give both, or channel_cid, or neither for an app-wide ban",
            ))
        }
    };
    let from_cid = match non_empty(channel_cid) {
        Some(cid) => {
            Cid::parse(cid).map_err(|e| ApiError::input(e.to_string()))?;
            let (kind, id) = cid.split_once(':').unwrap_or((cid, ""));
            Some(parse_cid(kind, id)?)
        }
        None => None,
    };
    match (from_cid, from_parts) {
        (Some(a), Some(b)) if a != b => Err(ApiError::input(format!(
            "channel_cid {a} and type/id {b} name different channels"
        ))),
        (a, b) => Ok(a.or(b)),
    }
}

/// When a ban given `timeout` minutes from `now` ends; `None` for a permanent ban. A negative
/// timeout makes a ban that has already ended, as Stream allows.
fn ban_expiry(timeout: Option<&Value>, now: Timestamp) -> ChatResult<Option<Timestamp>> {
    let minutes = match timeout {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_f64(),
        Some(_) => None,
    };
    let minutes = minutes
        .filter(|m| m.is_finite() && m.abs() <= MAX_TIMEOUT_MINUTES)
        .ok_or_else(|| {
            ApiError::input(format!(
                "timeout must be a number of minutes no larger than {MAX_TIMEOUT_MINUTES}"
            ))
        })?;
    let millis = (minutes * 60_000.0).round() as i64;
    Duration::try_milliseconds(millis)
        .and_then(|delta| now.checked_add_signed(delta))
        .map(Some)
        .ok_or_else(|| ApiError::input("timeout is out of range"))
}

fn checked_reason(reason: Option<String>) -> ChatResult<Option<String>> {
    let reason = reason.filter(|r| !r.is_empty());
    if let Some(reason) = &reason {
        let length = reason.chars().count();
        if length > MAX_REASON_CHARS {
            return Err(ApiError::input(format!(
                "reason is {length} characters, the limit is {MAX_REASON_CHARS}"
            )));
        }
    }
    Ok(reason)
}

fn page(limit: Option<i64>, offset: Option<i64>) -> (i64, i64) {
    (
        limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        offset.unwrap_or(0).clamp(0, MAX_OFFSET),
    )
}

fn time_or_null(value: &Option<Timestamp>) -> Value {
    value
        .as_ref()
        .map(|t| json!(eddy_protocol::time::format(t)))
        .unwrap_or(Value::Null)
}

/// Which record a flag request names: exactly one of a message and a user.
/// Whether automod (a blocklist) raised the flag rather than a user.
fn by_automod(flag: &Flag) -> bool {
    flag.doc
        .get("created_by_automod")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn flag_target(request: &FlagRequest) -> ChatResult<(FlagTarget, String)> {
    match (
        non_empty(request.target_message_id.as_deref()),
        non_empty(request.target_user_id.as_deref()),
    ) {
        (Some(id), None) => Ok((FlagTarget::Message, id.to_owned())),
        (None, Some(id)) => Ok((FlagTarget::User, id.to_owned())),
        _ => Err(ApiError::input(
            "give exactly one of target_message_id and target_user_id",
        )),
    }
}

impl Chat {
    /// The user's ban in a loaded channel. A member's document carries it; a non-member (who may
    /// post in livestream-like types) has none, so only then is the store asked.
    pub(crate) async fn channel_ban(
        &self,
        app: AppId,
        context: &ChannelContext,
        user: &User,
        now: Timestamp,
        operation: &'static str,
    ) -> ChatResult<BanState> {
        if let Some(member) = &context.membership {
            return Ok(ban_state(&member.doc, now));
        }
        let bans = self
            .store
            .bans_of(app, &user.id, now)
            .await
            .map_err(store_error(operation))?;
        Ok(bans
            .iter()
            .find(|b| b.cid.as_deref() == Some(context.channel.cid.as_str()))
            .map(|b| BanState {
                banned: !b.shadow,
                shadow_banned: b.shadow,
            })
            .unwrap_or_default())
    }

    /// Loads the ban's channel (if any) and checks that a user may ban there: admins and moderators
    /// app-wide, holders of `ban-channel-member` in a channel. Server calls pass.
    async fn ban_context(
        &self,
        app: AppId,
        actor: &Actor,
        acting: Option<&User>,
        scope: Option<&str>,
        operation: &'static str,
    ) -> ChatResult<Option<ChannelContext>> {
        let context = match scope {
            Some(cid) => Some(self.channel_context(app, cid, acting, operation).await?),
            None => None,
        };
        if actor.is_server() {
            return Ok(context);
        }
        match &context {
            Some(context) => {
                self.require(
                    context,
                    actor,
                    acting,
                    "ban-channel-member",
                    false,
                    operation,
                )?;
            }
            None if acting.is_some_and(is_moderator) => {}
            None => {
                let who = acting.map(|u| u.id.as_str()).unwrap_or("anonymous");
                return Err(ApiError::not_allowed(format!(
                    "user '{who}' is not allowed to ban users app-wide; only admins and moderators are"
                ))
                .in_operation(operation));
            }
        }
        Ok(context)
    }

    /// `user.banned` / `user.unbanned`: channel bans to the channel's watchers, and to the banned
    /// user unless it is a shadow ban (which the user is not told about).
    async fn announce_ban(
        &self,
        app: AppId,
        kind: &str,
        ban: &Ban,
        context: Option<&ChannelContext>,
        acting: Option<&User>,
    ) -> ChatResult<()> {
        let mut audiences = Vec::new();
        if let Some(context) = context {
            audiences.push(Audience::Watchers {
                cid: context.channel.cid.clone(),
            });
        }
        if !ban.shadow {
            audiences.push(Audience::Users {
                user_ids: vec![ban.user_id.clone()],
            });
        }
        if audiences.is_empty() {
            return Ok(());
        }
        let mut ids = vec![ban.user_id.clone()];
        ids.extend(acting.map(|u| u.id.clone()));
        let users = self.load_users(app, ids).await?;
        let mut event = match context {
            Some(context) => channel_event(kind, &context.channel),
            None => user_event(kind),
        };
        event.insert("user".into(), users.get(&ban.user_id));
        if let Some(acting) = acting {
            event.insert("created_by".into(), users.get(&acting.id));
        }
        if kind == ev::USER_BANNED {
            if let Some(reason) = &ban.reason {
                event.insert("reason".into(), json!(reason));
            }
            if let Some(expires) = &ban.expires_at {
                event.insert(
                    "expiration".into(),
                    json!(eddy_protocol::time::format(expires)),
                );
            }
        }
        event.insert("shadow".into(), json!(ban.shadow));
        self.publish(app, audiences, event, Vec::new()).await;
        Ok(())
    }

    /// `POST /moderation/ban`: `timeout` in minutes, `shadow` for a shadow ban; answers `{}`.
    pub async fn ban_user(&self, app: AppId, actor: &Actor, request: BanUser) -> ChatResult<Value> {
        const OP: &str = "Ban";
        let in_op = |e: ApiError| e.in_operation(OP);
        if request
            .delete_messages
            .as_ref()
            .is_some_and(|v| !v.is_null() && v != "")
            || request.delete_reactions == Some(true)
            || request.ban_from_future_channels == Some(true)
        {
            return Err(ApiError::input(
                "delete_messages, delete_reactions and ban_from_future_channels are not supported by this server yet",
            )
            .in_operation(OP));
        }
        let target_id = non_empty(request.target_user_id.as_deref())
            .ok_or_else(|| ApiError::input("target_user_id is required").in_operation(OP))?
            .to_owned();
        let scope = ban_scope(
            request.channel_cid.as_deref(),
            request.kind.as_deref(),
            request.id.as_deref(),
        )
        .map_err(in_op)?;
        let named = non_empty(request.user_id.as_deref())
            .or(non_empty(request.banned_by_id.as_deref()))
            .or(request.user.as_ref().map(|u| u.id.as_str()))
            .or(request.banned_by.as_ref().map(|u| u.id.as_str()));
        let acting = self.acting_user(app, actor, named, None).await?;
        if acting.as_ref().is_some_and(|u| u.id == target_id) {
            return Err(ApiError::input("a user cannot ban themselves").in_operation(OP));
        }
        let target = self.user(app, &target_id).await?.ok_or_else(|| {
            ApiError::not_found(format!("user {target_id} does not exist")).in_operation(OP)
        })?;
        let context = self
            .ban_context(app, actor, acting.as_ref(), scope.as_deref(), OP)
            .await?;
        let now = Utc::now();
        let ban = Ban {
            user_id: target.id.clone(),
            cid: scope,
            banned_by: acting.as_ref().map(|u| u.id.clone()),
            reason: checked_reason(request.reason).map_err(in_op)?,
            shadow: request.shadow.unwrap_or(false),
            ip_ban: request.ip_ban.unwrap_or(false),
            created_at: now,
            expires_at: ban_expiry(request.timeout.as_ref(), now).map_err(in_op)?,
        };
        self.store
            .put_ban(app, &ban)
            .await
            .map_err(store_error(OP))?;
        self.announce_ban(
            app,
            ev::USER_BANNED,
            &ban,
            context.as_ref(),
            acting.as_ref(),
        )
        .await?;
        Ok(json!({}))
    }

    /// `DELETE /moderation/ban`: lifts the ban (plain or shadow) in that scope; lifting a ban that is
    /// not there succeeds and announces nothing.
    pub async fn unban_user(
        &self,
        app: AppId,
        actor: &Actor,
        request: UnbanUser,
    ) -> ChatResult<Value> {
        const OP: &str = "Unban";
        let target_id = non_empty(request.target_user_id.as_deref())
            .ok_or_else(|| ApiError::input("target_user_id is required").in_operation(OP))?
            .to_owned();
        let scope = ban_scope(
            request.channel_cid.as_deref(),
            request.kind.as_deref(),
            request.id.as_deref(),
        )
        .map_err(|e| e.in_operation(OP))?;
        let acting = self
            .acting_user(app, actor, non_empty(request.user_id.as_deref()), None)
            .await?;
        if self.user(app, &target_id).await?.is_none() {
            return Err(
                ApiError::not_found(format!("user {target_id} does not exist")).in_operation(OP),
            );
        }
        let context = self
            .ban_context(app, actor, acting.as_ref(), scope.as_deref(), OP)
            .await?;
        match self
            .store
            .remove_ban(app, &target_id, scope.as_deref())
            .await
        {
            Ok(ban) => {
                self.announce_ban(
                    app,
                    ev::USER_UNBANNED,
                    &ban,
                    context.as_ref(),
                    acting.as_ref(),
                )
                .await?
            }
            Err(StoreError::NotFound) => {}
            Err(error) => return Err(store_error(OP)(error)),
        }
        Ok(json!({}))
    }

    /// Refuses users who are not admins or moderators (server calls pass).
    fn require_moderator(actor: &Actor, operation: &'static str) -> ChatResult<()> {
        match actor {
            Actor::Server => Ok(()),
            Actor::User(user) if is_moderator(user) => Ok(()),
            Actor::User(user) => Err(ApiError::not_allowed(format!(
                "user '{}' with role '{}' is not allowed to {operation}; only admins and moderators are",
                user.id, user.role
            ))
            .in_operation(operation)),
            Actor::Anonymous => Err(ApiError::not_allowed(format!(
                "anonymous users are not allowed to {operation}"
            ))
            .in_operation(operation)),
        }
    }

    /// `GET /query_banned_users`: bans with their users, who banned them and their channel.
    pub async fn query_banned_users(
        &self,
        app: AppId,
        actor: &Actor,
        request: QueryBannedUsers,
    ) -> ChatResult<Value> {
        const OP: &str = "QueryBannedUsers";
        Self::require_moderator(actor, OP)?;
        let mut conditions = vec![request.filter_conditions.clone()];
        for (bound, operator) in [
            (&request.created_at_after, "$gt"),
            (&request.created_at_after_or_equal, "$gte"),
            (&request.created_at_before, "$lt"),
            (&request.created_at_before_or_equal, "$lte"),
        ] {
            if let Some(bound) = bound {
                conditions.push(json!({ "created_at": { operator: bound } }));
            }
        }
        let filter_json = if conditions.len() == 1 {
            conditions.remove(0)
        } else {
            json!({ "$and": conditions })
        };
        let filter = parse_filter(&filter_json, &eddy_store::schemas::BANS)
            .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let sort = parse_sort(
            request.sort.as_ref(),
            &["created_at", "user_id", "expires"],
            false,
        )
        .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let (limit, offset) = page(request.limit, request.offset);
        let query = ListQuery {
            filter,
            sort,
            limit,
            offset,
        };
        let active_at = request.exclude_expired_bans.unwrap_or(false).then(Utc::now);
        let bans = self
            .store
            .query_bans(app, &query, active_at)
            .await
            .map_err(store_error(OP))?;
        let mut cids: Vec<String> = bans.iter().filter_map(|b| b.cid.clone()).collect();
        cids.sort();
        cids.dedup();
        let channels = self
            .store
            .channels(app, &cids)
            .await
            .map_err(store_error(OP))?;
        let mut ids: Vec<String> = Vec::new();
        for ban in &bans {
            ids.push(ban.user_id.clone());
            ids.extend(ban.banned_by.iter().cloned());
        }
        ids.extend(channels.iter().filter_map(|c| c.created_by.clone()));
        let users = self.load_users(app, ids).await?;
        let mut rendered_channels: HashMap<String, Value> = HashMap::new();
        for channel in &channels {
            let config = self
                .channel_type_config(app, &channel.kind, OP)
                .await
                .unwrap_or_default();
            rendered_channels.insert(
                channel.cid.clone(),
                render::channel(channel, &config, &users, None),
            );
        }
        let rendered: Vec<Value> = bans
            .iter()
            .map(|ban| {
                let mut out = Map::new();
                out.insert("user".into(), users.get(&ban.user_id));
                if let Some(by) = &ban.banned_by {
                    out.insert("banned_by".into(), users.get(by));
                }
                if let Some(channel) = ban.cid.as_ref().and_then(|c| rendered_channels.get(c)) {
                    out.insert("channel".into(), channel.clone());
                }
                out.insert(
                    "created_at".into(),
                    json!(eddy_protocol::time::format(&ban.created_at)),
                );
                if let Some(expires) = &ban.expires_at {
                    out.insert(
                        "expires".into(),
                        json!(eddy_protocol::time::format(expires)),
                    );
                }
                if let Some(reason) = &ban.reason {
                    out.insert("reason".into(), json!(reason));
                }
                out.insert("shadow".into(), json!(ban.shadow));
                out.insert("ip_ban".into(), json!(ban.ip_ban));
                Value::Object(out)
            })
            .collect();
        Ok(json!({ "bans": rendered }))
    }

    /// A member who rejoins a channel they are banned from is banned again: the ban outlives the
    /// membership, its mirror on the member document does not.
    pub(crate) async fn restore_channel_bans(
        &self,
        app: AppId,
        cid: &str,
        members: &mut [Member],
    ) -> ChatResult<()> {
        const OP: &str = "UpdateChannel";
        if members.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        let filter = parse_filter(
            &json!({ "channel_cid": cid, "user_id": { "$in": ids } }),
            &eddy_store::schemas::BANS,
        )
        .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let query = ListQuery {
            filter,
            sort: Vec::new(),
            limit: members.len() as i64,
            offset: 0,
        };
        let bans = self
            .store
            .query_bans(app, &query, Some(Utc::now()))
            .await
            .map_err(store_error(OP))?;
        for ban in bans {
            self.store
                .put_ban(app, &ban)
                .await
                .map_err(store_error(OP))?;
            if let Some(member) = members.iter_mut().find(|m| m.user_id == ban.user_id) {
                strip_ban_keys(&mut member.doc);
                member.doc.extend(ban_mirror(&ban));
            }
        }
        Ok(())
    }

    /// A flag as the flag and unflag endpoints answer it.
    async fn render_flag(&self, app: AppId, flag: &Flag) -> ChatResult<Value> {
        let users = self
            .load_users(
                app,
                vec![flag.reporter_id.clone(), flag.target_user_id.clone()],
            )
            .await?;
        let mut out = Map::new();
        out.insert(
            "created_at".into(),
            json!(eddy_protocol::time::format(&flag.created_at)),
        );
        out.insert(
            "updated_at".into(),
            json!(eddy_protocol::time::format(&flag.updated_at)),
        );
        out.insert("created_by_automod".into(), json!(by_automod(flag)));
        out.insert("user".into(), users.get(&flag.reporter_id));
        match flag.target {
            FlagTarget::Message => {
                out.insert("target_message_id".into(), json!(flag.target_id));
                out.insert("message_user_id".into(), json!(flag.target_user_id));
                if let Some(cid) = &flag.cid {
                    out.insert("channel_cid".into(), json!(cid));
                }
            }
            FlagTarget::User => {
                out.insert("target_user".into(), users.get(&flag.target_id));
            }
        }
        if let Some(reason) = &flag.reason {
            out.insert("reason".into(), json!(reason));
        }
        out.insert(
            "custom".into(),
            flag.doc.get("custom").cloned().unwrap_or_else(|| json!({})),
        );
        if let Some(details) = flag.doc.get("details") {
            out.insert("details".into(), details.clone());
        }
        Ok(Value::Object(out))
    }

    /// The reporter of a flag request: the token user, or the named user on server calls.
    async fn reporter(
        &self,
        app: AppId,
        actor: &Actor,
        request: &FlagRequest,
        operation: &'static str,
    ) -> ChatResult<User> {
        if matches!(actor, Actor::Anonymous) {
            return Err(
                ApiError::not_allowed("anonymous users cannot flag").in_operation(operation)
            );
        }
        self.required_user(
            app,
            actor,
            non_empty(request.user_id.as_deref()),
            request.user.as_ref(),
            operation,
        )
        .await
    }

    /// `POST /moderation/flag`: one flag per reporter and target; flagging again is refused (4).
    pub async fn flag(&self, app: AppId, actor: &Actor, request: FlagRequest) -> ChatResult<Value> {
        const OP: &str = "Flag";
        let (target, target_id) = flag_target(&request).map_err(|e| e.in_operation(OP))?;
        let reporter = self.reporter(app, actor, &request, OP).await?;
        let reason = checked_reason(request.reason.clone()).map_err(|e| e.in_operation(OP))?;
        let mut doc = Map::new();
        if let Some(custom) = &request.custom {
            doc.insert("custom".into(), Value::Object(custom.clone()));
        }
        let now = Utc::now();
        let (target_user_id, cid) = match target {
            FlagTarget::Message => {
                let (message, context) = self
                    .message_context(app, &target_id, Some(&reporter), OP)
                    .await?;
                let owner = context.channel.created_by.as_deref() == Some(reporter.id.as_str());
                self.require(&context, actor, Some(&reporter), "flag-message", owner, OP)?;
                (message.user_id, Some(message.cid))
            }
            FlagTarget::User => {
                if reporter.id == target_id {
                    return Err(ApiError::input("a user cannot flag themselves").in_operation(OP));
                }
                if self.user(app, &target_id).await?.is_none() {
                    return Err(
                        ApiError::not_found(format!("user {target_id} does not exist"))
                            .in_operation(OP),
                    );
                }
                (target_id.clone(), None)
            }
        };
        let flag = Flag {
            reporter_id: reporter.id.clone(),
            target,
            target_id,
            target_user_id,
            cid,
            reason,
            doc,
            created_at: now,
            updated_at: now,
            reviewed_at: None,
            reviewed_by: None,
        };
        self.store
            .put_flag(app, &flag)
            .await
            .map_err(store_error(OP))?;
        Ok(json!({ "flag": self.render_flag(app, &flag).await? }))
    }

    /// `POST /moderation/unflag`: withdraws the reporter's flag and answers it; 16 if there was none.
    pub async fn unflag(
        &self,
        app: AppId,
        actor: &Actor,
        request: FlagRequest,
    ) -> ChatResult<Value> {
        const OP: &str = "Unflag";
        let (target, target_id) = flag_target(&request).map_err(|e| e.in_operation(OP))?;
        let reporter = self.reporter(app, actor, &request, OP).await?;
        let flag = match self
            .store
            .remove_flag(app, &reporter.id, target, &target_id)
            .await
        {
            Ok(flag) => flag,
            Err(StoreError::NotFound) => {
                return Err(ApiError::not_found(format!(
                    "{} has not flagged {} {target_id}",
                    reporter.id,
                    target.as_str()
                ))
                .in_operation(OP))
            }
            Err(error) => return Err(store_error(OP)(error)),
        };
        Ok(json!({ "flag": self.render_flag(app, &flag).await? }))
    }

    /// `GET /moderation/flags/message`: message flags with the message and its reporter.
    pub async fn query_message_flags(
        &self,
        app: AppId,
        actor: &Actor,
        request: QueryMessageFlags,
    ) -> ChatResult<Value> {
        const OP: &str = "QueryMessageFlags";
        Self::require_moderator(actor, OP)?;
        let filter = parse_filter(&request.filter_conditions, &eddy_store::schemas::FLAGS)
            .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let sort = parse_sort(request.sort.as_ref(), &["created_at", "updated_at"], false)
            .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let (limit, offset) = page(request.limit, request.offset);
        let query = ListQuery {
            filter,
            sort,
            limit,
            offset,
        };
        let flags = self
            .store
            .query_flags(app, FlagTarget::Message, &query)
            .await
            .map_err(store_error(OP))?;
        let mut message_ids: Vec<String> = flags.iter().map(|f| f.target_id.clone()).collect();
        message_ids.sort();
        message_ids.dedup();
        let messages = self
            .store
            .messages(app, &message_ids)
            .await
            .map_err(store_error(OP))?;
        let rendered_messages: HashMap<String, Value> = messages
            .iter()
            .map(|m| m.id.clone())
            .zip(self.render_messages(app, &messages, None).await?)
            .collect();
        let mut ids: Vec<String> = Vec::new();
        for flag in &flags {
            ids.push(flag.reporter_id.clone());
            ids.extend(flag.reviewed_by.iter().cloned());
        }
        let users = self.load_users(app, ids).await?;
        // A flag on a message that has since been hard-deleted has nothing left to show.
        let rendered: Vec<Value> = flags
            .iter()
            .filter_map(|flag| {
                let message = rendered_messages.get(&flag.target_id)?;
                Some(json!({
                    "message": message,
                    "user": users.get(&flag.reporter_id),
                    "created_at": eddy_protocol::time::format(&flag.created_at),
                    "updated_at": eddy_protocol::time::format(&flag.updated_at),
                    "created_by_automod": by_automod(flag),
                    "reason": flag.reason,
                    "custom": flag.doc.get("custom").cloned().unwrap_or_else(|| json!({})),
                    "details": flag.doc.get("details").cloned().unwrap_or(Value::Null),
                    "reviewed_at": time_or_null(&flag.reviewed_at),
                    "reviewed_by": flag.reviewed_by.as_deref().map(|id| users.get(id)).unwrap_or(Value::Null),
                    "approved_at": Value::Null,
                    "rejected_at": Value::Null,
                }))
            })
            .collect();
        Ok(json!({ "flags": rendered }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        eddy_protocol::time::parse(text).unwrap()
    }

    #[test]
    fn scope_is_a_cid_or_type_and_id_or_nothing() {
        assert_eq!(ban_scope(None, None, None).unwrap(), None);
        assert_eq!(ban_scope(Some(""), Some(""), None).unwrap(), None);
        assert_eq!(
            ban_scope(Some("messaging:general"), None, None).unwrap(),
            Some("messaging:general".to_owned())
        );
        assert_eq!(
            ban_scope(None, Some("messaging"), Some("general")).unwrap(),
            Some("messaging:general".to_owned())
        );
        assert_eq!(
            ban_scope(
                Some("messaging:general"),
                Some("messaging"),
                Some("general")
            )
            .unwrap(),
            Some("messaging:general".to_owned()),
            "both forms may be given when they agree"
        );
        assert!(ban_scope(Some("messaging:general"), Some("team"), Some("general")).is_err());
        assert!(ban_scope(None, Some("messaging"), None).is_err());
        assert!(ban_scope(None, None, Some("general")).is_err());
        assert!(ban_scope(Some("no-colon"), None, None).is_err());
        assert!(ban_scope(Some("messaging:bad id"), None, None).is_err());
    }

    #[test]
    fn timeout_is_minutes_from_now() {
        let now = at("2024-01-01T00:00:00Z");
        assert_eq!(ban_expiry(None, now).unwrap(), None);
        assert_eq!(ban_expiry(Some(&Value::Null), now).unwrap(), None);
        assert_eq!(
            ban_expiry(Some(&json!(90)), now).unwrap(),
            Some(at("2024-01-01T01:30:00Z"))
        );
        assert_eq!(
            ban_expiry(Some(&json!(0.5)), now).unwrap(),
            Some(at("2024-01-01T00:00:30Z"))
        );
        assert_eq!(
            ban_expiry(Some(&json!(-10)), now).unwrap(),
            Some(at("2023-12-31T23:50:00Z")),
            "a negative timeout is a ban that has already ended"
        );
        assert!(ban_expiry(Some(&json!(1e300)), now).is_err());
        assert!(ban_expiry(Some(&json!(i64::MAX)), now).is_err());
        assert!(ban_expiry(Some(&json!("10")), now).is_err());
    }

    #[test]
    fn expired_bans_read_as_none() {
        let now = at("2024-01-01T00:00:00Z");
        let doc = |value: Value| value.as_object().cloned().unwrap();
        assert_eq!(ban_state(&Map::new(), now), BanState::default());
        let permanent = doc(json!({"banned": true}));
        assert!(ban_state(&permanent, now).banned);
        let running =
            doc(json!({"shadow_banned": true, "ban_expires": "2024-01-01T00:00:01.000000Z"}));
        assert_eq!(
            ban_state(&running, now),
            BanState {
                banned: false,
                shadow_banned: true
            }
        );
        let ended = doc(json!({"banned": true, "ban_expires": "2023-12-31T23:59:59.000000Z"}));
        assert_eq!(ban_state(&ended, now), BanState::default());
    }

    #[test]
    fn rewrites_keep_the_stored_ban_and_drop_given_ones() {
        let stored = json!({"banned": true, "ban_expires": "2030-01-01T00:00:00.000000Z"});
        let mut rewritten = json!({"name": "new", "shadow_banned": true})
            .as_object()
            .cloned()
            .unwrap();
        keep_ban_keys(&mut rewritten, stored.as_object().unwrap());
        assert_eq!(
            Value::Object(rewritten),
            json!({"name": "new", "banned": true, "ban_expires": "2030-01-01T00:00:00.000000Z"})
        );
    }

    #[test]
    fn flags_name_exactly_one_target() {
        let request = |message: Option<&str>, user: Option<&str>| FlagRequest {
            target_message_id: message.map(str::to_owned),
            target_user_id: user.map(str::to_owned),
            ..FlagRequest::default()
        };
        assert_eq!(
            flag_target(&request(Some("m1"), None)).unwrap(),
            (FlagTarget::Message, "m1".to_owned())
        );
        assert_eq!(
            flag_target(&request(None, Some("u1"))).unwrap(),
            (FlagTarget::User, "u1".to_owned())
        );
        assert!(flag_target(&request(Some("m1"), Some("u1"))).is_err());
        assert!(flag_target(&request(None, None)).is_err());
        assert!(flag_target(&request(Some(""), None)).is_err());
    }

    #[test]
    fn reasons_are_at_most_255_characters() {
        assert_eq!(checked_reason(Some(String::new())).unwrap(), None);
        assert!(checked_reason(Some("é".repeat(255))).is_ok());
        assert!(checked_reason(Some("x".repeat(256))).is_err());
    }
}
