"""`recent_texts`, what extraction compares a new memory with, reads only the texts it
keeps (session 22): the same list as taking the newest rows and dropping observations."""

from __future__ import annotations

from pathlib import Path

from chat.db.connection import open_db
from chat.state.memory import recent_texts
from chat.tests.test_projection_properties import _fresh_db
from chat.tests.test_rewind_undo import _world


def test_recent_texts_are_the_newest_rows_without_the_observations(tmp_path: Path) -> None:
    with open_db(_fresh_db(tmp_path, "a.db")) as conn:
        _world(conn, 12)  # each turn: a message (observed by ada) and a memory of ada's
        rows = conn.execute(
            "SELECT text, message_id FROM memories WHERE world_id = 'default' AND owner = 'ada'"
            " ORDER BY event_id DESC, rowid DESC"
        ).fetchall()
        assert any(m for _, m in rows) and any(not m for _, m in rows)
        for limit in range(0, len(rows) + 2):
            expected = [text for text, message_id in rows[:limit] if not message_id]
            assert recent_texts(conn, "ada", limit=limit) == expected
        assert recent_texts(conn, "ada", limit=50, world_id="elsewhere") == []
