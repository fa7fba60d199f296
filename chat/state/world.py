"""Each world's state (§5.4): key-value facts, and each chat's scene.

Facts belong to one world (§3.5); a scene belongs to its chat, and so to the chat's world.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.eventlog.schemas import DEFAULT_WORLD
from chat.state.history import dumps, record_change
from chat.state.worlds import chat_world, world_of

register_tables("world_facts", "scenes")


def set_fact(
    conn: sqlite3.Connection, event: Event, key: str, value: str, world_id: str = DEFAULT_WORLD
) -> None:
    old = get_fact(conn, key, world_id=world_id)
    conn.execute(
        "INSERT INTO world_facts (world_id, key, value, updated_event_id) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(world_id, key) DO UPDATE SET value = excluded.value,"
        " updated_event_id = excluded.updated_event_id",
        (world_id, key, value, event.id),
    )
    record_change(conn, event, "world", key, "value", old, value, world_id=world_id)


def delete_fact(
    conn: sqlite3.Connection, event: Event, key: str, world_id: str = DEFAULT_WORLD
) -> None:
    old = get_fact(conn, key, world_id=world_id)
    if old is None:
        return
    conn.execute("DELETE FROM world_facts WHERE world_id = ? AND key = ?", (world_id, key))
    record_change(conn, event, "world", key, "value", old, None, world_id=world_id)


@handles("world_fact_set")
def _world_fact_set(conn: sqlite3.Connection, event: Event) -> None:
    set_fact(conn, event, event.payload["key"], event.payload["value"], world_of(conn, event))


@handles("world_fact_deleted")
def _world_fact_deleted(conn: sqlite3.Connection, event: Event) -> None:
    delete_fact(conn, event, event.payload["key"], world_of(conn, event))


@handles("chat_created")
def _initial_scene(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    conn.execute(
        "INSERT OR REPLACE INTO scenes (chat_id, location, present, updated_event_id, world_id)"
        " VALUES (?, '', ?, ?, ?)",
        (p["id"], dumps(["you", *p["bot_ids"]]), event.id, world_of(conn, event)),
    )


@handles("scene_changed")
def _scene_changed(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    changes = {k: p[k] for k in ("location", "present") if p.get(k) is not None}
    set_scene_fields(conn, event, p["chat_id"], changes)


def set_scene_fields(
    conn: sqlite3.Connection, event: Event, chat_id: str, changes: dict[str, Any]
) -> None:
    """Set a chat's location and/or who is present, keeping the change history."""
    old = get_scene(conn, chat_id) or {"location": "", "present": []}
    location = changes.get("location", old["location"])
    present = changes.get("present", old["present"])
    world_id = old.get("world_id") or chat_world(conn, chat_id) or DEFAULT_WORLD
    conn.execute(
        "INSERT OR REPLACE INTO scenes (chat_id, location, present, updated_event_id, world_id)"
        " VALUES (?, ?, ?, ?, ?)",
        (chat_id, location, dumps(present), event.id, world_id),
    )
    record_change(conn, event, "scene", chat_id, "location", old["location"], location, world_id=world_id)
    record_change(conn, event, "scene", chat_id, "present", old["present"], present, world_id=world_id)


def get_fact(conn: sqlite3.Connection, key: str, *, world_id: str = DEFAULT_WORLD) -> str | None:
    row = conn.execute(
        "SELECT value FROM world_facts WHERE world_id = ? AND key = ?", (world_id, key)
    ).fetchone()
    return None if row is None else row[0]


def list_facts(conn: sqlite3.Connection, *, world_id: str = DEFAULT_WORLD) -> dict[str, str]:
    return dict(
        conn.execute(
            "SELECT key, value FROM world_facts WHERE world_id = ? ORDER BY key", (world_id,)
        ).fetchall()
    )


def _scene_dict(row: tuple) -> dict[str, Any]:
    return {
        "chat_id": row[0],
        "location": row[1],
        "present": json.loads(row[2]),
        "updated_event_id": row[3],
        "world_id": row[4],
    }


def get_scene(conn: sqlite3.Connection, chat_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT chat_id, location, present, updated_event_id, world_id FROM scenes WHERE chat_id = ?",
        (chat_id,),
    ).fetchone()
    return None if row is None else _scene_dict(row)


def list_scenes(conn: sqlite3.Connection, *, world_id: str = DEFAULT_WORLD) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT chat_id, location, present, updated_event_id, world_id FROM scenes"
        " WHERE world_id = ? ORDER BY chat_id",
        (world_id,),
    ).fetchall()
    return [_scene_dict(row) for row in rows]
