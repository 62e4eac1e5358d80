//! Request bodies as the SDKs send them, parsed at the edge; unknown keys are custom data where Stream allows it.

use serde::Deserialize;
use serde_json::{Map, Value};

/// `{"id": ...}` as SDKs send for `user` fields.
#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    pub id: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct UpsertUsers {
    pub users: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct PartialUser {
    pub id: String,
    #[serde(default)]
    pub set: Map<String, Value>,
    #[serde(default)]
    pub unset: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct UpdateUsersPartial {
    pub users: Vec<PartialUser>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueryUsers {
    pub filter_conditions: Value,
    pub sort: Option<Value>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub presence: bool,
    pub include_deactivated_users: bool,
}

/// A member as given in `members`/`add_members`: an id or an object with role and custom data.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MemberInput {
    Id(String),
    Object {
        user_id: String,
        #[serde(default)]
        channel_role: Option<String>,
        #[serde(flatten)]
        custom: Map<String, Value>,
    },
}

impl MemberInput {
    pub fn user_id(&self) -> &str {
        match self {
            MemberInput::Id(id) => id,
            MemberInput::Object { user_id, .. } => user_id,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChannelData {
    pub created_by_id: Option<String>,
    pub created_by: Option<UserRef>,
    pub members: Option<Vec<MemberInput>>,
    pub frozen: Option<bool>,
    pub disabled: Option<bool>,
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct MessagePagination {
    pub limit: Option<i64>,
    pub id_lt: Option<String>,
    pub id_lte: Option<String>,
    pub id_gt: Option<String>,
    pub id_gte: Option<String>,
    pub created_at_before: Option<String>,
    pub created_at_after: Option<String>,
}

/// `GET /roles/search` (SearchRoles) query parameters.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct SearchRolesRequest {
    pub query: Option<String>,
    pub limit: Option<i64>,
    pub name_gt: Option<String>,
    pub role_type: Option<String>,
    pub include_global_roles: bool,
}

/// `GET /channels/{type}/{id}/pinned_messages`: the JS SDK's `payload` or the same keys as query
/// parameters. Times are RFC 3339 text or Unix nanoseconds (the v2 SDKs' numbers).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct PinnedMessagesRequest {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub id_lt: Option<String>,
    pub id_lte: Option<String>,
    pub id_gt: Option<String>,
    pub id_gte: Option<String>,
    pub id_around: Option<String>,
    pub pinned_at_after: Option<Value>,
    pub pinned_at_after_or_equal: Option<Value>,
    pub pinned_at_before: Option<Value>,
    pub pinned_at_before_or_equal: Option<Value>,
    pub pinned_at_around: Option<Value>,
    pub sort: Option<Value>,
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Pagination {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetOrCreateChannel {
    pub data: Option<ChannelData>,
    pub state: Option<bool>,
    pub watch: bool,
    pub presence: bool,
    pub messages: Option<MessagePagination>,
    pub members: Option<Pagination>,
    pub watchers: Option<Pagination>,
    pub hide_for_creator: bool,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
    /// Set by `GET /channels/{type}/{id}` (GetChannel): a missing channel is not created but
    /// answered as not found. Never read from a body.
    #[serde(skip)]
    pub existing_only: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueryChannels {
    pub filter_conditions: Value,
    pub sort: Option<Value>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub message_limit: Option<i64>,
    pub member_limit: Option<i64>,
    pub state: Option<bool>,
    pub watch: bool,
    pub presence: bool,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateChannel {
    pub data: Option<Map<String, Value>>,
    pub add_members: Vec<MemberInput>,
    pub remove_members: Vec<String>,
    pub add_moderators: Vec<String>,
    pub demote_moderators: Vec<String>,
    pub invites: Vec<MemberInput>,
    pub message: Option<MessageInput>,
    pub cooldown: Option<i64>,
    pub hide_history: bool,
    pub skip_push: bool,
    /// Operations eddy refuses with a clear error until their issue lands.
    pub accept_invite: bool,
    pub reject_invite: bool,
    pub assign_roles: Vec<Value>,
    pub add_filter_tags: Vec<Value>,
    pub remove_filter_tags: Vec<Value>,
    pub hide_history_before: Option<Value>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PartialUpdate {
    pub set: Map<String, Value>,
    pub unset: Vec<String>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Truncate {
    pub hard_delete: bool,
    pub skip_push: bool,
    pub message: Option<MessageInput>,
    pub truncated_at: Option<String>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActingUser {
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
    pub clear_history: bool,
    pub message_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MarkUnread {
    pub message_id: Option<String>,
    pub message_timestamp: Option<String>,
    pub thread_id: Option<String>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
}

#[derive(Debug, Deserialize)]
pub struct Undelete {
    pub undeleted_by: String,
}

/// `POST /channels/delivered`: the latest message the user's device received, per channel.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MarkDelivered {
    pub latest_delivered_messages: Vec<DeliveredMessage>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeliveredMessage {
    pub cid: String,
    pub id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MarkChannelsRead {
    pub read_by_channel: Option<Map<String, Value>>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct MessageInput {
    pub id: Option<String>,
    pub text: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub parent_id: Option<String>,
    pub show_in_channel: Option<bool>,
    pub quoted_message_id: Option<String>,
    pub mentioned_users: Vec<Value>,
    pub attachments: Option<Vec<Value>>,
    pub silent: Option<bool>,
    pub pinned: Option<bool>,
    pub pin_expires: Option<Value>,
    pub html: Option<String>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct SendMessage {
    pub message: MessageInput,
    #[serde(default)]
    pub skip_push: bool,
    #[serde(default)]
    pub keep_channel_hidden: bool,
}

#[derive(Debug, Deserialize)]
pub struct UpdateMessage {
    pub message: MessageInput,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReactionInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub score: Option<i64>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub user: Option<UserRef>,
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct SendReaction {
    pub reaction: ReactionInput,
    #[serde(default)]
    pub enforce_unique: bool,
}

#[derive(Debug, Deserialize)]
pub struct SendEvent {
    pub event: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteChannels {
    pub cids: Vec<String>,
    pub hard_delete: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateGuest {
    pub user: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueryMembers {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    pub members: Option<Vec<MemberInput>>,
    pub filter_conditions: Value,
    pub sort: Option<Value>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Search {
    pub filter_conditions: Value,
    pub query: Option<String>,
    pub message_filter_conditions: Option<Value>,
    pub sort: Option<Value>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub next: Option<String>,
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SyncRequest {
    pub channel_cids: Vec<String>,
    pub last_sync_at: String,
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MuteUsers {
    pub target_id: Option<String>,
    pub target_ids: Vec<String>,
    /// Minutes.
    pub timeout: Option<i64>,
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MuteChannels {
    pub channel_cid: Option<String>,
    pub channel_cids: Vec<String>,
    /// Milliseconds.
    pub expiration: Option<i64>,
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateDevice {
    pub id: String,
    pub push_provider: String,
    pub push_provider_name: Option<String>,
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueryThreads {
    pub filter: Value,
    pub sort: Option<Value>,
    pub limit: Option<i64>,
    pub reply_limit: Option<i64>,
    pub participant_limit: Option<i64>,
    pub member_limit: Option<i64>,
    pub watch: bool,
    pub next: Option<String>,
    pub prev: Option<String>,
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetThread {
    pub reply_limit: Option<i64>,
    pub participant_limit: Option<i64>,
    pub member_limit: Option<i64>,
    pub watch: bool,
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateThreadPartial {
    pub set: Map<String, Value>,
    pub unset: Vec<String>,
    pub user_id: Option<String>,
}

/// `POST /moderation/ban`, legacy (`user_id`/`user`, `type`+`id`) and v2 (`banned_by_id`/`banned_by`) names alike.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BanUser {
    pub target_user_id: Option<String>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
    pub banned_by_id: Option<String>,
    pub banned_by: Option<UserRef>,
    pub channel_cid: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    /// Minutes; absent means permanent.
    pub timeout: Option<Value>,
    pub reason: Option<String>,
    pub shadow: Option<bool>,
    pub ip_ban: Option<bool>,
    /// Options eddy refuses by name rather than ignore.
    pub delete_messages: Option<Value>,
    pub delete_reactions: Option<bool>,
    pub ban_from_future_channels: Option<bool>,
}

/// `DELETE /moderation/ban`, from its query parameters.
#[derive(Debug, Default, Clone)]
pub struct UnbanUser {
    pub target_user_id: Option<String>,
    pub channel_cid: Option<String>,
    pub kind: Option<String>,
    pub id: Option<String>,
    /// The acting user: `user_id`, `created_by`, `banned_by_id` or `unbanned_by_id`.
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueryBannedUsers {
    pub filter_conditions: Value,
    pub sort: Option<Value>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub exclude_expired_bans: Option<bool>,
    pub created_at_after: Option<String>,
    pub created_at_after_or_equal: Option<String>,
    pub created_at_before: Option<String>,
    pub created_at_before_or_equal: Option<String>,
    pub user_id: Option<String>,
}

/// `POST /moderation/flag` and `/moderation/unflag`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FlagRequest {
    pub target_message_id: Option<String>,
    pub target_user_id: Option<String>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
    pub reason: Option<String>,
    pub custom: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueryMessageFlags {
    pub filter_conditions: Value,
    pub sort: Option<Value>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub user_id: Option<String>,
}

/// `POST /users/block` and `/users/unblock`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlockUserRequest {
    pub blocked_user_id: Option<String>,
    /// The blocking user on server-side calls.
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
}

/// `POST /blocklists`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateBlocklist {
    pub name: Option<String>,
    pub words: Option<Vec<String>>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub team: Option<String>,
}

/// `PUT /blocklists/{name}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateBlocklist {
    pub words: Option<Vec<String>>,
    pub team: Option<String>,
}

/// `POST /users/delete`: users deleted in a background task.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteUsers {
    pub user_ids: Vec<String>,
    /// `soft` (default), `pruning` or `hard`.
    pub user: Option<String>,
    pub messages: Option<String>,
    pub conversations: Option<String>,
    pub new_channel_owner_id: Option<String>,
}

/// `POST /messages/{id}/reactions` (QueryReactions).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueryReactions {
    pub filter: Value,
    pub sort: Value,
    pub limit: Option<i64>,
    pub next: Option<String>,
    pub prev: Option<String>,
    pub user_id: Option<String>,
    pub user: Option<UserRef>,
}

/// `POST /users/restore` and `POST /unread_batch`: the users concerned.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserIds {
    pub user_ids: Vec<String>,
}

/// `POST /users/{user_id}/event`: a custom event for one user's connections.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SendUserEvent {
    pub event: Map<String, Value>,
}

/// `POST /users/deactivate` and `POST /users/reactivate`: users (de)activated in a background task.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UsersActivation {
    pub user_ids: Vec<String>,
    pub created_by_id: Option<String>,
}
