//! The SQL of QueryCalls and QueryCallMembers, shared by the backends: filter, sort and page.

use crate::model::{AppId, ListQuery};
use crate::schemas::{CALLS, CALL_MEMBERS, CALL_MEMBER_SORT, CALL_SORT};
use eddy_query::{render_filter, render_sort, Bind, Dialect, QueryError, Rendered, SortField};

fn sort_or(query: &ListQuery, field: &str, direction: i8) -> Vec<SortField> {
    if query.sort.is_empty() {
        vec![SortField {
            field: field.into(),
            direction,
        }]
    } else {
        query.sort.clone()
    }
}

fn page(dialect: Dialect, query: &ListQuery, tie: &str, sql: &mut Rendered) {
    let limit = sql.bind(dialect, Bind::Int(query.limit));
    let offset = sql.bind(dialect, Bind::Int(query.offset));
    sql.sql
        .push_str(&format!(", {tie} LIMIT {limit} OFFSET {offset}"));
}

/// Calls of the app that are not deleted, newest first unless sorted otherwise.
pub fn render_call_query(
    dialect: Dialect,
    app: AppId,
    query: &ListQuery,
) -> Result<Rendered, QueryError> {
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    sql.sql = format!(
        "SELECT c.* FROM calls c WHERE c.app_id = {app_param} AND c.deleted_at IS NULL AND "
    );
    render_filter(&query.filter, &CALLS, dialect, &mut sql)?;
    sql.sql.push_str(" ORDER BY ");
    render_sort(
        &sort_or(query, "created_at", -1),
        &CALLS,
        CALL_SORT,
        dialect,
        &mut sql,
    )?;
    page(dialect, query, "c.cid", &mut sql);
    Ok(sql)
}

/// Members of one call, oldest first unless sorted otherwise.
pub fn render_call_member_query(
    dialect: Dialect,
    app: AppId,
    cid: &str,
    query: &ListQuery,
) -> Result<Rendered, QueryError> {
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    let cid_param = sql.bind(dialect, Bind::Text(cid.to_owned()));
    sql.sql = format!(
        "SELECT m.* FROM call_members m WHERE m.app_id = {app_param} AND m.cid = {cid_param} AND "
    );
    render_filter(&query.filter, &CALL_MEMBERS, dialect, &mut sql)?;
    sql.sql.push_str(" ORDER BY ");
    render_sort(
        &sort_or(query, "created_at", 1),
        &CALL_MEMBERS,
        CALL_MEMBER_SORT,
        dialect,
        &mut sql,
    )?;
    page(dialect, query, "m.user_id", &mut sql);
    Ok(sql)
}
