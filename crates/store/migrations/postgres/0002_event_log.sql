-- Channel events kept for /sync (clients that were offline ask for what they missed).
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    app_id BIGINT NOT NULL,
    cid TEXT COLLATE "C" NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    body JSONB NOT NULL
);
CREATE INDEX events_by_channel ON events (app_id, cid, created_at);
