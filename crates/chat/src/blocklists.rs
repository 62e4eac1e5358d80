//! Blocklists: named word lists (`/blocklists`, server-side only) that channel types screen users' messages with.
//!
//! A channel type names one list in `blocklist`; with `blocklist_behavior: block` a user's message
//! that uses a listed word is refused (code 73), with `flag` it is sent and flagged by automod.
//! Server-side sends are never screened. The built-in `profanity_en_2020_v1` always exists and
//! cannot be changed.

use crate::requests::{CreateBlocklist, UpdateBlocklist};
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::{TimeZone, Utc};
use eddy_core::config::ChannelConfig;
use eddy_protocol::{ApiError, ErrorCode};
use eddy_store::{AppId, Blocklist, Flag, FlagTarget, Message, StoreError};
use serde_json::{json, Map, Value};

/// The list every app has without creating it.
pub const BUILT_IN_BLOCKLIST: &str = "profanity_en_2020_v1";
/// A short list of common English profanity; enough to screen with, not meant to be complete.
const BUILT_IN_WORDS: &[&str] = &[
    "fuck",
    "fucking",
    "motherfucker",
    "shit",
    "bullshit",
    "bitch",
    "asshole",
    "bastard",
    "cunt",
    "dick",
    "prick",
    "twat",
    "wanker",
    "slut",
    "whore",
    "dumbass",
    "jackass",
];
/// Lists an app may create (the built-in one is not counted).
pub const MAX_BLOCKLISTS: usize = 15;
const MAX_WORDS: usize = 10_000;
const MAX_WORD_CHARS: usize = 40;
const MAX_NAME_CHARS: usize = 255;
/// List types Stream has; only `word` lists are kept.
const OTHER_TYPES: &[&str] = &[
    "regex",
    "domain",
    "domain_allowlist",
    "email",
    "email_allowlist",
];
/// What a channel type may do with a message that uses a listed word.
const BEHAVIOURS: &[&str] = &["flag", "block"];

fn built_in() -> Blocklist {
    let at = Utc
        .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    Blocklist {
        name: BUILT_IN_BLOCKLIST.to_owned(),
        kind: "word".to_owned(),
        words: BUILT_IN_WORDS.iter().map(|w| (*w).to_owned()).collect(),
        created_at: at,
        updated_at: at,
    }
}

fn render(blocklist: &Blocklist) -> Value {
    json!({
        "name": blocklist.name,
        "type": blocklist.kind,
        "words": blocklist.words,
        "created_at": eddy_protocol::time::format(&blocklist.created_at),
        "updated_at": eddy_protocol::time::format(&blocklist.updated_at),
    })
}

fn checked_name(name: Option<String>) -> ChatResult<String> {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::input("name is required"))?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::input(format!(
            "name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(|c| c == '/' || c.is_control()) {
        return Err(ApiError::input(
            "name cannot contain '/' or control characters",
        ));
    }
    Ok(name)
}

/// The words as stored: lower-case, in the given order; each 1 to 40 characters, at most 10,000.
fn checked_words(words: Option<Vec<String>>) -> ChatResult<Vec<String>> {
    let words = words.ok_or_else(|| ApiError::input("words is required"))?;
    if words.len() > MAX_WORDS {
        return Err(ApiError::input(format!(
            "a blocklist has at most {MAX_WORDS} words, got {}",
            words.len()
        )));
    }
    words
        .into_iter()
        .map(|word| {
            let count = word.chars().count();
            if word.trim().is_empty() || count > MAX_WORD_CHARS {
                Err(ApiError::input(format!(
                    "blocklist words are 1 to {MAX_WORD_CHARS} characters, got {word:?}"
                )))
            } else {
                Ok(word.to_lowercase())
            }
        })
        .collect()
}

fn refuse_teams(team: Option<&str>) -> ChatResult<()> {
    match team {
        Some(team) if !team.is_empty() => {
            Err(ApiError::input("team blocklists are not supported (yet)"))
        }
        _ => Ok(()),
    }
}

/// Whether a name from a path could name a stored list (the store is never asked about others).
fn could_be_stored(name: &str) -> bool {
    checked_name(Some(name.to_owned())).is_ok()
}

/// Lower-case words of a text: runs of letters and digits, split at whitespace, hyphens and punctuation.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The first listed entry `text` uses as whole words, case-insensitively. An entry of several
/// words (a phrase) matches when its words appear together in that order.
pub(crate) fn listed_word(words: &[String], text: &str) -> Option<String> {
    let said = tokens(text);
    words.iter().find_map(|entry| {
        let wanted = tokens(entry);
        let found = !wanted.is_empty()
            && said
                .windows(wanted.len())
                .any(|window| window == wanted.as_slice());
        found.then(|| entry.clone())
    })
}

/// A screened message that used a listed word, for the flag it earns.
#[derive(Debug, Clone)]
pub(crate) struct BlocklistHit {
    pub blocklist: String,
    pub word: String,
}

impl Chat {
    /// A list by name: the built-in one or one the app created.
    async fn find_blocklist(
        &self,
        app: AppId,
        name: &str,
        operation: &'static str,
    ) -> ChatResult<Option<Blocklist>> {
        if name == BUILT_IN_BLOCKLIST {
            return Ok(Some(built_in()));
        }
        if !could_be_stored(name) {
            return Ok(None);
        }
        self.store
            .blocklist(app, name)
            .await
            .map_err(store_error(operation))
    }

    /// Refuses changes to the built-in list (4) and names no list can have (16).
    fn refuse_built_in(name: &str, operation: &'static str) -> ChatResult<()> {
        if !could_be_stored(name) {
            return Err(
                ApiError::not_found(format!("blocklist {name:?} does not exist"))
                    .in_operation(operation),
            );
        }
        if name == BUILT_IN_BLOCKLIST {
            return Err(ApiError::input(format!(
                "blocklist {name} is built in and cannot be changed"
            ))
            .in_operation(operation));
        }
        Ok(())
    }

    /// `POST /blocklists`.
    pub async fn create_blocklist(
        &self,
        app: AppId,
        request: CreateBlocklist,
    ) -> ChatResult<Value> {
        const OP: &str = "CreateBlockList";
        let checked = || -> ChatResult<(String, Vec<String>)> {
            refuse_teams(request.team.as_deref())?;
            match request.kind.as_deref() {
                None | Some("") | Some("word") => {}
                Some(other) if OTHER_TYPES.contains(&other) => {
                    return Err(ApiError::input(format!(
                        "blocklists of type {other:?} are not supported (yet); use \"word\""
                    )))
                }
                Some(other) => {
                    return Err(ApiError::input(format!(
                        "blocklist type {other:?} is not one of word, {}",
                        OTHER_TYPES.join(", ")
                    )))
                }
            }
            Ok((
                checked_name(request.name.clone())?,
                checked_words(request.words.clone())?,
            ))
        };
        let (name, words) = checked().map_err(|e| e.in_operation(OP))?;
        if name == BUILT_IN_BLOCKLIST {
            return Err(
                ApiError::input(format!("blocklist {name} already exists")).in_operation(OP)
            );
        }
        let now = Utc::now();
        let blocklist = Blocklist {
            name,
            kind: "word".to_owned(),
            words,
            created_at: now,
            updated_at: now,
        };
        let stored = self
            .store
            .create_blocklist(app, &blocklist, MAX_BLOCKLISTS)
            .await
            .map_err(store_error(OP))?;
        Ok(json!({ "blocklist": render(&stored) }))
    }

    /// `GET /blocklists`: the built-in list first, then the app's by name.
    pub async fn list_blocklists(&self, app: AppId) -> ChatResult<Value> {
        let stored = self
            .store
            .blocklists(app)
            .await
            .map_err(store_error("ListBlockLists"))?;
        let mut all = vec![render(&built_in())];
        all.extend(stored.iter().map(render));
        Ok(json!({ "blocklists": all }))
    }

    /// `GET /blocklists/{name}`.
    pub async fn get_blocklist(&self, app: AppId, name: &str) -> ChatResult<Value> {
        const OP: &str = "GetBlockList";
        let blocklist = self.find_blocklist(app, name, OP).await?.ok_or_else(|| {
            ApiError::not_found(format!("blocklist {name} does not exist")).in_operation(OP)
        })?;
        Ok(json!({ "blocklist": render(&blocklist) }))
    }

    /// `PUT /blocklists/{name}`: replaces the words.
    pub async fn update_blocklist(
        &self,
        app: AppId,
        name: &str,
        request: UpdateBlocklist,
    ) -> ChatResult<Value> {
        const OP: &str = "UpdateBlockList";
        Self::refuse_built_in(name, OP)?;
        refuse_teams(request.team.as_deref()).map_err(|e| e.in_operation(OP))?;
        let words = checked_words(request.words).map_err(|e| e.in_operation(OP))?;
        let updated = self
            .store
            .update_blocklist(app, name, &words, Utc::now())
            .await
            .map_err(|error| match error {
                StoreError::NotFound => {
                    ApiError::not_found(format!("blocklist {name} does not exist")).in_operation(OP)
                }
                other => store_error(OP)(other),
            })?;
        Ok(json!({ "blocklist": render(&updated) }))
    }

    /// `DELETE /blocklists/{name}`: channel types that used it stop screening.
    pub async fn delete_blocklist(&self, app: AppId, name: &str) -> ChatResult<Value> {
        const OP: &str = "DeleteBlockList";
        Self::refuse_built_in(name, OP)?;
        self.store
            .delete_blocklist(app, name, Utc::now())
            .await
            .map_err(|error| match error {
                StoreError::NotFound => {
                    ApiError::not_found(format!("blocklist {name} does not exist")).in_operation(OP)
                }
                other => store_error(OP)(other),
            })?;
        self.channel_types.invalidate(app);
        Ok(json!({}))
    }

    /// Checks a channel type's blocklist settings before they are stored: the list must exist
    /// (an empty name clears it) and the behaviour must be one eddy carries out.
    pub(crate) async fn check_blocklist_settings(
        &self,
        app: AppId,
        config: &mut ChannelConfig,
    ) -> ChatResult<()> {
        if config.blocklist.as_deref() == Some("") {
            config.blocklist = None;
        }
        if !BEHAVIOURS.contains(&config.blocklist_behavior.as_str()) {
            return Err(ApiError::input(format!(
                "blocklist_behavior {:?} is not supported; use flag or block",
                config.blocklist_behavior
            )));
        }
        if let Some(name) = &config.blocklist {
            if self
                .find_blocklist(app, name, "CheckBlockList")
                .await?
                .is_none()
            {
                return Err(ApiError::input(format!("blocklist {name} does not exist")));
            }
        }
        Ok(())
    }

    /// Screens a user's message text against the channel's blocklist. With `block`, a listed word
    /// refuses the message (73); with `flag`, the hit is returned so the stored message gets
    /// flagged. Server-side calls, channels without a list and lists since deleted pass.
    pub(crate) async fn screen_text(
        &self,
        app: AppId,
        actor: &Actor,
        config: &ChannelConfig,
        text: &str,
        operation: &'static str,
    ) -> ChatResult<Option<BlocklistHit>> {
        let Some(name) = config.blocklist.as_deref().filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if actor.is_server() || text.is_empty() {
            return Ok(None);
        }
        let Some(blocklist) = self.find_blocklist(app, name, operation).await? else {
            return Ok(None);
        };
        let Some(word) = listed_word(&blocklist.words, text) else {
            return Ok(None);
        };
        if config.blocklist_behavior == "block" {
            return Err(ApiError::new(
                ErrorCode::MessageModerationFailed,
                format!("message was blocked by moderation policies (blocklist {name})"),
            )
            .in_operation(operation));
        }
        Ok(Some(BlocklistHit {
            blocklist: blocklist.name,
            word,
        }))
    }

    /// Records automod's flag on a message that used a listed word; the message's author stands
    /// as the reporter, and a message flagged before (an edit) keeps its first flag.
    pub(crate) async fn flag_for_blocklist(
        &self,
        app: AppId,
        message: &Message,
        hit: BlocklistHit,
    ) {
        let now = Utc::now();
        let mut doc = Map::new();
        doc.insert("created_by_automod".into(), json!(true));
        doc.insert(
            "details".into(),
            json!({"blocklist_name": hit.blocklist, "matched_word": hit.word}),
        );
        let flag = Flag {
            reporter_id: message.user_id.clone(),
            target: FlagTarget::Message,
            target_id: message.id.clone(),
            target_user_id: message.user_id.clone(),
            cid: Some(message.cid.clone()),
            reason: Some(format!("blocklist {}", hit.blocklist)),
            doc,
            created_at: now,
            updated_at: now,
            reviewed_at: None,
            reviewed_by: None,
        };
        match self.store.put_flag(app, &flag).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(error) => {
                tracing::warn!(%error, message_id = %message.id, "blocklist flag not recorded")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn whole_words_match_case_insensitively_across_punctuation() {
        let list = words(&["darn", "heck"]);
        assert_eq!(listed_word(&list, "Oh DARN!").as_deref(), Some("darn"));
        assert_eq!(
            listed_word(&list, "well-heck, fine").as_deref(),
            Some("heck")
        );
        assert_eq!(listed_word(&list, "(darn)").as_deref(), Some("darn"));
        assert_eq!(
            listed_word(&list, "darned heckle"),
            None,
            "only whole words"
        );
        assert_eq!(listed_word(&list, ""), None);
    }

    #[test]
    fn phrases_match_their_words_in_order() {
        let list = words(&["bad idea"]);
        assert!(listed_word(&list, "What a BAD   idea.").is_some());
        assert!(listed_word(&list, "idea bad").is_none());
        assert!(
            listed_word(&words(&["!!!"]), "!!!").is_none(),
            "no words, no match"
        );
    }

    #[test]
    fn words_are_lowercased_and_bounded() {
        assert_eq!(
            checked_words(Some(words(&["Zeta", "ALPHA"]))).unwrap(),
            ["zeta", "alpha"]
        );
        assert_eq!(checked_words(None).unwrap_err().code, ErrorCode::Input);
        assert!(checked_words(Some(vec!["x".repeat(41)])).is_err());
        assert!(checked_words(Some(vec!["x".repeat(40)])).is_ok());
        assert!(checked_words(Some(vec![" ".into()])).is_err());
        assert!(checked_words(Some(vec!["a".into(); MAX_WORDS + 1])).is_err());
    }

    #[test]
    fn names_are_required_and_bounded() {
        assert!(checked_name(None).is_err());
        assert!(checked_name(Some(String::new())).is_err());
        assert!(checked_name(Some("n".repeat(256))).is_err());
        assert!(checked_name(Some("a/b".into())).is_err());
        assert_eq!(checked_name(Some("Foo".into())).unwrap(), "Foo");
    }

    #[test]
    fn the_built_in_list_screens_its_own_words() {
        let list = built_in();
        assert_eq!(list.name, BUILT_IN_BLOCKLIST);
        assert!(listed_word(&list.words, "what the SHIT").is_some());
        assert!(listed_word(&list.words, "a perfectly nice sentence").is_none());
    }
}
