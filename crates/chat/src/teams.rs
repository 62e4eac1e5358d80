//! Multi-tenant mode (`multi_tenant_enabled`): a user is confined to the channels and users of their
//! own teams.
//!
//! Stream's rule, as its docs state it: with multi-tenancy on, every user request must apply to a
//! team the user belongs to, and a user without teams only reaches channels and users without a
//! team. Server-side requests are not confined. eddy applies it in three places: channel access
//! (`require` refuses a channel of another team with code 17), the channel filters of
//! queryChannels and search, and the user filter of queryUsers (the restriction is ANDed to the
//! caller's filter, so naming another team finds nothing rather than escaping it).

use crate::{Actor, Chat, ChatResult};
use eddy_query::{Filter, Op};
use eddy_store::{AppId, Channel, User};
use serde_json::{json, Value};

/// The teams a user belongs to (`teams` in their data), in stored order.
pub(crate) fn user_teams(user: &User) -> Vec<String> {
    user.doc
        .get("teams")
        .and_then(Value::as_array)
        .map(|teams| {
            teams
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The channel's team, if it has one.
pub(crate) fn channel_team(channel: &Channel) -> Option<&str> {
    channel
        .doc
        .get("team")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

/// Whether a confined user may reach this channel: its team is one of theirs, or neither has any.
pub(crate) fn may_reach(user: &User, channel: &Channel) -> bool {
    let teams = user_teams(user);
    match channel_team(channel) {
        Some(team) => teams.iter().any(|t| t == team),
        None => teams.is_empty(),
    }
}

/// The channel filter condition confining `teams` (`team $in teams`, or no team at all).
pub(crate) fn channel_condition(teams: &[String]) -> Filter {
    if teams.is_empty() {
        Filter::Compare {
            field: "team".into(),
            op: Op::Exists,
            value: json!(false),
        }
    } else {
        Filter::Compare {
            field: "team".into(),
            op: Op::In,
            value: json!(teams),
        }
    }
}

/// The user filter condition confining `teams` (users sharing one, or users without any).
pub(crate) fn user_condition(teams: &[String]) -> Filter {
    if teams.is_empty() {
        // The exact empty set: no `teams`, or an empty list.
        Filter::Compare {
            field: "teams".into(),
            op: Op::Eq,
            value: json!([]),
        }
    } else {
        Filter::Compare {
            field: "teams".into(),
            op: Op::In,
            value: json!(teams),
        }
    }
}

impl Chat {
    /// Whether the app runs in multi-tenant mode (from the per-node app cache).
    pub(crate) async fn multi_tenant(&self, app: AppId) -> ChatResult<bool> {
        let record = self.app_by_id(app).await?;
        Ok(record.is_some_and(|a| {
            a.settings
                .get("multi_tenant_enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        }))
    }
}

/// The teams a request is confined to: `Some` for a user token in a multi-tenant app.
pub(crate) fn confined_teams(multi_tenant: bool, actor: &Actor) -> Option<Vec<String>> {
    match actor {
        Actor::User(user) if multi_tenant => Some(user_teams(user)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_in(teams: &[&str]) -> User {
        let mut user = User::new("u".into(), "user");
        if !teams.is_empty() {
            user.doc.insert("teams".into(), json!(teams));
        }
        user
    }

    fn channel_of(team: Option<&str>) -> Channel {
        let now = chrono::Utc::now();
        let mut doc = serde_json::Map::new();
        if let Some(team) = team {
            doc.insert("team".into(), json!(team));
        }
        Channel {
            cid: "messaging:x".into(),
            kind: "messaging".into(),
            id: "x".into(),
            created_by: None,
            doc,
            frozen: false,
            disabled: false,
            member_count: 0,
            created_at: now,
            updated_at: now,
            last_message_at: None,
            truncated_at: None,
            deleted_at: None,
        }
    }

    #[test]
    fn users_reach_their_teams_channels_and_teamless_users_teamless_ones() {
        let blue = user_in(&["blue", "green"]);
        let nobody = user_in(&[]);
        assert!(may_reach(&blue, &channel_of(Some("blue"))));
        assert!(may_reach(&blue, &channel_of(Some("green"))));
        assert!(!may_reach(&blue, &channel_of(Some("red"))));
        assert!(!may_reach(&blue, &channel_of(None)));
        assert!(may_reach(&nobody, &channel_of(None)));
        assert!(!may_reach(&nobody, &channel_of(Some("blue"))));
    }
}
