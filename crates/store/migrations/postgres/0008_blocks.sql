-- User blocks (who blocked whom) and word blocklists that channel types screen messages with.
CREATE TABLE blocks (
    app_id BIGINT NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    blocked_user_id TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (app_id, user_id, blocked_user_id)
);
-- Send-time lookups go from the author to the users who blocked them.
CREATE INDEX blocks_by_blocked ON blocks (app_id, blocked_user_id);

CREATE TABLE blocklists (
    app_id BIGINT NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    words JSONB NOT NULL DEFAULT '[]',
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (app_id, name)
);
