"""What each bot remembers (§5.3) and how much it has to reflect on (§5.6)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.state.fts import fts_query
from chat.state.history import dumps, record_change

register_tables("memories", "reflection_state")

MEMORY_FIELDS = ("text", "importance", "kind", "about")
_COLUMNS = (
    "m.id, m.owner, m.text, m.kind, m.importance, m.about, m.turn_id, m.event_id,"
    " m.created_at, m.last_retrieved_at"
)
"""The columns `memory_dict` maps by position; every memory reader selects them here."""
_SELECT = f"SELECT {_COLUMNS} FROM memories m"


@handles("memory_added")
def _memory_added(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    conn.execute(
        "INSERT INTO memories (id, owner, text, kind, importance, about, turn_id, event_id,"
        " created_at, last_retrieved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            p["id"],
            p["owner"],
            p["text"],
            p["kind"],
            p["importance"],
            dumps(p["about"]),
            event.turn_id,
            event.id,
            event.created_at,
            event.created_at,
        ),
    )
    record_change(conn, event, "memory", p["id"], "created", None, p["text"])
    if p["kind"] != "reflection":
        conn.execute(
            "INSERT INTO reflection_state (bot_id, importance_since, last_reflection_event_id)"
            " VALUES (?, ?, 0) ON CONFLICT(bot_id) DO UPDATE SET"
            " importance_since = importance_since + excluded.importance_since",
            (p["owner"], p["importance"]),
        )


@handles("reflection_recorded")
def _reflection_recorded(conn: sqlite3.Connection, event: Event) -> None:
    conn.execute(
        "INSERT INTO reflection_state (bot_id, importance_since, last_reflection_event_id)"
        " VALUES (?, 0, ?) ON CONFLICT(bot_id) DO UPDATE SET importance_since = 0,"
        " last_reflection_event_id = excluded.last_reflection_event_id",
        (event.payload["bot_id"], event.id),
    )


@handles("message_posted")
def _memories_retrieved(conn: sqlite3.Connection, event: Event) -> None:
    ids = event.payload.get("retrieved_memory_ids")
    if ids:
        # One statement per id: SQLite's plan for "id IN (...)" can fall back to a scan.
        for memory_id in ids:
            conn.execute(
                "UPDATE memories SET last_retrieved_at = ? WHERE id = ?", (event.created_at, memory_id)
            )


def set_memory_fields(
    conn: sqlite3.Connection, event: Event, memory_id: str, changes: dict[str, Any]
) -> None:
    current = get_memory(conn, memory_id)
    if current is None:
        return
    for field, value in changes.items():
        if field not in MEMORY_FIELDS:
            continue
        record_change(conn, event, "memory", memory_id, field, current[field], value)
        stored = dumps(value) if field == "about" else value
        conn.execute(
            f"UPDATE memories SET {field} = ? WHERE id = ?",  # noqa: S608 - allowlisted
            (stored, memory_id),
        )


def delete_memory(conn: sqlite3.Connection, event: Event, memory_id: str) -> None:
    current = get_memory(conn, memory_id)
    if current is None:
        return
    record_change(conn, event, "memory", memory_id, "deleted", current["text"], None)
    conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))


def get_memory(conn: sqlite3.Connection, memory_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (memory_id,)).fetchone()
    return None if row is None else memory_dict(row)


def list_memories(
    conn: sqlite3.Connection, *, owner: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    if owner is None:
        rows = conn.execute(f"{_SELECT} ORDER BY event_id DESC LIMIT ?", (limit,)).fetchall()
    else:
        rows = conn.execute(
            f"{_SELECT} WHERE owner = ? ORDER BY event_id DESC LIMIT ?", (owner, limit)
        ).fetchall()
    return [memory_dict(row) for row in rows]


def search_memories(
    conn: sqlite3.Connection, q: str, *, owner: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Memories matching any word of ``q`` (split as recall splits it), best BM25 match first."""
    match = fts_query(q)
    if match is None:
        return []
    sql = f"{_SELECT} JOIN memories_fts f ON m.rowid = f.rowid WHERE memories_fts MATCH ?"
    params: list[Any] = [match]
    if owner is not None:
        sql += " AND m.owner = ?"
        params.append(owner)
    sql += " ORDER BY bm25(memories_fts) LIMIT ?"
    params.append(limit)
    return [memory_dict(row) for row in conn.execute(sql, params).fetchall()]


def memories_by_rowid(conn: sqlite3.Connection, rowids: list[int]) -> dict[int, dict[str, Any]]:
    """Whole memories for a few rowids (recall scores light rows, then reads its winners)."""
    if not rowids:
        return {}
    marks = ",".join("?" for _ in rowids)
    rows = conn.execute(
        f"SELECT {_COLUMNS}, m.rowid FROM memories m WHERE m.rowid IN ({marks})",  # noqa: S608
        rowids,
    )
    return {row[-1]: memory_dict(row[:-1]) for row in rows}


def importance_since_reflection(conn: sqlite3.Connection, bot_id: str) -> int:
    row = conn.execute(
        "SELECT importance_since FROM reflection_state WHERE bot_id = ?", (bot_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def memory_dict(row: tuple) -> dict[str, Any]:
    return {
        "id": row[0],
        "owner": row[1],
        "text": row[2],
        "kind": row[3],
        "importance": row[4],
        "about": json.loads(row[5]),
        "turn_id": row[6],
        "event_id": row[7],
        "created_at": row[8],
        "last_retrieved_at": row[9],
    }
