//! Channels: get-or-create and watch, query, update, members, delete, truncate, hide/show, read state, client events.

use crate::bans::{hidden_from, strip_ban_keys};
use crate::events::{channel_event, user_event};
use crate::render;
use crate::requests::*;
use crate::users::{apply_partial, check_size, privacy_off};
use crate::{store_error, Actor, Chat, ChatResult};
use base64::Engine;
use chrono::Utc;
use eddy_bus::Audience;
use eddy_core::config::ChannelConfig;
use eddy_core::grants::{allows, Subject};
use eddy_core::{ChannelId, ChannelTypeName, Cid};
use eddy_protocol::{event as ev, ApiError};
use eddy_query::{parse_filter, parse_sort, Filter, Op};
use eddy_store::{
    AppId, Channel, ChannelQuery, ListQuery, Member, Message, MessagePage, Timestamp, User,
};
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Channel keys that are columns, computed or per-user, never custom data.
const RESERVED_CHANNEL_KEYS: &[&str] = &[
    "id",
    "type",
    "cid",
    "created_by",
    "created_by_id",
    "created_at",
    "updated_at",
    "deleted_at",
    "last_message_at",
    "member_count",
    "members",
    "config",
    "own_capabilities",
    "frozen",
    "disabled",
    "truncated_at",
    "hidden",
    "membership",
    "messages",
    "read",
    "watchers",
    "watcher_count",
];

pub(crate) const DEFAULT_MESSAGE_LIMIT: i64 = 25;
const MAX_MESSAGE_LIMIT: i64 = 300;

/// A loaded channel with its effective config and the acting user's membership.
/// What one channel's state is built from, loaded for many channels at once.
struct ChannelParts<'a> {
    messages: &'a [Message],
    members: &'a [Member],
    /// The first hundred users watching, as the hub listed them.
    watchers: &'a [String],
    watcher_count: usize,
}

pub(crate) struct ChannelContext {
    pub channel: Channel,
    pub config: ChannelConfig,
    pub membership: Option<Member>,
    /// The app is multi-tenant: users reach only channels of their teams (see `teams`).
    pub multi_tenant: bool,
}

pub(crate) fn parse_cid(kind: &str, id: &str) -> ChatResult<String> {
    let kind = ChannelTypeName::parse(kind).map_err(|e| ApiError::input(e.to_string()))?;
    let id = ChannelId::parse(id).map_err(|e| ApiError::input(e.to_string()))?;
    Ok(Cid::new(&kind, &id).into_string())
}

/// Distinct channels are named by their member set: a stable digest of the sorted ids.
fn distinct_id(members: &[String]) -> String {
    let mut sorted = members.to_vec();
    sorted.sort();
    sorted.dedup();
    let digest = Sha256::digest(sorted.join(",").as_bytes());
    format!(
        "!members-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

fn effective_config(base: &ChannelConfig, channel: &Channel) -> ChannelConfig {
    match channel
        .doc
        .get("config_overrides")
        .and_then(Value::as_object)
    {
        Some(overrides) if !overrides.is_empty() => {
            let mut merged = serde_json::to_value(base).unwrap_or_else(|_| json!({}));
            if let Value::Object(fields) = &mut merged {
                for (key, value) in overrides {
                    fields.insert(key.clone(), value.clone());
                }
            }
            serde_json::from_value(merged).unwrap_or_else(|_| base.clone())
        }
        _ => base.clone(),
    }
}

/// An unexpected failure: logged here once, answered with the opaque internal error.
fn unexpected(what: &str, error: impl std::fmt::Display) -> ApiError {
    tracing::error!("{what}: {error}");
    ApiError::internal()
}

/// A member as `viewer` sees it: nobody sees their own shadow ban.
fn member_for(member: &Member, users: &render::Users, viewer: Option<&User>) -> Value {
    serde_json::to_value(member_view(member, users, viewer)).unwrap_or(Value::Null)
}

/// The same, for a serialised page: the member's user is shared bytes.
fn member_view<'a>(
    member: &'a Member,
    users: &'a render::Users,
    viewer: Option<&User>,
) -> render::WithUser<'a> {
    let own = viewer.is_some_and(|v| v.id == member.user_id);
    let mut body = render::member_body(member);
    let mut user = users.json(&member.user_id);
    if own {
        body.insert("shadow_banned".into(), json!(false));
        user.hide_shadow_ban = true;
    }
    render::WithUser { body, user }
}

/// One ChannelState, serialised from loaded records without an intermediate tree for its
/// messages, members and read states.
struct ChannelStateView<'a> {
    /// `channel`, `pinned_messages`, `watcher_count`, `threads`, `hidden`.
    fields: Map<String, Value>,
    messages: Vec<render::MessageView<'a>>,
    members: Vec<render::WithUser<'a>>,
    /// Absent when the channel type has read events off.
    read: Option<Vec<render::WithUser<'a>>>,
    watchers: Vec<render::UserJson<'a>>,
    membership: Option<render::WithUser<'a>>,
}

impl serde::Serialize for ChannelStateView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in &self.fields {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("messages", &self.messages)?;
        map.serialize_entry("members", &self.members)?;
        if let Some(read) = &self.read {
            map.serialize_entry("read", read)?;
        }
        map.serialize_entry("watchers", &self.watchers)?;
        if let Some(membership) = &self.membership {
            map.serialize_entry("membership", membership)?;
        }
        map.end()
    }
}

fn new_member(
    cid: &str,
    user_id: &str,
    role: Option<&str>,
    mut custom: Map<String, Value>,
) -> Member {
    // Ban state is the store's to mirror, never given with a member.
    strip_ban_keys(&mut custom);
    let now = Utc::now();
    Member {
        cid: cid.to_owned(),
        user_id: user_id.to_owned(),
        channel_role: role.unwrap_or("channel_member").to_owned(),
        doc: custom,
        hidden: false,
        hide_messages_before: None,
        created_at: now,
        updated_at: now,
        last_read: now,
        last_read_message_id: None,
        unread_messages: 0,
        first_unread_message_id: None,
    }
}

fn member_inputs(cid: &str, inputs: &[MemberInput]) -> Vec<Member> {
    inputs
        .iter()
        .map(|input| match input {
            MemberInput::Id(id) => new_member(cid, id, None, Map::new()),
            MemberInput::Object {
                user_id,
                channel_role,
                custom,
            } => new_member(cid, user_id, channel_role.as_deref(), custom.clone()),
        })
        .collect()
}

fn page_time(text: &Option<String>) -> ChatResult<Option<eddy_store::Timestamp>> {
    text.as_deref()
        .map(|t| {
            eddy_protocol::time::parse(t)
                .ok_or_else(|| ApiError::input(format!("{t:?} is not an RFC 3339 timestamp")))
        })
        .transpose()
}

pub(crate) fn message_page(
    pagination: Option<&MessagePagination>,
    default_limit: i64,
) -> ChatResult<MessagePage> {
    let pagination = pagination.cloned().unwrap_or_default();
    Ok(MessagePage {
        limit: pagination
            .limit
            .unwrap_or(default_limit)
            .clamp(0, MAX_MESSAGE_LIMIT),
        id_lt: pagination.id_lt,
        id_lte: pagination.id_lte,
        id_gt: pagination.id_gt,
        id_gte: pagination.id_gte,
        created_at_before: page_time(&pagination.created_at_before)?,
        created_at_after: page_time(&pagination.created_at_after)?,
    })
}

impl Chat {
    /// The app's channel types, from the short-lived cache when fresh.
    pub(crate) async fn channel_types(
        &self,
        app: AppId,
    ) -> ChatResult<std::sync::Arc<Vec<eddy_store::ChannelTypeRecord>>> {
        if let Some(types) = self.channel_types.get(app) {
            return Ok(types);
        }
        let types = self
            .store
            .channel_types(app)
            .await
            .map_err(store_error("GetChannelType"))?;
        Ok(self.channel_types.put(app, types))
    }

    pub(crate) async fn channel_type_config(
        &self,
        app: AppId,
        kind: &str,
        operation: &'static str,
    ) -> ChatResult<ChannelConfig> {
        let mut types = self.channel_types(app).await?;
        if !types.iter().any(|t| t.name == kind) {
            // Perhaps created on another node since this node cached the list: read it again.
            self.channel_types.invalidate(app);
            types = self.channel_types(app).await?;
        }
        types
            .iter()
            .find(|t| t.name == kind)
            .map(|t| t.config.clone())
            .ok_or_else(|| {
                ApiError::input(format!("channel type {kind:?} does not exist"))
                    .in_operation(operation)
            })
    }

    /// Loads a live channel and the acting user's membership; 16 when absent or deleted.
    pub(crate) async fn channel_context(
        &self,
        app: AppId,
        cid: &str,
        user: Option<&User>,
        operation: &'static str,
    ) -> ChatResult<ChannelContext> {
        let channel = self
            .store
            .channel(app, cid)
            .await
            .map_err(store_error(operation))?
            .filter(|c| c.deleted_at.is_none())
            .ok_or_else(|| {
                ApiError::not_found(format!("Can't find channel with cid {cid}"))
                    .in_operation(operation)
            })?;
        let base = self
            .channel_type_config(app, &channel.kind, operation)
            .await?;
        let config = effective_config(&base, &channel);
        let membership = match user {
            Some(user) => self
                .store
                .members_of(app, &[cid.to_owned()], Some(&user.id))
                .await
                .map_err(store_error(operation))?
                .pop(),
            None => None,
        };
        Ok(ChannelContext {
            channel,
            config,
            membership,
            multi_tenant: self.multi_tenant(app).await?,
        })
    }

    /// `assign_roles` of an update: `[{user_id, channel_role}]` (at most 100), every user a member
    /// of the channel and every role a channel role the app has (built in or created with
    /// `POST /roles`); refused whole (code 4) otherwise, before anything changes.
    async fn parse_role_assignments(
        &self,
        app: AppId,
        cid: &str,
        assignments: &[Value],
    ) -> ChatResult<Vec<(String, String)>> {
        if assignments.len() > 100 {
            return Err(ApiError::input("assign_roles takes at most 100 entries"));
        }
        let record = self.app_by_id(app).await?;
        let members = self
            .store
            .members_of(app, &[cid.to_owned()], None)
            .await
            .map_err(store_error("UpdateChannel"))?;
        let mut changes = Vec::with_capacity(assignments.len());
        for entry in assignments {
            let field = |name: &str| {
                entry
                    .get(name)
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
            };
            let (Some(user_id), Some(role)) = (field("user_id"), field("channel_role")) else {
                return Err(ApiError::input(format!(
                    "assign_roles entries need user_id and channel_role strings, got {entry}"
                )));
            };
            let known = crate::roles::CHANNEL_ROLES.contains(&role)
                || record
                    .as_ref()
                    .is_some_and(|app| crate::roles::is_custom_role(app, role));
            if !known {
                return Err(ApiError::input(format!(
                    "channel_role {role:?} is not a channel role of this app"
                )));
            }
            if !members.iter().any(|m| m.user_id == user_id) {
                return Err(ApiError::input(format!(
                    "user {user_id} is not a member of channel {cid}, so no role can be assigned"
                )));
            }
            changes.push((user_id.to_owned(), role.to_owned()));
        }
        Ok(changes)
    }

    /// Refuses a user who lacks `permission` in the channel with code 17; server calls pass.
    pub(crate) fn require(
        &self,
        context: &ChannelContext,
        actor: &Actor,
        user: Option<&User>,
        permission: &str,
        is_owner: bool,
        operation: &'static str,
    ) -> ChatResult<()> {
        if actor.is_server() {
            return Ok(());
        }
        if let (true, Some(user)) = (context.multi_tenant, user) {
            if !crate::teams::may_reach(user, &context.channel) {
                return Err(ApiError::not_allowed(format!(
                    "user '{}' is not in the team of channel {} ({})",
                    user.id,
                    context.channel.cid,
                    crate::teams::channel_team(&context.channel).unwrap_or("no team")
                ))
                .in_operation(operation));
            }
        }
        let role = user.map(|u| u.role.as_str()).unwrap_or("anonymous");
        let subject = Subject {
            role,
            channel_role: context.membership.as_ref().map(|m| m.channel_role.as_str()),
            is_owner,
        };
        if allows(&context.config, subject, permission) {
            return Ok(());
        }
        let who = user.map(|u| u.id.as_str()).unwrap_or("anonymous");
        Err(ApiError::not_allowed(format!(
            "user '{who}' with role '{role}' is not allowed to perform action {permission} in channel {}",
            context.channel.cid
        ))
        .in_operation(operation))
    }

    fn is_creator(context: &ChannelContext, user: Option<&User>) -> bool {
        user.is_some_and(|u| context.channel.created_by.as_deref() == Some(u.id.as_str()))
    }

    /// The full ChannelState for one viewer.
    pub(crate) async fn channel_state(
        &self,
        app: AppId,
        context: &ChannelContext,
        viewer: Option<&User>,
        page: &MessagePage,
        member_limit: i64,
    ) -> ChatResult<Value> {
        let mut states = self
            .channel_states(
                app,
                std::slice::from_ref(context),
                viewer,
                page,
                member_limit,
            )
            .await?;
        let Some(state) = states.pop() else {
            return Ok(Value::Null);
        };
        serde_json::from_str(state.get())
            .map_err(|e| unexpected("channel state did not read back", e))
    }

    /// ChannelStates of several channels for one viewer, serialised: messages, members, users,
    /// quoted messages and own reactions are each loaded once for all of them, not once per channel.
    pub(crate) async fn channel_states(
        &self,
        app: AppId,
        contexts: &[ChannelContext],
        viewer: Option<&User>,
        page: &MessagePage,
        member_limit: i64,
    ) -> ChatResult<Vec<Box<RawValue>>> {
        const OP: &str = "GetOrCreateChannel";
        let visible_after = |context: &ChannelContext| match (
            &context.channel.truncated_at,
            context
                .membership
                .as_ref()
                .and_then(|m| m.hide_messages_before),
        ) {
            (Some(a), Some(b)) => Some((*a).max(b)),
            (a, b) => a.or(b),
        };
        let plain_page = MessagePage {
            limit: page.limit,
            ..MessagePage::default()
        } == *page;
        let mut messages_by_cid: HashMap<String, Vec<Message>> = HashMap::new();
        if page.limit > 0 && plain_page {
            let wanted: Vec<(String, Option<Timestamp>)> = contexts
                .iter()
                .map(|context| (context.channel.cid.clone(), visible_after(context)))
                .collect();
            for message in self
                .store
                .latest_channel_messages(app, &wanted, page.limit)
                .await
                .map_err(store_error(OP))?
            {
                messages_by_cid
                    .entry(message.cid.clone())
                    .or_default()
                    .push(message);
            }
        } else if page.limit > 0 {
            for context in contexts {
                let messages = self
                    .store
                    .channel_messages(app, &context.channel.cid, page, visible_after(context))
                    .await
                    .map_err(store_error(OP))?;
                messages_by_cid.insert(context.channel.cid.clone(), messages);
            }
        }
        let cids: Vec<String> = contexts.iter().map(|c| c.channel.cid.clone()).collect();
        let mut members_by_cid: HashMap<String, Vec<Member>> = HashMap::new();
        for member in self
            .store
            .first_members(app, &cids, member_limit.clamp(0, 300))
            .await
            .map_err(store_error(OP))?
        {
            members_by_cid
                .entry(member.cid.clone())
                .or_default()
                .push(member);
        }
        // Shadowed messages are shown to their author only.
        for messages in messages_by_cid.values_mut() {
            messages.retain(|m| !hidden_from(m, viewer));
        }
        let all_messages: Vec<Message> = messages_by_cid.values().flatten().cloned().collect();
        let quoted = self.quoted_messages(app, &all_messages).await?;
        let mut ids: Vec<String> = members_by_cid
            .values()
            .flatten()
            .map(|m| m.user_id.clone())
            .collect();
        // The first hundred watchers of each channel, read from the hub once.
        let mut watchers_by_cid: HashMap<String, (Vec<String>, usize)> = HashMap::new();
        for context in contexts {
            ids.extend(context.channel.created_by.iter().cloned());
            let mut watchers = self.hub.watching_users(app, &context.channel.cid);
            watchers.truncate(100);
            ids.extend(watchers.iter().cloned());
            let count = self.hub.watcher_count(app, &context.channel.cid);
            watchers_by_cid.insert(context.channel.cid.clone(), (watchers, count));
        }
        for message in all_messages.iter().chain(quoted.values()) {
            render::message_user_ids(message, &mut ids);
        }
        if let Some(viewer) = viewer {
            ids.push(viewer.id.clone());
        }
        let users = self.load_users(app, ids).await?;
        let own = self.own_reactions(app, viewer, &all_messages).await?;
        let none_members = Vec::new();
        let none_messages = Vec::new();
        let no_watchers = (Vec::new(), 0);
        contexts
            .iter()
            .map(|context| {
                let cid = &context.channel.cid;
                let (watchers, watcher_count) = watchers_by_cid.get(cid).unwrap_or(&no_watchers);
                let parts = ChannelParts {
                    messages: messages_by_cid.get(cid).unwrap_or(&none_messages),
                    members: members_by_cid.get(cid).unwrap_or(&none_members),
                    watchers,
                    watcher_count: *watcher_count,
                };
                let state = self.assemble_state(context, viewer, parts, &users, &own, &quoted);
                to_raw_value(&state).map_err(|e| unexpected("channel state did not serialise", e))
            })
            .collect()
    }

    /// One ChannelState from loaded parts.
    fn assemble_state<'a>(
        &self,
        context: &'a ChannelContext,
        viewer: Option<&User>,
        parts: ChannelParts<'a>,
        users: &'a render::Users,
        own: &'a [eddy_store::Reaction],
        quoted: &'a HashMap<String, Message>,
    ) -> ChannelStateView<'a> {
        let ChannelParts {
            messages,
            members,
            watchers,
            watcher_count,
        } = parts;
        let messages = messages
            .iter()
            .map(|message| render::MessageView {
                message,
                users,
                own: own.iter().filter(|r| r.message_id == message.id).collect(),
                quoted: message
                    .doc
                    .get("quoted_message_id")
                    .and_then(Value::as_str)
                    .and_then(|id| quoted.get(id)),
                shown_to_author: viewer.is_some_and(|v| v.id == message.user_id),
            })
            .collect();
        let mut fields = Map::new();
        fields.insert(
            "channel".into(),
            render::channel(
                &context.channel,
                &context.config,
                users,
                viewer.map(|v| (v, context.membership.as_ref())),
            ),
        );
        fields.insert("pinned_messages".into(), json!([]));
        let read = context.config.read_events.then(|| {
            members
                .iter()
                .filter(|m| {
                    // Others' read state is hidden when they turned read receipts off.
                    viewer.is_some_and(|v| v.id == m.user_id)
                        || !users
                            .by_id
                            .get(&m.user_id)
                            .is_some_and(|u| privacy_off(u, "read_receipts"))
                })
                .map(|m| render::WithUser {
                    body: render::read_state_body(m),
                    user: users.json(&m.user_id),
                })
                .collect()
        });
        fields.insert("watcher_count".into(), json!(watcher_count));
        fields.insert("threads".into(), json!([]));
        let membership = context.membership.as_ref().map(|membership| {
            fields.insert("hidden".into(), json!(membership.hidden));
            member_view(membership, users, viewer)
        });
        ChannelStateView {
            fields,
            messages,
            members: members
                .iter()
                .map(|m| member_view(m, users, viewer))
                .collect(),
            read,
            watchers: watchers.iter().map(|id| users.json(id)).collect(),
            membership,
        }
    }

    pub(crate) async fn watch_channel(
        &self,
        app: AppId,
        channel: &Channel,
        user: Option<&User>,
        connection_id: Option<&str>,
    ) {
        let (Some(user), Some(connection_id)) = (user, connection_id) else {
            return;
        };
        // A connection only ever watches for its own user.
        if self.hub.connection_user(app, connection_id).as_deref() != Some(user.id.as_str()) {
            return;
        }
        if let Some(change) = self.hub.watch(app, connection_id, &channel.cid) {
            if change.user_started {
                let mut event = channel_event(ev::USER_WATCHING_START, channel);
                event.insert("user".into(), render::user(user, true));
                event.insert("watcher_count".into(), json!(change.watcher_count));
                self.publish(
                    app,
                    vec![Audience::Watchers {
                        cid: channel.cid.clone(),
                    }],
                    event,
                    Vec::new(),
                )
                .await;
            }
        }
    }

    /// Publishes `user.watching.stop` for channels a closed connection no longer watches, and starts
    /// the offline grace period when it was the user's last connection.
    pub async fn connection_closed(
        &self,
        app: AppId,
        user: &User,
        connection_id: &str,
        anonymous: bool,
    ) {
        for change in self.hub.unregister(connection_id) {
            if change.user_stopped {
                if let Ok(Some(channel)) = self.store.channel(app, &change.cid).await {
                    let mut event = channel_event(ev::USER_WATCHING_STOP, &channel);
                    event.insert(
                        "user".into(),
                        render::user(user, self.hub.is_online(app, &user.id)),
                    );
                    event.insert("watcher_count".into(), json!(change.watcher_count));
                    self.publish(
                        app,
                        vec![Audience::Watchers {
                            cid: channel.cid.clone(),
                        }],
                        event,
                        Vec::new(),
                    )
                    .await;
                }
            }
        }
        if !anonymous && !self.hub.is_online(app, &user.id) {
            self.schedule_offline(app, user.clone());
        }
    }

    pub async fn get_or_create_channel(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: Option<&str>,
        request: GetOrCreateChannel,
        connection_id: Option<&str>,
    ) -> ChatResult<Value> {
        const OP: &str = "GetOrCreateChannel";
        let data = request.data.unwrap_or_default();
        let member_ids: Vec<String> = data
            .members
            .iter()
            .flatten()
            .map(|m| m.user_id().to_owned())
            .collect();
        let id = match id {
            Some(id) => id.to_owned(),
            None if member_ids.is_empty() => {
                return Err(ApiError::input(
                    "when creating a channel without id, data.members must list its members",
                )
                .in_operation(OP))
            }
            None => distinct_id(&member_ids),
        };
        let cid = parse_cid(kind, &id).map_err(|e| e.in_operation(OP))?;
        let base = self.channel_type_config(app, kind, OP).await?;
        let acting = match actor {
            Actor::Server => match data
                .created_by_id
                .as_deref()
                .or(data.created_by.as_ref().map(|u| u.id.as_str()))
            {
                Some(creator) => Some(self.user_or_create(app, creator).await?),
                None => {
                    self.acting_user(
                        app,
                        actor,
                        request.user_id.as_deref(),
                        request.user.as_ref(),
                    )
                    .await?
                }
            },
            _ => self.acting_user(app, actor, None, None).await?,
        };
        let existing = self
            .store
            .channel(app, &cid)
            .await
            .map_err(store_error(OP))?
            .filter(|c| c.deleted_at.is_none());
        if existing.is_none() && request.existing_only {
            return Err(
                ApiError::not_found(format!("Can't find channel with cid {cid}"))
                    .in_operation("GetChannel"),
            );
        }
        if existing.is_none() {
            let creator = acting.as_ref().ok_or_else(|| {
                crate::users::no_acting_user(
                    actor,
                    "either data.created_by or data.created_by_id must be provided when using server side auth.",
                    OP,
                )
            })?;
            // The team asked for is checked like the channel's (multi-tenant apps).
            let mut probe_doc = Map::new();
            if let Some(team) = data.custom.get("team") {
                probe_doc.insert("team".into(), team.clone());
            }
            let probe = ChannelContext {
                channel: Channel {
                    created_by: Some(creator.id.clone()),
                    doc: probe_doc,
                    ..blank_channel(&cid, kind, &id)
                },
                config: base.clone(),
                membership: None,
                multi_tenant: self.multi_tenant(app).await?,
            };
            self.require(&probe, actor, Some(creator), "create-channel", true, OP)?;
            let mut custom = Map::new();
            for (key, value) in &data.custom {
                if !RESERVED_CHANNEL_KEYS.contains(&key.as_str()) {
                    custom.insert(key.clone(), value.clone());
                }
            }
            if !actor.is_server() {
                custom.remove("config_overrides");
            }
            check_size("channel", &custom).map_err(|e| e.in_operation(OP))?;
            for member in &member_ids {
                self.user_or_create(app, member)
                    .await
                    .map_err(|e| e.in_operation(OP))?;
            }
            let now = Utc::now();
            let channel = Channel {
                created_by: Some(creator.id.clone()),
                doc: custom,
                frozen: data.frozen.unwrap_or(false),
                disabled: data.disabled.unwrap_or(false),
                created_at: now,
                updated_at: now,
                ..blank_channel(&cid, kind, &id)
            };
            let mut members = member_inputs(&cid, data.members.as_deref().unwrap_or_default());
            if request.hide_for_creator {
                for member in members.iter_mut().filter(|m| m.user_id == creator.id) {
                    member.hidden = true;
                }
            }
            let (stored, created) = self
                .store
                .create_channel(app, &channel, &members)
                .await
                .map_err(store_error(OP))?;
            if created {
                self.announce_new_members(app, &stored, &base, &members)
                    .await?;
            }
        }
        let context = self.channel_context(app, &cid, acting.as_ref(), OP).await?;
        if existing.is_some() {
            let owner = Self::is_creator(&context, acting.as_ref());
            self.require(&context, actor, acting.as_ref(), "read-channel", owner, OP)?;
        }
        if request.watch {
            self.watch_channel(app, &context.channel, acting.as_ref(), connection_id)
                .await;
        }
        if request.presence {
            let members = self
                .store
                .members(app, &cid, 100, 0)
                .await
                .map_err(store_error(OP))?;
            let mut ids: Vec<String> = members.into_iter().map(|m| m.user_id).collect();
            ids.extend(self.hub.watching_users(app, &cid));
            self.follow_presence(app, acting.as_ref(), connection_id, &ids);
        }
        let state = request.state.unwrap_or(true);
        let page = message_page(
            request.messages.as_ref(),
            if state { DEFAULT_MESSAGE_LIMIT } else { 0 },
        )?;
        let member_limit = request
            .members
            .as_ref()
            .and_then(|m| m.limit)
            .unwrap_or(100);
        let viewer = if actor.is_server() {
            None
        } else {
            acting.as_ref()
        };
        self.channel_state(app, &context, viewer, &page, member_limit)
            .await
    }

    /// `member.added` to watchers and `notification.added_to_channel` to each new member.
    async fn announce_new_members(
        &self,
        app: AppId,
        channel: &Channel,
        config: &ChannelConfig,
        added: &[Member],
    ) -> ChatResult<()> {
        if added.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<String> = added.iter().map(|m| m.user_id.clone()).collect();
        ids.extend(channel.created_by.iter().cloned());
        let users = self.load_users(app, ids).await?;
        let all_members = self
            .store
            .members(app, &channel.cid, 100, 0)
            .await
            .map_err(store_error("AddMembers"))?;
        for member in added {
            let member_json = render::member(member, &users);
            let mut event = channel_event(ev::MEMBER_ADDED, channel);
            event.insert("member".into(), member_json.clone());
            event.insert("user".into(), users.get(&member.user_id));
            self.publish(
                app,
                vec![Audience::Watchers {
                    cid: channel.cid.clone(),
                }],
                event,
                Vec::new(),
            )
            .await;

            let mut channel_json = render::channel(channel, config, &users, None);
            channel_json["members"] = Value::Array(
                all_members
                    .iter()
                    .map(|m| render::member(m, &users))
                    .collect(),
            );
            let mut notification = channel_event(ev::NOTIFICATION_ADDED_TO_CHANNEL, channel);
            notification.insert("channel".into(), channel_json);
            notification.insert("member".into(), member_json);
            notification.insert("user".into(), users.get(&member.user_id));
            notification.extend(self.unread_totals(app, &member.user_id).await);
            self.publish(
                app,
                vec![Audience::Users {
                    user_ids: vec![member.user_id.clone()],
                }],
                notification,
                Vec::new(),
            )
            .await;
        }
        Ok(())
    }

    pub async fn query_channels(
        &self,
        app: AppId,
        actor: &Actor,
        request: QueryChannels,
        connection_id: Option<&str>,
    ) -> ChatResult<Box<RawValue>> {
        const OP: &str = "QueryChannels";
        let viewer = match actor {
            Actor::Server => {
                self.acting_user(
                    app,
                    actor,
                    request.user_id.as_deref(),
                    request.user.as_ref(),
                )
                .await?
            }
            _ => self.acting_user(app, actor, None, None).await?,
        };
        let mut filter_json = match request.filter_conditions {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            other => {
                return Err(ApiError::input(format!(
                    "filter_conditions must be an object, got {other}"
                ))
                .in_operation(OP))
            }
        };
        let hidden = match filter_json.remove("hidden") {
            Some(Value::Bool(flag)) => Some(flag),
            Some(Value::Object(op)) => op.get("$eq").and_then(Value::as_bool),
            Some(other) => {
                return Err(ApiError::input(format!(
                    "field \"hidden\" expects a boolean, got {other}"
                ))
                .in_operation(OP))
            }
            None => viewer.as_ref().map(|_| false),
        };
        let mut filter = parse_filter(&Value::Object(filter_json), &eddy_store::schemas::CHANNELS)
            .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        if let (Actor::User(user), false) = (actor, false) {
            // Users see the channels they belong to.
            let membership = Filter::Compare {
                field: "members".into(),
                op: Op::In,
                value: json!([user.id]),
            };
            filter = Filter::And(vec![filter, membership]);
        }
        let multi_tenant = self.multi_tenant(app).await?;
        if let Some(teams) = crate::teams::confined_teams(multi_tenant, actor) {
            filter = Filter::And(vec![filter, crate::teams::channel_condition(&teams)]);
        }
        let sort = parse_sort(
            request.sort.as_ref(),
            &[
                "last_message_at",
                "last_updated",
                "created_at",
                "updated_at",
                "member_count",
                "cid",
                "id",
                "pinned_at",
                "unread_count",
                "has_unread",
            ],
            true,
        )
        .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let query = ChannelQuery {
            query: ListQuery {
                filter,
                sort,
                limit: request.limit.unwrap_or(10).clamp(0, 30),
                offset: request.offset.unwrap_or(0).clamp(0, 1000),
            },
            viewer: viewer.as_ref().map(|u| u.id.clone()),
            hidden,
        };
        let channels = self
            .store
            .query_channels(app, &query)
            .await
            .map_err(store_error(OP))?;
        let page = MessagePage {
            limit: request
                .message_limit
                .unwrap_or(DEFAULT_MESSAGE_LIMIT)
                .clamp(0, MAX_MESSAGE_LIMIT),
            ..MessagePage::default()
        };
        let member_limit = request.member_limit.unwrap_or(100).clamp(0, 100);
        let cids: Vec<String> = channels.iter().map(|c| c.cid.clone()).collect();
        let memberships: HashMap<String, Member> = match &viewer {
            Some(user) => self
                .store
                .members_of(app, &cids, Some(&user.id))
                .await
                .map_err(store_error(OP))?
                .into_iter()
                .map(|m| (m.cid.clone(), m))
                .collect(),
            None => HashMap::new(),
        };
        let mut configs: HashMap<String, ChannelConfig> = HashMap::new();
        let mut contexts = Vec::with_capacity(channels.len());
        for channel in channels {
            if !configs.contains_key(&channel.kind) {
                configs.insert(
                    channel.kind.clone(),
                    self.channel_type_config(app, &channel.kind, OP).await?,
                );
            }
            let base = configs.get(&channel.kind).cloned().unwrap_or_default();
            let context = ChannelContext {
                config: effective_config(&base, &channel),
                membership: memberships.get(&channel.cid).cloned(),
                channel,
                multi_tenant,
            };
            if request.watch {
                self.watch_channel(app, &context.channel, viewer.as_ref(), connection_id)
                    .await;
            }
            contexts.push(context);
        }
        let shown_viewer =
            if actor.is_server() && request.user_id.is_none() && request.user.is_none() {
                None
            } else {
                viewer.as_ref()
            };
        let states = self
            .channel_states(app, &contexts, shown_viewer, &page, member_limit)
            .await?;
        if request.presence && !cids.is_empty() {
            let members = self
                .store
                .members_of(app, &cids, None)
                .await
                .map_err(store_error(OP))?;
            let ids: Vec<String> = members.into_iter().map(|m| m.user_id).collect();
            self.follow_presence(app, viewer.as_ref(), connection_id, &ids);
        }
        #[derive(serde::Serialize)]
        struct Page {
            channels: Vec<Box<RawValue>>,
        }
        to_raw_value(&Page { channels: states })
            .map_err(|e| unexpected("channel page did not serialise", e))
    }

    pub async fn update_channel(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: UpdateChannel,
    ) -> ChatResult<Value> {
        const OP: &str = "UpdateChannel";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        let unsupported = [
            ("add_filter_tags", !request.add_filter_tags.is_empty()),
            ("remove_filter_tags", !request.remove_filter_tags.is_empty()),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, used)| *used) {
            return Err(
                ApiError::input(format!("{name} is not supported by this server yet"))
                    .in_operation(OP),
            );
        }
        let acting = self
            .acting_user(
                app,
                actor,
                request.user_id.as_deref(),
                request.user.as_ref(),
            )
            .await?;
        let context = self.channel_context(app, &cid, acting.as_ref(), OP).await?;
        let owner = Self::is_creator(&context, acting.as_ref());
        let mut channel = context.channel.clone();
        if let Some(data) = &request.data {
            self.require(
                &context,
                actor,
                acting.as_ref(),
                "update-channel",
                owner,
                OP,
            )?;
            let mut custom = Map::new();
            for (key, value) in data {
                if !RESERVED_CHANNEL_KEYS.contains(&key.as_str()) {
                    custom.insert(key.clone(), value.clone());
                }
            }
            if actor.is_server() {
                if let Some(overrides) = channel
                    .doc
                    .get("config_overrides")
                    .filter(|_| !custom.contains_key("config_overrides"))
                {
                    custom.insert("config_overrides".into(), overrides.clone());
                }
            } else {
                custom.remove("config_overrides");
                if let Some(overrides) = channel.doc.get("config_overrides") {
                    custom.insert("config_overrides".into(), overrides.clone());
                }
            }
            check_size("channel", &custom).map_err(|e| e.in_operation(OP))?;
            if let Some(frozen) = data.get("frozen").and_then(Value::as_bool) {
                if frozen != channel.frozen {
                    self.require(
                        &context,
                        actor,
                        acting.as_ref(),
                        "update-channel-frozen",
                        owner,
                        OP,
                    )?;
                }
                channel.frozen = frozen;
            }
            if let Some(disabled) = data.get("disabled").and_then(Value::as_bool) {
                channel.disabled = disabled;
            }
            channel.doc = custom;
        }
        if let Some(cooldown) = request.cooldown {
            if !(0..=120).contains(&cooldown) {
                return Err(
                    ApiError::input("cooldown must be between 0 and 120 seconds").in_operation(OP),
                );
            }
            self.require(
                &context,
                actor,
                acting.as_ref(),
                "update-channel-cooldown",
                owner,
                OP,
            )?;
            channel.doc.insert("cooldown".into(), json!(cooldown));
        }
        let data_changed = request.data.is_some() || request.cooldown.is_some();
        if data_changed {
            channel.updated_at = Utc::now();
            channel = self
                .store
                .update_channel(app, &channel)
                .await
                .map_err(store_error(OP))?;
        }
        let membership_change = !request.add_members.is_empty()
            || !request.remove_members.is_empty()
            || !request.invites.is_empty();
        if membership_change {
            self.require(
                &context,
                actor,
                acting.as_ref(),
                "update-channel-members",
                owner,
                OP,
            )?;
        }
        if (!request.add_moderators.is_empty()
            || !request.demote_moderators.is_empty()
            || !request.assign_roles.is_empty())
            && !actor.is_server()
        {
            return Err(ApiError::not_allowed(
                "only server-side calls may change moderators and channel roles",
            )
            .in_operation(OP));
        }
        let mut role_changes: Vec<(String, String)> = request
            .add_moderators
            .iter()
            .map(|id| (id.clone(), "channel_moderator".to_owned()))
            .chain(
                request
                    .demote_moderators
                    .iter()
                    .map(|id| (id.clone(), "channel_member".to_owned())),
            )
            .collect();
        if !request.assign_roles.is_empty() {
            let assigned = self
                .parse_role_assignments(app, &cid, &request.assign_roles)
                .await
                .map_err(|e| e.in_operation(OP))?;
            role_changes.extend(assigned);
        }
        if request.accept_invite || request.reject_invite {
            let user = acting.as_ref().ok_or_else(|| {
                ApiError::input("user_id is required to accept or reject an invite server-side")
                    .in_operation(OP)
            })?;
            self.answer_invite(app, &context, user, request.accept_invite)
                .await?;
        }
        let mut to_add = member_inputs(&cid, &request.add_members);
        for mut invited in member_inputs(&cid, &request.invites) {
            invited.doc.insert("invited".into(), json!(true));
            to_add.push(invited);
        }
        // New members may start without the history before they joined (or before a given time).
        let hide_before = match &request.hide_history_before {
            Some(value) => Some(
                value
                    .as_str()
                    .and_then(eddy_protocol::time::parse)
                    .ok_or_else(|| {
                        ApiError::input("hide_history_before must be an RFC 3339 timestamp")
                            .in_operation(OP)
                    })?,
            ),
            None if request.hide_history => Some(Utc::now()),
            None => None,
        };
        for member in &mut to_add {
            member.hide_messages_before = hide_before;
        }
        if !to_add.is_empty() {
            for member in &to_add {
                self.user_or_create(app, &member.user_id)
                    .await
                    .map_err(|e| e.in_operation(OP))?;
            }
            let mut added = self
                .store
                .add_members(app, &cid, &to_add)
                .await
                .map_err(store_error(OP))?;
            self.restore_channel_bans(app, &cid, &mut added).await?;
            channel = self
                .store
                .channel(app, &cid)
                .await
                .map_err(store_error(OP))?
                .unwrap_or(channel);
            self.announce_new_members(app, &channel, &context.config, &added)
                .await?;
        }
        if !request.remove_members.is_empty() {
            let removed = self
                .store
                .remove_members(app, &cid, &request.remove_members)
                .await
                .map_err(store_error(OP))?;
            channel = self
                .store
                .channel(app, &cid)
                .await
                .map_err(store_error(OP))?
                .unwrap_or(channel);
            self.announce_removed_members(app, &channel, &context.config, &removed)
                .await?;
        }
        if !role_changes.is_empty() {
            let members = self
                .store
                .members_of(app, std::slice::from_ref(&cid), None)
                .await
                .map_err(store_error(OP))?;
            for (user_id, role) in &role_changes {
                let Some(member) = members.iter().find(|m| &m.user_id == user_id) else {
                    continue;
                };
                let updated = self
                    .store
                    .update_member(
                        app,
                        &Member {
                            channel_role: role.clone(),
                            updated_at: Utc::now(),
                            ..member.clone()
                        },
                    )
                    .await
                    .map_err(store_error(OP))?;
                self.announce_member_updated(app, &channel, &updated)
                    .await?;
            }
        }
        let mut message_json = None;
        if let Some(message) = request.message.clone() {
            let acting = self
                .message_author(app, actor, &message, acting.as_ref())
                .await?;
            let sent = self
                .send_message_in(
                    app,
                    actor,
                    &context_with(channel.clone(), &context),
                    acting.as_ref(),
                    message,
                    true,
                )
                .await?;
            message_json = Some(sent);
        }
        let members = self
            .store
            .members(app, &cid, 100, 0)
            .await
            .map_err(store_error(OP))?;
        let mut ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        ids.extend(channel.created_by.iter().cloned());
        let users = self.load_users(app, ids).await?;
        if data_changed {
            let mut event = channel_event(ev::CHANNEL_UPDATED, &channel);
            event.insert(
                "channel".into(),
                render::channel(&channel, &context.config, &users, None),
            );
            if let Some(acting) = &acting {
                event.insert(
                    "user".into(),
                    render::user(acting, self.hub.is_online(app, &acting.id)),
                );
            }
            self.publish(
                app,
                vec![Audience::Watchers { cid: cid.clone() }],
                event,
                Vec::new(),
            )
            .await;
        }
        let mut response = json!({
            "channel": render::channel(&channel, &context.config, &users, None),
            "members": members.iter().map(|m| render::member(m, &users)).collect::<Vec<_>>(),
        });
        if let Some(message) = message_json {
            response["message"] = message;
        }
        Ok(response)
    }

    /// `accept_invite` / `reject_invite` for the acting user; repeating an answer changes nothing.
    async fn answer_invite(
        &self,
        app: AppId,
        context: &ChannelContext,
        user: &User,
        accept: bool,
    ) -> ChatResult<()> {
        const OP: &str = "UpdateChannel";
        let mut member = context
            .membership
            .clone()
            .filter(|m| m.doc.get("invited").and_then(Value::as_bool) == Some(true))
            .ok_or_else(|| {
                ApiError::input(format!(
                    "user {} has no invite to {}",
                    user.id, context.channel.cid
                ))
                .in_operation(OP)
            })?;
        let (stamp, kind) = if accept {
            ("invite_accepted_at", "notification.invite_accepted")
        } else {
            ("invite_rejected_at", "notification.invite_rejected")
        };
        if member.doc.contains_key("invite_accepted_at")
            || member.doc.contains_key("invite_rejected_at")
        {
            return Ok(());
        }
        let now = Utc::now();
        member
            .doc
            .insert(stamp.into(), json!(eddy_protocol::time::format(&now)));
        member.updated_at = now;
        let member = self
            .store
            .update_member(app, &member)
            .await
            .map_err(store_error(OP))?;
        self.announce_member_updated(app, &context.channel, &member)
            .await?;
        let users = self
            .load_users(
                app,
                context
                    .channel
                    .created_by
                    .iter()
                    .cloned()
                    .chain([user.id.clone()])
                    .collect(),
            )
            .await?;
        let mut event = channel_event(kind, &context.channel);
        event.insert(
            "channel".into(),
            render::channel(&context.channel, &context.config, &users, None),
        );
        event.insert("member".into(), render::member(&member, &users));
        event.insert("user".into(), users.get(&user.id));
        self.publish(
            app,
            vec![Audience::Users {
                user_ids: vec![user.id.clone()],
            }],
            event,
            Vec::new(),
        )
        .await;
        Ok(())
    }

    async fn announce_removed_members(
        &self,
        app: AppId,
        channel: &Channel,
        config: &ChannelConfig,
        removed: &[Member],
    ) -> ChatResult<()> {
        let users = self
            .load_users(
                app,
                removed
                    .iter()
                    .map(|m| m.user_id.clone())
                    .chain(channel.created_by.clone())
                    .collect(),
            )
            .await?;
        for member in removed {
            let mut event = channel_event(ev::MEMBER_REMOVED, channel);
            event.insert("member".into(), render::member(member, &users));
            event.insert("user".into(), users.get(&member.user_id));
            self.publish(
                app,
                vec![Audience::Watchers {
                    cid: channel.cid.clone(),
                }],
                event,
                Vec::new(),
            )
            .await;
            let mut notification = channel_event(ev::NOTIFICATION_REMOVED_FROM_CHANNEL, channel);
            notification.insert(
                "channel".into(),
                render::channel(channel, config, &users, None),
            );
            notification.insert("member".into(), render::member(member, &users));
            notification.insert("user".into(), users.get(&member.user_id));
            self.publish(
                app,
                vec![Audience::Users {
                    user_ids: vec![member.user_id.clone()],
                }],
                notification,
                Vec::new(),
            )
            .await;
        }
        Ok(())
    }

    async fn announce_member_updated(
        &self,
        app: AppId,
        channel: &Channel,
        member: &Member,
    ) -> ChatResult<()> {
        let users = self.load_users(app, vec![member.user_id.clone()]).await?;
        let mut event = channel_event(ev::MEMBER_UPDATED, channel);
        event.insert("member".into(), render::member(member, &users));
        event.insert("user".into(), users.get(&member.user_id));
        self.publish(
            app,
            vec![
                Audience::Watchers {
                    cid: channel.cid.clone(),
                },
                Audience::Users {
                    user_ids: vec![member.user_id.clone()],
                },
            ],
            event,
            Vec::new(),
        )
        .await;
        Ok(())
    }

    pub async fn update_channel_partial(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: PartialUpdate,
    ) -> ChatResult<Value> {
        const OP: &str = "UpdateChannelPartial";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        let acting = self
            .acting_user(
                app,
                actor,
                request.user_id.as_deref(),
                request.user.as_ref(),
            )
            .await?;
        let context = self.channel_context(app, &cid, acting.as_ref(), OP).await?;
        let owner = Self::is_creator(&context, acting.as_ref());
        self.require(
            &context,
            actor,
            acting.as_ref(),
            "update-channel",
            owner,
            OP,
        )?;
        if !actor.is_server()
            && (request.set.contains_key("config_overrides")
                || request.unset.iter().any(|k| k == "config_overrides"))
        {
            return Err(
                ApiError::not_allowed("config_overrides can only be set server-side")
                    .in_operation(OP),
            );
        }
        let mut channel = context.channel.clone();
        let mut set = request.set.clone();
        if let Some(frozen) = set.remove("frozen") {
            channel.frozen = frozen
                .as_bool()
                .ok_or_else(|| ApiError::input("frozen must be a boolean").in_operation(OP))?;
        }
        if let Some(disabled) = set.remove("disabled") {
            channel.disabled = disabled
                .as_bool()
                .ok_or_else(|| ApiError::input("disabled must be a boolean").in_operation(OP))?;
        }
        if let Some(key) = set
            .keys()
            .chain(request.unset.iter())
            .find(|k| RESERVED_CHANNEL_KEYS.contains(&k.as_str()))
        {
            return Err(ApiError::input(format!(
                "field {key:?} is reserved and cannot be updated"
            ))
            .in_operation(OP));
        }
        apply_partial(&mut channel.doc, &set, &request.unset).map_err(|e| e.in_operation(OP))?;
        check_size("channel", &channel.doc).map_err(|e| e.in_operation(OP))?;
        channel.updated_at = Utc::now();
        let channel = self
            .store
            .update_channel(app, &channel)
            .await
            .map_err(store_error(OP))?;
        let config = effective_config(&self.channel_type_config(app, kind, OP).await?, &channel);
        let members = self
            .store
            .members(app, &cid, 100, 0)
            .await
            .map_err(store_error(OP))?;
        let users = self
            .load_users(
                app,
                members
                    .iter()
                    .map(|m| m.user_id.clone())
                    .chain(channel.created_by.clone())
                    .collect(),
            )
            .await?;
        let mut event = channel_event(ev::CHANNEL_UPDATED, &channel);
        event.insert(
            "channel".into(),
            render::channel(&channel, &config, &users, None),
        );
        self.publish(
            app,
            vec![Audience::Watchers { cid: cid.clone() }],
            event,
            Vec::new(),
        )
        .await;
        Ok(json!({
            "channel": render::channel(&channel, &config, &users, None),
            "members": members.iter().map(|m| render::member(m, &users)).collect::<Vec<_>>(),
        }))
    }

    pub async fn delete_channel(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        hard: bool,
    ) -> ChatResult<Value> {
        const OP: &str = "DeleteChannel";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        let acting = self.acting_user(app, actor, None, None).await?;
        let context = self.channel_context(app, &cid, acting.as_ref(), OP).await?;
        let owner = Self::is_creator(&context, acting.as_ref());
        self.require(
            &context,
            actor,
            acting.as_ref(),
            "delete-channel",
            owner,
            OP,
        )?;
        let channel = self.delete_channel_by_cid(app, &cid, hard).await?;
        let users = self
            .load_users(app, channel.created_by.iter().cloned().collect())
            .await?;
        Ok(json!({ "channel": render::channel(&channel, &context.config, &users, None) }))
    }

    pub(crate) async fn delete_channel_by_cid(
        &self,
        app: AppId,
        cid: &str,
        hard: bool,
    ) -> ChatResult<Channel> {
        let members = self
            .store
            .members(app, cid, 10_000, 0)
            .await
            .map_err(store_error("DeleteChannel"))?;
        let channel = self
            .store
            .delete_channel(app, cid, hard, Utc::now())
            .await
            .map_err(store_error("DeleteChannel"))?;
        let config = self
            .channel_type_config(app, &channel.kind, "DeleteChannel")
            .await
            .unwrap_or_default();
        let users = self
            .load_users(app, channel.created_by.iter().cloned().collect())
            .await?;
        let channel_json = render::channel(&channel, &config, &users, None);
        let mut event = channel_event(ev::CHANNEL_DELETED, &channel);
        event.insert("channel".into(), channel_json.clone());
        self.publish(
            app,
            vec![Audience::Watchers {
                cid: cid.to_owned(),
            }],
            event,
            Vec::new(),
        )
        .await;
        let member_ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        let mut notification = channel_event(ev::NOTIFICATION_CHANNEL_DELETED, &channel);
        notification.insert("channel".into(), channel_json);
        let personal = self.unread_totals_for(app, &member_ids).await;
        self.publish(
            app,
            vec![Audience::UsersNotWatching {
                cid: cid.to_owned(),
                user_ids: member_ids,
            }],
            notification,
            personal,
        )
        .await;
        Ok(channel)
    }

    pub async fn delete_channels(&self, app: AppId, request: DeleteChannels) -> ChatResult<Value> {
        if request.cids.is_empty() || request.cids.len() > 100 {
            return Err(
                ApiError::input("cids must list 1 to 100 channels").in_operation("DeleteChannels")
            );
        }
        for cid in &request.cids {
            Cid::parse(cid)
                .map_err(|e| ApiError::input(e.to_string()).in_operation("DeleteChannels"))?;
        }
        // Channels leave queries at once; the task reports the outcome per channel.
        let mut result = Map::new();
        for cid in &request.cids {
            let status = match self
                .delete_channel_by_cid(app, cid, request.hard_delete)
                .await
            {
                Ok(_) => json!({"status": "ok"}),
                Err(error) => json!({"status": "error", "error": error.message}),
            };
            result.insert(cid.clone(), status);
        }
        let task_id = self.tasks.spawn(async move { Ok(Value::Object(result)) });
        Ok(json!({ "task_id": task_id }))
    }

    pub async fn truncate_channel(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: Truncate,
    ) -> ChatResult<Value> {
        const OP: &str = "TruncateChannel";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        let acting = self
            .acting_user(
                app,
                actor,
                request.user_id.as_deref(),
                request.user.as_ref(),
            )
            .await?;
        let context = self.channel_context(app, &cid, acting.as_ref(), OP).await?;
        let owner = Self::is_creator(&context, acting.as_ref());
        self.require(
            &context,
            actor,
            acting.as_ref(),
            "truncate-channel",
            owner,
            OP,
        )?;
        let at = match &request.truncated_at {
            Some(text) => eddy_protocol::time::parse(text).ok_or_else(|| {
                ApiError::input("truncated_at must be an RFC 3339 timestamp").in_operation(OP)
            })?,
            None => Utc::now(),
        };
        let channel = self
            .store
            .truncate_channel(app, &cid, at, request.hard_delete)
            .await
            .map_err(store_error(OP))?;
        let users = self
            .load_users(
                app,
                channel
                    .created_by
                    .iter()
                    .cloned()
                    .chain(acting.iter().map(|u| u.id.clone()))
                    .collect(),
            )
            .await?;
        let channel_json = render::channel(&channel, &context.config, &users, None);
        let mut event = channel_event(ev::CHANNEL_TRUNCATED, &channel);
        event.insert("channel".into(), channel_json.clone());
        if let Some(acting) = &acting {
            event.insert("user".into(), users.get(&acting.id));
        }
        self.publish(
            app,
            vec![Audience::Watchers { cid: cid.clone() }],
            event,
            Vec::new(),
        )
        .await;
        let mut response = json!({ "channel": channel_json });
        if let Some(message) = request.message {
            let acting = self
                .message_author(app, actor, &message, acting.as_ref())
                .await?;
            let context = context_with(channel, &context);
            response["message"] = self
                .send_message_in(app, actor, &context, acting.as_ref(), message, true)
                .await?;
        }
        Ok(response)
    }

    pub async fn set_hidden(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: ActingUser,
        hidden: bool,
    ) -> ChatResult<Value> {
        let op = if hidden { "HideChannel" } else { "ShowChannel" };
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(op))?;
        let user = self
            .required_user(
                app,
                actor,
                request.user_id.as_deref(),
                request.user.as_ref(),
                op,
            )
            .await?;
        let context = self.channel_context(app, &cid, Some(&user), op).await?;
        let membership = context.membership.clone().ok_or_else(|| {
            ApiError::not_allowed(format!("user {} is not a member of {cid}", user.id))
                .in_operation(op)
        })?;
        let now = Utc::now();
        let hide_before = if hidden && request.clear_history {
            Some(now)
        } else {
            membership.hide_messages_before
        };
        self.store
            .update_member(
                app,
                &Member {
                    hidden,
                    hide_messages_before: hide_before,
                    updated_at: now,
                    ..membership
                },
            )
            .await
            .map_err(store_error(op))?;
        let mut event = channel_event(
            if hidden {
                ev::CHANNEL_HIDDEN
            } else {
                ev::CHANNEL_VISIBLE
            },
            &context.channel,
        );
        event.insert(
            "user".into(),
            render::user(&user, self.hub.is_online(app, &user.id)),
        );
        if hidden {
            event.insert("clear_history".into(), json!(request.clear_history));
        }
        self.publish(
            app,
            vec![Audience::Users {
                user_ids: vec![user.id.clone()],
            }],
            event,
            Vec::new(),
        )
        .await;
        Ok(json!({}))
    }

    pub async fn stop_watching(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        connection_id: Option<&str>,
    ) -> ChatResult<Value> {
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation("StopWatchingChannel"))?;
        let (Some(user), Some(connection_id)) = (actor.user(), connection_id) else {
            return Ok(json!({}));
        };
        if self.hub.connection_user(app, connection_id).as_deref() != Some(user.id.as_str()) {
            return Ok(json!({}));
        }
        if let Some(change) = self.hub.stop_watching(app, connection_id, &cid) {
            if change.user_stopped {
                if let Some(channel) = self
                    .store
                    .channel(app, &cid)
                    .await
                    .map_err(store_error("StopWatchingChannel"))?
                {
                    let mut event = channel_event(ev::USER_WATCHING_STOP, &channel);
                    event.insert("user".into(), render::user(user, true));
                    event.insert("watcher_count".into(), json!(change.watcher_count));
                    self.publish(app, vec![Audience::Watchers { cid }], event, Vec::new())
                        .await;
                }
            }
        }
        Ok(json!({}))
    }

    /// `GET /members`: members of one channel by filter, sort and page.
    pub async fn query_members(
        &self,
        app: AppId,
        actor: &Actor,
        request: QueryMembers,
    ) -> ChatResult<Value> {
        const OP: &str = "QueryMembers";
        let id = match (&request.id, &request.members) {
            (Some(id), _) => id.clone(),
            (None, Some(members)) if !members.is_empty() => distinct_id(
                &members
                    .iter()
                    .map(|m| m.user_id().to_owned())
                    .collect::<Vec<_>>(),
            ),
            _ => {
                return Err(
                    ApiError::input("id, or members for a distinct channel, is required")
                        .in_operation(OP),
                )
            }
        };
        let cid = parse_cid(&request.kind, &id).map_err(|e| e.in_operation(OP))?;
        let viewer = self
            .acting_user(app, actor, request.user_id.as_deref(), None)
            .await?;
        let context = self.channel_context(app, &cid, viewer.as_ref(), OP).await?;
        let owner = Self::is_creator(&context, viewer.as_ref());
        self.require(
            &context,
            actor,
            viewer.as_ref(),
            "read-channel-members",
            owner,
            OP,
        )?;
        let filter = parse_filter(&request.filter_conditions, &eddy_store::schemas::MEMBERS)
            .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let sort = parse_sort(
            request.sort.as_ref(),
            &["created_at", "updated_at", "user_id", "name", "last_active"],
            true,
        )
        .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let query = ListQuery {
            filter,
            sort,
            limit: request.limit.unwrap_or(100).clamp(1, 300),
            offset: request.offset.unwrap_or(0).clamp(0, 10_000),
        };
        let members = self
            .store
            .query_members(app, &cid, &query)
            .await
            .map_err(store_error(OP))?;
        let users = self
            .load_users(app, members.iter().map(|m| m.user_id.clone()).collect())
            .await?;
        Ok(
            json!({ "members": members.iter().map(|m| member_for(m, &users, viewer.as_ref())).collect::<Vec<_>>() }),
        )
    }

    pub async fn update_member_partial(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        user_id: &str,
        request: PartialUpdate,
    ) -> ChatResult<Value> {
        const OP: &str = "UpdateMemberPartial";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        if let Actor::User(me) = actor {
            if me.id != user_id {
                return Err(ApiError::not_allowed(format!(
                    "user {} may only update their own membership",
                    me.id
                ))
                .in_operation(OP));
            }
            if request.set.contains_key("channel_role") {
                return Err(
                    ApiError::not_allowed("channel_role can only be changed server-side")
                        .in_operation(OP),
                );
            }
        }
        let target = self.user(app, user_id).await?.ok_or_else(|| {
            ApiError::not_found(format!("user {user_id} does not exist")).in_operation(OP)
        })?;
        let context = self.channel_context(app, &cid, Some(&target), OP).await?;
        let mut member = context.membership.clone().ok_or_else(|| {
            ApiError::not_found(format!("user {user_id} is not a member of {cid}")).in_operation(OP)
        })?;
        let mut set = request.set.clone();
        // Ban state changes only through bans.
        strip_ban_keys(&mut set);
        let unset: Vec<String> = request
            .unset
            .iter()
            .filter(|k| !eddy_store::BAN_MIRROR_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        if let Some(role) = set.remove("channel_role") {
            member.channel_role = role
                .as_str()
                .ok_or_else(|| ApiError::input("channel_role must be a string").in_operation(OP))?
                .to_owned();
        }
        let now = Utc::now();
        for (flag, stamp) in [("pinned", "pinned_at"), ("archived", "archived_at")] {
            if let Some(value) = set.remove(flag) {
                match value.as_bool() {
                    Some(true) => {
                        member
                            .doc
                            .insert(stamp.into(), json!(eddy_protocol::time::format(&now)));
                    }
                    Some(false) => {
                        member.doc.remove(stamp);
                    }
                    None => {
                        return Err(
                            ApiError::input(format!("{flag} must be a boolean")).in_operation(OP)
                        )
                    }
                }
            }
        }
        apply_partial(&mut member.doc, &set, &unset).map_err(|e| e.in_operation(OP))?;
        check_size("member", &member.doc).map_err(|e| e.in_operation(OP))?;
        member.updated_at = now;
        let updated = self
            .store
            .update_member(app, &member)
            .await
            .map_err(store_error(OP))?;
        self.announce_member_updated(app, &context.channel, &updated)
            .await?;
        let users = self.load_users(app, vec![updated.user_id.clone()]).await?;
        Ok(json!({ "channel_member": render::member(&updated, &users) }))
    }

    pub async fn mark_read(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: ActingUser,
    ) -> ChatResult<Value> {
        const OP: &str = "MarkRead";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        let user = self
            .required_user(
                app,
                actor,
                request.user_id.as_deref(),
                request.user.as_ref(),
                OP,
            )
            .await?;
        let context = self.channel_context(app, &cid, Some(&user), OP).await?;
        if !context.config.read_events || context.membership.is_none() {
            return Ok(json!({ "event": Value::Null }));
        }
        let event = self
            .mark_channel_read(app, &context.channel, &user, request.message_id.as_deref())
            .await?;
        Ok(json!({ "event": event }))
    }

    /// Marks one channel read for a member and publishes `message.read` and `notification.mark_read`.
    async fn mark_channel_read(
        &self,
        app: AppId,
        channel: &Channel,
        user: &User,
        message_id: Option<&str>,
    ) -> ChatResult<Value> {
        let now = Utc::now();
        let member = self
            .store
            .mark_read(app, &channel.cid, &user.id, now, message_id)
            .await
            .map_err(store_error("MarkRead"))?;
        let user_json = render::user(user, self.hub.is_online(app, &user.id));
        let mut event = channel_event(ev::MESSAGE_READ, channel);
        event.insert(
            "created_at".into(),
            json!(eddy_protocol::time::format(&now)),
        );
        event.insert("user".into(), user_json.clone());
        event.insert(
            "last_read_message_id".into(),
            json!(member.as_ref().and_then(|m| m.last_read_message_id.clone())),
        );
        // With read receipts off, only the reader's own watching connections learn of the read.
        let audience = if privacy_off(user, "read_receipts") {
            Audience::UsersWatching {
                cid: channel.cid.clone(),
                user_ids: vec![user.id.clone()],
            }
        } else {
            Audience::Watchers {
                cid: channel.cid.clone(),
            }
        };
        self.publish(app, vec![audience], event.clone(), Vec::new())
            .await;
        let mut notification = channel_event(ev::NOTIFICATION_MARK_READ, channel);
        let config = self
            .channel_type_config(app, &channel.kind, "MarkRead")
            .await
            .unwrap_or_default();
        let users = self
            .load_users(app, channel.created_by.iter().cloned().collect())
            .await?;
        notification.insert(
            "channel".into(),
            render::channel(channel, &config, &users, None),
        );
        notification.insert("user".into(), user_json);
        notification.insert(
            "last_read_message_id".into(),
            event
                .get("last_read_message_id")
                .cloned()
                .unwrap_or(Value::Null),
        );
        notification.extend(self.unread_totals(app, &user.id).await);
        self.publish(
            app,
            vec![Audience::Users {
                user_ids: vec![user.id.clone()],
            }],
            notification,
            Vec::new(),
        )
        .await;
        Ok(Value::Object(event))
    }

    /// `POST /channels/{type}/{id}/unread`: unread again from a message (or the first one at a time).
    pub async fn mark_unread(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: MarkUnread,
    ) -> ChatResult<Value> {
        const OP: &str = "MarkUnread";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        if request.thread_id.is_some() {
            return Err(ApiError::input(
                "marking threads unread is not supported by this server yet",
            )
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
        let context = self.channel_context(app, &cid, Some(&user), OP).await?;
        if context.membership.is_none() {
            return Err(ApiError::not_allowed(format!(
                "user {} is not a member of {cid}",
                user.id
            ))
            .in_operation(OP));
        }
        let from = match (&request.message_id, &request.message_timestamp) {
            (Some(message_id), _) => self
                .store
                .message(app, message_id)
                .await
                .map_err(store_error(OP))?
                .filter(|m| m.cid == cid),
            (None, Some(text)) => {
                let at = eddy_protocol::time::parse(text).ok_or_else(|| {
                    ApiError::input("message_timestamp must be an RFC 3339 timestamp")
                        .in_operation(OP)
                })?;
                let page = MessagePage {
                    limit: 1,
                    created_at_after: Some(at - chrono::Duration::microseconds(1)),
                    ..MessagePage::default()
                };
                self.store
                    .channel_messages(app, &cid, &page, None)
                    .await
                    .map_err(store_error(OP))?
                    .pop()
            }
            (None, None) => {
                return Err(ApiError::input(
                    "one of message_id, message_timestamp or thread_id is required",
                )
                .in_operation(OP))
            }
        };
        let from = from.ok_or_else(|| {
            ApiError::not_found("the message to mark unread from does not exist in this channel")
                .in_operation(OP)
        })?;
        let member = self
            .store
            .mark_unread(app, &cid, &user.id, &from)
            .await
            .map_err(store_error(OP))?
            .ok_or_else(ApiError::internal)?;
        let mut event = channel_event("notification.mark_unread", &context.channel);
        event.insert(
            "user".into(),
            render::user(&user, self.hub.is_online(app, &user.id)),
        );
        event.insert("first_unread_message_id".into(), json!(from.id));
        event.insert(
            "last_read_message_id".into(),
            json!(member.last_read_message_id),
        );
        event.insert(
            "last_read_at".into(),
            json!(eddy_protocol::time::format(&member.last_read)),
        );
        event.insert("unread_messages".into(), json!(member.unread_messages));
        event.extend(self.unread_totals(app, &user.id).await);
        self.publish(
            app,
            vec![Audience::Users {
                user_ids: vec![user.id.clone()],
            }],
            event,
            Vec::new(),
        )
        .await;
        Ok(json!({}))
    }

    pub async fn mark_channels_read(
        &self,
        app: AppId,
        actor: &Actor,
        request: MarkChannelsRead,
    ) -> ChatResult<Value> {
        const OP: &str = "MarkChannelsRead";
        let user = self
            .required_user(
                app,
                actor,
                request.user_id.as_deref(),
                request.user.as_ref(),
                OP,
            )
            .await?;
        let targets: Vec<(String, Option<String>)> = match &request.read_by_channel {
            Some(map) if !map.is_empty() => map
                .iter()
                .map(|(cid, id)| (cid.clone(), id.as_str().map(str::to_owned)))
                .collect(),
            _ => self
                .store
                .unread_channels(app, &user.id)
                .await
                .map_err(store_error(OP))?
                .into_iter()
                .map(|c| (c.cid, None))
                .collect(),
        };
        for (cid, message_id) in targets {
            if let Some(channel) = self
                .store
                .channel(app, &cid)
                .await
                .map_err(store_error(OP))?
                .filter(|c| c.deleted_at.is_none())
            {
                self.mark_channel_read(app, &channel, &user, message_id.as_deref())
                    .await?;
            }
        }
        let mut all_read = user_event(ev::NOTIFICATION_MARK_READ);
        all_read.insert(
            "user".into(),
            render::user(&user, self.hub.is_online(app, &user.id)),
        );
        all_read.extend(self.unread_totals(app, &user.id).await);
        self.publish(
            app,
            vec![Audience::Users {
                user_ids: vec![user.id.clone()],
            }],
            all_read,
            Vec::new(),
        )
        .await;
        Ok(json!({}))
    }

    /// `POST /channels/{type}/{id}/event`: typing and custom events, stamped and sent to watchers.
    pub async fn send_event(
        &self,
        app: AppId,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: SendEvent,
    ) -> ChatResult<Value> {
        const OP: &str = "SendEvent";
        let cid = parse_cid(kind, id).map_err(|e| e.in_operation(OP))?;
        let mut event = request.event;
        let event_type = event
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::input("event.type is required").in_operation(OP))?;
        let user = self
            .required_user(
                app,
                actor,
                event.get("user_id").and_then(Value::as_str),
                None,
                OP,
            )
            .await?;
        let context = self.channel_context(app, &cid, Some(&user), OP).await?;
        let owner = Self::is_creator(&context, Some(&user));
        let typing = event_type == ev::TYPING_START || event_type == ev::TYPING_STOP;
        if typing {
            if !context.config.typing_events {
                return Err(ApiError::new(
                    eddy_protocol::ErrorCode::ChannelFeatureNotSupported,
                    "typing events are disabled for this channel type",
                )
                .in_operation(OP));
            }
            self.require(&context, actor, Some(&user), "read-channel", owner, OP)?;
        } else if eddy_protocol::event::is_server_only(&event_type) {
            return Err(ApiError::new(
                eddy_protocol::ErrorCode::EventNotSupported,
                format!("event type {event_type} cannot be sent by clients"),
            )
            .in_operation(OP));
        } else {
            if !context.config.custom_events {
                return Err(ApiError::new(
                    eddy_protocol::ErrorCode::ChannelFeatureNotSupported,
                    "custom events are disabled for this channel type",
                )
                .in_operation(OP));
            }
            self.require(&context, actor, Some(&user), "send-custom-event", owner, OP)?;
        }
        event.remove("user_id");
        event.extend(channel_event(&event_type, &context.channel));
        event.insert(
            "user".into(),
            render::user(&user, self.hub.is_online(app, &user.id)),
        );
        let typing_hidden = privacy_off(&user, "typing_indicators");
        if !(typing && typing_hidden) {
            self.publish(
                app,
                vec![Audience::Watchers { cid }],
                event.clone(),
                Vec::new(),
            )
            .await;
        }
        Ok(json!({ "event": event }))
    }
}

impl Chat {
    /// Who a system message in an update or truncate speaks as: its own `user_id`/`user`, else the actor.
    async fn message_author(
        &self,
        app: AppId,
        actor: &Actor,
        message: &MessageInput,
        acting: Option<&User>,
    ) -> ChatResult<Option<User>> {
        match (
            actor,
            message
                .user_id
                .as_deref()
                .or(message.user.as_ref().map(|u| u.id.as_str())),
        ) {
            (Actor::Server, Some(id)) => Ok(Some(self.user_or_create(app, id).await?)),
            _ => Ok(acting.cloned()),
        }
    }
}

fn blank_channel(cid: &str, kind: &str, id: &str) -> Channel {
    let now = Utc::now();
    Channel {
        cid: cid.to_owned(),
        kind: kind.to_owned(),
        id: id.to_owned(),
        created_by: None,
        doc: Map::new(),
        frozen: false,
        disabled: false,
        member_count: 0,
        created_at: now,
        updated_at: now,
        last_message_at: None,
        truncated_at: None,
        deleted_at: None,
    }
}

fn context_with(channel: Channel, context: &ChannelContext) -> ChannelContext {
    ChannelContext {
        channel,
        config: context.config.clone(),
        membership: context.membership.clone(),
        multi_tenant: context.multi_tenant,
    }
}
