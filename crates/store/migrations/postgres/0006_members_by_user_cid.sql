-- Membership filters (`members: {$in: [...]}`) read a user's channel ids: with cid in the index they
-- are answered from the index alone (same index as SQLite's migration 0008).
CREATE INDEX members_by_user_cid ON members (app_id, user_id, cid);
DROP INDEX members_by_user;
