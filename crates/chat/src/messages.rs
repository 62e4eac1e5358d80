//! Messages, threads and reactions: validation, storage as one atomic operation, and their events.

use crate::bans::{ban_state, hidden_from, is_shadowed, unshadow_for_author};
use crate::channels::{message_page, parse_cid, ChannelContext, DEFAULT_MESSAGE_LIMIT};
use crate::events::channel_event;
use crate::render;
use crate::requests::*;
use crate::users::{apply_partial, check_size};
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::Utc;
use eddy_bus::Audience;
use eddy_core::MessageId;
use eddy_protocol::{event as ev, ApiError, ErrorCode};
use eddy_store::{AppId, Message, Reaction, User};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Message keys that are server-computed or handled explicitly; SDKs echo them back on update.
const RESERVED_MESSAGE_KEYS: &[&str] = &[
    "id",
    "cid",
    "type",
    "user",
    "user_id",
    "created_at",
    "updated_at",
    "deleted_at",
    "latest_reactions",
    "own_reactions",
    "reaction_counts",
    "reaction_scores",
    "reaction_groups",
    "reply_count",
    "deleted_reply_count",
    "thread_participants",
    "mentioned_users",
    "quoted_message",
    "channel",
    "shadowed",
    "pinned_by",
    "pinned_at",
    "pin_expires",
    "member",
    "status",
    "mentioned_here",
    "mentioned_channel",
    "i18n",
    "parent_id",
    "show_in_channel",
    "silent",
    "pinned",
    "text",
    "html",
    "attachments",
    "quoted_message_id",
    "restricted_visibility",
    "message_text_updated_at",
    "command",
    "args",
    "before_message_send_failed",
    "error",
    "__html",
];
/// Channels with more members than this get events without per-recipient unread counts.
const PERSONALISED_MEMBER_LIMIT: usize = 1000;
const MAX_REACTION_TYPE_LENGTH: usize = 30;
const MAX_REACTION_CUSTOM_BYTES: usize = 1024;

fn markdown_html(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(text));
    html
}

fn mention_ids(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.get("id").and_then(Value::as_str).map(str::to_owned))
        })
        .collect()
}

/// `pin_expires` as SDKs send it: RFC 3339 text, seconds from now (Python), or null.
fn pin_expiry(value: &Value) -> ChatResult<Value> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::Number(seconds) => {
            let at = seconds
                .as_i64()
                .and_then(chrono::Duration::try_seconds)
                .and_then(|delta| Utc::now().checked_add_signed(delta))
                .ok_or_else(|| ApiError::input("pin_expires is out of range"))?;
            Ok(json!(eddy_protocol::time::format(&at)))
        }
        Value::String(text) => eddy_protocol::time::parse(text)
            .map(|t| json!(eddy_protocol::time::format(&t)))
            .ok_or_else(|| ApiError::input("pin_expires must be a timestamp")),
        _ => Err(ApiError::input(
            "pin_expires must be a timestamp or a number of seconds",
        )),
    }
}

fn set_pinned(
    doc: &mut Map<String, Value>,
    pinned: bool,
    by: &str,
    expires: Option<&Value>,
) -> ChatResult<()> {
    doc.insert("pinned".into(), json!(pinned));
    if pinned {
        doc.insert(
            "pinned_at".into(),
            json!(eddy_protocol::time::format(&Utc::now())),
        );
        doc.insert("pinned_by".into(), json!(by));
        doc.insert(
            "pin_expires".into(),
            match expires {
                Some(value) => pin_expiry(value)?,
                None => Value::Null,
            },
        );
    } else {
        doc.insert("pinned_at".into(), Value::Null);
        doc.remove("pinned_by");
        doc.insert("pin_expires".into(), Value::Null);
    }
    Ok(())
}

impl Chat {
    /// Slow mode: a user's second message within the channel's `cooldown` is refused with code 60;
    /// server-side sends and holders of `skip-channel-cooldown` are exempt.
    async fn check_slow_mode(
        &self,
        app: AppId,
        actor: &Actor,
        context: &ChannelContext,
        user: &User,
        operation: &'static str,
    ) -> ChatResult<()> {
        let cooldown = context
            .channel
            .doc
            .get("cooldown")
            .and_then(Value::as_i64)
            .filter(|c| *c > 0);
        let Some(cooldown) = cooldown else {
            return Ok(());
        };
        if actor.is_server()
            || self
                .require(
                    context,
                    actor,
                    Some(user),
                    "skip-channel-cooldown",
                    false,
                    operation,
                )
                .is_ok()
        {
            return Ok(());
        }
        let cooldown = std::time::Duration::from_secs(cooldown.unsigned_abs());
        // A message taken by another node (or before a restart) counts too: ask the store first,
        // then record here, where one lock settles concurrent sends on this node.
        let now = Utc::now();
        let span = chrono::Duration::from_std(cooldown).unwrap_or_default();
        let since = now - span;
        let previous = self
            .store
            .latest_message_time_by(app, &context.channel.cid, &user.id, &since)
            .await
            .map_err(store_error(operation))?;
        let stored_wait = previous
            .and_then(|at| (at + span).signed_duration_since(now).to_std().ok())
            .filter(|wait| !wait.is_zero());
        let checked = match stored_wait {
            Some(wait) => Err(wait),
            None => self
                .slow_mode
                .try_send(app, &context.channel.cid, &user.id, cooldown),
        };
        checked.map_err(|wait| {
                ApiError::new(
                    ErrorCode::CoolDown,
                    format!(
                        "slow mode is on in channel {}: wait {} more second(s) before sending another message",
                        context.channel.cid,
                        wait.as_secs_f64().ceil()
                    ),
                )
                .in_operation(operation)
            })
    }

    pub(crate) async fn quoted_messages(
        &self,
        app: AppId,
        messages: &[Message],
    ) -> ChatResult<HashMap<String, Message>> {
        let ids: Vec<String> = messages
            .iter()
            .filter_map(|m| {
                m.doc
                    .get("quoted_message_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        let found = self
            .store
            .messages(app, &ids)
            .await
            .map_err(store_error("GetMessages"))?;
        Ok(found.into_iter().map(|m| (m.id.clone(), m)).collect())
    }

    pub(crate) async fn own_reactions(
        &self,
        app: AppId,
        viewer: Option<&User>,
        messages: &[Message],
    ) -> ChatResult<Vec<Reaction>> {
        let Some(viewer) = viewer else {
            return Ok(Vec::new());
        };
        let ids: Vec<String> = messages
            .iter()
            .filter(|m| !m.reaction_groups.is_empty())
            .map(|m| m.id.clone())
            .collect();
        self.store
            .reactions_by_user(app, &viewer.id, &ids)
            .await
            .map_err(store_error("GetReactions"))
    }

    /// Renders messages for a viewer with users, own reactions and quoted messages resolved in batches.
    pub(crate) async fn render_messages(
        &self,
        app: AppId,
        messages: &[Message],
        viewer: Option<&User>,
    ) -> ChatResult<Vec<Value>> {
        let quoted = self.quoted_messages(app, messages).await?;
        let mut ids = Vec::new();
        for message in messages.iter().chain(quoted.values()) {
            render::message_user_ids(message, &mut ids);
        }
        let users = self.load_users(app, ids).await?;
        let own = self.own_reactions(app, viewer, messages).await?;
        Ok(messages
            .iter()
            .map(|m| {
                let mine: Vec<&Reaction> = own.iter().filter(|r| r.message_id == m.id).collect();
                let quote = m
                    .doc
                    .get("quoted_message_id")
                    .and_then(Value::as_str)
                    .and_then(|id| quoted.get(id));
                let mut rendered = render::message(m, &users, &mine, quote);
                unshadow_for_author(&mut rendered, m, viewer);
                rendered
            })
            .collect())
    }

    /// Publishes an event about one message to the channel's watchers; an event about a shadowed
    /// message goes to its author alone (who sees it unshadowed) and is not kept for `/sync`.
    pub(crate) async fn publish_message_event(
        &self,
        app: AppId,
        message: &Message,
        mut event: Map<String, Value>,
    ) {
        if is_shadowed(message) {
            if let Some(Value::Object(rendered)) = event.get_mut("message") {
                rendered.insert("shadowed".into(), json!(false));
            }
            self.publish_unrecorded(
                app,
                vec![Audience::UsersWatching {
                    cid: message.cid.clone(),
                    user_ids: vec![message.user_id.clone()],
                }],
                event,
            )
            .await;
        } else {
            self.publish(
                app,
                vec![Audience::Watchers {
                    cid: message.cid.clone(),
                }],
                event,
                Vec::new(),
            )
            .await;
        }
    }

    async fn render_one(
        &self,
        app: AppId,
        message: &Message,
        viewer: Option<&User>,
    ) -> ChatResult<Value> {
        Ok(self
            .render_messages(app, std::slice::from_ref(message), viewer)
            .await?
            .pop()
            .unwrap_or(Value::Null))
    }

    /// Loads a message and its channel context for the acting user; 16 when absent.
    pub(crate) async fn message_context(
        &self,
        app: AppId,
        id: &str,
        user: Option<&User>,
        operation: &'static str,
    ) -> ChatResult<(Message, ChannelContext)> {
        let message = self
            .store
            .message(app, id)
            .await
            .map_err(store_error(operation))?
            .ok_or_else(|| {
                ApiError::not_found(format!("message with id {id} not found"))
                    .in_operation(operation)
            })?;
        let context = self
            .channel_context(app, &message.cid, user, operation)
            .await?;
        Ok((message, context))
    }

    pub async fn send_message(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: SendMessage,
    ) -> ChatResult<Value> {
        const OP: &str = "SendMessage";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        let acting = self
            .acting_user(
                app,
                actor,
                request.message.user_id.as_deref(),
                request.message.user.as_ref(),
            )
            .await?;
        let user = acting.as_ref().ok_or_else(|| {
            crate::users::no_acting_user(
                actor,
                "message.user or message.user_id is required when using server side auth",
                OP,
            )
        })?;
        let context = self.channel_context(app, &cid, Some(user), OP).await?;
        let message = self
            .send_message_in(
                app,
                actor,
                &context,
                Some(user),
                request.message,
                !request.keep_channel_hidden,
            )
            .await?;
        Ok(json!({ "message": message }))
    }

    /// Validates, stores and announces a new message in a loaded channel; returns it rendered for the sender.
    pub(crate) async fn send_message_in(
        &self,
        app: AppId,
        actor: &Actor,
        context: &ChannelContext,
        user: Option<&User>,
        input: MessageInput,
        unhide: bool,
    ) -> ChatResult<Value> {
        const OP: &str = "SendMessage";
        let user = user.ok_or_else(|| {
            crate::users::no_acting_user(
                actor,
                "message.user or message.user_id is required when using server side auth",
                OP,
            )
        })?;
        let owner = context.channel.created_by.as_deref() == Some(user.id.as_str());
        self.require(context, actor, Some(user), "create-message", owner, OP)?;
        // The user's and the member's documents carry the ban mirrors, so a member's send needs no
        // extra lookup; only a non-member's channel ban is looked up.
        let now = Utc::now();
        let app_ban = ban_state(&user.doc, now);
        let channel_ban = self.channel_ban(app, context, user, now, OP).await?;
        if !actor.is_server() && (app_ban.banned || channel_ban.banned) {
            let scope = if app_ban.banned {
                String::new()
            } else {
                format!(" from channel {}", context.channel.cid)
            };
            return Err(
                ApiError::not_allowed(format!("user {} is banned{scope}", user.id))
                    .in_operation(OP),
            );
        }
        let shadowed = app_ban.shadow_banned || channel_ban.shadow_banned;
        let frozen_for_user = context.channel.frozen
            && self
                .require(context, actor, Some(user), "use-frozen-channel", false, OP)
                .is_err();
        if !actor.is_server() && (frozen_for_user || context.channel.disabled) {
            let state = if context.channel.disabled {
                "disabled"
            } else {
                "frozen"
            };
            return Err(ApiError::not_allowed(format!(
                "channel {} is {state}",
                context.channel.cid
            ))
            .in_operation(OP));
        }
        let text = input.text.clone().unwrap_or_default();
        let length = text.chars().count();
        if length > context.config.max_message_length as usize {
            return Err(ApiError::input(format!(
                "message is too long: {length} characters, the maximum for this channel type is {}",
                context.config.max_message_length
            ))
            .in_operation(OP));
        }
        let blocklist_hit = self
            .screen_text(app, actor, &context.config, &text, OP)
            .await?;
        let id = match &input.id {
            Some(id) => MessageId::parse(id)
                .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?
                .into_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let mut kind = match input.kind.as_deref() {
            None | Some("regular") | Some("") => "regular",
            Some("system") => {
                self.require(
                    context,
                    actor,
                    Some(user),
                    "create-system-message",
                    false,
                    OP,
                )?;
                "system"
            }
            Some(other) => {
                return Err(ApiError::input(format!(
                    "message type {other:?} cannot be set by the client"
                ))
                .in_operation(OP))
            }
        };
        if let Some(parent_id) = &input.parent_id {
            if !context.config.replies {
                return Err(ApiError::new(
                    ErrorCode::ChannelFeatureNotSupported,
                    "replies are disabled for this channel type",
                )
                .in_operation(OP));
            }
            let parent = self
                .store
                .message(app, parent_id)
                .await
                .map_err(store_error(OP))?
                .filter(|m| m.cid == context.channel.cid);
            let parent = parent.ok_or_else(|| {
                ApiError::input(format!(
                    "parent message {parent_id} does not exist in this channel"
                ))
                .in_operation(OP)
            })?;
            if parent.parent_id.is_some() {
                return Err(ApiError::new(
                    ErrorCode::MultipleNestingLevel,
                    "a reply cannot be the parent of another reply",
                )
                .in_operation(OP));
            }
            if kind == "regular" {
                kind = "reply";
            }
        }
        if let Some(quoted) = &input.quoted_message_id {
            if self
                .store
                .message(app, quoted)
                .await
                .map_err(store_error(OP))?
                .is_none()
            {
                return Err(
                    ApiError::input(format!("quoted message {quoted} does not exist"))
                        .in_operation(OP),
                );
            }
        }
        let mut doc = Map::new();
        for (key, value) in &input.custom {
            if !RESERVED_MESSAGE_KEYS.contains(&key.as_str()) {
                doc.insert(key.clone(), value.clone());
            }
        }
        check_size("message", &doc).map_err(|e| e.in_operation(OP))?;
        let html = match (&input.html, actor.is_server()) {
            (Some(html), true) => html.clone(),
            _ => markdown_html(&text),
        };
        doc.insert("text".into(), json!(text));
        doc.insert("html".into(), json!(html));
        doc.insert(
            "attachments".into(),
            json!(input.attachments.clone().unwrap_or_default()),
        );
        let mentioned = mention_ids(&input.mentioned_users);
        doc.insert("mentioned_users".into(), json!(mentioned));
        let silent = input.silent.unwrap_or(false);
        doc.insert("silent".into(), json!(silent));
        if shadowed {
            doc.insert("shadowed".into(), json!(true));
        }
        if let Some(quoted) = &input.quoted_message_id {
            doc.insert("quoted_message_id".into(), json!(quoted));
        }
        set_pinned(
            &mut doc,
            input.pinned.unwrap_or(false),
            &user.id,
            input.pin_expires.as_ref(),
        )
        .map_err(|e| e.in_operation(OP))?;
        let show_in_channel = input.show_in_channel.unwrap_or(false);
        let message = Message {
            id,
            cid: context.channel.cid.clone(),
            parent_id: input.parent_id.clone(),
            user_id: user.id.clone(),
            kind: kind.to_owned(),
            show_in_channel,
            reply_count: 0,
            doc,
            reaction_groups: Map::new(),
            latest_reactions: Vec::new(),
            thread_participants: Vec::new(),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        self.check_slow_mode(app, actor, context, user, OP).await?;
        let in_channel = message.parent_id.is_none() || show_in_channel;
        // A shadowed message is for its author alone: nobody else's unread count or hidden state moves.
        let counts_as_unread =
            !silent && !shadowed && kind != "system" && in_channel && context.config.read_events;
        let sent = self
            .store
            .send_message(app, &message, counts_as_unread, unhide && !shadowed)
            .await
            .map_err(store_error(OP))?;
        let mut rendered = self.render_one(app, &sent.message, None).await?;
        if shadowed {
            unshadow_for_author(&mut rendered, &sent.message, Some(user));
            let mut event = channel_event(ev::MESSAGE_NEW, &sent.channel);
            event.insert("message".into(), rendered.clone());
            event.insert("message_id".into(), json!(sent.message.id));
            event.insert("user".into(), rendered["user"].clone());
            if let Some(parent) = &sent.parent {
                event.insert("parent_id".into(), json!(parent.id));
            }
            self.publish_unrecorded(
                app,
                vec![Audience::UsersWatching {
                    cid: sent.channel.cid.clone(),
                    user_ids: vec![user.id.clone()],
                }],
                event,
            )
            .await;
        } else {
            self.announce_new_message(app, context, user, &sent, &rendered)
                .await?;
        }
        if let Some(hit) = blocklist_hit {
            self.flag_for_blocklist(app, &sent.message, hit).await;
        }
        Ok(rendered)
    }

    async fn announce_new_message(
        &self,
        app: AppId,
        context: &ChannelContext,
        author: &User,
        sent: &eddy_store::SentMessage,
        rendered: &Value,
    ) -> ChatResult<()> {
        let channel = &sent.channel;
        let members = self
            .store
            .members(app, &channel.cid, 10_000, 0)
            .await
            .map_err(store_error("SendMessage"))?;
        let member_ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        // Recipients' own unread counts, in one query; very large channels go without them.
        let personal = if member_ids.len() <= PERSONALISED_MEMBER_LIMIT {
            self.unread_totals_for(app, &member_ids).await
        } else {
            Vec::new()
        };
        let watcher_count = self.hub.watcher_count(app, &channel.cid);
        let author_json = rendered.get("user").cloned().unwrap_or(Value::Null);
        let mut event = channel_event(ev::MESSAGE_NEW, channel);
        event.insert("message".into(), rendered.clone());
        event.insert("message_id".into(), json!(sent.message.id));
        event.insert("user".into(), author_json.clone());
        event.insert("watcher_count".into(), json!(watcher_count));
        if let Some(parent) = &sent.parent {
            event.insert("parent_id".into(), json!(parent.id));
        }
        // Users who blocked the author get neither the message nor the notification of it.
        let blockers = self.blockers_of(app, &author.id).await;
        self.publish_except(
            app,
            vec![Audience::Watchers {
                cid: channel.cid.clone(),
            }],
            event,
            personal.clone(),
            blockers.clone(),
        )
        .await;

        if sent.message.parent_id.is_none() || sent.message.show_in_channel {
            let users = self
                .load_users(app, channel.created_by.iter().cloned().collect())
                .await?;
            let mut notification = channel_event(ev::NOTIFICATION_MESSAGE_NEW, channel);
            notification.insert(
                "channel".into(),
                render::channel(channel, &context.config, &users, None),
            );
            notification.insert("message".into(), rendered.clone());
            notification.insert("message_id".into(), json!(sent.message.id));
            notification.insert("user".into(), author_json);
            notification.insert("watcher_count".into(), json!(watcher_count));
            let recipients: Vec<String> = member_ids
                .iter()
                .filter(|id| **id != author.id)
                .cloned()
                .collect();
            self.publish_except(
                app,
                vec![Audience::UsersNotWatching {
                    cid: channel.cid.clone(),
                    user_ids: recipients,
                }],
                notification,
                personal,
                blockers,
            )
            .await;
        }
        if let Some(parent) = &sent.parent {
            let parent_json = self.render_one(app, parent, None).await?;
            let mut updated = channel_event(ev::MESSAGE_UPDATED, channel);
            updated.insert("message".into(), parent_json);
            updated.insert("message_id".into(), json!(parent.id));
            updated.insert("user".into(), render::user(author, true));
            self.publish(
                app,
                vec![Audience::Watchers {
                    cid: channel.cid.clone(),
                }],
                updated,
                Vec::new(),
            )
            .await;
        }
        if !sent.unhidden.is_empty() {
            let users = self.load_users(app, sent.unhidden.clone()).await?;
            for user_id in &sent.unhidden {
                let mut visible = channel_event(ev::CHANNEL_VISIBLE, channel);
                visible.insert("user".into(), users.get(user_id));
                self.publish(
                    app,
                    vec![Audience::Users {
                        user_ids: vec![user_id.clone()],
                    }],
                    visible,
                    Vec::new(),
                )
                .await;
            }
        }
        Ok(())
    }

    pub async fn get_message(
        &self,
        app: AppId,
        actor: &Actor,
        id: &str,
        show_deleted: bool,
    ) -> ChatResult<Value> {
        const OP: &str = "GetMessage";
        let viewer = actor.user();
        let (message, context) = self.message_context(app, id, viewer, OP).await?;
        let owner =
            viewer.is_some_and(|u| context.channel.created_by.as_deref() == Some(u.id.as_str()));
        self.require(&context, actor, viewer, "read-channel", owner, OP)?;
        let mut rendered = self.render_one(app, &message, viewer).await?;
        if message.deleted_at.is_some() && !(show_deleted && actor.is_server()) {
            rendered["text"] = json!("");
            rendered["html"] = json!("");
            rendered["attachments"] = json!([]);
        }
        let users = self
            .load_users(app, context.channel.created_by.iter().cloned().collect())
            .await?;
        rendered["channel"] = render::channel(&context.channel, &context.config, &users, None);
        Ok(json!({ "message": rendered }))
    }

    /// The channel's context once `actor` may read it (`read-channel`; the creator counts as owner).
    pub(crate) async fn readable_channel(
        &self,
        app: AppId,
        actor: &Actor,
        cid: &str,
        operation: &'static str,
    ) -> ChatResult<ChannelContext> {
        let viewer = actor.user();
        let context = self.channel_context(app, cid, viewer, operation).await?;
        let owner =
            viewer.is_some_and(|u| context.channel.created_by.as_deref() == Some(u.id.as_str()));
        self.require(&context, actor, viewer, "read-channel", owner, operation)?;
        Ok(context)
    }

    pub async fn get_messages(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        ids: &[String],
    ) -> ChatResult<Value> {
        const OP: &str = "GetManyMessages";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        let viewer = actor.user();
        self.readable_channel(app, actor, &cid, OP).await?;
        let messages: Vec<Message> = self
            .store
            .messages(app, ids)
            .await
            .map_err(store_error(OP))?
            .into_iter()
            .filter(|m| m.cid == cid && !hidden_from(m, viewer))
            .collect();
        Ok(json!({ "messages": self.render_messages(app, &messages, viewer).await? }))
    }

    pub async fn update_message(
        &self,
        app: AppId,
        actor: &Actor,
        id: &str,
        request: UpdateMessage,
    ) -> ChatResult<Value> {
        const OP: &str = "UpdateMessage";
        let input = request.message;
        let acting = self
            .acting_user(app, actor, input.user_id.as_deref(), input.user.as_ref())
            .await?;
        let (mut message, context) = self.message_context(app, id, acting.as_ref(), OP).await?;
        let author = acting.as_ref().is_some_and(|u| u.id == message.user_id);
        self.require(
            &context,
            actor,
            acting.as_ref(),
            "update-message",
            author,
            OP,
        )?;
        let text = input.text.clone().unwrap_or_default();
        if text.chars().count() > context.config.max_message_length as usize {
            return Err(ApiError::input(format!(
                "message is too long, the maximum for this channel type is {}",
                context.config.max_message_length
            ))
            .in_operation(OP));
        }
        let blocklist_hit = self
            .screen_text(app, actor, &context.config, &text, OP)
            .await?;
        let mut doc = Map::new();
        for (key, value) in &input.custom {
            if !RESERVED_MESSAGE_KEYS.contains(&key.as_str()) {
                doc.insert(key.clone(), value.clone());
            }
        }
        check_size("message", &doc).map_err(|e| e.in_operation(OP))?;
        // Editing a message posted under a shadow ban does not unshadow it.
        if let Some(shadowed) = message.doc.get("shadowed") {
            doc.insert("shadowed".into(), shadowed.clone());
        }
        let old_text = message.doc.get("text").cloned().unwrap_or(json!(""));
        let html = match (&input.html, actor.is_server()) {
            (Some(html), true) => html.clone(),
            _ => markdown_html(&text),
        };
        doc.insert("text".into(), json!(text));
        doc.insert("html".into(), json!(html));
        doc.insert(
            "attachments".into(),
            json!(input.attachments.clone().unwrap_or_default()),
        );
        doc.insert(
            "mentioned_users".into(),
            json!(mention_ids(&input.mentioned_users)),
        );
        doc.insert("silent".into(), json!(input.silent.unwrap_or(false)));
        if let Some(quoted) = input
            .quoted_message_id
            .clone()
            .map(Value::from)
            .or_else(|| message.doc.get("quoted_message_id").cloned())
        {
            doc.insert("quoted_message_id".into(), quoted);
        }
        let actor_id = acting
            .as_ref()
            .map(|u| u.id.clone())
            .unwrap_or_else(|| message.user_id.clone());
        match input.pinned {
            Some(pinned) => set_pinned(&mut doc, pinned, &actor_id, input.pin_expires.as_ref())
                .map_err(|e| e.in_operation(OP))?,
            None => {
                for key in ["pinned", "pinned_at", "pinned_by", "pin_expires"] {
                    if let Some(value) = message.doc.get(key) {
                        doc.insert(key.into(), value.clone());
                    }
                }
            }
        }
        let now = Utc::now();
        if old_text != json!(text) {
            doc.insert(
                "message_text_updated_at".into(),
                json!(eddy_protocol::time::format(&now)),
            );
        }
        message.doc = doc;
        message.updated_at = now;
        let stored = self
            .store
            .update_message(app, &message)
            .await
            .map_err(store_error(OP))?;
        if let Some(hit) = blocklist_hit {
            self.flag_for_blocklist(app, &stored, hit).await;
        }
        self.announce_message_updated(app, &context, &stored, acting.as_ref())
            .await
    }

    async fn announce_message_updated(
        &self,
        app: AppId,
        context: &ChannelContext,
        message: &Message,
        acting: Option<&User>,
    ) -> ChatResult<Value> {
        let rendered = self.render_one(app, message, None).await?;
        let mut event = channel_event(ev::MESSAGE_UPDATED, &context.channel);
        event.insert("message".into(), rendered.clone());
        event.insert("message_id".into(), json!(message.id));
        event.insert(
            "user".into(),
            acting
                .map(|u| render::user(u, true))
                .unwrap_or_else(|| rendered["user"].clone()),
        );
        self.publish_message_event(app, message, event).await;
        let mine = self.render_one(app, message, acting).await?;
        Ok(json!({ "message": mine }))
    }

    pub async fn update_message_partial(
        &self,
        app: AppId,
        actor: &Actor,
        id: &str,
        request: PartialUpdate,
    ) -> ChatResult<Value> {
        const OP: &str = "UpdateMessagePartial";
        let acting = self
            .acting_user(
                app,
                actor,
                request.user_id.as_deref(),
                request.user.as_ref(),
            )
            .await?;
        let (mut message, context) = self.message_context(app, id, acting.as_ref(), OP).await?;
        let author = acting.as_ref().is_some_and(|u| u.id == message.user_id);
        let mut set = request.set.clone();
        let actor_id = acting
            .as_ref()
            .map(|u| u.id.clone())
            .unwrap_or_else(|| message.user_id.clone());
        if let Some(pinned) = set.remove("pinned") {
            self.require(&context, actor, acting.as_ref(), "pin-message", author, OP)?;
            let pinned = pinned
                .as_bool()
                .ok_or_else(|| ApiError::input("pinned must be a boolean").in_operation(OP))?;
            let expires = set.remove("pin_expires");
            set_pinned(&mut message.doc, pinned, &actor_id, expires.as_ref())
                .map_err(|e| e.in_operation(OP))?;
            // The JS SDK's pinMessage always sends `pinned_at` (null unless the caller chose a time).
            match set.remove("pinned_at") {
                None | Some(Value::Null) => {}
                Some(at) if pinned => {
                    let at = at
                        .as_str()
                        .and_then(eddy_protocol::time::parse)
                        .ok_or_else(|| {
                            ApiError::input("pinned_at must be a timestamp").in_operation(OP)
                        })?;
                    message
                        .doc
                        .insert("pinned_at".into(), json!(eddy_protocol::time::format(&at)));
                }
                Some(_) => {}
            }
        }
        if !set.is_empty() || !request.unset.is_empty() {
            self.require(
                &context,
                actor,
                acting.as_ref(),
                "update-message",
                author,
                OP,
            )?;
        }
        if let Some(key) = set.keys().chain(request.unset.iter()).find(|k| {
            RESERVED_MESSAGE_KEYS.contains(&k.as_str())
                && !matches!(
                    k.as_str(),
                    "text" | "attachments" | "silent" | "quoted_message_id" | "pin_expires"
                )
        }) {
            return Err(ApiError::input(format!(
                "field {key:?} is reserved and cannot be updated"
            ))
            .in_operation(OP));
        }
        let mut blocklist_hit = None;
        if let Some(text) = set.get("text") {
            let text = text
                .as_str()
                .ok_or_else(|| ApiError::input("text must be a string").in_operation(OP))?;
            if text.chars().count() > context.config.max_message_length as usize {
                return Err(ApiError::input(format!(
                    "message is too long, the maximum for this channel type is {}",
                    context.config.max_message_length
                ))
                .in_operation(OP));
            }
            blocklist_hit = self
                .screen_text(app, actor, &context.config, text, OP)
                .await?;
            set.insert("html".into(), json!(markdown_html(text)));
            set.insert(
                "message_text_updated_at".into(),
                json!(eddy_protocol::time::format(&Utc::now())),
            );
        }
        apply_partial(&mut message.doc, &set, &request.unset).map_err(|e| e.in_operation(OP))?;
        message.updated_at = Utc::now();
        let stored = self
            .store
            .update_message(app, &message)
            .await
            .map_err(store_error(OP))?;
        if let Some(hit) = blocklist_hit {
            self.flag_for_blocklist(app, &stored, hit).await;
        }
        self.announce_message_updated(app, &context, &stored, acting.as_ref())
            .await
    }

    pub async fn delete_message(
        &self,
        app: AppId,
        actor: &Actor,
        id: &str,
        hard: bool,
        deleted_by: Option<&str>,
    ) -> ChatResult<Value> {
        const OP: &str = "DeleteMessage";
        let acting = self.acting_user(app, actor, deleted_by, None).await?;
        let (message, context) = self.message_context(app, id, acting.as_ref(), OP).await?;
        let author = acting.as_ref().is_some_and(|u| u.id == message.user_id);
        self.require(
            &context,
            actor,
            acting.as_ref(),
            "delete-message",
            author,
            OP,
        )?;
        let (deleted, parent) = self
            .store
            .delete_message(app, id, hard, Utc::now())
            .await
            .map_err(store_error(OP))?;
        let mut rendered = self.render_one(app, &deleted, None).await?;
        rendered["text"] = json!("");
        rendered["html"] = json!("");
        rendered["attachments"] = json!([]);
        let mut event = channel_event(ev::MESSAGE_DELETED, &context.channel);
        event.insert("message".into(), rendered.clone());
        event.insert("message_id".into(), json!(deleted.id));
        event.insert("hard_delete".into(), json!(hard));
        if let Some(acting) = &acting {
            event.insert("user".into(), render::user(acting, true));
        }
        self.publish_message_event(app, &deleted, event).await;
        if let Some(parent) = parent {
            self.announce_message_updated(app, &context, &parent, acting.as_ref())
                .await?;
        }
        Ok(json!({ "message": rendered }))
    }

    /// `POST /messages/{id}/undelete` (server-side): restores a soft-deleted message.
    pub async fn undelete_message(
        &self,
        app: AppId,
        actor: &Actor,
        id: &str,
        request: Undelete,
    ) -> ChatResult<Value> {
        const OP: &str = "UndeleteMessage";
        if !actor.is_server() {
            return Err(ApiError::not_allowed(
                "undelete is only allowed with server-side authentication",
            )
            .in_operation(OP));
        }
        let acting = self
            .user_or_create(app, &request.undeleted_by)
            .await
            .map_err(|e| e.in_operation(OP))?;
        let (message, context) = self.message_context(app, id, Some(&acting), OP).await?;
        if message.deleted_at.is_none() {
            return Err(ApiError::input(format!("message {id} is not deleted")).in_operation(OP));
        }
        let restored = self
            .store
            .undelete_message(app, id, Utc::now())
            .await
            .map_err(store_error(OP))?;
        let rendered = self.render_one(app, &restored, None).await?;
        let mut event = channel_event("message.undeleted", &context.channel);
        event.insert("message".into(), rendered.clone());
        event.insert("message_id".into(), json!(restored.id));
        event.insert(
            "user".into(),
            render::user(&acting, self.hub.is_online(app, &acting.id)),
        );
        self.publish(
            app,
            vec![Audience::Watchers {
                cid: context.channel.cid.clone(),
            }],
            event,
            Vec::new(),
        )
        .await;
        Ok(json!({ "message": rendered }))
    }

    pub async fn get_replies(
        &self,
        app: AppId,
        actor: &Actor,
        parent_id: &str,
        pagination: MessagePagination,
    ) -> ChatResult<Value> {
        const OP: &str = "GetReplies";
        let viewer = actor.user();
        let (parent, context) = self.message_context(app, parent_id, viewer, OP).await?;
        let owner =
            viewer.is_some_and(|u| context.channel.created_by.as_deref() == Some(u.id.as_str()));
        self.require(&context, actor, viewer, "read-channel", owner, OP)?;
        let page = message_page(Some(&pagination), DEFAULT_MESSAGE_LIMIT)
            .map_err(|e| e.in_operation(OP))?;
        let mut replies = self
            .store
            .replies(app, &parent.id, &page)
            .await
            .map_err(store_error(OP))?;
        replies.retain(|m| !hidden_from(m, viewer));
        Ok(json!({ "messages": self.render_messages(app, &replies, viewer).await? }))
    }

    pub async fn send_reaction(
        &self,
        app: AppId,
        actor: &Actor,
        message_id: &str,
        request: SendReaction,
    ) -> ChatResult<Value> {
        const OP: &str = "SendReaction";
        let input = request.reaction;
        let user = self
            .required_user(
                app,
                actor,
                input.user_id.as_deref(),
                input.user.as_ref(),
                OP,
            )
            .await?;
        let (message, context) = self
            .message_context(app, message_id, Some(&user), OP)
            .await?;
        if !context.config.reactions {
            return Err(ApiError::new(
                ErrorCode::ChannelFeatureNotSupported,
                "reactions are disabled for this channel type",
            )
            .in_operation(OP));
        }
        let owner = context.channel.created_by.as_deref() == Some(user.id.as_str());
        self.require(&context, actor, Some(&user), "create-reaction", owner, OP)?;
        let now = Utc::now();
        if !actor.is_server()
            && (ban_state(&user.doc, now).banned
                || self
                    .channel_ban(app, &context, &user, now, OP)
                    .await?
                    .banned)
        {
            return Err(
                ApiError::not_allowed(format!("user {} is banned", user.id)).in_operation(OP)
            );
        }
        if !actor.is_server()
            && context.channel.frozen
            && self
                .require(
                    &context,
                    actor,
                    Some(&user),
                    "use-frozen-channel",
                    false,
                    OP,
                )
                .is_err()
        {
            return Err(ApiError::not_allowed(format!(
                "channel {} is frozen",
                context.channel.cid
            ))
            .in_operation(OP));
        }
        if input.kind.is_empty() || input.kind.chars().count() > MAX_REACTION_TYPE_LENGTH {
            return Err(ApiError::input(format!(
                "reaction type must be 1 to {MAX_REACTION_TYPE_LENGTH} characters"
            ))
            .in_operation(OP));
        }
        let mut doc = Map::new();
        for (key, value) in &input.custom {
            if !matches!(
                key.as_str(),
                "message_id" | "created_at" | "updated_at" | "user" | "user_id" | "type" | "score"
            ) {
                doc.insert(key.clone(), value.clone());
            }
        }
        let size = Value::Object(doc.clone()).to_string().len();
        if size > MAX_REACTION_CUSTOM_BYTES {
            return Err(ApiError::input(format!(
                "reaction custom data is {size} bytes, the limit is {MAX_REACTION_CUSTOM_BYTES}"
            ))
            .in_operation(OP));
        }
        let now = Utc::now();
        let reaction = Reaction {
            message_id: message.id.clone(),
            user_id: user.id.clone(),
            kind: input.kind.clone(),
            score: input.score.unwrap_or(1),
            doc,
            created_at: now,
            updated_at: now,
        };
        let (updated, replaced) = self
            .store
            .add_reaction(app, &reaction, request.enforce_unique)
            .await
            .map_err(store_error(OP))?;
        let stored = updated
            .latest_reactions
            .iter()
            .find(|r| r.user_id == user.id && r.kind == reaction.kind)
            .cloned()
            .unwrap_or(reaction);
        let users = self.load_users(app, vec![user.id.clone()]).await?;
        let reaction_json = render::reaction(&stored, &users);
        let broadcast = self.render_one(app, &updated, None).await?;
        let mut event = channel_event(
            if replaced {
                ev::REACTION_UPDATED
            } else {
                ev::REACTION_NEW
            },
            &context.channel,
        );
        event.insert("message".into(), broadcast);
        event.insert("reaction".into(), reaction_json.clone());
        event.insert("user".into(), users.get(&user.id));
        self.publish_message_event(app, &updated, event).await;
        let mine = self.render_one(app, &updated, Some(&user)).await?;
        Ok(json!({ "message": mine, "reaction": reaction_json }))
    }

    pub async fn delete_reaction(
        &self,
        app: AppId,
        actor: &Actor,
        message_id: &str,
        kind: &str,
        user_id: Option<&str>,
    ) -> ChatResult<Value> {
        const OP: &str = "DeleteReaction";
        let user = self.required_user(app, actor, user_id, None, OP).await?;
        let (_, context) = self
            .message_context(app, message_id, Some(&user), OP)
            .await?;
        let (updated, removed) = self
            .store
            .remove_reaction(app, message_id, &user.id, kind)
            .await
            .map_err(store_error(OP))?;
        let users = self.load_users(app, vec![user.id.clone()]).await?;
        let reaction_json = render::reaction(&removed, &users);
        let mut event = channel_event(ev::REACTION_DELETED, &context.channel);
        event.insert(
            "message".into(),
            self.render_one(app, &updated, None).await?,
        );
        event.insert("reaction".into(), reaction_json.clone());
        event.insert("user".into(), users.get(&user.id));
        self.publish_message_event(app, &updated, event).await;
        Ok(
            json!({ "message": self.render_one(app, &updated, Some(&user)).await?, "reaction": reaction_json }),
        )
    }

    pub async fn get_reactions(
        &self,
        app: AppId,
        actor: &Actor,
        message_id: &str,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> ChatResult<Value> {
        const OP: &str = "GetReactions";
        let viewer = actor.user();
        let (message, context) = self.message_context(app, message_id, viewer, OP).await?;
        let owner =
            viewer.is_some_and(|u| context.channel.created_by.as_deref() == Some(u.id.as_str()));
        self.require(&context, actor, viewer, "read-channel", owner, OP)?;
        let reactions = self
            .store
            .reactions(
                app,
                &message.id,
                limit.unwrap_or(25).clamp(1, 300),
                offset.unwrap_or(0).clamp(0, 1000),
            )
            .await
            .map_err(store_error(OP))?;
        let users = self
            .load_users(app, reactions.iter().map(|r| r.user_id.clone()).collect())
            .await?;
        Ok(
            json!({ "reactions": reactions.iter().map(|r| render::reaction(r, &users)).collect::<Vec<_>>() }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(
            markdown_html("hi **there**"),
            "<p>hi <strong>there</strong></p>\n"
        );
        assert_eq!(markdown_html(""), "");
    }

    #[test]
    fn mentions_accept_ids_and_objects() {
        assert_eq!(
            mention_ids(&[json!("a"), json!({"id": "b"}), json!(3)]),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }

    #[test]
    fn numeric_pin_expiry_is_seconds_from_now() {
        let value = pin_expiry(&json!(60)).unwrap();
        let at = eddy_protocol::time::parse(value.as_str().unwrap()).unwrap();
        let delta = (at - Utc::now()).num_seconds();
        assert!((58..=60).contains(&delta), "{delta}");
        assert!(pin_expiry(&json!("garbage")).is_err());
        assert!(
            pin_expiry(&json!(i64::MAX)).is_err(),
            "huge numbers are refused, not a panic"
        );
    }
}
