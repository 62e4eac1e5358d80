//! The v2 operations eddy serves: method, v2 path and Stream's operation id, each answered by the root route it names. `docs/v2-operations.md` is generated from this table.

/// How an operation differs from its root route beyond the shared translation of `shape`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quirk {
    /// Same method, the path without its v2 prefix.
    None,
    /// `GET /unread`: counters whose `channels` are not channel states.
    Unread,
    /// `POST /api/v2/moderation/flag`: an entity (`entity_type` + `entity_id`) instead of a target
    /// message or user; answers `item_id`.
    Flag,
    /// `POST /api/v2/moderation/unban`: the root `DELETE /moderation/ban` with `unbanned_by_id`.
    Unban,
    /// `POST /api/v2/moderation/mute`: always answers a `mutes` list.
    Mute,
}

/// One served v2 operation.
#[derive(Debug)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub quirk: Quirk,
}

const fn op(method: &'static str, path: &'static str, id: &'static str) -> Operation {
    Operation {
        method,
        path,
        id,
        quirk: Quirk::None,
    }
}

const fn quirk(method: &'static str, path: &'static str, id: &'static str, q: Quirk) -> Operation {
    Operation {
        method,
        path,
        id,
        quirk: q,
    }
}

/// Every served operation; any other path or method under `/api/v2` answers "not supported" (4).
pub const OPERATIONS: &[Operation] = &[
    // App, tasks
    op("GET", "/api/v2/app", "GetApp"),
    op("PATCH", "/api/v2/app", "UpdateApp"),
    op("GET", "/api/v2/tasks/{id}", "GetTask"),
    op("GET", "/api/v2/rate_limits", "GetRateLimits"),
    // Users
    op("GET", "/api/v2/users", "QueryUsers"),
    op("POST", "/api/v2/users", "UpdateUsers"),
    op("PATCH", "/api/v2/users", "UpdateUsersPartial"),
    op("POST", "/api/v2/users/delete", "DeleteUsers"),
    op("POST", "/api/v2/users/deactivate", "DeactivateUsers"),
    op("POST", "/api/v2/users/reactivate", "ReactivateUsers"),
    op("POST", "/api/v2/users/restore", "RestoreUsers"),
    op(
        "POST",
        "/api/v2/users/{user_id}/deactivate",
        "DeactivateUser",
    ),
    op(
        "POST",
        "/api/v2/users/{user_id}/reactivate",
        "ReactivateUser",
    ),
    op("GET", "/api/v2/users/block", "GetBlockedUsers"),
    op("POST", "/api/v2/users/block", "BlockUsers"),
    op("POST", "/api/v2/users/unblock", "UnblockUsers"),
    op("POST", "/api/v2/guest", "CreateGuest"),
    op(
        "POST",
        "/api/v2/chat/users/{user_id}/event",
        "SendUserCustomEvent",
    ),
    // Devices
    op("GET", "/api/v2/devices", "ListDevices"),
    op("POST", "/api/v2/devices", "CreateDevice"),
    op("DELETE", "/api/v2/devices", "DeleteDevice"),
    // Commands (eddy's built-ins; it keeps no custom commands)
    op("GET", "/api/v2/chat/commands", "ListCommands"),
    op("GET", "/api/v2/chat/commands/{name}", "GetCommand"),
    // Channel types
    op("GET", "/api/v2/chat/channeltypes", "ListChannelTypes"),
    op("POST", "/api/v2/chat/channeltypes", "CreateChannelType"),
    op("GET", "/api/v2/chat/channeltypes/{name}", "GetChannelType"),
    op(
        "PUT",
        "/api/v2/chat/channeltypes/{name}",
        "UpdateChannelType",
    ),
    op(
        "DELETE",
        "/api/v2/chat/channeltypes/{name}",
        "DeleteChannelType",
    ),
    // Channels
    op("POST", "/api/v2/chat/channels", "QueryChannels"),
    op("POST", "/api/v2/chat/channels/delete", "DeleteChannels"),
    op("POST", "/api/v2/chat/channels/read", "MarkChannelsRead"),
    op("POST", "/api/v2/chat/channels/delivered", "MarkDelivered"),
    op(
        "POST",
        "/api/v2/chat/channels/{type}/query",
        "GetOrCreateDistinctChannel",
    ),
    op(
        "POST",
        "/api/v2/chat/channels/{type}/{id}/query",
        "GetOrCreateChannel",
    ),
    op("GET", "/api/v2/chat/channels/{type}/{id}", "GetChannel"),
    op("POST", "/api/v2/chat/channels/{type}/{id}", "UpdateChannel"),
    op(
        "PATCH",
        "/api/v2/chat/channels/{type}/{id}",
        "UpdateChannelPartial",
    ),
    op(
        "DELETE",
        "/api/v2/chat/channels/{type}/{id}",
        "DeleteChannel",
    ),
    op(
        "POST",
        "/api/v2/chat/channels/{type}/{id}/truncate",
        "TruncateChannel",
    ),
    op(
        "POST",
        "/api/v2/chat/channels/{type}/{id}/hide",
        "HideChannel",
    ),
    op(
        "POST",
        "/api/v2/chat/channels/{type}/{id}/show",
        "ShowChannel",
    ),
    op(
        "PATCH",
        "/api/v2/chat/channels/{type}/{id}/member",
        "UpdateMemberPartial",
    ),
    op("POST", "/api/v2/chat/channels/{type}/{id}/read", "MarkRead"),
    op(
        "POST",
        "/api/v2/chat/channels/{type}/{id}/unread",
        "MarkUnread",
    ),
    op(
        "POST",
        "/api/v2/chat/channels/{type}/{id}/event",
        "SendEvent",
    ),
    op("GET", "/api/v2/chat/members", "QueryMembers"),
    quirk("GET", "/api/v2/chat/unread", "UnreadCounts", Quirk::Unread),
    op("POST", "/api/v2/chat/unread_batch", "UnreadCountsBatch"),
    // Messages, reactions, threads, search
    op(
        "POST",
        "/api/v2/chat/channels/{type}/{id}/message",
        "SendMessage",
    ),
    op(
        "GET",
        "/api/v2/chat/channels/{type}/{id}/messages",
        "GetManyMessages",
    ),
    op(
        "GET",
        "/api/v2/chat/channels/{type}/{id}/pinned_messages",
        "GetPinnedMessages",
    ),
    op("GET", "/api/v2/chat/messages/{id}", "GetMessage"),
    op("POST", "/api/v2/chat/messages/{id}", "UpdateMessage"),
    op("PUT", "/api/v2/chat/messages/{id}", "UpdateMessagePartial"),
    op("DELETE", "/api/v2/chat/messages/{id}", "DeleteMessage"),
    op(
        "POST",
        "/api/v2/chat/messages/{id}/undelete",
        "UndeleteMessage",
    ),
    op(
        "GET",
        "/api/v2/chat/messages/{parent_id}/replies",
        "GetReplies",
    ),
    op(
        "POST",
        "/api/v2/chat/messages/{id}/reaction",
        "SendReaction",
    ),
    op(
        "DELETE",
        "/api/v2/chat/messages/{id}/reaction/{type}",
        "DeleteReaction",
    ),
    op(
        "GET",
        "/api/v2/chat/messages/{id}/reactions",
        "GetReactions",
    ),
    op(
        "POST",
        "/api/v2/chat/messages/{id}/reactions",
        "QueryReactions",
    ),
    op("POST", "/api/v2/chat/threads", "QueryThreads"),
    op("GET", "/api/v2/chat/threads/{message_id}", "GetThread"),
    op(
        "PATCH",
        "/api/v2/chat/threads/{message_id}",
        "UpdateThreadPartial",
    ),
    op("GET", "/api/v2/chat/search", "Search"),
    // Moderation
    quirk("POST", "/api/v2/moderation/ban", "ban", Quirk::None),
    quirk("POST", "/api/v2/moderation/unban", "unban", Quirk::Unban),
    quirk("POST", "/api/v2/moderation/mute", "mute", Quirk::Mute),
    op("POST", "/api/v2/moderation/unmute", "unmute"),
    quirk("POST", "/api/v2/moderation/flag", "flag", Quirk::Flag),
    op("GET", "/api/v2/chat/query_banned_users", "QueryBannedUsers"),
    op(
        "GET",
        "/api/v2/chat/moderation/flags/message",
        "QueryMessageFlags",
    ),
    op(
        "POST",
        "/api/v2/chat/moderation/mute/channel",
        "MuteChannel",
    ),
    op(
        "POST",
        "/api/v2/chat/moderation/unmute/channel",
        "UnmuteChannel",
    ),
    // Blocklists
    op("GET", "/api/v2/blocklists", "ListBlockLists"),
    op("POST", "/api/v2/blocklists", "CreateBlockList"),
    op("GET", "/api/v2/blocklists/{name}", "GetBlockList"),
    op("PUT", "/api/v2/blocklists/{name}", "UpdateBlockList"),
    op("DELETE", "/api/v2/blocklists/{name}", "DeleteBlockList"),
    // Roles and permissions
    op("GET", "/api/v2/roles", "ListRoles"),
    op("POST", "/api/v2/roles", "CreateRole"),
    op("GET", "/api/v2/roles/search", "SearchRoles"),
    op("DELETE", "/api/v2/roles/{name}", "DeleteRole"),
    op("GET", "/api/v2/permissions", "ListPermissions"),
    op("POST", "/api/v2/permissions", "CreatePermission"),
    op("GET", "/api/v2/permissions/{id}", "GetPermission"),
    op("PUT", "/api/v2/permissions/{id}", "UpdatePermission"),
    op("DELETE", "/api/v2/permissions/{id}", "DeletePermission"),
];
