//! Records as the store keeps them: typed columns plus a JSON document for fields the API lets clients shape.

use chrono::{DateTime, Utc};
use eddy_query::{Filter, SortField};
use serde_json::{Map, Value};

pub type Timestamp = DateTime<Utc>;
pub type AppId = i64;
pub type Document = Map<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: AppId,
    pub api_key: String,
    pub api_secret: String,
    pub name: String,
    /// App settings as set by `PATCH /app` (Stream's field names).
    pub settings: Document,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelTypeRecord {
    pub name: String,
    pub config: eddy_core::config::ChannelConfig,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub role: String,
    /// name, image, language, teams, invisible, privacy_settings, revoke_tokens_issued_before and custom data.
    pub doc: Document,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_active: Option<Timestamp>,
    pub deactivated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl User {
    /// A user that has not been stored yet: no data, created now.
    pub fn new(id: String, role: &str) -> Self {
        let now = chrono::Utc::now();
        User {
            id,
            role: role.to_owned(),
            doc: Document::new(),
            created_at: now,
            updated_at: now,
            last_active: None,
            deactivated_at: None,
            deleted_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub cid: String,
    pub kind: String,
    pub id: String,
    pub created_by: Option<String>,
    /// name, image, team, cooldown, config_overrides and custom data.
    pub doc: Document,
    pub frozen: bool,
    pub disabled: bool,
    pub member_count: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_message_at: Option<Timestamp>,
    pub truncated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// Membership and the member's read state (one row per member and channel).
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub cid: String,
    pub user_id: String,
    pub channel_role: String,
    /// invited, invite_accepted_at, pinned_at, archived_at and custom data.
    pub doc: Document,
    pub hidden: bool,
    pub hide_messages_before: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_read: Timestamp,
    pub last_read_message_id: Option<String>,
    pub unread_messages: i64,
    /// Set by mark-unread: the first message counted unread again.
    pub first_unread_message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub cid: String,
    pub parent_id: Option<String>,
    pub user_id: String,
    pub kind: String,
    pub show_in_channel: bool,
    pub reply_count: i64,
    /// text, html, attachments, mentioned_users (ids), quoted_message_id, silent, pinned*, custom data.
    pub doc: Document,
    /// `{type: {count, sum_scores, first_reaction_at, last_reaction_at}}`.
    pub reaction_groups: Document,
    /// Up to ten newest reactions.
    pub latest_reactions: Vec<Reaction>,
    pub thread_participants: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    pub message_id: String,
    pub user_id: String,
    pub kind: String,
    pub score: i64,
    /// emoji_code and custom data.
    pub doc: Document,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which slice of a message list to read; ids bound the page by their message's creation time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagePage {
    pub limit: i64,
    pub id_lt: Option<String>,
    pub id_lte: Option<String>,
    pub id_gt: Option<String>,
    pub id_gte: Option<String>,
    pub created_at_before: Option<Timestamp>,
    pub created_at_after: Option<Timestamp>,
}

/// Which of a channel's pinned messages to read (`GetPinnedMessages`): newest pin first unless
/// `ascending`; each bound is a pin time and whether it is inclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PinnedPage {
    pub limit: i64,
    pub offset: i64,
    pub ascending: bool,
    pub pinned_after: Option<(Timestamp, bool)>,
    pub pinned_before: Option<(Timestamp, bool)>,
}

/// A parsed user or channel query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Filter,
    pub sort: Vec<SortField>,
    pub limit: i64,
    pub offset: i64,
}

/// Channel queries are evaluated for one user (membership-relative fields) or for the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelQuery {
    pub query: ListQuery,
    pub viewer: Option<String>,
    /// `Some(true)` lists only the viewer's hidden channels; `Some(false)` (default for users) excludes them.
    pub hidden: Option<bool>,
}

/// What sending a message changed besides the message itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub message: Message,
    pub parent: Option<Message>,
    pub channel: Channel,
    /// Members whose hidden channel became visible again.
    pub unhidden: Vec<String>,
}

/// Per-channel unread state of one user.
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadChannel {
    pub cid: String,
    pub unread_messages: i64,
    pub last_read: Timestamp,
}

/// A channel event as kept for `/sync`: the JSON every recipient got, in commit order.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    pub cid: String,
    pub kind: String,
    pub created_at: Timestamp,
    /// The event's JSON object, as sent on sockets (without per-recipient fields).
    pub body: Document,
}

/// What a mute silences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuteTarget {
    User,
    Channel,
}

impl MuteTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            MuteTarget::User => "user",
            MuteTarget::Channel => "channel",
        }
    }
}

/// One mute: `user_id` muted `target_id` (a user id or a cid), possibly until `expires_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mute {
    pub user_id: String,
    pub target: MuteTarget,
    pub target_id: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// A push device of a user (the id is the provider's token).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: String,
    pub user_id: String,
    pub push_provider: String,
    pub push_provider_name: Option<String>,
    pub created_at: Timestamp,
}

/// A ban of `user_id`, app-wide (`cid: None`) or from one channel, possibly until `expires_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ban {
    pub user_id: String,
    pub cid: Option<String>,
    pub banned_by: Option<String>,
    pub reason: Option<String>,
    /// A shadow ban: the user may post, but their messages are shown to no one else.
    pub shadow: bool,
    pub ip_ban: bool,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// What a flag reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagTarget {
    Message,
    User,
}

impl FlagTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagTarget::Message => "message",
            FlagTarget::User => "user",
        }
    }
}

/// One user's report of a message or a user; at most one per reporter and target.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub reporter_id: String,
    pub target: FlagTarget,
    /// The message id or the user id.
    pub target_id: String,
    /// The flagged user, or the author of the flagged message.
    pub target_user_id: String,
    /// The channel of a flagged message.
    pub cid: Option<String>,
    pub reason: Option<String>,
    /// Custom data and `details`.
    pub doc: Document,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub reviewed_at: Option<Timestamp>,
    pub reviewed_by: Option<String>,
}

/// Records written as given by a bulk import (an app's migration, a benchmark's data set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportBatch {
    pub users: Vec<User>,
    pub channels: Vec<Channel>,
    pub members: Vec<Member>,
    /// Top-level messages and replies; a reply's parent must come earlier in this batch or be stored.
    pub messages: Vec<Message>,
}

/// `user_id` blocked `blocked_user_id`: the blocker stops receiving the blocked user's messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub user_id: String,
    pub blocked_user_id: String,
    pub created_at: Timestamp,
}

/// A named word list that channel types screen user messages with.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocklist {
    pub name: String,
    /// Stream's `type`: only `word` lists are kept.
    pub kind: String,
    /// Lower-case words, in the order they were given.
    pub words: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A video call type as stored: settings, grants, notification settings and external storage in `doc`.
/// Built-in types exist without a row until they are first updated.
#[derive(Debug, Clone, PartialEq)]
pub struct CallTypeRecord {
    pub name: String,
    pub doc: Document,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A video call. Typed columns are the ones queries filter and sort on; the rest lives in `doc`
/// (custom data, effective settings, blocked users, session, per-user permission overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub cid: String,
    pub kind: String,
    pub id: String,
    pub created_by: String,
    pub team: Option<String>,
    pub backstage: bool,
    pub doc: Document,
    pub member_count: i64,
    /// Bumped by every update; an update naming a stale version is refused with `Conflict`.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub starts_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// A call member: the user's call role and custom data (`doc.custom`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallMember {
    pub cid: String,
    pub user_id: String,
    pub role: String,
    pub doc: Document,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
