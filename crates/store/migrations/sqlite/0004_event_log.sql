-- Channel events kept for /sync (clients that were offline ask for what they missed).
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id INTEGER NOT NULL,
    cid TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_by_channel ON events (app_id, cid, created_at);
