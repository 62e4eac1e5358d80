//! The filter and sort fields each query accepts (part of the contract), located by column or document key.

use eddy_query::{FieldKind, FieldSpec, Op, Schema, SqlTarget};

const EQUALITY: &[Op] = &[Op::Eq, Op::Ne, Op::In, Op::Nin];
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
/// Text that also takes `$q` (every word of the query starts a word of the value).
const TEXT_SEARCH: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::In,
    Op::Nin,
    Op::Gt,
    Op::Gte,
    Op::Lt,
    Op::Lte,
    Op::Autocomplete,
    Op::Q,
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
const RANGE: &[Op] = &[Op::Eq, Op::Gt, Op::Gte, Op::Lt, Op::Lte];
/// Fields Stream defines that eddy does not keep: refused by name rather than read as custom data.
const NOT_KEPT: &[Op] = &[];
const NAME_MATCH: &[Op] = &[Op::Eq, Op::In, Op::Autocomplete, Op::Q];
const INVITE_STATES: FieldKind = FieldKind::Choice(&["pending", "accepted", "rejected"]);
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

pub const USERS: Schema = Schema {
    alias: "u",
    document: "doc",
    fields: &[
        field("id", FieldKind::Text, TEXT, SqlTarget::Column("id")),
        field("role", FieldKind::Text, ORDERED, SqlTarget::Column("role")),
        field("name", FieldKind::Text, TEXT, SqlTarget::DocKey("name")),
        field(
            "username",
            FieldKind::Text,
            TEXT,
            SqlTarget::DocKey("username"),
        ),
        field("email", FieldKind::Text, TEXT, SqlTarget::DocKey("email")),
        field(
            "language",
            FieldKind::Text,
            EQUALITY,
            SqlTarget::DocKey("language"),
        ),
        field(
            "teams",
            FieldKind::TextList,
            SET,
            SqlTarget::DocKey("teams"),
        ),
        field("banned", FieldKind::Bool, FLAG, SqlTarget::DocKey("banned")),
        field(
            "shadow_banned",
            FieldKind::Bool,
            FLAG,
            SqlTarget::DocKey("shadow_banned"),
        ),
        field(
            "invisible",
            FieldKind::Bool,
            FLAG,
            SqlTarget::DocKey("invisible"),
        ),
        field(
            "bypass_moderation",
            FieldKind::Bool,
            FLAG,
            SqlTarget::DocKey("bypass_moderation"),
        ),
        // Presence lives in the realtime hub, not in rows: the chat layer rewrites `online` into an
        // `id` condition over the users online now before the query reaches SQL.
        field(
            "online",
            FieldKind::Bool,
            &[Op::Eq],
            SqlTarget::Column("online"),
        ),
        field(
            "created_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("created_at"),
        ),
        field(
            "updated_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("updated_at"),
        ),
        field(
            "last_active",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("last_active"),
        ),
    ],
    custom_fields: true,
};

pub const USER_SORT: &[(&str, SqlTarget)] = &[
    ("id", SqlTarget::Column("id")),
    ("created_at", SqlTarget::Column("created_at")),
    ("updated_at", SqlTarget::Column("updated_at")),
    ("last_active", SqlTarget::Column("last_active")),
    ("name", SqlTarget::DocKey("name")),
    ("role", SqlTarget::Column("role")),
];

/// `last_updated` is the later of the channel's creation and its last message.
pub const LAST_UPDATED: SqlTarget = SqlTarget::Expr {
    sqlite: "MAX(COALESCE(c.last_message_at, c.created_at), c.created_at)",
    postgres: "GREATEST(c.last_message_at, c.created_at)",
};

pub const CHANNELS: Schema = Schema {
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
                subquery:
                    "SELECT m.cid FROM members m WHERE m.app_id = {app} AND m.user_id IN ({values})",
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
            "disabled",
            FieldKind::Bool,
            FLAG,
            SqlTarget::Column("disabled"),
        ),
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
        field("last_updated", FieldKind::Time, ORDERED, LAST_UPDATED),
        field(
            "created_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("created_at"),
        ),
        field(
            "updated_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("updated_at"),
        ),
        field("team", FieldKind::Text, ORDERED, SqlTarget::DocKey("team")),
        field(
            "name",
            FieldKind::Text,
            TEXT_SEARCH,
            SqlTarget::DocKey("name"),
        ),
        field(
            "filter_tags",
            FieldKind::TextList,
            SET,
            SqlTarget::DocKey("filter_tags"),
        ),
        field("joined", FieldKind::Bool, FLAG, JOINED),
        field("pinned", FieldKind::Bool, FLAG, PINNED),
        field("archived", FieldKind::Bool, FLAG, ARCHIVED),
        field("has_unread", FieldKind::Bool, &[Op::Eq], HAS_UNREAD),
        field("channel_role", FieldKind::Text, EQUALITY, CHANNEL_ROLE),
        field("invite", INVITE_STATES, &[Op::Eq, Op::In], VIEWER_INVITE),
        field("muted", FieldKind::Bool, FLAG, MUTED),
        field(
            "app_banned",
            FieldKind::Choice(&["excluded", "only"]),
            &[Op::Eq],
            APP_BANNED,
        ),
        field(
            "distinct",
            FieldKind::Bool,
            FLAG,
            SqlTarget::Expr {
                sqlite: "(c.id LIKE '!members-%')",
                postgres: "(c.id LIKE '!members-%')",
            },
        ),
        field(
            "member.user.name",
            FieldKind::Text,
            NAME_MATCH,
            MEMBER_USER_NAME,
        ),
        field(
            "message_count",
            FieldKind::Number,
            NOT_KEPT,
            SqlTarget::Column("message_count"),
        ),
        field(
            "blocked",
            FieldKind::Bool,
            NOT_KEPT,
            SqlTarget::Column("blocked"),
        ),
    ],
    custom_fields: true,
};

/// The querying user's membership row of channel `c`, aliased `v`.
macro_rules! viewer_member {
    ($condition:literal) => {
        concat!("EXISTS (SELECT 1 FROM members v WHERE v.app_id = c.app_id AND v.cid = c.cid AND v.user_id = {viewer}", $condition, ")")
    };
}

macro_rules! viewer_value {
    ($value:expr) => {
        concat!(
            "(SELECT ",
            $value,
            " FROM members v WHERE v.app_id = c.app_id AND v.cid = c.cid AND v.user_id = {viewer})"
        )
    };
}

const JOINED: SqlTarget = SqlTarget::Viewer {
    sqlite: viewer_member!(" AND (json_extract(v.doc, '$.invited') IS NULL OR json_extract(v.doc, '$.invite_accepted_at') IS NOT NULL)"),
    postgres: viewer_member!(" AND (v.doc ->> 'invited' IS NULL OR v.doc ->> 'invite_accepted_at' IS NOT NULL)"),
};
const PINNED: SqlTarget = SqlTarget::Viewer {
    sqlite: viewer_member!(" AND json_extract(v.doc, '$.pinned_at') IS NOT NULL"),
    postgres: viewer_member!(" AND v.doc ->> 'pinned_at' IS NOT NULL"),
};
const ARCHIVED: SqlTarget = SqlTarget::Viewer {
    sqlite: viewer_member!(" AND json_extract(v.doc, '$.archived_at') IS NOT NULL"),
    postgres: viewer_member!(" AND v.doc ->> 'archived_at' IS NOT NULL"),
};
const HAS_UNREAD: SqlTarget = SqlTarget::Viewer {
    sqlite: viewer_member!(" AND v.unread_messages > 0"),
    postgres: viewer_member!(" AND v.unread_messages > 0"),
};
const CHANNEL_ROLE: SqlTarget = SqlTarget::Viewer {
    sqlite: viewer_value!("v.channel_role"),
    postgres: viewer_value!("v.channel_role"),
};
/// The invite state (`pending`, `accepted`, `rejected`) of a member document, as SQLite text
/// (`invite_case!(sqlite "m.doc")`) or PostgreSQL text (`invite_case!(postgres "m.doc")`).
macro_rules! invite_case {
    (sqlite $doc:literal) => {
        concat!(
            "(CASE WHEN json_extract(",
            $doc,
            ", '$.invite_rejected_at') IS NOT NULL THEN 'rejected'",
            " WHEN json_extract(",
            $doc,
            ", '$.invite_accepted_at') IS NOT NULL THEN 'accepted'",
            " WHEN json_extract(",
            $doc,
            ", '$.invited') IS NOT NULL THEN 'pending' END)"
        )
    };
    (postgres $doc:literal) => {
        concat!(
            "(CASE WHEN ",
            $doc,
            " ->> 'invite_rejected_at' IS NOT NULL THEN 'rejected'",
            " WHEN ",
            $doc,
            " ->> 'invite_accepted_at' IS NOT NULL THEN 'accepted'",
            " WHEN ",
            $doc,
            " ->> 'invited' IS NOT NULL THEN 'pending' END)"
        )
    };
}

/// The viewer's invite state in channel `c`.
const VIEWER_INVITE: SqlTarget = SqlTarget::Viewer {
    sqlite: viewer_value!(invite_case!(sqlite "v.doc")),
    postgres: viewer_value!(invite_case!(postgres "v.doc")),
};
/// A member's invite state.
const MEMBER_INVITE: SqlTarget = SqlTarget::Expr {
    sqlite: invite_case!(sqlite "m.doc"),
    postgres: invite_case!(postgres "m.doc"),
};
/// The viewer muted the channel, and the mute has not expired (times are fixed-width UTC text).
const MUTED: SqlTarget = SqlTarget::Viewer {
    sqlite: "EXISTS (SELECT 1 FROM mutes mu WHERE mu.app_id = c.app_id AND mu.user_id = {viewer} AND mu.target_kind = 'channel' AND mu.target_id = c.cid AND (mu.expires_at IS NULL OR mu.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
    postgres: "EXISTS (SELECT 1 FROM mutes mu WHERE mu.app_id = c.app_id AND mu.user_id = {viewer} AND mu.target_kind = 'channel' AND mu.target_id = c.cid AND (mu.expires_at IS NULL OR mu.expires_at > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')))",
};
/// `only` when another member of the channel is banned app-wide, else `excluded`.
const APP_BANNED: SqlTarget = SqlTarget::Viewer {
    sqlite: "(CASE WHEN EXISTS (SELECT 1 FROM members ab JOIN users ub ON ub.app_id = ab.app_id AND ub.id = ab.user_id WHERE ab.app_id = c.app_id AND ab.cid = c.cid AND ab.user_id <> {viewer} AND json_extract(ub.doc, '$.banned') = 1) THEN 'only' ELSE 'excluded' END)",
    postgres: "(CASE WHEN EXISTS (SELECT 1 FROM members ab JOIN users ub ON ub.app_id = ab.app_id AND ub.id = ab.user_id WHERE ab.app_id = c.app_id AND ab.cid = c.cid AND ab.user_id <> {viewer} AND ub.doc ->> 'banned' = 'true') THEN 'only' ELSE 'excluded' END)",
};
/// Some member's user name matches.
const MEMBER_USER_NAME: SqlTarget = SqlTarget::Related {
    sqlite: "EXISTS (SELECT 1 FROM members mn JOIN users un ON un.app_id = mn.app_id AND un.id = mn.user_id WHERE mn.app_id = c.app_id AND mn.cid = c.cid AND {condition})",
    postgres: "EXISTS (SELECT 1 FROM members mn JOIN users un ON un.app_id = mn.app_id AND un.id = mn.user_id WHERE mn.app_id = c.app_id AND mn.cid = c.cid AND {condition})",
    value_sqlite: "json_extract(un.doc, '$.name')",
    value_postgres: "(un.doc ->> 'name')",
};
const PINNED_AT: SqlTarget = SqlTarget::Viewer {
    sqlite: viewer_value!("json_extract(v.doc, '$.pinned_at')"),
    postgres: viewer_value!("(v.doc ->> 'pinned_at')"),
};
const UNREAD_COUNT: SqlTarget = SqlTarget::Viewer {
    sqlite: viewer_value!("v.unread_messages"),
    postgres: viewer_value!("v.unread_messages"),
};

pub const CHANNEL_SORT: &[(&str, SqlTarget)] = &[
    ("last_message_at", SqlTarget::Column("last_message_at")),
    ("last_updated", LAST_UPDATED),
    ("created_at", SqlTarget::Column("created_at")),
    ("updated_at", SqlTarget::Column("updated_at")),
    ("member_count", SqlTarget::Column("member_count")),
    ("cid", SqlTarget::Column("cid")),
    ("id", SqlTarget::Column("id")),
    ("pinned_at", PINNED_AT),
    ("unread_count", UNREAD_COUNT),
    ("has_unread", HAS_UNREAD),
];

/// Members of one channel, joined with their users (`u`) for name and activity.
pub const MEMBERS: Schema = Schema {
    alias: "m",
    document: "doc",
    fields: &[
        field("id", FieldKind::Text, TEXT, SqlTarget::Column("user_id")),
        field("user_id", FieldKind::Text, TEXT, SqlTarget::Column("user_id")),
        field("name", FieldKind::Text, TEXT_SEARCH, MEMBER_NAME),
        field(
            "user.email",
            FieldKind::Text,
            NAME_MATCH,
            SqlTarget::Expr { sqlite: "json_extract(u.doc, '$.email')", postgres: "(u.doc ->> 'email')" },
        ),
        field("cid", FieldKind::Text, &[Op::Eq, Op::In], SqlTarget::Column("cid")),
        field("banned", FieldKind::Bool, FLAG, SqlTarget::DocKey("banned")),
        field("shadow_banned", FieldKind::Bool, FLAG, SqlTarget::DocKey("shadow_banned")),
        field("notifications_muted", FieldKind::Bool, FLAG, SqlTarget::DocKey("notifications_muted")),
        field("invite", INVITE_STATES, &[Op::Eq, Op::In], MEMBER_INVITE),
        field("user.nd_deactivated", FieldKind::Bool, NOT_KEPT, SqlTarget::Column("deactivated")),
        field("channel_role", FieldKind::Text, EQUALITY, SqlTarget::Column("channel_role")),
        field(
            "is_moderator",
            FieldKind::Bool,
            FLAG,
            SqlTarget::Expr { sqlite: "(m.channel_role = 'channel_moderator')", postgres: "(m.channel_role = 'channel_moderator')" },
        ),
        field(
            "joined",
            FieldKind::Bool,
            FLAG,
            SqlTarget::Expr {
                sqlite: "(json_extract(m.doc, '$.invited') IS NULL OR json_extract(m.doc, '$.invite_accepted_at') IS NOT NULL)",
                postgres: "(m.doc ->> 'invited' IS NULL OR m.doc ->> 'invite_accepted_at' IS NOT NULL)",
            },
        ),
        field("created_at", FieldKind::Time, ORDERED, SqlTarget::Column("created_at")),
        field("updated_at", FieldKind::Time, ORDERED, SqlTarget::Column("updated_at")),
        field("last_active", FieldKind::Time, ORDERED, LAST_ACTIVE),
    ],
    custom_fields: true,
};

const MEMBER_NAME: SqlTarget = SqlTarget::Expr {
    sqlite: "json_extract(u.doc, '$.name')",
    postgres: "(u.doc ->> 'name')",
};
const LAST_ACTIVE: SqlTarget = SqlTarget::Expr {
    sqlite: "u.last_active",
    postgres: "u.last_active",
};

pub const MEMBER_SORT: &[(&str, SqlTarget)] = &[
    ("created_at", SqlTarget::Column("created_at")),
    ("updated_at", SqlTarget::Column("updated_at")),
    ("user_id", SqlTarget::Column("user_id")),
    ("name", MEMBER_NAME),
    ("last_active", LAST_ACTIVE),
];

/// Message search (`message_filter_conditions`) over messages aliased `m`.
pub const MESSAGES: Schema = Schema {
    alias: "m",
    document: "doc",
    fields: &[
        field(
            "text",
            FieldKind::Text,
            &[
                Op::Q,
                Op::Autocomplete,
                Op::Eq,
                Op::In,
                Op::Gt,
                Op::Gte,
                Op::Lt,
                Op::Lte,
                Op::Exists,
            ],
            SqlTarget::FullText {
                sqlite:
                    "m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {query})",
                postgres:
                    "to_tsvector('simple', m.doc ->> 'text') @@ plainto_tsquery('simple', {query})",
                text: "text",
                // bm25 is lower for better matches; negated so that higher is better in both.
                rank_sqlite: "-(SELECT bm25(messages_fts) FROM messages_fts WHERE messages_fts MATCH {query} AND rowid = m.rowid)",
                rank_postgres: "ts_rank(to_tsvector('simple', m.doc ->> 'text'), plainto_tsquery('simple', {query}), 1)",
            },
        ),
        field("id", FieldKind::Text, ORDERED, SqlTarget::Column("id")),
        field("cid", FieldKind::Text, ORDERED, SqlTarget::Column("cid")),
        field("type", FieldKind::Text, ORDERED, SqlTarget::Column("type")),
        field(
            "parent_id",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("parent_id"),
        ),
        field(
            "user_id",
            FieldKind::Text,
            EQUALITY,
            SqlTarget::Column("user_id"),
        ),
        field(
            "user.id",
            FieldKind::Text,
            EQUALITY,
            SqlTarget::Column("user_id"),
        ),
        field(
            "reply_count",
            FieldKind::Number,
            ORDERED,
            SqlTarget::Column("reply_count"),
        ),
        field(
            "attachments",
            FieldKind::Number,
            &[Op::Exists],
            SqlTarget::Expr {
                sqlite: "NULLIF(json_array_length(m.doc, '$.attachments'), 0)",
                postgres:
                    "NULLIF(jsonb_array_length(COALESCE(m.doc -> 'attachments', '[]'::jsonb)), 0)",
            },
        ),
        field(
            "attachments.type",
            FieldKind::Text,
            &[Op::Eq, Op::In],
            SqlTarget::Related {
                sqlite: "EXISTS (SELECT 1 FROM json_each(m.doc, '$.attachments') AS attachment WHERE json_type(attachment.value) = 'object' AND {condition})",
                postgres: "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.doc -> 'attachments') = 'array' THEN m.doc -> 'attachments' ELSE '[]'::jsonb END) AS attachment(value) WHERE {condition})",
                value_sqlite: "json_extract(attachment.value, '$.type')",
                value_postgres: "(attachment.value ->> 'type')",
            },
        ),
        field(
            "mentioned_users.id",
            FieldKind::TextList,
            &[Op::Contains, Op::In],
            SqlTarget::DocKey("mentioned_users"),
        ),
        field("pinned", FieldKind::Bool, FLAG, SqlTarget::DocKey("pinned")),
        field(
            "created_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("created_at"),
        ),
        field(
            "updated_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("updated_at"),
        ),
    ],
    custom_fields: true,
};

pub const MESSAGE_SORT: &[(&str, SqlTarget)] = &[
    ("id", SqlTarget::Column("id")),
    ("created_at", SqlTarget::Column("created_at")),
    ("updated_at", SqlTarget::Column("updated_at")),
    ("reply_count", SqlTarget::Column("reply_count")),
    ("text", SqlTarget::DocKey("text")),
];

/// QueryBannedUsers over bans aliased `b` (`cid` is `''` for an app-wide ban).
pub const BANS: Schema = Schema {
    alias: "b",
    document: "doc",
    fields: &[
        field(
            "user_id",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("user_id"),
        ),
        field(
            "banned_by_id",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("banned_by"),
        ),
        field(
            "channel_cid",
            FieldKind::Text,
            &[Op::Eq, Op::In, Op::Exists],
            SqlTarget::Expr {
                sqlite: "NULLIF(b.cid, '')",
                postgres: "NULLIF(b.cid, '')",
            },
        ),
        field("reason", FieldKind::Text, TEXT, SqlTarget::Column("reason")),
        field("shadow", FieldKind::Bool, FLAG, SqlTarget::Column("shadow")),
        field(
            "created_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("created_at"),
        ),
        field(
            "expires",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("expires_at"),
        ),
    ],
    custom_fields: false,
};

pub const BAN_SORT: &[(&str, SqlTarget)] = &[
    ("created_at", SqlTarget::Column("created_at")),
    ("user_id", SqlTarget::Column("user_id")),
    ("expires", SqlTarget::Column("expires_at")),
];

/// QueryMessageFlags over flags aliased `f`; `user_id` is the flagged message's author.
pub const FLAGS: Schema = Schema {
    alias: "f",
    document: "doc",
    fields: &[
        field(
            "channel_cid",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("cid"),
        ),
        field(
            "message_id",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("target_id"),
        ),
        field(
            "user_id",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("target_user_id"),
        ),
        field(
            "message_user_id",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("target_user_id"),
        ),
        field(
            "reporter_id",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("reporter_id"),
        ),
        field("reason", FieldKind::Text, TEXT, SqlTarget::Column("reason")),
        field(
            "is_reviewed",
            FieldKind::Bool,
            FLAG,
            SqlTarget::Expr {
                sqlite: "(f.reviewed_at IS NOT NULL)",
                postgres: "(f.reviewed_at IS NOT NULL)",
            },
        ),
        field(
            "created_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("created_at"),
        ),
    ],
    custom_fields: false,
};

pub const FLAG_SORT: &[(&str, SqlTarget)] = &[
    ("created_at", SqlTarget::Column("created_at")),
    ("updated_at", SqlTarget::Column("updated_at")),
];

/// The time of a thread's latest reply.
const THREAD_LAST_MESSAGE_AT: SqlTarget = SqlTarget::Expr {
    sqlite: "(SELECT MAX(r.created_at) FROM messages r WHERE r.app_id = m.app_id AND r.parent_id = m.id AND r.deleted_at IS NULL)",
    postgres: "(SELECT MAX(r.created_at) FROM messages r WHERE r.app_id = m.app_id AND r.parent_id = m.id AND r.deleted_at IS NULL)",
};
const THREAD_PARTICIPANT_COUNT: SqlTarget = SqlTarget::Expr {
    sqlite: "json_array_length(m.thread_participants)",
    postgres: "jsonb_array_length(m.thread_participants)",
};
/// Another user replied after the viewer last read the thread's channel (threads share their
/// channel's read state).
const THREAD_HAS_UNREAD: SqlTarget = SqlTarget::Viewer {
    sqlite: "EXISTS (SELECT 1 FROM messages r JOIN members v ON v.app_id = r.app_id AND v.cid = r.cid AND v.user_id = {viewer} WHERE r.app_id = m.app_id AND r.parent_id = m.id AND r.deleted_at IS NULL AND r.user_id <> v.user_id AND r.created_at > v.last_read)",
    postgres: "EXISTS (SELECT 1 FROM messages r JOIN members v ON v.app_id = r.app_id AND v.cid = r.cid AND v.user_id = {viewer} WHERE r.app_id = m.app_id AND r.parent_id = m.id AND r.deleted_at IS NULL AND r.user_id <> v.user_id AND r.created_at > v.last_read)",
};

/// QueryThreads over thread parents: messages aliased `m` with replies.
pub const THREADS: Schema = Schema {
    alias: "m",
    document: "doc",
    fields: &[
        field("channel_cid", FieldKind::Text, &[Op::Eq, Op::In], SqlTarget::Column("cid")),
        field("parent_message_id", FieldKind::Text, &[Op::Eq, Op::In], SqlTarget::Column("id")),
        field("created_by_user_id", FieldKind::Text, &[Op::Eq, Op::In], SqlTarget::Column("user_id")),
        field(
            "channel.team",
            FieldKind::Text,
            &[Op::Eq, Op::In],
            SqlTarget::Related {
                sqlite: "EXISTS (SELECT 1 FROM channels tc WHERE tc.app_id = m.app_id AND tc.cid = m.cid AND {condition})",
                postgres: "EXISTS (SELECT 1 FROM channels tc WHERE tc.app_id = m.app_id AND tc.cid = m.cid AND {condition})",
                value_sqlite: "json_extract(tc.doc, '$.team')",
                value_postgres: "(tc.doc ->> 'team')",
            },
        ),
        field(
            "channel.disabled",
            FieldKind::Bool,
            &[Op::Eq],
            SqlTarget::Expr {
                sqlite: "(SELECT tc.disabled FROM channels tc WHERE tc.app_id = m.app_id AND tc.cid = m.cid)",
                postgres: "(SELECT tc.disabled FROM channels tc WHERE tc.app_id = m.app_id AND tc.cid = m.cid)",
            },
        ),
        field("has_unread", FieldKind::Bool, &[Op::Eq], THREAD_HAS_UNREAD),
        field("created_at", FieldKind::Time, RANGE, SqlTarget::Column("created_at")),
        field("updated_at", FieldKind::Time, RANGE, SqlTarget::Column("updated_at")),
        field("last_message_at", FieldKind::Time, RANGE, THREAD_LAST_MESSAGE_AT),
        field("reply_count", FieldKind::Number, RANGE, SqlTarget::Column("reply_count")),
        field("participant_count", FieldKind::Number, RANGE, THREAD_PARTICIPANT_COUNT),
        field("active_participant_count", FieldKind::Number, RANGE, THREAD_PARTICIPANT_COUNT),
    ],
    custom_fields: false,
};

pub const THREAD_SORT: &[(&str, SqlTarget)] = &[
    ("has_unread", THREAD_HAS_UNREAD),
    ("last_message_at", THREAD_LAST_MESSAGE_AT),
    ("created_at", SqlTarget::Column("created_at")),
    ("updated_at", SqlTarget::Column("updated_at")),
    ("reply_count", SqlTarget::Column("reply_count")),
    ("participant_count", THREAD_PARTICIPANT_COUNT),
    ("active_participant_count", THREAD_PARTICIPANT_COUNT),
    ("parent_message_id", SqlTarget::Column("id")),
];

/// Video calls (QueryCalls), aliased `c`; `custom.<key>` reads the call's custom data.
pub const CALLS: Schema = Schema {
    alias: "c",
    document: "doc",
    fields: &[
        field("id", FieldKind::Text, TEXT, SqlTarget::Column("id")),
        field("cid", FieldKind::Text, ORDERED, SqlTarget::Column("cid")),
        field("type", FieldKind::Text, ORDERED, SqlTarget::Column("type")),
        field("team", FieldKind::Text, ORDERED, SqlTarget::Column("team")),
        field(
            "created_by_user_id",
            FieldKind::Text,
            ORDERED,
            SqlTarget::Column("created_by"),
        ),
        field(
            "backstage",
            FieldKind::Bool,
            FLAG,
            SqlTarget::Column("backstage"),
        ),
        field(
            "members",
            FieldKind::TextList,
            &[Op::In, Op::Eq, Op::Nin],
            SqlTarget::Membership {
                key: "c.cid",
                subquery: "SELECT cm.cid FROM call_members cm WHERE cm.app_id = {app} AND cm.user_id IN ({values})",
                count_column: "c.member_count",
            },
        ),
        field("ongoing", FieldKind::Bool, FLAG, ONGOING),
        field(
            "created_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("created_at"),
        ),
        field(
            "updated_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("updated_at"),
        ),
        field(
            "starts_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("starts_at"),
        ),
        field(
            "ended_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("ended_at"),
        ),
    ],
    custom_fields: true,
};

/// A session has started and not ended (sessions start on the media server's first join).
const ONGOING: SqlTarget = SqlTarget::Expr {
    sqlite: "(json_extract(c.doc, '$.session.started_at') IS NOT NULL AND json_extract(c.doc, '$.session.ended_at') IS NULL AND c.ended_at IS NULL)",
    postgres: "(c.doc #>> '{session,started_at}' IS NOT NULL AND c.doc #>> '{session,ended_at}' IS NULL AND c.ended_at IS NULL)",
};

pub const CALL_SORT: &[(&str, SqlTarget)] = &[
    ("starts_at", SqlTarget::Column("starts_at")),
    ("created_at", SqlTarget::Column("created_at")),
    ("updated_at", SqlTarget::Column("updated_at")),
    ("ended_at", SqlTarget::Column("ended_at")),
    ("type", SqlTarget::Column("type")),
    ("id", SqlTarget::Column("id")),
    ("cid", SqlTarget::Column("cid")),
];

/// Members of one video call (QueryCallMembers), aliased `m`; `custom.<key>` reads their custom data.
pub const CALL_MEMBERS: Schema = Schema {
    alias: "m",
    document: "doc",
    fields: &[
        field(
            "user_id",
            FieldKind::Text,
            TEXT,
            SqlTarget::Column("user_id"),
        ),
        field("role", FieldKind::Text, ORDERED, SqlTarget::Column("role")),
        field(
            "created_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("created_at"),
        ),
        field(
            "updated_at",
            FieldKind::Time,
            ORDERED,
            SqlTarget::Column("updated_at"),
        ),
    ],
    custom_fields: true,
};

pub const CALL_MEMBER_SORT: &[(&str, SqlTarget)] = &[
    ("user_id", SqlTarget::Column("user_id")),
    ("created_at", SqlTarget::Column("created_at")),
    ("updated_at", SqlTarget::Column("updated_at")),
];
