//! Stream's MongoDB-style filters and sorts: JSON -> typed AST checked against a field schema -> SQL with bound values.

mod parse;
mod sql;

pub use parse::{parse_filter, parse_sort, Filter, Op, QueryError, SortField};
pub use sql::{
    fts5_query, render_filter, render_filter_for, render_relevance, render_sort, render_sort_for,
    Bind, Dialect, FieldKind, FieldSpec, Rendered, Schema, SqlTarget,
};
