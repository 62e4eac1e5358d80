//! Messages, threads, reactions and search on PostgreSQL: sends lock the channel then the parent, reactions lock their message.

use super::rows::*;
use super::{backend, bind_all, query_error, PostgresStore, D};
use crate::contract::*;
use crate::model::*;
use async_trait::async_trait;
use sqlx::Row;

impl PostgresStore {
    async fn page_bound(&self, app: AppId, id: &Option<String>) -> StoreResult<Option<String>> {
        match id {
            None => Ok(None),
            Some(id) => {
                let row =
                    sqlx::query("SELECT created_at FROM messages WHERE app_id = $1 AND id = $2")
                        .bind(app)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                Ok(Some(match row {
                    Some(row) => row.try_get::<String, _>(0).map_err(backend)?,
                    // An unknown id bounds nothing; the caller skips it.
                    None => String::new(),
                }))
            }
        }
    }

    /// Message list with the page's bounds; newest `limit` first in SQL, returned ascending.
    async fn message_list(
        &self,
        app: AppId,
        scope_sql: &str,
        scope: &str,
        page: &MessagePage,
        extra: Option<String>,
    ) -> StoreResult<Vec<Message>> {
        // `scope_sql` compares with `$2`; further parameters follow.
        let mut sql = format!("SELECT * FROM messages WHERE app_id = $1 AND {scope_sql}");
        let mut binds: Vec<String> = vec![scope.to_owned()];
        let mut ascending = false;
        let condition = |sql: &mut String, binds: &mut Vec<String>, op: &str, at: String| {
            binds.push(at);
            sql.push_str(&format!(" AND created_at {op} ${}", binds.len() + 1));
        };
        for (bound, op) in [
            (&page.id_lt, "<"),
            (&page.id_lte, "<="),
            (&page.id_gt, ">"),
            (&page.id_gte, ">="),
        ] {
            if let Some(at) = self.page_bound(app, bound).await? {
                if at.is_empty() {
                    continue;
                }
                if op.starts_with('>') {
                    ascending = true;
                }
                condition(&mut sql, &mut binds, op, at);
            }
        }
        if let Some(before) = &page.created_at_before {
            condition(&mut sql, &mut binds, "<", ts(before));
        }
        if let Some(after) = &page.created_at_after {
            condition(&mut sql, &mut binds, ">", ts(after));
            ascending = true;
        }
        if let Some(after) = extra {
            condition(&mut sql, &mut binds, ">", after);
        }
        let direction = if ascending { "ASC" } else { "DESC" };
        sql.push_str(&format!(
            " ORDER BY created_at {direction}, id {direction} LIMIT ${}",
            binds.len() + 2
        ));
        let mut query = sqlx::query(&sql).bind(app);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        let rows = query
            .bind(page.limit)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let mut messages = rows
            .iter()
            .map(message_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        if !ascending {
            messages.reverse();
        }
        Ok(messages)
    }
}

#[async_trait]
impl MessageStore for PostgresStore {
    async fn send_message(
        &self,
        app: AppId,
        message: &Message,
        counts_as_unread: bool,
        unhide: bool,
    ) -> StoreResult<SentMessage> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Sends to one channel serialise here, so member rows are always locked in one order.
        Self::lock_channel(&mut tx, app, &message.cid)
            .await?
            .ok_or(StoreError::NotFound)?;
        let created = ts(&message.created_at);
        sqlx::query(
            "INSERT INTO messages (app_id, id, cid, parent_id, user_id, type, show_in_channel, reply_count, doc, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8::jsonb, $9, $10)",
        )
        .bind(app)
        .bind(&message.id)
        .bind(&message.cid)
        .bind(&message.parent_id)
        .bind(&message.user_id)
        .bind(&message.kind)
        .bind(message.show_in_channel)
        .bind(to_json(&message.doc)?)
        .bind(&created)
        .bind(ts(&message.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(|error| match backend(error) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("message with id {} already exists", message.id)),
            other => other,
        })?;
        let mut parent = None;
        if let Some(parent_id) = &message.parent_id {
            // The row lock makes the read-modify-write of count and participants safe.
            let mut stored = Self::lock_message(&mut tx, app, parent_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            stored.reply_count += 1;
            if !stored.thread_participants.contains(&stored.user_id) {
                stored.thread_participants.push(stored.user_id.clone());
            }
            if !stored.thread_participants.contains(&message.user_id) {
                stored.thread_participants.push(message.user_id.clone());
            }
            sqlx::query("UPDATE messages SET reply_count = $1, thread_participants = $2::jsonb WHERE app_id = $3 AND id = $4")
                .bind(stored.reply_count)
                .bind(to_json(&stored.thread_participants)?)
                .bind(app)
                .bind(parent_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            parent = Some(stored);
        }
        let in_channel = message.parent_id.is_none() || message.show_in_channel;
        if in_channel {
            sqlx::query("UPDATE channels SET last_message_at = $1 WHERE app_id = $2 AND cid = $3 AND (last_message_at IS NULL OR last_message_at < $1)")
                .bind(&created)
                .bind(app)
                .bind(&message.cid)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            // Every member row carries the channel's time for the recent-channels index.
            sqlx::query("UPDATE members SET channel_last_message_at = $1 WHERE app_id = $2 AND cid = $3 AND (channel_last_message_at IS NULL OR channel_last_message_at < $1)")
                .bind(&created)
                .bind(app)
                .bind(&message.cid)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        if counts_as_unread {
            // Members who muted the channel or the author, or blocked the author, do not count it.
            sqlx::query(
                "UPDATE members SET unread_messages = unread_messages + 1 WHERE app_id = $1 AND cid = $2 AND user_id <> $3
                   AND NOT EXISTS (SELECT 1 FROM mutes mu WHERE mu.app_id = $1 AND mu.user_id = members.user_id
                     AND ((mu.target_kind = 'channel' AND mu.target_id = $2) OR (mu.target_kind = 'user' AND mu.target_id = $3))
                     AND (mu.expires_at IS NULL OR mu.expires_at > $4))
                   AND NOT EXISTS (SELECT 1 FROM blocks bl WHERE bl.app_id = $1 AND bl.user_id = members.user_id AND bl.blocked_user_id = $3)",
            )
                .bind(app)
                .bind(&message.cid)
                .bind(&message.user_id)
                .bind(&created)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        if in_channel {
            sqlx::query("UPDATE members SET last_read = $1, last_read_message_id = $2, unread_messages = 0, first_unread_message_id = NULL WHERE app_id = $3 AND cid = $4 AND user_id = $5")
                .bind(&created)
                .bind(&message.id)
                .bind(app)
                .bind(&message.cid)
                .bind(&message.user_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        let mut unhidden = Vec::new();
        if unhide && in_channel {
            // A member who muted the channel keeps it hidden.
            let rows = sqlx::query(
                "UPDATE members SET hidden = FALSE WHERE app_id = $1 AND cid = $2 AND hidden
                   AND NOT EXISTS (SELECT 1 FROM mutes mu WHERE mu.app_id = $1 AND mu.user_id = members.user_id
                     AND mu.target_kind = 'channel' AND mu.target_id = $2 AND (mu.expires_at IS NULL OR mu.expires_at > $3))
                 RETURNING user_id",
            )
                .bind(app)
                .bind(&message.cid)
                .bind(&created)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
            for row in rows {
                unhidden.push(row.try_get::<String, _>(0).map_err(backend)?);
            }
        }
        let channel = Self::channel_in(&mut *tx, app, &message.cid)
            .await?
            .ok_or(StoreError::NotFound)?;
        let stored = Self::message_in(&mut *tx, app, &message.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(backend)?;
        Ok(SentMessage {
            message: stored,
            parent,
            channel,
            unhidden,
        })
    }

    async fn message(&self, app: AppId, id: &str) -> StoreResult<Option<Message>> {
        Self::message_in(&self.pool, app, id).await
    }

    async fn latest_message_time_by(
        &self,
        app: AppId,
        cid: &str,
        user_id: &str,
        since: &Timestamp,
    ) -> StoreResult<Option<Timestamp>> {
        let latest: Option<String> = sqlx::query_scalar(
            "SELECT max(created_at) FROM messages WHERE app_id = $1 AND cid = $2 AND created_at >= $3 AND user_id = $4",
        )
        .bind(app)
        .bind(cid)
        .bind(ts(since))
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        latest.map(|text| parse_ts(&text)).transpose()
    }

    async fn messages(&self, app: AppId, ids: &[String]) -> StoreResult<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT * FROM messages WHERE app_id = $1 AND id = ANY($2) ORDER BY created_at",
        )
        .bind(app)
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn channel_messages(
        &self,
        app: AppId,
        cid: &str,
        page: &MessagePage,
        visible_after: Option<Timestamp>,
    ) -> StoreResult<Vec<Message>> {
        self.message_list(
            app,
            "cid = $2 AND (parent_id IS NULL OR show_in_channel)",
            cid,
            page,
            visible_after.as_ref().map(ts),
        )
        .await
    }

    async fn latest_channel_messages(
        &self,
        app: AppId,
        channels: &[(String, Option<Timestamp>)],
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        if channels.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let sql = crate::batch_pages::latest_messages_sql(D, app, channels, limit);
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let mut messages = rows
            .iter()
            .map(message_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        // UNION ALL promises no order: channels kept together, each ascending.
        messages.sort_by(|a, b| (&a.cid, a.created_at, &a.id).cmp(&(&b.cid, b.created_at, &b.id)));
        Ok(messages)
    }

    async fn pinned_messages(
        &self,
        app: AppId,
        cid: &str,
        page: &PinnedPage,
        now: Timestamp,
    ) -> StoreResult<Vec<Message>> {
        let sql = crate::pinned::pinned_messages_sql(D, app, cid, page, &now);
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn replies(
        &self,
        app: AppId,
        parent_id: &str,
        page: &MessagePage,
    ) -> StoreResult<Vec<Message>> {
        self.message_list(app, "parent_id = $2", parent_id, page, None)
            .await
    }

    async fn query_threads(
        &self,
        app: AppId,
        viewer: &str,
        query: &ListQuery,
    ) -> StoreResult<Vec<Message>> {
        let sql =
            crate::thread_query::render_thread_query(D, app, viewer, query).map_err(query_error)?;
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn update_message(&self, app: AppId, message: &Message) -> StoreResult<Message> {
        let row = sqlx::query("UPDATE messages SET doc = $1::jsonb, type = $2, updated_at = $3, show_in_channel = $4 WHERE app_id = $5 AND id = $6 RETURNING *")
            .bind(to_json(&message.doc)?)
            .bind(&message.kind)
            .bind(ts(&message.updated_at))
            .bind(message.show_in_channel)
            .bind(app)
            .bind(&message.id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        message_from_row(&row)
    }

    async fn delete_message(
        &self,
        app: AppId,
        id: &str,
        hard: bool,
        now: Timestamp,
    ) -> StoreResult<(Message, Option<Message>)> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Parent before reply, as sends lock them, so deleting a thread and a reply cannot deadlock.
        let parent_id = Self::message_in(&mut *tx, app, id)
            .await?
            .ok_or(StoreError::NotFound)?
            .parent_id;
        if let Some(parent_id) = &parent_id {
            Self::lock_message(&mut tx, app, parent_id).await?;
        }
        let mut message = Self::lock_message(&mut tx, app, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if hard {
            sqlx::query("DELETE FROM reactions WHERE app_id = $1 AND message_id IN (SELECT id FROM messages WHERE app_id = $1 AND (id = $2 OR parent_id = $2))")
                .bind(app)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("DELETE FROM messages WHERE app_id = $1 AND (id = $2 OR parent_id = $2)")
                .bind(app)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        } else {
            sqlx::query(
                "UPDATE messages SET deleted_at = $1, updated_at = $1 WHERE app_id = $2 AND id = $3",
            )
            .bind(ts(&now))
            .bind(app)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        let mut parent = None;
        if let (Some(parent_id), true) = (&message.parent_id, hard) {
            let row = sqlx::query("UPDATE messages SET reply_count = GREATEST(reply_count - 1, 0) WHERE app_id = $1 AND id = $2 RETURNING *")
                .bind(app)
                .bind(parent_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
            parent = row.map(|row| message_from_row(&row)).transpose()?;
        }
        tx.commit().await.map_err(backend)?;
        message.deleted_at = Some(now);
        message.updated_at = now;
        Ok((message, parent))
    }

    async fn undelete_message(&self, app: AppId, id: &str, now: Timestamp) -> StoreResult<Message> {
        let row = sqlx::query("UPDATE messages SET deleted_at = NULL, updated_at = $1 WHERE app_id = $2 AND id = $3 AND deleted_at IS NOT NULL RETURNING *")
            .bind(ts(&now))
            .bind(app)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        message_from_row(&row)
    }

    async fn add_reaction(
        &self,
        app: AppId,
        reaction: &Reaction,
        enforce_unique: bool,
    ) -> StoreResult<(Message, bool)> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Reactions to one message serialise on its row, so the summary is recomputed from a settled set.
        Self::lock_message(&mut tx, app, &reaction.message_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut replaced = false;
        if enforce_unique {
            let removed = sqlx::query("DELETE FROM reactions WHERE app_id = $1 AND message_id = $2 AND user_id = $3 AND type <> $4")
                .bind(app)
                .bind(&reaction.message_id)
                .bind(&reaction.user_id)
                .bind(&reaction.kind)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            replaced = removed.rows_affected() > 0;
        }
        let existing = sqlx::query("SELECT created_at FROM reactions WHERE app_id = $1 AND message_id = $2 AND user_id = $3 AND type = $4")
            .bind(app)
            .bind(&reaction.message_id)
            .bind(&reaction.user_id)
            .bind(&reaction.kind)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        replaced |= existing.is_some();
        sqlx::query(
            "INSERT INTO reactions (app_id, message_id, user_id, type, score, doc, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
             ON CONFLICT (app_id, message_id, user_id, type) DO UPDATE SET score = excluded.score, doc = excluded.doc, updated_at = excluded.updated_at",
        )
        .bind(app)
        .bind(&reaction.message_id)
        .bind(&reaction.user_id)
        .bind(&reaction.kind)
        .bind(reaction.score)
        .bind(to_json(&reaction.doc)?)
        .bind(ts(&reaction.created_at))
        .bind(ts(&reaction.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let message = refresh_reaction_summary(&mut tx, app, &reaction.message_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok((message, replaced))
    }

    async fn remove_reaction(
        &self,
        app: AppId,
        message_id: &str,
        user_id: &str,
        kind: &str,
    ) -> StoreResult<(Message, Reaction)> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        Self::lock_message(&mut tx, app, message_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let row = sqlx::query("DELETE FROM reactions WHERE app_id = $1 AND message_id = $2 AND user_id = $3 AND type = $4 RETURNING *")
            .bind(app)
            .bind(message_id)
            .bind(user_id)
            .bind(kind)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        let reaction = reaction_from_row(&row)?;
        let message = refresh_reaction_summary(&mut tx, app, message_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok((message, reaction))
    }

    async fn search_messages(
        &self,
        app: AppId,
        channels: &ChannelQuery,
        messages: &ListQuery,
    ) -> StoreResult<Vec<Message>> {
        // PostgreSQL keeps statistics on the text index: its planner chooses the plan.
        let sql = crate::channel_query::render_search(
            D,
            app,
            channels,
            messages,
            crate::channel_query::TextPlan::AsFiltered,
            None,
        )
        .map_err(query_error)?;
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn reactions(
        &self,
        app: AppId,
        message_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Reaction>> {
        let rows = sqlx::query("SELECT * FROM reactions WHERE app_id = $1 AND message_id = $2 ORDER BY created_at DESC, user_id LIMIT $3 OFFSET $4")
            .bind(app)
            .bind(message_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(reaction_from_row).collect()
    }

    async fn reactions_by_user(
        &self,
        app: AppId,
        user_id: &str,
        message_ids: &[String],
    ) -> StoreResult<Vec<Reaction>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT * FROM reactions WHERE app_id = $1 AND user_id = $2 AND message_id = ANY($3) ORDER BY created_at DESC",
        )
        .bind(app)
        .bind(user_id)
        .bind(message_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(reaction_from_row).collect()
    }
}

/// Recomputes a message's reaction groups and ten latest reactions inside the caller's transaction.
async fn refresh_reaction_summary(
    conn: &mut sqlx::PgConnection,
    app: AppId,
    message_id: &str,
) -> StoreResult<Message> {
    let groups = sqlx::query(
        "SELECT type, COUNT(*) AS count, SUM(score)::BIGINT AS sum_scores, MIN(created_at) AS first_at, MAX(created_at) AS last_at
         FROM reactions WHERE app_id = $1 AND message_id = $2 GROUP BY type ORDER BY type",
    )
    .bind(app)
    .bind(message_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let mut summary = Document::new();
    for row in groups {
        let kind: String = row.try_get("type").map_err(backend)?;
        summary.insert(
            kind,
            serde_json::json!({
                "count": row.try_get::<i64, _>("count").map_err(backend)?,
                "sum_scores": row.try_get::<i64, _>("sum_scores").map_err(backend)?,
                "first_reaction_at": row.try_get::<String, _>("first_at").map_err(backend)?,
                "last_reaction_at": row.try_get::<String, _>("last_at").map_err(backend)?,
            }),
        );
    }
    let latest = sqlx::query("SELECT * FROM reactions WHERE app_id = $1 AND message_id = $2 ORDER BY created_at DESC, user_id LIMIT 10")
        .bind(app)
        .bind(message_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
        .iter()
        .map(reaction_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let latest_json = serde_json::Value::Array(latest.iter().map(reaction_to_json).collect());
    let row = sqlx::query("UPDATE messages SET reaction_groups = $1::jsonb, latest_reactions = $2::jsonb WHERE app_id = $3 AND id = $4 RETURNING *")
        .bind(to_json(&summary)?)
        .bind(latest_json.to_string())
        .bind(app)
        .bind(message_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    message_from_row(&row)
}
