//! Bulk import on PostgreSQL: one `INSERT ... SELECT FROM UNNEST` of column arrays per transaction, then the derived counts.

use super::rows::{to_json, ts};
use super::{backend, PostgresStore};
use crate::contract::*;
use crate::import::{latest_by_key, thread_summaries, touched};
use crate::model::*;
use async_trait::async_trait;
use sqlx::{PgConnection, Row};

/// Rows written per statement and transaction.
const TX_ROWS: usize = 5_000;
/// Keys per recompute statement.
const KEYS_PER_STATEMENT: usize = 5_000;

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn times<T>(rows: &[&T], field: impl Fn(&T) -> &Timestamp) -> Vec<String> {
    rows.iter().map(|row| ts(field(row))).collect()
}

fn optional_times<T>(rows: &[&T], field: impl Fn(&T) -> Option<&Timestamp>) -> Vec<Option<String>> {
    rows.iter().map(|row| field(row).map(ts)).collect()
}

fn documents<T>(rows: &[&T], field: impl Fn(&T) -> &Document) -> StoreResult<Vec<String>> {
    rows.iter().map(|row| to_json(field(row))).collect()
}

/// Runs `insert` over `rows` in transactions of [`TX_ROWS`], one statement each.
async fn in_transactions<T>(
    store: &PostgresStore,
    app: AppId,
    sql: &'static str,
    rows: &[&T],
    bind: for<'q> fn(Query<'q>, &[&T]) -> StoreResult<Query<'q>>,
) -> StoreResult<()> {
    for chunk in rows.chunks(TX_ROWS) {
        let mut tx = store.pool.begin().await.map_err(backend)?;
        bind(sqlx::query(sql).bind(app), chunk)?
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
    }
    Ok(())
}

const USERS: &str = "INSERT INTO users (app_id, id, role, doc, created_at, updated_at, last_active, deactivated_at, deleted_at)
    SELECT $1, t.id, t.role, t.doc::jsonb, t.created_at, t.updated_at, t.last_active, t.deactivated_at, t.deleted_at
    FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
      AS t(id, role, doc, created_at, updated_at, last_active, deactivated_at, deleted_at)
    ON CONFLICT (app_id, id) DO UPDATE SET role = excluded.role, doc = excluded.doc,
      updated_at = excluded.updated_at, last_active = COALESCE(excluded.last_active, users.last_active),
      deactivated_at = excluded.deactivated_at, deleted_at = excluded.deleted_at";

fn bind_users<'q>(query: Query<'q>, users: &[&User]) -> StoreResult<Query<'q>> {
    Ok(query
        .bind(users.iter().map(|user| user.id.clone()).collect::<Vec<_>>())
        .bind(
            users
                .iter()
                .map(|user| user.role.clone())
                .collect::<Vec<_>>(),
        )
        .bind(documents(users, |user| &user.doc)?)
        .bind(times(users, |user| &user.created_at))
        .bind(times(users, |user| &user.updated_at))
        .bind(optional_times(users, |user| user.last_active.as_ref()))
        .bind(optional_times(users, |user| user.deactivated_at.as_ref()))
        .bind(optional_times(users, |user| user.deleted_at.as_ref())))
}

const CHANNELS: &str = "INSERT INTO channels (app_id, cid, type, id, created_by, doc, frozen, disabled, created_at, updated_at, truncated_at, deleted_at)
    SELECT $1, t.cid, t.type, t.id, t.created_by, t.doc::jsonb, t.frozen, t.disabled, t.created_at, t.updated_at, t.truncated_at, t.deleted_at
    FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::bool[], $9::text[], $10::text[], $11::text[], $12::text[])
      AS t(cid, type, id, created_by, doc, frozen, disabled, created_at, updated_at, truncated_at, deleted_at)
    ON CONFLICT (app_id, cid) DO UPDATE SET created_by = excluded.created_by, doc = excluded.doc,
      frozen = excluded.frozen, disabled = excluded.disabled, updated_at = excluded.updated_at,
      truncated_at = excluded.truncated_at, deleted_at = excluded.deleted_at";

fn bind_channels<'q>(query: Query<'q>, channels: &[&Channel]) -> StoreResult<Query<'q>> {
    Ok(query
        .bind(channels.iter().map(|c| c.cid.clone()).collect::<Vec<_>>())
        .bind(channels.iter().map(|c| c.kind.clone()).collect::<Vec<_>>())
        .bind(channels.iter().map(|c| c.id.clone()).collect::<Vec<_>>())
        .bind(
            channels
                .iter()
                .map(|c| c.created_by.clone())
                .collect::<Vec<_>>(),
        )
        .bind(documents(channels, |c| &c.doc)?)
        .bind(channels.iter().map(|c| c.frozen).collect::<Vec<_>>())
        .bind(channels.iter().map(|c| c.disabled).collect::<Vec<_>>())
        .bind(times(channels, |c| &c.created_at))
        .bind(times(channels, |c| &c.updated_at))
        .bind(optional_times(channels, |c| c.truncated_at.as_ref()))
        .bind(optional_times(channels, |c| c.deleted_at.as_ref())))
}

const MEMBERS: &str = "INSERT INTO members (app_id, cid, user_id, channel_role, doc, hidden, hide_messages_before, created_at, updated_at,
      last_read, last_read_message_id, unread_messages, first_unread_message_id)
    SELECT $1, t.cid, t.user_id, t.channel_role, t.doc::jsonb, t.hidden, t.hide_messages_before, t.created_at, t.updated_at,
      t.last_read, t.last_read_message_id, t.unread_messages, t.first_unread_message_id
    FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::text[], $9::text[], $10::text[],
      $11::text[], $12::int8[], $13::text[])
      AS t(cid, user_id, channel_role, doc, hidden, hide_messages_before, created_at, updated_at, last_read,
        last_read_message_id, unread_messages, first_unread_message_id)
    ON CONFLICT DO NOTHING";

fn bind_members<'q>(query: Query<'q>, members: &[&Member]) -> StoreResult<Query<'q>> {
    Ok(query
        .bind(members.iter().map(|m| m.cid.clone()).collect::<Vec<_>>())
        .bind(
            members
                .iter()
                .map(|m| m.user_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            members
                .iter()
                .map(|m| m.channel_role.clone())
                .collect::<Vec<_>>(),
        )
        .bind(documents(members, |m| &m.doc)?)
        .bind(members.iter().map(|m| m.hidden).collect::<Vec<_>>())
        .bind(optional_times(members, |m| m.hide_messages_before.as_ref()))
        .bind(times(members, |m| &m.created_at))
        .bind(times(members, |m| &m.updated_at))
        .bind(times(members, |m| &m.last_read))
        .bind(
            members
                .iter()
                .map(|m| m.last_read_message_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            members
                .iter()
                .map(|m| m.unread_messages)
                .collect::<Vec<_>>(),
        )
        .bind(
            members
                .iter()
                .map(|m| m.first_unread_message_id.clone())
                .collect::<Vec<_>>(),
        ))
}

/// Reply counts, participants and reactions are not taken from the input: they start empty and are derived.
const MESSAGES: &str = "INSERT INTO messages (app_id, id, cid, parent_id, user_id, type, show_in_channel, doc, created_at, updated_at, deleted_at)
    SELECT $1, t.id, t.cid, t.parent_id, t.user_id, t.type, t.show_in_channel, t.doc::jsonb, t.created_at, t.updated_at, t.deleted_at
    FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::text[], $10::text[], $11::text[])
      AS t(id, cid, parent_id, user_id, type, show_in_channel, doc, created_at, updated_at, deleted_at)
    ON CONFLICT DO NOTHING";

fn bind_messages<'q>(query: Query<'q>, messages: &[&Message]) -> StoreResult<Query<'q>> {
    Ok(query
        .bind(messages.iter().map(|m| m.id.clone()).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.cid.clone()).collect::<Vec<_>>())
        .bind(
            messages
                .iter()
                .map(|m| m.parent_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.user_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(messages.iter().map(|m| m.kind.clone()).collect::<Vec<_>>())
        .bind(
            messages
                .iter()
                .map(|m| m.show_in_channel)
                .collect::<Vec<_>>(),
        )
        .bind(documents(messages, |m| &m.doc)?)
        .bind(times(messages, |m| &m.created_at))
        .bind(times(messages, |m| &m.updated_at))
        .bind(optional_times(messages, |m| m.deleted_at.as_ref())))
}

/// Member counts and the latest in-channel message time, from what is stored.
async fn recompute_channels(conn: &mut PgConnection, app: AppId, cids: &[&str]) -> StoreResult<()> {
    sqlx::query(
        "UPDATE channels c SET
           member_count = (SELECT COUNT(*) FROM members m WHERE m.app_id = c.app_id AND m.cid = c.cid),
           last_message_at = (SELECT g.created_at FROM messages g WHERE g.app_id = c.app_id AND g.cid = c.cid
             AND g.deleted_at IS NULL AND (g.parent_id IS NULL OR g.show_in_channel) ORDER BY g.created_at DESC LIMIT 1)
         WHERE c.app_id = $1 AND c.cid = ANY($2::text[])",
    )
    .bind(app)
    .bind(cids)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    sqlx::query(
        "UPDATE members m SET channel_last_message_at = c.last_message_at FROM channels c
         WHERE c.app_id = m.app_id AND c.cid = m.cid AND m.app_id = $1 AND m.cid = ANY($2::text[])",
    )
    .bind(app)
    .bind(cids)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Reply counts and thread participants of these parents, from their stored replies.
async fn recompute_parents(
    conn: &mut PgConnection,
    app: AppId,
    parents: &[&str],
) -> StoreResult<()> {
    let pairs = |rows: Vec<sqlx::postgres::PgRow>| {
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0).map_err(backend)?,
                    row.try_get(1).map_err(backend)?,
                ))
            })
            .collect::<StoreResult<Vec<(String, String)>>>()
    };
    let authors = pairs(
        sqlx::query("SELECT id, user_id FROM messages WHERE app_id = $1 AND id = ANY($2::text[])")
            .bind(app)
            .bind(parents)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?,
    )?;
    let replies = pairs(
        sqlx::query(
            "SELECT parent_id, user_id FROM messages WHERE app_id = $1 AND parent_id = ANY($2::text[])
             ORDER BY parent_id, created_at, id",
        )
        .bind(app)
        .bind(parents)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?,
    )?;
    let summaries = thread_summaries(authors, replies);
    let ids: Vec<&str> = summaries.iter().map(|s| s.id.as_str()).collect();
    let counts: Vec<i64> = summaries.iter().map(|s| s.reply_count).collect();
    let participants = summaries
        .iter()
        .map(|s| to_json(&s.participants))
        .collect::<StoreResult<Vec<_>>>()?;
    sqlx::query(
        "UPDATE messages m SET reply_count = u.reply_count, thread_participants = u.participants::jsonb
         FROM UNNEST($2::text[], $3::int8[], $4::text[]) AS u(id, reply_count, participants)
         WHERE m.app_id = $1 AND m.id = u.id",
    )
    .bind(app)
    .bind(ids)
    .bind(counts)
    .bind(participants)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl BulkStore for PostgresStore {
    async fn import(&self, app: AppId, batch: &ImportBatch) -> StoreResult<()> {
        let users = latest_by_key(&batch.users, |user| &user.id);
        in_transactions(self, app, USERS, &users, bind_users).await?;
        let channels = latest_by_key(&batch.channels, |channel| &channel.cid);
        in_transactions(self, app, CHANNELS, &channels, bind_channels).await?;
        let members: Vec<&Member> = batch.members.iter().collect();
        in_transactions(self, app, MEMBERS, &members, bind_members).await?;
        let messages: Vec<&Message> = batch.messages.iter().collect();
        in_transactions(self, app, MESSAGES, &messages, bind_messages).await?;
        // Keys are sorted, so concurrent imports lock channel and parent rows in one order.
        let (cids, parents) = touched(batch);
        for keys in cids.chunks(KEYS_PER_STATEMENT) {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            recompute_channels(&mut tx, app, keys).await?;
            tx.commit().await.map_err(backend)?;
        }
        for keys in parents.chunks(KEYS_PER_STATEMENT) {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            recompute_parents(&mut tx, app, keys).await?;
            tx.commit().await.map_err(backend)?;
        }
        Ok(())
    }
}
