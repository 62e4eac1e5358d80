//! Channels, members and read state on PostgreSQL: membership and read-state writes lock the channel row first.

use super::rows::*;
use super::{backend, bind_all, query_error, PostgresStore, D};
use crate::contract::*;
use crate::model::*;
use async_trait::async_trait;
use eddy_query::{render_filter, render_sort, Bind, Rendered};
use sqlx::Row;

async fn insert_member(
    conn: &mut sqlx::PgConnection,
    app: AppId,
    member: &Member,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO members (app_id, cid, user_id, channel_role, doc, hidden, hide_messages_before, created_at, updated_at, last_read, last_read_message_id, unread_messages, channel_last_message_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, (SELECT c.last_message_at FROM channels c WHERE c.app_id = $1 AND c.cid = $2))
         ON CONFLICT DO NOTHING",
    )
    .bind(app)
    .bind(&member.cid)
    .bind(&member.user_id)
    .bind(&member.channel_role)
    .bind(to_json(&member.doc)?)
    .bind(member.hidden)
    .bind(member.hide_messages_before.as_ref().map(ts))
    .bind(ts(&member.created_at))
    .bind(ts(&member.updated_at))
    .bind(ts(&member.last_read))
    .bind(&member.last_read_message_id)
    .bind(member.unread_messages)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

async fn refresh_member_count(
    conn: &mut sqlx::PgConnection,
    app: AppId,
    cid: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE channels SET member_count = (SELECT COUNT(*) FROM members WHERE app_id = $1 AND cid = $2) WHERE app_id = $1 AND cid = $2")
        .bind(app)
        .bind(cid)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Removes a channel's messages and their reactions (all of them, or those up to `until`).
async fn delete_channel_messages(
    conn: &mut sqlx::PgConnection,
    app: AppId,
    cid: &str,
    until: Option<&str>,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM reactions WHERE app_id = $1 AND message_id IN (SELECT id FROM messages WHERE app_id = $1 AND cid = $2 AND ($3::text IS NULL OR created_at <= $3))")
        .bind(app)
        .bind(cid)
        .bind(until)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    sqlx::query(
        "DELETE FROM messages WHERE app_id = $1 AND cid = $2 AND ($3::text IS NULL OR created_at <= $3)",
    )
    .bind(app)
    .bind(cid)
    .bind(until)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ChannelStore for PostgresStore {
    async fn create_channel(
        &self,
        app: AppId,
        channel: &Channel,
        members: &[Member],
    ) -> StoreResult<(Channel, bool)> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if let Some(existing) = Self::lock_channel(&mut tx, app, &channel.cid).await? {
            if existing.deleted_at.is_none() {
                return Ok((existing, false));
            }
            for sql in [
                "DELETE FROM members WHERE app_id = $1 AND cid = $2",
                "DELETE FROM channels WHERE app_id = $1 AND cid = $2",
            ] {
                sqlx::query(sql)
                    .bind(app)
                    .bind(&channel.cid)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            delete_channel_messages(&mut tx, app, &channel.cid, None).await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO channels (app_id, cid, type, id, created_by, doc, frozen, disabled, member_count, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, 0, $9, $10) ON CONFLICT (app_id, cid) DO NOTHING RETURNING cid",
        )
        .bind(app)
        .bind(&channel.cid)
        .bind(&channel.kind)
        .bind(&channel.id)
        .bind(&channel.created_by)
        .bind(to_json(&channel.doc)?)
        .bind(channel.frozen)
        .bind(channel.disabled)
        .bind(ts(&channel.created_at))
        .bind(ts(&channel.updated_at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if inserted.is_none() {
            // Created by a concurrent transaction that has committed meanwhile: it is the existing one.
            tx.rollback().await.map_err(backend)?;
            let existing = Self::channel_in(&self.pool, app, &channel.cid)
                .await?
                .ok_or(StoreError::NotFound)?;
            return Ok((existing, false));
        }
        for member in members {
            insert_member(&mut tx, app, member).await?;
        }
        refresh_member_count(&mut tx, app, &channel.cid).await?;
        let created = Self::channel_in(&mut *tx, app, &channel.cid)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(backend)?;
        Ok((created, true))
    }

    async fn channel(&self, app: AppId, cid: &str) -> StoreResult<Option<Channel>> {
        Self::channel_in(&self.pool, app, cid).await
    }

    async fn channels(&self, app: AppId, cids: &[String]) -> StoreResult<Vec<Channel>> {
        if cids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query("SELECT * FROM channels WHERE app_id = $1 AND cid = ANY($2)")
            .bind(app)
            .bind(cids)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(channel_from_row).collect()
    }

    async fn update_channel(&self, app: AppId, channel: &Channel) -> StoreResult<Channel> {
        let row = sqlx::query(
            "UPDATE channels SET doc = $1::jsonb, frozen = $2, disabled = $3, updated_at = $4, created_by = $5 WHERE app_id = $6 AND cid = $7 RETURNING *",
        )
        .bind(to_json(&channel.doc)?)
        .bind(channel.frozen)
        .bind(channel.disabled)
        .bind(ts(&channel.updated_at))
        .bind(&channel.created_by)
        .bind(app)
        .bind(&channel.cid)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        channel_from_row(&row)
    }

    async fn delete_channel(
        &self,
        app: AppId,
        cid: &str,
        hard: bool,
        now: Timestamp,
    ) -> StoreResult<Channel> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query("UPDATE channels SET deleted_at = $1, updated_at = $1 WHERE app_id = $2 AND cid = $3 AND deleted_at IS NULL RETURNING *")
            .bind(ts(&now))
            .bind(app)
            .bind(cid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        let channel = channel_from_row(&row)?;
        if hard {
            delete_channel_messages(&mut tx, app, cid, None).await?;
            for sql in [
                "DELETE FROM members WHERE app_id = $1 AND cid = $2",
                "DELETE FROM channels WHERE app_id = $1 AND cid = $2",
            ] {
                sqlx::query(sql)
                    .bind(app)
                    .bind(cid)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
        } else {
            sqlx::query("UPDATE members SET unread_messages = 0 WHERE app_id = $1 AND cid = $2")
                .bind(app)
                .bind(cid)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(channel)
    }

    async fn truncate_channel(
        &self,
        app: AppId,
        cid: &str,
        at: Timestamp,
        hard: bool,
    ) -> StoreResult<Channel> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        Self::lock_channel(&mut tx, app, cid)
            .await?
            .ok_or(StoreError::NotFound)?;
        if hard {
            delete_channel_messages(&mut tx, app, cid, Some(&ts(&at))).await?;
        }
        sqlx::query("UPDATE members SET unread_messages = 0 WHERE app_id = $1 AND cid = $2")
            .bind(app)
            .bind(cid)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let row = sqlx::query("UPDATE channels SET truncated_at = $1, updated_at = $1 WHERE app_id = $2 AND cid = $3 RETURNING *")
            .bind(ts(&at))
            .bind(app)
            .bind(cid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        let channel = channel_from_row(&row)?;
        tx.commit().await.map_err(backend)?;
        Ok(channel)
    }

    async fn query_channels(&self, app: AppId, query: &ChannelQuery) -> StoreResult<Vec<Channel>> {
        let sql = crate::channel_query::render_channel_query(D, app, query).map_err(query_error)?;
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(channel_from_row).collect()
    }

    async fn members(
        &self,
        app: AppId,
        cid: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Member>> {
        let rows = sqlx::query("SELECT * FROM members WHERE app_id = $1 AND cid = $2 ORDER BY created_at, user_id LIMIT $3 OFFSET $4")
            .bind(app)
            .bind(cid)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(member_from_row).collect()
    }

    async fn first_members(
        &self,
        app: AppId,
        cids: &[String],
        limit: i64,
    ) -> StoreResult<Vec<Member>> {
        if cids.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let sql = crate::batch_pages::first_members_sql(D, app, cids, limit);
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let mut members = rows
            .iter()
            .map(member_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        members.sort_by(|a, b| {
            (&a.cid, a.created_at, &a.user_id).cmp(&(&b.cid, b.created_at, &b.user_id))
        });
        Ok(members)
    }

    async fn members_of(
        &self,
        app: AppId,
        cids: &[String],
        user_id: Option<&str>,
    ) -> StoreResult<Vec<Member>> {
        if cids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT * FROM members WHERE app_id = $1 AND cid = ANY($2) AND ($3::text IS NULL OR user_id = $3)
             ORDER BY created_at, user_id",
        )
        .bind(app)
        .bind(cids)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(member_from_row).collect()
    }

    async fn query_members(
        &self,
        app: AppId,
        cid: &str,
        query: &ListQuery,
    ) -> StoreResult<Vec<Member>> {
        let mut sql = Rendered::default();
        let app_param = sql.bind_app(D, app);
        let cid_param = sql.bind(D, Bind::Text(cid.to_owned()));
        sql.sql = format!(
            "SELECT m.* FROM members m LEFT JOIN users u ON u.app_id = m.app_id AND u.id = m.user_id WHERE m.app_id = {app_param} AND m.cid = {cid_param} AND "
        );
        render_filter(&query.filter, &crate::schemas::MEMBERS, D, &mut sql).map_err(query_error)?;
        sql.sql.push_str(" ORDER BY ");
        let sort = if query.sort.is_empty() {
            vec![eddy_query::SortField {
                field: "created_at".into(),
                direction: 1,
            }]
        } else {
            query.sort.clone()
        };
        render_sort(
            &sort,
            &crate::schemas::MEMBERS,
            crate::schemas::MEMBER_SORT,
            D,
            &mut sql,
        )
        .map_err(query_error)?;
        let limit = sql.bind(D, Bind::Int(query.limit));
        let offset = sql.bind(D, Bind::Int(query.offset));
        sql.sql
            .push_str(&format!(", m.user_id LIMIT {limit} OFFSET {offset}"));
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(member_from_row).collect()
    }

    async fn add_members(
        &self,
        app: AppId,
        cid: &str,
        members: &[Member],
    ) -> StoreResult<Vec<Member>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        Self::lock_channel(&mut tx, app, cid).await?;
        let mut added = Vec::new();
        for member in members {
            if insert_member(&mut tx, app, member).await? {
                added.push(member.clone());
            }
        }
        refresh_member_count(&mut tx, app, cid).await?;
        tx.commit().await.map_err(backend)?;
        Ok(added)
    }

    async fn remove_members(
        &self,
        app: AppId,
        cid: &str,
        user_ids: &[String],
    ) -> StoreResult<Vec<Member>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        Self::lock_channel(&mut tx, app, cid).await?;
        let mut removed = Vec::new();
        for user_id in user_ids {
            let row = sqlx::query(
                "DELETE FROM members WHERE app_id = $1 AND cid = $2 AND user_id = $3 RETURNING *",
            )
            .bind(app)
            .bind(cid)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(row) = row {
                removed.push(member_from_row(&row)?);
            }
        }
        refresh_member_count(&mut tx, app, cid).await?;
        tx.commit().await.map_err(backend)?;
        Ok(removed)
    }

    async fn update_member(&self, app: AppId, member: &Member) -> StoreResult<Member> {
        let row = sqlx::query(
            "UPDATE members SET channel_role = $1, doc = $2::jsonb, hidden = $3, hide_messages_before = $4, updated_at = $5
             WHERE app_id = $6 AND cid = $7 AND user_id = $8 RETURNING *",
        )
        .bind(&member.channel_role)
        .bind(to_json(&member.doc)?)
        .bind(member.hidden)
        .bind(member.hide_messages_before.as_ref().map(ts))
        .bind(ts(&member.updated_at))
        .bind(app)
        .bind(&member.cid)
        .bind(&member.user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        member_from_row(&row)
    }

    async fn mark_read(
        &self,
        app: AppId,
        cid: &str,
        user_id: &str,
        at: Timestamp,
        message_id: Option<&str>,
    ) -> StoreResult<Option<Member>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Shares the channel lock with other readers but waits for a message being sent, so the
        // last message read and the zero unread count describe the same moment.
        sqlx::query("SELECT 1 FROM channels WHERE app_id = $1 AND cid = $2 FOR SHARE")
            .bind(app)
            .bind(cid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let row = sqlx::query(
            "UPDATE members SET last_read = $1, last_read_message_id = COALESCE($2, (SELECT id FROM messages WHERE app_id = $3 AND cid = $4 AND (parent_id IS NULL OR show_in_channel) ORDER BY created_at DESC LIMIT 1)), unread_messages = 0, first_unread_message_id = NULL
             WHERE app_id = $3 AND cid = $4 AND user_id = $5 RETURNING *",
        )
        .bind(ts(&at))
        .bind(message_id)
        .bind(app)
        .bind(cid)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        row.map(|row| member_from_row(&row)).transpose()
    }

    async fn mark_unread(
        &self,
        app: AppId,
        cid: &str,
        user_id: &str,
        from: &Message,
    ) -> StoreResult<Option<Member>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // No message may be sent between counting and storing the count.
        sqlx::query("SELECT 1 FROM channels WHERE app_id = $1 AND cid = $2 FOR SHARE")
            .bind(app)
            .bind(cid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let from_at = ts(&from.created_at);
        // `silent` counts as set when SQLite's json_extract would read it as non-zero.
        let unread: i64 = sqlx::query(
            "SELECT COUNT(*) FROM messages WHERE app_id = $1 AND cid = $2 AND created_at >= $3 AND user_id <> $4
               AND (parent_id IS NULL OR show_in_channel) AND type <> 'system' AND deleted_at IS NULL
               AND COALESCE(doc -> 'silent', 'false'::jsonb) IN ('false'::jsonb, '0'::jsonb, 'null'::jsonb)",
        )
        .bind(app)
        .bind(cid)
        .bind(&from_at)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?
        .try_get(0)
        .map_err(backend)?;
        let previous: Option<String> = sqlx::query(
            "SELECT id FROM messages WHERE app_id = $1 AND cid = $2 AND created_at < $3 AND (parent_id IS NULL OR show_in_channel)
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(app)
        .bind(cid)
        .bind(&from_at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(backend)?;
        let last_read = from.created_at - chrono::Duration::microseconds(1);
        let row = sqlx::query(
            "UPDATE members SET last_read = $1, last_read_message_id = $2, unread_messages = $3, first_unread_message_id = $4
             WHERE app_id = $5 AND cid = $6 AND user_id = $7 RETURNING *",
        )
        .bind(ts(&last_read))
        .bind(previous)
        .bind(unread)
        .bind(&from.id)
        .bind(app)
        .bind(cid)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        row.map(|row| member_from_row(&row)).transpose()
    }

    async fn unread_totals(
        &self,
        app: AppId,
        user_ids: &[String],
    ) -> StoreResult<Vec<(String, i64, i64)>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT m.user_id, COALESCE(SUM(m.unread_messages), 0)::BIGINT, COUNT(*) FILTER (WHERE m.unread_messages > 0)
             FROM members m JOIN channels c ON c.app_id = m.app_id AND c.cid = m.cid
             WHERE m.app_id = $1 AND c.deleted_at IS NULL AND m.user_id = ANY($2) GROUP BY m.user_id",
        )
        .bind(app)
        .bind(user_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0).map_err(backend)?,
                    row.try_get(1).map_err(backend)?,
                    row.try_get(2).map_err(backend)?,
                ))
            })
            .collect()
    }

    async fn unread_channels(&self, app: AppId, user_id: &str) -> StoreResult<Vec<UnreadChannel>> {
        // NULLS LAST: SQLite orders NULL lowest, so channels without messages come last there too.
        let rows = sqlx::query(
            "SELECT m.cid, m.unread_messages, m.last_read FROM members m JOIN channels c ON c.app_id = m.app_id AND c.cid = m.cid
             WHERE m.app_id = $1 AND m.user_id = $2 AND c.deleted_at IS NULL ORDER BY c.last_message_at DESC NULLS LAST",
        )
        .bind(app)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(UnreadChannel {
                    cid: row.try_get("cid").map_err(backend)?,
                    unread_messages: row.try_get("unread_messages").map_err(backend)?,
                    last_read: parse_ts(&row.try_get::<String, _>("last_read").map_err(backend)?)?,
                })
            })
            .collect()
    }
}
