//! Rendering the filter AST to SQL: every value goes out as a bound parameter, never into the text.

use crate::parse::{Filter, Op, QueryError, SortField};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// A JSON array of strings (teams): `$in` and `$contains` test membership.
    TextList,
    Number,
    Bool,
    /// RFC 3339 text stored in a fixed UTC format, so text order is time order.
    Time,
    /// A custom field: any JSON scalar.
    Any,
}

/// Where a field lives in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlTarget {
    /// A plain column or expression.
    Column(&'static str),
    /// A column holding a JSON array of strings.
    JsonArray(&'static str),
    /// A condition with one `{values}` slot for the bound `IN` list, e.g. a membership subquery.
    InSubquery(&'static str),
    /// A key inside a JSON document column (custom data); the key is bound as a JSON path.
    JsonKey(&'static str),
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

/// The fields one query accepts; `custom_document` admits any other key as custom data in that JSON column.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub fields: &'static [FieldSpec],
    pub custom_document: Option<&'static str>,
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
];

impl Schema {
    pub fn field(&self, name: &str) -> Option<FieldSpec> {
        if let Some(spec) = self.fields.iter().find(|spec| spec.name == name) {
            return Some(*spec);
        }
        let document = self.custom_document?;
        let valid = !name.is_empty()
            && !name.starts_with('$')
            && !name
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control());
        valid.then_some(FieldSpec {
            name: "",
            kind: FieldKind::Any,
            ops: CUSTOM_OPS,
            target: SqlTarget::JsonKey(document),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Float(f64),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
}

/// SQL text plus its parameters in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rendered {
    pub sql: String,
    pub binds: Vec<Bind>,
}

fn bind_of(value: &Value) -> Bind {
    match value {
        Value::String(text) => Bind::Text(text.clone()),
        Value::Bool(flag) => Bind::Int(i64::from(*flag)),
        Value::Number(number) => match number.as_i64() {
            Some(int) => Bind::Int(int),
            None => Bind::Float(number.as_f64().unwrap_or_default()),
        },
        Value::Null => Bind::Null,
        other => Bind::Text(other.to_string()),
    }
}

/// JSON path for a custom key; dotted keys address nested objects (`a.b`).
fn json_path(field: &str) -> String {
    let mut path = String::from("$");
    for part in field.split('.') {
        path.push_str(".\"");
        path.push_str(part);
        path.push('"');
    }
    path
}

struct Writer<'a> {
    out: &'a mut Rendered,
}

impl Writer<'_> {
    fn bind(&mut self, value: Bind) -> &'static str {
        self.out.binds.push(value);
        "?"
    }

    fn list(&mut self, values: &[Value]) -> String {
        if values.is_empty() {
            return "NULL".into();
        }
        values
            .iter()
            .map(|value| self.bind(bind_of(value)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn filter(&mut self, filter: &Filter, schema: &Schema) -> Result<String, QueryError> {
        Ok(match filter {
            Filter::All => "1 = 1".into(),
            Filter::And(parts) => self.group(parts, schema, " AND ")?,
            Filter::Or(parts) => self.group(parts, schema, " OR ")?,
            Filter::Nor(parts) => format!("NOT {}", self.group(parts, schema, " OR ")?),
            Filter::Compare { field, op, value } => {
                let spec = schema
                    .field(field)
                    .ok_or_else(|| QueryError::UnknownField {
                        field: field.clone(),
                    })?;
                self.compare(field, spec, *op, value)
            }
        })
    }

    fn group(
        &mut self,
        parts: &[Filter],
        schema: &Schema,
        joiner: &str,
    ) -> Result<String, QueryError> {
        let rendered = parts
            .iter()
            .map(|part| self.filter(part, schema))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(format!("({})", rendered.join(joiner)))
    }

    fn compare(&mut self, field: &str, spec: FieldSpec, op: Op, value: &Value) -> String {
        let expression = match spec.target {
            SqlTarget::Column(column) => column.to_owned(),
            SqlTarget::JsonKey(document) => format!(
                "json_extract({document}, {})",
                self.bind(Bind::Text(json_path(field)))
            ),
            SqlTarget::JsonArray(column) => {
                let values: Vec<Value> = match (op, value) {
                    (_, Value::Array(items)) => items.clone(),
                    (_, single) => vec![single.clone()],
                };
                let list = self.list(&values);
                let exists = format!(
                    "EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value IN ({list}))"
                );
                return match op {
                    Op::Nin | Op::Ne => format!("NOT {exists}"),
                    _ => exists,
                };
            }
            SqlTarget::Membership {
                key,
                subquery,
                count_column,
            } => {
                let mut values: Vec<Value> = match value {
                    Value::Array(items) => items.clone(),
                    single => vec![single.clone()],
                };
                let exact = op == Op::Eq && value.is_array();
                if exact {
                    values.sort_by_key(|v| v.to_string());
                    values.dedup();
                }
                let list = self.list(&values);
                let inner = subquery.replace("{values}", &list);
                let condition = if exact {
                    let size = values.len() as i64;
                    let first = self.bind(Bind::Int(size));
                    let second = self.bind(Bind::Int(size));
                    format!("({key} IN ({inner} GROUP BY 1 HAVING COUNT(*) = {first}) AND {count_column} = {second})")
                } else {
                    format!("{key} IN ({inner})")
                };
                return match op {
                    Op::Nin | Op::Ne => format!("NOT ({condition})"),
                    _ => format!("({condition})"),
                };
            }
            SqlTarget::InSubquery(template) => {
                let values: Vec<Value> = match value {
                    Value::Array(items) => items.clone(),
                    single => vec![single.clone()],
                };
                let list = self.list(&values);
                let condition = template.replace("{values}", &list);
                return match op {
                    Op::Nin | Op::Ne => format!("NOT ({condition})"),
                    _ => format!("({condition})"),
                };
            }
        };
        match op {
            Op::Eq if value.is_null() => format!("{expression} IS NULL"),
            Op::Eq => format!("{expression} = {}", self.bind(bind_of(value))),
            Op::Ne => format!(
                "({expression} IS NULL OR {expression} <> {})",
                self.bind(bind_of(value))
            ),
            Op::Gt => format!("{expression} > {}", self.bind(bind_of(value))),
            Op::Gte => format!("{expression} >= {}", self.bind(bind_of(value))),
            Op::Lt => format!("{expression} < {}", self.bind(bind_of(value))),
            Op::Lte => format!("{expression} <= {}", self.bind(bind_of(value))),
            Op::In => format!(
                "{expression} IN ({})",
                self.list(value.as_array().map(Vec::as_slice).unwrap_or_default())
            ),
            Op::Nin => format!(
                "({expression} IS NULL OR {expression} NOT IN ({}))",
                self.list(value.as_array().map(Vec::as_slice).unwrap_or_default())
            ),
            Op::Exists if value.as_bool() == Some(false) => format!("{expression} IS NULL"),
            Op::Exists => format!("{expression} IS NOT NULL"),
            Op::Autocomplete | Op::Contains => {
                let needle: String = value
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .map(|c| {
                        if matches!(c, '%' | '_' | '\\') {
                            format!("\\{c}")
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
                let prefix = self.bind(Bind::Text(format!("{needle}%")));
                let word = self.bind(Bind::Text(format!("% {needle}%")));
                format!("({expression} LIKE {prefix} ESCAPE '\\' OR {expression} LIKE {word} ESCAPE '\\')")
            }
        }
    }
}

/// Appends the filter's condition to `out` (text and binds).
pub fn render_filter(
    filter: &Filter,
    schema: &Schema,
    _dialect: Dialect,
    out: &mut Rendered,
) -> Result<(), QueryError> {
    let mut writer = Writer { out };
    let condition = writer.filter(filter, schema)?;
    writer.out.sql.push_str(&condition);
    Ok(())
}

/// `ORDER BY` items for `sort`: named fields through `columns` (`(name, sql expression)`), other
/// names as custom keys of `custom_document` with the JSON path bound.
pub fn render_sort(
    sort: &[SortField],
    columns: &[(&str, &str)],
    custom_document: Option<&str>,
) -> Result<Rendered, QueryError> {
    let mut out = Rendered::default();
    let mut items = Vec::new();
    for item in sort {
        let column = match (
            columns.iter().find(|(name, _)| *name == item.field),
            custom_document,
        ) {
            (Some((_, column)), _) => (*column).to_owned(),
            (None, Some(document)) => {
                // Bound twice: once for the NULLs-last rank, once for the value.
                out.binds.push(Bind::Text(json_path(&item.field)));
                out.binds.push(Bind::Text(json_path(&item.field)));
                format!("json_extract({document}, ?)")
            }
            (None, None) => return Err(QueryError::UnknownSortField(item.field.clone())),
        };
        let direction = if item.direction < 0 { "DESC" } else { "ASC" };
        items.push(format!("{column} IS NULL, {column} {direction}"));
    }
    out.sql = items.join(", ");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_filter, parse_sort};
    use serde_json::json;

    const EQ_IN: &[Op] = &[Op::Eq, Op::In, Op::Ne, Op::Nin];
    const SCHEMA: Schema = Schema {
        fields: &[
            FieldSpec {
                name: "type",
                kind: FieldKind::Text,
                ops: EQ_IN,
                target: SqlTarget::Column("c.type"),
            },
            FieldSpec {
                name: "members",
                kind: FieldKind::Text,
                ops: &[Op::In, Op::Eq],
                target: SqlTarget::InSubquery(
                    "c.cid IN (SELECT m.cid FROM members m WHERE m.user_id IN ({values}))",
                ),
            },
            FieldSpec {
                name: "frozen",
                kind: FieldKind::Bool,
                ops: &[Op::Eq],
                target: SqlTarget::Column("c.frozen"),
            },
        ],
        custom_document: Some("c.doc"),
    };

    fn render(filter: serde_json::Value) -> Result<Rendered, QueryError> {
        let parsed = parse_filter(&filter, &SCHEMA)?;
        let mut out = Rendered::default();
        render_filter(&parsed, &SCHEMA, Dialect::Sqlite, &mut out)?;
        Ok(out)
    }

    #[test]
    fn implicit_equality_and_in_lists_bind_values() {
        let out = render(json!({"type": "messaging", "members": {"$in": ["a", "b"]}})).unwrap();
        assert_eq!(
            out.sql,
            "(c.type = ? AND (c.cid IN (SELECT m.cid FROM members m WHERE m.user_id IN (?, ?))))"
        );
        assert_eq!(
            out.binds,
            vec![
                Bind::Text("messaging".into()),
                Bind::Text("a".into()),
                Bind::Text("b".into())
            ]
        );
    }

    #[test]
    fn member_sets_match_exactly_with_eq_arrays() {
        let schema = Schema {
            fields: &[FieldSpec {
                name: "members",
                kind: FieldKind::TextList,
                ops: &[Op::In, Op::Eq],
                target: SqlTarget::Membership {
                    key: "c.cid",
                    subquery: "SELECT m.cid FROM members m WHERE m.user_id IN ({values})",
                    count_column: "c.member_count",
                },
            }],
            custom_document: None,
        };
        let parsed = parse_filter(&json!({"members": {"$eq": ["b", "a", "a"]}}), &schema).unwrap();
        let mut out = Rendered::default();
        render_filter(&parsed, &schema, Dialect::Sqlite, &mut out).unwrap();
        assert_eq!(out.sql, "((c.cid IN (SELECT m.cid FROM members m WHERE m.user_id IN (?, ?) GROUP BY 1 HAVING COUNT(*) = ?) AND c.member_count = ?))");
        assert_eq!(
            out.binds,
            vec![
                Bind::Text("a".into()),
                Bind::Text("b".into()),
                Bind::Int(2),
                Bind::Int(2)
            ]
        );
    }

    #[test]
    fn custom_fields_go_through_a_bound_json_path() {
        let out = render(json!({"color": "green"})).unwrap();
        assert_eq!(out.sql, "json_extract(c.doc, ?) = ?");
        assert_eq!(
            out.binds,
            vec![Bind::Text("$.\"color\"".into()), Bind::Text("green".into())]
        );
        let nested = render(json!({"a.b": {"$gt": 3}})).unwrap();
        assert_eq!(nested.binds[0], Bind::Text("$.\"a\".\"b\"".into()));
    }

    #[test]
    fn groups_nest() {
        let out = render(json!({"$or": [{"type": "a"}, {"$nor": [{"frozen": true}]}]})).unwrap();
        assert_eq!(out.sql, "(c.type = ? OR NOT (c.frozen = ?))");
        assert_eq!(out.binds, vec![Bind::Text("a".into()), Bind::Int(1)]);
    }

    #[test]
    fn refusals_name_field_and_operator() {
        let unsupported = render(json!({"frozen": {"$gt": true}})).unwrap_err();
        assert_eq!(
            unsupported.to_string(),
            "operator $gt is not supported for field \"frozen\""
        );
        let wrong = render(json!({"type": {"$in": "messaging"}})).unwrap_err();
        assert!(wrong.to_string().contains("\"type\""));
        assert!(render(json!({"type": {"$regex": "x"}})).is_err());
        assert!(render(json!(["not", "an", "object"])).is_err());
        assert!(render(json!({"$and": []})).is_err());
        assert!(render(json!({"bad\"key": 1})).is_err());
    }

    #[test]
    fn sort_accepts_every_sdk_form() {
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
        assert!(parse_sort(Some(&json!({"nope": 1})), &allowed, true).is_ok());
        let order =
            render_sort(&expected, &[("last_message_at", "c.last_message_at")], None).unwrap();
        assert_eq!(
            order.sql,
            "c.last_message_at IS NULL, c.last_message_at DESC"
        );
        let custom = vec![SortField {
            field: "age".into(),
            direction: 1,
        }];
        let order = render_sort(&custom, &[], Some("u.doc")).unwrap();
        assert_eq!(
            order.sql,
            "json_extract(u.doc, ?) IS NULL, json_extract(u.doc, ?) ASC"
        );
        assert_eq!(
            order.binds,
            vec![
                Bind::Text("$.\"age\"".into()),
                Bind::Text("$.\"age\"".into())
            ]
        );
        assert!(render_sort(&custom, &[], None).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut filter = json!({"type": "a"});
        for _ in 0..50 {
            filter = json!({"$and": [filter]});
        }
        assert_eq!(render(filter).unwrap_err(), QueryError::TooDeep);
    }
}
