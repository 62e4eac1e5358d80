//! Rendering the filter AST to SQL for SQLite and PostgreSQL: every value goes out as a bound parameter.

use crate::parse::{Filter, Op, QueryError, SortField};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// A JSON array of strings (teams, members): `$in`, `$contains` and exact-set `$eq`.
    TextList,
    Number,
    Bool,
    /// RFC 3339 text stored in a fixed UTC format, so text order is time order.
    Time,
    /// A custom field: any JSON scalar.
    Any,
    /// Text limited to these values (`invite`: pending, accepted, rejected).
    Choice(&'static [&'static str]),
}

/// Where a field lives, independent of the SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlTarget {
    /// A column of the queried row (`<alias>.<column>`), the same on every backend.
    Column(&'static str),
    /// A key of the row's JSON document, typed by the field's kind.
    DocKey(&'static str),
    /// An expression that differs between dialects (used for sorts such as `last_updated`).
    Expr {
        sqlite: &'static str,
        postgres: &'static str,
    },
    /// An expression about the querying user (their membership flags); `{viewer}` is their bound id.
    Viewer {
        sqlite: &'static str,
        postgres: &'static str,
    },
    /// Full-text search: `$q` renders each dialect's template with `{query}` as the bound search
    /// expression (SQLite FTS5 query / PostgreSQL `plainto_tsquery` text); other operators use `text`.
    FullText {
        sqlite: &'static str,
        postgres: &'static str,
        text: &'static str,
        /// The relevance of a row to `{query}`, higher is better (the `relevance` sort).
        rank_sqlite: &'static str,
        rank_postgres: &'static str,
    },
    /// A condition on related rows: `{condition}` in the template is replaced by the comparison
    /// rendered on the related row's `value` expression (`EXISTS (SELECT 1 FROM ... AND {condition})`).
    Related {
        sqlite: &'static str,
        postgres: &'static str,
        value_sqlite: &'static str,
        value_postgres: &'static str,
    },
    /// Set membership: `key IN (subquery)` where the subquery selects rows holding any of `{values}`;
    /// `$eq` with an array means exactly that set, checked against `count_column`.
    Membership {
        key: &'static str,
        subquery: &'static str,
        count_column: &'static str,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    pub ops: &'static [Op],
    pub target: SqlTarget,
}

/// The fields one query accepts over rows aliased `alias` with a JSON document column `document`;
/// with `custom_fields`, any other plain key is custom data in that document.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub alias: &'static str,
    pub document: &'static str,
    pub fields: &'static [FieldSpec],
    pub custom_fields: bool,
}

const CUSTOM_OPS: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::Gt,
    Op::Gte,
    Op::Lt,
    Op::Lte,
    Op::In,
    Op::Nin,
    Op::Exists,
    Op::Autocomplete,
    Op::Contains,
    Op::Q,
];

/// Custom keys may hold anything but characters that would need quoting inside a JSON path.
pub(crate) fn valid_custom_key(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('$')
        && !name.split('.').any(str::is_empty)
        && !name
            .chars()
            .any(|c| c == '"' || c == '\\' || c == '{' || c == '}' || c == ',' || c.is_control())
}

impl Schema {
    /// The spec of a field; custom keys get `name: ""` and kind `Any`.
    pub fn field(&self, name: &str) -> Option<FieldSpec> {
        if let Some(spec) = self.fields.iter().find(|spec| spec.name == name) {
            return Some(*spec);
        }
        (self.custom_fields && valid_custom_key(name)).then_some(FieldSpec {
            name: "",
            kind: FieldKind::Any,
            ops: CUSTOM_OPS,
            target: SqlTarget::DocKey(""),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// JSON text compared as `jsonb` (PostgreSQL document values).
    Json(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// SQL text plus its parameters in order. Placeholders are numbered (`?n` for SQLite, `$n` for
/// PostgreSQL); callers bind their own parameters through [`Rendered::bind`] too, so numbers stay right.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rendered {
    pub sql: String,
    pub binds: Vec<Bind>,
    /// The placeholder of the queried app's id, when the caller bound it with [`Rendered::bind_app`]:
    /// templates' `{app}` then name it, so their subqueries need not correlate with the outer row.
    pub app: Option<String>,
}

impl Rendered {
    /// Binds the queried app's id, returns its placeholder and remembers it for `{app}`.
    pub fn bind_app(&mut self, dialect: Dialect, app: i64) -> String {
        let placeholder = self.bind(dialect, Bind::Int(app));
        self.app = Some(placeholder.clone());
        placeholder
    }

    /// Adds a parameter and returns its placeholder.
    pub fn bind(&mut self, dialect: Dialect, value: Bind) -> String {
        self.binds.push(value);
        // Numbered in both dialects, so an expression may repeat its placeholder.
        match dialect {
            Dialect::Sqlite => format!("?{}", self.binds.len()),
            Dialect::Postgres => format!("${}", self.binds.len()),
        }
    }
}

fn scalar_bind(value: &Value) -> Bind {
    match value {
        Value::String(text) => Bind::Text(text.clone()),
        Value::Bool(flag) => Bind::Bool(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(int) => Bind::Int(int),
            None => Bind::Float(number.as_f64().unwrap_or_default()),
        },
        Value::Null => Bind::Null,
        other => Bind::Text(other.to_string()),
    }
}

/// SQLite JSON path for a key; dotted keys address nested objects (`a.b` → `$."a"."b"`).
fn sqlite_path(key: &str) -> String {
    key.split('.')
        .fold(String::from("$"), |path, part| format!("{path}.\"{part}\""))
}

/// PostgreSQL text-array path for `#>` (`a.b` → `{"a","b"}`).
fn postgres_path(key: &str) -> String {
    let parts: Vec<String> = key.split('.').map(|part| format!("\"{part}\"")).collect();
    format!("{{{}}}", parts.join(","))
}

/// The words of a search string: runs of letters and digits, lower-cased.
fn search_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(32)
        .map(str::to_lowercase)
        .collect()
}

/// The SQLite FTS5 query for `$q` text: every word quoted (so user text is never FTS5 syntax) and
/// all of them required; `None` when the text has no words.
pub fn fts5_query(text: &str) -> Option<String> {
    let words = search_words(text);
    if words.is_empty() {
        return None;
    }
    Some(
        words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn escape_like(needle: &str) -> String {
    needle
        .chars()
        .map(|c| {
            if matches!(c, '%' | '_' | '\\') {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

struct Writer<'a> {
    out: &'a mut Rendered,
    schema: &'a Schema,
    dialect: Dialect,
    viewer: Option<&'a str>,
}

impl Writer<'_> {
    fn bind(&mut self, value: Bind) -> String {
        self.out.bind(self.dialect, value)
    }

    /// A per-dialect expression, with the viewer bound where it has a `{viewer}` slot.
    fn expression(
        &mut self,
        sqlite: &str,
        postgres: &str,
        field: &str,
    ) -> Result<String, QueryError> {
        let template = match self.dialect {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        };
        if !template.contains("{viewer}") {
            return Ok(template.to_owned());
        }
        let viewer = self
            .viewer
            .ok_or_else(|| QueryError::NeedsUser(field.to_owned()))?;
        let placeholder = self.bind(Bind::Text(viewer.to_owned()));
        Ok(template.replace("{viewer}", &placeholder))
    }

    fn column(&self, column: &str) -> String {
        format!("{}.{column}", self.schema.alias)
    }

    /// The JSON value at `key` of the document (SQL NULL when missing or JSON null).
    fn doc_value(&mut self, key: &str) -> String {
        let document = self.column(self.schema.document);
        match self.dialect {
            Dialect::Sqlite => {
                let path = self.bind(Bind::Text(sqlite_path(key)));
                format!("json_extract({document}, {path})")
            }
            Dialect::Postgres => {
                let path = self.bind(Bind::Text(postgres_path(key)));
                format!("NULLIF({document} #> {path}::text[], 'null'::jsonb)")
            }
        }
    }

    /// The text at `key` of the document, for pattern matches.
    fn doc_text(&mut self, key: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => self.doc_value(key),
            Dialect::Postgres => {
                let document = self.column(self.schema.document);
                let path = self.bind(Bind::Text(postgres_path(key)));
                format!("({document} #>> {path}::text[])")
            }
        }
    }

    /// A filter value as the document expression compares with it.
    fn doc_operand(&mut self, value: &Value) -> String {
        match self.dialect {
            Dialect::Sqlite => self.bind(scalar_bind(value)),
            Dialect::Postgres => {
                let placeholder = self.bind(Bind::Json(value.to_string()));
                format!("{placeholder}::jsonb")
            }
        }
    }

    /// Elements of the JSON array at `key`, as an aliased row source with one text column `element`;
    /// anything but an array has no elements.
    fn doc_elements(&mut self, key: &str) -> String {
        let document = self.column(self.schema.document);
        match self.dialect {
            Dialect::Sqlite => {
                let path = self.bind(Bind::Text(sqlite_path(key)));
                format!(
                    "(SELECT value AS element FROM json_each(CASE WHEN json_type({document}, {path}) = 'array' THEN json_extract({document}, {path}) ELSE '[]' END)) AS array_elements"
                )
            }
            Dialect::Postgres => {
                let path = self.bind(Bind::Text(postgres_path(key)));
                let array = format!("({document} #> {path}::text[])");
                format!(
                    "(SELECT element FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof({array}) = 'array' THEN {array} ELSE '[]'::jsonb END) AS elements(element)) AS array_elements"
                )
            }
        }
    }

    fn list(&mut self, values: &[Value], document: bool) -> String {
        if values.is_empty() {
            return "NULL".into();
        }
        values
            .iter()
            .map(|value| {
                if document {
                    self.doc_operand(value)
                } else {
                    self.bind(scalar_bind(value))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn filter(&mut self, filter: &Filter) -> Result<String, QueryError> {
        Ok(match filter {
            Filter::All => "1 = 1".into(),
            Filter::And(parts) => self.group(parts, " AND ")?,
            Filter::Or(parts) => self.group(parts, " OR ")?,
            // `IS NOT TRUE`, not `NOT`: a comparison with a missing value is NULL and must count as false.
            Filter::Nor(parts) => format!("{} IS NOT TRUE", self.group(parts, " OR ")?),
            Filter::Compare { field, op, value } => {
                let spec = self
                    .schema
                    .field(field)
                    .ok_or_else(|| QueryError::UnknownField {
                        field: field.clone(),
                    })?;
                self.compare(field, spec, *op, value)?
            }
        })
    }

    fn group(&mut self, parts: &[Filter], joiner: &str) -> Result<String, QueryError> {
        let rendered = parts
            .iter()
            .map(|part| self.filter(part))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(format!("({})", rendered.join(joiner)))
    }

    /// Word-prefix match: the needle starts the text or follows a space or punctuation that
    /// separates words (`-`, `_`, `.`, `@`, `/`), case-insensitively.
    fn like(&mut self, expression: &str, needle: &str) -> String {
        let escaped = escape_like(needle);
        let operator = match self.dialect {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        };
        let patterns: Vec<String> = std::iter::once(format!("{escaped}%"))
            .chain(
                [" ", "-", "\\_", ".", "@", "/"]
                    .iter()
                    .map(|separator| format!("%{separator}{escaped}%")),
            )
            .collect();
        let tests: Vec<String> = patterns
            .into_iter()
            .map(|pattern| {
                let placeholder = self.bind(Bind::Text(pattern));
                format!("{expression} {operator} {placeholder} ESCAPE '\\'")
            })
            .collect();
        format!("({})", tests.join(" OR "))
    }

    /// A full-text template with the search words bound as `{query}`; `None` when there are no words.
    fn full_text(&mut self, sqlite: &str, postgres: &str, value: &Value) -> Option<String> {
        let text = value.as_str().unwrap_or_default();
        let (template, query) = match self.dialect {
            Dialect::Sqlite => (sqlite, fts5_query(text)?),
            Dialect::Postgres => {
                let words = search_words(text);
                if words.is_empty() {
                    return None;
                }
                (postgres, words.join(" "))
            }
        };
        let placeholder = self.bind(Bind::Text(query));
        Some(template.replace("{query}", &placeholder))
    }

    /// `$q` outside a full-text index: every word of the query starts a word of the text.
    fn every_word(&mut self, expression: &str, query: &str) -> String {
        let words = search_words(query);
        if words.is_empty() {
            return "1 = 0".into();
        }
        let parts: Vec<String> = words
            .iter()
            .map(|word| self.like(expression, word))
            .collect();
        format!("({})", parts.join(" AND "))
    }

    fn compare(
        &mut self,
        field: &str,
        spec: FieldSpec,
        op: Op,
        value: &Value,
    ) -> Result<String, QueryError> {
        let many = |value: &Value| -> Vec<Value> {
            match value {
                Value::Array(items) => items.clone(),
                single => vec![single.clone()],
            }
        };
        let key = if spec.name.is_empty() { field } else { "" };
        // Empty lists are decided before anything is bound (PostgreSQL refuses unused parameters).
        if value.as_array().is_some_and(Vec::is_empty) {
            match op {
                Op::In => return Ok("1 = 0".into()),
                Op::Nin => return Ok("1 = 1".into()),
                _ => {}
            }
        }
        Ok(match spec.target {
            SqlTarget::Related {
                sqlite,
                postgres,
                value_sqlite,
                value_postgres,
            } => {
                let inner = FieldSpec {
                    target: SqlTarget::Expr {
                        sqlite: value_sqlite,
                        postgres: value_postgres,
                    },
                    ..spec
                };
                let condition = self.compare(field, inner, op, value)?;
                let template = self.expression(sqlite, postgres, field)?;
                template.replace("{condition}", &condition)
            }
            SqlTarget::Membership {
                key: row_key,
                subquery,
                count_column,
            } => {
                let mut values = many(value);
                let exact = op == Op::Eq && value.is_array();
                if exact {
                    values.sort_by_key(|v| v.to_string());
                    values.dedup();
                }
                let list = self.list(&values, false);
                // Without a bound app id the subquery correlates with the outer row's app: still
                // right, but then the database may re-run it for every row.
                let app = self
                    .out
                    .app
                    .clone()
                    .unwrap_or_else(|| format!("{}.app_id", self.schema.alias));
                let inner = subquery.replace("{values}", &list).replace("{app}", &app);
                let condition = if exact {
                    let size = values.len() as i64;
                    let first = self.bind(Bind::Int(size));
                    let second = self.bind(Bind::Int(size));
                    format!("({row_key} IN ({inner} GROUP BY 1 HAVING COUNT(*) = {first}) AND {count_column} = {second})")
                } else {
                    format!("{row_key} IN ({inner})")
                };
                match op {
                    Op::Nin | Op::Ne => format!("NOT ({condition})"),
                    _ => format!("({condition})"),
                }
            }
            SqlTarget::FullText {
                sqlite,
                postgres,
                text,
                ..
            } => {
                if op != Op::Q {
                    let plain = FieldSpec {
                        target: SqlTarget::DocKey(text),
                        ..spec
                    };
                    return self.compare(field, plain, op, value);
                }
                match self.full_text(sqlite, postgres, value) {
                    Some(condition) => condition,
                    None => "1 = 0".into(),
                }
            }
            SqlTarget::DocKey(path) if spec.kind == FieldKind::TextList || op == Op::Contains => {
                let path = if path.is_empty() { key } else { path };
                if value.is_null() && matches!(op, Op::Eq | Op::Ne) {
                    let expression = self.doc_value(path);
                    let test = if op == Op::Ne {
                        "IS NOT NULL"
                    } else {
                        "IS NULL"
                    };
                    return Ok(format!("{expression} {test}"));
                }
                let mut values = many(value);
                if op == Op::Eq && value.is_array() {
                    // The same set: nothing stored outside the given values, and every given value stored.
                    // A missing array is the empty set.
                    values.sort_by_key(|v| v.to_string());
                    values.dedup();
                    if values.is_empty() {
                        let elements = self.doc_elements(path);
                        return Ok(format!("NOT EXISTS (SELECT 1 FROM {elements})"));
                    }
                    let outside = self.doc_elements(path);
                    let outside_list = self.list(&values, false);
                    let inside = self.doc_elements(path);
                    let inside_list = self.list(&values, false);
                    let count = self.bind(Bind::Int(values.len() as i64));
                    return Ok(format!(
                        "(NOT EXISTS (SELECT 1 FROM {outside} WHERE element NOT IN ({outside_list})) AND (SELECT COUNT(DISTINCT element) FROM {inside} WHERE element IN ({inside_list})) = {count})"
                    ));
                }
                let elements = self.doc_elements(path);
                let list = self.list(&values, false);
                let exists = format!("EXISTS (SELECT 1 FROM {elements} WHERE element IN ({list}))");
                match op {
                    Op::Nin | Op::Ne => format!("NOT {exists}"),
                    _ => exists,
                }
            }
            SqlTarget::DocKey(path) => {
                let path = if path.is_empty() { key } else { path };
                match op {
                    Op::Autocomplete => {
                        let text = self.doc_text(path);
                        self.like(&text, value.as_str().unwrap_or_default())
                    }
                    // No words match nothing, decided before the path is bound (unused
                    // parameters are refused by PostgreSQL).
                    Op::Q if search_words(value.as_str().unwrap_or_default()).is_empty() => {
                        "1 = 0".into()
                    }
                    Op::Q => {
                        let text = self.doc_text(path);
                        self.every_word(&text, value.as_str().unwrap_or_default())
                    }
                    Op::Exists => {
                        let expression = self.doc_value(path);
                        let test = if value.as_bool() == Some(false) {
                            "IS NULL"
                        } else {
                            "IS NOT NULL"
                        };
                        format!("{expression} {test}")
                    }
                    _ => {
                        let mut expression = self.doc_value(path);
                        if spec.kind == FieldKind::Bool {
                            // A flag that was never set reads as false.
                            expression = match self.dialect {
                                Dialect::Sqlite => format!("COALESCE({expression}, 0)"),
                                Dialect::Postgres => {
                                    format!("COALESCE({expression}, 'false'::jsonb)")
                                }
                            };
                        }
                        self.ordered(&expression, op, value, true)
                    }
                }
            }
            SqlTarget::Column(_) | SqlTarget::Expr { .. } | SqlTarget::Viewer { .. } => {
                let expression = match spec.target {
                    SqlTarget::Column(column) => self.column(column),
                    SqlTarget::Expr { sqlite, postgres }
                    | SqlTarget::Viewer { sqlite, postgres } => {
                        self.expression(sqlite, postgres, field)?
                    }
                    _ => String::new(),
                };
                match op {
                    Op::Autocomplete => self.like(&expression, value.as_str().unwrap_or_default()),
                    Op::Q => self.every_word(&expression, value.as_str().unwrap_or_default()),
                    Op::Exists => {
                        let test = if value.as_bool() == Some(false) {
                            "IS NULL"
                        } else {
                            "IS NOT NULL"
                        };
                        format!("{expression} {test}")
                    }
                    _ => self.ordered(&expression, op, value, false),
                }
            }
        })
    }

    /// Equality, order and list operators on one expression.
    fn ordered(&mut self, expression: &str, op: Op, value: &Value, document: bool) -> String {
        if value.is_null() {
            match op {
                Op::Eq => return format!("{expression} IS NULL"),
                Op::Ne => return format!("{expression} IS NOT NULL"),
                _ => {}
            }
        }
        let operand = |writer: &mut Self| {
            if document {
                writer.doc_operand(value)
            } else {
                writer.bind(scalar_bind(value))
            }
        };
        match op {
            Op::Eq => format!("{expression} = {}", operand(self)),
            Op::Ne => format!(
                "({expression} IS NULL OR {expression} <> {})",
                operand(self)
            ),
            Op::Gt => format!("{expression} > {}", operand(self)),
            Op::Gte => format!("{expression} >= {}", operand(self)),
            Op::Lt => format!("{expression} < {}", operand(self)),
            Op::Lte => format!("{expression} <= {}", operand(self)),
            Op::In => format!(
                "{expression} IN ({})",
                self.list(
                    value.as_array().map(Vec::as_slice).unwrap_or_default(),
                    document
                )
            ),
            Op::Nin => format!(
                "({expression} IS NULL OR {expression} NOT IN ({}))",
                self.list(
                    value.as_array().map(Vec::as_slice).unwrap_or_default(),
                    document
                )
            ),
            Op::Exists | Op::Autocomplete | Op::Contains | Op::Q => "1 = 0".into(),
        }
    }
}

/// Appends the filter's condition to `out` (text and binds).
pub fn render_filter(
    filter: &Filter,
    schema: &Schema,
    dialect: Dialect,
    out: &mut Rendered,
) -> Result<(), QueryError> {
    render_filter_for(filter, schema, dialect, None, out)
}

/// Like [`render_filter`], for a querying user that user-relative fields (joined, pinned...) speak of.
pub fn render_filter_for(
    filter: &Filter,
    schema: &Schema,
    dialect: Dialect,
    viewer: Option<&str>,
    out: &mut Rendered,
) -> Result<(), QueryError> {
    let mut writer = Writer {
        out,
        schema,
        dialect,
        viewer,
    };
    let condition = writer.filter(filter)?;
    writer.out.sql.push_str(&condition);
    Ok(())
}

/// Appends the relevance of each row to the filter's first full-text `$q` (found among its `AND`ed
/// conditions) as an expression where higher is better; returns false, appending nothing, when the
/// filter has no such condition (then every row is equally relevant).
pub fn render_relevance(
    filter: &Filter,
    schema: &Schema,
    dialect: Dialect,
    out: &mut Rendered,
) -> bool {
    fn first_search<'f>(filter: &'f Filter, schema: &Schema) -> Option<(FieldSpec, &'f Value)> {
        match filter {
            Filter::And(parts) => parts.iter().find_map(|part| first_search(part, schema)),
            Filter::Compare {
                field,
                op: Op::Q,
                value,
            } => schema
                .field(field)
                .filter(|spec| matches!(spec.target, SqlTarget::FullText { .. }))
                .map(|spec| (spec, value)),
            _ => None,
        }
    }
    let Some((spec, value)) = first_search(filter, schema) else {
        return false;
    };
    let SqlTarget::FullText {
        rank_sqlite,
        rank_postgres,
        ..
    } = spec.target
    else {
        return false;
    };
    let mut writer = Writer {
        out,
        schema,
        dialect,
        viewer: None,
    };
    match writer.full_text(rank_sqlite, rank_postgres, value) {
        Some(rank) => {
            writer.out.sql.push_str(&rank);
            true
        }
        None => false,
    }
}

/// Appends `ORDER BY` items (without the keywords) for `sort` to `out`: named sort fields through
/// `columns`, other names as custom keys of the schema's document. NULLs sort last.
pub fn render_sort(
    sort: &[SortField],
    schema: &Schema,
    columns: &[(&str, SqlTarget)],
    dialect: Dialect,
    out: &mut Rendered,
) -> Result<(), QueryError> {
    render_sort_for(sort, schema, columns, dialect, None, out)
}

/// Like [`render_sort`], for a querying user (sorts such as `pinned_at`, `unread_count`).
pub fn render_sort_for(
    sort: &[SortField],
    schema: &Schema,
    columns: &[(&str, SqlTarget)],
    dialect: Dialect,
    viewer: Option<&str>,
    out: &mut Rendered,
) -> Result<(), QueryError> {
    let mut items = Vec::new();
    for item in sort {
        let target = match columns.iter().find(|(name, _)| *name == item.field) {
            Some((_, target)) => *target,
            None if schema.custom_fields && valid_custom_key(&item.field) => SqlTarget::DocKey(""),
            None => return Err(QueryError::UnknownSortField(item.field.clone())),
        };
        let mut writer = Writer {
            out: &mut *out,
            schema,
            dialect,
            viewer,
        };
        let expression = match target {
            SqlTarget::Column(column) => Ok(writer.column(column)),
            SqlTarget::Expr { sqlite, postgres } | SqlTarget::Viewer { sqlite, postgres } => {
                writer.expression(sqlite, postgres, &item.field)
            }
            SqlTarget::DocKey(path) => {
                Ok(writer.doc_value(if path.is_empty() { &item.field } else { path }))
            }
            SqlTarget::FullText { text, .. } => Ok(writer.doc_value(text)),
            SqlTarget::Membership { .. } | SqlTarget::Related { .. } => {
                Err(QueryError::UnknownSortField(item.field.clone()))
            }
        }?;
        let direction = if item.direction < 0 { "DESC" } else { "ASC" };
        // Both dialects spell it the same; an index on the value can serve it.
        items.push(format!("{expression} {direction} NULLS LAST"));
    }
    out.sql.push_str(&items.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_filter, parse_sort};
    use serde_json::json;

    const EQ_IN: &[Op] = &[Op::Eq, Op::In, Op::Ne, Op::Nin];
    const SCHEMA: Schema = Schema {
        alias: "c",
        document: "doc",
        fields: &[
            FieldSpec {
                name: "type",
                kind: FieldKind::Text,
                ops: EQ_IN,
                target: SqlTarget::Column("type"),
            },
            FieldSpec {
                name: "members",
                kind: FieldKind::TextList,
                ops: &[Op::In, Op::Eq],
                target: SqlTarget::Membership {
                    key: "c.cid",
                    subquery: "SELECT m.cid FROM members m WHERE m.user_id IN ({values})",
                    count_column: "c.member_count",
                },
            },
            FieldSpec {
                name: "frozen",
                kind: FieldKind::Bool,
                ops: &[Op::Eq],
                target: SqlTarget::Column("frozen"),
            },
            FieldSpec {
                name: "name",
                kind: FieldKind::Text,
                ops: &[Op::Eq, Op::Autocomplete],
                target: SqlTarget::DocKey("name"),
            },
            FieldSpec {
                name: "tags",
                kind: FieldKind::TextList,
                ops: &[Op::In, Op::Eq, Op::Contains],
                target: SqlTarget::DocKey("tags"),
            },
        ],
        custom_fields: true,
    };

    /// Renders a filter for both dialects: `(sqlite sql, postgres sql, binds)` (binds are the same).
    fn both(filter: serde_json::Value) -> Result<(String, String, Vec<Bind>), QueryError> {
        let parsed = parse_filter(&filter, &SCHEMA)?;
        let mut sqlite = Rendered::default();
        render_filter(&parsed, &SCHEMA, Dialect::Sqlite, &mut sqlite)?;
        let mut postgres = Rendered::default();
        render_filter(&parsed, &SCHEMA, Dialect::Postgres, &mut postgres)?;
        let binds = match (sqlite.binds.len() == postgres.binds.len(), &postgres.binds) {
            (true, _) => sqlite.binds,
            (false, other) => other.clone(),
        };
        Ok((sqlite.sql, postgres.sql, binds))
    }

    fn check(filter: serde_json::Value, expected_sqlite: &str, expected_postgres: &str) {
        let (sqlite, postgres, _) =
            both(filter.clone()).unwrap_or_else(|e| panic!("{filter}: {e}"));
        assert_eq!(sqlite, expected_sqlite, "sqlite for {filter}");
        assert_eq!(postgres, expected_postgres, "postgres for {filter}");
    }

    #[test]
    fn columns_and_implicit_equality() {
        check(json!({"type": "messaging"}), "c.type = ?1", "c.type = $1");
        check(
            json!({"type": {"$in": ["a", "b"]}}),
            "c.type IN (?1, ?2)",
            "c.type IN ($1, $2)",
        );
        check(
            json!({"type": {"$ne": "a"}}),
            "(c.type IS NULL OR c.type <> ?1)",
            "(c.type IS NULL OR c.type <> $1)",
        );
        check(json!({"frozen": true}), "c.frozen = ?1", "c.frozen = $1");
    }

    #[test]
    fn custom_fields_bind_their_path_and_value() {
        check(
            json!({"color": "green"}),
            "json_extract(c.doc, ?1) = ?2",
            "NULLIF(c.doc #> $1::text[], 'null'::jsonb) = $2::jsonb",
        );
        let (_, _, binds) = both(json!({"a.b": {"$gt": 3}})).unwrap();
        assert_eq!(
            binds,
            vec![Bind::Text("$.\"a\".\"b\"".into()), Bind::Int(3)]
        );
        let parsed = parse_filter(&json!({"a.b": {"$gt": 3}}), &SCHEMA).unwrap();
        let mut postgres = Rendered::default();
        render_filter(&parsed, &SCHEMA, Dialect::Postgres, &mut postgres).unwrap();
        assert_eq!(
            postgres.binds,
            vec![Bind::Text("{\"a\",\"b\"}".into()), Bind::Json("3".into())]
        );
        check(
            json!({"color": {"$exists": false}}),
            "json_extract(c.doc, ?1) IS NULL",
            "NULLIF(c.doc #> $1::text[], 'null'::jsonb) IS NULL",
        );
        check(
            json!({"color": null}),
            "json_extract(c.doc, ?1) IS NULL",
            "NULLIF(c.doc #> $1::text[], 'null'::jsonb) IS NULL",
        );
    }

    #[test]
    fn autocomplete_matches_word_prefixes() {
        let likes = |expression: &str, operator: &str, mark: char| {
            (2..=8)
                .map(|n| format!("{expression} {operator} {mark}{n} ESCAPE '\\'"))
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        check(
            json!({"name": {"$autocomplete": "jo"}}),
            &format!("({})", likes("json_extract(c.doc, ?1)", "LIKE", '?')),
            &format!("({})", likes("(c.doc #>> $1::text[])", "ILIKE", '$')),
        );
        let (_, _, binds) = both(json!({"name": {"$autocomplete": "j_o"}})).unwrap();
        assert_eq!(
            &binds[1..],
            &[
                "j\\_o%",
                "% j\\_o%",
                "%-j\\_o%",
                "%\\_j\\_o%",
                "%.j\\_o%",
                "%@j\\_o%",
                "%/j\\_o%"
            ]
            .map(|pattern| Bind::Text(pattern.into()))[..],
            "word starts after spaces and punctuation; LIKE wildcards in the needle are escaped"
        );
    }

    #[test]
    fn member_sets_match_any_or_exactly() {
        check(
            json!({"members": {"$in": ["a"]}}),
            "(c.cid IN (SELECT m.cid FROM members m WHERE m.user_id IN (?1)))",
            "(c.cid IN (SELECT m.cid FROM members m WHERE m.user_id IN ($1)))",
        );
        check(
            json!({"members": {"$eq": ["b", "a", "a"]}}),
            "((c.cid IN (SELECT m.cid FROM members m WHERE m.user_id IN (?1, ?2) GROUP BY 1 HAVING COUNT(*) = ?3) AND c.member_count = ?4))",
            "((c.cid IN (SELECT m.cid FROM members m WHERE m.user_id IN ($1, $2) GROUP BY 1 HAVING COUNT(*) = $3) AND c.member_count = $4))",
        );
    }

    #[test]
    fn document_arrays_use_each_dialects_json_functions() {
        check(
            json!({"tags": {"$contains": "x"}}),
            "EXISTS (SELECT 1 FROM (SELECT value AS element FROM json_each(CASE WHEN json_type(c.doc, ?1) = 'array' THEN json_extract(c.doc, ?1) ELSE '[]' END)) AS array_elements WHERE element IN (?2))",
            "EXISTS (SELECT 1 FROM (SELECT element FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof((c.doc #> $1::text[])) = 'array' THEN (c.doc #> $1::text[]) ELSE '[]'::jsonb END) AS elements(element)) AS array_elements WHERE element IN ($2))",
        );
    }

    #[test]
    fn full_text_binds_only_quoted_words() {
        const MESSAGES: Schema = Schema {
            alias: "m",
            document: "doc",
            fields: &[FieldSpec {
                name: "text",
                kind: FieldKind::Text,
                ops: &[Op::Q, Op::Eq, Op::Autocomplete],
                target: SqlTarget::FullText {
                    sqlite: "m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {query})",
                    postgres: "to_tsvector('simple', m.doc ->> 'text') @@ plainto_tsquery('simple', {query})",
                    text: "text",
                    rank_sqlite: "0",
                    rank_postgres: "0",
                },
            }],
            custom_fields: false,
        };
        let parsed = parse_filter(
            &json!({"text": {"$q": "Hello, \"world\" OR x*"}}),
            &MESSAGES,
        )
        .unwrap();
        let mut sqlite = Rendered::default();
        render_filter(&parsed, &MESSAGES, Dialect::Sqlite, &mut sqlite).unwrap();
        assert_eq!(
            sqlite.sql,
            "m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1)"
        );
        assert_eq!(
            sqlite.binds,
            vec![Bind::Text("\"hello\" \"world\" \"or\" \"x\"".into())]
        );
        let mut postgres = Rendered::default();
        render_filter(&parsed, &MESSAGES, Dialect::Postgres, &mut postgres).unwrap();
        assert_eq!(
            postgres.sql,
            "to_tsvector('simple', m.doc ->> 'text') @@ plainto_tsquery('simple', $1)"
        );
        let nothing = parse_filter(&json!({"text": {"$q": "!!!"}}), &MESSAGES).unwrap();
        let mut empty = Rendered::default();
        render_filter(&nothing, &MESSAGES, Dialect::Sqlite, &mut empty).unwrap();
        assert_eq!(empty.sql, "1 = 0");
        let plain = parse_filter(&json!({"text": "hi"}), &MESSAGES).unwrap();
        let mut equal = Rendered::default();
        render_filter(&plain, &MESSAGES, Dialect::Sqlite, &mut equal).unwrap();
        assert_eq!(equal.sql, "json_extract(m.doc, ?1) = ?2");
    }

    #[test]
    fn groups_nest() {
        check(
            json!({"$or": [{"type": "a"}, {"$nor": [{"frozen": true}]}]}),
            "(c.type = ?1 OR (c.frozen = ?2) IS NOT TRUE)",
            "(c.type = $1 OR (c.frozen = $2) IS NOT TRUE)",
        );
    }

    #[test]
    fn refusals_name_field_and_operator() {
        let unsupported = both(json!({"frozen": {"$gt": true}})).unwrap_err();
        assert_eq!(
            unsupported.to_string(),
            "operator $gt is not supported for field \"frozen\""
        );
        let wrong = both(json!({"type": {"$in": "messaging"}})).unwrap_err();
        assert!(wrong.to_string().contains("\"type\""));
        assert!(both(json!({"type": {"$regex": "x"}})).is_err());
        assert!(both(json!(["not", "an", "object"])).is_err());
        assert!(both(json!({"$and": []})).is_err());
        assert!(both(json!({"bad\"key": 1})).is_err());
        assert!(both(json!({"a..b": 1})).is_err());
    }

    #[test]
    fn sorts_render_nulls_last_in_both_dialects() {
        let allowed = ["last_message_at", "created_at"];
        let expected = vec![SortField {
            field: "last_message_at".into(),
            direction: -1,
        }];
        assert_eq!(
            parse_sort(
                Some(&json!([{"field": "last_message_at", "direction": -1}])),
                &allowed,
                false
            )
            .unwrap(),
            expected
        );
        assert_eq!(
            parse_sort(Some(&json!({"last_message_at": -1})), &allowed, false).unwrap(),
            expected
        );
        assert_eq!(
            parse_sort(Some(&json!([{"last_message_at": -1}])), &allowed, false).unwrap(),
            expected
        );
        assert!(parse_sort(Some(&json!({"nope": 1})), &allowed, false).is_err());
        let columns = [("last_message_at", SqlTarget::Column("last_message_at"))];
        let mut out = Rendered::default();
        render_sort(&expected, &SCHEMA, &columns, Dialect::Sqlite, &mut out).unwrap();
        assert_eq!(out.sql, "c.last_message_at DESC NULLS LAST");
        let custom = parse_sort(Some(&json!({"age": 1})), &allowed, true).unwrap();
        let mut sqlite = Rendered::default();
        render_sort(&custom, &SCHEMA, &columns, Dialect::Sqlite, &mut sqlite).unwrap();
        assert_eq!(sqlite.sql, "json_extract(c.doc, ?1) ASC NULLS LAST");
        assert_eq!(sqlite.binds.len(), 1);
        let mut postgres = Rendered::default();
        render_sort(&custom, &SCHEMA, &columns, Dialect::Postgres, &mut postgres).unwrap();
        assert_eq!(
            postgres.sql,
            "NULLIF(c.doc #> $1::text[], 'null'::jsonb) ASC NULLS LAST"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut filter = json!({"type": "a"});
        for _ in 0..50 {
            filter = json!({"$and": [filter]});
        }
        assert_eq!(both(filter).unwrap_err(), QueryError::TooDeep);
    }
}
