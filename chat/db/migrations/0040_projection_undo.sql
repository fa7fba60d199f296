-- Rewind in O(turn) (issue 15, chat/eventlog/undo.py): which event the projector is
-- applying now (the recording triggers read it; NULL outside project()), and how far
-- back the notes of recent row changes reach. The per-table notes (undo_<table>) and
-- their triggers mirror the projection tables and are made by undo.prepare().

CREATE TABLE undo_ctl (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    event_id INTEGER
);
INSERT INTO undo_ctl (id, event_id) VALUES (1, NULL);

CREATE TABLE undo_state (
    name          TEXT PRIMARY KEY,
    from_event_id INTEGER NOT NULL,
    at_event_id   INTEGER NOT NULL,
    valid         INTEGER NOT NULL,
    signature     TEXT NOT NULL
);
