//! Video call types, calls and call members on SQLite; calls carry a version so concurrent updates cannot silently overwrite each other.

use super::rows::*;
use super::{backend, bind_all, SqliteStore};
use crate::contract::*;
use crate::model::*;
use async_trait::async_trait;
use eddy_query::Dialect;

const D: Dialect = Dialect::Sqlite;

/// `?first, ?first+1, ...` for `count` values.
fn numbered(first: usize, count: usize) -> String {
    (first..first + count.max(1))
        .map(|n| format!("?{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn recount(conn: &mut sqlx::SqliteConnection, app: AppId, cid: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE calls SET member_count = (SELECT COUNT(*) FROM call_members WHERE app_id = ?1 AND cid = ?2)
         WHERE app_id = ?1 AND cid = ?2",
    )
    .bind(app)
    .bind(cid)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

async fn insert_member(
    conn: &mut sqlx::SqliteConnection,
    app: AppId,
    member: &CallMember,
) -> StoreResult<CallMember> {
    let row = sqlx::query(
        "INSERT INTO call_members (app_id, cid, user_id, role, doc, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (app_id, cid, user_id) DO UPDATE SET role = excluded.role, doc = excluded.doc,
             updated_at = excluded.updated_at
         RETURNING *",
    )
    .bind(app)
    .bind(&member.cid)
    .bind(&member.user_id)
    .bind(&member.role)
    .bind(to_json(&member.doc)?)
    .bind(ts(&member.created_at))
    .bind(ts(&member.updated_at))
    .fetch_one(conn)
    .await
    .map_err(backend)?;
    call_member_from_row(&row)
}

#[async_trait]
impl CallStore for SqliteStore {
    async fn call_types(&self, app: AppId) -> StoreResult<Vec<CallTypeRecord>> {
        let rows = sqlx::query("SELECT * FROM call_types WHERE app_id = ?1 ORDER BY name")
            .bind(app)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(call_type_from_row).collect()
    }

    async fn put_call_type(
        &self,
        app: AppId,
        record: &CallTypeRecord,
        create: bool,
    ) -> StoreResult<CallTypeRecord> {
        let on_conflict = if create {
            "DO NOTHING"
        } else {
            "DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at"
        };
        let row = sqlx::query(&format!(
            "INSERT INTO call_types (app_id, name, doc, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (app_id, name) {on_conflict} RETURNING *"
        ))
        .bind(app)
        .bind(&record.name)
        .bind(to_json(&record.doc)?)
        .bind(ts(&record.created_at))
        .bind(ts(&record.updated_at))
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?
        .ok_or_else(|| {
            StoreError::Conflict(format!("call type {:?} already exists", record.name))
        })?;
        call_type_from_row(&row)
    }

    async fn delete_call_type(&self, app: AppId, name: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM call_types WHERE app_id = ?1 AND name = ?2")
            .bind(app)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_call(
        &self,
        app: AppId,
        call: &Call,
        members: &[CallMember],
    ) -> StoreResult<(Call, bool)> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let existing = sqlx::query("SELECT * FROM calls WHERE app_id = ?1 AND cid = ?2")
            .bind(app)
            .bind(&call.cid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .map(|row| call_from_row(&row))
            .transpose()?;
        match existing {
            Some(existing) if existing.deleted_at.is_none() => {
                tx.commit().await.map_err(backend)?;
                return Ok((existing, false));
            }
            Some(_) => {
                for table in ["calls", "call_members"] {
                    sqlx::query(&format!(
                        "DELETE FROM {table} WHERE app_id = ?1 AND cid = ?2"
                    ))
                    .bind(app)
                    .bind(&call.cid)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
            }
            None => {}
        }
        sqlx::query(
            "INSERT INTO calls (app_id, cid, type, id, created_by, team, backstage, doc, member_count, version,
                 created_at, updated_at, starts_at, ended_at, deleted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, ?9, ?10, ?11, ?12, NULL)",
        )
        .bind(app)
        .bind(&call.cid)
        .bind(&call.kind)
        .bind(&call.id)
        .bind(&call.created_by)
        .bind(&call.team)
        .bind(call.backstage)
        .bind(to_json(&call.doc)?)
        .bind(ts(&call.created_at))
        .bind(ts(&call.updated_at))
        .bind(call.starts_at.as_ref().map(ts))
        .bind(call.ended_at.as_ref().map(ts))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        for member in members {
            insert_member(&mut tx, app, member).await?;
        }
        recount(&mut tx, app, &call.cid).await?;
        let row = sqlx::query("SELECT * FROM calls WHERE app_id = ?1 AND cid = ?2")
            .bind(app)
            .bind(&call.cid)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let stored = call_from_row(&row)?;
        tx.commit().await.map_err(backend)?;
        Ok((stored, true))
    }

    async fn call(&self, app: AppId, cid: &str) -> StoreResult<Option<Call>> {
        let row = sqlx::query(
            "SELECT * FROM calls WHERE app_id = ?1 AND cid = ?2 AND deleted_at IS NULL",
        )
        .bind(app)
        .bind(cid)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.map(|row| call_from_row(&row)).transpose()
    }

    async fn update_call(&self, app: AppId, call: &Call) -> StoreResult<Call> {
        let row = sqlx::query(
            "UPDATE calls SET team = ?1, backstage = ?2, doc = ?3, updated_at = ?4, starts_at = ?5,
                 ended_at = ?6, version = version + 1
             WHERE app_id = ?7 AND cid = ?8 AND version = ?9 AND deleted_at IS NULL RETURNING *",
        )
        .bind(&call.team)
        .bind(call.backstage)
        .bind(to_json(&call.doc)?)
        .bind(ts(&call.updated_at))
        .bind(call.starts_at.as_ref().map(ts))
        .bind(call.ended_at.as_ref().map(ts))
        .bind(app)
        .bind(&call.cid)
        .bind(call.version)
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?;
        match row {
            Some(row) => call_from_row(&row),
            None if self.call(app, &call.cid).await?.is_some() => Err(StoreError::Conflict(
                format!("call {} was changed concurrently", call.cid),
            )),
            None => Err(StoreError::NotFound),
        }
    }

    async fn delete_call(
        &self,
        app: AppId,
        cid: &str,
        hard: bool,
        now: Timestamp,
    ) -> StoreResult<Call> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row = if hard {
            sqlx::query("DELETE FROM call_members WHERE app_id = ?1 AND cid = ?2")
                .bind(app)
                .bind(cid)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("DELETE FROM calls WHERE app_id = ?1 AND cid = ?2 AND deleted_at IS NULL RETURNING *")
                .bind(app)
                .bind(cid)
                .fetch_optional(&mut *tx)
                .await
        } else {
            sqlx::query(
                "UPDATE calls SET deleted_at = ?1, updated_at = ?1, version = version + 1
                 WHERE app_id = ?2 AND cid = ?3 AND deleted_at IS NULL RETURNING *",
            )
            .bind(ts(&now))
            .bind(app)
            .bind(cid)
            .fetch_optional(&mut *tx)
            .await
        }
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let call = call_from_row(&row)?;
        tx.commit().await.map_err(backend)?;
        Ok(call)
    }

    async fn query_calls(&self, app: AppId, query: &ListQuery) -> StoreResult<Vec<Call>> {
        let sql = crate::call_query::render_call_query(D, app, query)
            .map_err(|e| StoreError::Query(e.to_string()))?;
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(call_from_row).collect()
    }

    async fn call_members(
        &self,
        app: AppId,
        cids: &[String],
        limit: i64,
    ) -> StoreResult<Vec<CallMember>> {
        if cids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM (SELECT m.*, ROW_NUMBER() OVER (PARTITION BY m.cid ORDER BY m.created_at, m.user_id) AS member_rank
                 FROM call_members m WHERE m.app_id = ?1 AND m.cid IN ({})) ranked
             WHERE member_rank <= ?2 ORDER BY cid, created_at, user_id",
            numbered(3, cids.len())
        );
        let mut query = sqlx::query(&sql).bind(app).bind(limit);
        for cid in cids {
            query = query.bind(cid);
        }
        let rows = query.fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter().map(call_member_from_row).collect()
    }

    async fn call_members_by_user(
        &self,
        app: AppId,
        cid: &str,
        user_ids: &[String],
    ) -> StoreResult<Vec<CallMember>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM call_members WHERE app_id = ?1 AND cid = ?2 AND user_id IN ({}) ORDER BY created_at, user_id",
            numbered(3, user_ids.len())
        );
        let mut query = sqlx::query(&sql).bind(app).bind(cid);
        for id in user_ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter().map(call_member_from_row).collect()
    }

    async fn upsert_call_members(
        &self,
        app: AppId,
        cid: &str,
        members: &[CallMember],
    ) -> StoreResult<Vec<(CallMember, bool)>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let mut out = Vec::with_capacity(members.len());
        for member in members {
            let existed = sqlx::query(
                "SELECT 1 FROM call_members WHERE app_id = ?1 AND cid = ?2 AND user_id = ?3",
            )
            .bind(app)
            .bind(cid)
            .bind(&member.user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .is_some();
            let stored = insert_member(&mut tx, app, member).await?;
            out.push((stored, !existed));
        }
        recount(&mut tx, app, cid).await?;
        tx.commit().await.map_err(backend)?;
        Ok(out)
    }

    async fn remove_call_members(
        &self,
        app: AppId,
        cid: &str,
        user_ids: &[String],
    ) -> StoreResult<Vec<CallMember>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let mut removed = Vec::new();
        for user_id in user_ids {
            let row = sqlx::query(
                "DELETE FROM call_members WHERE app_id = ?1 AND cid = ?2 AND user_id = ?3 RETURNING *",
            )
            .bind(app)
            .bind(cid)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(row) = row {
                removed.push(call_member_from_row(&row)?);
            }
        }
        recount(&mut tx, app, cid).await?;
        tx.commit().await.map_err(backend)?;
        Ok(removed)
    }

    async fn query_call_members(
        &self,
        app: AppId,
        cid: &str,
        query: &ListQuery,
    ) -> StoreResult<Vec<CallMember>> {
        let sql = crate::call_query::render_call_member_query(D, app, cid, query)
            .map_err(|e| StoreError::Query(e.to_string()))?;
        let rows = bind_all(sqlx::query(&sql.sql), &sql.binds)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(call_member_from_row).collect()
    }
}
