//! Bulk import on SQLite: multi-row inserts in large transactions, then the derived counts of what the batch touched.

use super::rows::{to_json, ts};
use super::{backend, SqliteStore};
use crate::contract::*;
use crate::import::{latest_by_key, thread_summaries, touched};
use crate::model::*;
use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};

/// Rows written per transaction.
const TX_ROWS: usize = 10_000;
/// Rows per INSERT statement: at most 13 parameters a row stays far below SQLite's parameter limit.
const STATEMENT_ROWS: usize = 250;
/// Keys per recompute statement (passed as one JSON array parameter).
const KEYS_PER_STATEMENT: usize = 5_000;

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// One table's multi-row insert: `head` names the columns (app_id first), `tail` says what a conflict does.
struct Insert {
    head: &'static str,
    /// Bound columns per row besides `app_id`.
    columns: usize,
    tail: &'static str,
}

impl Insert {
    /// `head VALUES (?, ?, ...), (?, ...) tail` for `rows` rows, the app bound first in each row.
    /// Anonymous placeholders on purpose: sqlx looks up every numbered one by name, and SQLite's
    /// name lookup is linear, which made binding a 250-row statement quadratic.
    fn sql(&self, rows: usize) -> String {
        let mut row = String::from("(?");
        for _ in 0..self.columns {
            row.push_str(", ?");
        }
        row.push(')');
        let mut sql =
            String::with_capacity(self.head.len() + self.tail.len() + rows * (row.len() + 2) + 16);
        sql.push_str(self.head);
        sql.push_str(" VALUES ");
        for index in 0..rows {
            if index > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&row);
        }
        sql.push(' ');
        sql.push_str(self.tail);
        sql
    }

    /// Writes `rows` in transactions of [`TX_ROWS`], statements of [`STATEMENT_ROWS`].
    async fn run<T>(
        &self,
        store: &SqliteStore,
        app: AppId,
        rows: &[&T],
        bind: for<'q> fn(Query<'q>, &'q T) -> StoreResult<Query<'q>>,
    ) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let full = self.sql(STATEMENT_ROWS.min(rows.len()));
        for transaction in rows.chunks(TX_ROWS) {
            let mut tx = store.writer.begin().await.map_err(backend)?;
            for statement in transaction.chunks(STATEMENT_ROWS) {
                let partial;
                let sql = if statement.len() == STATEMENT_ROWS.min(rows.len()) {
                    &full
                } else {
                    partial = self.sql(statement.len());
                    &partial
                };
                let mut query = sqlx::query(sql);
                for row in statement {
                    query = bind(query.bind(app), row)?;
                }
                query.execute(&mut *tx).await.map_err(backend)?;
            }
            tx.commit().await.map_err(backend)?;
        }
        Ok(())
    }
}

const USERS: Insert = Insert {
    head: "INSERT INTO users (app_id, id, role, doc, created_at, updated_at, last_active, deactivated_at, deleted_at)",
    columns: 8,
    tail: "ON CONFLICT (app_id, id) DO UPDATE SET role = excluded.role, doc = excluded.doc,
             updated_at = excluded.updated_at, last_active = COALESCE(excluded.last_active, users.last_active),
             deactivated_at = excluded.deactivated_at, deleted_at = excluded.deleted_at",
};

fn bind_user<'q>(query: Query<'q>, user: &'q User) -> StoreResult<Query<'q>> {
    Ok(query
        .bind(user.id.as_str())
        .bind(user.role.as_str())
        .bind(to_json(&user.doc)?)
        .bind(ts(&user.created_at))
        .bind(ts(&user.updated_at))
        .bind(user.last_active.as_ref().map(ts))
        .bind(user.deactivated_at.as_ref().map(ts))
        .bind(user.deleted_at.as_ref().map(ts)))
}

const CHANNELS: Insert = Insert {
    head: "INSERT INTO channels (app_id, cid, type, id, created_by, doc, frozen, disabled, created_at, updated_at, truncated_at, deleted_at)",
    columns: 11,
    tail: "ON CONFLICT (app_id, cid) DO UPDATE SET created_by = excluded.created_by, doc = excluded.doc,
             frozen = excluded.frozen, disabled = excluded.disabled, updated_at = excluded.updated_at,
             truncated_at = excluded.truncated_at, deleted_at = excluded.deleted_at",
};

fn bind_channel<'q>(query: Query<'q>, channel: &'q Channel) -> StoreResult<Query<'q>> {
    Ok(query
        .bind(channel.cid.as_str())
        .bind(channel.kind.as_str())
        .bind(channel.id.as_str())
        .bind(channel.created_by.as_deref())
        .bind(to_json(&channel.doc)?)
        .bind(channel.frozen)
        .bind(channel.disabled)
        .bind(ts(&channel.created_at))
        .bind(ts(&channel.updated_at))
        .bind(channel.truncated_at.as_ref().map(ts))
        .bind(channel.deleted_at.as_ref().map(ts)))
}

const MEMBERS: Insert = Insert {
    head: "INSERT INTO members (app_id, cid, user_id, channel_role, doc, hidden, hide_messages_before, created_at, updated_at,
             last_read, last_read_message_id, unread_messages, first_unread_message_id)",
    columns: 12,
    tail: "ON CONFLICT DO NOTHING",
};

fn bind_member<'q>(query: Query<'q>, member: &'q Member) -> StoreResult<Query<'q>> {
    Ok(query
        .bind(member.cid.as_str())
        .bind(member.user_id.as_str())
        .bind(member.channel_role.as_str())
        .bind(to_json(&member.doc)?)
        .bind(member.hidden)
        .bind(member.hide_messages_before.as_ref().map(ts))
        .bind(ts(&member.created_at))
        .bind(ts(&member.updated_at))
        .bind(ts(&member.last_read))
        .bind(member.last_read_message_id.as_deref())
        .bind(member.unread_messages)
        .bind(member.first_unread_message_id.as_deref()))
}

/// Reply counts, participants and reactions are not taken from the input: they start empty and are derived.
const MESSAGES: Insert = Insert {
    head: "INSERT INTO messages (app_id, id, cid, parent_id, user_id, type, show_in_channel, doc, created_at, updated_at, deleted_at)",
    columns: 10,
    tail: "ON CONFLICT DO NOTHING",
};

fn bind_message<'q>(query: Query<'q>, message: &'q Message) -> StoreResult<Query<'q>> {
    Ok(query
        .bind(message.id.as_str())
        .bind(message.cid.as_str())
        .bind(message.parent_id.as_deref())
        .bind(message.user_id.as_str())
        .bind(message.kind.as_str())
        .bind(message.show_in_channel)
        .bind(to_json(&message.doc)?)
        .bind(ts(&message.created_at))
        .bind(ts(&message.updated_at))
        .bind(message.deleted_at.as_ref().map(ts)))
}

/// Member counts and the latest in-channel message time, from what is stored.
async fn recompute_channels(
    conn: &mut SqliteConnection,
    app: AppId,
    cids: &[&str],
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE channels SET
           member_count = (SELECT COUNT(*) FROM members m WHERE m.app_id = channels.app_id AND m.cid = channels.cid),
           last_message_at = (SELECT g.created_at FROM messages g WHERE g.app_id = channels.app_id AND g.cid = channels.cid
             AND g.deleted_at IS NULL AND (g.parent_id IS NULL OR g.show_in_channel = 1) ORDER BY g.created_at DESC LIMIT 1)
         WHERE app_id = ?1 AND cid IN (SELECT value FROM json_each(?2))",
    )
    .bind(app)
    .bind(to_json(&cids)?)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    sqlx::query(
        "UPDATE members SET channel_last_message_at =
           (SELECT c.last_message_at FROM channels c WHERE c.app_id = members.app_id AND c.cid = members.cid)
         WHERE app_id = ?1 AND cid IN (SELECT value FROM json_each(?2))",
    )
    .bind(app)
    .bind(to_json(&cids)?)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Reply counts and thread participants of these parents, from their stored replies.
async fn recompute_parents(
    conn: &mut SqliteConnection,
    app: AppId,
    parents: &[&str],
) -> StoreResult<()> {
    let keys = to_json(&parents)?;
    let authors = sqlx::query(
        "SELECT id, user_id FROM messages WHERE app_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
    )
    .bind(app)
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?
    .iter()
    .map(|row| Ok((row.try_get(0).map_err(backend)?, row.try_get(1).map_err(backend)?)))
    .collect::<StoreResult<Vec<(String, String)>>>()?;
    let replies = sqlx::query(
        "SELECT parent_id, user_id FROM messages WHERE app_id = ?1 AND parent_id IN (SELECT value FROM json_each(?2))
         ORDER BY parent_id, created_at, id",
    )
    .bind(app)
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?
    .iter()
    .map(|row| Ok((row.try_get(0).map_err(backend)?, row.try_get(1).map_err(backend)?)))
    .collect::<StoreResult<Vec<(String, String)>>>()?;
    // One statement per parent: an `UPDATE ... FROM json_each(?)` is planned as a scan of every
    // message per summary, while this one is a primary-key lookup (prepared once, reused).
    for summary in thread_summaries(authors, replies) {
        sqlx::query("UPDATE messages SET reply_count = ?1, thread_participants = ?2 WHERE app_id = ?3 AND id = ?4")
            .bind(summary.reply_count)
            .bind(to_json(&summary.participants)?)
            .bind(app)
            .bind(&summary.id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// Page cache of the writer connection while importing (KiB, as `PRAGMA cache_size` takes it negated):
/// index pages stay cached across transactions instead of being re-read and re-written.
const IMPORT_CACHE_KIB: i64 = 128 * 1024;
/// WAL pages before an automatic checkpoint while importing: checkpoints (each with two fsyncs)
/// run every few transactions instead of on nearly every commit.
const IMPORT_AUTOCHECKPOINT_PAGES: i64 = 100_000;

impl SqliteStore {
    async fn pragma(&self, name: &str) -> StoreResult<i64> {
        sqlx::query(&format!("PRAGMA {name}"))
            .fetch_one(&self.writer)
            .await
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)
    }

    /// Sets an integer pragma on the writer connection (names are constants of this module).
    async fn set_pragma(&self, name: &str, value: i64) -> StoreResult<()> {
        sqlx::query(&format!("PRAGMA {name} = {value}"))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn import_rows(&self, app: AppId, batch: &ImportBatch) -> StoreResult<()> {
        USERS
            .run(
                self,
                app,
                &latest_by_key(&batch.users, |user| &user.id),
                bind_user,
            )
            .await?;
        CHANNELS
            .run(
                self,
                app,
                &latest_by_key(&batch.channels, |channel| &channel.cid),
                bind_channel,
            )
            .await?;
        let members: Vec<&Member> = batch.members.iter().collect();
        MEMBERS.run(self, app, &members, bind_member).await?;
        let messages: Vec<&Message> = batch.messages.iter().collect();
        MESSAGES.run(self, app, &messages, bind_message).await?;
        let (cids, parents) = touched(batch);
        for keys in cids.chunks(KEYS_PER_STATEMENT) {
            let mut tx = self.writer.begin().await.map_err(backend)?;
            recompute_channels(&mut tx, app, keys).await?;
            tx.commit().await.map_err(backend)?;
        }
        for keys in parents.chunks(KEYS_PER_STATEMENT) {
            let mut tx = self.writer.begin().await.map_err(backend)?;
            recompute_parents(&mut tx, app, keys).await?;
            tx.commit().await.map_err(backend)?;
        }
        Ok(())
    }
}

#[async_trait]
impl BulkStore for SqliteStore {
    async fn import(&self, app: AppId, batch: &ImportBatch) -> StoreResult<()> {
        // A larger cache and rarer checkpoints for the import's duration (about 1.5x the rate on
        // 2 cores), then the connection's own settings again; other writers may interleave.
        let cache = self.pragma("cache_size").await?;
        let autocheckpoint = self.pragma("wal_autocheckpoint").await?;
        self.set_pragma("cache_size", -IMPORT_CACHE_KIB).await?;
        self.set_pragma("wal_autocheckpoint", IMPORT_AUTOCHECKPOINT_PAGES)
            .await?;
        let outcome = self.import_rows(app, batch).await;
        let restored = async {
            self.set_pragma("cache_size", cache).await?;
            self.set_pragma("wal_autocheckpoint", autocheckpoint)
                .await?;
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.writer)
                .await
                .map_err(backend)?;
            StoreResult::Ok(())
        }
        .await;
        outcome.and(restored)
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use serde_json::json;
    use sqlx::Connection;

    fn at(micros: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
            + chrono::Duration::microseconds(micros)
    }

    /// Import rate of 100k messages with their full-text index: `cargo test --release -p eddy-store
    /// import_speed -- --ignored --nocapture` (`REPLIES=1`: 5% replies, `NO_FTS=1`: without the index).
    #[tokio::test]
    #[ignore]
    async fn import_speed() {
        let path =
            std::env::temp_dir().join(format!("eddy-import-speed-{}.sqlite3", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = SqliteStore::open(&path).await.unwrap();
        if std::env::var("NO_FTS").is_ok() {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query("DROP TRIGGER messages_fts_insert")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let app = store.ensure_app("k", "s", "n").await.unwrap().id;
        let channels: Vec<Channel> = (0..10_000)
            .map(|c| Channel {
                cid: format!("messaging:c{c}"),
                kind: "messaging".into(),
                id: format!("c{c}"),
                created_by: None,
                doc: Document::new(),
                frozen: false,
                disabled: false,
                member_count: 0,
                created_at: at(0),
                updated_at: at(0),
                last_message_at: None,
                truncated_at: None,
                deleted_at: None,
            })
            .collect();
        store
            .import(
                app,
                &ImportBatch {
                    channels,
                    ..ImportBatch::default()
                },
            )
            .await
            .unwrap();
        let replies = std::env::var("REPLIES").is_ok();
        let mut messages = Vec::new();
        let mut seed: u64 = 7;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        for c in 0..10_000 {
            for k in 0..10 {
                let text: Vec<String> = (0..12).map(|_| format!("w{}", next() % 3000)).collect();
                let text = text.join(" ");
                let parent = (replies && k > 0 && next() % 20 == 0).then(|| format!("m{c}-0"));
                messages.push(Message {
                    id: format!("m{c}-{k}"),
                    cid: format!("messaging:c{c}"),
                    parent_id: parent,
                    user_id: format!("u{}", next() % 2000),
                    kind: "regular".into(),
                    show_in_channel: false,
                    reply_count: 0,
                    doc: json!({"text": text, "html": format!("<p>{text}</p>\n"), "attachments": [], "mentioned_users": [], "silent": false}).as_object().cloned().unwrap_or_default(),
                    reaction_groups: Document::new(),
                    latest_reactions: Vec::new(),
                    thread_participants: Vec::new(),
                    created_at: at((next() % 2_000_000_000) as i64),
                    updated_at: at(0),
                    deleted_at: None,
                });
            }
        }
        let replies = messages.iter().filter(|m| m.parent_id.is_some()).count();
        let batch = ImportBatch {
            messages,
            ..ImportBatch::default()
        };
        let started = std::time::Instant::now();
        store.import(app, &batch).await.unwrap();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "imported 100000 messages ({replies} replies) into 10000 channels in {seconds:.2} s = {:.0} messages/s",
            100_000.0 / seconds
        );
        let _ = std::fs::remove_file(&path);
    }
}
