//! The default-grant matrix: every built-in channel type × role × membership × ownership × action,
//! checked against a table transcribed from the spec's Appendix A (not from `grants.rs`), so a wrong
//! grant table in eddy fails here.

use eddy_core::config::{ChannelConfig, BUILT_IN_TYPES};
use eddy_core::grants::{allows, Subject};

// ---- Appendix A, as written there -------------------------------------------------------------

const ADMIN: &str = "add-links, ban-channel-member, ban-user, create-call, create-channel, \
    create-message, create-attachment, create-mention, create-reaction, create-system-message, \
    delete-attachment, delete-channel, delete-message, delete-reaction, flag-message, join-call, \
    mute-channel, pin-message, read-channel, read-channel-members, read-message-flags, \
    recreate-channel, remove-own-channel-membership, run-message-action, send-custom-event, \
    skip-channel-cooldown, skip-message-moderation, truncate-channel, unblock-message, \
    update-channel, update-channel-cooldown, update-channel-frozen, update-channel-members, \
    update-message, upload-attachment";

/// messaging `user`: create-channel plus the `-owner` variants of these.
const USER_OWNER_OF: &str = "add-links, create-message, create-attachment, create-mention, \
    create-reaction, delete-attachment, delete-channel, delete-message, delete-reaction, \
    flag-message, mute-channel, pin-message, read-channel-members, read-channel, recreate-channel, \
    remove-own-channel-membership, run-message-action, send-custom-event, truncate-channel, \
    update-channel-members, update-channel, update-message, upload-attachment";

const CHANNEL_MEMBER: &str = "add-links, create-call, create-message, create-attachment, \
    create-mention, create-reaction, flag-message, join-call, mute-channel, pin-message, \
    read-channel, read-channel-members, remove-own-channel-membership, run-message-action, \
    send-custom-event, upload-attachment";

/// messaging `channel_moderator`: channel_member plus these.
const CHANNEL_MODERATOR_PLUS: &str = "ban-channel-member, create-system-message, \
    delete-attachment, delete-message, delete-reaction, read-message-flags, skip-channel-cooldown, \
    skip-message-moderation, unblock-message, update-channel, update-channel-cooldown, \
    update-channel-frozen, update-channel-members, update-message";

const LIVESTREAM_USER: &str = "add-links, create-channel, create-message, create-attachment, \
    create-mention, create-reaction, flag-message, join-call, mute-channel, read-channel, \
    read-channel-members, run-message-action, send-custom-event, upload-attachment, \
    delete-message-owner, update-message-owner, delete-attachment-owner, delete-reaction-owner, \
    pin-message-owner";
const LIVESTREAM_GUEST: &str = "flag-message, join-call, mute-channel, read-channel, \
    read-channel-members";
const LIVESTREAM_ANONYMOUS: &str = "join-call, read-channel, read-channel-members";
const LIVESTREAM_CHANNEL_MODERATOR: &str = "ban-channel-member, create-call, \
    create-system-message, delete-attachment, delete-message, delete-reaction, pin-message, \
    read-message-flags, skip-channel-cooldown, skip-message-moderation, unblock-message, \
    update-channel-cooldown, update-channel-frozen, update-message";
/// livestream `moderator` = admin minus these.
const LIVESTREAM_MODERATOR_MINUS: &str = "delete-channel, recreate-channel, \
    remove-own-channel-membership, truncate-channel, update-channel, update-channel-members";

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn owner_variants(text: &str) -> Vec<String> {
    list(text)
        .into_iter()
        .map(|p| format!("{p}-owner"))
        .collect()
}

fn without(all: Vec<String>, missing: &str) -> Vec<String> {
    let missing = list(missing);
    all.into_iter().filter(|p| !missing.contains(p)).collect()
}

/// Appendix A's grants of `role` on `kind`.
fn appendix_a(kind: &str, role: &str) -> Vec<String> {
    let messaging_user = || {
        let mut grants = vec!["create-channel".to_owned()];
        grants.extend(owner_variants(USER_OWNER_OF));
        grants
    };
    let messaging_moderator = || {
        // "as admin, but delete-channel, recreate-channel, truncate-channel only as -owner"
        let mut grants = without(
            list(ADMIN),
            "delete-channel, recreate-channel, truncate-channel",
        );
        grants.extend(owner_variants(
            "delete-channel, recreate-channel, truncate-channel",
        ));
        grants
    };
    let channel_moderator = || {
        let mut grants = list(CHANNEL_MEMBER);
        grants.extend(list(CHANNEL_MODERATOR_PLUS));
        grants
    };
    match (kind, role) {
        (_, "admin") => list(ADMIN),
        ("livestream", "moderator") => without(list(ADMIN), LIVESTREAM_MODERATOR_MINUS),
        ("livestream", "user") => list(LIVESTREAM_USER),
        ("livestream", "guest") => list(LIVESTREAM_GUEST),
        ("livestream", "anonymous") => list(LIVESTREAM_ANONYMOUS),
        ("livestream", "channel_moderator") => list(LIVESTREAM_CHANNEL_MODERATOR),
        // Appendix A does not list livestream's channel_member: eddy keeps messaging's.
        ("livestream", "channel_member") => list(CHANNEL_MEMBER),
        (_, "moderator") => messaging_moderator(),
        // commerce and gaming: "user cannot create channels"; commerce's guest can, and acts on
        // its own channels.
        ("commerce" | "gaming", "user") => owner_variants(USER_OWNER_OF),
        ("commerce", "guest") => messaging_user(),
        (_, "user") => messaging_user(),
        ("commerce", "channel_member") => without(list(CHANNEL_MEMBER), "create-call, pin-message"),
        ("gaming", "channel_member") => without(list(CHANNEL_MEMBER), "pin-message"),
        (_, "channel_member") => list(CHANNEL_MEMBER),
        (_, "channel_moderator") => channel_moderator(),
        // messaging/team/gaming guests and every anonymous user outside livestream: nothing.
        _ => Vec::new(),
    }
}

// ---- the matrix ----------------------------------------------------------------------------------

const ROLES: [&str; 5] = ["admin", "moderator", "user", "guest", "anonymous"];
const MEMBERSHIPS: [Option<&str>; 3] = [None, Some("channel_member"), Some("channel_moderator")];
const ACTIONS: [&str; 21] = [
    "create-message",
    "update-message",
    "delete-message",
    "read-channel",
    "read-channel-members",
    "create-reaction",
    "delete-reaction",
    "update-channel-members",
    "update-channel",
    "update-channel-frozen",
    "update-channel-cooldown",
    "delete-channel",
    "truncate-channel",
    "ban-channel-member",
    "pin-message",
    "send-custom-event",
    "upload-attachment",
    "flag-message",
    "mute-channel",
    "skip-channel-cooldown",
    "use-frozen-channel",
];

/// Appendix A's rule: the user role's grants and the member's channel role's grants combine; an
/// `-owner` grant holds only on owned resources.
fn expected(kind: &str, role: &str, channel_role: Option<&str>, owner: bool, action: &str) -> bool {
    let holds = |grants: Vec<String>| {
        grants
            .iter()
            .any(|g| g == action || (owner && *g == format!("{action}-owner")))
    };
    holds(appendix_a(kind, role)) || channel_role.is_some_and(|c| holds(appendix_a(kind, c)))
}

#[test]
fn default_grants_match_appendix_a() {
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for kind in BUILT_IN_TYPES {
        let config = ChannelConfig::built_in(kind);
        for role in ROLES {
            for channel_role in MEMBERSHIPS {
                for owner in [false, true] {
                    for action in ACTIONS {
                        let subject = Subject {
                            role,
                            channel_role,
                            is_owner: owner,
                        };
                        let want = expected(kind, role, channel_role, owner, action);
                        let got = allows(&config, subject, action);
                        checked += 1;
                        if want != got {
                            mismatches.push(format!(
                                "{kind} role={role} member={channel_role:?} owner={owner} {action}: \
                                 Appendix A says {want}, eddy says {got}"
                            ));
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 5 * 5 * 3 * 2 * ACTIONS.len());
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Each role's whole grant list on each type equals Appendix A's, not only the sampled actions.
#[test]
fn whole_grant_lists_match_appendix_a() {
    for kind in BUILT_IN_TYPES {
        let effective = eddy_core::grants::effective_grants(&ChannelConfig::built_in(kind));
        for role in eddy_core::grants::GRANT_ROLES {
            let mut got: Vec<String> = effective[role]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            got.sort();
            let mut want = appendix_a(kind, role);
            want.sort();
            assert_eq!(got, want, "{kind}/{role}: grants differ from Appendix A");
        }
    }
}

/// One spelled-out case: type, role, channel role, owner, action, allowed.
type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
    &'static str,
    bool,
);

/// A few rows spelled out one by one, so the combining rule itself is pinned too.
#[test]
fn spelled_out_rows() {
    let rows: &[Row] = &[
        // messaging: strangers read nothing; the creator reads and edits its own channel.
        ("messaging", "user", None, false, "read-channel", false),
        ("messaging", "user", None, true, "read-channel", true),
        ("messaging", "user", None, true, "update-channel", true),
        (
            "messaging",
            "user",
            Some("channel_member"),
            false,
            "create-message",
            true,
        ),
        (
            "messaging",
            "user",
            Some("channel_member"),
            false,
            "update-message",
            false,
        ),
        (
            "messaging",
            "user",
            Some("channel_member"),
            true,
            "update-message",
            true,
        ),
        (
            "messaging",
            "user",
            Some("channel_member"),
            false,
            "delete-message",
            false,
        ),
        (
            "messaging",
            "user",
            Some("channel_member"),
            false,
            "update-channel-members",
            false,
        ),
        (
            "messaging",
            "user",
            Some("channel_member"),
            false,
            "skip-channel-cooldown",
            false,
        ),
        (
            "messaging",
            "user",
            Some("channel_moderator"),
            false,
            "skip-channel-cooldown",
            true,
        ),
        (
            "messaging",
            "user",
            Some("channel_moderator"),
            false,
            "delete-message",
            true,
        ),
        (
            "messaging",
            "moderator",
            None,
            false,
            "delete-channel",
            false,
        ),
        ("messaging", "moderator", None, true, "delete-channel", true),
        ("messaging", "admin", None, false, "delete-channel", true),
        (
            "messaging",
            "admin",
            None,
            false,
            "use-frozen-channel",
            false,
        ),
        ("messaging", "guest", None, true, "create-channel", false),
        ("messaging", "anonymous", None, false, "read-channel", false),
        // livestream: users post without membership, anonymous only reads.
        ("livestream", "user", None, false, "create-message", true),
        ("livestream", "user", None, false, "pin-message", false),
        ("livestream", "anonymous", None, false, "read-channel", true),
        (
            "livestream",
            "anonymous",
            None,
            false,
            "create-message",
            false,
        ),
        ("livestream", "guest", None, false, "create-message", false),
        (
            "livestream",
            "moderator",
            None,
            false,
            "update-channel",
            false,
        ),
        (
            "livestream",
            "user",
            Some("channel_moderator"),
            false,
            "update-channel",
            false,
        ),
        (
            "livestream",
            "user",
            Some("channel_moderator"),
            false,
            "delete-message",
            true,
        ),
        // commerce and gaming: users cannot create channels; commerce guests can.
        ("commerce", "user", None, true, "create-channel", false),
        ("gaming", "user", None, true, "create-channel", false),
        ("commerce", "guest", None, true, "create-channel", true),
        (
            "commerce",
            "user",
            Some("channel_member"),
            false,
            "pin-message",
            false,
        ),
        (
            "gaming",
            "user",
            Some("channel_member"),
            false,
            "pin-message",
            false,
        ),
        (
            "gaming",
            "user",
            Some("channel_member"),
            false,
            "create-call",
            true,
        ),
        (
            "team",
            "user",
            Some("channel_member"),
            false,
            "pin-message",
            true,
        ),
    ];
    for &(kind, role, channel_role, owner, action, want) in rows {
        let config = ChannelConfig::built_in(kind);
        let subject = Subject {
            role,
            channel_role,
            is_owner: owner,
        };
        assert_eq!(
            allows(&config, subject, action),
            want,
            "{kind} role={role} member={channel_role:?} owner={owner} {action}"
        );
        assert_eq!(
            expected(kind, role, channel_role, owner, action),
            want,
            "the transcription disagrees with the spelled-out row: {kind} {role} {action}"
        );
    }
}

/// A custom role with no grants can do nothing that needs one, in any built-in type.
#[test]
fn a_custom_role_without_grants_is_refused_everything() {
    for kind in BUILT_IN_TYPES {
        let config = ChannelConfig::built_in(kind);
        for action in ACTIONS {
            for owner in [false, true] {
                let subject = Subject {
                    role: "special_agent",
                    channel_role: None,
                    is_owner: owner,
                };
                assert!(!allows(&config, subject, action), "{kind} {action}");
            }
        }
    }
}
