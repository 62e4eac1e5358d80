//! The SQL of QueryThreads, shared by the backends: thread parents the viewer takes part in, filtered and sorted.

use crate::model::{AppId, ListQuery};
use crate::schemas::{THREADS, THREAD_SORT};
use eddy_query::{
    render_filter_for, render_sort_for, Bind, Dialect, QueryError, Rendered, SortField,
};

/// Renders the whole statement; rows are `messages` rows of thread parents.
pub fn render_thread_query(
    dialect: Dialect,
    app: AppId,
    viewer: &str,
    query: &ListQuery,
) -> Result<Rendered, QueryError> {
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    let viewer_param = sql.bind(dialect, Bind::Text(viewer.to_owned()));
    let takes_part = match dialect {
        Dialect::Sqlite => format!(
            "EXISTS (SELECT 1 FROM json_each(m.thread_participants) p WHERE p.value = {viewer_param})"
        ),
        Dialect::Postgres => {
            format!("m.thread_participants @> jsonb_build_array({viewer_param}::text)")
        }
    };
    sql.sql = format!(
        "SELECT m.* FROM messages m WHERE m.app_id = {app_param} AND m.parent_id IS NULL AND m.reply_count > 0 \
         AND m.deleted_at IS NULL AND {takes_part} \
         AND EXISTS (SELECT 1 FROM members tm WHERE tm.app_id = m.app_id AND tm.cid = m.cid AND tm.user_id = {viewer_param}) AND "
    );
    render_filter_for(&query.filter, &THREADS, dialect, Some(viewer), &mut sql)?;
    sql.sql.push_str(" ORDER BY ");
    let default_sort = [
        SortField {
            field: "has_unread".into(),
            direction: -1,
        },
        SortField {
            field: "last_message_at".into(),
            direction: -1,
        },
    ];
    let sort: &[SortField] = if query.sort.is_empty() {
        &default_sort
    } else {
        &query.sort
    };
    render_sort_for(sort, &THREADS, THREAD_SORT, dialect, Some(viewer), &mut sql)?;
    let limit = sql.bind(dialect, Bind::Int(query.limit));
    let offset = sql.bind(dialect, Bind::Int(query.offset));
    sql.sql
        .push_str(&format!(", m.id LIMIT {limit} OFFSET {offset}"));
    Ok(sql)
}
