-- Worlds (§3.5) and personas (§3.6). Every world-scoped projection table gets a world_id;
-- tables whose key changes are recreated empty (projections are derived: the bumped
-- PROJECTION_VERSION makes the next start rebuild them from the log).

CREATE TABLE worlds (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    scenario         TEXT NOT NULL,
    archived         INTEGER NOT NULL DEFAULT 0,
    created_event_id INTEGER NOT NULL,
    updated_event_id INTEGER NOT NULL
);

CREATE TABLE personas (
    scope            TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    updated_event_id INTEGER NOT NULL
);

DROP TABLE entities;
CREATE TABLE entities (
    world_id       TEXT NOT NULL,
    id             TEXT NOT NULL,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    aliases        TEXT NOT NULL,
    description    TEXT NOT NULL,
    facts          TEXT NOT NULL,
    first_event_id INTEGER NOT NULL,
    last_event_id  INTEGER NOT NULL,
    PRIMARY KEY (world_id, id)
);
CREATE INDEX entities_id ON entities (id);

DROP TABLE edges;
CREATE TABLE edges (
    world_id         TEXT NOT NULL,
    src              TEXT NOT NULL,
    dst              TEXT NOT NULL,
    label            TEXT NOT NULL,
    affinity         INTEGER NOT NULL,
    trust            INTEGER NOT NULL,
    notes            TEXT NOT NULL,
    updated_event_id INTEGER NOT NULL,
    PRIMARY KEY (world_id, src, dst)
);

ALTER TABLE edge_history ADD COLUMN world_id TEXT NOT NULL DEFAULT 'default';
DROP INDEX edge_history_pair;
CREATE INDEX edge_history_pair ON edge_history (world_id, src, dst, event_id);

ALTER TABLE memories ADD COLUMN world_id TEXT NOT NULL DEFAULT 'default';
DROP INDEX memories_owner;
DROP INDEX memories_owner_recency;
DROP INDEX memories_owner_importance;
CREATE INDEX memories_owner ON memories (world_id, owner);
CREATE INDEX memories_owner_recency ON memories (world_id, owner, last_retrieved_at);
CREATE INDEX memories_owner_importance ON memories (world_id, owner, importance);

DROP TABLE reflection_state;
CREATE TABLE reflection_state (
    world_id                   TEXT NOT NULL,
    bot_id                     TEXT NOT NULL,
    importance_since           INTEGER NOT NULL,
    last_reflection_event_id   INTEGER NOT NULL,
    PRIMARY KEY (world_id, bot_id)
);

DROP TABLE world_facts;
CREATE TABLE world_facts (
    world_id         TEXT NOT NULL,
    key              TEXT NOT NULL,
    value            TEXT NOT NULL,
    updated_event_id INTEGER NOT NULL,
    PRIMARY KEY (world_id, key)
);

ALTER TABLE scenes ADD COLUMN world_id TEXT NOT NULL DEFAULT 'default';

DROP TABLE pins;
CREATE TABLE pins (
    world_id    TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (world_id, target_type, target_id, field)
);

ALTER TABLE item_history ADD COLUMN world_id TEXT NOT NULL DEFAULT '';
DROP INDEX item_history_target;
CREATE INDEX item_history_target ON item_history (target_type, target_id, world_id, event_id);

ALTER TABLE chats ADD COLUMN world_id TEXT NOT NULL DEFAULT 'default';
CREATE INDEX chats_world ON chats (world_id, created_event_id);

UPDATE projection_state SET needs_rebuild = 1;
