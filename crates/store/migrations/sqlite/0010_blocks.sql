-- User blocks (who blocked whom) and word blocklists that channel types screen messages with.
CREATE TABLE blocks (
    app_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    blocked_user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (app_id, user_id, blocked_user_id)
);
-- Send-time lookups go from the author to the users who blocked them.
CREATE INDEX blocks_by_blocked ON blocks (app_id, blocked_user_id);

CREATE TABLE blocklists (
    app_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    words TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, name)
);
