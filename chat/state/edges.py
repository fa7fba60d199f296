"""Directed relationships between entities (§5.2), with every change kept for charts.

Edges belong to one world (§3.5): the same two bots can stand differently in two worlds.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.eventlog.schemas import DEFAULT_WORLD
from chat.state.history import clamp, record_change
from chat.state.worlds import world_of

register_tables("edges", "edge_history")

LIMIT = 100
EDGE_FIELDS = ("label", "affinity", "trust", "notes")


def edge_key(src: str, dst: str) -> str:
    return f"{src}/{dst}"


def get_edge(
    conn: sqlite3.Connection, src: str, dst: str, *, world_id: str = DEFAULT_WORLD
) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT src, dst, label, affinity, trust, notes, updated_event_id FROM edges"
        " WHERE world_id = ? AND src = ? AND dst = ?",
        (world_id, src, dst),
    ).fetchone()
    return None if row is None else _edge_dict(row)


def list_edges(conn: sqlite3.Connection, *, world_id: str = DEFAULT_WORLD) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT src, dst, label, affinity, trust, notes, updated_event_id FROM edges"
        " WHERE world_id = ? ORDER BY src, dst",
        (world_id,),
    ).fetchall()
    return [_edge_dict(row) for row in rows]


def edge_history(
    conn: sqlite3.Connection, src: str, dst: str, *, world_id: str = DEFAULT_WORLD
) -> list[dict[str, Any]]:
    """Each change of the edge, oldest first; ``source`` says what a non-model change came
    from (``sentiment``: the deterministic reading of the user's words), else null."""
    rows = conn.execute(
        "SELECT h.event_id, h.label, h.affinity, h.trust, h.notes, h.actor, h.created_at,"
        " json_extract(e.payload, '$.source') FROM edge_history h LEFT JOIN events e ON e.id = h.event_id"
        " WHERE h.world_id = ? AND h.src = ? AND h.dst = ? ORDER BY h.event_id",
        (world_id, src, dst),
    ).fetchall()
    keys = ("event_id", "label", "affinity", "trust", "notes", "actor", "created_at", "source")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _edge_dict(row: tuple) -> dict[str, Any]:
    keys = ("src", "dst", "label", "affinity", "trust", "notes", "updated_event_id")
    return dict(zip(keys, row, strict=True))


def write_edge(
    conn: sqlite3.Connection,
    event: Event,
    src: str,
    dst: str,
    values: dict,
    world_id: str = DEFAULT_WORLD,
) -> None:
    """Store the edge's new values and append a history point (for affinity over time)."""
    old = get_edge(conn, src, dst, world_id=world_id) or {}
    conn.execute(
        "INSERT INTO edges (world_id, src, dst, label, affinity, trust, notes, updated_event_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(world_id, src, dst) DO UPDATE SET"
        " label = excluded.label, affinity = excluded.affinity, trust = excluded.trust,"
        " notes = excluded.notes, updated_event_id = excluded.updated_event_id",
        (
            world_id, src, dst, values["label"], values["affinity"], values["trust"],
            values["notes"], event.id,
        ),  # fmt: skip
    )
    conn.execute(
        "INSERT OR REPLACE INTO edge_history (event_id, src, dst, label, affinity, trust, notes,"
        " actor, created_at, world_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.id,
            src,
            dst,
            values["label"],
            values["affinity"],
            values["trust"],
            values["notes"],
            event.actor,
            event.created_at,
            world_id,
        ),
    )
    for field in EDGE_FIELDS:
        record_change(
            conn, event, "edge", edge_key(src, dst), field, old.get(field), values[field],
            world_id=world_id,
        )  # fmt: skip


def initial_edge(conn: sqlite3.Connection, event: Event, bot: dict[str, Any], world_id: str) -> None:
    """The bot's edge to `you` when it joins a world (§3.2): its initial relationship."""
    values = {
        "label": bot["initial_relationship_to_you"],
        "affinity": 0,
        "trust": 0,
        "notes": "",
    }
    write_edge(conn, event, bot["id"], "you", values, world_id)


@handles("bot_authored")
def _initial_edge(conn: sqlite3.Connection, event: Event) -> None:
    initial_edge(conn, event, event.payload, world_of(conn, event))


@handles("edge_changed")
def _edge_changed(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    world_id = world_of(conn, event)
    old = get_edge(conn, p["src"], p["dst"], world_id=world_id) or {
        "label": "knows",
        "affinity": 0,
        "trust": 0,
        "notes": "",
    }
    values = {
        "label": p["label"] if p.get("label") else old["label"],
        "affinity": clamp(old["affinity"] + p["affinity_delta"], -LIMIT, LIMIT),
        "trust": clamp(old["trust"] + p["trust_delta"], -LIMIT, LIMIT),
        "notes": p["notes"] if p.get("notes") is not None else old["notes"],
    }
    write_edge(conn, event, p["src"], p["dst"], values, world_id)
