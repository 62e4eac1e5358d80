//! The filter and sort fields each query accepts (part of the contract), with their SQL targets for the SQL backends.

use eddy_query::{FieldKind, FieldSpec, Op, Schema, SqlTarget};

const EQUALITY: &[Op] = &[Op::Eq, Op::Ne, Op::In, Op::Nin];
const TEXT: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::In,
    Op::Nin,
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

pub const USERS: Schema = Schema {
    fields: &[
        FieldSpec {
            name: "id",
            kind: FieldKind::Text,
            ops: TEXT,
            target: SqlTarget::Column("u.id"),
        },
        FieldSpec {
            name: "role",
            kind: FieldKind::Text,
            ops: EQUALITY,
            target: SqlTarget::Column("u.role"),
        },
        FieldSpec {
            name: "name",
            kind: FieldKind::Text,
            ops: TEXT,
            target: SqlTarget::Column("json_extract(u.doc, '$.name')"),
        },
        FieldSpec {
            name: "teams",
            kind: FieldKind::TextList,
            ops: &[Op::In, Op::Eq, Op::Contains],
            target: SqlTarget::JsonArray("json_extract(u.doc, '$.teams')"),
        },
        FieldSpec {
            name: "banned",
            kind: FieldKind::Bool,
            ops: FLAG,
            target: SqlTarget::Column("COALESCE(json_extract(u.doc, '$.banned'), 0)"),
        },
        FieldSpec {
            name: "created_at",
            kind: FieldKind::Time,
            ops: ORDERED,
            target: SqlTarget::Column("u.created_at"),
        },
        FieldSpec {
            name: "updated_at",
            kind: FieldKind::Time,
            ops: ORDERED,
            target: SqlTarget::Column("u.updated_at"),
        },
        FieldSpec {
            name: "last_active",
            kind: FieldKind::Time,
            ops: ORDERED,
            target: SqlTarget::Column("u.last_active"),
        },
    ],
    custom_document: Some("u.doc"),
};

pub const USER_SORT: &[(&str, &str)] = &[
    ("id", "u.id"),
    ("created_at", "u.created_at"),
    ("updated_at", "u.updated_at"),
    ("last_active", "u.last_active"),
    ("name", "json_extract(u.doc, '$.name')"),
    ("role", "u.role"),
];

pub const CHANNELS: Schema = Schema {
    fields: &[
        FieldSpec { name: "type", kind: FieldKind::Text, ops: EQUALITY, target: SqlTarget::Column("c.type") },
        FieldSpec { name: "id", kind: FieldKind::Text, ops: TEXT, target: SqlTarget::Column("c.id") },
        FieldSpec { name: "cid", kind: FieldKind::Text, ops: EQUALITY, target: SqlTarget::Column("c.cid") },
        FieldSpec {
            name: "members",
            kind: FieldKind::TextList,
            ops: &[Op::In, Op::Eq, Op::Nin],
            target: SqlTarget::Membership {
                key: "c.cid",
                subquery: "SELECT m.cid FROM members m WHERE m.app_id = c.app_id AND m.user_id IN ({values})",
                count_column: "c.member_count",
            },
        },
        FieldSpec { name: "created_by_id", kind: FieldKind::Text, ops: EQUALITY, target: SqlTarget::Column("c.created_by") },
        FieldSpec { name: "frozen", kind: FieldKind::Bool, ops: FLAG, target: SqlTarget::Column("c.frozen") },
        FieldSpec { name: "disabled", kind: FieldKind::Bool, ops: FLAG, target: SqlTarget::Column("c.disabled") },
        FieldSpec { name: "member_count", kind: FieldKind::Number, ops: ORDERED, target: SqlTarget::Column("c.member_count") },
        FieldSpec { name: "last_message_at", kind: FieldKind::Time, ops: ORDERED, target: SqlTarget::Column("c.last_message_at") },
        FieldSpec { name: "created_at", kind: FieldKind::Time, ops: ORDERED, target: SqlTarget::Column("c.created_at") },
        FieldSpec { name: "updated_at", kind: FieldKind::Time, ops: ORDERED, target: SqlTarget::Column("c.updated_at") },
        FieldSpec { name: "team", kind: FieldKind::Text, ops: EQUALITY, target: SqlTarget::Column("json_extract(c.doc, '$.team')") },
        FieldSpec { name: "name", kind: FieldKind::Text, ops: TEXT, target: SqlTarget::Column("json_extract(c.doc, '$.name')") },
    ],
    custom_document: Some("c.doc"),
};

/// `last_updated` is the later of the last message and the last channel update.
pub const LAST_UPDATED: &str = "MAX(COALESCE(c.last_message_at, c.updated_at), c.updated_at)";

pub const CHANNEL_SORT: &[(&str, &str)] = &[
    ("last_message_at", "c.last_message_at"),
    ("last_updated", LAST_UPDATED),
    ("created_at", "c.created_at"),
    ("updated_at", "c.updated_at"),
    ("member_count", "c.member_count"),
    ("cid", "c.cid"),
    ("id", "c.id"),
];
