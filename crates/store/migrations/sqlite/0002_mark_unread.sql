-- Read state after mark-unread: the first message counted unread again.
ALTER TABLE members ADD COLUMN first_unread_message_id TEXT;
