//! Parsing filters and sorts from request JSON into the AST, refusing unknown fields and operators.

use crate::sql::{FieldKind, Schema};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    Exists,
    Autocomplete,
    Contains,
    /// Full-text match.
    Q,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "$eq" => Op::Eq,
            "$ne" => Op::Ne,
            "$gt" => Op::Gt,
            "$gte" => Op::Gte,
            "$lt" => Op::Lt,
            "$lte" => Op::Lte,
            "$in" => Op::In,
            "$nin" => Op::Nin,
            "$exists" => Op::Exists,
            "$autocomplete" => Op::Autocomplete,
            "$contains" => Op::Contains,
            "$q" => Op::Q,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "$eq",
            Op::Ne => "$ne",
            Op::Gt => "$gt",
            Op::Gte => "$gte",
            Op::Lt => "$lt",
            Op::Lte => "$lte",
            Op::In => "$in",
            Op::Nin => "$nin",
            Op::Exists => "$exists",
            Op::Autocomplete => "$autocomplete",
            Op::Contains => "$contains",
            Op::Q => "$q",
        }
    }
}

/// A parsed filter. `Compare` values are already checked against the field's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All,
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Nor(Vec<Filter>),
    Compare { field: String, op: Op, value: Value },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortField {
    pub field: String,
    /// 1 ascending, -1 descending.
    pub direction: i8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("filter must be a JSON object, got {0}")]
    NotAnObject(String),
    #[error("field {field:?} is not supported in this query")]
    UnknownField { field: String },
    #[error("operator {op} is not supported for field {field:?}")]
    UnsupportedOperator { field: String, op: String },
    #[error("field {field:?} with operator {op} expects {expected}")]
    WrongValue {
        field: String,
        op: String,
        expected: std::borrow::Cow<'static, str>,
    },
    #[error("{0} expects a non-empty array of filters")]
    BadGroup(String),
    #[error("sort field {0:?} is not supported")]
    UnknownSortField(String),
    #[error("sort must be an array of {{field, direction}} with direction 1 or -1")]
    BadSort,
    #[error("sort takes at most {MAX_SORT_FIELDS} fields")]
    TooManySortFields,
    #[error("field {0:?} is relative to a user: query as a user, or name one with user_id")]
    NeedsUser(String),
    #[error("filter nesting is too deep")]
    TooDeep,
}

const MAX_DEPTH: usize = 8;
/// Stream's limit on the fields of one sort.
pub const MAX_SORT_FIELDS: usize = 5;

pub fn parse_filter(json: &Value, schema: &Schema) -> Result<Filter, QueryError> {
    parse_object(json, schema, 0)
}

fn parse_object(json: &Value, schema: &Schema, depth: usize) -> Result<Filter, QueryError> {
    if depth > MAX_DEPTH {
        return Err(QueryError::TooDeep);
    }
    let object = match json {
        Value::Object(object) => object,
        Value::Null => return Ok(Filter::All),
        other => return Err(QueryError::NotAnObject(kind_of(other).into())),
    };
    let mut parts = Vec::new();
    for (key, value) in object {
        let part = match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let items = value
                    .as_array()
                    .filter(|items| !items.is_empty())
                    .ok_or_else(|| QueryError::BadGroup(key.clone()))?;
                let children = items
                    .iter()
                    .map(|item| parse_object(item, schema, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                match key.as_str() {
                    "$and" => Filter::And(children),
                    "$or" => Filter::Or(children),
                    _ => Filter::Nor(children),
                }
            }
            field => parse_field(field, value, schema)?,
        };
        parts.push(part);
    }
    Ok(match parts.len() {
        0 => Filter::All,
        1 => parts.remove(0),
        _ => Filter::And(parts),
    })
}

fn parse_field(field: &str, value: &Value, schema: &Schema) -> Result<Filter, QueryError> {
    // A field declared with no operators is one this server does not keep: refused by name.
    let spec = schema
        .field(field)
        .filter(|spec| !spec.ops.is_empty())
        .ok_or_else(|| QueryError::UnknownField {
            field: field.into(),
        })?;
    let operators: Vec<(Op, &Value)> = match value {
        Value::Object(object) if object.keys().next().is_some_and(|k| k.starts_with('$')) => object
            .iter()
            .map(|(name, operand)| {
                Op::parse(name).map(|op| (op, operand)).ok_or_else(|| {
                    QueryError::UnsupportedOperator {
                        field: field.into(),
                        op: name.clone(),
                    }
                })
            })
            .collect::<Result<_, _>>()?,
        // `{team: {}}` is Stream's opt-out of an injected filter: it matches everything.
        Value::Object(object) if object.is_empty() => return Ok(Filter::All),
        implicit => vec![(Op::Eq, implicit)],
    };
    let mut compares = Vec::new();
    for (op, operand) in operators {
        if !spec.ops.contains(&op) {
            return Err(QueryError::UnsupportedOperator {
                field: field.into(),
                op: op.name().into(),
            });
        }
        check_operand(field, spec.kind, op, operand)?;
        let value = if spec.kind == FieldKind::Time {
            normalise_times(field, op, operand)?
        } else {
            operand.clone()
        };
        compares.push(Filter::Compare {
            field: field.into(),
            op,
            value,
        });
    }
    Ok(if compares.len() == 1 {
        compares.remove(0)
    } else {
        Filter::And(compares)
    })
}

/// Times are stored as fixed-width UTC text (`2024-01-02T12:00:00.000000Z`), so filter values are
/// rewritten to that form: then text order is time order and equal instants are equal text.
fn normalise_times(field: &str, op: Op, operand: &Value) -> Result<Value, QueryError> {
    let one = |value: &Value| -> Result<Value, QueryError> {
        let Value::String(text) = value else {
            return Ok(value.clone());
        };
        let instant = chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|t| t.and_utc())
            })
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
            })
            .map_err(|_| QueryError::WrongValue {
                field: field.into(),
                op: op.name().into(),
                expected: "an RFC 3339 timestamp".into(),
            })?;
        Ok(Value::String(
            instant.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ))
    };
    match operand {
        Value::Array(items) => items
            .iter()
            .map(one)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        single => one(single),
    }
}

fn check_operand(field: &str, kind: FieldKind, op: Op, operand: &Value) -> Result<(), QueryError> {
    let wrong = |expected: std::borrow::Cow<'static, str>| QueryError::WrongValue {
        field: field.into(),
        op: op.name().into(),
        expected,
    };
    let scalar_ok = |value: &Value| match kind {
        FieldKind::Text | FieldKind::TextList => value.is_string(),
        FieldKind::Number => value.is_number(),
        FieldKind::Bool => value.is_boolean(),
        FieldKind::Time => value.as_str().is_some_and(|text| text.len() >= 10),
        FieldKind::Any => !value.is_object(),
        FieldKind::Choice(choices) => value.as_str().is_some_and(|v| choices.contains(&v)),
    };
    let expected: std::borrow::Cow<'static, str> = match kind {
        FieldKind::Text | FieldKind::TextList => "a string".into(),
        FieldKind::Number => "a number".into(),
        FieldKind::Bool => "a boolean".into(),
        FieldKind::Time => "an RFC 3339 timestamp".into(),
        FieldKind::Any => "a scalar or array".into(),
        FieldKind::Choice(choices) => format!("one of {}", choices.join(", ")).into(),
    };
    match op {
        Op::Exists => operand
            .is_boolean()
            .then_some(())
            .ok_or_else(|| wrong("a boolean".into())),
        Op::In | Op::Nin => match operand.as_array() {
            Some(items) if items.iter().all(scalar_ok) => Ok(()),
            _ => Err(wrong("an array of values".into())),
        },
        Op::Autocomplete => operand
            .is_string()
            .then_some(())
            .ok_or_else(|| wrong("a string".into())),
        Op::Q => operand
            .is_string()
            .then_some(())
            .ok_or_else(|| wrong("a string".into())),
        Op::Contains => operand
            .is_string()
            .then_some(())
            .ok_or_else(|| wrong("a string".into())),
        Op::Eq if matches!(kind, FieldKind::Any | FieldKind::TextList) && operand.is_array() => {
            match operand.as_array() {
                Some(items) if kind == FieldKind::Any || items.iter().all(Value::is_string) => {
                    Ok(())
                }
                _ => Err(wrong("an array of strings".into())),
            }
        }
        _ if scalar_ok(operand) || (operand.is_null() && op == Op::Eq) => Ok(()),
        _ => Err(wrong(expected)),
    }
}

/// Accepts `[{field, direction}]`, `[{name: dir}]` and `{name: dir}`; checks fields against `allowed`,
/// admitting any other plain key as a custom field when `custom_fields` is set.
pub fn parse_sort(
    json: Option<&Value>,
    allowed: &[&str],
    custom_fields: bool,
) -> Result<Vec<SortField>, QueryError> {
    let mut sort = Vec::new();
    let mut push = |field: &str, direction: &Value| -> Result<(), QueryError> {
        let custom_ok = custom_fields
            && !field.is_empty()
            && !field
                .chars()
                .any(|c| c == '"' || c == '\\' || c == '$' || c.is_control());
        if !allowed.contains(&field) && !custom_ok {
            return Err(QueryError::UnknownSortField(field.into()));
        }
        let direction = match direction.as_i64() {
            Some(1) => 1,
            Some(-1) => -1,
            _ => return Err(QueryError::BadSort),
        };
        sort.push(SortField {
            field: field.into(),
            direction,
        });
        Ok(())
    };
    let one = Value::from(1);
    match json {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let object = item.as_object().ok_or(QueryError::BadSort)?;
                if object.contains_key("field") || object.contains_key("direction") {
                    let field = object
                        .get("field")
                        .and_then(Value::as_str)
                        .ok_or(QueryError::BadSort)?;
                    push(field, object.get("direction").unwrap_or(&one))?;
                } else {
                    for (field, direction) in object {
                        push(field, direction)?;
                    }
                }
            }
        }
        Some(Value::Object(object)) => {
            for (field, direction) in object {
                push(field, direction)?;
            }
        }
        Some(_) => return Err(QueryError::BadSort),
    }
    if sort.len() > MAX_SORT_FIELDS {
        return Err(QueryError::TooManySortFields);
    }
    Ok(sort)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
