"""The shared world (§5.4): key-value facts, and each chat's scene."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.state.history import dumps, record_change

register_tables("world_facts", "scenes")


def set_fact(conn: sqlite3.Connection, event: Event, key: str, value: str) -> None:
    old = get_fact(conn, key)
    conn.execute(
        "INSERT INTO world_facts (key, value, updated_event_id) VALUES (?, ?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
        " updated_event_id = excluded.updated_event_id",
        (key, value, event.id),
    )
    record_change(conn, event, "world", key, "value", old, value)


def delete_fact(conn: sqlite3.Connection, event: Event, key: str) -> None:
    old = get_fact(conn, key)
    if old is None:
        return
    conn.execute("DELETE FROM world_facts WHERE key = ?", (key,))
    record_change(conn, event, "world", key, "value", old, None)


@handles("world_fact_set")
def _world_fact_set(conn: sqlite3.Connection, event: Event) -> None:
    set_fact(conn, event, event.payload["key"], event.payload["value"])


@handles("world_fact_deleted")
def _world_fact_deleted(conn: sqlite3.Connection, event: Event) -> None:
    delete_fact(conn, event, event.payload["key"])


@handles("chat_created")
def _initial_scene(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    conn.execute(
        "INSERT OR REPLACE INTO scenes (chat_id, location, present, updated_event_id)"
        " VALUES (?, '', ?, ?)",
        (p["id"], dumps(["you", *p["bot_ids"]]), event.id),
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
    conn.execute(
        "INSERT OR REPLACE INTO scenes (chat_id, location, present, updated_event_id)"
        " VALUES (?, ?, ?, ?)",
        (chat_id, location, dumps(present), event.id),
    )
    record_change(conn, event, "scene", chat_id, "location", old["location"], location)
    record_change(conn, event, "scene", chat_id, "present", old["present"], present)


def get_fact(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM world_facts WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def list_facts(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM world_facts ORDER BY key").fetchall())


_SCENE_SELECT = "SELECT chat_id, location, present, updated_event_id FROM scenes"


def get_scene(conn: sqlite3.Connection, chat_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"{_SCENE_SELECT} WHERE chat_id = ?", (chat_id,)).fetchone()
    return None if row is None else _scene_dict(row)


def list_scenes(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every chat's scene, by chat id."""
    return [_scene_dict(row) for row in conn.execute(f"{_SCENE_SELECT} ORDER BY chat_id")]


def _scene_dict(row: tuple) -> dict[str, Any]:
    return {
        "chat_id": row[0],
        "location": row[1],
        "present": json.loads(row[2]),
        "updated_event_id": row[3],
    }
