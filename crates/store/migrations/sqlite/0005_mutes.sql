-- User and channel mutes: who muted what, until when.
CREATE TABLE mutes (
    app_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (app_id, user_id, target_kind, target_id)
);
