"""A data directory and an export from before worlds existed open unchanged, with everything
in world ``default`` (§3.5, §9.4): payloads of version 1 are upcast on read, the schema
migrates, and the projections rebuild from the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations, bundled_migrations
from chat.eventlog.schemas import validate_payload
from chat.export import export_log, import_log
from chat.snapshots.cold_load import cold_load
from chat.tests.api_support import make_settings, running_app, say

pytestmark = pytest.mark.anyio

PRE_WORLD_MIGRATIONS = 3
"""0001-0003: the schema of the release before worlds."""

OLD_EVENTS: list[tuple[str, dict, str | None]] = [
    ("bot_authored", {"id": "ada", "name": "Ada", "persona": "An engineer.",
                      "initial_relationship_to_you": "coworker"}, None),
    ("entity_added", {"id": "harbour", "kind": "place", "name": "The Harbour"}, None),
    ("world_fact_set", {"key": "weather", "value": "rain"}, None),
    ("chat_created", {"id": "chat-old", "title": "Old chat", "bot_ids": ["ada"]}, "chat-old"),
    ("message_posted", {"id": "msg-1", "chat_id": "chat-old", "author": "you", "text": "Hello Ada"}, "chat-old"),
    ("memory_added", {"id": "mem-1", "owner": "ada", "text": "You said hello", "importance": 4,
                      "about": ["you"]}, "chat-old"),
    ("edge_changed", {"src": "ada", "dst": "you", "affinity_delta": 5}, "chat-old"),
    ("manual_edit", {"target_type": "entity", "target_id": "harbour", "field": "description",
                     "value": "Wet.", "previous": ""}, None),
]


def _old_payload(kind: str, payload: dict) -> str:
    """The payload as the release before worlds stored it: its fields, no ``world_id``."""
    normal = validate_payload(kind, payload)
    assert "world_id" not in normal  # an unnamed world is not stored, as before
    return json.dumps(normal, separators=(",", ":"), ensure_ascii=False)


def make_pre_worlds_data_dir(data_dir: Path) -> Path:
    """A data directory written by the release before worlds: its migrations only, and
    events of version 1 (no world anywhere), projections never folded by this release."""
    data_dir.mkdir(parents=True)
    db = data_dir / "kith.db"
    apply_migrations(db, bundled_migrations()[:PRE_WORLD_MIGRATIONS])
    with open_db(db) as conn:
        conn.execute("BEGIN IMMEDIATE")
        for kind, payload, chat_id in OLD_EVENTS:
            conn.execute(
                "INSERT INTO events (kind, version, payload, created_at, chat_id, actor)"
                " VALUES (?, 1, ?, '2025-01-01T10:00:00.000000Z', ?, 'user')",
                (kind, _old_payload(kind, payload), chat_id),
            )
        conn.execute(
            "INSERT INTO projection_state (name, last_event_id, schema_version, needs_rebuild)"
            " VALUES ('main', 0, 1, 0)"
        )
        conn.execute("COMMIT")
        assert "worlds" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    return data_dir


def _assert_all_in_default(conn) -> None:
    assert conn.execute("SELECT id, name, archived FROM worlds").fetchall() == [("default", "Default", 0)]
    for table in ("entities", "edges", "memories", "world_facts", "scenes", "pins", "chats"):
        worlds = {row[0] for row in conn.execute(f"SELECT DISTINCT world_id FROM {table}")}  # noqa: S608
        assert worlds == {"default"}, table
    assert conn.execute("SELECT version FROM events WHERE id = 1").fetchone() == (1,)  # never rewritten


async def test_a_pre_worlds_data_directory_opens_with_everything_in_default(tmp_path: Path) -> None:
    data_dir = make_pre_worlds_data_dir(tmp_path / "old")
    async with running_app(make_settings(data_dir)) as (app, client):
        assert [w["id"] for w in (await client.get("/api/worlds")).json()] == ["default"]
        entities = {e["id"]: e for e in (await client.get("/api/entities")).json()}
        assert set(entities) == {"you", "ada", "harbour"} and entities["harbour"]["description"] == "Wet."
        assert (await client.get("/api/world")).json()["facts"] == {"weather": "rain"}
        edge = (await client.get("/api/edges/ada/you")).json()
        assert (edge["label"], edge["affinity"]) == ("coworker", 5)
        chats = (await client.get("/api/chats")).json()
        assert [(c["id"], c["world_id"]) for c in chats] == [("chat-old", "default")]
        pins = (await client.get("/api/pins")).json()
        assert [(p["target_id"], p["field"]) for p in pins] == [("harbour", "description")]
        turn = await say(app, client, "chat-old", "Is it still raining?")  # the story goes on
        assert turn["status"] == "completed"
        memories = (await client.get("/api/memories", params={"owner": "ada"})).json()
        assert "mem-1" in {m["id"] for m in memories}
    with open_db(data_dir / "kith.db") as conn:
        _assert_all_in_default(conn)


async def test_a_pre_worlds_export_imports_into_default(tmp_path: Path) -> None:
    old = make_pre_worlds_data_dir(tmp_path / "old")
    file = tmp_path / "old.kith"
    with open_db(old / "kith.db") as conn:
        export_log(conn, file)
    target = tmp_path / "new"
    import_log(file, target)
    with open_db(target / "kith.db") as conn:
        cold_load(conn, target)
        _assert_all_in_default(conn)
        assert conn.execute("SELECT value FROM world_facts WHERE key = 'weather'").fetchone() == ("rain",)
