//! The permissions eddy knows (every id the default grants use), as `GET /permissions` lists them.
//!
//! A permission id is the kebab-case action name; an action whose resource can be owned also has an
//! `-owner` permission that holds only on what the subject owns (the channel it created, the
//! message it sent, itself).

/// Where a permission may be granted: app-wide grants or channel-type/channel grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    App,
    Channel,
}

impl Level {
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::App => "app",
            Level::Channel => "channel",
        }
    }
}

/// One action of the permission system.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    /// Stream's action name (`CreateMessage`).
    pub name: &'static str,
    /// The permission id of the action on any resource (`create-message`).
    pub id: &'static str,
    pub level: Level,
    /// The kind of resource whose owner the `-owner` permission means; `None` when there is no
    /// owner permission.
    pub owner_resource: Option<&'static str>,
    pub description: &'static str,
    pub tags: &'static [&'static str],
}

const fn channel(
    name: &'static str,
    id: &'static str,
    owner_resource: Option<&'static str>,
    description: &'static str,
    tags: &'static [&'static str],
) -> Action {
    Action {
        name,
        id,
        level: Level::Channel,
        owner_resource,
        description,
        tags,
    }
}

const fn app(
    name: &'static str,
    id: &'static str,
    owner_resource: Option<&'static str>,
    description: &'static str,
    tags: &'static [&'static str],
) -> Action {
    Action {
        name,
        id,
        level: Level::App,
        owner_resource,
        description,
        tags,
    }
}

const CH: Option<&str> = Some("Channel");
const MSG: Option<&str> = Some("Message");

/// Every action eddy's grants speak of, in id order.
pub const ACTIONS: &[Action] = &[
    channel(
        "AddLinks",
        "add-links",
        CH,
        "Put URLs in the text of a message",
        &["message"],
    ),
    channel(
        "BanChannelMember",
        "ban-channel-member",
        None,
        "Ban a member from this channel",
        &["moderation"],
    ),
    channel(
        "BanUser",
        "ban-user",
        None,
        "Ban a user from the whole app",
        &["moderation"],
    ),
    channel(
        "CreateAttachment",
        "create-attachment",
        CH,
        "Send a message that carries attachments",
        &["message"],
    ),
    channel(
        "CreateCall",
        "create-call",
        None,
        "Start a call from the channel",
        &["call"],
    ),
    channel(
        "CreateChannel",
        "create-channel",
        None,
        "Create a new channel of this type",
        &["channel"],
    ),
    channel(
        "CreateMention",
        "create-mention",
        CH,
        "Mention other users in a message",
        &["message"],
    ),
    channel(
        "CreateMessage",
        "create-message",
        CH,
        "Send a message or a reply",
        &["message"],
    ),
    channel(
        "CreateReaction",
        "create-reaction",
        CH,
        "React to a message",
        &["reaction"],
    ),
    channel(
        "CreateSystemMessage",
        "create-system-message",
        None,
        "Send a message of type system",
        &["message"],
    ),
    channel(
        "DeleteAttachment",
        "delete-attachment",
        MSG,
        "Remove an attachment from a message",
        &["message"],
    ),
    channel(
        "DeleteChannel",
        "delete-channel",
        CH,
        "Delete the channel",
        &["channel"],
    ),
    channel(
        "DeleteMessage",
        "delete-message",
        MSG,
        "Delete a message",
        &["message"],
    ),
    channel(
        "DeleteReaction",
        "delete-reaction",
        Some("Reaction"),
        "Take back a reaction",
        &["reaction"],
    ),
    channel(
        "FlagMessage",
        "flag-message",
        CH,
        "Report a message to the moderators",
        &["moderation"],
    ),
    app(
        "FlagUser",
        "flag-user",
        None,
        "Report a user to the moderators",
        &["moderation"],
    ),
    channel(
        "JoinCall",
        "join-call",
        None,
        "Take part in a call of the channel",
        &["call"],
    ),
    channel(
        "MuteChannel",
        "mute-channel",
        CH,
        "Mute or unmute the channel for oneself",
        &["channel"],
    ),
    app(
        "MuteUser",
        "mute-user",
        None,
        "Mute or unmute another user for oneself",
        &["moderation"],
    ),
    channel(
        "PinMessage",
        "pin-message",
        MSG,
        "Pin or unpin a message",
        &["message"],
    ),
    channel(
        "ReadChannel",
        "read-channel",
        CH,
        "Query the channel and read its messages",
        &["channel"],
    ),
    channel(
        "ReadChannelMembers",
        "read-channel-members",
        CH,
        "List the members of the channel",
        &["channel"],
    ),
    app(
        "ReadFlagReports",
        "read-flag-reports",
        None,
        "Read the reports made from flags",
        &["moderation"],
    ),
    channel(
        "ReadMessageFlags",
        "read-message-flags",
        None,
        "List the flags on messages",
        &["moderation"],
    ),
    channel(
        "RecreateChannel",
        "recreate-channel",
        CH,
        "Create a channel again after it was deleted",
        &["channel"],
    ),
    channel(
        "RemoveOwnChannelMembership",
        "remove-own-channel-membership",
        CH,
        "Leave the channel",
        &["channel"],
    ),
    channel(
        "RunMessageAction",
        "run-message-action",
        CH,
        "Run an action of an interactive message (e.g. giphy)",
        &["message"],
    ),
    app(
        "SearchUser",
        "search-user",
        None,
        "Query the users of the app",
        &["user"],
    ),
    channel(
        "SendCustomEvent",
        "send-custom-event",
        CH,
        "Send a custom event to the channel's watchers",
        &["event"],
    ),
    channel(
        "SkipChannelCooldown",
        "skip-channel-cooldown",
        None,
        "Send messages without waiting for slow mode's cooldown",
        &["moderation"],
    ),
    channel(
        "SkipMessageModeration",
        "skip-message-moderation",
        None,
        "Send messages that moderation does not check",
        &["moderation"],
    ),
    channel(
        "TruncateChannel",
        "truncate-channel",
        CH,
        "Remove the channel's messages",
        &["channel"],
    ),
    channel(
        "UnblockMessage",
        "unblock-message",
        None,
        "Release a message that moderation blocked",
        &["moderation"],
    ),
    channel(
        "UpdateChannel",
        "update-channel",
        CH,
        "Change the channel's data",
        &["channel"],
    ),
    channel(
        "UpdateChannelCooldown",
        "update-channel-cooldown",
        None,
        "Turn slow mode on or off or change its cooldown",
        &["channel"],
    ),
    channel(
        "UpdateChannelFrozen",
        "update-channel-frozen",
        None,
        "Freeze or unfreeze the channel",
        &["channel"],
    ),
    channel(
        "UpdateChannelMembers",
        "update-channel-members",
        CH,
        "Add, remove or invite members",
        &["channel"],
    ),
    app(
        "UpdateFlagReport",
        "update-flag-report",
        None,
        "Review a flag report",
        &["moderation"],
    ),
    channel(
        "UpdateMessage",
        "update-message",
        MSG,
        "Edit a message",
        &["message"],
    ),
    app(
        "UpdateUser",
        "update-user",
        Some("User"),
        "Change a user's data",
        &["user"],
    ),
    channel(
        "UploadAttachment",
        "upload-attachment",
        CH,
        "Upload a file or an image to the channel",
        &["message"],
    ),
    channel(
        "UseFrozenChannel",
        "use-frozen-channel",
        None,
        "Send messages and reactions while the channel is frozen",
        &["channel"],
    ),
];

/// One permission: an action, on any resource or only on owned ones.
#[derive(Debug, Clone, Copy)]
pub struct Permission {
    pub action: &'static Action,
    pub owner: bool,
}

impl Permission {
    pub fn id(&self) -> String {
        if self.owner {
            format!("{}-owner", self.action.id)
        } else {
            self.action.id.to_owned()
        }
    }

    /// A readable name: the action's words, with "(owner)" for the owner permission.
    pub fn name(&self) -> String {
        let mut words = String::new();
        for (index, c) in self.action.name.char_indices() {
            if index > 0 && c.is_ascii_uppercase() {
                words.push(' ');
            }
            words.push(c);
        }
        if self.owner {
            words.push_str(" (owner)");
        }
        words
    }

    pub fn description(&self) -> String {
        match (self.owner, self.action.owner_resource) {
            (true, Some(resource)) => format!(
                "{}, only where the {} belongs to the subject",
                self.action.description,
                resource.to_lowercase()
            ),
            _ => self.action.description.to_owned(),
        }
    }
}

/// Every permission: each action, then its owner variant where it has one.
pub fn all() -> Vec<Permission> {
    ACTIONS
        .iter()
        .flat_map(|action| {
            let owner = action.owner_resource.map(|_| Permission {
                action,
                owner: true,
            });
            std::iter::once(Permission {
                action,
                owner: false,
            })
            .chain(owner)
        })
        .collect()
}

/// The permission with this id, if eddy knows it.
pub fn find(id: &str) -> Option<Permission> {
    let (base, owner) = match id.strip_suffix("-owner") {
        Some(base) => (base, true),
        None => (id, false),
    };
    let action = ACTIONS.iter().find(|a| a.id == base)?;
    if owner && action.owner_resource.is_none() {
        return None;
    }
    Some(Permission { action, owner })
}

/// App-level grants per built-in role (Appendix A's `.app` scope).
pub fn app_grants(role: &str) -> &'static [&'static str] {
    match role {
        "admin" | "moderator" => &[
            "flag-user",
            "mute-user",
            "read-flag-reports",
            "search-user",
            "update-flag-report",
            "update-user-owner",
        ],
        "user" | "guest" => &["flag-user", "mute-user", "search-user", "update-user-owner"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BUILT_IN_TYPES;
    use crate::grants::{default_grants, GRANT_ROLES};

    #[test]
    fn every_default_grant_is_a_known_permission() {
        for kind in BUILT_IN_TYPES {
            for role in GRANT_ROLES {
                for id in default_grants(kind, role) {
                    assert!(find(id).is_some(), "{kind}/{role}: unknown permission {id}");
                }
            }
        }
        for role in GRANT_ROLES {
            for id in app_grants(role) {
                assert!(find(id).is_some(), "app/{role}: unknown permission {id}");
            }
        }
    }

    #[test]
    fn ids_are_unique_and_round_trip() {
        let all = all();
        let mut ids: Vec<String> = all.iter().map(Permission::id).collect();
        for id in &ids {
            assert_eq!(find(id).map(|p| p.id()).as_deref(), Some(id.as_str()));
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count);
        assert!(find("ban-user-owner").is_none());
        assert!(find("no-such-thing").is_none());
    }

    #[test]
    fn names_split_the_action_words() {
        let permission = find("update-message-owner").map(|p| (p.name(), p.owner));
        assert_eq!(
            permission,
            Some(("Update Message (owner)".to_owned(), true))
        );
    }
}
