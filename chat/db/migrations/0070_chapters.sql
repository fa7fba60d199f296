-- Chapters (§5.7): a summary of a stretch of a chat's transcript that no longer fits a
-- bot's prompt. One row per chapter (the text a person edits in the chat); each bot that
-- was present holds its own copy as a memory of kind 'chapter' (id '<chapter id>:<bot>').
-- first_event_id/last_event_id: the message_posted events of the first and last message
-- the chapter covers, so "the chapters for the part of the transcript a prompt leaves
-- out" is a range comparison on the chat's own order (messages are ordered by event id).
-- updated_event_id: the event that last set the text; a message of the range edited
-- after it makes the chapter stale (rewritten by the model unless a person pinned it).
CREATE TABLE chapters (
    id               TEXT PRIMARY KEY,
    world_id         TEXT NOT NULL,
    chat_id          TEXT NOT NULL,
    first_message_id TEXT NOT NULL,
    last_message_id  TEXT NOT NULL,
    first_event_id   INTEGER NOT NULL,
    last_event_id    INTEGER NOT NULL,
    message_count    INTEGER NOT NULL,
    text             TEXT NOT NULL,
    owners           TEXT NOT NULL,
    turn_id          TEXT,
    event_id         INTEGER NOT NULL,
    updated_event_id INTEGER NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX chapters_chat ON chapters (chat_id, last_event_id);
