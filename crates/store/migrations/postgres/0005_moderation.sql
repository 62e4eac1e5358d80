-- Bans (app-wide when cid is '', else from one channel) and flags (a user's report of a message or a user).
CREATE TABLE bans (
    app_id BIGINT NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    cid TEXT COLLATE "C" NOT NULL DEFAULT '',
    banned_by TEXT COLLATE "C",
    reason TEXT COLLATE "C",
    shadow BOOLEAN NOT NULL DEFAULT FALSE,
    ip_ban BOOLEAN NOT NULL DEFAULT FALSE,
    doc JSONB NOT NULL DEFAULT '{}',
    created_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C",
    PRIMARY KEY (app_id, user_id, cid)
);
CREATE INDEX bans_created ON bans (app_id, created_at);

CREATE TABLE flags (
    app_id BIGINT NOT NULL,
    reporter_id TEXT COLLATE "C" NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT COLLATE "C" NOT NULL,
    target_user_id TEXT COLLATE "C" NOT NULL,
    cid TEXT COLLATE "C",
    reason TEXT COLLATE "C",
    doc JSONB NOT NULL DEFAULT '{}',
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    reviewed_at TEXT COLLATE "C",
    reviewed_by TEXT COLLATE "C",
    PRIMARY KEY (app_id, reporter_id, target_kind, target_id)
);
CREATE INDEX flags_by_kind ON flags (app_id, target_kind, created_at);
CREATE INDEX flags_by_target_user ON flags (app_id, target_user_id);
