-- Push devices registered by users.
CREATE TABLE devices (
    app_id BIGINT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    push_provider TEXT NOT NULL,
    push_provider_name TEXT,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (app_id, id)
);
CREATE INDEX devices_by_user ON devices (app_id, user_id);
