-- eddy's embedded schema: entities as JSON documents beside the columns that queries and indexes need.
CREATE TABLE apps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key TEXT NOT NULL UNIQUE,
    api_secret TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);

CREATE TABLE channel_types (
    app_id INTEGER NOT NULL REFERENCES apps(id),
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE users (
    app_id INTEGER NOT NULL REFERENCES apps(id),
    id TEXT NOT NULL,
    role TEXT NOT NULL,
    doc TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_active TEXT,
    deactivated_at TEXT,
    deleted_at TEXT,
    PRIMARY KEY (app_id, id)
);
CREATE INDEX users_created ON users (app_id, created_at);

CREATE TABLE channels (
    app_id INTEGER NOT NULL REFERENCES apps(id),
    cid TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    created_by TEXT,
    doc TEXT NOT NULL DEFAULT '{}',
    frozen INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    member_count INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_message_at TEXT,
    truncated_at TEXT,
    deleted_at TEXT,
    PRIMARY KEY (app_id, cid)
);
CREATE INDEX channels_last_message ON channels (app_id, last_message_at);

CREATE TABLE members (
    app_id INTEGER NOT NULL,
    cid TEXT NOT NULL,
    user_id TEXT NOT NULL,
    channel_role TEXT NOT NULL,
    doc TEXT NOT NULL DEFAULT '{}',
    hidden INTEGER NOT NULL DEFAULT 0,
    hide_messages_before TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_read TEXT NOT NULL,
    last_read_message_id TEXT,
    unread_messages INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, cid, user_id)
);
CREATE INDEX members_by_user ON members (app_id, user_id);

CREATE TABLE messages (
    app_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    cid TEXT NOT NULL,
    parent_id TEXT,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    show_in_channel INTEGER NOT NULL DEFAULT 0,
    reply_count INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL DEFAULT '{}',
    reaction_groups TEXT NOT NULL DEFAULT '{}',
    latest_reactions TEXT NOT NULL DEFAULT '[]',
    thread_participants TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (app_id, id)
);
CREATE INDEX messages_by_channel ON messages (app_id, cid, created_at);
CREATE INDEX messages_by_parent ON messages (app_id, parent_id, created_at);

CREATE TABLE reactions (
    app_id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    score INTEGER NOT NULL DEFAULT 1,
    doc TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, message_id, user_id, type)
);
CREATE INDEX reactions_by_message ON reactions (app_id, message_id, created_at);
