-- Push devices registered by users.
CREATE TABLE devices (
    app_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    push_provider TEXT NOT NULL,
    push_provider_name TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (app_id, id)
);
CREATE INDEX devices_by_user ON devices (app_id, user_id);
