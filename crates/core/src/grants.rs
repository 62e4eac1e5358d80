//! Default grants per channel type and role (Stream's Appendix A) and the `own_capabilities` they imply.

use crate::config::ChannelConfig;

/// Who is acting on a channel, as far as grants care.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Global role: `user`, `admin`, `moderator`, `guest`, `anonymous` or custom.
    pub role: &'a str,
    /// Channel role when the subject is a member (`channel_member`, `channel_moderator`, custom).
    pub channel_role: Option<&'a str>,
    /// Whether the subject owns the resource (channel creator, message author).
    pub is_owner: bool,
}

const ADMIN: &[&str] = &[
    "add-links",
    "ban-channel-member",
    "ban-user",
    "create-call",
    "create-channel",
    "create-message",
    "create-attachment",
    "create-mention",
    "create-reaction",
    "create-system-message",
    "delete-attachment",
    "delete-channel",
    "delete-message",
    "delete-reaction",
    "flag-message",
    "join-call",
    "mute-channel",
    "pin-message",
    "read-channel",
    "read-channel-members",
    "read-message-flags",
    "recreate-channel",
    "remove-own-channel-membership",
    "run-message-action",
    "send-custom-event",
    "skip-channel-cooldown",
    "skip-message-moderation",
    "truncate-channel",
    "unblock-message",
    "update-channel",
    "update-channel-cooldown",
    "update-channel-frozen",
    "update-channel-members",
    "update-message",
    "upload-attachment",
];

const MODERATOR: &[&str] = &[
    "add-links",
    "ban-channel-member",
    "ban-user",
    "create-call",
    "create-channel",
    "create-message",
    "create-attachment",
    "create-mention",
    "create-reaction",
    "create-system-message",
    "delete-attachment",
    "delete-channel-owner",
    "delete-message",
    "delete-reaction",
    "flag-message",
    "join-call",
    "mute-channel",
    "pin-message",
    "read-channel",
    "read-channel-members",
    "read-message-flags",
    "recreate-channel-owner",
    "remove-own-channel-membership",
    "run-message-action",
    "send-custom-event",
    "skip-channel-cooldown",
    "skip-message-moderation",
    "truncate-channel-owner",
    "unblock-message",
    "update-channel",
    "update-channel-cooldown",
    "update-channel-frozen",
    "update-channel-members",
    "update-message",
    "upload-attachment",
];

const USER_OWNER: &[&str] = &[
    "add-links-owner",
    "create-message-owner",
    "create-attachment-owner",
    "create-mention-owner",
    "create-reaction-owner",
    "delete-attachment-owner",
    "delete-channel-owner",
    "delete-message-owner",
    "delete-reaction-owner",
    "flag-message-owner",
    "mute-channel-owner",
    "pin-message-owner",
    "read-channel-members-owner",
    "read-channel-owner",
    "recreate-channel-owner",
    "remove-own-channel-membership-owner",
    "run-message-action-owner",
    "send-custom-event-owner",
    "truncate-channel-owner",
    "update-channel-members-owner",
    "update-channel-owner",
    "update-message-owner",
    "upload-attachment-owner",
];

const CHANNEL_MEMBER: &[&str] = &[
    "add-links",
    "create-call",
    "create-message",
    "create-attachment",
    "create-mention",
    "create-reaction",
    "flag-message",
    "join-call",
    "mute-channel",
    "pin-message",
    "read-channel",
    "read-channel-members",
    "remove-own-channel-membership",
    "run-message-action",
    "send-custom-event",
    "upload-attachment",
];

const CHANNEL_MODERATOR_EXTRA: &[&str] = &[
    "ban-channel-member",
    "create-system-message",
    "delete-attachment",
    "delete-message",
    "delete-reaction",
    "read-message-flags",
    "skip-channel-cooldown",
    "skip-message-moderation",
    "unblock-message",
    "update-channel",
    "update-channel-cooldown",
    "update-channel-frozen",
    "update-channel-members",
    "update-message",
];

const LIVESTREAM_USER: &[&str] = &[
    "add-links",
    "create-channel",
    "create-message",
    "create-attachment",
    "create-mention",
    "create-reaction",
    "flag-message",
    "join-call",
    "mute-channel",
    "read-channel",
    "read-channel-members",
    "run-message-action",
    "send-custom-event",
    "upload-attachment",
    "delete-message-owner",
    "update-message-owner",
    "delete-attachment-owner",
    "delete-reaction-owner",
    "pin-message-owner",
];

/// Appendix A lists livestream's channel moderators on their own (no member grants, no
/// `update-channel` or `update-channel-members`): the user role already grants the rest there.
const LIVESTREAM_CHANNEL_MODERATOR: &[&str] = &[
    "ban-channel-member",
    "create-call",
    "create-system-message",
    "delete-attachment",
    "delete-message",
    "delete-reaction",
    "pin-message",
    "read-message-flags",
    "skip-channel-cooldown",
    "skip-message-moderation",
    "unblock-message",
    "update-channel-cooldown",
    "update-channel-frozen",
    "update-message",
];

const LIVESTREAM_GUEST: &[&str] = &[
    "flag-message",
    "join-call",
    "mute-channel",
    "read-channel",
    "read-channel-members",
];
const LIVESTREAM_ANONYMOUS: &[&str] = &["join-call", "read-channel", "read-channel-members"];

/// The default grants of `role` (global or channel) on a channel type.
pub(crate) fn default_grants(channel_type: &str, role: &str) -> Vec<&'static str> {
    let member_without = |missing: &[&str]| -> Vec<&'static str> {
        CHANNEL_MEMBER
            .iter()
            .copied()
            .filter(|p| !missing.contains(p))
            .collect()
    };
    match (channel_type, role) {
        (_, "admin") => ADMIN.to_vec(),
        ("livestream", "moderator") => ADMIN
            .iter()
            .copied()
            .filter(|p| {
                !matches!(
                    *p,
                    "delete-channel"
                        | "recreate-channel"
                        | "remove-own-channel-membership"
                        | "truncate-channel"
                        | "update-channel"
                        | "update-channel-members"
                )
            })
            .collect(),
        (_, "moderator") => MODERATOR.to_vec(),
        ("livestream", "user") => LIVESTREAM_USER.to_vec(),
        ("livestream", "guest") => LIVESTREAM_GUEST.to_vec(),
        ("livestream", "anonymous") => LIVESTREAM_ANONYMOUS.to_vec(),
        ("livestream", "channel_moderator") => LIVESTREAM_CHANNEL_MODERATOR.to_vec(),
        ("commerce" | "gaming", "user") => USER_OWNER.to_vec(),
        ("commerce", "guest") => [&["create-channel"][..], USER_OWNER].concat(),
        (_, "user") => [&["create-channel"][..], USER_OWNER].concat(),
        ("commerce", "channel_member") => member_without(&["create-call", "pin-message"]),
        ("gaming", "channel_member") => member_without(&["pin-message"]),
        (_, "channel_member") => CHANNEL_MEMBER.to_vec(),
        (_, "channel_moderator") => [CHANNEL_MEMBER, CHANNEL_MODERATOR_EXTRA].concat(),
        _ => Vec::new(),
    }
}

/// Roles whose grants a channel type lists.
pub const GRANT_ROLES: [&str; 7] = [
    "admin",
    "moderator",
    "user",
    "guest",
    "anonymous",
    "channel_member",
    "channel_moderator",
];

/// The grants in force per role on a type: its overrides, else the defaults of its name.
pub fn effective_grants(config: &ChannelConfig) -> serde_json::Map<String, serde_json::Value> {
    GRANT_ROLES
        .iter()
        .map(|role| {
            let grants = match config.grants.get(*role) {
                Some(custom) => custom.clone(),
                None => serde_json::json!(default_grants(&config.name, role)),
            };
            ((*role).to_owned(), grants)
        })
        .collect()
}

/// Whether `subject` holds `permission` on a channel of `config`'s type.
pub fn allows(config: &ChannelConfig, subject: Subject<'_>, permission: &str) -> bool {
    let owner_variant = format!("{permission}-owner");
    let role_grants = |role: &str| -> Vec<String> {
        match config.grants.get(role).and_then(|v| v.as_array()) {
            Some(custom) => custom
                .iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect(),
            None => default_grants(&config.name, role)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    };
    let holds = |grants: &[String]| {
        grants
            .iter()
            .any(|g| g == permission || (subject.is_owner && *g == owner_variant))
    };
    if holds(&role_grants(subject.role)) {
        return true;
    }
    subject
        .channel_role
        .is_some_and(|channel_role| holds(&role_grants(channel_role)))
}

/// The capabilities the JS/React SDKs gate their UI on, for `subject` in a channel of `config`'s type.
pub fn own_capabilities(config: &ChannelConfig, subject: Subject<'_>) -> Vec<&'static str> {
    let can = |permission: &str| allows(config, subject, permission);
    let can_any = |permission: &str| {
        allows(config, subject, permission)
            || allows(
                config,
                Subject {
                    is_owner: true,
                    ..subject
                },
                permission,
            )
    };
    let mut capabilities = Vec::new();
    let mut add = |capability: &'static str, condition: bool| {
        if condition {
            capabilities.push(capability);
        }
    };
    let reads = can("read-channel");
    add("ban-channel-members", can("ban-channel-member"));
    add("connect-events", reads && config.connect_events);
    add("create-attachment", can("create-attachment"));
    add("delete-any-message", can("delete-message"));
    add("delete-channel", can("delete-channel"));
    add("delete-own-message", can_any("delete-message"));
    add("flag-message", can("flag-message"));
    add("freeze-channel", can("update-channel-frozen"));
    add(
        "leave-channel",
        subject.channel_role.is_some() && can_any("remove-own-channel-membership"),
    );
    add(
        "join-channel",
        subject.channel_role.is_none() && can("update-channel-members"),
    );
    add("mute-channel", config.mutes && can("mute-channel"));
    add("pin-message", can("pin-message"));
    add("quote-message", config.quotes && can("create-message"));
    add("read-events", reads && config.read_events);
    add("delivery-events", reads && config.delivery_events);
    add("search-messages", reads && config.search);
    add(
        "send-custom-events",
        config.custom_events && can("send-custom-event"),
    );
    add("send-links", can("add-links"));
    add("send-message", can("create-message"));
    add("send-reaction", config.reactions && can("create-reaction"));
    add("send-reply", config.replies && can("create-message"));
    add("send-typing-events", reads && config.typing_events);
    add("set-channel-cooldown", can("update-channel-cooldown"));
    add("skip-slow-mode", can("skip-channel-cooldown"));
    add("typing-events", reads && config.typing_events);
    add("update-any-message", can("update-message"));
    add("update-channel", can("update-channel"));
    add("update-channel-members", can("update-channel-members"));
    add("update-own-message", can_any("update-message"));
    add("upload-file", config.uploads && can("upload-attachment"));
    capabilities
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(role: &'a str, channel_role: Option<&'a str>, is_owner: bool) -> Subject<'a> {
        Subject {
            role,
            channel_role,
            is_owner,
        }
    }

    #[test]
    fn members_write_in_messaging_and_strangers_do_not() {
        let messaging = ChannelConfig::built_in("messaging");
        assert!(allows(
            &messaging,
            subject("user", Some("channel_member"), false),
            "create-message"
        ));
        assert!(!allows(
            &messaging,
            subject("user", None, false),
            "create-message"
        ));
        assert!(!allows(
            &messaging,
            subject("user", None, false),
            "read-channel"
        ));
        assert!(allows(
            &messaging,
            subject("user", None, true),
            "read-channel"
        ));
        assert!(allows(
            &messaging,
            subject("admin", None, false),
            "delete-channel"
        ));
    }

    #[test]
    fn livestream_is_open_to_users_and_read_only_to_anonymous() {
        let livestream = ChannelConfig::built_in("livestream");
        assert!(allows(
            &livestream,
            subject("user", None, false),
            "create-message"
        ));
        assert!(allows(
            &livestream,
            subject("anonymous", None, false),
            "read-channel"
        ));
        assert!(!allows(
            &livestream,
            subject("anonymous", None, false),
            "create-message"
        ));
    }

    #[test]
    fn members_get_ui_capabilities() {
        let messaging = ChannelConfig::built_in("messaging");
        let capabilities =
            own_capabilities(&messaging, subject("user", Some("channel_member"), false));
        for expected in [
            "send-message",
            "send-reaction",
            "send-reply",
            "read-events",
            "typing-events",
            "upload-file",
        ] {
            assert!(capabilities.contains(&expected), "missing {expected}");
        }
        assert!(!capabilities.contains(&"delete-any-message"));
        assert!(capabilities.contains(&"delete-own-message"));
    }

    #[test]
    fn overridden_grants_replace_a_roles_defaults() {
        let mut config = ChannelConfig::built_in("messaging");
        config
            .grants
            .insert("channel_member".into(), serde_json::json!(["read-channel"]));
        assert!(!allows(
            &config,
            subject("user", Some("channel_member"), false),
            "create-message"
        ));
        assert!(allows(
            &config,
            subject("user", Some("channel_member"), false),
            "read-channel"
        ));
    }
}
