-- Each member row carries its channel's last_message_at, kept in step by sends and imports, so that a
-- user's channel list sorted by recent activity walks one index instead of sorting every channel
-- the user belongs to.
ALTER TABLE members ADD COLUMN channel_last_message_at TEXT;
UPDATE members SET channel_last_message_at =
    (SELECT c.last_message_at FROM channels c WHERE c.app_id = members.app_id AND c.cid = members.cid);
CREATE INDEX members_by_user_recent ON members (app_id, user_id, channel_last_message_at DESC, cid);
