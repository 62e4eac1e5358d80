//! Call types: the built-in types' settings and grants, deep-merged settings, and the mapping from granted permission ids to the capabilities clients see.

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// The built-in call types, always present (stored only once updated).
pub const BUILT_IN: &[&str] = &["default", "audio_room", "livestream", "development"];

/// The role a member gets when none is given.
pub const DEFAULT_MEMBER_ROLE: &str = "call_member";

/// Call roles that get the type's `admin` grants unless the type grants them explicitly.
const ADMIN_LIKE: &[&str] = &["admin", "host", "moderator"];

const DEFAULT_ADMIN: &[&str] = &[
    "block-user",
    "create-call",
    "create-call-reaction",
    "delete-recording",
    "end-call",
    "join-backstage",
    "join-call",
    "join-ended-call",
    "list-recordings",
    "mute-users",
    "pin-call-track",
    "read-call",
    "remove-call-member",
    "screenshare",
    "send-audio",
    "send-event",
    "send-video",
    "start-broadcasting",
    "stop-broadcasting",
    "start-recording",
    "stop-recording",
    "start-transcription",
    "stop-transcription",
    "update-call",
    "update-call-member",
    "update-call-member-role",
    "update-call-permissions",
    "update-call-settings",
];

const DEFAULT_USER: &[&str] = &[
    "block-user-owner",
    "create-call",
    "create-call-reaction",
    "end-call",
    "join-call",
    "join-ended-call",
    "list-recordings",
    "mute-users-owner",
    "pin-call-track-owner",
    "read-call",
    "remove-call-member",
    "screenshare",
    "send-audio",
    "send-event",
    "send-video",
    "start-broadcasting",
    "stop-broadcasting",
    "start-recording",
    "stop-recording",
    "start-transcription",
    "stop-transcription",
    "update-call-member",
    "update-call-owner",
    "update-call-permissions-owner",
    "update-call-settings-owner",
];

const GUEST: &[&str] = &[
    "join-call",
    "read-call",
    "send-audio",
    "send-event",
    "send-video",
];
const ANONYMOUS: &[&str] = &["join-call", "read-call"];

const CALL_MEMBER: &[&str] = &[
    "read-call",
    "join-call",
    "join-ended-call",
    "send-audio",
    "send-video",
    "screenshare",
    "send-event",
    "create-call-reaction",
];
const AUDIENCE_MEMBER: &[&str] = &[
    "read-call",
    "join-call",
    "send-event",
    "create-call-reaction",
];

const AUDIO_ROOM_USER: &[&str] = &[
    "block-user-owner",
    "create-call",
    "create-call-reaction",
    "end-call-owner",
    "join-backstage-owner",
    "join-call",
    "join-ended-call-owner",
    "mute-users-owner",
    "read-call",
    "remove-call-member-owner",
    "screenshare-owner",
    "send-audio-owner",
    "send-event",
    "start-broadcasting-owner",
    "stop-broadcasting-owner",
    "start-recording-owner",
    "stop-recording-owner",
    "start-transcription-owner",
    "stop-transcription-owner",
    "update-call-member-owner",
    "update-call-member-role-owner",
    "update-call-owner",
    "update-call-permissions-owner",
    "update-call-settings-owner",
];

fn without(list: &[&str], drop: &[&str]) -> Vec<String> {
    list.iter()
        .filter(|id| !drop.contains(id))
        .map(|id| (*id).to_owned())
        .collect()
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|id| (*id).to_owned()).collect()
}

/// The grants (role → permission ids) a built-in type starts with; custom types start from `default`'s.
pub fn default_grants(kind: &str) -> Map<String, Value> {
    let (admin, user, guest, anonymous, member) = match kind {
        "audio_room" => (
            without(
                DEFAULT_ADMIN,
                &[
                    "pin-call-track",
                    "send-video",
                    "list-recordings",
                    "delete-recording",
                ],
            ),
            owned(AUDIO_ROOM_USER),
            Vec::new(),
            owned(ANONYMOUS),
            owned(AUDIENCE_MEMBER),
        ),
        "livestream" => {
            let mut user = without(
                AUDIO_ROOM_USER,
                &[
                    "start-transcription-owner",
                    "stop-transcription-owner",
                    "update-call-settings-owner",
                ],
            );
            user.extend(owned(&["pin-call-track-owner", "send-video-owner"]));
            (
                without(
                    DEFAULT_ADMIN,
                    &[
                        "start-transcription",
                        "stop-transcription",
                        "list-recordings",
                        "delete-recording",
                    ],
                ),
                user,
                Vec::new(),
                owned(ANONYMOUS),
                owned(AUDIENCE_MEMBER),
            )
        }
        "development" => {
            let everything = without(DEFAULT_ADMIN, &["delete-recording"]);
            (
                everything.clone(),
                everything.clone(),
                owned(GUEST),
                owned(ANONYMOUS),
                everything,
            )
        }
        _ => (
            owned(DEFAULT_ADMIN),
            owned(DEFAULT_USER),
            owned(GUEST),
            Vec::new(),
            owned(CALL_MEMBER),
        ),
    };
    let mut grants = Map::new();
    for role in ADMIN_LIKE {
        grants.insert((*role).into(), json!(admin));
    }
    grants.insert("user".into(), json!(user));
    grants.insert("guest".into(), json!(guest));
    grants.insert("anonymous".into(), json!(anonymous));
    grants.insert(DEFAULT_MEMBER_ROLE.into(), json!(member));
    grants
}

fn layout() -> Value {
    json!({"name": "spotlight", "options": {}, "external_css_url": "", "external_app_url": "", "detect_orientation": false})
}

/// The settings a built-in type starts with; custom types start from `default`'s.
pub fn default_settings(kind: &str) -> Map<String, Value> {
    let mut settings = json!({
        "audio": {"access_request_enabled": true, "opus_dtx_enabled": true, "redundant_coding_enabled": true,
                  "mic_default_on": true, "speaker_default_on": true, "hifi_audio_enabled": false,
                  "default_device": "speaker", "noise_cancellation": {"mode": "auto-on"}},
        "video": {"enabled": true, "access_request_enabled": true, "camera_default_on": true, "camera_facing": "front",
                  "target_resolution": {"width": 1280, "height": 720, "bitrate": 1_500_000}},
        "screensharing": {"enabled": true, "access_request_enabled": true, "target_resolution": null},
        "recording": {"mode": "available", "quality": "720p", "audio_only": false, "layout": layout()},
        "transcription": {"mode": "available", "closed_caption_mode": "available", "language": "auto",
                          "translation": {"enabled": false, "languages": []}},
        "broadcasting": {"enabled": true,
                         "hls": {"enabled": true, "auto_on": false, "quality_tracks": ["720p"], "layout": layout()},
                         "rtmp": {"enabled": true, "quality": "720p", "layout": layout()}},
        "geofencing": {"names": []},
        "ring": {"incoming_call_timeout_ms": 15000, "auto_cancel_timeout_ms": 15000, "missed_call_timeout_ms": 15000},
        "backstage": {"enabled": false, "join_ahead_time_seconds": 0},
        "limits": {"max_participants": null, "max_duration_seconds": null,
                   "max_participants_exclude_owner": null, "max_participants_exclude_roles": []},
        "session": {"inactivity_timeout_seconds": 30},
        "thumbnails": {"enabled": false},
        "frame_recording": {"mode": "disabled", "capture_interval_in_seconds": 3, "quality": null},
        "individual_recording": {"mode": "disabled", "output_types": []},
        "raw_recording": {"mode": "disabled", "audio_only": false},
        "encryption": {"mode": "disabled"},
    });
    let changes = match kind {
        "audio_room" => json!({
            "audio": {"mic_default_on": false, "noise_cancellation": {"mode": "available"}},
            "video": {"enabled": false, "camera_default_on": false},
            "screensharing": {"enabled": false},
            "backstage": {"enabled": true},
            "broadcasting": {"enabled": false},
            "recording": {"audio_only": true},
        }),
        "livestream" => json!({
            "audio": {"access_request_enabled": false, "noise_cancellation": {"mode": "available"}},
            "video": {"access_request_enabled": false,
                      "target_resolution": {"width": 1920, "height": 1080, "bitrate": 3_000_000}},
            "screensharing": {"access_request_enabled": false},
            "backstage": {"enabled": true},
        }),
        _ => json!({}),
    };
    merge(&mut settings, &changes);
    match settings {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Deep merge: objects merge key by key, any other value (an explicit `0` or `false` too) replaces;
/// `null` leaves the current value alone (absent means unchanged).
pub fn merge(target: &mut Value, change: &Value) {
    match (target, change) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                if value.is_null() {
                    continue;
                }
                match into.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        into.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, change) if !change.is_null() => *target = change.clone(),
        _ => {}
    }
}

/// The capability a permission id shows as (`None`: checked directly, never listed).
fn capability(permission: &str) -> Option<&str> {
    Some(match permission {
        "block-user" => "block-users",
        "create-call-reaction" => "create-reaction",
        "pin-call-track" => "pin-for-everyone",
        "start-recording" => "start-record-call",
        "stop-recording" => "stop-record-call",
        "start-individual-recording" => "start-individual-record-call",
        "stop-individual-recording" => "stop-individual-record-call",
        "start-raw-recording" => "start-raw-record-call",
        "stop-raw-recording" => "stop-raw-record-call",
        "start-frame-recording" => "start-frame-record-call",
        "stop-frame-recording" => "stop-frame-record-call",
        "start-transcription" => "start-transcription-call",
        "stop-transcription" => "stop-transcription-call",
        "start-closed-captions" => "start-closed-captions-call",
        "stop-closed-captions" => "stop-closed-captions-call",
        "send-closed-captions" => "send-closed-captions-call",
        "start-broadcasting" => "start-broadcast-call",
        "stop-broadcasting" => "stop-broadcast-call",
        "send-event" | "list-recordings" | "delete-recording" | "update-call-member-role" => {
            return None
        }
        other => other,
    })
}

/// Permissions granted along with another one (ours to decide, see the spec's grants section).
fn implied(permission: &str) -> &'static [&'static str] {
    match permission {
        "mute-users" => &["kick-user"],
        "update-call-settings" => &["change-max-duration", "enable-noise-cancellation"],
        "start-recording" => &[
            "start-individual-recording",
            "start-raw-recording",
            "start-frame-recording",
        ],
        "stop-recording" => &[
            "stop-individual-recording",
            "stop-raw-recording",
            "stop-frame-recording",
        ],
        "start-transcription" => &["start-closed-captions", "send-closed-captions"],
        "stop-transcription" => &["stop-closed-captions"],
        _ => &[],
    }
}

/// Who asks, about which call: everything the permission algorithm needs.
pub struct Subject<'a> {
    pub roles: &'a [String],
    pub is_creator: bool,
    pub blocked: bool,
    /// Per-call grants and revocations for this user (`send-audio`, `send-video`, `screenshare`).
    pub granted: &'a [String],
    pub revoked: &'a [String],
}

/// The permission ids a subject holds in a call of a type with these grants and effective settings.
pub fn permissions(
    grants: &Map<String, Value>,
    settings: &Value,
    subject: &Subject<'_>,
) -> BTreeSet<String> {
    let mut held = BTreeSet::new();
    if subject.blocked {
        return held;
    }
    for role in subject.roles {
        let Some(list) = grants.get(role).and_then(Value::as_array) else {
            continue;
        };
        for id in list.iter().filter_map(Value::as_str) {
            let id = match id.strip_suffix("-owner") {
                Some(base) if subject.is_creator => base,
                Some(_) => continue,
                None => id,
            };
            held.insert(id.to_owned());
            held.extend(implied(id).iter().map(|other| (*other).to_owned()));
        }
    }
    held.extend(subject.granted.iter().cloned());
    for id in subject.revoked {
        held.remove(id);
    }
    let off = |path: &str| settings.pointer(path).and_then(Value::as_bool) == Some(false);
    let mode_off = |path: &str| settings.pointer(path).and_then(Value::as_str) == Some("disabled");
    if off("/video/enabled") {
        held.remove("send-video");
    }
    if off("/screensharing/enabled") {
        held.remove("screenshare");
    }
    if mode_off("/recording/mode") {
        held.remove("start-recording");
        held.remove("stop-recording");
    }
    if mode_off("/transcription/mode") {
        held.remove("start-transcription");
        held.remove("stop-transcription");
    }
    if off("/broadcasting/enabled") {
        held.remove("start-broadcasting");
        held.remove("stop-broadcasting");
    }
    held
}

/// Capabilities as clients see them, sorted.
pub fn capabilities(permissions: &BTreeSet<String>) -> Vec<String> {
    let set: BTreeSet<&str> = permissions.iter().filter_map(|id| capability(id)).collect();
    set.into_iter().map(str::to_owned).collect()
}

/// Capabilities of each role granted by the type (`capabilities_by_role` of `call.updated`).
pub fn capabilities_by_role(grants: &Map<String, Value>, settings: &Value) -> Map<String, Value> {
    grants
        .keys()
        .map(|role| {
            let roles = [role.clone()];
            let subject = Subject {
                roles: &roles,
                is_creator: false,
                blocked: false,
                granted: &[],
                revoked: &[],
            };
            (
                role.clone(),
                json!(capabilities(&permissions(grants, settings, &subject))),
            )
        })
        .collect()
}

/// Valid call type names and call ids.
pub fn valid_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

pub fn valid_call_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep_and_keeps_explicit_zeroes() {
        let mut settings = Value::Object(default_settings("default"));
        merge(
            &mut settings,
            &json!({"limits": {"max_duration_seconds": 0}, "backstage": {"join_ahead_time_seconds": 600}}),
        );
        assert_eq!(settings["limits"]["max_duration_seconds"], 0);
        assert_eq!(
            settings["limits"]["max_participants_exclude_roles"],
            json!([])
        );
        assert_eq!(settings["backstage"]["enabled"], false);
        assert_eq!(settings["backstage"]["join_ahead_time_seconds"], 600);
    }

    #[test]
    fn owner_permissions_need_the_creator_and_settings_disable_capabilities() {
        let grants = default_grants("audio_room");
        let settings = Value::Object(default_settings("audio_room"));
        let roles = vec!["user".to_owned()];
        let guest = Subject {
            roles: &roles,
            is_creator: false,
            blocked: false,
            granted: &[],
            revoked: &[],
        };
        let held = permissions(&grants, &settings, &guest);
        assert!(held.contains("join-call"));
        assert!(!held.contains("send-audio"));
        let owner = Subject {
            is_creator: true,
            ..guest
        };
        let caps = capabilities(&permissions(&grants, &settings, &owner));
        assert!(caps.contains(&"send-audio".to_owned()));
        assert!(caps.contains(&"block-users".to_owned()));
        assert!(
            !caps.contains(&"send-video".to_owned()),
            "audio rooms have no video"
        );
        assert!(
            !caps.contains(&"send-event".to_owned()),
            "send-event is no capability"
        );
    }

    #[test]
    fn per_user_grants_and_blocks_apply() {
        let grants = default_grants("audio_room");
        let settings = Value::Object(default_settings("audio_room"));
        let roles = vec!["user".to_owned()];
        let granted = vec!["send-audio".to_owned()];
        let subject = Subject {
            roles: &roles,
            is_creator: false,
            blocked: false,
            granted: &granted,
            revoked: &[],
        };
        assert!(permissions(&grants, &settings, &subject).contains("send-audio"));
        let blocked = Subject {
            blocked: true,
            ..subject
        };
        assert!(permissions(&grants, &settings, &blocked).is_empty());
    }
}
