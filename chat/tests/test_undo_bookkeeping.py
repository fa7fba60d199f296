"""The rewind notes' bookkeeping with fewer statements (session 22, chat/eventlog/undo.py).

`project` names each event in ``undo_ctl`` before its handlers write and resets it once
after the last event, and does not name a kind no handler projects; `undo.prepare` counts
the recording triggers only when the schema changed since this connection checked them.
These hold the notes to what each event wrote, and show a trigger dropped by another
connection is still found and recreated.
"""

from __future__ import annotations

import json
from pathlib import Path

from chat.db.connection import open_db
from chat.eventlog import undo
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import canonical_dump, project, projection_tables
from chat.tests.test_projection_properties import _fresh_db
from chat.tests.test_rewind_undo import _replay_without_reverted, _revert, _world


def _noted_events(conn) -> set[int]:
    return {
        row[0]
        for table in projection_tables()
        for row in conn.execute(f"SELECT DISTINCT event_id FROM undo_{table}")  # noqa: S608
    }


def test_each_event_notes_its_own_rows_and_the_control_row_ends_empty(tmp_path: Path) -> None:
    with open_db(_fresh_db(tmp_path, "a.db")) as conn:
        project(conn)  # the notes start here
        _world(conn, 3)
        recorded, after = append_events(conn, [
            NewEvent("prompt_recorded", {"message_id": "msg2", "bot_id": "ada", "messages": []},
                     chat_id="chat1", turn_id="turn2"),
            NewEvent("memory_added", {"id": "after", "owner": "ada", "text": "after the record",
                                      "importance": 2}, chat_id="chat1", turn_id="turn2"),
        ])  # fmt: skip
        project(conn)
        assert conn.execute("SELECT event_id FROM undo_ctl").fetchone()[0] is None
        kinds = dict(conn.execute("SELECT id, kind FROM events"))
        noted = _noted_events(conn)
        assert recorded not in noted  # a log-only kind writes no row
        assert after in noted  # the event after it names itself
        for event_id in noted:  # every note belongs to an event that writes
            assert kinds[event_id] != "prompt_recorded"
        memories = conn.execute("SELECT event_id, k FROM undo_memories WHERE op = 'i'").fetchall()
        by_event = {event_id: json.loads(key)[0] for event_id, key in memories}
        for event_id, key in by_event.items():  # each memory row is noted under its own event
            if kinds[event_id] == "memory_added":
                assert conn.execute(
                    "SELECT json_extract(payload, '$.id') FROM events WHERE id = ?", (event_id,)
                ).fetchone()[0] == key


def test_a_recording_trigger_dropped_elsewhere_is_recreated(tmp_path: Path) -> None:
    path = _fresh_db(tmp_path, "a.db")
    with open_db(path) as conn:
        turns = _world(conn, 4)
        expected = undo.TRIGGERS_PER_TABLE * len(projection_tables())
        with open_db(path) as other:  # another connection changes the schema
            other.execute("DROP TRIGGER undo_memories_i")
        append_events(conn, [NewEvent(
            "memory_added", {"id": "late", "owner": "ada", "text": "a late one", "importance": 2},
            chat_id="chat1", turn_id=turns[-1],
        )])  # fmt: skip
        project(conn)
        count = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'undo\\_%' ESCAPE '\\'"
        ).fetchone()[0]
        assert count == expected
        _revert(conn, turns[-2:])  # and a rewind from the fresh notes is a replay without them
        (tmp_path / "e").mkdir()
        assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path / "e")
