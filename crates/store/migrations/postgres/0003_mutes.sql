-- User and channel mutes: who muted what, until when.
CREATE TABLE mutes (
    app_id BIGINT NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C",
    PRIMARY KEY (app_id, user_id, target_kind, target_id)
);
