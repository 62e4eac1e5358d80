-- Each member row carries its channel's last_message_at, kept in step by sends and imports, so that a
-- user's channel list sorted by recent activity walks one index instead of sorting every channel
-- the user belongs to (same index as SQLite's migration 0009).
ALTER TABLE members ADD COLUMN channel_last_message_at TEXT COLLATE "C";
UPDATE members m SET channel_last_message_at = c.last_message_at
    FROM channels c WHERE c.app_id = m.app_id AND c.cid = m.cid;
CREATE INDEX members_by_user_recent ON members (app_id, user_id, channel_last_message_at DESC NULLS LAST, cid);
