//! Fuzzing the filter and sort parsers and renderers with arbitrary JSON: no panics, numbered placeholders that match the binds, and user strings never interpolated into SQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use eddy_query::{
    parse_filter, parse_sort, render_filter_for, render_sort_for, Dialect, FieldKind, FieldSpec,
    Op, QueryError, Rendered, Schema, SqlTarget,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use serde_json::{Map, Number, Value};
use std::cell::Cell;

// ---------------------------------------------------------------------------------------------
// A schema shaped like the store's CHANNELS, with one field of every target kind.
// ---------------------------------------------------------------------------------------------

const TEXT: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::In,
    Op::Nin,
    Op::Gt,
    Op::Gte,
    Op::Lt,
    Op::Lte,
    Op::Autocomplete,
    Op::Exists,
];
const ORDERED: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::Gt,
    Op::Gte,
    Op::Lt,
    Op::Lte,
    Op::In,
    Op::Nin,
    Op::Exists,
];
const FLAG: &[Op] = &[Op::Eq, Op::Ne];
const SET: &[Op] = &[Op::In, Op::Eq, Op::Nin, Op::Contains];

const fn field(
    name: &'static str,
    kind: FieldKind,
    ops: &'static [Op],
    target: SqlTarget,
) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        ops,
        target,
    }
}

const CHANNELS: Schema = Schema {
    alias: "c",
    document: "doc",
    fields: &[
        field("type", FieldKind::Text, ORDERED, SqlTarget::Column("type")),
        field("id", FieldKind::Text, TEXT, SqlTarget::Column("id")),
        field("cid", FieldKind::Text, ORDERED, SqlTarget::Column("cid")),
        field(
            "members",
            FieldKind::TextList,
            &[Op::In, Op::Eq, Op::Nin],
            SqlTarget::Membership {
                key: "c.cid",
                subquery: "SELECT m.cid FROM members m WHERE m.app_id = c.app_id AND m.user_id IN ({values})",
                count_column: "c.member_count",
            },
        ),
        field(
            "created_by_id",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("created_by"),
        ),
        field("frozen", FieldKind::Bool, FLAG, SqlTarget::Column("frozen")),
        field(
            "member_count",
            FieldKind::Number,
            ORDERED,
            SqlTarget::Column("member_count"),
        ),
        field(
            "last_message_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("last_message_at"),
        ),
        field(
            "last_updated",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Expr {
                sqlite: "MAX(COALESCE(c.last_message_at, c.updated_at), c.updated_at)",
                postgres: "GREATEST(c.last_message_at, c.updated_at)",
            },
        ),
        field("team", FieldKind::Text, ORDERED, SqlTarget::DocKey("team")),
        field("name", FieldKind::Text, TEXT, SqlTarget::DocKey("name")),
        field(
            "filter_tags",
            FieldKind::TextList,
            SET,
            SqlTarget::DocKey("filter_tags"),
        ),
        field("banned", FieldKind::Bool, FLAG, SqlTarget::DocKey("banned")),
        field(
            "joined",
            FieldKind::Bool,
            &[Op::Eq],
            SqlTarget::Viewer {
                sqlite: "EXISTS (SELECT 1 FROM members v WHERE v.cid = c.cid AND v.user_id = {viewer})",
                postgres: "EXISTS (SELECT 1 FROM members v WHERE v.cid = c.cid AND v.user_id = {viewer})",
            },
        ),
        field(
            "invite",
            FieldKind::Choice(&["pending", "accepted", "rejected"]),
            &[Op::Eq, Op::In],
            SqlTarget::Expr {
                sqlite: "json_extract(c.doc, '$.invite')",
                postgres: "(c.doc ->> 'invite')",
            },
        ),
        field(
            "member.user.name",
            FieldKind::Text,
            &[Op::Eq, Op::In, Op::Autocomplete, Op::Q],
            SqlTarget::Related {
                sqlite: "EXISTS (SELECT 1 FROM members mn WHERE mn.cid = c.cid AND {condition})",
                postgres: "EXISTS (SELECT 1 FROM members mn WHERE mn.cid = c.cid AND {condition})",
                value_sqlite: "json_extract(mn.doc, '$.name')",
                value_postgres: "(mn.doc ->> 'name')",
            },
        ),
        field(
            "text",
            FieldKind::Text,
            &[Op::Q, Op::Eq, Op::Autocomplete],
            SqlTarget::FullText {
                sqlite: "c.rowid IN (SELECT rowid FROM fts WHERE fts MATCH {query})",
                postgres: "to_tsvector('simple', c.doc ->> 'text') @@ plainto_tsquery('simple', {query})",
                text: "text",
                rank_sqlite: "-(SELECT bm25(fts) FROM fts WHERE fts MATCH {query} AND rowid = c.rowid)",
                rank_postgres: "ts_rank(to_tsvector('simple', c.doc ->> 'text'), plainto_tsquery('simple', {query}))",
            },
        ),
    ],
    custom_fields: true,
};

const SORT_COLUMNS: &[(&str, SqlTarget)] = &[
    ("last_message_at", SqlTarget::Column("last_message_at")),
    (
        "last_updated",
        SqlTarget::Expr {
            sqlite: "MAX(COALESCE(c.last_message_at, c.updated_at), c.updated_at)",
            postgres: "GREATEST(c.last_message_at, c.updated_at)",
        },
    ),
    ("member_count", SqlTarget::Column("member_count")),
    ("name", SqlTarget::DocKey("name")),
    (
        "unread_count",
        SqlTarget::Viewer {
            sqlite: "(SELECT v.unread_messages FROM members v WHERE v.cid = c.cid AND v.user_id = {viewer})",
            postgres: "(SELECT v.unread_messages FROM members v WHERE v.cid = c.cid AND v.user_id = {viewer})",
        },
    ),
];
const SORT_NAMES: &[&str] = &[
    "last_message_at",
    "last_updated",
    "member_count",
    "name",
    "unread_count",
];

/// A viewer id that would break out of a string literal if it were ever interpolated.
const VIEWER: &str = "o'neil\"; DROP TABLE c; --";

// ---------------------------------------------------------------------------------------------
// Arbitrary JSON, biased towards what filters are made of.
// ---------------------------------------------------------------------------------------------

const FIELDS: &[&str] = &[
    "type",
    "id",
    "cid",
    "members",
    "created_by_id",
    "frozen",
    "member_count",
    "last_message_at",
    "last_updated",
    "team",
    "name",
    "filter_tags",
    "banned",
    "joined",
    "text",
    "invite",
    "member.user.name",
];
const OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$autocomplete",
    "$contains",
    "$q",
    "$and",
    "$or",
    "$nor",
    "$regex",
    "$any",
    "$",
    "$EQ",
    "$not",
];
/// Custom keys the schema admits (bound as JSON paths, never interpolated).
const VALID_CUSTOM_KEYS: &[&str] = &[
    "color",
    "a.b",
    "a.b.c",
    "it's",
    "ünï.cødé",
    "x$y",
    "'); DROP TABLE c; --",
    "?1",
    "1$ ",
    "%_",
    "a b",
];
/// Custom keys the schema refuses.
const INVALID_CUSTOM_KEYS: &[&str] = &[
    "a..b",
    ".x",
    "x.",
    "we\"ird",
    "back\\slash",
    "",
    "{x}",
    "a,b",
    "$dollar",
    "line\nbreak",
];

fn custom_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(VALID_CUSTOM_KEYS).prop_map(String::from),
        1 => select(INVALID_CUSTOM_KEYS).prop_map(String::from),
    ]
    .boxed()
}
const STRINGS: &[&str] = &[
    "",
    "a",
    "pending",
    "messaging",
    "O'Reilly",
    "it's \"quoted\"",
    "'; DROP TABLE c; --",
    "\" OR 1=1 --",
    "back\\slash\\",
    "50% off_",
    "a.b.c",
    "ünïcødé ☃",
    "?1 $1 ?2",
    "{values}",
    "{viewer} {query}",
    "2024-01-02T12:00:00.000000Z",
    "2024-01-02",
    "\u{0}nul",
    "tab\tand\nnewline",
];

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(FIELDS).prop_map(String::from),
        4 => select(OPERATORS).prop_map(String::from),
        2 => custom_key(),
        1 => any::<String>(),
        1 => "[a-z.$'\"\\\\]{0,6}",
    ]
    .boxed()
}

fn string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(STRINGS).prop_map(String::from),
        1 => select(FIELDS).prop_map(String::from),
        2 => any::<String>(),
        2 => "[a-z '\"\\\\%_.$?{}]{0,12}",
    ]
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => (-5i64..50).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|float| Number::from_f64(float).map_or(Value::Null, Value::Number)),
        1 => Just(Value::from(-0.0)),
        1 => Just(Value::from(1e300)),
    ]
    .boxed()
}

fn scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        2 => number(),
        4 => string().prop_map(Value::from),
    ]
    .boxed()
}

/// Any JSON up to depth 6, objects keyed mostly by field names and operators.
fn json() -> BoxedStrategy<Value> {
    scalar()
        .prop_recursive(6, 64, 5, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..5).prop_map(Value::from),
                vec((key(), inner), 0..5)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

/// Filter-shaped JSON: fields with implicit values or operator objects of any value, and groups;
/// so that a good share of cases gets past the parser into the renderer.
fn filter_like() -> BoxedStrategy<Value> {
    let operand = prop_oneof![
        3 => scalar(),
        1 => vec(scalar(), 0..4).prop_map(Value::from),
        4 => vec((select(OPERATORS).prop_map(String::from), prop_oneof![
            3 => scalar(),
            2 => vec(scalar(), 0..4).prop_map(Value::from),
            1 => json(),
        ]), 1..3)
            .prop_map(|ops| Value::Object(ops.into_iter().collect())),
        1 => json(),
    ];
    let field_key = prop_oneof![
        4 => select(FIELDS).prop_map(String::from),
        2 => custom_key(),
        1 => key(),
    ];
    let leaf = vec((field_key, operand), 0..4)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()));
    leaf.prop_recursive(5, 48, 4, |inner| {
        (
            vec(
                (
                    select(&["$and", "$or", "$nor"][..]),
                    vec(inner.clone(), 0..4),
                ),
                1..3,
            ),
            vec((select(FIELDS).prop_map(String::from), scalar()), 0..2),
        )
            .prop_map(|(groups, fields)| {
                let mut object: Map<String, Value> = fields.into_iter().collect();
                for (group, children) in groups {
                    object.insert(group.into(), Value::from(children));
                }
                Value::Object(object)
            })
    })
    .boxed()
}

/// A condition that is mostly well typed for its field (so it parses), with adversarial strings.
fn typed_entry() -> BoxedStrategy<(String, Value)> {
    let name = prop_oneof![
        6 => select(FIELDS).prop_map(String::from),
        2 => select(VALID_CUSTOM_KEYS).prop_map(String::from),
        1 => custom_key(),
    ];
    let op = select(
        &[
            "",
            "$eq",
            "$ne",
            "$gt",
            "$gte",
            "$lt",
            "$lte",
            "$in",
            "$nin",
            "$exists",
            "$autocomplete",
            "$contains",
            "$q",
        ][..],
    );
    let time = prop_oneof![
        Just("2024-01-02T12:00:00.000000Z".to_string()),
        "[0-9T:\\-'\"Z.]{10,30}",
    ];
    (
        name,
        (op, any::<prop::sample::Index>(), 0u8..40),
        (string(), number(), any::<bool>(), time),
        (
            vec(string(), 0..4),
            vec(number(), 0..4),
            vec(scalar(), 0..4),
        ),
    )
        .prop_map(
            |(name, (op, index, dice), (text, number, flag, time), (texts, numbers, scalars))| {
                let spec = CHANNELS.field(&name);
                let kind = spec.map(|spec| spec.kind);
                // Mostly an operator the field supports; sometimes any (to be refused).
                let op = match spec {
                    Some(spec) if dice > 0 => index.get(spec.ops).name(),
                    _ => op,
                };
                let single = match kind {
                    Some(FieldKind::Number) => number,
                    Some(FieldKind::Bool) => Value::from(flag),
                    Some(FieldKind::Time) => Value::from(time),
                    Some(FieldKind::Any) | None => scalars.first().cloned().unwrap_or(Value::Null),
                    Some(_) => Value::from(text.clone()),
                };
                let list = match kind {
                    Some(FieldKind::Number) => Value::from(numbers),
                    Some(FieldKind::Any) | None => Value::from(scalars),
                    _ => Value::from(texts),
                };
                let operand = match op {
                    "$in" | "$nin" => list,
                    "$eq" | "" if kind == Some(FieldKind::TextList) && flag => list,
                    "$exists" => Value::from(flag),
                    "$autocomplete" | "$contains" | "$q" => Value::from(text),
                    _ => single,
                };
                if op.is_empty() {
                    (name, operand)
                } else {
                    (name, serde_json::json!({ op: operand }))
                }
            },
        )
        .boxed()
}

fn typed_filter() -> BoxedStrategy<Value> {
    let leaf =
        vec(typed_entry(), 0..3).prop_map(|entries| Value::Object(entries.into_iter().collect()));
    leaf.prop_recursive(4, 32, 4, |inner| {
        (
            vec(
                (select(&["$and", "$or", "$nor"][..]), vec(inner, 1..4)),
                1..3,
            ),
            vec(typed_entry(), 0..2),
        )
            .prop_map(|(groups, entries)| {
                let mut object: Map<String, Value> = entries.into_iter().collect();
                for (group, children) in groups {
                    object.insert(group.into(), Value::from(children));
                }
                Value::Object(object)
            })
    })
    .boxed()
}

/// Occasionally wrapped in many `$and`s, to reach the nesting limit.
fn any_filter() -> BoxedStrategy<Value> {
    (
        prop_oneof![4 => typed_filter(), 2 => filter_like(), 1 => json()],
        prop_oneof![6 => Just(0usize), 1 => 1usize..12],
    )
        .prop_map(|(mut filter, wraps)| {
            for _ in 0..wraps {
                filter = serde_json::json!({"$and": [filter]});
            }
            filter
        })
        .boxed()
}

fn sort_like() -> BoxedStrategy<Value> {
    let name = prop_oneof![
        3 => select(SORT_NAMES).prop_map(String::from),
        2 => custom_key(),
        1 => key(),
    ];
    let direction = prop_oneof![
        3 => prop_oneof![Just(1), Just(-1)].prop_map(Value::from),
        1 => scalar(),
    ];
    let item = prop_oneof![
        (name.clone(), direction.clone()).prop_map(|(field, direction)| {
            serde_json::json!({"field": field, "direction": direction})
        }),
        vec((name.clone(), direction.clone()), 0..3)
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        json(),
    ];
    prop_oneof![
        3 => vec(item, 0..4).prop_map(Value::from),
        1 => vec((name, direction), 0..3)
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        1 => json(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// Checks on rendered SQL.
// ---------------------------------------------------------------------------------------------

/// The numbers of the placeholders in `sql` (`?n` for SQLite, `$n` for PostgreSQL).
fn placeholders(sql: &str, dialect: Dialect) -> Vec<usize> {
    let sigil = match dialect {
        Dialect::Sqlite => '?',
        Dialect::Postgres => '$',
    };
    let bytes = sql.as_bytes();
    let mut numbers = Vec::new();
    for (at, c) in sql.char_indices() {
        if c != sigil {
            continue;
        }
        let digits: String = bytes[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|b| char::from(*b))
            .collect();
        if !digits.is_empty() {
            numbers.push(digits.parse().unwrap());
        }
    }
    numbers
}

/// Every string (keys included) in `value` that would matter if interpolated: longer than 3
/// characters and holding a quote.
fn quoted_strings(value: &Value, out: &mut Vec<String>) {
    fn consider(text: &str, out: &mut Vec<String>) {
        if text.chars().count() > 3 && (text.contains('\'') || text.contains('"')) {
            out.push(text.to_owned());
        }
    }
    match value {
        Value::String(text) => consider(text, out),
        Value::Array(items) => items.iter().for_each(|item| quoted_strings(item, out)),
        Value::Object(object) => {
            for (key, item) in object {
                consider(key, out);
                quoted_strings(item, out);
            }
        }
        _ => {}
    }
}

fn check_rendered(rendered: &Rendered, dialect: Dialect, input: &Value) -> Result<(), String> {
    let numbers = placeholders(&rendered.sql, dialect);
    let max = numbers.iter().copied().max().unwrap_or(0);
    if max != rendered.binds.len() {
        return Err(format!(
            "{dialect:?}: highest placeholder {max} but {} binds for {input}\nSQL {}\nbinds {:?}",
            rendered.binds.len(),
            rendered.sql,
            rendered.binds
        ));
    }
    // PostgreSQL cannot type a parameter the statement never uses, so every bind must appear.
    if let Some(unused) = (1..=max).find(|n| !numbers.contains(n)) {
        return Err(format!(
            "{dialect:?}: bind {unused} is never used for {input}\nSQL {}",
            rendered.sql
        ));
    }
    let mut strings = Vec::new();
    quoted_strings(input, &mut strings);
    if let Some(leaked) = strings
        .iter()
        .find(|text| rendered.sql.contains(text.as_str()))
    {
        return Err(format!(
            "{dialect:?}: {leaked:?} from {input} is interpolated into SQL {}",
            rendered.sql
        ));
    }
    if rendered.sql.contains(VIEWER) {
        return Err(format!(
            "{dialect:?}: the viewer id is interpolated into {}",
            rendered.sql
        ));
    }
    Ok(())
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn filters_never_panic_and_bind_every_value() {
    let cases = Cell::new(0u32);
    let parsed = Cell::new(0u32);
    let rendered_ok = Cell::new(0u32);
    proptest!(config(3000), |(input in any_filter())| {
        cases.set(cases.get() + 1);
        let Ok(filter) = parse_filter(&input, &CHANNELS) else {
            return Ok(());
        };
        parsed.set(parsed.get() + 1);
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            // With a viewer, whatever parsed must render.
            let mut out = Rendered::default();
            let result = render_filter_for(&filter, &CHANNELS, dialect, Some(VIEWER), &mut out);
            prop_assert!(result.is_ok(), "{dialect:?}: {input} parsed but does not render: {result:?}");
            check_rendered(&out, dialect, &input).map_err(TestCaseError::fail)?;
            // Without one, only user-relative fields may refuse.
            let mut out = Rendered::default();
            match render_filter_for(&filter, &CHANNELS, dialect, None, &mut out) {
                Ok(()) => check_rendered(&out, dialect, &input).map_err(TestCaseError::fail)?,
                Err(QueryError::NeedsUser(_)) => {}
                Err(other) => prop_assert!(false, "{dialect:?}: {input}: {other}"),
            }
            rendered_ok.set(rendered_ok.get() + 1);
        }
    });
    eprintln!(
        "filter fuzz: {} cases, {} parsed, {} renders checked",
        cases.get(),
        parsed.get(),
        rendered_ok.get()
    );
    // The generator must keep reaching the renderer (typically over 40% parse).
    assert!(
        parsed.get() * 5 > cases.get(),
        "only {} of {} filters parsed",
        parsed.get(),
        cases.get()
    );
}

#[test]
fn sorts_never_panic_and_bind_every_value() {
    let cases = Cell::new(0u32);
    let parsed = Cell::new(0u32);
    proptest!(config(2000), |(input in sort_like(), custom in any::<bool>())| {
        cases.set(cases.get() + 1);
        let Ok(sort) = parse_sort(Some(&input), SORT_NAMES, custom) else {
            return Ok(());
        };
        parsed.set(parsed.get() + 1);
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let mut out = Rendered::default();
            match render_sort_for(&sort, &CHANNELS, SORT_COLUMNS, dialect, Some(VIEWER), &mut out) {
                Ok(()) => check_rendered(&out, dialect, &input).map_err(TestCaseError::fail)?,
                // parse_sort admits a few names (dots, braces, commas) render_sort refuses.
                Err(QueryError::UnknownSortField(_)) => {}
                Err(other) => prop_assert!(false, "{dialect:?}: {input}: {other}"),
            }
        }
    });
    eprintln!("sort fuzz: {} cases, {} parsed", cases.get(), parsed.get());
    assert!(
        parsed.get() * 5 > cases.get(),
        "only {} of {} sorts parsed",
        parsed.get(),
        cases.get()
    );
}

#[test]
fn sort_parser_takes_any_json_without_panicking() {
    proptest!(config(2000), |(input in json(), custom in any::<bool>())| {
        let _ = parse_sort(Some(&input), SORT_NAMES, custom);
        let _ = parse_filter(&input, &CHANNELS);
    });
}

/// The oracle itself: it must notice interpolated strings, misnumbered and unused placeholders.
#[test]
fn the_checks_catch_interpolation_and_misnumbering() {
    let input = serde_json::json!({"name": "O'Reilly"});
    let rendered = |sql: &str, binds: usize| Rendered {
        sql: sql.into(),
        binds: vec![eddy_query::Bind::Null; binds],
        app: None,
    };
    assert!(check_rendered(&rendered("c.name = ?1", 1), Dialect::Sqlite, &input).is_ok());
    assert!(check_rendered(&rendered("c.name = $1", 1), Dialect::Postgres, &input).is_ok());
    assert!(check_rendered(&rendered("c.name = 'O'Reilly'", 0), Dialect::Sqlite, &input).is_err());
    assert!(check_rendered(&rendered("c.name = ?2", 1), Dialect::Sqlite, &input).is_err());
    assert!(check_rendered(&rendered("c.name = $1", 2), Dialect::Postgres, &input).is_err());
    assert!(check_rendered(
        &rendered("c.a = $2 AND c.b = $2", 2),
        Dialect::Postgres,
        &input
    )
    .is_err());
    assert_eq!(
        placeholders("a = ?1 AND b = ?12 AND '$.x'", Dialect::Sqlite),
        vec![1, 12]
    );
    assert_eq!(
        placeholders("a = $3 AND '$.x' AND b = $10", Dialect::Postgres),
        vec![3, 10]
    );
}
