//! The order of message search results, shared by the backends: `relevance` to the `$q` text, then any sort field.

use crate::model::ListQuery;
use crate::schemas::{MESSAGES, MESSAGE_SORT};
use eddy_query::{render_relevance, render_sort, Dialect, QueryError, Rendered, SortField};

/// The sort name of full-text relevance.
pub const RELEVANCE: &str = "relevance";

/// Appends the `ORDER BY` items (without the keywords) of a search. No sort means by id. Relevance is equal for every row when the filter has no `$q`.
pub fn render_search_order(
    messages: &ListQuery,
    dialect: Dialect,
    out: &mut Rendered,
) -> Result<(), QueryError> {
    // Stream's default puts relevance first; eddy orders by id unless relevance is asked for:
    // SQLite's bm25() recomputes the query's statistics for every row it ranks, which takes
    // seconds for common words on a million messages.
    let default_sort = [SortField {
        field: "id".into(),
        direction: 1,
    }];
    let sort: &[SortField] = if messages.sort.is_empty() {
        &default_sort
    } else {
        &messages.sort
    };
    let mut first = true;
    for item in sort {
        let separator = if first { "" } else { ", " };
        let mark = out.sql.len();
        out.sql.push_str(separator);
        if item.field == RELEVANCE {
            if render_relevance(&messages.filter, &MESSAGES, dialect, out) {
                out.sql
                    .push_str(if item.direction < 0 { " DESC" } else { " ASC" });
            } else {
                out.sql.truncate(mark);
                continue;
            }
        } else {
            render_sort(
                std::slice::from_ref(item),
                &MESSAGES,
                MESSAGE_SORT,
                dialect,
                out,
            )?;
        }
        first = false;
    }
    if first {
        out.sql.push_str("m.created_at DESC");
    }
    Ok(())
}
