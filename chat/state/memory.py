"""What each bot remembers (§5.3) and how much it has to reflect on (§5.6)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.bulk import defer_in_bulk
from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.eventlog.schemas import DEFAULT_WORLD
from chat.state.fts import fts_query
from chat.state.history import dumps, record_change
from chat.state.worlds import world_of

register_tables("memories", "reflection_state", "reflection_importance")
defer_in_bulk("memories_owner_recency", "memories_owner_importance")  # retrieval's, no handler's

MEMORY_FIELDS = ("text", "importance", "kind", "about", "superseded_by")
_COLUMNS = (
    "m.id, m.owner, m.text, m.kind, m.importance, m.about, m.turn_id, m.event_id,"
    " m.created_at, m.last_retrieved_at, m.superseded_by, m.message_id"
)
"""The columns `memory_dict` maps by position; every memory reader selects them here."""
_SELECT = f"SELECT {_COLUMNS} FROM memories m"


@handles("memory_added")
def _memory_added(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    world_id = world_of(conn, event)
    conn.execute(
        "INSERT INTO memories (id, owner, text, kind, importance, about, turn_id, event_id,"
        " created_at, last_retrieved_at, world_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            world_id,
        ),
    )
    record_change(conn, event, "memory", p["id"], "created", None, p["text"], world_id=world_id)
    if p["kind"] != "reflection":  # a row of its own: see importance_since_reflection
        conn.execute(
            "INSERT INTO reflection_importance (event_id, world_id, bot_id, importance)"
            " VALUES (?, ?, ?, ?)",
            (event.id, world_id, p["owner"], p["importance"]),
        )


@handles("memory_superseded")
def _memory_superseded(conn: sqlite3.Connection, event: Event) -> None:
    """A later memory contradicts or updates this one (§5.3): kept, no longer retrieved."""
    p = event.payload
    if get_memory(conn, p["superseded_by"]) is not None:
        set_memory_fields(conn, event, p["id"], {"superseded_by": p["superseded_by"]})


def check_supersedes(conn: sqlite3.Connection, memory_id: str, newer_id: str) -> None:
    """Raise ValidationFailed unless ``newer_id`` may supersede ``memory_id``: another
    existing memory of the same bot."""
    from chat.errors import ValidationFailed

    old, new = get_memory(conn, memory_id), get_memory(conn, newer_id)
    if new is None:
        raise ValidationFailed(f"no memory with id {newer_id!r} to supersede it", field="value")
    if old is not None and (old["owner"] != new["owner"] or old["id"] == new["id"]):
        raise ValidationFailed(
            "a memory is superseded by another memory of the same bot", field="value"
        )
    # Two memories that supersede each other (directly or along a chain) would both drop
    # out of recall for good, each pointing at the other: refused, in words.
    seen, step = {memory_id}, new
    while step is not None and step["superseded_by"]:
        if step["superseded_by"] in seen:
            raise ValidationFailed(
                "that memory is itself superseded by this one; unmark it first", field="value"
            )
        seen.add(step["id"])
        step = get_memory(conn, step["superseded_by"])


@handles("reflection_recorded")
def _reflection_recorded(conn: sqlite3.Connection, event: Event) -> None:
    conn.execute(
        "INSERT INTO reflection_state (world_id, bot_id, last_reflection_event_id)"
        " VALUES (?, ?, ?) ON CONFLICT(world_id, bot_id) DO UPDATE SET"
        " last_reflection_event_id = excluded.last_reflection_event_id",
        (world_of(conn, event), event.payload["bot_id"], event.id),
    )


@handles("message_posted")
def _memories_retrieved(conn: sqlite3.Connection, event: Event) -> None:
    ids = event.payload.get("retrieved_memory_ids")  # whole: `_to_event` reads the short form
    if ids:
        # A reply only ever recalls memories of its chat's world (``world_of``: the chat's, else
        # default), looked up by SQLite itself so replay pays no extra statement per message.
        # One row per id (SQLite's plan for "id IN (...)" can fall back to a scan), in one
        # executemany: the same updates in the same order, one statement prepared and bound
        # by C rather than eight round trips through Python (~30 % of the touch's CPU).
        chat_id = event.chat_id or event.payload["chat_id"]
        conn.executemany(
            "UPDATE memories SET last_retrieved_at = ? WHERE id = ? AND world_id ="
            " COALESCE((SELECT world_id FROM chats WHERE id = ?), 'default')",
            [(event.created_at, memory_id, chat_id) for memory_id in ids],
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
        record_change(
            conn, event, "memory", memory_id, field, current[field], value,
            world_id=current["world_id"],
        )  # fmt: skip
        if field == "text":  # its stored vector is stale: recomputed in the background
            conn.execute("DELETE FROM memory_vectors WHERE memory_id = ?", (memory_id,))
        stored = dumps(value) if field == "about" else value
        conn.execute(
            f"UPDATE memories SET {field} = ? WHERE id = ?",  # noqa: S608 - allowlisted
            (stored, memory_id),
        )


def delete_memory(conn: sqlite3.Connection, event: Event, memory_id: str) -> None:
    current = get_memory(conn, memory_id)
    if current is None:
        return
    record_change(
        conn, event, "memory", memory_id, "deleted", current["text"], None,
        world_id=current["world_id"],
    )  # fmt: skip
    conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))
    # What it superseded is recalled again: left pointing at nothing, it was hidden for good.
    replaced = [r[0] for r in conn.execute("SELECT id FROM memories WHERE superseded_by = ?", (memory_id,))]
    for old_id in replaced:
        set_memory_fields(conn, event, old_id, {"superseded_by": None})
        conn.execute(
            "DELETE FROM pins WHERE target_type = 'memory' AND target_id = ? AND field = 'superseded_by'",
            (old_id,),
        )


def get_memory(conn: sqlite3.Connection, memory_id: str) -> dict[str, Any] | None:
    """The memory with its ``world_id`` (memory ids are unique across worlds)."""
    row = conn.execute(f"{_SELECT_WORLD} WHERE id = ?", (memory_id,)).fetchone()  # noqa: S608
    return None if row is None else _with_world(row)


def get_world_memory(conn: sqlite3.Connection, memory_id: str, world_id: str) -> dict[str, Any] | None:
    """The memory if it belongs to ``world_id``; a memory of another world is not found."""
    memory = get_memory(conn, memory_id)
    return memory if memory is not None and memory["world_id"] == world_id else None


def list_memories(
    conn: sqlite3.Connection,
    *,
    owner: str | None = None,
    limit: int = 500,
    world_id: str = DEFAULT_WORLD,
) -> list[dict[str, Any]]:
    if owner is None:
        rows = conn.execute(
            f"{_SELECT_WORLD} WHERE world_id = ? ORDER BY event_id DESC LIMIT ?",  # noqa: S608
            (world_id, limit),
        ).fetchall()
    else:
        rows = conn.execute(
            f"{_SELECT_WORLD} WHERE world_id = ? AND owner = ? ORDER BY event_id DESC LIMIT ?",  # noqa: S608
            (world_id, owner, limit),
        ).fetchall()
    return [_with_world(row) for row in rows]


def recent_texts(
    conn: sqlite3.Connection, owner: str, *, limit: int, world_id: str = DEFAULT_WORLD
) -> list[str]:
    """The texts of ``owner``'s newest ``limit`` memories in ``world_id`` (newest first),
    leaving out witnessed observations: what extraction compares a new memory with. Two
    columns through the (world, owner, event id) index, not whole memories sorted."""
    # The text only where there is no message id: an observation's text is never copied
    # out of SQLite (most of a talkative bot's newest memories; ~40 % of the read).
    rows = conn.execute(
        "SELECT CASE WHEN message_id IS NULL OR message_id = '' THEN text END FROM memories"
        " WHERE world_id = ? AND owner = ? ORDER BY event_id DESC LIMIT ?",
        (world_id, owner, limit),
    )
    return [text for (text,) in rows if text is not None]


def search_memories(
    conn: sqlite3.Connection,
    q: str,
    *,
    owner: str | None = None,
    limit: int = 500,
    world_id: str = DEFAULT_WORLD,
) -> list[dict[str, Any]]:
    """Memories of ``world_id`` matching any word of ``q`` (split as recall splits it), best
    BM25 match first."""
    match = fts_query(q)
    if match is None:
        return []
    sql = (
        f"{_SELECT_WORLD} JOIN memories_fts f ON m.rowid = f.rowid"  # noqa: S608
        " WHERE memories_fts MATCH ? AND m.world_id = ?"
    )
    params: list[Any] = [match, world_id]
    if owner is not None:
        sql += " AND m.owner = ?"
        params.append(owner)
    sql += " ORDER BY bm25(memories_fts) LIMIT ?"
    params.append(limit)
    return [_with_world(row) for row in conn.execute(sql, params).fetchall()]


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


def importance_since_reflection(
    conn: sqlite3.Connection, bot_id: str, *, world_id: str = DEFAULT_WORLD
) -> int:
    """The importance of the bot's memories (not reflections) added in ``world_id`` since
    its last reflection there, as added: one row per memory, so no event shares a row
    with every later memory of the bot (which would make a rewind refold them all)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(importance), 0) FROM reflection_importance WHERE world_id = ?"
        " AND bot_id = ? AND event_id > COALESCE((SELECT last_reflection_event_id"
        " FROM reflection_state WHERE world_id = ? AND bot_id = ?), 0)",
        (world_id, bot_id, world_id, bot_id),
    ).fetchone()
    return int(row[0])


_SELECT_WORLD = _SELECT.replace(" FROM memories", ", world_id FROM memories")


def _with_world(row: tuple) -> dict[str, Any]:
    memory = memory_dict(row[:-1])
    memory["world_id"] = row[-1]
    return memory


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
        "superseded_by": row[10] if len(row) > 10 else None,
        "message_id": row[11] if len(row) > 11 else None,
    }
