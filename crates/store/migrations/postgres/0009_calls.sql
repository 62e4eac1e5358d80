-- Video: call types (custom ones and updated built-ins), calls and call members.
CREATE TABLE call_types (
    app_id BIGINT NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    doc JSONB NOT NULL DEFAULT '{}',
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE calls (
    app_id BIGINT NOT NULL,
    cid TEXT COLLATE "C" NOT NULL,
    type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    team TEXT COLLATE "C",
    backstage BOOLEAN NOT NULL DEFAULT FALSE,
    doc JSONB NOT NULL DEFAULT '{}',
    member_count BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 0,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    starts_at TEXT COLLATE "C",
    ended_at TEXT COLLATE "C",
    deleted_at TEXT COLLATE "C",
    PRIMARY KEY (app_id, cid)
);
CREATE INDEX calls_by_created ON calls (app_id, created_at);

CREATE TABLE call_members (
    app_id BIGINT NOT NULL,
    cid TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    doc JSONB NOT NULL DEFAULT '{}',
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (app_id, cid, user_id)
);
-- `members` filters of QueryCalls go from a user to their calls.
CREATE INDEX call_members_by_user ON call_members (app_id, user_id);
