//! The storage contract by aggregate; every method is one atomic domain operation and no transaction crosses it.

use crate::model::*;
use async_trait::async_trait;
use eddy_core::config::ChannelConfig;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid query: {0}")]
    Query(String),
    #[error("storage backend failed: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait AppStore: Send + Sync {
    /// Returns the app with this key, creating it (with built-in channel types) if absent.
    async fn ensure_app(&self, api_key: &str, api_secret: &str, name: &str) -> StoreResult<App>;
    async fn app_by_key(&self, api_key: &str) -> StoreResult<Option<App>>;
    async fn list_apps(&self) -> StoreResult<Vec<App>>;
    async fn update_app_settings(&self, app: AppId, settings: &Document) -> StoreResult<()>;
    async fn channel_types(&self, app: AppId) -> StoreResult<Vec<ChannelTypeRecord>>;
    /// Creates a type; `Conflict` if the name exists.
    async fn create_channel_type(
        &self,
        app: AppId,
        config: &ChannelConfig,
    ) -> StoreResult<ChannelTypeRecord>;
    async fn update_channel_type(
        &self,
        app: AppId,
        config: &ChannelConfig,
    ) -> StoreResult<ChannelTypeRecord>;
    /// Deletes a type; `Conflict` while channels of it exist.
    async fn delete_channel_type(&self, app: AppId, name: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts or replaces users as given, keeping each existing user's `created_at`.
    async fn upsert_users(&self, app: AppId, users: &[User]) -> StoreResult<Vec<User>>;
    /// Users by id, in no particular order; unknown ids are skipped.
    async fn users(&self, app: AppId, ids: &[String]) -> StoreResult<Vec<User>>;
    async fn query_users(
        &self,
        app: AppId,
        query: &ListQuery,
        include_deactivated: bool,
    ) -> StoreResult<Vec<User>>;
    /// Hard delete removes the user row; soft delete sets `deleted_at`.
    async fn delete_user(
        &self,
        app: AppId,
        id: &str,
        hard: bool,
        now: Timestamp,
    ) -> StoreResult<User>;
    async fn touch_user(&self, app: AppId, id: &str, last_active: Timestamp) -> StoreResult<()>;
}

#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Creates the channel with its members unless it exists (a soft-deleted one is recreated empty).
    /// Returns the channel and whether it was created.
    async fn create_channel(
        &self,
        app: AppId,
        channel: &Channel,
        members: &[Member],
    ) -> StoreResult<(Channel, bool)>;
    async fn channel(&self, app: AppId, cid: &str) -> StoreResult<Option<Channel>>;
    async fn channels(&self, app: AppId, cids: &[String]) -> StoreResult<Vec<Channel>>;
    async fn update_channel(&self, app: AppId, channel: &Channel) -> StoreResult<Channel>;
    async fn delete_channel(
        &self,
        app: AppId,
        cid: &str,
        hard: bool,
        now: Timestamp,
    ) -> StoreResult<Channel>;
    /// Hides messages up to `at` (hard: deletes them) and resets every member's unread count.
    async fn truncate_channel(
        &self,
        app: AppId,
        cid: &str,
        at: Timestamp,
        hard: bool,
    ) -> StoreResult<Channel>;
    async fn query_channels(&self, app: AppId, query: &ChannelQuery) -> StoreResult<Vec<Channel>>;

    async fn members(
        &self,
        app: AppId,
        cid: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Member>>;
    async fn members_of(
        &self,
        app: AppId,
        cids: &[String],
        user_id: Option<&str>,
    ) -> StoreResult<Vec<Member>>;
    /// The first `limit` members (by join time) of each channel, in one round trip.
    async fn first_members(
        &self,
        app: AppId,
        cids: &[String],
        limit: i64,
    ) -> StoreResult<Vec<Member>>;
    /// Members of one channel matching a parsed members query.
    async fn query_members(
        &self,
        app: AppId,
        cid: &str,
        query: &ListQuery,
    ) -> StoreResult<Vec<Member>>;
    /// Adds members that are not members yet; returns only the added ones.
    async fn add_members(
        &self,
        app: AppId,
        cid: &str,
        members: &[Member],
    ) -> StoreResult<Vec<Member>>;
    /// Removes members; returns the removed ones.
    async fn remove_members(
        &self,
        app: AppId,
        cid: &str,
        user_ids: &[String],
    ) -> StoreResult<Vec<Member>>;
    async fn update_member(&self, app: AppId, member: &Member) -> StoreResult<Member>;
    /// Sets the read state: `last_read`, the last read message and a zero unread count.
    async fn mark_read(
        &self,
        app: AppId,
        cid: &str,
        user_id: &str,
        at: Timestamp,
        message_id: Option<&str>,
    ) -> StoreResult<Option<Member>>;
    async fn unread_channels(&self, app: AppId, user_id: &str) -> StoreResult<Vec<UnreadChannel>>;
    /// Marks the channel unread from `from` (inclusive): read state just before it, unread recounted.
    async fn mark_unread(
        &self,
        app: AppId,
        cid: &str,
        user_id: &str,
        from: &Message,
    ) -> StoreResult<Option<Member>>;
    /// Unread totals of many users at once: `(user_id, total unread messages, channels with unread)`.
    async fn unread_totals(
        &self,
        app: AppId,
        user_ids: &[String],
    ) -> StoreResult<Vec<(String, i64, i64)>>;
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a new message and everything it implies: channel `last_message_at`, parent reply count and
    /// participants, unread counts of the other members, the author's read state, un-hiding.
    /// `counts_as_unread` is false for silent, system and thread-only messages.
    async fn send_message(
        &self,
        app: AppId,
        message: &Message,
        counts_as_unread: bool,
        unhide: bool,
    ) -> StoreResult<SentMessage>;
    async fn message(&self, app: AppId, id: &str) -> StoreResult<Option<Message>>;
    /// When `user_id` last posted in `cid`, if at or after `since` (slow mode, on any node).
    async fn latest_message_time_by(
        &self,
        app: AppId,
        cid: &str,
        user_id: &str,
        since: &Timestamp,
    ) -> StoreResult<Option<Timestamp>>;
    async fn messages(&self, app: AppId, ids: &[String]) -> StoreResult<Vec<Message>>;
    /// Channel history ascending, excluding thread-only replies and messages at or before `visible_after`.
    async fn channel_messages(
        &self,
        app: AppId,
        cid: &str,
        page: &MessagePage,
        visible_after: Option<Timestamp>,
    ) -> StoreResult<Vec<Message>>;
    /// The latest `limit` channel messages of each `(cid, visible_after)`, as `channel_messages`
    /// would give them with a plain page, in one round trip: ascending within each channel.
    async fn latest_channel_messages(
        &self,
        app: AppId,
        channels: &[(String, Option<Timestamp>)],
        limit: i64,
    ) -> StoreResult<Vec<Message>>;
    /// The channel's pinned messages (document key `pinned`) whose pin has not expired by `now`,
    /// deleted ones left out, ordered by `pinned_at` as `page` says.
    async fn pinned_messages(
        &self,
        app: AppId,
        cid: &str,
        page: &PinnedPage,
        now: Timestamp,
    ) -> StoreResult<Vec<Message>>;
    async fn replies(
        &self,
        app: AppId,
        parent_id: &str,
        page: &MessagePage,
    ) -> StoreResult<Vec<Message>>;
    /// Thread parents (messages with replies, not deleted) that `viewer` takes part in and whose
    /// channel they still belong to, filtered and sorted over [`crate::schemas::THREADS`]; no sort
    /// means unread first, then latest reply first.
    async fn query_threads(
        &self,
        app: AppId,
        viewer: &str,
        query: &ListQuery,
    ) -> StoreResult<Vec<Message>>;
    async fn update_message(&self, app: AppId, message: &Message) -> StoreResult<Message>;
    /// Soft delete marks it `deleted`; hard delete removes it with its reactions and fixes the parent's reply count.
    async fn delete_message(
        &self,
        app: AppId,
        id: &str,
        hard: bool,
        now: Timestamp,
    ) -> StoreResult<(Message, Option<Message>)>;
    /// Restores a soft-deleted message; `NotFound` unless it is soft-deleted.
    async fn undelete_message(&self, app: AppId, id: &str, now: Timestamp) -> StoreResult<Message>;
    /// Adds or replaces the user's reaction of that type (all their reactions with `enforce_unique`);
    /// returns the updated message and whether an existing reaction was replaced.
    async fn add_reaction(
        &self,
        app: AppId,
        reaction: &Reaction,
        enforce_unique: bool,
    ) -> StoreResult<(Message, bool)>;
    async fn remove_reaction(
        &self,
        app: AppId,
        message_id: &str,
        user_id: &str,
        kind: &str,
    ) -> StoreResult<(Message, Reaction)>;
    /// Messages matching `messages` in up to 500 channels matching `channels`; never system or deleted ones.
    async fn search_messages(
        &self,
        app: AppId,
        channels: &ChannelQuery,
        messages: &ListQuery,
    ) -> StoreResult<Vec<Message>>;
    async fn reactions(
        &self,
        app: AppId,
        message_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Reaction>>;
    async fn reactions_by_user(
        &self,
        app: AppId,
        user_id: &str,
        message_ids: &[String],
    ) -> StoreResult<Vec<Reaction>>;
}

#[async_trait]
pub trait MuteStore: Send + Sync {
    /// Creates or renews mutes (a renewal keeps `created_at` and takes the new expiry).
    async fn put_mutes(&self, app: AppId, mutes: &[Mute]) -> StoreResult<()>;
    async fn remove_mutes(
        &self,
        app: AppId,
        user_id: &str,
        target: MuteTarget,
        target_ids: &[String],
    ) -> StoreResult<()>;
    /// The user's mutes that have not expired at `now`.
    async fn mutes(&self, app: AppId, user_id: &str, now: Timestamp) -> StoreResult<Vec<Mute>>;
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a device; registering the same id again changes nothing (it keeps its first owner).
    async fn add_device(&self, app: AppId, device: &Device) -> StoreResult<()>;
    async fn devices(&self, app: AppId, user_id: &str) -> StoreResult<Vec<Device>>;
    /// Removes a user's device; `NotFound` if that user has no such device.
    async fn delete_device(&self, app: AppId, user_id: &str, id: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends events in order, in one transaction.
    async fn append_events(&self, app: AppId, events: &[LoggedEvent]) -> StoreResult<()>;
    /// Events of these channels after `since`, oldest first, at most `limit`.
    async fn events_since(
        &self,
        app: AppId,
        cids: &[String],
        since: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<LoggedEvent>>;
    /// Deletes events older than `before`; returns how many.
    async fn prune_events(&self, before: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Creates or replaces the ban of `ban.user_id` in its scope (app-wide or one channel), and
    /// mirrors it where reads look: the user's `banned`/`shadow_banned`/`ban_expires` for an
    /// app-wide ban, the member's `banned`/`shadow_banned`/`ban_expires` for a channel ban.
    async fn put_ban(&self, app: AppId, ban: &Ban) -> StoreResult<()>;
    /// Lifts the ban in that scope and its mirror; `NotFound` if there was none.
    async fn remove_ban(&self, app: AppId, user_id: &str, cid: Option<&str>) -> StoreResult<Ban>;
    /// The user's bans (app-wide and per channel) that have not expired at `now`.
    async fn bans_of(&self, app: AppId, user_id: &str, now: Timestamp) -> StoreResult<Vec<Ban>>;
    /// Bans matching a filter over [`crate::schemas::BANS`]; with `active_at`, expired ones are left out.
    async fn query_bans(
        &self,
        app: AppId,
        query: &ListQuery,
        active_at: Option<Timestamp>,
    ) -> StoreResult<Vec<Ban>>;
    /// Records a flag; `Conflict` if this reporter already flagged this target.
    async fn put_flag(&self, app: AppId, flag: &Flag) -> StoreResult<()>;
    /// Withdraws a reporter's flag and returns it; `NotFound` if there was none.
    async fn remove_flag(
        &self,
        app: AppId,
        reporter_id: &str,
        target: FlagTarget,
        target_id: &str,
    ) -> StoreResult<Flag>;
    /// Flags of one target kind matching a filter over [`crate::schemas::FLAGS`].
    async fn query_flags(
        &self,
        app: AppId,
        target: FlagTarget,
        query: &ListQuery,
    ) -> StoreResult<Vec<Flag>>;
}

#[async_trait]
pub trait BlockStore: Send + Sync {
    /// Records that `block.user_id` blocked `block.blocked_user_id`; blocking again keeps the first
    /// block. Returns the block as stored.
    async fn put_block(&self, app: AppId, block: &Block) -> StoreResult<Block>;
    /// Lifts a block; returns whether there was one.
    async fn remove_block(
        &self,
        app: AppId,
        user_id: &str,
        blocked_user_id: &str,
    ) -> StoreResult<bool>;
    /// The blocks `user_id` made, oldest first.
    async fn blocks_by(&self, app: AppId, user_id: &str) -> StoreResult<Vec<Block>>;
    /// The ids of the users who blocked `user_id`.
    async fn blockers_of(&self, app: AppId, user_id: &str) -> StoreResult<Vec<String>>;
}

#[async_trait]
pub trait BlocklistStore: Send + Sync {
    /// The app's blocklists by name.
    async fn blocklists(&self, app: AppId) -> StoreResult<Vec<Blocklist>>;
    async fn blocklist(&self, app: AppId, name: &str) -> StoreResult<Option<Blocklist>>;
    /// Creates a blocklist; `Conflict` if the name is taken or the app already has `limit` of them.
    async fn create_blocklist(
        &self,
        app: AppId,
        blocklist: &Blocklist,
        limit: usize,
    ) -> StoreResult<Blocklist>;
    /// Replaces a blocklist's words; `NotFound` if there is no such list.
    async fn update_blocklist(
        &self,
        app: AppId,
        name: &str,
        words: &[String],
        now: Timestamp,
    ) -> StoreResult<Blocklist>;
    /// Deletes a blocklist and, in the same transaction, clears `blocklist` on every channel type
    /// that named it; `NotFound` if there is no such list.
    async fn delete_blocklist(&self, app: AppId, name: &str, now: Timestamp) -> StoreResult<()>;
}

#[async_trait]
pub trait BulkStore: Send + Sync {
    /// Writes a batch in large transactions: users and channels upserted, members and messages
    /// inserted (existing ids are left alone); then every touched channel's `member_count` and
    /// `last_message_at` and every touched parent's `reply_count` and `thread_participants` are
    /// recomputed from what is stored. Unread counts are taken as given on the members.
    async fn import(&self, app: AppId, batch: &ImportBatch) -> StoreResult<()>;
}

#[async_trait]
pub trait CallStore: Send + Sync {
    /// The app's stored call types (custom ones, and built-ins once updated), by name.
    async fn call_types(&self, app: AppId) -> StoreResult<Vec<CallTypeRecord>>;
    /// Stores a call type; with `create`, `Conflict` if the name is taken, otherwise it replaces
    /// the stored one (keeping its `created_at`) or inserts it.
    async fn put_call_type(
        &self,
        app: AppId,
        record: &CallTypeRecord,
        create: bool,
    ) -> StoreResult<CallTypeRecord>;
    /// Deletes a stored call type; `NotFound` if there is none.
    async fn delete_call_type(&self, app: AppId, name: &str) -> StoreResult<()>;
    /// Creates the call with its members unless a live call has this cid (a soft-deleted one is
    /// replaced by the new call, its members dropped). Returns the call and whether it was created.
    async fn create_call(
        &self,
        app: AppId,
        call: &Call,
        members: &[CallMember],
    ) -> StoreResult<(Call, bool)>;
    /// A call that is not deleted.
    async fn call(&self, app: AppId, cid: &str) -> StoreResult<Option<Call>>;
    /// Replaces the call's mutable fields (`team`, `backstage`, `doc`, times) if its stored version
    /// is still `call.version` (else `Conflict`), and bumps the version.
    async fn update_call(&self, app: AppId, call: &Call) -> StoreResult<Call>;
    /// Soft delete sets `deleted_at`; hard delete removes the call and its members.
    async fn delete_call(
        &self,
        app: AppId,
        cid: &str,
        hard: bool,
        now: Timestamp,
    ) -> StoreResult<Call>;
    /// Calls that are not deleted matching a filter over [`crate::schemas::CALLS`]; newest first by default.
    async fn query_calls(&self, app: AppId, query: &ListQuery) -> StoreResult<Vec<Call>>;
    /// The first `limit` members (by `created_at`, then `user_id`) of each call, in one round trip.
    async fn call_members(
        &self,
        app: AppId,
        cids: &[String],
        limit: i64,
    ) -> StoreResult<Vec<CallMember>>;
    /// These users' member rows of one call (unknown ids skipped).
    async fn call_members_by_user(
        &self,
        app: AppId,
        cid: &str,
        user_ids: &[String],
    ) -> StoreResult<Vec<CallMember>>;
    /// Adds or updates members (an update keeps `created_at`) and recounts `member_count`;
    /// returns each stored member in input order with whether it was added.
    async fn upsert_call_members(
        &self,
        app: AppId,
        cid: &str,
        members: &[CallMember],
    ) -> StoreResult<Vec<(CallMember, bool)>>;
    /// Removes members and recounts `member_count`; returns the removed ones.
    async fn remove_call_members(
        &self,
        app: AppId,
        cid: &str,
        user_ids: &[String],
    ) -> StoreResult<Vec<CallMember>>;
    /// Members of one call matching a filter over [`crate::schemas::CALL_MEMBERS`].
    async fn query_call_members(
        &self,
        app: AppId,
        cid: &str,
        query: &ListQuery,
    ) -> StoreResult<Vec<CallMember>>;
}

/// Every aggregate of the contract; callers hold `Arc<dyn Store>` and never see the backend.
pub trait Store:
    AppStore
    + UserStore
    + ChannelStore
    + MessageStore
    + MuteStore
    + DeviceStore
    + EventLog
    + ModerationStore
    + BlockStore
    + BlocklistStore
    + BulkStore
    + CallStore
{
}

impl<
        T: AppStore
            + UserStore
            + ChannelStore
            + MessageStore
            + MuteStore
            + DeviceStore
            + EventLog
            + ModerationStore
            + BlockStore
            + BlocklistStore
            + BulkStore
            + CallStore,
    > Store for T
{
}
