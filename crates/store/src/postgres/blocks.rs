//! User blocks and word blocklists on PostgreSQL; the app row is locked while a blocklist is created, so the per-app limit holds under concurrent writers.

use super::rows::*;
use super::{backend, PostgresStore};
use crate::contract::*;
use crate::model::*;
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
impl BlockStore for PostgresStore {
    async fn put_block(&self, app: AppId, block: &Block) -> StoreResult<Block> {
        let row = sqlx::query(
            "INSERT INTO blocks (app_id, user_id, blocked_user_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (app_id, user_id, blocked_user_id) DO UPDATE SET created_at = blocks.created_at
             RETURNING *",
        )
        .bind(app)
        .bind(&block.user_id)
        .bind(&block.blocked_user_id)
        .bind(ts(&block.created_at))
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        block_from_row(&row)
    }

    async fn remove_block(
        &self,
        app: AppId,
        user_id: &str,
        blocked_user_id: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM blocks WHERE app_id = $1 AND user_id = $2 AND blocked_user_id = $3",
        )
        .bind(app)
        .bind(user_id)
        .bind(blocked_user_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn blocks_by(&self, app: AppId, user_id: &str) -> StoreResult<Vec<Block>> {
        let rows = sqlx::query(
            "SELECT * FROM blocks WHERE app_id = $1 AND user_id = $2 ORDER BY created_at, blocked_user_id",
        )
        .bind(app)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(block_from_row).collect()
    }

    async fn blockers_of(&self, app: AppId, user_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT user_id FROM blocks WHERE app_id = $1 AND blocked_user_id = $2 ORDER BY user_id",
        )
        .bind(app)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0).map_err(backend))
            .collect()
    }
}

#[async_trait]
impl BlocklistStore for PostgresStore {
    async fn blocklists(&self, app: AppId) -> StoreResult<Vec<Blocklist>> {
        let rows = sqlx::query("SELECT * FROM blocklists WHERE app_id = $1 ORDER BY name")
            .bind(app)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(blocklist_from_row).collect()
    }

    async fn blocklist(&self, app: AppId, name: &str) -> StoreResult<Option<Blocklist>> {
        let row = sqlx::query("SELECT * FROM blocklists WHERE app_id = $1 AND name = $2")
            .bind(app)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|row| blocklist_from_row(&row)).transpose()
    }

    async fn create_blocklist(
        &self,
        app: AppId,
        blocklist: &Blocklist,
        limit: usize,
    ) -> StoreResult<Blocklist> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Concurrent creations in one app queue on the app row, so the count cannot go stale.
        sqlx::query("SELECT id FROM apps WHERE id = $1 FOR UPDATE")
            .bind(app)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM blocklists WHERE app_id = $1")
            .bind(app)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= limit {
            return Err(StoreError::Conflict(format!(
                "an app can have at most {limit} blocklists"
            )));
        }
        let row = sqlx::query(
            "INSERT INTO blocklists (app_id, name, kind, words, created_at, updated_at)
             VALUES ($1, $2, $3, $4::jsonb, $5, $6)
             ON CONFLICT (app_id, name) DO NOTHING RETURNING *",
        )
        .bind(app)
        .bind(&blocklist.name)
        .bind(&blocklist.kind)
        .bind(to_json(&blocklist.words)?)
        .bind(ts(&blocklist.created_at))
        .bind(ts(&blocklist.updated_at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or_else(|| {
            StoreError::Conflict(format!("blocklist {:?} already exists", blocklist.name))
        })?;
        let stored = blocklist_from_row(&row)?;
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    async fn update_blocklist(
        &self,
        app: AppId,
        name: &str,
        words: &[String],
        now: Timestamp,
    ) -> StoreResult<Blocklist> {
        let row = sqlx::query(
            "UPDATE blocklists SET words = $1::jsonb, updated_at = $2 WHERE app_id = $3 AND name = $4 RETURNING *",
        )
        .bind(to_json(&words)?)
        .bind(ts(&now))
        .bind(app)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        blocklist_from_row(&row)
    }

    async fn delete_blocklist(&self, app: AppId, name: &str, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM blocklists WHERE app_id = $1 AND name = $2")
            .bind(app)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE channel_types SET config = jsonb_set(config, '{blocklist}', 'null'::jsonb), updated_at = $1
             WHERE app_id = $2 AND config->>'blocklist' = $3",
        )
        .bind(ts(&now))
        .bind(app)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}
