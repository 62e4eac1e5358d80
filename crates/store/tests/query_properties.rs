//! Property tests for the query language: random filters and sorts, parsed and rendered by eddy-query, run on SQLite and PostgreSQL and compared with a reference evaluator of Stream's semantics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use eddy_query::{
    parse_filter, parse_sort, render_filter, render_sort, Bind, Dialect, FieldKind, FieldSpec,
    Filter, Op, Rendered, Schema, SqlTarget,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest::test_runner::Config;
use serde_json::{json, Map, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{PgPool, Row as _, SqlitePool};
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The schema under test: every target kind the real schemas use except `Membership`/`Expr`.
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

/// Table `t (app_id, id, kind, n, flag, created_at, doc)`; custom keys `color`, `age`, `vip`,
/// `meta.level` live in `doc`. `banned` is a schema-typed boolean document key (like USERS.banned).
const SCHEMA: Schema = Schema {
    alias: "t",
    document: "doc",
    fields: &[
        field("id", FieldKind::Text, TEXT, SqlTarget::Column("id")),
        field("kind", FieldKind::Text, TEXT, SqlTarget::Column("kind")),
        field("n", FieldKind::Number, ORDERED, SqlTarget::Column("n")),
        field("flag", FieldKind::Bool, FLAG, SqlTarget::Column("flag")),
        field(
            "created_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("created_at"),
        ),
        field("name", FieldKind::Text, TEXT, SqlTarget::DocKey("name")),
        field("tags", FieldKind::TextList, SET, SqlTarget::DocKey("tags")),
        field("banned", FieldKind::Bool, FLAG, SqlTarget::DocKey("banned")),
    ],
    custom_fields: true,
};

const SORT_COLUMNS: &[(&str, SqlTarget)] = &[
    ("n", SqlTarget::Column("n")),
    ("name", SqlTarget::DocKey("name")),
];

const SQLITE_TABLE: &str = "CREATE TABLE t (app_id INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT, \
     n INTEGER, flag INTEGER NOT NULL, created_at TEXT, doc TEXT NOT NULL)";
const POSTGRES_TABLE: &str = "CREATE TEMP TABLE t (app_id BIGINT NOT NULL, id TEXT NOT NULL, \
     kind TEXT, n BIGINT, flag BOOLEAN NOT NULL, created_at TEXT, doc JSONB NOT NULL)";

const APP: i64 = 1;
/// Every row is also stored under this app (id prefixed `other:`); none of them may ever match.
const OTHER_APP: i64 = 2;

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Row {
    id: String,
    kind: Option<String>,
    n: Option<i64>,
    /// `NOT NULL` like the real `frozen`/`disabled` columns.
    flag: bool,
    created_at: Option<String>,
    doc: Map<String, Value>,
}

impl Row {
    fn column(&self, column: &str) -> Option<Value> {
        match column {
            "id" => Some(Value::from(self.id.clone())),
            "kind" => self.kind.clone().map(Value::from),
            "n" => self.n.map(Value::from),
            "flag" => Some(Value::from(self.flag)),
            "created_at" => self.created_at.clone().map(Value::from),
            other => panic!("no column {other}"),
        }
    }

    /// The document value at a dotted path; `None` when missing or JSON null.
    fn doc_key(&self, path: &str) -> Option<Value> {
        let mut parts = path.split('.');
        let mut current = self.doc.get(parts.next()?)?;
        for part in parts {
            current = current.as_object()?.get(part)?;
        }
        (!current.is_null()).then(|| current.clone())
    }

    fn to_json(&self) -> Value {
        json!({"id": self.id, "kind": self.kind, "n": self.n, "flag": self.flag,
               "created_at": self.created_at, "doc": self.doc})
    }
}

const ID_WORDS: &[&str] = &["al", "Al", "bob", "b_b", "c%d", "zed"];
const KINDS: &[&str] = &["messaging", "team", "Team", "live stream", "commerce"];
const NAMES: &[&str] = &[
    "john smith",
    "John",
    "jessica-x",
    "paul",
    "Mary Jo",
    "50% off",
    "a_b",
    "A\\b",
    "ann",
    "",
    "jo",
];
const TIMES: &[&str] = &[
    "2024-01-01T00:00:00.000000Z",
    "2024-01-02T12:00:00.000000Z",
    "2024-02-01T00:00:00.000000Z",
    "2025-01-01T00:00:00.000000Z",
];
const TAGS: &[&str] = &["a", "b", "c", "A"];
const COLORS: &[&str] = &["red", "green", "Red", "blue", "dark red"];

fn text(domain: &'static [&'static str]) -> BoxedStrategy<Value> {
    select(domain).prop_map(Value::from).boxed()
}

fn int(range: std::ops::RangeInclusive<i64>) -> BoxedStrategy<Value> {
    range.prop_map(Value::from).boxed()
}

/// A document slot: missing (`None`), JSON null, or a value.
fn slot(value: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(Value::Null)),
        6 => value.prop_map(Some),
    ]
    .boxed()
}

fn age_value() -> BoxedStrategy<Value> {
    prop_oneof![4 => int(-2..=4), 1 => Just(json!(1.5)), 1 => Just(json!(-0.5))].boxed()
}

fn tags_value() -> BoxedStrategy<Value> {
    vec(select(TAGS), 0..5)
        .prop_map(|tags| Value::from(tags.into_iter().map(Value::from).collect::<Vec<_>>()))
        .boxed()
}

fn row_strategy() -> impl Strategy<Value = Row> {
    let columns = (
        select(ID_WORDS),
        proptest::option::weighted(0.8, select(KINDS)),
        proptest::option::weighted(0.8, -3i64..=5),
        any::<bool>(),
        proptest::option::weighted(0.8, select(TIMES)),
    );
    let doc = (
        slot(text(NAMES)),
        slot(tags_value()),
        slot(any::<bool>().prop_map(Value::from).boxed()),
        slot(text(COLORS)),
        slot(age_value()),
        slot(any::<bool>().prop_map(Value::from).boxed()),
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            Just(Some(json!({}))),
            Just(Some(json!({"level": null}))),
            (0i64..=3).prop_map(|level| Some(json!({"level": level}))),
        ],
    );
    (columns, doc).prop_map(
        |((word, kind, n, flag, created_at), (name, tags, banned, color, age, vip, meta))| {
            let mut doc = Map::new();
            for (key, value) in [
                ("name", name),
                ("tags", tags),
                ("banned", banned),
                ("color", color),
                ("age", age),
                ("vip", vip),
                ("meta", meta),
            ] {
                if let Some(value) = value {
                    doc.insert(key.into(), value);
                }
            }
            Row {
                id: word.into(),
                kind: kind.map(Into::into),
                n,
                flag,
                created_at: created_at.map(Into::into),
                doc,
            }
        },
    )
}

fn rows_strategy() -> impl Strategy<Value = Vec<Row>> {
    vec(row_strategy(), 20..60).prop_map(|mut rows| {
        for (index, row) in rows.iter_mut().enumerate() {
            row.id = format!("{}-{index}", row.id);
        }
        rows
    })
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

// ---------------------------------------------------------------------------------------------
// Filters: JSON drawn from small domains, valid for each field's kind and operators.
// ---------------------------------------------------------------------------------------------

struct Gen {
    field: &'static str,
    ops: &'static [&'static str],
    /// A scalar of the field's own type.
    value: fn() -> BoxedStrategy<Value>,
    /// The operand of implicit equality and `$eq` (for `tags` also an array: the exact set).
    eq_value: fn() -> BoxedStrategy<Value>,
    /// Needles for `$autocomplete` and `$contains`.
    needles: &'static [&'static str],
    /// `null` is a valid `$eq` operand (matches missing or null).
    eq_null: bool,
    /// `null` is a valid `$ne` operand (custom fields accept any scalar).
    ne_null: bool,
}

const TEXT_OPS: &[&str] = &[
    "$eq",
    "$ne",
    "$in",
    "$nin",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$autocomplete",
    "$exists",
];
const ORDERED_OPS: &[&str] = &[
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists",
];
const FLAG_OPS: &[&str] = &["$eq", "$ne"];
const SET_OPS: &[&str] = &["$in", "$eq", "$nin", "$contains"];
const CUSTOM_TEXT_OPS: &[&str] = &[
    "$eq",
    "$ne",
    "$in",
    "$nin",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$autocomplete",
    "$exists",
    "$contains",
];
const CUSTOM_BOOL_OPS: &[&str] = &["$eq", "$ne", "$in", "$nin", "$exists"];

fn id_value() -> BoxedStrategy<Value> {
    text(&[
        "al-0", "al-1", "Al-2", "bob-3", "zed-5", "b", "bob", "c%d-4", "m",
    ])
}
fn kind_value() -> BoxedStrategy<Value> {
    prop_oneof![4 => text(KINDS), 1 => text(&["m", "t", "zz"])].boxed()
}
fn n_value() -> BoxedStrategy<Value> {
    prop_oneof![5 => int(-3..=6), 1 => Just(json!(2.5))].boxed()
}
fn bool_value() -> BoxedStrategy<Value> {
    any::<bool>().prop_map(Value::from).boxed()
}
fn time_value() -> BoxedStrategy<Value> {
    prop_oneof![4 => text(TIMES), 1 => text(&["2024-01-15", "2024-01-02T12:00:00.5Z"])].boxed()
}
fn name_value() -> BoxedStrategy<Value> {
    prop_oneof![4 => text(NAMES), 1 => text(&["k", "Mary", "b"])].boxed()
}
fn tag_value() -> BoxedStrategy<Value> {
    prop_oneof![4 => text(TAGS), 1 => Just(json!("z"))].boxed()
}
fn tags_eq_value() -> BoxedStrategy<Value> {
    prop_oneof![tag_value(), vec(tag_value(), 0..4).prop_map(Value::from),].boxed()
}
fn color_value() -> BoxedStrategy<Value> {
    prop_oneof![4 => text(COLORS), 1 => text(&["m", "g"])].boxed()
}
fn level_value() -> BoxedStrategy<Value> {
    int(-1..=4)
}

const GENS: &[Gen] = &[
    Gen {
        field: "id",
        ops: TEXT_OPS,
        value: id_value,
        eq_value: id_value,
        needles: &["a", "AL", "b_", "c%", "bo", "", "-1", "%", "_"],
        eq_null: true,
        ne_null: false,
    },
    Gen {
        field: "kind",
        ops: TEXT_OPS,
        value: kind_value,
        eq_value: kind_value,
        needles: &["te", "TE", "str", "me", "x", "live s", "s"],
        eq_null: true,
        ne_null: false,
    },
    Gen {
        field: "n",
        ops: ORDERED_OPS,
        value: n_value,
        eq_value: n_value,
        needles: &[],
        eq_null: true,
        ne_null: false,
    },
    Gen {
        field: "flag",
        ops: FLAG_OPS,
        value: bool_value,
        eq_value: bool_value,
        needles: &[],
        eq_null: false,
        ne_null: false,
    },
    Gen {
        field: "created_at",
        ops: ORDERED_OPS,
        value: time_value,
        eq_value: time_value,
        needles: &[],
        eq_null: true,
        ne_null: false,
    },
    Gen {
        field: "name",
        ops: TEXT_OPS,
        value: name_value,
        eq_value: name_value,
        needles: &[
            "j", "JO", "sm", "a_", "50%", "%", "_", "a\\", "pa", "", "m", "ary", "off", "x",
        ],
        eq_null: true,
        ne_null: false,
    },
    Gen {
        field: "tags",
        ops: SET_OPS,
        value: tag_value,
        eq_value: tags_eq_value,
        needles: &["a", "b", "c", "A", "z"],
        eq_null: true,
        ne_null: false,
    },
    Gen {
        field: "banned",
        ops: FLAG_OPS,
        value: bool_value,
        eq_value: bool_value,
        needles: &[],
        eq_null: false,
        ne_null: false,
    },
    Gen {
        field: "color",
        ops: CUSTOM_TEXT_OPS,
        value: color_value,
        eq_value: color_value,
        needles: &["r", "RE", "d", "dark r", "g", "red", "blue"],
        eq_null: true,
        ne_null: true,
    },
    Gen {
        field: "age",
        ops: ORDERED_OPS,
        value: age_value,
        eq_value: age_value,
        needles: &[],
        eq_null: true,
        ne_null: true,
    },
    Gen {
        field: "vip",
        ops: CUSTOM_BOOL_OPS,
        value: bool_value,
        eq_value: bool_value,
        needles: &[],
        eq_null: true,
        ne_null: true,
    },
    Gen {
        field: "meta.level",
        ops: ORDERED_OPS,
        value: level_value,
        eq_value: level_value,
        needles: &[],
        eq_null: true,
        ne_null: true,
    },
];

/// The value of `{field: <operand>}`: implicit equality, or an object of one or two operators.
fn operand(generator: &'static Gen) -> BoxedStrategy<Value> {
    let needles = if generator.needles.is_empty() {
        Just("").boxed()
    } else {
        select(generator.needles).boxed()
    };
    let one = (
        select(generator.ops),
        (generator.value)(),
        (generator.eq_value)(),
        vec((generator.value)(), 0..4),
        any::<bool>(),
        needles,
        0u8..8,
    )
        .prop_map(move |(op, value, eq_value, list, flag, needle, dice)| {
            let operand = match op {
                "$eq" if dice == 0 && generator.eq_null => Value::Null,
                "$ne" if dice == 0 && generator.ne_null => Value::Null,
                "$eq" => eq_value,
                "$in" | "$nin" => Value::from(list),
                "$exists" => Value::from(flag),
                "$autocomplete" | "$contains" => Value::from(needle),
                _ => value,
            };
            (op.to_string(), operand)
        });
    let implicit = ((generator.eq_value)(), 0u8..8).prop_map(move |(value, dice)| {
        if dice == 0 && generator.eq_null {
            Value::Null
        } else {
            value
        }
    });
    prop_oneof![
        3 => implicit,
        4 => one.clone().prop_map(|(op, operand)| json!({ op: operand })),
        1 => vec(one, 2..3).prop_map(|ops| Value::Object(ops.into_iter().collect())),
        // `{field: {}}` opts out of the condition.
        1 => Just(json!({})),
    ]
    .boxed()
}

fn entry() -> BoxedStrategy<(String, Value)> {
    Union::new(GENS.iter().map(|generator| {
        operand(generator)
            .prop_map(move |value| (generator.field.to_string(), value))
            .boxed()
    }))
    .boxed()
}

fn filter_strategy() -> BoxedStrategy<Value> {
    let leaf = vec(entry(), 1..3).prop_map(|entries| Value::Object(entries.into_iter().collect()));
    leaf.prop_recursive(3, 40, 4, |inner| {
        (
            vec(entry(), 0..3),
            vec(
                (select(&["$and", "$or", "$nor"][..]), vec(inner, 1..4)),
                0..3,
            ),
        )
            .prop_map(|(entries, groups)| {
                let mut object: Map<String, Value> = entries.into_iter().collect();
                for (group, children) in groups {
                    object.insert(group.into(), Value::from(children));
                }
                Value::Object(object)
            })
    })
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// The reference evaluator.
// ---------------------------------------------------------------------------------------------

/// The field's value on the row, `None` when missing or JSON null.
fn lookup(row: &Row, field: &str) -> Option<Value> {
    let spec = SCHEMA.field(field).expect("known field");
    match spec.target {
        SqlTarget::Column(column) => row.column(column),
        SqlTarget::DocKey("") => row.doc_key(field),
        SqlTarget::DocKey(key) => row.doc_key(key),
        other => panic!("target {other:?} not in the test schema"),
    }
}

fn same(left: &Value, right: &Value) -> bool {
    match (left.as_f64(), right.as_f64()) {
        (Some(a), Some(b)) if left.is_number() && right.is_number() => a == b,
        _ => left == right,
    }
}

fn order(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn autocomplete(value: &str, needle: &str) -> bool {
    let value = value.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    // A word starts the text or follows a space or one of the punctuation marks that separate words.
    value.starts_with(&needle)
        || [' ', '-', '_', '.', '@', '/']
            .iter()
            .any(|separator| value.contains(&format!("{separator}{needle}")))
}

fn many(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        single => vec![single.clone()],
    }
}

fn eval(filter: &Filter, row: &Row) -> bool {
    match filter {
        Filter::All => true,
        Filter::And(parts) => parts.iter().all(|part| eval(part, row)),
        Filter::Or(parts) => parts.iter().any(|part| eval(part, row)),
        Filter::Nor(parts) => !parts.iter().any(|part| eval(part, row)),
        Filter::Compare { field, op, value } => compare(field, *op, value, row),
    }
}

fn compare(field: &str, op: Op, value: &Value, row: &Row) -> bool {
    let spec = SCHEMA.field(field).expect("known field");
    let actual = lookup(row, field);
    if spec.kind == FieldKind::TextList || op == Op::Contains {
        // Array semantics; a missing, null or non-array value has no elements.
        let elements: Vec<Value> = match &actual {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let any = |wanted: &Value| many(wanted).iter().any(|w| elements.contains(w));
        return match op {
            Op::Eq if value.is_null() => actual.is_none(),
            Op::Eq if value.is_array() => {
                let have: BTreeSet<String> = elements.iter().map(Value::to_string).collect();
                let want: BTreeSet<String> = many(value).iter().map(Value::to_string).collect();
                have == want
            }
            Op::Eq | Op::In | Op::Contains => any(value),
            Op::Ne | Op::Nin => !any(value),
            other => panic!("{other:?} not generated for arrays"),
        };
    }
    // A schema boolean that was never set reads as false.
    let actual = match (spec.kind, op) {
        (FieldKind::Bool, Op::Eq | Op::Ne) => Some(actual.unwrap_or(Value::Bool(false))),
        _ => actual,
    };
    let equal = |wanted: &Value| match (&actual, wanted) {
        (None, Value::Null) => true,
        (Some(have), wanted) => same(have, wanted),
        (None, _) => false,
    };
    let ordered = |test: fn(Ordering) -> bool| {
        actual
            .as_ref()
            .and_then(|have| order(have, value))
            .is_some_and(test)
    };
    match op {
        Op::Eq => equal(value),
        Op::Ne => !equal(value),
        Op::Gt => ordered(Ordering::is_gt),
        Op::Gte => ordered(Ordering::is_ge),
        Op::Lt => ordered(Ordering::is_lt),
        Op::Lte => ordered(Ordering::is_le),
        Op::In => many(value).iter().any(equal),
        Op::Nin => !many(value).iter().any(equal),
        Op::Exists => actual.is_some() == value.as_bool().expect("boolean"),
        Op::Autocomplete => match (&actual, value) {
            (Some(Value::String(have)), Value::String(needle)) => autocomplete(have, needle),
            _ => false,
        },
        other => panic!("{other:?} is not generated for {field}"),
    }
}

/// Sort keys of a row: missing and null are `None` and always sort last.
fn sort_key(row: &Row, sort: &[eddy_query::SortField]) -> Vec<Option<Value>> {
    sort.iter()
        .map(|item| match item.field.as_str() {
            "n" => row.column("n"),
            "name" => row.doc_key("name"),
            custom => row.doc_key(custom),
        })
        .collect()
}

fn compare_keys(
    a: &[Option<Value>],
    b: &[Option<Value>],
    sort: &[eddy_query::SortField],
) -> Ordering {
    for ((left, right), item) in a.iter().zip(b).zip(sort) {
        let ordering = match (left, right) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(left), Some(right)) => {
                let ordering = order(left, right).expect("same JSON type");
                if item.direction < 0 {
                    ordering.reverse()
                } else {
                    ordering
                }
            }
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

/// Sort keys compare equal when they are the same numbers (1 and 1.0) or the same values.
fn keys_equal(a: &[Option<Value>], b: &[Option<Value>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (None, None) => true,
            (Some(left), Some(right)) => same(left, right),
            _ => false,
        })
}

// ---------------------------------------------------------------------------------------------
// Databases
// ---------------------------------------------------------------------------------------------

enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for value in $binds {
            query = match value {
                Bind::Text(text) => query.bind(text.clone()),
                Bind::Int(int) => query.bind(*int),
                Bind::Float(float) => query.bind(*float),
                Bind::Bool(flag) => query.bind(*flag),
                Bind::Null => query.bind(Option::<String>::None),
                Bind::Json(text) => query.bind(text.clone()),
            };
        }
        query
    }};
}

impl Db {
    async fn sqlite() -> Db {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::query(SQLITE_TABLE)
            .execute(&pool)
            .await
            .expect("create table");
        Db::Sqlite(pool)
    }

    /// `None` when PostgreSQL is unreachable and `EDDY_SKIP_POSTGRES=1`; panics otherwise.
    async fn postgres() -> Option<Db> {
        let url = std::env::var("EDDY_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let connected = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&url)
            .await;
        let pool = match connected {
            Ok(pool) => pool,
            Err(error) if std::env::var("EDDY_SKIP_POSTGRES").as_deref() == Ok("1") => {
                eprintln!("skipping the PostgreSQL property test (EDDY_SKIP_POSTGRES=1): {error}");
                return None;
            }
            Err(error) => panic!(
                "PostgreSQL is not reachable at {url}: {error}. Start it (trust auth, database \
                 `test`, user `postgres`) or set EDDY_SKIP_POSTGRES=1 to skip this test."
            ),
        };
        // A temp table on the pool's only connection: private to this run, gone when it ends.
        sqlx::query(POSTGRES_TABLE)
            .execute(&pool)
            .await
            .expect("create temp table");
        Some(Db::Postgres(pool))
    }

    fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Replaces the table's rows: each row under `APP` and a copy under `OTHER_APP`.
    async fn load(&self, rows: &[Row]) -> Result<(), sqlx::Error> {
        let copies = rows.iter().flat_map(|row| {
            [
                (APP, row.id.clone(), row),
                (OTHER_APP, format!("other:{}", row.id), row),
            ]
        });
        match self {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM t").execute(&mut *tx).await?;
                for (app, id, row) in copies {
                    sqlx::query("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                        .bind(app)
                        .bind(id)
                        .bind(row.kind.clone())
                        .bind(row.n)
                        .bind(row.flag)
                        .bind(row.created_at.clone())
                        .bind(Value::Object(row.doc.clone()).to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM t").execute(&mut *tx).await?;
                for (app, id, row) in copies {
                    sqlx::query("INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)")
                        .bind(app)
                        .bind(id)
                        .bind(row.kind.clone())
                        .bind(row.n)
                        .bind(row.flag)
                        .bind(row.created_at.clone())
                        .bind(Value::Object(row.doc.clone()).to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            }
        }
    }

    async fn ids(&self, sql: &str, binds: &[Bind]) -> Result<Vec<String>, sqlx::Error> {
        let rows = match self {
            Db::Sqlite(pool) => bind_all!(sqlx::query(sql), binds)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>(0))
                .collect::<Result<Vec<_>, _>>()?,
            Db::Postgres(pool) => bind_all!(sqlx::query(sql), binds)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>(0))
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(rows)
    }
}

/// `SELECT id FROM t WHERE app_id = <p1> AND <filter>`, the app bound first through `Rendered::bind`.
fn select_sql(filter: &Filter, dialect: Dialect) -> Rendered {
    let mut sql = Rendered::default();
    let app = sql.bind(dialect, Bind::Int(APP));
    sql.sql = format!("SELECT id FROM t WHERE app_id = {app} AND ");
    render_filter(filter, &SCHEMA, dialect, &mut sql).expect("render");
    sql
}

/// Runs one filter on the loaded rows and compares with the evaluator; `Err` describes a mismatch.
/// What the filter property saw, to show the generators produce selective filters.
#[derive(Debug, Default)]
struct Stats {
    filters: usize,
    matched_none: usize,
    matched_all: usize,
    matched_some: usize,
}

async fn check_filter(
    db: &Db,
    rows: &[Row],
    json: &Value,
    stats: &RefCell<Stats>,
) -> Result<(), String> {
    stats.borrow_mut().filters += 1;
    let filter = parse_filter(json, &SCHEMA)
        .map_err(|error| format!("generated filter {json} was refused: {error}"))?;
    let dialect = db.dialect();
    let rendered = select_sql(&filter, dialect);
    let got: BTreeSet<String> = db
        .ids(&rendered.sql, &rendered.binds)
        .await
        .map_err(|error| {
            format!(
                "filter {json}\nSQL {}\nbinds {:?}\nfailed: {error}",
                rendered.sql, rendered.binds
            )
        })?
        .into_iter()
        .collect();
    let want: BTreeSet<String> = rows
        .iter()
        .filter(|row| eval(&filter, row))
        .map(|row| row.id.clone())
        .collect();
    if got == want {
        let mut stats = stats.borrow_mut();
        match want.len() {
            0 => stats.matched_none += 1,
            count if count == rows.len() => stats.matched_all += 1,
            _ => stats.matched_some += 1,
        }
        return Ok(());
    }
    let describe = |ids: Vec<&String>| {
        ids.iter()
            .map(|id| match rows.iter().find(|row| &&row.id == id) {
                Some(row) => format!("  {}", row.to_json()),
                None => format!("  {id} (not a row of this app)"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Err(format!(
        "{:?}: filter {json}\nparsed {filter:?}\nSQL {}\nbinds {:?}\nreturned but not expected:\n{}\nexpected but not returned:\n{}",
        db.dialect(),
        rendered.sql,
        rendered.binds,
        describe(got.difference(&want).collect()),
        describe(want.difference(&got).collect()),
    ))
}

async fn check_sort(db: &Db, rows: &[Row], json: &Value) -> Result<(), String> {
    let sort = parse_sort(Some(json), &["n", "name"], true)
        .map_err(|error| format!("sort {json} was refused: {error}"))?;
    let dialect = db.dialect();
    let mut rendered = Rendered::default();
    let app = rendered.bind(dialect, Bind::Int(APP));
    rendered.sql = format!("SELECT id FROM t WHERE app_id = {app} ORDER BY ");
    render_sort(&sort, &SCHEMA, SORT_COLUMNS, dialect, &mut rendered).expect("render sort");
    let ids = db
        .ids(&rendered.sql, &rendered.binds)
        .await
        .map_err(|error| format!("sort {json}\nSQL {}\nfailed: {error}", rendered.sql))?;
    let by_id = |id: &String| rows.iter().find(|row| &row.id == id);
    let got: Vec<Vec<Option<Value>>> = ids
        .iter()
        .map(|id| by_id(id).map(|row| sort_key(row, &sort)).ok_or(id))
        .collect::<Result<_, _>>()
        .map_err(|id| format!("sort {json} returned foreign row {id}"))?;
    let mut want: Vec<Vec<Option<Value>>> = rows.iter().map(|row| sort_key(row, &sort)).collect();
    want.sort_by(|a, b| compare_keys(a, b, &sort));
    let equal = got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| keys_equal(a, b));
    if equal {
        return Ok(());
    }
    let show = |keys: &[Vec<Option<Value>>]| {
        keys.iter()
            .map(|key| {
                Value::from(
                    key.iter()
                        .map(|v| v.clone().unwrap_or(Value::Null))
                        .collect::<Vec<_>>(),
                )
                .to_string()
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    Err(format!(
        "{dialect:?}: sort {json}\nSQL {}\nbinds {:?}\ngot keys      {}\nexpected keys {}",
        rendered.sql,
        rendered.binds,
        show(&got),
        show(&want)
    ))
}

fn sort_strategy() -> impl Strategy<Value = Value> {
    vec(
        (
            select(&["n", "name", "age", "meta.level"][..]),
            prop_oneof![Just(1), Just(-1)],
        ),
        1..3,
    )
    .prop_map(|items| {
        Value::from(
            items
                .into_iter()
                .map(|(field, direction)| json!({"field": field, "direction": direction}))
                .collect::<Vec<_>>(),
        )
    })
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

const CASES: u32 = 200;

/// The filter property on one database: for each case, rows are loaded and several filters run.
fn filter_property(runtime: &tokio::runtime::Runtime, db: &Db) {
    let started = Instant::now();
    let stats = RefCell::new(Stats::default());
    proptest!(config(CASES), |(rows in rows_strategy(), filters in vec(filter_strategy(), 1..5))| {
        let outcome = runtime.block_on(async {
            // FIXME(eddy#3): on PostgreSQL a case now and then (about 1 run in 20) misses a row that
            // the same query finds on a fresh connection; until that is understood every case gets
            // its own connection and temp table.
            let fresh = match db {
                Db::Postgres(_) => Db::postgres().await,
                Db::Sqlite(_) => None,
            };
            let db = fresh.as_ref().unwrap_or(db);
            db.load(&rows).await.map_err(|error| format!("load: {error}"))?;
            for filter in &filters {
                check_filter(db, &rows, filter, &stats).await?;
            }
            if let Some(Db::Postgres(pool)) = &fresh {
                pool.close().await;
            }
            Ok::<(), String>(())
        });
        if let Err(message) = outcome {
            return Err(TestCaseError::fail(message));
        }
    });
    let stats = stats.into_inner();
    eprintln!(
        "{:?} filter property: {CASES} cases in {:?}: {stats:?}",
        db.dialect(),
        started.elapsed()
    );
    // The generators must keep producing selective filters, or the property proves little
    // (typically 35-45% of the compared filters select some but not all rows).
    assert!(
        stats.matched_some * 4 > stats.matched_none + stats.matched_all + stats.matched_some,
        "too few filters select some but not all rows: {stats:?}"
    );
}

fn sort_property(runtime: &tokio::runtime::Runtime, db: &Db) {
    let started = Instant::now();
    proptest!(config(CASES / 2), |(rows in rows_strategy(), sorts in vec(sort_strategy(), 1..4))| {
        let outcome = runtime.block_on(async {
            db.load(&rows).await.map_err(|error| format!("load: {error}"))?;
            for sort in &sorts {
                check_sort(db, &rows, sort).await?;
            }
            Ok::<(), String>(())
        });
        if let Err(message) = outcome {
            return Err(TestCaseError::fail(message));
        }
    });
    eprintln!(
        "{:?} sort property: {} cases in {:?}",
        db.dialect(),
        CASES / 2,
        started.elapsed()
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn sqlite_filters_agree_with_the_reference_evaluator() {
    let runtime = runtime();
    let db = runtime.block_on(Db::sqlite());
    filter_property(&runtime, &db);
}

#[test]
fn sqlite_sorts_put_missing_last_and_order_values() {
    let runtime = runtime();
    let db = runtime.block_on(Db::sqlite());
    sort_property(&runtime, &db);
}

#[test]
fn postgres_filters_agree_with_the_reference_evaluator() {
    let runtime = runtime();
    let Some(db) = runtime.block_on(Db::postgres()) else {
        return;
    };
    filter_property(&runtime, &db);
}

#[test]
fn postgres_sorts_put_missing_last_and_order_values() {
    let runtime = runtime();
    let Some(db) = runtime.block_on(Db::postgres()) else {
        return;
    };
    sort_property(&runtime, &db);
}

// ---------------------------------------------------------------------------------------------
// Regressions: renderer bugs the properties above found, one test each, asserting the right
// behaviour (all fixed).
// ---------------------------------------------------------------------------------------------

fn row(id: &str, doc: Value) -> Row {
    Row {
        id: id.into(),
        kind: None,
        n: None,
        flag: false,
        created_at: None,
        doc: doc.as_object().cloned().expect("a document object"),
    }
}

/// The ids `filter` selects from `rows` on `dialect`; `None` when PostgreSQL is skipped.
fn matching(dialect: Dialect, rows: &[Row], filter: Value) -> Option<BTreeSet<String>> {
    let runtime = runtime();
    runtime.block_on(async {
        let db = match dialect {
            Dialect::Sqlite => Db::sqlite().await,
            Dialect::Postgres => Db::postgres().await?,
        };
        db.load(rows).await.expect("load rows");
        let parsed = parse_filter(&filter, &SCHEMA).expect("valid filter");
        let rendered = select_sql(&parsed, dialect);
        let ids = db
            .ids(&rendered.sql, &rendered.binds)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "{dialect:?}: {filter} failed: {error}\nSQL {}",
                    rendered.sql
                )
            });
        Some(ids.into_iter().collect())
    })
}

/// Asserts `filter` selects exactly `expected` on SQLite and on PostgreSQL.
fn assert_selects(rows: &[Row], filter: Value, expected: &[&str]) {
    let expected: BTreeSet<String> = expected.iter().map(|id| id.to_string()).collect();
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        if let Some(got) = matching(dialect, rows, filter.clone()) {
            assert_eq!(got, expected, "{dialect:?}: {filter}");
        }
    }
}

// Was: `$nor` renders as `NOT (...)`, and a comparison with a missing value is SQL NULL,
// so `NOT (NULL)` drops rows that lack the field; Stream matches them (they don't match the inner
// filter). E.g. `NOT (json_extract(t.doc, ?2) = ?3)` or `NOT (t.n > ?2)` with `n` NULL.
// Render `$nor` as `(...) IS NOT TRUE` (or `NOT COALESCE((...), FALSE)`), in both dialects.
#[test]

fn regression_nor_matches_rows_missing_the_field() {
    let mut rows = vec![
        row("red", json!({"color": "red"})),
        row("blue", json!({"color": "blue"})),
        row("none", json!({})),
        row("null", json!({"color": null})),
    ];
    assert_selects(
        &rows,
        json!({"$nor": [{"color": "red"}]}),
        &["blue", "none", "null"],
    );
    rows[0].n = Some(5);
    rows[1].n = Some(1);
    assert_selects(
        &rows,
        json!({"$nor": [{"n": {"$gt": 3}}]}),
        &["blue", "none", "null"],
    );
    assert_selects(
        &rows,
        json!({"$nor": [{"color": {"$autocomplete": "r"}}]}),
        &["blue", "none", "null"],
    );
}

// Was: `$nin: []` renders `x NOT IN (NULL)`, which is NULL for every present value, so
// only rows missing the field match; an empty `$nin` excludes nothing and must match every row.
// (`$in: []` renders `x IN (NULL)`: right by accident, but NULL rather than false, see `$nor`.)
#[test]

fn regression_nin_with_an_empty_list_matches_every_row() {
    let mut rows = vec![row("one", json!({"age": 1})), row("none", json!({}))];
    rows[0].n = Some(1);
    rows[0].kind = Some("team".into());
    assert_selects(&rows, json!({"n": {"$nin": []}}), &["one", "none"]);
    assert_selects(&rows, json!({"kind": {"$nin": []}}), &["one", "none"]);
    assert_selects(&rows, json!({"age": {"$nin": []}}), &["one", "none"]);
}

// Was: `{"tags": null}` on an array field renders `EXISTS (... WHERE element IN (NULL))`,
// which never holds; `null` must match a missing or null array (as it does for other fields).
#[test]

fn regression_array_field_equal_to_null_matches_missing_arrays() {
    let rows = vec![
        row("tagged", json!({"tags": ["a"]})),
        row("null", json!({"tags": null})),
        row("none", json!({})),
    ];
    assert_selects(&rows, json!({"tags": null}), &["null", "none"]);
    assert_selects(&rows, json!({"tags": {"$eq": null}}), &["null", "none"]);
}

// Was: exact-set `$eq` on a document array checks "every given value is present" and
// "the stored array has no duplicates", not "the stored set equals the given set": supersets
// match (`["a"]` matches `["a","b"]`, `[]` matches any duplicate-free array), a stored array with
// duplicates never matches, and duplicates in the filter value (not deduplicated here, unlike the
// Membership target) never match. Dedup the values, then compare COUNT(DISTINCT element) of the
// stored array with their number. A missing or null array is taken as the empty set.
#[test]

fn regression_exact_set_equality_on_document_arrays() {
    let rows = vec![
        row("a", json!({"tags": ["a"]})),
        row("ab", json!({"tags": ["a", "b"]})),
        row("aa", json!({"tags": ["a", "a"]})),
        row("empty", json!({"tags": []})),
        row("none", json!({})),
    ];
    assert_selects(&rows, json!({"tags": ["a"]}), &["a", "aa"]);
    assert_selects(&rows, json!({"tags": {"$eq": ["a", "a"]}}), &["a", "aa"]);
    assert_selects(&rows, json!({"tags": ["b", "a"]}), &["ab"]);
    assert_selects(&rows, json!({"tags": []}), &["empty", "none"]);
}

// Was: the parser admits `$ne: null` on custom fields, but the renderer compares with a
// bound NULL: on SQLite `(x IS NULL OR x <> NULL)` matches only rows *missing* the field (the
// opposite), on PostgreSQL `x <> 'null'::jsonb` matches every row. It must mean "present and not
// null" (`x IS NOT NULL`), the negation of `{"color": null}`.
#[test]

fn regression_ne_null_matches_present_values() {
    let rows = vec![
        row("red", json!({"color": "red"})),
        row("null", json!({"color": null})),
        row("none", json!({})),
    ];
    assert_selects(&rows, json!({"color": {"$ne": null}}), &["red"]);
}

// Was: on SQLite, `$contains` on a custom key renders
// `json_each(json_extract(t.doc, ?2))`; when any row holds a string there, json_extract returns
// its text, which json_each rejects: the whole query fails with "malformed JSON". PostgreSQL
// (`CASE WHEN jsonb_typeof(...) = 'array' ...`) treats non-arrays as empty, as it should. Use
// `json_each(t.doc, path)` guarded by `json_type(t.doc, path) = 'array'` on SQLite.
#[test]

fn regression_sqlite_contains_on_scalar_custom_values() {
    let rows = vec![
        row("scalar", json!({"color": "red"})),
        row("array", json!({"color": ["red", "blue"]})),
        row("other", json!({"color": ["blue"]})),
    ];
    let got = matching(
        Dialect::Sqlite,
        &rows,
        json!({"color": {"$contains": "red"}}),
    )
    .expect("SQLite is always there");
    assert_eq!(got, BTreeSet::from(["array".to_string()]));
}

// Was: every array condition on a document key (`tags`/`teams`/`filter_tags` `$in`,
// `$nin`, `$contains`, implicit equality, exact set; custom `$contains`) renders
// `FROM (SELECT element FROM jsonb_array_elements_text(...) AS elements(element))` without an alias
// for the derived table, which PostgreSQL before 16 refuses ("subquery in FROM must have an
// alias"; the CI server here is 15). Add an alias (SQLite accepts one too).
#[test]

fn regression_postgres_array_subqueries_run_without_an_alias() {
    let rows = vec![
        row("a", json!({"tags": ["a", "b"]})),
        row("b", json!({"tags": ["b"]})),
    ];
    for filter in [
        json!({"tags": {"$contains": "a"}}),
        json!({"tags": "a"}),
        json!({"tags": {"$in": ["a", "z"]}}),
        json!({"tags": {"$nin": ["b"]}, "$or": [{"tags": ["a", "b"]}]}),
    ] {
        if let Some(got) = matching(Dialect::Postgres, &rows, filter.clone()) {
            let want: BTreeSet<String> = rows
                .iter()
                .filter(|row| eval(&parse_filter(&filter, &SCHEMA).unwrap(), row))
                .map(|row| row.id.clone())
                .collect();
            assert_eq!(got, want, "{filter}");
        }
    }
}

// Was: time fields are compared as text against the stored fixed format
// (`2024-01-02T12:00:00.000000Z`), but filter values are passed through as sent: any other RFC 3339
// spelling of the same instant (no fraction, milliseconds as JS `toISOString()` sends, an offset)
// compares wrongly. Normalise `FieldKind::Time` operands to the stored format (UTC, microseconds,
// `Z`) when parsing, and refuse what is not RFC 3339.
#[test]

fn regression_time_filters_compare_instants() {
    let mut noon = row("noon", json!({}));
    noon.created_at = Some("2024-01-02T12:00:00.000000Z".into());
    let rows = vec![noon];
    assert_selects(
        &rows,
        json!({"created_at": "2024-01-02T12:00:00Z"}),
        &["noon"],
    );
    assert_selects(
        &rows,
        json!({"created_at": {"$gte": "2024-01-02T12:00:00.000Z"}}),
        &["noon"],
    );
    assert_selects(
        &rows,
        json!({"created_at": {"$lt": "2024-01-02T14:00:00+02:00"}}),
        &[],
    );
    assert_selects(
        &rows,
        json!({"created_at": {"$lte": "2024-01-02T14:00:00+02:00"}}),
        &["noon"],
    );
}
