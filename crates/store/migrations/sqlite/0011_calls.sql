-- Video: call types (custom ones and updated built-ins), calls and call members.
CREATE TABLE call_types (
    app_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE calls (
    app_id INTEGER NOT NULL,
    cid TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    team TEXT,
    backstage INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL DEFAULT '{}',
    member_count INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    starts_at TEXT,
    ended_at TEXT,
    deleted_at TEXT,
    PRIMARY KEY (app_id, cid)
);
CREATE INDEX calls_by_created ON calls (app_id, created_at);

CREATE TABLE call_members (
    app_id INTEGER NOT NULL,
    cid TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    doc TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, cid, user_id)
);
-- `members` filters of QueryCalls go from a user to their calls.
CREATE INDEX call_members_by_user ON call_members (app_id, user_id);
