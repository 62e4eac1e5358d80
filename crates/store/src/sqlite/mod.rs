//! The embedded SQLite backend: WAL mode, one writer connection (writes queue instead of contending), a reader pool.

mod blocks;
mod calls;
mod import;
mod moderation;
mod rows;

use crate::channel_query::TextPlan;
use crate::contract::*;
use crate::model::*;
use async_trait::async_trait;
use eddy_core::config::{ChannelConfig, BUILT_IN_TYPES};
use eddy_query::{render_filter, render_sort, Bind, Dialect, Rendered};
use rows::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

fn backend(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        _ => StoreError::Backend(error.to_string()),
    }
}

fn placeholders(count: usize) -> String {
    vec!["?"; count.max(1)].join(", ")
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_all<'q>(mut query: Query<'q>, binds: &'q [Bind]) -> Query<'q> {
    for value in binds {
        query = match value {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Int(int) => query.bind(*int),
            Bind::Float(float) => query.bind(*float),
            Bind::Bool(flag) => query.bind(*flag),
            Bind::Null => query.bind(Option::<String>::None),
            Bind::Json(text) => query.bind(text.as_str()),
        };
    }
    query
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|error| StoreError::Backend(error.to_string()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(backend)?;
        Ok(SqliteStore { writer, reader })
    }

    async fn channel_in<'e, E>(executor: E, app: AppId, cid: &str) -> StoreResult<Option<Channel>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        let row = sqlx::query("SELECT * FROM channels WHERE app_id = ? AND cid = ?")
            .bind(app)
            .bind(cid)
            .fetch_optional(executor)
            .await
            .map_err(backend)?;
        row.map(|row| channel_from_row(&row)).transpose()
    }

    async fn message_in<'e, E>(executor: E, app: AppId, id: &str) -> StoreResult<Option<Message>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        let row = sqlx::query("SELECT * FROM messages WHERE app_id = ? AND id = ?")
            .bind(app)
            .bind(id)
            .fetch_optional(executor)
            .await
            .map_err(backend)?;
        row.map(|row| message_from_row(&row)).transpose()
    }

    async fn page_bound(&self, app: AppId, id: &Option<String>) -> StoreResult<Option<String>> {
        match id {
            None => Ok(None),
            Some(id) => {
                let row =
                    sqlx::query("SELECT created_at FROM messages WHERE app_id = ? AND id = ?")
                        .bind(app)
                        .bind(id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(backend)?;
                Ok(Some(match row {
                    Some(row) => row.try_get::<String, _>(0).map_err(backend)?,
                    // An unknown id bounds nothing useful; treat it as the far past/future by caller's op.
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
        let mut sql = format!("SELECT * FROM messages WHERE app_id = ? AND {scope_sql}");
        let mut binds: Vec<String> = vec![scope.to_owned()];
        let mut ascending = false;
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
                sql.push_str(&format!(" AND (created_at {op} ? )"));
                binds.push(at);
            }
        }
        if let Some(before) = &page.created_at_before {
            sql.push_str(" AND created_at < ?");
            binds.push(ts(before));
        }
        if let Some(after) = &page.created_at_after {
            sql.push_str(" AND created_at > ?");
            binds.push(ts(after));
            ascending = true;
        }
        if let Some(after) = extra {
            sql.push_str(" AND created_at > ?");
            binds.push(after);
        }
        let direction = if ascending { "ASC" } else { "DESC" };
        sql.push_str(&format!(
            " ORDER BY created_at {direction}, id {direction} LIMIT ?"
        ));
        let mut query = sqlx::query(&sql).bind(app);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        let rows = query
            .bind(page.limit)
            .fetch_all(&self.reader)
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
impl AppStore for SqliteStore {
    async fn ensure_app(&self, api_key: &str, api_secret: &str, name: &str) -> StoreResult<App> {
        if let Some(app) = self.app_by_key(api_key).await? {
            return Ok(app);
        }
        let now = ts(&chrono::Utc::now());
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let id: i64 = sqlx::query("INSERT INTO apps (api_key, api_secret, name, settings, created_at) VALUES (?, ?, ?, '{}', ?) RETURNING id")
            .bind(api_key)
            .bind(api_secret)
            .bind(name)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)?;
        for kind in BUILT_IN_TYPES {
            let config = to_json(&ChannelConfig::built_in(kind))?;
            sqlx::query("INSERT INTO channel_types (app_id, name, config, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
                .bind(id)
                .bind(kind)
                .bind(config)
                .bind(&now)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        self.app_by_key(api_key).await?.ok_or(StoreError::NotFound)
    }

    async fn app_by_key(&self, api_key: &str) -> StoreResult<Option<App>> {
        let row = sqlx::query("SELECT * FROM apps WHERE api_key = ?")
            .bind(api_key)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(|row| app_from_row(&row)).transpose()
    }

    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        let rows = sqlx::query("SELECT * FROM apps ORDER BY id")
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(app_from_row).collect()
    }

    async fn update_app_settings(&self, app: AppId, settings: &Document) -> StoreResult<()> {
        sqlx::query("UPDATE apps SET settings = ? WHERE id = ?")
            .bind(to_json(settings)?)
            .bind(app)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn channel_types(&self, app: AppId) -> StoreResult<Vec<ChannelTypeRecord>> {
        let rows = sqlx::query("SELECT * FROM channel_types WHERE app_id = ? ORDER BY name")
            .bind(app)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(channel_type_from_row).collect()
    }

    async fn create_channel_type(
        &self,
        app: AppId,
        config: &ChannelConfig,
    ) -> StoreResult<ChannelTypeRecord> {
        let now = chrono::Utc::now();
        sqlx::query("INSERT INTO channel_types (app_id, name, config, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
            .bind(app)
            .bind(&config.name)
            .bind(to_json(config)?)
            .bind(ts(&now))
            .bind(ts(&now))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(ChannelTypeRecord {
            name: config.name.clone(),
            config: config.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    async fn update_channel_type(
        &self,
        app: AppId,
        config: &ChannelConfig,
    ) -> StoreResult<ChannelTypeRecord> {
        let now = chrono::Utc::now();
        let row = sqlx::query("UPDATE channel_types SET config = ?, updated_at = ? WHERE app_id = ? AND name = ? RETURNING *")
            .bind(to_json(config)?)
            .bind(ts(&now))
            .bind(app)
            .bind(&config.name)
            .fetch_optional(&self.writer)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        channel_type_from_row(&row)
    }

    async fn delete_channel_type(&self, app: AppId, name: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let in_use: i64 = sqlx::query(
            "SELECT COUNT(*) FROM channels WHERE app_id = ? AND type = ? AND deleted_at IS NULL",
        )
        .bind(app)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?
        .try_get(0)
        .map_err(backend)?;
        if in_use > 0 {
            return Err(StoreError::Conflict(format!(
                "{in_use} channels of type {name} exist"
            )));
        }
        let done = sqlx::query("DELETE FROM channel_types WHERE app_id = ? AND name = ?")
            .bind(app)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(backend)
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn upsert_users(&self, app: AppId, users: &[User]) -> StoreResult<Vec<User>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let mut stored = Vec::with_capacity(users.len());
        for user in users {
            let row = sqlx::query(
                "INSERT INTO users (app_id, id, role, doc, created_at, updated_at, last_active, deactivated_at, deleted_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (app_id, id) DO UPDATE SET role = excluded.role, doc = excluded.doc,
                   updated_at = excluded.updated_at, last_active = COALESCE(excluded.last_active, users.last_active),
                   deactivated_at = excluded.deactivated_at, deleted_at = excluded.deleted_at
                 RETURNING *",
            )
            .bind(app)
            .bind(&user.id)
            .bind(&user.role)
            .bind(to_json(&user.doc)?)
            .bind(ts(&user.created_at))
            .bind(ts(&user.updated_at))
            .bind(user.last_active.as_ref().map(ts))
            .bind(user.deactivated_at.as_ref().map(ts))
            .bind(user.deleted_at.as_ref().map(ts))
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            stored.push(user_from_row(&row)?);
        }
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    async fn users(&self, app: AppId, ids: &[String]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM users WHERE app_id = ? AND id IN ({})",
            placeholders(ids.len())
        );
        let mut query = sqlx::query(&sql).bind(app);
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn query_users(
        &self,
        app: AppId,
        query: &ListQuery,
        include_deactivated: bool,
    ) -> StoreResult<Vec<User>> {
        const D: Dialect = Dialect::Sqlite;
        let mut sql = Rendered::default();
        let app_param = sql.bind_app(D, app);
        sql.sql = format!(
            "SELECT u.* FROM users u WHERE u.app_id = {app_param} AND u.deleted_at IS NULL AND "
        );
        render_filter(&query.filter, &crate::schemas::USERS, D, &mut sql)
            .map_err(|e| StoreError::Query(e.to_string()))?;
        if !include_deactivated {
            sql.sql.push_str(" AND u.deactivated_at IS NULL");
        }
        sql.sql.push_str(" ORDER BY ");
        if query.sort.is_empty() {
            sql.sql.push_str("u.created_at DESC");
        } else {
            render_sort(
                &query.sort,
                &crate::schemas::USERS,
                crate::schemas::USER_SORT,
                D,
                &mut sql,
            )
            .map_err(|e| StoreError::Query(e.to_string()))?;
        }
        let limit = sql.bind(D, Bind::Int(query.limit));
        let offset = sql.bind(D, Bind::Int(query.offset));
        sql.sql
            .push_str(&format!(", u.id DESC LIMIT {limit} OFFSET {offset}"));
        let rows = self.read_rendered(&sql).await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn delete_user(
        &self,
        app: AppId,
        id: &str,
        hard: bool,
        now: Timestamp,
    ) -> StoreResult<User> {
        let row = if hard {
            sqlx::query("DELETE FROM users WHERE app_id = ? AND id = ? RETURNING *")
                .bind(app)
                .bind(id)
                .fetch_optional(&self.writer)
                .await
        } else {
            sqlx::query("UPDATE users SET deleted_at = ?, updated_at = ? WHERE app_id = ? AND id = ? RETURNING *")
                .bind(ts(&now))
                .bind(ts(&now))
                .bind(app)
                .bind(id)
                .fetch_optional(&self.writer)
                .await
        }
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let mut user = user_from_row(&row)?;
        if hard {
            user.deleted_at = Some(now);
        }
        Ok(user)
    }

    async fn touch_user(&self, app: AppId, id: &str, last_active: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_active = ? WHERE app_id = ? AND id = ?")
            .bind(ts(&last_active))
            .bind(app)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

async fn insert_member(
    conn: &mut sqlx::SqliteConnection,
    app: AppId,
    member: &Member,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO members (app_id, cid, user_id, channel_role, doc, hidden, hide_messages_before, created_at, updated_at, last_read, last_read_message_id, unread_messages, channel_last_message_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, (SELECT c.last_message_at FROM channels c WHERE c.app_id = ?1 AND c.cid = ?2))
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
    conn: &mut sqlx::SqliteConnection,
    app: AppId,
    cid: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE channels SET member_count = (SELECT COUNT(*) FROM members WHERE app_id = ? AND cid = ?) WHERE app_id = ? AND cid = ?")
        .bind(app)
        .bind(cid)
        .bind(app)
        .bind(cid)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ChannelStore for SqliteStore {
    async fn create_channel(
        &self,
        app: AppId,
        channel: &Channel,
        members: &[Member],
    ) -> StoreResult<(Channel, bool)> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        if let Some(existing) = Self::channel_in(&mut *tx, app, &channel.cid).await? {
            if existing.deleted_at.is_none() {
                return Ok((existing, false));
            }
            for table in [
                "DELETE FROM members WHERE app_id = ? AND cid = ?",
                "DELETE FROM channels WHERE app_id = ? AND cid = ?",
            ] {
                sqlx::query(table)
                    .bind(app)
                    .bind(&channel.cid)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            sqlx::query("DELETE FROM reactions WHERE app_id = ? AND message_id IN (SELECT id FROM messages WHERE app_id = ? AND cid = ?)")
                .bind(app)
                .bind(app)
                .bind(&channel.cid)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("DELETE FROM messages WHERE app_id = ? AND cid = ?")
                .bind(app)
                .bind(&channel.cid)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        sqlx::query(
            "INSERT INTO channels (app_id, cid, type, id, created_by, doc, frozen, disabled, member_count, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
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
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
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
        Self::channel_in(&self.reader, app, cid).await
    }

    async fn channels(&self, app: AppId, cids: &[String]) -> StoreResult<Vec<Channel>> {
        if cids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM channels WHERE app_id = ? AND cid IN ({})",
            placeholders(cids.len())
        );
        let mut query = sqlx::query(&sql).bind(app);
        for cid in cids {
            query = query.bind(cid.as_str());
        }
        let rows = query.fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter().map(channel_from_row).collect()
    }

    async fn update_channel(&self, app: AppId, channel: &Channel) -> StoreResult<Channel> {
        let row = sqlx::query(
            "UPDATE channels SET doc = ?, frozen = ?, disabled = ?, updated_at = ?, created_by = ? WHERE app_id = ? AND cid = ? RETURNING *",
        )
        .bind(to_json(&channel.doc)?)
        .bind(channel.frozen)
        .bind(channel.disabled)
        .bind(ts(&channel.updated_at))
        .bind(&channel.created_by)
        .bind(app)
        .bind(&channel.cid)
        .fetch_optional(&self.writer)
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row = sqlx::query("UPDATE channels SET deleted_at = ?, updated_at = ? WHERE app_id = ? AND cid = ? AND deleted_at IS NULL RETURNING *")
            .bind(ts(&now))
            .bind(ts(&now))
            .bind(app)
            .bind(cid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        let channel = channel_from_row(&row)?;
        if hard {
            sqlx::query("DELETE FROM reactions WHERE app_id = ? AND message_id IN (SELECT id FROM messages WHERE app_id = ? AND cid = ?)")
                .bind(app)
                .bind(app)
                .bind(cid)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            for sql in [
                "DELETE FROM messages WHERE app_id = ? AND cid = ?",
                "DELETE FROM members WHERE app_id = ? AND cid = ?",
                "DELETE FROM channels WHERE app_id = ? AND cid = ?",
            ] {
                sqlx::query(sql)
                    .bind(app)
                    .bind(cid)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
        } else {
            sqlx::query("UPDATE members SET unread_messages = 0 WHERE app_id = ? AND cid = ?")
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        if hard {
            sqlx::query("DELETE FROM reactions WHERE app_id = ? AND message_id IN (SELECT id FROM messages WHERE app_id = ? AND cid = ? AND created_at <= ?)")
                .bind(app)
                .bind(app)
                .bind(cid)
                .bind(ts(&at))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("DELETE FROM messages WHERE app_id = ? AND cid = ? AND created_at <= ?")
                .bind(app)
                .bind(cid)
                .bind(ts(&at))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        sqlx::query("UPDATE members SET unread_messages = 0 WHERE app_id = ? AND cid = ?")
            .bind(app)
            .bind(cid)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let row = sqlx::query("UPDATE channels SET truncated_at = ?, updated_at = ? WHERE app_id = ? AND cid = ? RETURNING *")
            .bind(ts(&at))
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
        let sql = crate::channel_query::render_channel_query(Dialect::Sqlite, app, query)
            .map_err(|e| StoreError::Query(e.to_string()))?;
        let rows = self.read_rendered(&sql).await?;
        rows.iter().map(channel_from_row).collect()
    }

    async fn members(
        &self,
        app: AppId,
        cid: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Member>> {
        let rows = sqlx::query("SELECT * FROM members WHERE app_id = ? AND cid = ? ORDER BY created_at, user_id LIMIT ? OFFSET ?")
            .bind(app)
            .bind(cid)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.reader)
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
        let sql = crate::batch_pages::first_members_sql(Dialect::Sqlite, app, cids, limit);
        let rows = self.read_rendered(&sql).await?;
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
        let mut sql = format!(
            "SELECT * FROM members WHERE app_id = ? AND cid IN ({})",
            placeholders(cids.len())
        );
        if user_id.is_some() {
            sql.push_str(" AND user_id = ?");
        }
        sql.push_str(" ORDER BY created_at, user_id");
        let mut query = sqlx::query(&sql).bind(app);
        for cid in cids {
            query = query.bind(cid.as_str());
        }
        if let Some(user_id) = user_id {
            query = query.bind(user_id);
        }
        let rows = query.fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter().map(member_from_row).collect()
    }

    async fn query_members(
        &self,
        app: AppId,
        cid: &str,
        query: &ListQuery,
    ) -> StoreResult<Vec<Member>> {
        const D: Dialect = Dialect::Sqlite;
        let mut sql = Rendered::default();
        let app_param = sql.bind_app(D, app);
        let cid_param = sql.bind(D, Bind::Text(cid.to_owned()));
        sql.sql = format!(
            "SELECT m.* FROM members m LEFT JOIN users u ON u.app_id = m.app_id AND u.id = m.user_id WHERE m.app_id = {app_param} AND m.cid = {cid_param} AND "
        );
        render_filter(&query.filter, &crate::schemas::MEMBERS, D, &mut sql)
            .map_err(|e| StoreError::Query(e.to_string()))?;
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
        .map_err(|e| StoreError::Query(e.to_string()))?;
        let limit = sql.bind(D, Bind::Int(query.limit));
        let offset = sql.bind(D, Bind::Int(query.offset));
        sql.sql
            .push_str(&format!(", m.user_id LIMIT {limit} OFFSET {offset}"));
        let rows = self.read_rendered(&sql).await?;
        rows.iter().map(member_from_row).collect()
    }

    async fn add_members(
        &self,
        app: AppId,
        cid: &str,
        members: &[Member],
    ) -> StoreResult<Vec<Member>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let mut removed = Vec::new();
        for user_id in user_ids {
            let row = sqlx::query(
                "DELETE FROM members WHERE app_id = ? AND cid = ? AND user_id = ? RETURNING *",
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
            "UPDATE members SET channel_role = ?, doc = ?, hidden = ?, hide_messages_before = ?, updated_at = ?
             WHERE app_id = ? AND cid = ? AND user_id = ? RETURNING *",
        )
        .bind(&member.channel_role)
        .bind(to_json(&member.doc)?)
        .bind(member.hidden)
        .bind(member.hide_messages_before.as_ref().map(ts))
        .bind(ts(&member.updated_at))
        .bind(app)
        .bind(&member.cid)
        .bind(&member.user_id)
        .fetch_optional(&self.writer)
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
        let row = sqlx::query(
            "UPDATE members SET last_read = ?, last_read_message_id = COALESCE(?, (SELECT id FROM messages WHERE app_id = ? AND cid = ? AND (parent_id IS NULL OR show_in_channel = 1) ORDER BY created_at DESC LIMIT 1)), unread_messages = 0, first_unread_message_id = NULL
             WHERE app_id = ? AND cid = ? AND user_id = ? RETURNING *",
        )
        .bind(ts(&at))
        .bind(message_id)
        .bind(app)
        .bind(cid)
        .bind(app)
        .bind(cid)
        .bind(user_id)
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?;
        row.map(|row| member_from_row(&row)).transpose()
    }

    async fn mark_unread(
        &self,
        app: AppId,
        cid: &str,
        user_id: &str,
        from: &Message,
    ) -> StoreResult<Option<Member>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let from_at = ts(&from.created_at);
        let unread: i64 = sqlx::query(
            "SELECT COUNT(*) FROM messages WHERE app_id = ? AND cid = ? AND created_at >= ? AND user_id <> ?
               AND (parent_id IS NULL OR show_in_channel = 1) AND type <> 'system' AND deleted_at IS NULL
               AND COALESCE(json_extract(doc, '$.silent'), 0) = 0",
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
            "SELECT id FROM messages WHERE app_id = ? AND cid = ? AND created_at < ? AND (parent_id IS NULL OR show_in_channel = 1)
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
            "UPDATE members SET last_read = ?, last_read_message_id = ?, unread_messages = ?, first_unread_message_id = ?
             WHERE app_id = ? AND cid = ? AND user_id = ? RETURNING *",
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
        let sql = format!(
            "SELECT m.user_id, COALESCE(SUM(m.unread_messages), 0), COALESCE(SUM(m.unread_messages > 0), 0)
             FROM members m JOIN channels c ON c.app_id = m.app_id AND c.cid = m.cid
             WHERE m.app_id = ? AND c.deleted_at IS NULL AND m.user_id IN ({}) GROUP BY m.user_id",
            placeholders(user_ids.len())
        );
        let mut query = sqlx::query(&sql).bind(app);
        for id in user_ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.reader).await.map_err(backend)?;
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
        let rows = sqlx::query(
            "SELECT m.cid, m.unread_messages, m.last_read FROM members m JOIN channels c ON c.app_id = m.app_id AND c.cid = m.cid
             WHERE m.app_id = ? AND m.user_id = ? AND c.deleted_at IS NULL ORDER BY c.last_message_at DESC",
        )
        .bind(app)
        .bind(user_id)
        .fetch_all(&self.reader)
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

#[async_trait]
impl MessageStore for SqliteStore {
    async fn send_message(
        &self,
        app: AppId,
        message: &Message,
        counts_as_unread: bool,
        unhide: bool,
    ) -> StoreResult<SentMessage> {
        // Few statements on purpose: each one is a hand-off to the SQLite worker thread.
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let created = ts(&message.created_at);
        sqlx::query(
            "INSERT INTO messages (app_id, id, cid, parent_id, user_id, type, show_in_channel, reply_count, doc, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10)",
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
            let mut stored = Self::message_in(&mut *tx, app, parent_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            stored.reply_count += 1;
            for participant in [stored.user_id.clone(), message.user_id.clone()] {
                if !stored.thread_participants.contains(&participant) {
                    stored.thread_participants.push(participant);
                }
            }
            sqlx::query("UPDATE messages SET reply_count = ?1, thread_participants = ?2 WHERE app_id = ?3 AND id = ?4")
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
        let channel_row = if in_channel {
            sqlx::query(
                "UPDATE channels SET last_message_at = CASE WHEN last_message_at IS NULL OR last_message_at < ?1 THEN ?1 ELSE last_message_at END
                 WHERE app_id = ?2 AND cid = ?3 RETURNING *",
            )
            .bind(&created)
            .bind(app)
            .bind(&message.cid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
        } else {
            sqlx::query("SELECT * FROM channels WHERE app_id = ?1 AND cid = ?2")
                .bind(app)
                .bind(&message.cid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?
        };
        let channel = channel_row
            .map(|row| channel_from_row(&row))
            .transpose()?
            .ok_or(StoreError::NotFound)?;
        // One statement for every member: others gain an unread message (unless they muted the
        // channel or the author, or blocked the author), the author has read it.
        if counts_as_unread || in_channel {
            sqlx::query(
                "UPDATE members SET
                   unread_messages = CASE WHEN user_id = ?1 THEN (CASE WHEN ?2 THEN 0 ELSE unread_messages END)
                     ELSE unread_messages + (CASE WHEN EXISTS (SELECT 1 FROM mutes mu WHERE mu.app_id = ?6 AND mu.user_id = members.user_id
                       AND ((mu.target_kind = 'channel' AND mu.target_id = ?7) OR (mu.target_kind = 'user' AND mu.target_id = ?1))
                       AND (mu.expires_at IS NULL OR mu.expires_at > ?4))
                       OR EXISTS (SELECT 1 FROM blocks bl WHERE bl.app_id = ?6 AND bl.user_id = members.user_id AND bl.blocked_user_id = ?1)
                       THEN 0 ELSE ?3 END) END,
                   last_read = CASE WHEN user_id = ?1 AND ?2 THEN ?4 ELSE last_read END,
                   last_read_message_id = CASE WHEN user_id = ?1 AND ?2 THEN ?5 ELSE last_read_message_id END,
                   first_unread_message_id = CASE WHEN user_id = ?1 AND ?2 THEN NULL ELSE first_unread_message_id END,
                   channel_last_message_at = ?8
                 WHERE app_id = ?6 AND cid = ?7",
            )
            .bind(&message.user_id)
            .bind(in_channel)
            .bind(i64::from(counts_as_unread))
            .bind(&created)
            .bind(&message.id)
            .bind(app)
            .bind(&message.cid)
            .bind(channel.last_message_at.as_ref().map(ts))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        let mut unhidden = Vec::new();
        if unhide && in_channel {
            // A member who muted the channel keeps it hidden.
            let rows = sqlx::query(
                "UPDATE members SET hidden = 0 WHERE app_id = ?1 AND cid = ?2 AND hidden = 1
                   AND NOT EXISTS (SELECT 1 FROM mutes mu WHERE mu.app_id = ?1 AND mu.user_id = members.user_id
                     AND mu.target_kind = 'channel' AND mu.target_id = ?2 AND (mu.expires_at IS NULL OR mu.expires_at > ?3))
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
        tx.commit().await.map_err(backend)?;
        // The stored row is exactly the input: a new message has no reactions or replies yet.
        let stored = Message {
            reply_count: 0,
            reaction_groups: Document::new(),
            latest_reactions: Vec::new(),
            thread_participants: Vec::new(),
            deleted_at: None,
            // As stored: microsecond precision.
            created_at: parse_ts(&created)?,
            updated_at: parse_ts(&ts(&message.updated_at))?,
            ..message.clone()
        };
        Ok(SentMessage {
            message: stored,
            parent,
            channel,
            unhidden,
        })
    }

    async fn message(&self, app: AppId, id: &str) -> StoreResult<Option<Message>> {
        Self::message_in(&self.reader, app, id).await
    }

    async fn latest_message_time_by(
        &self,
        app: AppId,
        cid: &str,
        user_id: &str,
        since: &Timestamp,
    ) -> StoreResult<Option<Timestamp>> {
        // The channel's recent messages through messages_by_channel, then the author.
        let latest: Option<String> = sqlx::query_scalar(
            "SELECT max(created_at) FROM messages WHERE app_id = ? AND cid = ? AND created_at >= ? AND user_id = ?",
        )
        .bind(app)
        .bind(cid)
        .bind(ts(since))
        .bind(user_id)
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        latest.map(|text| parse_ts(&text)).transpose()
    }

    async fn messages(&self, app: AppId, ids: &[String]) -> StoreResult<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM messages WHERE app_id = ? AND id IN ({}) ORDER BY created_at",
            placeholders(ids.len())
        );
        let mut query = sqlx::query(&sql).bind(app);
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.reader).await.map_err(backend)?;
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
            "cid = ? AND (parent_id IS NULL OR show_in_channel = 1)",
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
        let sql = crate::batch_pages::latest_messages_sql(Dialect::Sqlite, app, channels, limit);
        let rows = self.read_rendered(&sql).await?;
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
        let sql = crate::pinned::pinned_messages_sql(Dialect::Sqlite, app, cid, page, &now);
        let rows = self.read_rendered(&sql).await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn replies(
        &self,
        app: AppId,
        parent_id: &str,
        page: &MessagePage,
    ) -> StoreResult<Vec<Message>> {
        self.message_list(app, "parent_id = ?", parent_id, page, None)
            .await
    }

    async fn query_threads(
        &self,
        app: AppId,
        viewer: &str,
        query: &ListQuery,
    ) -> StoreResult<Vec<Message>> {
        let sql = crate::thread_query::render_thread_query(Dialect::Sqlite, app, viewer, query)
            .map_err(|e| StoreError::Query(e.to_string()))?;
        let rows = self.read_rendered(&sql).await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn update_message(&self, app: AppId, message: &Message) -> StoreResult<Message> {
        let row = sqlx::query("UPDATE messages SET doc = ?, type = ?, updated_at = ?, show_in_channel = ? WHERE app_id = ? AND id = ? RETURNING *")
            .bind(to_json(&message.doc)?)
            .bind(&message.kind)
            .bind(ts(&message.updated_at))
            .bind(message.show_in_channel)
            .bind(app)
            .bind(&message.id)
            .fetch_optional(&self.writer)
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let mut message = Self::message_in(&mut *tx, app, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if hard {
            sqlx::query("DELETE FROM reactions WHERE app_id = ? AND message_id IN (SELECT id FROM messages WHERE app_id = ? AND (id = ? OR parent_id = ?))")
                .bind(app)
                .bind(app)
                .bind(id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("DELETE FROM messages WHERE app_id = ? AND (id = ? OR parent_id = ?)")
                .bind(app)
                .bind(id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        } else {
            sqlx::query(
                "UPDATE messages SET deleted_at = ?, updated_at = ? WHERE app_id = ? AND id = ?",
            )
            .bind(ts(&now))
            .bind(ts(&now))
            .bind(app)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        let mut parent = None;
        if let (Some(parent_id), true) = (&message.parent_id, hard) {
            let row = sqlx::query("UPDATE messages SET reply_count = MAX(reply_count - 1, 0) WHERE app_id = ? AND id = ? RETURNING *")
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
        let row = sqlx::query("UPDATE messages SET deleted_at = NULL, updated_at = ? WHERE app_id = ? AND id = ? AND deleted_at IS NOT NULL RETURNING *")
            .bind(ts(&now))
            .bind(app)
            .bind(id)
            .fetch_optional(&self.writer)
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        Self::message_in(&mut *tx, app, &reaction.message_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut replaced = false;
        if enforce_unique {
            let removed = sqlx::query("DELETE FROM reactions WHERE app_id = ? AND message_id = ? AND user_id = ? AND type <> ?")
                .bind(app)
                .bind(&reaction.message_id)
                .bind(&reaction.user_id)
                .bind(&reaction.kind)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            replaced = removed.rows_affected() > 0;
        }
        let existing = sqlx::query("SELECT created_at FROM reactions WHERE app_id = ? AND message_id = ? AND user_id = ? AND type = ?")
            .bind(app)
            .bind(&reaction.message_id)
            .bind(&reaction.user_id)
            .bind(&reaction.kind)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        replaced |= existing.is_some();
        sqlx::query(
            "INSERT INTO reactions (app_id, message_id, user_id, type, score, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row = sqlx::query("DELETE FROM reactions WHERE app_id = ? AND message_id = ? AND user_id = ? AND type = ? RETURNING *")
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
        let plan = match crate::channel_query::sqlite_text_query(&messages.filter) {
            Some(query) => self.text_plan(app, channels, &query).await?,
            None => TextPlan::AsFiltered,
        };
        self.search_with_plan(app, channels, messages, plan).await
    }

    async fn reactions(
        &self,
        app: AppId,
        message_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Reaction>> {
        let rows = sqlx::query("SELECT * FROM reactions WHERE app_id = ? AND message_id = ? ORDER BY created_at DESC, user_id LIMIT ? OFFSET ?")
            .bind(app)
            .bind(message_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.reader)
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
        let sql = format!(
            "SELECT * FROM reactions WHERE app_id = ? AND user_id = ? AND message_id IN ({}) ORDER BY created_at DESC",
            placeholders(message_ids.len())
        );
        let mut query = sqlx::query(&sql).bind(app).bind(user_id);
        for id in message_ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter().map(reaction_from_row).collect()
    }
}

/// Recomputes a message's reaction groups and ten latest reactions inside the caller's transaction.
async fn refresh_reaction_summary(
    conn: &mut sqlx::SqliteConnection,
    app: AppId,
    message_id: &str,
) -> StoreResult<Message> {
    let groups = sqlx::query(
        "SELECT type, COUNT(*) AS count, SUM(score) AS sum_scores, MIN(created_at) AS first_at, MAX(created_at) AS last_at
         FROM reactions WHERE app_id = ? AND message_id = ? GROUP BY type",
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
    let latest = sqlx::query("SELECT * FROM reactions WHERE app_id = ? AND message_id = ? ORDER BY created_at DESC, user_id LIMIT 10")
        .bind(app)
        .bind(message_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
        .iter()
        .map(reaction_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let latest_json = serde_json::Value::Array(latest.iter().map(reaction_to_json).collect());
    let row = sqlx::query("UPDATE messages SET reaction_groups = ?, latest_reactions = ? WHERE app_id = ? AND id = ? RETURNING *")
        .bind(to_json(&summary)?)
        .bind(latest_json.to_string())
        .bind(app)
        .bind(message_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    message_from_row(&row)
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn append_events(&self, app: AppId, events: &[LoggedEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for event in events {
            sqlx::query("INSERT INTO events (app_id, cid, type, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)")
                .bind(app)
                .bind(&event.cid)
                .bind(&event.kind)
                .bind(ts(&event.created_at))
                .bind(to_json(&event.body)?)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn events_since(
        &self,
        app: AppId,
        cids: &[String],
        since: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<LoggedEvent>> {
        if cids.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (0..cids.len()).map(|i| format!("?{}", i + 4)).collect();
        let sql = format!(
            "SELECT cid, type, created_at, body FROM events WHERE app_id = ?1 AND created_at > ?2 AND cid IN ({}) ORDER BY seq LIMIT ?3",
            list.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(app).bind(ts(&since)).bind(limit);
        for cid in cids {
            query = query.bind(cid.as_str());
        }
        let rows = query.fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter()
            .map(|row| {
                let body: String = row.try_get("body").map_err(backend)?;
                Ok(LoggedEvent {
                    cid: row.try_get("cid").map_err(backend)?,
                    kind: row.try_get("type").map_err(backend)?,
                    created_at: parse_ts(
                        &row.try_get::<String, _>("created_at").map_err(backend)?,
                    )?,
                    body: serde_json::from_str(&body)
                        .map_err(|e| StoreError::Backend(e.to_string()))?,
                })
            })
            .collect()
    }

    async fn prune_events(&self, before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM events WHERE created_at < ?1")
            .bind(ts(&before))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

fn mute_from_parts(
    user_id: String,
    kind: String,
    target_id: String,
    created_at: String,
    updated_at: String,
    expires_at: Option<String>,
) -> StoreResult<Mute> {
    Ok(Mute {
        user_id,
        target: if kind == "channel" {
            MuteTarget::Channel
        } else {
            MuteTarget::User
        },
        target_id,
        created_at: parse_ts(&created_at)?,
        updated_at: parse_ts(&updated_at)?,
        expires_at: expires_at.map(|t| parse_ts(&t)).transpose()?,
    })
}

#[async_trait]
impl MuteStore for SqliteStore {
    async fn put_mutes(&self, app: AppId, mutes: &[Mute]) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for mute in mutes {
            sqlx::query(
                "INSERT INTO mutes (app_id, user_id, target_kind, target_id, created_at, updated_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (app_id, user_id, target_kind, target_id) DO UPDATE SET updated_at = excluded.updated_at, expires_at = excluded.expires_at",
            )
            .bind(app)
            .bind(&mute.user_id)
            .bind(mute.target.as_str())
            .bind(&mute.target_id)
            .bind(ts(&mute.created_at))
            .bind(ts(&mute.updated_at))
            .bind(mute.expires_at.as_ref().map(ts))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn remove_mutes(
        &self,
        app: AppId,
        user_id: &str,
        target: MuteTarget,
        target_ids: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for target_id in target_ids {
            sqlx::query("DELETE FROM mutes WHERE app_id = ?1 AND user_id = ?2 AND target_kind = ?3 AND target_id = ?4")
                .bind(app)
                .bind(user_id)
                .bind(target.as_str())
                .bind(target_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn mutes(&self, app: AppId, user_id: &str, now: Timestamp) -> StoreResult<Vec<Mute>> {
        let rows = sqlx::query(
            "SELECT user_id, target_kind, target_id, created_at, updated_at, expires_at FROM mutes
             WHERE app_id = ?1 AND user_id = ?2 AND (expires_at IS NULL OR expires_at > ?3) ORDER BY created_at, target_id",
        )
        .bind(app)
        .bind(user_id)
        .bind(ts(&now))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                mute_from_parts(
                    row.try_get(0).map_err(backend)?,
                    row.try_get(1).map_err(backend)?,
                    row.try_get(2).map_err(backend)?,
                    row.try_get(3).map_err(backend)?,
                    row.try_get(4).map_err(backend)?,
                    row.try_get(5).map_err(backend)?,
                )
            })
            .collect()
    }
}

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn add_device(&self, app: AppId, device: &Device) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO devices (app_id, id, user_id, push_provider, push_provider_name, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (app_id, id) DO NOTHING",
        )
        .bind(app)
        .bind(&device.id)
        .bind(&device.user_id)
        .bind(&device.push_provider)
        .bind(&device.push_provider_name)
        .bind(ts(&device.created_at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn devices(&self, app: AppId, user_id: &str) -> StoreResult<Vec<Device>> {
        let rows = sqlx::query(
            "SELECT id, user_id, push_provider, push_provider_name, created_at FROM devices WHERE app_id = ?1 AND user_id = ?2 ORDER BY created_at, id",
        )
        .bind(app)
        .bind(user_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Device {
                    id: row.try_get(0).map_err(backend)?,
                    user_id: row.try_get(1).map_err(backend)?,
                    push_provider: row.try_get(2).map_err(backend)?,
                    push_provider_name: row.try_get(3).map_err(backend)?,
                    created_at: parse_ts(&row.try_get::<String, _>(4).map_err(backend)?)?,
                })
            })
            .collect()
    }

    async fn delete_device(&self, app: AppId, user_id: &str, id: &str) -> StoreResult<()> {
        let done =
            sqlx::query("DELETE FROM devices WHERE app_id = ?1 AND user_id = ?2 AND id = ?3")
                .bind(app)
                .bind(user_id)
                .bind(id)
                .execute(&self.writer)
                .await
                .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

impl SqliteStore {
    /// Runs a rendered query on the read-only pool.
    async fn read_rendered(&self, sql: &Rendered) -> StoreResult<Vec<sqlx::sqlite::SqliteRow>> {
        bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)
    }

    /// A message search under the given plan (every plan gives the same rows; tests check it).
    pub(crate) async fn search_with_plan(
        &self,
        app: AppId,
        channels: &ChannelQuery,
        messages: &ListQuery,
        plan: TextPlan,
    ) -> StoreResult<Vec<Message>> {
        let text_query = crate::channel_query::sqlite_text_query(&messages.filter);
        let sql = crate::channel_query::render_search(
            Dialect::Sqlite,
            app,
            channels,
            messages,
            plan,
            text_query.as_deref(),
        )
        .map_err(|e| StoreError::Query(e.to_string()))?;
        let rows = self.read_rendered(&sql).await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Chooses how a search meets its `text $q` condition from two capped counts: the rows the
    /// words match (app-wide) and the messages of the searched channels.
    async fn text_plan(
        &self,
        app: AppId,
        channels: &ChannelQuery,
        fts_query: &str,
    ) -> StoreResult<TextPlan> {
        let matches: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 LIMIT ?2)",
        )
        .bind(fts_query)
        .bind(crate::channel_query::COUNTED_MATCHES)
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        let count = crate::channel_query::render_searched_message_count(
            Dialect::Sqlite,
            app,
            channels,
            crate::channel_query::COUNTED_CHANNEL_MESSAGES,
        )
        .map_err(|e| StoreError::Query(e.to_string()))?;
        let channel_messages: i64 = bind_all(sqlx::query(&count.sql), &count.binds)
            .fetch_one(&self.reader)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(backend)?;
        Ok(crate::channel_query::choose_text_plan(
            matches,
            channel_messages,
        ))
    }
}
