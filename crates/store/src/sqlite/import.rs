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
/// Rows per INSERT statement: at most 12 parameters a row stays far below SQLite's parameter limit.
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
    /// `head VALUES (?1, ?2, ...), (?1, ...) tail` for `rows` rows; `?1` is the app.
    fn sql(&self, rows: usize) -> String {
        let mut sql = String::with_capacity(self.head.len() + rows * (self.columns * 7 + 8));
        sql.push_str(self.head);
        sql.push_str(" VALUES ");
        let mut next = 2;
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?1");
            for _ in 0..self.columns {
                sql.push_str(", ?");
                sql.push_str(&next.to_string());
                next += 1;
            }
            sql.push(')');
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
                let mut query = sqlx::query(sql).bind(app);
                for row in statement {
                    query = bind(query, row)?;
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
    let summaries: Vec<serde_json::Value> = thread_summaries(authors, replies)
        .into_iter()
        .map(|summary| serde_json::json!([summary.id, summary.reply_count, summary.participants]))
        .collect();
    sqlx::query(
        "UPDATE messages SET reply_count = json_extract(u.value, '$[1]'), thread_participants = json_extract(u.value, '$[2]')
         FROM json_each(?2) u WHERE messages.app_id = ?1 AND messages.id = json_extract(u.value, '$[0]')",
    )
    .bind(app)
    .bind(to_json(&summaries)?)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl BulkStore for SqliteStore {
    async fn import(&self, app: AppId, batch: &ImportBatch) -> StoreResult<()> {
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
