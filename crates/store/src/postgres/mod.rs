//! The PostgreSQL backend: one pool, concurrent writers made safe by row locks and `ON CONFLICT`; same semantics as SQLite.

mod blocks;
mod calls;
mod channels;
mod import;
mod messages;
mod moderation;
#[cfg(test)]
mod parity;
mod rows;

use crate::contract::*;
use crate::model::*;
use async_trait::async_trait;
use eddy_core::config::{ChannelConfig, BUILT_IN_TYPES};
use eddy_query::{render_filter, render_sort, Bind, Dialect, Rendered};
use rows::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

/// Placeholders in rendered filters and sorts are PostgreSQL's `$n`.
const D: Dialect = Dialect::Postgres;

pub struct PostgresStore {
    pool: PgPool,
}

fn backend(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        _ => StoreError::Backend(error.to_string()),
    }
}

fn query_error(error: eddy_query::QueryError) -> StoreError {
    StoreError::Query(error.to_string())
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds rendered parameters in order; JSON goes out as text (the rendered SQL casts it `::jsonb`).
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

/// Schema names are interpolated into `CREATE SCHEMA`, so only plain identifiers are accepted.
fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl PostgresStore {
    /// Connects to the database at `url` and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(backend)?;
        Self::open(options).await
    }

    /// Like [`PostgresStore::connect`], with every pooled connection's `search_path` set to `schema`
    /// (created if missing; never dropped here). Schema names are lower-case identifiers.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        if !valid_schema(schema) {
            return Err(StoreError::Backend(format!(
                "schema name {schema:?} is not a lower-case identifier"
            )));
        }
        let options = PgConnectOptions::from_str(url).map_err(backend)?;
        let mut connection = sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(backend)?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .execute(&mut connection)
            .await
            .map_err(backend)?;
        connection.close().await.map_err(backend)?;
        Self::open(options.options([("search_path", schema)])).await
    }

    async fn open(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(backend)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|error| StoreError::Backend(error.to_string()))?;
        Ok(PostgresStore { pool })
    }

    /// The pool, for tests and maintenance (dropping a test schema).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn channel_in<'e, E>(executor: E, app: AppId, cid: &str) -> StoreResult<Option<Channel>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Postgres>,
    {
        let row = sqlx::query("SELECT * FROM channels WHERE app_id = $1 AND cid = $2")
            .bind(app)
            .bind(cid)
            .fetch_optional(executor)
            .await
            .map_err(backend)?;
        row.map(|row| channel_from_row(&row)).transpose()
    }

    /// Locks the channel row until the transaction ends; membership and message writes to one
    /// channel take this lock first, so they serialise (and lock member rows in one order).
    async fn lock_channel(
        conn: &mut sqlx::PgConnection,
        app: AppId,
        cid: &str,
    ) -> StoreResult<Option<Channel>> {
        let row = sqlx::query("SELECT * FROM channels WHERE app_id = $1 AND cid = $2 FOR UPDATE")
            .bind(app)
            .bind(cid)
            .fetch_optional(conn)
            .await
            .map_err(backend)?;
        row.map(|row| channel_from_row(&row)).transpose()
    }

    async fn message_in<'e, E>(executor: E, app: AppId, id: &str) -> StoreResult<Option<Message>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Postgres>,
    {
        let row = sqlx::query("SELECT * FROM messages WHERE app_id = $1 AND id = $2")
            .bind(app)
            .bind(id)
            .fetch_optional(executor)
            .await
            .map_err(backend)?;
        row.map(|row| message_from_row(&row)).transpose()
    }

    /// Locks the message row until the transaction ends (read-modify-write of counts and summaries).
    async fn lock_message(
        conn: &mut sqlx::PgConnection,
        app: AppId,
        id: &str,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query("SELECT * FROM messages WHERE app_id = $1 AND id = $2 FOR UPDATE")
            .bind(app)
            .bind(id)
            .fetch_optional(conn)
            .await
            .map_err(backend)?;
        row.map(|row| message_from_row(&row)).transpose()
    }
}

#[async_trait]
impl AppStore for PostgresStore {
    async fn ensure_app(&self, api_key: &str, api_secret: &str, name: &str) -> StoreResult<App> {
        if let Some(app) = self.app_by_key(api_key).await? {
            return Ok(app);
        }
        let now = ts(&chrono::Utc::now());
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A concurrent creator wins quietly: its app is returned instead of a conflict.
        let inserted = sqlx::query(
            "INSERT INTO apps (api_key, api_secret, name, settings, created_at) VALUES ($1, $2, $3, '{}', $4)
             ON CONFLICT (api_key) DO NOTHING RETURNING id",
        )
        .bind(api_key)
        .bind(api_secret)
        .bind(name)
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(row) = inserted {
            let id: i64 = row.try_get(0).map_err(backend)?;
            for kind in BUILT_IN_TYPES {
                let config = to_json(&ChannelConfig::built_in(kind))?;
                sqlx::query("INSERT INTO channel_types (app_id, name, config, created_at, updated_at) VALUES ($1, $2, $3::jsonb, $4, $5)")
                    .bind(id)
                    .bind(kind)
                    .bind(config)
                    .bind(&now)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
        }
        tx.commit().await.map_err(backend)?;
        self.app_by_key(api_key).await?.ok_or(StoreError::NotFound)
    }

    async fn app_by_key(&self, api_key: &str) -> StoreResult<Option<App>> {
        let row = sqlx::query("SELECT * FROM apps WHERE api_key = $1")
            .bind(api_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|row| app_from_row(&row)).transpose()
    }

    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        let rows = sqlx::query("SELECT * FROM apps ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(app_from_row).collect()
    }

    async fn update_app_settings(&self, app: AppId, settings: &Document) -> StoreResult<()> {
        sqlx::query("UPDATE apps SET settings = $1::jsonb WHERE id = $2")
            .bind(to_json(settings)?)
            .bind(app)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn channel_types(&self, app: AppId) -> StoreResult<Vec<ChannelTypeRecord>> {
        let rows = sqlx::query("SELECT * FROM channel_types WHERE app_id = $1 ORDER BY name")
            .bind(app)
            .fetch_all(&self.pool)
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
        sqlx::query("INSERT INTO channel_types (app_id, name, config, created_at, updated_at) VALUES ($1, $2, $3::jsonb, $4, $5)")
            .bind(app)
            .bind(&config.name)
            .bind(to_json(config)?)
            .bind(ts(&now))
            .bind(ts(&now))
            .execute(&self.pool)
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
        let row = sqlx::query("UPDATE channel_types SET config = $1::jsonb, updated_at = $2 WHERE app_id = $3 AND name = $4 RETURNING *")
            .bind(to_json(config)?)
            .bind(ts(&now))
            .bind(app)
            .bind(&config.name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        channel_type_from_row(&row)
    }

    async fn delete_channel_type(&self, app: AppId, name: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let in_use: i64 = sqlx::query(
            "SELECT COUNT(*) FROM channels WHERE app_id = $1 AND type = $2 AND deleted_at IS NULL",
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
        let done = sqlx::query("DELETE FROM channel_types WHERE app_id = $1 AND name = $2")
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
impl UserStore for PostgresStore {
    async fn upsert_users(&self, app: AppId, users: &[User]) -> StoreResult<Vec<User>> {
        // Rows are written in id order (stable for repeated ids) so concurrent upserts of
        // overlapping sets lock in one order and cannot deadlock; results keep the input order.
        let mut order: Vec<usize> = (0..users.len()).collect();
        order.sort_by(|a, b| users[*a].id.cmp(&users[*b].id));
        let mut stored: Vec<Option<User>> = vec![None; users.len()];
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for index in order {
            let user = &users[index];
            let row = sqlx::query(
                "INSERT INTO users (app_id, id, role, doc, created_at, updated_at, last_active, deactivated_at, deleted_at)
                 VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)
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
            stored[index] = Some(user_from_row(&row)?);
        }
        tx.commit().await.map_err(backend)?;
        Ok(stored.into_iter().flatten().collect())
    }

    async fn users(&self, app: AppId, ids: &[String]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query("SELECT * FROM users WHERE app_id = $1 AND id = ANY($2)")
            .bind(app)
            .bind(ids)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn query_users(
        &self,
        app: AppId,
        query: &ListQuery,
        include_deactivated: bool,
    ) -> StoreResult<Vec<User>> {
        let mut sql = Rendered::default();
        let app_param = sql.bind_app(D, app);
        sql.sql = format!(
            "SELECT u.* FROM users u WHERE u.app_id = {app_param} AND u.deleted_at IS NULL AND "
        );
        render_filter(&query.filter, &crate::schemas::USERS, D, &mut sql).map_err(query_error)?;
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
            .map_err(query_error)?;
        }
        let limit = sql.bind(D, Bind::Int(query.limit));
        let offset = sql.bind(D, Bind::Int(query.offset));
        sql.sql
            .push_str(&format!(", u.id DESC LIMIT {limit} OFFSET {offset}"));
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
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
            sqlx::query("DELETE FROM users WHERE app_id = $1 AND id = $2 RETURNING *")
                .bind(app)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
        } else {
            sqlx::query("UPDATE users SET deleted_at = $1, updated_at = $2 WHERE app_id = $3 AND id = $4 RETURNING *")
                .bind(ts(&now))
                .bind(ts(&now))
                .bind(app)
                .bind(id)
                .fetch_optional(&self.pool)
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
        sqlx::query("UPDATE users SET last_active = $1 WHERE app_id = $2 AND id = $3")
            .bind(ts(&last_active))
            .bind(app)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl EventLog for PostgresStore {
    async fn append_events(&self, app: AppId, events: &[LoggedEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for event in events {
            sqlx::query("INSERT INTO events (app_id, cid, type, created_at, body) VALUES ($1, $2, $3, $4, $5::jsonb)")
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
        let rows = sqlx::query(
            "SELECT cid, type, created_at, body::text AS body FROM events
             WHERE app_id = $1 AND created_at > $2 AND cid = ANY($3) ORDER BY seq LIMIT $4",
        )
        .bind(app)
        .bind(ts(&since))
        .bind(cids)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
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
        let done = sqlx::query("DELETE FROM events WHERE created_at < $1")
            .bind(ts(&before))
            .execute(&self.pool)
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
impl MuteStore for PostgresStore {
    async fn put_mutes(&self, app: AppId, mutes: &[Mute]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for mute in mutes {
            sqlx::query(
                "INSERT INTO mutes (app_id, user_id, target_kind, target_id, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
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
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for target_id in target_ids {
            sqlx::query("DELETE FROM mutes WHERE app_id = $1 AND user_id = $2 AND target_kind = $3 AND target_id = $4")
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
             WHERE app_id = $1 AND user_id = $2 AND (expires_at IS NULL OR expires_at > $3) ORDER BY created_at, target_id",
        )
        .bind(app)
        .bind(user_id)
        .bind(ts(&now))
        .fetch_all(&self.pool)
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
impl DeviceStore for PostgresStore {
    async fn add_device(&self, app: AppId, device: &Device) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO devices (app_id, id, user_id, push_provider, push_provider_name, created_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (app_id, id) DO NOTHING",
        )
        .bind(app)
        .bind(&device.id)
        .bind(&device.user_id)
        .bind(&device.push_provider)
        .bind(&device.push_provider_name)
        .bind(ts(&device.created_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn devices(&self, app: AppId, user_id: &str) -> StoreResult<Vec<Device>> {
        let rows = sqlx::query(
            "SELECT id, user_id, push_provider, push_provider_name, created_at FROM devices WHERE app_id = $1 AND user_id = $2 ORDER BY created_at, id",
        )
        .bind(app)
        .bind(user_id)
        .fetch_all(&self.pool)
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
            sqlx::query("DELETE FROM devices WHERE app_id = $1 AND user_id = $2 AND id = $3")
                .bind(app)
                .bind(user_id)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
