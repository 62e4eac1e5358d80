//! Names of the events the server sends, so no layer spells them twice.

pub const HEALTH_CHECK: &str = "health.check";
pub const CONNECTION_ERROR: &str = "connection.error";
pub const MESSAGE_NEW: &str = "message.new";
pub const MESSAGE_UPDATED: &str = "message.updated";
pub const MESSAGE_DELETED: &str = "message.deleted";
pub const MESSAGE_READ: &str = "message.read";
pub const MESSAGE_DELIVERED: &str = "message.delivered";
pub const REACTION_NEW: &str = "reaction.new";
pub const REACTION_UPDATED: &str = "reaction.updated";
pub const REACTION_DELETED: &str = "reaction.deleted";
pub const TYPING_START: &str = "typing.start";
pub const TYPING_STOP: &str = "typing.stop";
pub const MEMBER_ADDED: &str = "member.added";
pub const MEMBER_UPDATED: &str = "member.updated";
pub const MEMBER_REMOVED: &str = "member.removed";
pub const CHANNEL_CREATED: &str = "channel.created";
pub const CHANNEL_UPDATED: &str = "channel.updated";
pub const CHANNEL_DELETED: &str = "channel.deleted";
pub const CHANNEL_TRUNCATED: &str = "channel.truncated";
pub const CHANNEL_HIDDEN: &str = "channel.hidden";
pub const CHANNEL_VISIBLE: &str = "channel.visible";
pub const USER_UPDATED: &str = "user.updated";
pub const USER_BANNED: &str = "user.banned";
pub const USER_UNBANNED: &str = "user.unbanned";
pub const USER_WATCHING_START: &str = "user.watching.start";
pub const USER_WATCHING_STOP: &str = "user.watching.stop";
pub const NOTIFICATION_MESSAGE_NEW: &str = "notification.message_new";
pub const NOTIFICATION_ADDED_TO_CHANNEL: &str = "notification.added_to_channel";
pub const NOTIFICATION_REMOVED_FROM_CHANNEL: &str = "notification.removed_from_channel";
pub const NOTIFICATION_MARK_READ: &str = "notification.mark_read";
pub const NOTIFICATION_CHANNEL_DELETED: &str = "notification.channel_deleted";
pub const NOTIFICATION_CHANNEL_TRUNCATED: &str = "notification.channel_truncated";

/// Built-in event types a client may never send through `POST /channels/{type}/{id}/event`.
pub fn is_server_only(event_type: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "message.",
        "reaction.",
        "member.",
        "channel.",
        "notification.",
        "user.",
        "health.",
        "connection.",
    ];
    PREFIXES.iter().any(|prefix| event_type.starts_with(prefix))
}
