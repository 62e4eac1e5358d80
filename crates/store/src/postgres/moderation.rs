//! Bans and flags on PostgreSQL: a ban and its mirror on the user's or member's document are written in one transaction.

use super::rows::*;
use super::{backend, bind_all, query_error, PostgresStore, D};
use crate::contract::*;
use crate::model::*;
use async_trait::async_trait;

/// Replaces the ban mirror keys on the user's document (app-wide, `cid` empty) or the member's
/// (if that membership exists) with `mirror`; an empty `mirror` only clears them.
async fn mirror_ban(
    conn: &mut sqlx::PgConnection,
    app: AppId,
    user_id: &str,
    cid: &str,
    mirror: &Document,
) -> StoreResult<()> {
    let sql = if cid.is_empty() {
        "UPDATE users SET doc = (doc - $1::text[]) || $2::jsonb WHERE app_id = $3 AND id = $4"
    } else {
        "UPDATE members SET doc = (doc - $1::text[]) || $2::jsonb WHERE app_id = $3 AND user_id = $4 AND cid = $5"
    };
    let mut query = sqlx::query(sql)
        .bind(&BAN_MIRROR_KEYS[..])
        .bind(to_json(mirror)?)
        .bind(app)
        .bind(user_id);
    if !cid.is_empty() {
        query = query.bind(cid);
    }
    query.execute(&mut *conn).await.map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ModerationStore for PostgresStore {
    async fn put_ban(&self, app: AppId, ban: &Ban) -> StoreResult<()> {
        let cid = ban.cid.as_deref().unwrap_or("");
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO bans (app_id, user_id, cid, banned_by, reason, shadow, ip_ban, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (app_id, user_id, cid) DO UPDATE SET banned_by = excluded.banned_by, reason = excluded.reason,
               shadow = excluded.shadow, ip_ban = excluded.ip_ban, created_at = excluded.created_at, expires_at = excluded.expires_at",
        )
        .bind(app)
        .bind(&ban.user_id)
        .bind(cid)
        .bind(&ban.banned_by)
        .bind(&ban.reason)
        .bind(ban.shadow)
        .bind(ban.ip_ban)
        .bind(ts(&ban.created_at))
        .bind(ban.expires_at.as_ref().map(ts))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        mirror_ban(&mut tx, app, &ban.user_id, cid, &ban_mirror(ban)).await?;
        tx.commit().await.map_err(backend)
    }

    async fn remove_ban(&self, app: AppId, user_id: &str, cid: Option<&str>) -> StoreResult<Ban> {
        let cid = cid.unwrap_or("");
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "DELETE FROM bans WHERE app_id = $1 AND user_id = $2 AND cid = $3 RETURNING *",
        )
        .bind(app)
        .bind(user_id)
        .bind(cid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let ban = ban_from_row(&row)?;
        mirror_ban(&mut tx, app, user_id, cid, &Document::new()).await?;
        tx.commit().await.map_err(backend)?;
        Ok(ban)
    }

    async fn bans_of(&self, app: AppId, user_id: &str, now: Timestamp) -> StoreResult<Vec<Ban>> {
        let rows = sqlx::query(
            "SELECT * FROM bans WHERE app_id = $1 AND user_id = $2 AND (expires_at IS NULL OR expires_at > $3)
             ORDER BY created_at, cid",
        )
        .bind(app)
        .bind(user_id)
        .bind(ts(&now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(ban_from_row).collect()
    }

    async fn query_bans(
        &self,
        app: AppId,
        query: &ListQuery,
        active_at: Option<Timestamp>,
    ) -> StoreResult<Vec<Ban>> {
        let sql = crate::moderation_query::render_ban_query(D, app, query, active_at)
            .map_err(query_error)?;
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(ban_from_row).collect()
    }

    async fn put_flag(&self, app: AppId, flag: &Flag) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO flags (app_id, reporter_id, target_kind, target_id, target_user_id, cid, reason, doc, created_at, updated_at, reviewed_at, reviewed_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12)
             ON CONFLICT (app_id, reporter_id, target_kind, target_id) DO NOTHING",
        )
        .bind(app)
        .bind(&flag.reporter_id)
        .bind(flag.target.as_str())
        .bind(&flag.target_id)
        .bind(&flag.target_user_id)
        .bind(&flag.cid)
        .bind(&flag.reason)
        .bind(to_json(&flag.doc)?)
        .bind(ts(&flag.created_at))
        .bind(ts(&flag.updated_at))
        .bind(flag.reviewed_at.as_ref().map(ts))
        .bind(&flag.reviewed_by)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "{} already flagged {} {}",
                flag.reporter_id,
                flag.target.as_str(),
                flag.target_id
            )));
        }
        Ok(())
    }

    async fn remove_flag(
        &self,
        app: AppId,
        reporter_id: &str,
        target: FlagTarget,
        target_id: &str,
    ) -> StoreResult<Flag> {
        let row = sqlx::query(
            "DELETE FROM flags WHERE app_id = $1 AND reporter_id = $2 AND target_kind = $3 AND target_id = $4 RETURNING *",
        )
        .bind(app)
        .bind(reporter_id)
        .bind(target.as_str())
        .bind(target_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        flag_from_row(&row)
    }

    async fn query_flags(
        &self,
        app: AppId,
        target: FlagTarget,
        query: &ListQuery,
    ) -> StoreResult<Vec<Flag>> {
        let sql = crate::moderation_query::render_flag_query(D, app, target, query)
            .map_err(query_error)?;
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(flag_from_row).collect()
    }
}
