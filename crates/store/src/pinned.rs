//! The statement behind `GetPinnedMessages`: a channel's pinned messages by pin time, shared by the backends.

use crate::encoding::ts;
use crate::model::{AppId, PinnedPage, Timestamp};
use eddy_query::{Bind, Dialect, Rendered};

/// The channel's messages whose document says `pinned: true`, not deleted, whose `pin_expires` is
/// unset or after `now`, within the page's `pinned_at` bounds, ordered by `pinned_at` (then id).
/// Every value is a bound parameter; times compare as the stored fixed-width UTC text.
pub fn pinned_messages_sql(
    dialect: Dialect,
    app: AppId,
    cid: &str,
    page: &PinnedPage,
    now: &Timestamp,
) -> Rendered {
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    let cid_param = sql.bind(dialect, Bind::Text(cid.to_owned()));
    let now_param = sql.bind(dialect, Bind::Text(ts(now)));
    let (pinned, pinned_at, expires) = match dialect {
        Dialect::Sqlite => (
            "json_extract(doc, '$.pinned') = 1",
            "json_extract(doc, '$.pinned_at')",
            "json_extract(doc, '$.pin_expires')",
        ),
        Dialect::Postgres => (
            "doc -> 'pinned' = 'true'::jsonb",
            "(doc ->> 'pinned_at') COLLATE \"C\"",
            "(doc ->> 'pin_expires') COLLATE \"C\"",
        ),
    };
    let mut conditions = format!(
        "app_id = {app_param} AND cid = {cid_param} AND deleted_at IS NULL AND {pinned} \
         AND {pinned_at} IS NOT NULL AND ({expires} IS NULL OR {expires} > {now_param})"
    );
    for (bound, strict, inclusive) in [
        (&page.pinned_after, ">", ">="),
        (&page.pinned_before, "<", "<="),
    ] {
        if let Some((time, or_equal)) = bound {
            let param = sql.bind(dialect, Bind::Text(ts(time)));
            let op = if *or_equal { inclusive } else { strict };
            conditions.push_str(&format!(" AND {pinned_at} {op} {param}"));
        }
    }
    let limit_param = sql.bind(dialect, Bind::Int(page.limit));
    let offset_param = sql.bind(dialect, Bind::Int(page.offset));
    let direction = if page.ascending { "ASC" } else { "DESC" };
    sql.sql = format!(
        "SELECT * FROM messages WHERE {conditions} \
         ORDER BY {pinned_at} {direction}, id {direction} LIMIT {limit_param} OFFSET {offset_param}"
    );
    sql
}
