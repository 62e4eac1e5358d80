//! Channel-type configuration: the feature switches and limits of a type, with the built-in defaults.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub const BUILT_IN_TYPES: [&str; 5] = ["messaging", "team", "livestream", "commerce", "gaming"];
pub const DEFAULT_MAX_MESSAGE_LENGTH: u32 = 5000;
pub const MAX_MESSAGE_LENGTH_LIMIT: u32 = 20000;

/// The built-in slash commands and their descriptions.
pub const BUILT_IN_COMMANDS: [(&str, &str, &str, &str); 7] = [
    (
        "giphy",
        "Post a random gif to the channel",
        "[text]",
        "fun_set",
    ),
    (
        "imgur",
        "Post a random image from imgur",
        "[text]",
        "fun_set",
    ),
    ("ban", "Ban a user", "[@username] [text]", "moderation_set"),
    ("unban", "Unban a user", "[@username]", "moderation_set"),
    ("mute", "Mute a user", "[@username]", "moderation_set"),
    ("unmute", "Unmute a user", "[@username]", "moderation_set"),
    ("flag", "Flag a user", "[@username]", "moderation_set"),
];

/// Settings of one channel type, stored per app. Field names are Stream's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelConfig {
    pub name: String,
    pub typing_events: bool,
    pub read_events: bool,
    pub connect_events: bool,
    pub custom_events: bool,
    pub reactions: bool,
    pub replies: bool,
    pub quotes: bool,
    pub search: bool,
    pub mutes: bool,
    pub uploads: bool,
    pub url_enrichment: bool,
    pub push_notifications: bool,
    pub mark_messages_pending: bool,
    pub delivery_events: bool,
    pub count_messages: bool,
    pub user_message_reminders: bool,
    pub polls: bool,
    pub shared_locations: bool,
    pub skip_last_msg_update_for_system_msgs: bool,
    pub max_message_length: u32,
    pub automod: String,
    pub automod_behavior: String,
    /// The name of the blocklist that screens users' messages, if any.
    pub blocklist: Option<String>,
    /// `flag` (send and flag) or `block` (refuse) a message that uses a listed word.
    pub blocklist_behavior: String,
    pub message_retention: String,
    /// Command names enabled on the type.
    pub commands: Vec<String>,
    /// `{role: [permission]}` overrides of the default grants; absent roles use the defaults.
    pub grants: Map<String, Value>,
    pub permissions: Vec<Value>,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            name: String::new(),
            typing_events: true,
            read_events: true,
            connect_events: true,
            custom_events: true,
            reactions: true,
            replies: true,
            quotes: true,
            search: true,
            mutes: true,
            uploads: true,
            url_enrichment: true,
            push_notifications: true,
            mark_messages_pending: false,
            delivery_events: false,
            count_messages: false,
            user_message_reminders: false,
            polls: false,
            shared_locations: false,
            skip_last_msg_update_for_system_msgs: false,
            max_message_length: DEFAULT_MAX_MESSAGE_LENGTH,
            automod: "disabled".into(),
            automod_behavior: "flag".into(),
            blocklist: None,
            blocklist_behavior: "flag".into(),
            message_retention: "infinite".into(),
            commands: vec!["giphy".into()],
            grants: Map::new(),
            permissions: Vec::new(),
        }
    }
}

impl ChannelConfig {
    /// The default configuration of a built-in type, or of a new custom type (a copy of `messaging`).
    pub fn built_in(name: &str) -> Self {
        let mut config = ChannelConfig {
            name: name.to_owned(),
            ..ChannelConfig::default()
        };
        match name {
            "livestream" => {
                config.url_enrichment = false;
                config.mutes = false;
                config.commands = vec!["giphy".into(), "imgur".into()];
            }
            "commerce" => config.commands = Vec::new(),
            "team" | "gaming" => {
                config.commands = BUILT_IN_COMMANDS.iter().map(|c| c.0.to_owned()).collect();
            }
            _ => {}
        }
        config
    }

    /// `commands` as the objects GET endpoints and channel responses carry.
    pub fn command_objects(&self) -> Vec<Value> {
        let enabled = |name: &str| self.commands.iter().any(|c| c == name || c == "all");
        BUILT_IN_COMMANDS
            .iter()
            .filter(|command| enabled(command.0))
            .map(command_object)
            .collect()
    }
}

/// A built-in command as the object channel configs and `/commands` carry.
pub fn command_object(command: &(&str, &str, &str, &str)) -> Value {
    let (name, description, args, set) = command;
    json!({"name": name, "description": description, "args": args, "set": set})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_differ_where_documented() {
        assert!(ChannelConfig::built_in("messaging").url_enrichment);
        assert!(!ChannelConfig::built_in("livestream").url_enrichment);
        assert_eq!(
            ChannelConfig::built_in("messaging").max_message_length,
            5000
        );
    }

    #[test]
    fn all_enables_every_command() {
        let config = ChannelConfig {
            commands: vec!["all".into()],
            ..ChannelConfig::default()
        };
        assert_eq!(config.command_objects().len(), BUILT_IN_COMMANDS.len());
    }

    #[test]
    fn partial_json_fills_defaults() {
        let config: ChannelConfig =
            serde_json::from_value(json!({"name": "x", "reactions": false})).unwrap();
        assert!(!config.reactions);
        assert!(config.replies);
    }
}
