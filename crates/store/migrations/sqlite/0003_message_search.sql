-- Full-text search over message text (FTS5), kept in step with messages by triggers.
CREATE VIRTUAL TABLE messages_fts USING fts5(text, content = '', contentless_delete = 1, tokenize = 'unicode61');

INSERT INTO messages_fts (rowid, text) SELECT rowid, COALESCE(json_extract(doc, '$.text'), '') FROM messages;

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, COALESCE(json_extract(new.doc, '$.text'), ''));
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF doc ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.rowid;
    INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, COALESCE(json_extract(new.doc, '$.text'), ''));
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.rowid;
END;
