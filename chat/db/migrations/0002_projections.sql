-- Projection tables: every row here is a fold of the event log (§9.3).
-- They can be dropped and rebuilt at any time; snapshots hold exactly these.

CREATE TABLE projection_state (
    name           TEXT PRIMARY KEY,
    last_event_id  INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    needs_rebuild  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE bots (
    id                          TEXT PRIMARY KEY,
    name                        TEXT NOT NULL,
    persona                     TEXT NOT NULL,
    voice_samples               TEXT NOT NULL,
    traits                      TEXT NOT NULL,
    backstory                   TEXT NOT NULL,
    initial_relationship_to_you TEXT NOT NULL,
    kickoff_prose               TEXT NOT NULL,
    extra                       TEXT NOT NULL,
    retired                     INTEGER NOT NULL DEFAULT 0,
    created_event_id            INTEGER NOT NULL,
    updated_event_id            INTEGER NOT NULL
);

CREATE TABLE entities (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    aliases        TEXT NOT NULL,
    description    TEXT NOT NULL,
    facts          TEXT NOT NULL,
    first_event_id INTEGER NOT NULL,
    last_event_id  INTEGER NOT NULL
);

CREATE TABLE edges (
    src              TEXT NOT NULL,
    dst              TEXT NOT NULL,
    label            TEXT NOT NULL,
    affinity         INTEGER NOT NULL,
    trust            INTEGER NOT NULL,
    notes            TEXT NOT NULL,
    updated_event_id INTEGER NOT NULL,
    PRIMARY KEY (src, dst)
);

CREATE TABLE edge_history (
    event_id   INTEGER NOT NULL,
    src        TEXT NOT NULL,
    dst        TEXT NOT NULL,
    label      TEXT NOT NULL,
    affinity   INTEGER NOT NULL,
    trust      INTEGER NOT NULL,
    notes      TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (event_id, src, dst)
);
CREATE INDEX edge_history_pair ON edge_history (src, dst, event_id);

CREATE TABLE memories (
    id                TEXT PRIMARY KEY,
    owner             TEXT NOT NULL,
    text              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    importance        INTEGER NOT NULL,
    about             TEXT NOT NULL,
    turn_id           TEXT,
    event_id          INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    last_retrieved_at TEXT NOT NULL
);
CREATE INDEX memories_owner ON memories (owner);

CREATE VIRTUAL TABLE memories_fts USING fts5 (
    text, content='memories', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, new.text);
END;

CREATE TABLE reflection_state (
    bot_id                     TEXT PRIMARY KEY,
    importance_since           INTEGER NOT NULL,
    last_reflection_event_id   INTEGER NOT NULL
);

CREATE TABLE world_facts (
    key              TEXT PRIMARY KEY,
    value            TEXT NOT NULL,
    updated_event_id INTEGER NOT NULL
);

CREATE TABLE scenes (
    chat_id          TEXT PRIMARY KEY,
    location         TEXT NOT NULL,
    present          TEXT NOT NULL,
    updated_event_id INTEGER NOT NULL
);

CREATE TABLE pins (
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (target_type, target_id, field)
);

CREATE TABLE item_history (
    event_id    INTEGER NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    old_value   TEXT,
    new_value   TEXT,
    actor       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (event_id, target_type, target_id, field)
);
CREATE INDEX item_history_target ON item_history (target_type, target_id, event_id);

CREATE TABLE chats (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL,
    bot_ids          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    created_event_id INTEGER NOT NULL
);

CREATE TABLE messages (
    id         TEXT PRIMARY KEY,
    chat_id    TEXT NOT NULL,
    author     TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    turn_id    TEXT,
    event_id   INTEGER NOT NULL,
    alt_group  TEXT NOT NULL,
    chosen     INTEGER NOT NULL,
    edited     INTEGER NOT NULL DEFAULT 0,
    deleted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_chat ON messages (chat_id, event_id);
CREATE INDEX messages_group ON messages (alt_group);

CREATE TABLE turns (
    id               TEXT PRIMARY KEY,
    chat_id          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    error            TEXT,
    user_message_id  TEXT,
    message_ids      TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_event_id INTEGER NOT NULL
);
CREATE INDEX turns_chat ON turns (chat_id, created_at);
