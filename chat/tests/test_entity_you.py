"""`entity_added` naming `you` on a fresh world: the projection made `you` itself first
(from the persona), so the event describes that entity instead of failing the replay."""

from __future__ import annotations

from pathlib import Path

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import append_event
from chat.eventlog.projector import project, rebuild
from chat.state.entities import get_entity


def test_an_event_adding_you_describes_you_on_a_fresh_database(tmp_path: Path) -> None:
    db = tmp_path / "kith.db"
    apply_migrations(db)
    with open_db(db) as conn:
        append_event(conn, kind="entity_added", payload={
            "id": "you", "kind": "you", "name": "Sam", "description": "A new hand on the boats.",
        })
        project(conn)
        you = get_entity(conn, "you", world_id="default")
        assert you is not None and you["name"] == "Sam"
        assert you["description"] == "A new hand on the boats."
        incremental = conn.execute("SELECT * FROM entities ORDER BY world_id, id").fetchall()
        rebuild(conn)
        assert conn.execute("SELECT * FROM entities ORDER BY world_id, id").fetchall() == incremental
