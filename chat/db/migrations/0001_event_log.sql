-- The append-only event log (§9.1). Rows are never updated or deleted.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1,
    payload    TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    chat_id    TEXT,
    turn_id    TEXT,
    actor      TEXT    NOT NULL DEFAULT 'system' CHECK (actor IN ('user', 'model', 'system'))
);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_turn ON events (turn_id, id) WHERE turn_id IS NOT NULL;
CREATE INDEX events_chat ON events (chat_id, id) WHERE chat_id IS NOT NULL;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable: the event log refuses UPDATE');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable: the event log refuses DELETE');
END;
