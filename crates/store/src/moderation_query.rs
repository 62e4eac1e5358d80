//! The SQL of QueryBannedUsers and QueryMessageFlags, shared by the backends: filter, sort (newest first by default) and page.

use crate::encoding::ts;
use crate::model::{AppId, FlagTarget, ListQuery, Timestamp};
use crate::schemas::{BANS, BAN_SORT, FLAGS, FLAG_SORT};
use eddy_query::{render_filter, render_sort, Bind, Dialect, QueryError, Rendered, SortField};

/// The sort a list query asked for, or `created_at` descending.
fn sort_or_newest(query: &ListQuery) -> Vec<SortField> {
    if query.sort.is_empty() {
        vec![SortField {
            field: "created_at".into(),
            direction: -1,
        }]
    } else {
        query.sort.clone()
    }
}

/// Bans of the app matching the query; with `active_at`, those expired by then are left out.
pub fn render_ban_query(
    dialect: Dialect,
    app: AppId,
    query: &ListQuery,
    active_at: Option<Timestamp>,
) -> Result<Rendered, QueryError> {
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    sql.sql = format!("SELECT b.* FROM bans b WHERE b.app_id = {app_param} AND ");
    if let Some(at) = active_at {
        let at = sql.bind(dialect, Bind::Text(ts(&at)));
        sql.sql.push_str(&format!(
            "(b.expires_at IS NULL OR b.expires_at > {at}) AND "
        ));
    }
    render_filter(&query.filter, &BANS, dialect, &mut sql)?;
    sql.sql.push_str(" ORDER BY ");
    render_sort(&sort_or_newest(query), &BANS, BAN_SORT, dialect, &mut sql)?;
    let limit = sql.bind(dialect, Bind::Int(query.limit));
    let offset = sql.bind(dialect, Bind::Int(query.offset));
    sql.sql
        .push_str(&format!(", b.user_id, b.cid LIMIT {limit} OFFSET {offset}"));
    Ok(sql)
}

/// Flags of one target kind matching the query.
pub fn render_flag_query(
    dialect: Dialect,
    app: AppId,
    target: FlagTarget,
    query: &ListQuery,
) -> Result<Rendered, QueryError> {
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    let kind_param = sql.bind(dialect, Bind::Text(target.as_str().to_owned()));
    sql.sql = format!(
        "SELECT f.* FROM flags f WHERE f.app_id = {app_param} AND f.target_kind = {kind_param} AND "
    );
    render_filter(&query.filter, &FLAGS, dialect, &mut sql)?;
    sql.sql.push_str(" ORDER BY ");
    render_sort(&sort_or_newest(query), &FLAGS, FLAG_SORT, dialect, &mut sql)?;
    let limit = sql.bind(dialect, Bind::Int(query.limit));
    let offset = sql.bind(dialect, Bind::Int(query.offset));
    sql.sql.push_str(&format!(
        ", f.target_id, f.reporter_id LIMIT {limit} OFFSET {offset}"
    ));
    Ok(sql)
}
