-- Bans (app-wide when cid is '', else from one channel) and flags (a user's report of a message or a user).
CREATE TABLE bans (
    app_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    cid TEXT NOT NULL DEFAULT '',
    banned_by TEXT,
    reason TEXT,
    shadow INTEGER NOT NULL DEFAULT 0,
    ip_ban INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (app_id, user_id, cid)
);
CREATE INDEX bans_created ON bans (app_id, created_at);

CREATE TABLE flags (
    app_id INTEGER NOT NULL,
    reporter_id TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    target_user_id TEXT NOT NULL,
    cid TEXT,
    reason TEXT,
    doc TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    reviewed_at TEXT,
    reviewed_by TEXT,
    PRIMARY KEY (app_id, reporter_id, target_kind, target_id)
);
CREATE INDEX flags_by_kind ON flags (app_id, target_kind, created_at);
CREATE INDEX flags_by_target_user ON flags (app_id, target_user_id);
