//! Data-driven rendering tests: every filter below, for every query schema, shows its SQLite and PostgreSQL SQL in `filter_sql.golden.md`.
//!
//! The golden file is the reviewable record of what each filter becomes. After an intended change,
//! regenerate it with `EDDY_BLESS=1 cargo test -p eddy-store --test filter_sql` and read the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use eddy_query::{parse_filter, render_filter_for, Dialect, Rendered, Schema};
use eddy_store::schemas;
use serde_json::Value;
use std::fmt::Write;

/// (query, schema, viewer, filters): the viewer is the querying user of user-relative fields.
const CASES: &[(&str, &Schema, Option<&str>, &[&str])] = &[
    (
        "queryChannels",
        &schemas::CHANNELS,
        Some("alice"),
        &[
            r#"{"type": "messaging"}"#,
            r#"{"cid": {"$in": ["messaging:a", "team:b"]}}"#,
            r#"{"id": {"$autocomplete": "gen"}}"#,
            r#"{"members": {"$in": ["alice", "bob"]}}"#,
            r#"{"members": {"$eq": ["bob", "alice"]}}"#,
            r#"{"members": {"$nin": ["carol"]}}"#,
            r#"{"last_message_at": {"$gt": "2024-01-01T00:00:00Z"}}"#,
            r#"{"last_updated": {"$lte": "2024-01-01"}}"#,
            r#"{"created_at": {"$exists": false}}"#,
            r#"{"member_count": {"$gte": 2, "$lt": 10}}"#,
            r#"{"frozen": true}"#,
            r#"{"disabled": false}"#,
            r#"{"distinct": true}"#,
            r#"{"team": "red"}"#,
            r#"{"name": {"$autocomplete": "gen"}}"#,
            r#"{"name": {"$q": "general chat"}}"#,
            r#"{"member.user.name": {"$autocomplete": "ali"}}"#,
            r#"{"filter_tags": {"$contains": "news"}}"#,
            r#"{"filter_tags": {"$eq": ["a", "b"]}}"#,
            r#"{"joined": true}"#,
            r#"{"invite": "pending"}"#,
            r#"{"muted": false}"#,
            r#"{"pinned": true}"#,
            r#"{"archived": false}"#,
            r#"{"has_unread": true}"#,
            r#"{"channel_role": "channel_moderator"}"#,
            r#"{"app_banned": "excluded"}"#,
            r#"{"color": "blue"}"#,
            r#"{"details.level": {"$gt": 3}}"#,
            r#"{"tags": {"$contains": "x"}}"#,
            r#"{"color": {"$exists": true}}"#,
            r#"{"$or": [{"type": "team"}, {"frozen": true}]}"#,
            r#"{"$nor": [{"type": "team"}, {"color": {"$in": ["red", "blue"]}}]}"#,
            r#"{"$and": [{"members": {"$in": ["alice"]}}, {"$or": [{"name": {"$autocomplete": "a"}}, {"color": null}]}]}"#,
        ],
    ),
    (
        "queryUsers",
        &schemas::USERS,
        None,
        &[
            r#"{"id": {"$in": ["alice", "bob"]}}"#,
            r#"{"id": {"$ne": "alice"}}"#,
            r#"{"id": {"$nin": ["alice"]}}"#,
            r#"{"name": {"$autocomplete": "jo"}}"#,
            r#"{"role": "admin"}"#,
            r#"{"teams": {"$contains": "red"}}"#,
            r#"{"teams": {"$in": ["red", "blue"]}}"#,
            r#"{"banned": false}"#,
            r#"{"shadow_banned": {"$ne": true}}"#,
            r#"{"last_active": {"$exists": false}}"#,
            r#"{"created_at": {"$gte": "2024-01-01T00:00:00.5+02:00"}}"#,
            r#"{"race": "Hobbit"}"#,
            r#"{"age": {"$gt": 30}}"#,
        ],
    ),
    (
        "queryMembers",
        &schemas::MEMBERS,
        None,
        &[
            r#"{"name": {"$autocomplete": "car"}}"#,
            r#"{"user_id": {"$in": ["bob", "carol"]}}"#,
            r#"{"user.email": {"$autocomplete": "a"}}"#,
            r#"{"channel_role": "channel_member"}"#,
            r#"{"is_moderator": true}"#,
            r#"{"joined": false}"#,
            r#"{"invite": {"$in": ["pending", "rejected"]}}"#,
            r#"{"banned": true}"#,
            r#"{"last_active": {"$lt": "2024-06-01T00:00:00Z"}}"#,
            r#"{"hat": "blue"}"#,
        ],
    ),
    (
        "search (message_filter_conditions)",
        &schemas::MESSAGES,
        None,
        &[
            r#"{"text": {"$q": "hello world"}}"#,
            r#"{"text": {"$q": "\"drop\" OR * NEAR(x)"}}"#,
            r#"{"text": {"$autocomplete": "hel"}}"#,
            r#"{"user.id": {"$in": ["alice"]}}"#,
            r#"{"attachments": {"$exists": true}}"#,
            r#"{"attachments.type": {"$in": ["image", "video"]}}"#,
            r#"{"mentioned_users.id": {"$contains": "bob"}}"#,
            r#"{"reply_count": {"$gt": 0}}"#,
            r#"{"pinned": true}"#,
            r#"{"priority": {"$gte": 2}}"#,
        ],
    ),
    (
        "queryBannedUsers",
        &schemas::BANS,
        None,
        &[
            r#"{"reason": "because"}"#,
            r#"{"channel_cid": {"$exists": false}}"#,
            r#"{"user_id": {"$in": ["bob"]}, "created_at": {"$gt": "2024-01-01T00:00:00Z"}}"#,
        ],
    ),
    (
        "queryMessageFlags",
        &schemas::FLAGS,
        None,
        &[
            r#"{"channel_cid": "messaging:general"}"#,
            r#"{"user_id": {"$in": ["bob"]}}"#,
            r#"{"is_reviewed": false}"#,
        ],
    ),
    (
        "queryThreads",
        &schemas::THREADS,
        Some("alice"),
        &[
            r#"{"channel_cid": {"$in": ["messaging:general"]}}"#,
            r#"{"has_unread": true}"#,
            r#"{"last_message_at": {"$gte": "2024-01-01T00:00:00Z"}}"#,
            r#"{"participant_count": {"$gt": 1}}"#,
            r#"{"channel.team": "red"}"#,
        ],
    ),
];

fn render(filter: &str, schema: &Schema, viewer: Option<&str>, dialect: Dialect) -> String {
    let json: Value = serde_json::from_str(filter).expect("case is JSON");
    let parsed = parse_filter(&json, schema).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let mut out = Rendered::default();
    // As the backends do: the app id is bound first, and `{app}` in templates names it.
    out.bind_app(dialect, 1);
    render_filter_for(&parsed, schema, dialect, viewer, &mut out)
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    format!("{}\n    binds: {:?}", out.sql, out.binds)
}

fn golden() -> String {
    let mut text = String::from(
        "# Filters and their SQL\n\n\
         Generated by `crates/store/tests/filter_sql.rs`; every value is a bound parameter.\n",
    );
    for (query, schema, viewer, filters) in CASES {
        write!(text, "\n## {query}\n").unwrap();
        if let Some(viewer) = viewer {
            writeln!(text, "\nAs user `{viewer}`.").unwrap();
        }
        for filter in *filters {
            let sqlite = render(filter, schema, *viewer, Dialect::Sqlite);
            let postgres = render(filter, schema, *viewer, Dialect::Postgres);
            write!(
                text,
                "\n`{filter}`\n\n```\nsqlite:   {sqlite}\npostgres: {postgres}\n```\n"
            )
            .unwrap();
        }
    }
    text
}

#[test]
fn every_filter_renders_as_the_golden_file_shows() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filter_sql.golden.md");
    let rendered = golden();
    if std::env::var("EDDY_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if rendered != expected {
        let first_difference = rendered
            .lines()
            .zip(expected.lines())
            .enumerate()
            .find(|(_, (got, want))| got != want)
            .map(|(line, (got, want))| format!("line {}:\n  got:  {got}\n  want: {want}", line + 1))
            .unwrap_or_else(|| "one file is a prefix of the other".into());
        panic!(
            "rendered SQL differs from {}; {first_difference}\n\
             if the change is intended, run EDDY_BLESS=1 cargo test -p eddy-store --test filter_sql",
            path.display()
        );
    }
}

/// The rendered SQL never contains a filter's values: they are all bound.
#[test]
fn values_never_reach_the_sql_text() {
    for (_, schema, viewer, filters) in CASES {
        for filter in *filters {
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                let sql = render(filter, schema, *viewer, dialect);
                let sql = sql.split("\n    binds:").next().unwrap();
                for needle in ["Hobbit", "because", "hello", "drop", "blue", "alice"] {
                    assert!(
                        !sql.contains(needle),
                        "{filter} put {needle:?} into the SQL text: {sql}"
                    );
                }
            }
        }
    }
}
