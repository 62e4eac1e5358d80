//! One statement for the first page of many channels (their latest messages, their first members), shared by the backends.

use crate::encoding::ts;
use crate::model::{AppId, Timestamp};
use eddy_query::{Bind, Dialect, Rendered};

/// Each channel's latest `limit` channel messages (thread-only replies and messages at or before the
/// channel's `visible_after` left out), newest first within each channel: one `UNION ALL` of
/// per-channel `LIMIT`ed subqueries, so every part walks the `(app_id, cid, created_at)` index.
pub fn latest_messages_sql(
    dialect: Dialect,
    app: AppId,
    channels: &[(String, Option<Timestamp>)],
    limit: i64,
) -> Rendered {
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    let limit_param = sql.bind(dialect, Bind::Int(limit));
    let in_channel = match dialect {
        Dialect::Sqlite => "show_in_channel = 1",
        Dialect::Postgres => "show_in_channel",
    };
    let parts: Vec<String> = channels
        .iter()
        .enumerate()
        .map(|(index, (cid, visible_after))| {
            let cid_param = sql.bind(dialect, Bind::Text(cid.clone()));
            let after = match visible_after {
                Some(after) => {
                    let after_param = sql.bind(dialect, Bind::Text(ts(after)));
                    format!(" AND created_at > {after_param}")
                }
                None => String::new(),
            };
            format!(
                "SELECT * FROM (SELECT * FROM messages WHERE app_id = {app_param} AND cid = {cid_param} \
                 AND (parent_id IS NULL OR {in_channel}){after} \
                 ORDER BY created_at DESC, id DESC LIMIT {limit_param}) AS page{index}"
            )
        })
        .collect();
    sql.sql = parts.join(" UNION ALL ");
    sql
}

/// Each channel's first `limit` members by join time, in one statement.
pub fn first_members_sql(dialect: Dialect, app: AppId, cids: &[String], limit: i64) -> Rendered {
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    let limit_param = sql.bind(dialect, Bind::Int(limit));
    let parts: Vec<String> = cids
        .iter()
        .enumerate()
        .map(|(index, cid)| {
            let cid_param = sql.bind(dialect, Bind::Text(cid.clone()));
            format!(
                "SELECT * FROM (SELECT * FROM members WHERE app_id = {app_param} AND cid = {cid_param} \
                 ORDER BY created_at, user_id LIMIT {limit_param}) AS page{index}"
            )
        })
        .collect();
    sql.sql = parts.join(" UNION ALL ");
    sql
}
